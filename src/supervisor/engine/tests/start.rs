//! Start-up: dependency order, readiness gating, conditions, and start-up failures.

use super::*;

#[test]
fn dependent_starts_only_after_its_dependency_is_ready() {
    // 0 db (probe) <- 1 api (probe, needs db ready) <- 2 web (needs api ready)
    let spec = project(vec![
        service("db", &[], true),
        service("api", &[(0, DependencyCondition::Ready)], true),
        service("web", &[(1, DependencyCondition::Ready)], false),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    assert_eq!(harness.spawned_services(), vec![0]);
    harness.feed(Input::ProbePassed {
        service: 0,
        generation: 1,
    });
    assert_eq!(harness.spawned_services(), vec![0, 1]);
    assert!(harness.exit.is_none());
    harness.feed(Input::ProbePassed {
        service: 1,
        generation: 1,
    });
    assert_eq!(harness.spawned_services(), vec![0, 1, 2]);
    assert!(
        harness
            .events
            .iter()
            .any(|event| matches!(event, Event::AllReady { count: 3, .. }))
    );
}

#[test]
fn independent_services_start_together_and_started_condition_does_not_wait_for_readiness() {
    let spec = project(vec![
        service("a", &[], true),
        service("b", &[], true),
        service("c", &[(0, DependencyCondition::Started)], false),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    assert_eq!(harness.spawned_services(), vec![0, 1, 2]);
}

#[test]
fn completed_condition_waits_for_a_successful_exit() {
    let spec = project(vec![
        service("migrate", &[], false),
        service("api", &[(0, DependencyCondition::Completed)], false),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    assert_eq!(harness.spawned_services(), vec![0]);
    harness.exit_tree(0, Exit::Code(0));
    assert_eq!(harness.spawned_services(), vec![0, 1]);
    assert_eq!(harness.phase(0), Phase::Exited(Exit::Code(0)));
    assert!(
        harness
            .events
            .iter()
            .any(|event| matches!(event, Event::AllReady { .. }))
    );
}

#[test]
fn a_failed_one_shot_fails_start_up_with_code_1_and_stops_the_rest() {
    let spec = project(vec![
        service("db", &[], false),
        service("migrate", &[(0, DependencyCondition::Ready)], false),
        service("api", &[(1, DependencyCondition::Completed)], false),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.exit_tree(1, Exit::Code(2));
    assert!(harness.events.iter().any(|event| matches!(
        event,
        Event::StartupFailed {
            instance: InstanceId { service: 1, .. },
            ..
        }
    )));
    assert_eq!(harness.signals, vec![(0, Signal::TERM)]);
    assert!(harness.exit.is_none(), "db is still alive");
    harness.exit_tree(0, Exit::Signal(15));
    assert_eq!(harness.exit, Some(exit::SERVICE_FAILED));
    assert_eq!(harness.spawned_services(), vec![0, 1], "api never starts");
}

#[test]
fn readiness_timeout_during_start_up_exits_3() {
    let spec = project(vec![
        service("api", &[], true),
        service("web", &[(0, DependencyCondition::Ready)], false),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::ProbeTimedOut {
        service: 0,
        generation: 1,
        last_failure: Some("connection refused".into()),
    });
    assert_eq!(harness.signals, vec![(0, Signal::TERM)]);
    harness.exit_tree(0, Exit::Signal(15));
    assert_eq!(harness.exit, Some(exit::NOT_READY));
    assert_eq!(harness.spawned_services(), vec![0]);
}

#[test]
fn selecting_a_service_pulls_in_its_dependencies_only() {
    let spec = project(vec![
        service("db", &[], false),
        service("api", &[(0, DependencyCondition::Ready)], false),
        service("web", &[], false),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![1] });
    assert_eq!(harness.spawned_services(), vec![0, 1]);
    assert_eq!(harness.phase(2), Phase::Inactive);
}

#[test]
fn a_daemonizing_service_keeps_running_after_its_leader_exits() {
    let spec = project(vec![service("redis", &[], true)]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::LeaderExited {
        service: 0,
        generation: 1,
        status: Exit::Code(0),
        survivors: 1,
    });
    assert_eq!(harness.phase(0), Phase::Starting);
    harness.feed(Input::ProbePassed {
        service: 0,
        generation: 1,
    });
    assert_eq!(harness.phase(0), Phase::Running);
    // When the daemon later dies, its status is unknown: on-failure restarts it.
    harness.feed(Input::TreeGone {
        service: 0,
        generation: 1,
    });
    assert_eq!(harness.phase(0), Phase::Backoff);
}

#[test]
fn a_stale_timer_or_probe_result_is_ignored() {
    let spec = project(vec![service("api", &[], true)]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::ProbePassed {
        service: 0,
        generation: 7,
    });
    assert_eq!(harness.phase(0), Phase::Starting);
    harness.feed(Input::Timer {
        service: 0,
        sequence: 99,
        kind: TimerKind::Restart,
    });
    assert_eq!(harness.spawned.len(), 1);
}

#[test]
fn adopted_instances_run_on_and_start_starts_only_the_rest() {
    // A successor took over db (ready, tree 7, 2 restarts) and api (not ready yet, tree 3);
    // web was not running. Start leaves the adopted alone and starts web once api is ready.
    let spec = project(vec![
        service("db", &[], true),
        service("api", &[(0, DependencyCondition::Ready)], true),
        service("web", &[(1, DependencyCondition::Ready)], false),
    ]);
    let mut harness = daemon(spec);
    harness.feed(Input::Adopted {
        instance: InstanceId::new(0, 0),
        generation: 7,
        ready: true,
        restarts: 2,
    });
    harness.feed(Input::Adopted {
        instance: InstanceId::new(1, 0),
        generation: 3,
        ready: false,
        restarts: 0,
    });
    harness.feed(Input::Start { services: vec![] });
    assert!(
        harness.spawned_services().is_empty(),
        "{:?}",
        harness.spawned
    );
    assert_eq!(harness.phase(0), Phase::Running);
    assert_eq!(harness.engine.view(0).restarts, 2);
    assert_eq!(harness.phase(1), Phase::Starting);
    // The adopted probe's answer is about tree 3.
    harness.feed(Input::ProbePassed {
        service: 1,
        generation: 3,
    });
    assert_eq!(harness.phase(1), Phase::Running);
    assert_eq!(harness.spawned_services(), vec![2]);
    // The adopted db crashes: its restart takes a later generation than the adopted tree.
    harness.feed(Input::LeaderExited {
        service: 0,
        generation: 7,
        status: Exit::Code(1),
        survivors: 0,
    });
    harness.feed(Input::TreeGone {
        service: 0,
        generation: 7,
    });
    harness.fire_last_timer(TimerKind::Restart);
    assert!(harness.generation(0) > 7, "{}", harness.generation(0));
    assert_eq!(harness.engine.view(0).restarts, 3);
}
