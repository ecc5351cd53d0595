//! Runs by the clock (`schedule`, `every`), through the engine's inputs: a job waits for its
//! time, a time during a run is skipped and said so, a failed run fails nothing else, a user's
//! stop holds until a user's start, `on_schedule = "restart"` restarts, a foreground run keeps
//! going while a schedule is on, and `apply` arms an added job without running it.

use super::*;
use crate::spec::ApplyChange;
use crate::spec::schedule::{ScheduleAction, ScheduleSpec, ScheduleWhen};

fn scheduled(name: &str, action: ScheduleAction) -> ServiceSpec {
    ServiceSpec {
        schedule: Some(ScheduleSpec {
            when: ScheduleWhen::Every(Duration::from_secs(60)),
            action,
        }),
        restart: RestartSpec {
            policy: RestartPolicy::Never,
            ..service_spec(name).restart
        },
        ..service(name, &[], false)
    }
}

fn fired(harness: &Harness, service: ServiceId) -> usize {
    harness.count_events(
        |event| matches!(event, Event::ScheduleFired { service: s, .. } if *s == service),
    )
}

/// The reasons of the skipped times of `service`, in order.
fn skipped(harness: &Harness, service: ServiceId) -> Vec<String> {
    harness
        .events
        .iter()
        .filter_map(|event| match event {
            Event::ScheduleSkipped { service: s, reason } if *s == service => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_job_waits_for_its_time_and_a_time_during_its_run_is_skipped() {
    let spec = project(vec![
        service("web", &[], false),
        scheduled("job", ScheduleAction::Start),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    // Only web started; the job's schedule is on.
    assert_eq!(harness.spawned_services(), [0]);
    assert_eq!(harness.phase(1), Phase::Inactive);
    assert!(harness.engine.schedule_on(1));
    assert!(harness.engine.view(1).scheduled);
    assert!(!harness.engine.view(0).scheduled);

    harness.feed(Input::Scheduled { service: 1 });
    assert_eq!(harness.spawned_services(), [0, 1]);
    assert_eq!(fired(&harness, 1), 1);
    // Its next time comes while it still runs: skipped and said so, nothing spawned.
    harness.feed(Input::Scheduled { service: 1 });
    assert_eq!(harness.spawned_services(), [0, 1]);
    assert_eq!(skipped(&harness, 1), ["its previous run is still going"]);
    // It ends; the next time runs it again.
    harness.run_then_exit(1, Duration::from_secs(3), Exit::Code(0));
    assert_eq!(harness.phase(1), Phase::Exited(Exit::Code(0)));
    harness.feed(Input::Scheduled { service: 1 });
    assert_eq!(harness.spawned_services(), [0, 1, 1]);
    assert_eq!(fired(&harness, 1), 2);
    assert_eq!(harness.exit, None);
}

#[test]
fn a_failed_run_is_the_jobs_alone_and_the_next_time_runs_it_afresh() {
    let spec = project(vec![
        service("web", &[], false),
        scheduled("job", ScheduleAction::Start),
    ]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Scheduled { service: 1 });
    harness.run_then_exit(1, Duration::from_secs(1), Exit::Code(3));
    assert_eq!(harness.phase(1), Phase::Exited(Exit::Code(3)));
    // Nothing else was stopped for it.
    assert_eq!(harness.phase(0), Phase::Running);
    assert!(!harness.engine.is_shutting_down());
    harness.feed(Input::Scheduled { service: 1 });
    assert_eq!(harness.spawned_services(), [0, 1, 1]);
    assert_eq!(harness.phase(1), Phase::Running);
}

#[test]
fn a_run_being_retried_after_a_failure_skips_the_time() {
    let spec = project(vec![ServiceSpec {
        restart: RestartSpec {
            policy: RestartPolicy::OnFailure,
            ..service_spec("job").restart
        },
        ..scheduled("job", ScheduleAction::Start)
    }]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Scheduled { service: 0 });
    harness.run_then_exit(0, Duration::from_secs(1), Exit::Code(1));
    assert_eq!(harness.phase(0), Phase::Backoff);
    harness.feed(Input::Scheduled { service: 0 });
    assert_eq!(
        skipped(&harness, 0),
        ["its previous run failed and waits to be retried"]
    );
    assert_eq!(harness.spawned_services(), [0]);
}

#[test]
fn a_users_stop_holds_until_a_users_start() {
    let spec = project(vec![scheduled("job", ScheduleAction::Start)]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Scheduled { service: 0 });
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Stop,
    });
    let generation = harness.generation(0);
    harness.feed(Input::TreeGone {
        service: 0,
        generation,
    });
    assert_eq!(harness.phase(0), Phase::Stopped);
    assert!(!harness.engine.schedule_on(0));
    // Its times do nothing now, and say nothing.
    harness.feed(Input::Scheduled { service: 0 });
    assert_eq!(harness.spawned_services(), [0]);
    assert_eq!(fired(&harness, 0), 1);
    assert!(skipped(&harness, 0).is_empty());
    // A user's start runs it at once and turns its schedule on again.
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Start,
    });
    assert_eq!(harness.spawned_services(), [0, 0]);
    assert!(harness.engine.schedule_on(0));
}

#[test]
fn stopping_what_a_job_depends_on_turns_the_jobs_schedule_off() {
    let db = service("db", &[], false);
    let job = ServiceSpec {
        depends_on: vec![Dependency {
            service: 0,
            condition: DependencyCondition::Started,
            restart: false,
        }],
        ..scheduled("job", ScheduleAction::Start)
    };
    let mut harness = daemon(project(vec![db, job]));
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Stop,
    });
    assert!(!harness.engine.schedule_on(1));
    // Its time would otherwise start db again behind the user's back.
    harness.feed(Input::Scheduled { service: 1 });
    assert_eq!(harness.spawned_services(), [0]);
}

#[test]
fn on_schedule_restart_starts_with_the_others_and_restarts_at_each_time() {
    let spec = project(vec![scheduled("web", ScheduleAction::Restart)]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![] });
    assert_eq!(harness.spawned_services(), [0]);
    harness.feed(Input::Scheduled { service: 0 });
    assert_eq!(harness.signals, [(0, Signal::TERM)]);
    let generation = harness.generation(0);
    harness.feed(Input::TreeGone {
        service: 0,
        generation,
    });
    assert_eq!(harness.spawned_services(), [0, 0]);
    assert!(skipped(&harness, 0).is_empty());
    // It ended on its own (restart = "never"): its next time starts it again.
    harness.run_then_exit(0, Duration::from_secs(1), Exit::Code(0));
    harness.feed(Input::Scheduled { service: 0 });
    assert_eq!(harness.spawned_services(), [0, 0, 0]);
}

#[test]
fn a_time_during_start_up_is_skipped() {
    let web = service("web", &[], true);
    let spec = project(vec![web, scheduled("job", ScheduleAction::Start)]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![] });
    // web's probe has not passed: start-up goes on.
    harness.feed(Input::Scheduled { service: 1 });
    assert_eq!(skipped(&harness, 1), ["start-up is not complete yet"]);
    assert_eq!(harness.spawned_services(), [0]);
}

#[test]
fn a_foreground_run_goes_on_while_a_schedule_is_on() {
    let spec = project(vec![
        service("web", &[], false),
        scheduled("job", ScheduleAction::Start),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Scheduled { service: 1 });
    harness.run_then_exit(1, Duration::from_secs(1), Exit::Code(0));
    harness.run_then_exit(0, Duration::from_secs(1), Exit::Code(0));
    // Nothing runs, but the job has times to come.
    assert_eq!(harness.exit, None);
}

#[test]
fn services_named_at_start_up_are_the_only_ones_scheduled() {
    let spec = project(vec![
        service("web", &[], false),
        scheduled("job", ScheduleAction::Start),
    ]);
    // `up web`: the job is not part of the run, and the run ends with web.
    let mut harness = Harness::new(Arc::clone(&spec));
    harness.feed(Input::Start { services: vec![0] });
    assert!(!harness.engine.schedule_on(1));
    harness.feed(Input::Scheduled { service: 1 });
    assert_eq!(harness.spawned_services(), [0]);
    harness.run_then_exit(0, Duration::from_secs(1), Exit::Code(0));
    assert_eq!(harness.exit, Some(exit::SUCCESS));

    // `up job`: named, it runs at once, and its schedule is on.
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![1] });
    assert_eq!(harness.spawned_services(), [1]);
    assert!(harness.engine.schedule_on(1));
}

#[test]
fn a_time_of_a_service_without_a_schedule_or_after_shutdown_does_nothing() {
    let spec = project(vec![
        service("web", &[], false),
        scheduled("job", ScheduleAction::Start),
    ]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Scheduled { service: 0 });
    harness.feed(Input::Scheduled { service: 7 });
    assert_eq!(harness.spawned_services(), [0]);
    harness.feed(Input::Shutdown { force: false });
    harness.feed(Input::Scheduled { service: 1 });
    assert_eq!(harness.spawned_services(), [0]);
    assert_eq!(fired(&harness, 1), 0);
}

#[test]
fn an_added_job_is_armed_not_run_and_a_removed_schedule_is_off() {
    let web = service("web", &[], false);
    let mut harness = daemon(project(vec![web.clone()]));
    harness.feed(Input::Start { services: vec![] });

    let added = project(vec![web.clone(), scheduled("job", ScheduleAction::Start)]);
    harness.feed(Input::Apply {
        spec: NewSpec(added),
        changes: vec![ApplyChange::Add(1)],
    });
    assert_eq!(harness.spawned_services(), [0]);
    assert!(harness.engine.schedule_on(1));
    harness.feed(Input::Scheduled { service: 1 });
    assert_eq!(harness.spawned_services(), [0, 1]);

    // Its schedule removed: it is an ordinary service now, its times do nothing.
    let unscheduled = project(vec![web, service("job", &[], false)]);
    harness.feed(Input::Apply {
        spec: NewSpec(unscheduled),
        changes: vec![ApplyChange::Change {
            service: 1,
            instances: false,
            schedule: true,
            replace: false,
        }],
    });
    assert!(!harness.engine.schedule_on(1));
    harness.feed(Input::Scheduled { service: 1 });
    assert_eq!(fired(&harness, 1), 1);
}
