//! Stops: one service and its dependents, a whole shutdown, SIGKILL after the timeout.

use super::*;

#[test]
fn shutdown_stops_in_reverse_dependency_order_and_kills_after_the_timeout() {
    let spec = project(vec![
        service("db", &[], false),
        service("api", &[(0, DependencyCondition::Ready)], false),
        service("web", &[(1, DependencyCondition::Ready)], false),
        service("cron", &[], false),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Shutdown { force: false });
    assert_eq!(harness.signals, vec![(2, Signal::TERM), (3, Signal::TERM)]);
    harness.exit_tree(2, Exit::Signal(15));
    assert_eq!(harness.signals.last(), Some(&(1, Signal::TERM)));
    harness.fire_last_timer(TimerKind::StopTimeout);
    assert_eq!(harness.signals.last(), Some(&(1, Signal::KILL)));
    harness.exit_tree(1, Exit::Signal(9));
    harness.exit_tree(3, Exit::Signal(15));
    assert_eq!(harness.signals.last(), Some(&(0, Signal::TERM)));
    harness.exit_tree(0, Exit::Code(0));
    assert_eq!(harness.exit, Some(exit::SUCCESS));
}

#[test]
fn a_second_shutdown_kills_everything_at_once() {
    let spec = project(vec![
        service("db", &[], false),
        service("api", &[(0, DependencyCondition::Ready)], false),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Shutdown { force: false });
    harness.feed(Input::Shutdown { force: false });
    assert!(harness.signals.contains(&(0, Signal::KILL)));
    assert!(harness.signals.contains(&(1, Signal::KILL)));
}

#[test]
fn stop_then_start_one_service_leaves_the_others_alone() {
    let spec = project(vec![
        service("db", &[], false),
        service("api", &[(0, DependencyCondition::Ready)], false),
    ]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Control {
        service: 1,
        action: ServiceAction::Stop,
    });
    assert_eq!(harness.signals, vec![(1, Signal::TERM)]);
    harness.exit_tree(1, Exit::Signal(15));
    assert_eq!(harness.phase(1), Phase::Stopped);
    assert_eq!(harness.phase(0), Phase::Running);
    assert!(
        harness.exit.is_none(),
        "a daemon keeps running with a stopped service"
    );
    harness.feed(Input::Control {
        service: 1,
        action: ServiceAction::Start,
    });
    assert_eq!(harness.spawned_services(), vec![0, 1, 1]);
    assert_eq!(harness.phase(1), Phase::Running);
}

#[test]
fn starting_a_service_starts_its_stopped_dependencies_first() {
    let spec = project(vec![
        service("db", &[], true),
        service("api", &[(0, DependencyCondition::Ready)], false),
    ]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::ProbePassed {
        service: 0,
        generation: 1,
    });
    harness.feed(Input::Control {
        service: 1,
        action: ServiceAction::Stop,
    });
    harness.exit_tree(1, Exit::Signal(15));
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Stop,
    });
    harness.exit_tree(0, Exit::Signal(15));
    harness.feed(Input::Control {
        service: 1,
        action: ServiceAction::Start,
    });
    // db is spawned first; api waits for the new db instance to be ready.
    assert_eq!(&harness.spawned_services()[2..], &[0]);
    harness.feed(Input::ProbePassed {
        service: 0,
        generation: 2,
    });
    assert_eq!(&harness.spawned_services()[2..], &[0, 1]);
}

#[test]
fn stopping_a_service_in_backoff_cancels_its_restart() {
    let mut harness = daemon(project(vec![service("job", &[], false)]));
    harness.feed(Input::Start { services: vec![] });
    harness.exit_tree(0, Exit::Code(1));
    assert_eq!(harness.phase(0), Phase::Backoff);
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Stop,
    });
    assert_eq!(harness.phase(0), Phase::Stopped);
    harness.fire_last_timer(TimerKind::Restart);
    assert_eq!(
        harness.spawned_services(),
        vec![0],
        "the stale restart timer is ignored"
    );
}

#[test]
fn stopping_a_dependency_stops_its_dependents_first() {
    let spec = project(vec![
        service("db", &[], false),
        service("api", &[(0, DependencyCondition::Ready)], false),
        service("web", &[(1, DependencyCondition::Ready)], false),
        service("cron", &[], false),
    ]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Stop,
    });
    assert_eq!(harness.signals, vec![(2, Signal::TERM)], "web first");
    harness.exit_tree(2, Exit::Signal(15));
    assert_eq!(harness.signals.last(), Some(&(1, Signal::TERM)));
    harness.exit_tree(1, Exit::Signal(15));
    assert_eq!(harness.signals.last(), Some(&(0, Signal::TERM)));
    harness.exit_tree(0, Exit::Signal(15));
    for service in 0..3 {
        assert_eq!(harness.phase(service), Phase::Stopped);
    }
    assert_eq!(
        harness.phase(3),
        Phase::Running,
        "cron does not depend on db"
    );
    // Starting web brings its dependencies back, in order.
    harness.feed(Input::Control {
        service: 2,
        action: ServiceAction::Start,
    });
    assert_eq!(&harness.spawned_services()[4..], &[0, 1, 2]);
}

#[test]
fn a_queued_stop_is_kept_when_the_service_ends_on_its_own_meanwhile() {
    let spec = project(vec![
        service("db", &[], false),
        service("api", &[(0, DependencyCondition::Ready)], false),
    ]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Stop,
    });
    assert_eq!(harness.signals, vec![(1, Signal::TERM)], "api first");
    // db crashes while it waits for api to stop: it was to be stopped anyway.
    harness.exit_tree(0, Exit::Code(1));
    assert_eq!(harness.phase(0), Phase::Stopped);
    harness.exit_tree(1, Exit::Signal(15));
    assert_eq!(harness.phase(1), Phase::Stopped);
    assert_eq!(harness.spawned_services(), vec![0, 1], "nothing restarted");
    assert!(
        harness
            .timers
            .iter()
            .all(|timer| timer.2 != TimerKind::Restart)
    );
}

#[test]
fn stopping_a_service_waiting_out_a_shortage_cancels_the_retry() {
    let mut harness = daemon(project(vec![service("job", &[], false)]));
    harness.spawn_failures.push_back((
        "job: Cannot allocate memory (os error 12)".to_string(),
        SpawnFault::Supervisor,
    ));
    harness.feed(Input::Start { services: vec![] });
    assert_eq!(harness.phase(0), Phase::Backoff);
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Stop,
    });
    assert_eq!(harness.phase(0), Phase::Stopped);
    harness.fire_last_timer(TimerKind::Restart);
    assert!(
        harness.spawned.is_empty(),
        "the stale retry timer is ignored"
    );
    harness.feed(Input::Shutdown { force: false });
    assert_eq!(harness.exit, Some(exit::SUCCESS));
}
