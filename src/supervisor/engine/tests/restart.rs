//! Restarts: the restart policy, backoff, the crash-loop rule, requested and dependency
//! restarts, memory limits, and spawns that fail for lack of wrangle's own resources.

use super::*;

#[test]
fn memory_limit_restarts_gracefully_and_counts_its_cause() {
    let mut harness = daemon(project(vec![
        service("api", &[], false),
        service("db", &[], false),
    ]));
    harness.feed(Input::Start { services: vec![] });
    let limit = |generation| Input::MemoryLimitExceeded {
        service: 0,
        generation,
        reason: "memory limit: 600MiB > 500MiB (max_memory)".to_string(),
    };
    harness.feed(limit(1));
    assert_eq!(harness.signals, vec![(0, Signal::TERM)]);
    // A second report about the same instance while it stops changes nothing.
    harness.feed(limit(1));
    assert_eq!(harness.signals.len(), 1);
    harness.exit_tree(0, Exit::Signal(15));
    assert_eq!(harness.spawned_services(), vec![0, 1, 0]);
    assert_eq!(harness.phase(0), Phase::Running);
    let view = harness.engine.view(0);
    assert_eq!(view.restarts, 1);
    assert_eq!(view.restart_causes.get(RestartCause::MemoryLimit), 1);
    assert_eq!(view.restart_causes.get(RestartCause::Crash), 0);
    assert!(
        view.last_restart_reason
            .as_deref()
            .is_some_and(|reason| reason.starts_with("memory limit"))
    );
    assert!(harness.events.iter().any(|event| matches!(
        event,
        Event::MemoryLimitExceeded {
            instance: InstanceId { service: 0, .. },
            ..
        }
    )));
    // A stale report about the previous instance is ignored.
    harness.feed(limit(1));
    assert_eq!(harness.signals.len(), 1);
    assert_eq!(harness.engine.view(1).restarts, 0);
}

#[test]
fn a_service_over_its_memory_limit_after_every_start_is_given_up() {
    let mut leaking = service("leak", &[], false);
    leaking.restart.max_restarts = 2;
    let mut harness = daemon(project(vec![leaking]));
    harness.feed(Input::Start { services: vec![] });
    for _ in 0..3 {
        let generation = harness.generation(0);
        harness.feed(Input::MemoryLimitExceeded {
            service: 0,
            generation,
            reason: "memory limit: 9MiB > 8MiB (max_memory)".to_string(),
        });
        harness.exit_tree(0, Exit::Signal(15));
    }
    assert_eq!(harness.phase(0), Phase::Failed);
    assert_eq!(harness.spawned_services(), vec![0, 0, 0]);
    assert!(harness.events.iter().any(|event| matches!(
        event,
        Event::Failed { reason, .. } if reason.contains("more than 2 restarts within")
    )));
}

#[test]
fn restart_causes_tell_crashes_from_requests_and_dependencies() {
    let mut api = service("api", &[(0, DependencyCondition::Started)], false);
    // api restarts with db.
    api.depends_on[0].restart = true;
    let mut harness = daemon(project(vec![service("db", &[], false), api]));
    harness.feed(Input::Start { services: vec![] });
    harness.exit_tree(0, Exit::Code(1));
    harness.fire_last_timer(TimerKind::Restart);
    harness.exit_tree(1, Exit::Signal(15));
    harness.feed(Input::Control {
        service: 1,
        action: ServiceAction::Restart,
    });
    harness.exit_tree(1, Exit::Signal(15));
    let db = harness.engine.view(0);
    assert_eq!(db.restart_causes.get(RestartCause::Crash), 1);
    assert!(
        db.last_restart_reason
            .as_deref()
            .is_some_and(|reason| reason.contains("exited with code 1"))
    );
    let api = harness.engine.view(1);
    assert_eq!(api.restart_causes.get(RestartCause::Dependency), 1);
    assert_eq!(api.restart_causes.get(RestartCause::Manual), 1);
    assert_eq!(
        api.last_restart_reason.as_deref(),
        Some("restart requested")
    );
}

#[test]
fn crashes_after_start_up_back_off_then_the_service_is_marked_failed() {
    let spec = project(vec![
        service("worker", &[], false),
        service("other", &[], false),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    let mut delays = Vec::new();
    for _ in 0..3 {
        harness.exit_tree(0, Exit::Code(1));
        assert_eq!(harness.phase(0), Phase::Backoff);
        delays.push(harness.timers.last().expect("a restart timer").3);
        harness.fire_last_timer(TimerKind::Restart);
        assert_eq!(harness.phase(0), Phase::Running);
    }
    assert!(delays[0] < delays[2], "backoff grows: {delays:?}");
    harness.exit_tree(0, Exit::Code(1));
    assert_eq!(harness.phase(0), Phase::Failed);
    assert!(harness.events.iter().any(|event| matches!(event, Event::Failed { instance: InstanceId { service: 0, .. }, reason } if reason.contains("crash loop"))));
    assert_eq!(harness.phase(1), Phase::Running, "others are untouched");
    assert!(harness.exit.is_none());
}

#[test]
fn restart_never_leaves_a_crashed_service_exited_and_exits_when_nothing_is_left() {
    let mut one_shot = service("job", &[], false);
    one_shot.restart.policy = RestartPolicy::Never;
    let mut harness = Harness::new(project(vec![one_shot]));
    harness.feed(Input::Start { services: vec![] });
    harness.exit_tree(0, Exit::Code(0));
    assert_eq!(harness.exit, Some(exit::SUCCESS));
}

#[test]
fn restart_respawns_without_counting_a_crash() {
    let spec = project(vec![service("api", &[], false)]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Restart,
    });
    assert_eq!(harness.signals, vec![(0, Signal::TERM)]);
    harness.exit_tree(0, Exit::Signal(15));
    assert_eq!(harness.spawned_services(), vec![0, 0]);
    assert_eq!(harness.phase(0), Phase::Running);
    assert!(
        !harness
            .events
            .iter()
            .any(|event| matches!(event, Event::Exited { .. } | Event::Restarting { .. }))
    );
}

#[test]
fn start_gives_a_failed_service_a_fresh_crash_window() {
    let mut crashing = service("job", &[], false);
    crashing.restart.max_restarts = 0;
    let mut harness = daemon(project(vec![crashing, service("other", &[], false)]));
    harness.feed(Input::Start { services: vec![] });
    harness.exit_tree(0, Exit::Code(1));
    assert_eq!(harness.phase(0), Phase::Failed);
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Start,
    });
    assert_eq!(harness.phase(0), Phase::Running);
    assert_eq!(harness.spawned_services(), vec![0, 1, 0]);
}

#[test]
fn dependents_restart_with_their_dependency_only_when_asked_and_wait_for_it() {
    let mut spec = vec![
        service("db", &[], true),
        service("api", &[(0, DependencyCondition::Ready)], false),
        service("cron", &[(0, DependencyCondition::Ready)], false),
    ];
    spec[1].depends_on[0].restart = true;
    let mut harness = daemon(project(spec));
    harness.feed(Input::Start { services: vec![] });
    harness.feed(Input::ProbePassed {
        service: 0,
        generation: 1,
    });
    assert_eq!(harness.spawned_services(), vec![0, 1, 2]);
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Restart,
    });
    harness.exit_tree(0, Exit::Signal(15));
    // db's new instance is spawned and api (restart = true) is stopped; cron is left alone.
    assert_eq!(harness.spawned_services(), vec![0, 1, 2, 0]);
    assert!(harness.signals.contains(&(1, Signal::TERM)));
    assert!(!harness.signals.contains(&(2, Signal::TERM)));
    harness.exit_tree(1, Exit::Signal(15));
    assert_eq!(
        harness.phase(1),
        Phase::Waiting,
        "api waits for the new db to be ready"
    );
    harness.feed(Input::ProbePassed {
        service: 0,
        generation: 2,
    });
    assert_eq!(harness.spawned_services(), vec![0, 1, 2, 0, 1]);
    assert_eq!(harness.phase(2), Phase::Running);
}

/// The restart settings wrangle uses when a config sets none (`config::resolve`).
fn default_restart() -> RestartSpec {
    RestartSpec {
        policy: RestartPolicy::OnFailure,
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(30),
        max_restarts: 5,
        window: Duration::from_secs(60),
        min_uptime: Duration::from_secs(300),
    }
}

/// Crashes the service after `uptime`, then lets its restart timer fire, until it is no longer
/// restarted; returns how many restarts that took (None: still restarting after 50).
fn crash_every(harness: &mut Harness, uptime: Duration, status: Exit) -> Option<u32> {
    for _ in 0..50 {
        harness.run_then_exit(0, uptime, status);
        if harness.phase(0) != Phase::Backoff {
            return Some(harness.engine.view(0).restarts);
        }
        harness.fire_last_timer(TimerKind::Restart);
        assert_eq!(harness.phase(0), Phase::Running);
    }
    None
}

#[test]
fn a_slow_crash_loop_with_the_default_settings_is_marked_failed() {
    // Issue 9: a crash every 61 s never exceeds 5 restarts within the 60 s window; each run is
    // a quick crash all the same (less than min_uptime, 5 minutes), and the sixth in a row is
    // one too many.
    let mut worker = service("worker", &[], false);
    worker.restart = default_restart();
    let mut harness = daemon(project(vec![worker]));
    harness.feed(Input::Start { services: vec![] });
    let restarts = crash_every(&mut harness, Duration::from_secs(61), Exit::Code(1));
    assert_eq!(restarts, Some(5));
    assert_eq!(harness.phase(0), Phase::Failed);
    let reason = harness.engine.view(0).reason.expect("a reason in ps");
    assert!(
        reason.starts_with("crash loop: crashed 6 times in a row within 5m of starting"),
        "{reason}"
    );
}

#[test]
fn a_crash_loop_slower_than_its_window_is_marked_failed() {
    // Issue 10, item 11: `restart_window = "2s"`, `max_restarts = 1`, a crash every 2.2 s (2 s
    // of run, then the backoff): the window slides past each crash.
    let mut worker = service("worker", &[], false);
    worker.restart = RestartSpec {
        window: Duration::from_secs(2),
        max_restarts: 1,
        ..default_restart()
    };
    let mut harness = daemon(project(vec![worker, service("other", &[], false)]));
    harness.feed(Input::Start { services: vec![] });
    let restarts = crash_every(&mut harness, Duration::from_secs(2), Exit::Code(1));
    assert_eq!(restarts, Some(1));
    assert_eq!(harness.phase(0), Phase::Failed);
    assert_eq!(
        harness.engine.view(0).reason.as_deref(),
        Some(
            "crash loop: crashed 2 times in a row within 5m of starting (min_uptime), more than \
             max_restarts = 1; not restarting again"
        )
    );
    assert_eq!(harness.phase(1), Phase::Running, "others are untouched");
}

#[test]
fn the_backoff_keeps_growing_until_a_run_stays_up() {
    let mut worker = service("worker", &[], false);
    worker.restart = RestartSpec {
        max_restarts: 100,
        ..default_restart()
    };
    let mut harness = daemon(project(vec![worker]));
    harness.feed(Input::Start { services: vec![] });
    let mut delays = Vec::new();
    // Runs of 20 s: long enough for the window, too short to have stayed up.
    for _ in 0..4 {
        harness.run_then_exit(0, Duration::from_secs(20), Exit::Code(1));
        delays.push(harness.last_delay(TimerKind::Restart));
        harness.fire_last_timer(TimerKind::Restart);
    }
    // Equal jitter: each delay is within [nominal / 2, nominal], nominal 200ms doubling.
    for (attempt, delay) in delays.iter().enumerate() {
        let nominal = Duration::from_millis(200 << attempt);
        assert!(
            *delay >= nominal / 2 && *delay <= nominal,
            "{attempt}: {delays:?}"
        );
    }
    // A run that stays up min_uptime ends the streak: back to the first delay.
    harness.run_then_exit(0, Duration::from_secs(300), Exit::Code(1));
    assert!(harness.last_delay(TimerKind::Restart) <= Duration::from_millis(200));
}

#[test]
fn clean_exits_restarted_by_always_are_no_crash_loop() {
    // A periodic job: exits 0 every 30 s and is started again, forever.
    let mut job = service("job", &[], false);
    job.restart = RestartSpec {
        policy: RestartPolicy::Always,
        ..default_restart()
    };
    let mut harness = daemon(project(vec![job]));
    harness.feed(Input::Start { services: vec![] });
    assert_eq!(
        crash_every(&mut harness, Duration::from_secs(30), Exit::Code(0)),
        None
    );
    assert!(harness.last_delay(TimerKind::Restart) <= Duration::from_millis(200));
}

fn out_of_descriptors() -> (String, SpawnFault) {
    (
        "worker: Too many open files (os error 24)".to_string(),
        SpawnFault::Supervisor,
    )
}

#[test]
fn a_spawn_failing_for_lack_of_wrangles_resources_is_retried_and_never_counted() {
    let mut worker = service("worker", &[], false);
    worker.restart.max_restarts = 1;
    worker.restart.policy = RestartPolicy::OnFailure;
    let mut harness = daemon(project(vec![worker]));
    // During start-up: no start-up failure, just retries with a growing delay.
    harness
        .spawn_failures
        .extend([out_of_descriptors(), out_of_descriptors()]);
    harness.feed(Input::Start { services: vec![] });
    assert_eq!(harness.phase(0), Phase::Backoff);
    assert!(harness.exit.is_none());
    let first = harness.last_delay(TimerKind::Restart);
    harness.fire_last_timer(TimerKind::Restart);
    assert_eq!(harness.phase(0), Phase::Backoff);
    let second = harness.last_delay(TimerKind::Restart);
    assert!(second > first, "{first:?} then {second:?}");
    assert!(
        harness
            .engine
            .view(0)
            .reason
            .is_some_and(|reason| reason.contains("wrangle itself is short of resources"))
    );
    harness.fire_last_timer(TimerKind::Restart);
    assert_eq!(harness.phase(0), Phase::Running);
    assert_eq!(harness.engine.view(0).reason, None);
    assert_eq!(
        harness.count_events(|event| matches!(event, Event::AllReady { .. })),
        1
    );
    // After start-up, many such failures around one real crash: the crash is counted once, the
    // shortages never, so max_restarts = 1 allows that one restart.
    harness.run_then_exit(0, Duration::from_secs(1), Exit::Code(1));
    harness.spawn_failures.extend(vec![out_of_descriptors(); 5]);
    for _ in 0..6 {
        harness.fire_last_timer(TimerKind::Restart);
    }
    assert_eq!(harness.phase(0), Phase::Running);
    let view = harness.engine.view(0);
    assert_eq!(view.restarts, 1);
    assert_eq!(view.restart_causes.get(RestartCause::Crash), 1);
    assert_eq!(
        harness.count_events(|event| matches!(event, Event::SpawnFailed { retry: Some(_), .. })),
        7
    );
    assert_eq!(
        harness.count_events(|event| matches!(event, Event::Restarting { .. })),
        1
    );
    // The next real crash is the second quick one in a row: one more than max_restarts.
    harness.run_then_exit(0, Duration::from_secs(1), Exit::Code(1));
    assert_eq!(harness.phase(0), Phase::Failed);
}

#[test]
fn a_shortage_never_fails_a_service_that_restarts_never() {
    let mut once = service("once", &[], false);
    once.restart.policy = RestartPolicy::Never;
    once.restart.max_restarts = 0;
    let mut harness = Harness::new(project(vec![once]));
    harness.spawn_failures.push_back(out_of_descriptors());
    harness.feed(Input::Start { services: vec![] });
    assert_eq!(harness.phase(0), Phase::Backoff);
    harness.fire_last_timer(TimerKind::Restart);
    assert_eq!(harness.phase(0), Phase::Running);
    harness.run_then_exit(0, Duration::from_secs(1), Exit::Code(0));
    assert_eq!(harness.exit, Some(exit::SUCCESS));
}

#[test]
fn a_spawn_failure_of_the_service_after_start_up_is_a_quick_crash() {
    let mut worker = service("worker", &[], false);
    worker.restart.max_restarts = 1;
    let mut harness = daemon(project(vec![worker]));
    harness.feed(Input::Start { services: vec![] });
    harness.run_then_exit(0, Duration::from_secs(1), Exit::Code(1));
    harness
        .spawn_failures
        .push_back(("command not found: worker".to_string(), SpawnFault::Service));
    harness.fire_last_timer(TimerKind::Restart);
    assert_eq!(harness.phase(0), Phase::Failed);
    assert!(harness.events.iter().any(|event| matches!(
        event,
        Event::SpawnFailed { retry: None, error, .. } if error == "command not found: worker"
    )));
}

#[test]
fn a_failed_liveness_probe_restarts_the_instance_whatever_its_restart_policy() {
    let mut api = service("api", &[], false);
    api.restart.policy = RestartPolicy::Never;
    let mut harness = daemon(project(vec![api, service("db", &[], false)]));
    harness.feed(Input::Start { services: vec![] });
    let failed = |generation| Input::LivenessFailed {
        service: 0,
        generation,
        reason: "http http://127.0.0.1:1/ failed 3 times in a row".to_string(),
    };
    harness.feed(failed(1));
    assert_eq!(harness.signals, vec![(0, Signal::TERM)]);
    // A second report while it stops changes nothing.
    harness.feed(failed(1));
    assert_eq!(harness.signals.len(), 1);
    harness.exit_tree(0, Exit::Signal(15));
    assert_eq!(harness.spawned_services(), vec![0, 1, 0]);
    assert_eq!(harness.phase(0), Phase::Running);
    let view = harness.engine.view(0);
    assert_eq!(view.restart_causes.get(RestartCause::Liveness), 1);
    assert_eq!(view.restart_causes.get(RestartCause::Crash), 0);
    assert!(
        view.last_restart_reason
            .as_deref()
            .is_some_and(|reason| reason.starts_with("liveness probe failed: http"))
    );
    assert!(harness.events.iter().any(|event| matches!(
        event,
        Event::LivenessFailed {
            instance: InstanceId { service: 0, .. },
            ..
        }
    )));
    // A stale report about the replaced tree is ignored.
    harness.feed(failed(1));
    assert_eq!(harness.signals.len(), 1);
}

#[test]
fn liveness_failures_count_as_crashes_for_the_crash_loop_rule() {
    let mut hung = service("hung", &[], false);
    hung.restart.max_restarts = 2;
    hung.restart.window = Duration::from_secs(3600);
    let mut harness = daemon(project(vec![hung]));
    harness.feed(Input::Start { services: vec![] });
    for _ in 0..3 {
        let generation = harness.generation(0);
        harness.feed(Input::LivenessFailed {
            service: 0,
            generation,
            reason: "tcp 127.0.0.1:1 failed 3 times in a row".to_string(),
        });
        harness.exit_tree(0, Exit::Signal(15));
    }
    assert_eq!(harness.phase(0), Phase::Failed);
    assert_eq!(harness.spawned_services(), vec![0, 0, 0]);
    assert!(harness.events.iter().any(|event| matches!(
        event,
        Event::Failed { reason, .. }
            if reason.starts_with("liveness probe failed") && reason.contains("crashed 3 times in a row")
    )));
}
