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
