//! Services with several instances: each instance its own lifecycle, `scale`, and the rolling
//! `reload` (never fewer ready instances than wanted; a failed new instance ends it and the old
//! ones keep serving).

use super::*;

/// A service with `count` instances and a readiness probe, that receives a socket (so its
/// reload is rolling) unless `socket` is false.
fn instanced(name: &str, count: u32, socket: bool) -> ServiceSpec {
    let mut spec = service(name, &[], true);
    spec.instances = crate::spec::Instances::Count(count);
    if socket {
        spec.sockets = vec![0];
    }
    spec.restart.policy = RestartPolicy::Always;
    spec
}

fn id(service: ServiceId, number: u32) -> InstanceId {
    InstanceId::new(service, number)
}

impl Harness {
    /// The generation of instance `id`'s latest tree.
    fn generation_of(&self, id: InstanceId) -> u64 {
        self.engine
            .instances(id.service)
            .iter()
            .find(|view| view.id == id)
            .unwrap_or_else(|| panic!("no instance {id:?}"))
            .generation
    }

    fn numbers(&self, service: ServiceId) -> Vec<u32> {
        self.engine
            .instances(service)
            .iter()
            .map(|view| view.id.number)
            .collect()
    }

    fn ready_count(&self, service: ServiceId) -> usize {
        self.engine
            .instances(service)
            .iter()
            .filter(|view| view.ready)
            .count()
    }

    fn pass_probe(&mut self, id: InstanceId) {
        let generation = self.generation_of(id);
        self.feed(Input::ProbePassed {
            service: id.service,
            generation,
        });
    }

    /// Instance `id`'s current tree ends with `status`.
    fn end_tree(&mut self, id: InstanceId, status: Exit) {
        let generation = self.generation_of(id);
        self.feed(Input::LeaderExited {
            service: id.service,
            generation,
            status,
            survivors: 0,
        });
        self.feed(Input::TreeGone {
            service: id.service,
            generation,
        });
    }

    /// Starts everything and makes every instance of `service` ready.
    fn start_ready(&mut self, service: ServiceId) {
        self.feed(Input::Start { services: vec![] });
        for number in self.numbers(service) {
            self.pass_probe(id(service, number));
        }
    }

    fn last_signal(&self) -> Option<(InstanceId, Signal)> {
        self.instance_signals.last().copied()
    }
}

#[test]
fn each_instance_is_spawned_and_dependents_wait_until_every_one_is_ready() {
    let spec = project(vec![
        instanced("web", 3, true),
        service("proxy", &[(0, DependencyCondition::Ready)], false),
    ]);
    let mut harness = Harness::new(spec);
    harness.feed(Input::Start { services: vec![] });
    assert_eq!(
        harness.spawned_instances,
        vec![id(0, 0), id(0, 1), id(0, 2)]
    );
    harness.pass_probe(id(0, 0));
    harness.pass_probe(id(0, 2));
    assert_eq!(harness.spawned_services(), vec![0, 0, 0], "proxy waits");
    harness.pass_probe(id(0, 1));
    assert_eq!(harness.spawned_services(), vec![0, 0, 0, 1]);
    assert!(
        harness
            .events
            .iter()
            .any(|event| matches!(event, Event::AllReady { count: 2, .. }))
    );
}

#[test]
fn an_instance_that_crashes_is_restarted_alone() {
    let spec = project(vec![instanced("web", 2, true)]);
    let mut harness = daemon(spec);
    harness.start_ready(0);
    harness.end_tree(id(0, 1), Exit::Code(1));
    let views = harness.engine.instances(0);
    assert_eq!(views[0].phase, Phase::Running);
    assert_eq!(views[1].phase, Phase::Backoff);
    assert_eq!(views[1].restarts, 1);
    assert_eq!(views[0].restarts, 0);
    harness.fire_last_timer(TimerKind::Restart);
    assert_eq!(harness.spawned_instances.last(), Some(&id(0, 1)));
    assert!(
        harness.instance_signals.is_empty(),
        "instance 0 was left alone"
    );
}

#[test]
fn one_instance_can_be_stopped_started_and_restarted_without_touching_the_others() {
    let spec = project(vec![
        instanced("web", 2, true),
        service("proxy", &[(0, DependencyCondition::Ready)], false),
    ]);
    let mut harness = daemon(spec);
    harness.start_ready(0);
    harness.feed(Input::InstanceControl {
        instance: id(0, 1),
        action: ServiceAction::Restart,
    });
    assert_eq!(harness.instance_signals, vec![(id(0, 1), Signal::TERM)]);
    harness.end_tree(id(0, 1), Exit::Signal(15));
    assert_eq!(harness.spawned_instances.last(), Some(&id(0, 1)));
    assert_eq!(
        harness.phase(1),
        Phase::Running,
        "the dependent is untouched"
    );
    harness.pass_probe(id(0, 1));
    harness.feed(Input::InstanceControl {
        instance: id(0, 0),
        action: ServiceAction::Stop,
    });
    harness.end_tree(id(0, 0), Exit::Signal(15));
    assert_eq!(harness.engine.instances(0)[0].phase, Phase::Stopped);
    assert_eq!(harness.engine.instances(0)[1].phase, Phase::Running);
    assert_eq!(harness.phase(1), Phase::Running);
    harness.feed(Input::InstanceControl {
        instance: id(0, 0),
        action: ServiceAction::Start,
    });
    assert_eq!(harness.spawned_instances.last(), Some(&id(0, 0)));
}

#[test]
fn scale_adds_the_lowest_free_numbers_and_retires_the_highest() {
    let spec = project(vec![instanced("web", 2, true)]);
    let mut harness = daemon(spec);
    harness.start_ready(0);
    harness.feed(Input::Scale {
        service: 0,
        count: 4,
    });
    assert_eq!(
        harness.spawned_instances,
        vec![id(0, 0), id(0, 1), id(0, 2), id(0, 3)]
    );
    assert_eq!(harness.engine.wanted(0), 4);
    assert!(harness.events.iter().any(|event| matches!(
        event,
        Event::Scaled {
            service: 0,
            from: 2,
            to: 4
        }
    )));
    harness.feed(Input::Scale {
        service: 0,
        count: 1,
    });
    let mut signalled: Vec<InstanceId> = harness
        .instance_signals
        .iter()
        .map(|(instance, _)| *instance)
        .collect();
    signalled.sort();
    assert_eq!(signalled, vec![id(0, 1), id(0, 2), id(0, 3)]);
    // Retired instances go once their trees are gone, not before.
    assert_eq!(harness.numbers(0), vec![0, 1, 2, 3]);
    for number in [3, 1, 2] {
        harness.end_tree(id(0, number), Exit::Signal(15));
    }
    assert_eq!(harness.numbers(0), vec![0]);
    // Back up: the freed numbers are reused.
    harness.feed(Input::Scale {
        service: 0,
        count: 2,
    });
    assert_eq!(harness.numbers(0), vec![0, 1]);
    assert_eq!(harness.spawned_instances.last(), Some(&id(0, 1)));
}

#[test]
fn a_reload_replaces_every_instance_one_at_a_time_never_below_the_wanted_count() {
    let spec = project(vec![instanced("web", 3, true)]);
    let mut harness = daemon(spec);
    harness.start_ready(0);
    let first_generations: Vec<u64> = (0..3).map(|n| harness.generation_of(id(0, n))).collect();
    harness.feed(Input::Reload { service: 0 });
    assert!(harness.engine.reloading(0));
    // (new instance, the instance it replaces), in order: the extra one first, the extra one
    // last.
    let steps = [(3, 0), (0, 1), (1, 2), (2, 3)];
    for (new, old) in steps {
        assert_eq!(harness.spawned_instances.last(), Some(&id(0, new)));
        assert!(harness.ready_count(0) >= 3, "before {new} is ready");
        assert!(
            harness.instance_signals.is_empty()
                || harness.last_signal().map(|s| s.0) != Some(id(0, old))
        );
        harness.pass_probe(id(0, new));
        assert_eq!(harness.last_signal(), Some((id(0, old), Signal::TERM)));
        assert!(harness.ready_count(0) >= 3, "while {old} stops");
        harness.end_tree(id(0, old), Exit::Signal(15));
        assert!(harness.ready_count(0) >= 3, "after {old} is gone");
    }
    assert!(!harness.engine.reloading(0));
    assert_eq!(harness.numbers(0), vec![0, 1, 2]);
    for number in 0..3 {
        assert!(harness.generation_of(id(0, number)) > first_generations[number as usize]);
        assert_eq!(
            harness.engine.instances(0)[number as usize].phase,
            Phase::Running
        );
    }
    assert_eq!(
        harness.count_events(|event| matches!(event, Event::Reloaded { service: 0, .. })),
        1
    );
    // A reload is no crash and no restart of anyone's.
    assert!(
        harness
            .engine
            .instances(0)
            .iter()
            .all(|view| view.restarts == 0)
    );
}

#[test]
fn a_new_instance_that_is_never_ready_ends_the_reload_and_the_old_ones_keep_serving() {
    let spec = project(vec![instanced("web", 2, true)]);
    let mut harness = daemon(spec);
    harness.start_ready(0);
    harness.feed(Input::Reload { service: 0 });
    // The first step goes well: 2 replaces 0.
    harness.pass_probe(id(0, 2));
    harness.end_tree(id(0, 0), Exit::Signal(15));
    // Its replacement, 0, never becomes ready.
    let generation = harness.generation_of(id(0, 0));
    harness.feed(Input::ProbeTimedOut {
        service: 0,
        generation,
        last_failure: Some("connection refused".into()),
    });
    assert!(!harness.engine.reloading(0));
    let failed = harness.events.iter().find_map(|event| match event {
        Event::ReloadFailed { service: 0, reason } => Some(reason.clone()),
        _ => None,
    });
    let reason = failed.expect("the reload failed");
    assert!(
        reason.contains("web:0") && reason.contains("not ready"),
        "{reason}"
    );
    assert_eq!(harness.last_signal(), Some((id(0, 0), Signal::TERM)));
    harness.end_tree(id(0, 0), Exit::Signal(15));
    // The old instance 1 and the new 2 serve; nothing else is started or stopped.
    assert_eq!(harness.numbers(0), vec![1, 2]);
    assert_eq!(harness.ready_count(0), 2);
    assert_eq!(
        harness.spawned_instances.len(),
        4,
        "0, 1, then 2 and 0 of the reload"
    );
    // The next reload closes the gap: the instances end up numbered 0 and 1 again.
    harness.feed(Input::Reload { service: 0 });
    for (new, old) in [(0, 1), (1, 2)] {
        assert_eq!(harness.spawned_instances.last(), Some(&id(0, new)));
        harness.pass_probe(id(0, new));
        assert_eq!(harness.last_signal(), Some((id(0, old), Signal::TERM)));
        harness.end_tree(id(0, old), Exit::Signal(15));
    }
    assert_eq!(harness.numbers(0), vec![0, 1]);
    assert!(!harness.engine.reloading(0));
}

#[test]
fn a_new_instance_that_exits_or_cannot_start_ends_the_reload() {
    let spec = project(vec![instanced("web", 1, true)]);
    let mut harness = daemon(spec);
    harness.start_ready(0);
    harness.feed(Input::Reload { service: 0 });
    harness.end_tree(id(0, 1), Exit::Code(3));
    assert!(!harness.engine.reloading(0));
    assert_eq!(
        harness.numbers(0),
        vec![0],
        "the new one is removed, not restarted"
    );
    assert!(
        harness.instance_signals.is_empty(),
        "the old one was never signalled"
    );
    assert_eq!(harness.engine.instances(0)[0].phase, Phase::Running);

    harness
        .spawn_failures
        .push_back(("command not found: web".into(), SpawnFault::Service));
    harness.feed(Input::Reload { service: 0 });
    assert!(!harness.engine.reloading(0));
    assert_eq!(harness.numbers(0), vec![0]);
    assert_eq!(
        harness.count_events(|event| matches!(event, Event::ReloadFailed { .. })),
        2
    );
}

#[test]
fn a_service_without_a_socket_is_restarted_instead_and_says_why() {
    let spec = project(vec![instanced("worker", 2, false)]);
    let mut harness = daemon(spec);
    harness.start_ready(0);
    harness.feed(Input::Reload { service: 0 });
    let why = harness.events.iter().find_map(|event| match event {
        Event::Reloading {
            restart: Some(why), ..
        } => Some(why.clone()),
        _ => None,
    });
    assert!(why.expect("said").contains("no socket"));
    let mut signalled: Vec<InstanceId> = harness.instance_signals.iter().map(|s| s.0).collect();
    signalled.sort();
    assert_eq!(
        signalled,
        vec![id(0, 0), id(0, 1)],
        "a restart of every instance"
    );
    // It is over once every restarted instance is ready again.
    for number in [0, 1] {
        harness.end_tree(id(0, number), Exit::Signal(15));
    }
    harness.pass_probe(id(0, 0));
    assert!(harness.engine.reloading(0));
    harness.pass_probe(id(0, 1));
    assert!(!harness.engine.reloading(0));
    assert_eq!(
        harness.count_events(|event| matches!(event, Event::Reloaded { service: 0, .. })),
        1
    );
    // A restarted instance that never becomes ready fails the reload, and is restarted as after
    // any start that failed.
    harness.feed(Input::Reload { service: 0 });
    for number in [0, 1] {
        harness.end_tree(id(0, number), Exit::Signal(15));
    }
    harness.end_tree(id(0, 1), Exit::Code(1));
    assert!(!harness.engine.reloading(0));
    assert!(harness.events.iter().any(|event| matches!(
        event,
        Event::ReloadFailed { reason, .. } if reason.contains("worker:1 exited with code 1")
    )));
    assert_eq!(harness.engine.instances(0)[1].phase, Phase::Backoff);
}

#[test]
fn a_stop_during_a_reload_ends_it_and_removes_the_instance_being_started() {
    let spec = project(vec![instanced("web", 2, true)]);
    let mut harness = daemon(spec);
    harness.start_ready(0);
    harness.feed(Input::Reload { service: 0 });
    harness.feed(Input::Control {
        service: 0,
        action: ServiceAction::Stop,
    });
    assert!(!harness.engine.reloading(0));
    let reason = harness.events.iter().find_map(|event| match event {
        Event::ReloadFailed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason.as_deref(), Some("interrupted by stop"));
    for number in [0, 1, 2] {
        harness.end_tree(id(0, number), Exit::Signal(15));
    }
    assert_eq!(harness.numbers(0), vec![0, 1]);
    assert!(
        harness
            .engine
            .instances(0)
            .iter()
            .all(|view| view.phase == Phase::Stopped)
    );
}

#[test]
fn a_reload_of_a_service_that_is_not_running_says_so() {
    let spec = project(vec![
        instanced("web", 2, true),
        service("other", &[], false),
    ]);
    let mut harness = daemon(spec);
    harness.feed(Input::Start { services: vec![1] });
    harness.feed(Input::Reload { service: 0 });
    let reason = harness.events.iter().find_map(|event| match event {
        Event::ReloadFailed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(reason.expect("said").contains("not running"));
    assert!(
        harness
            .spawned_instances
            .iter()
            .all(|instance| instance.service == 1)
    );
}

#[test]
fn instances_max_means_one_per_cpu() {
    let mut web = instanced("web", 1, true);
    web.instances = crate::spec::Instances::PerCpu;
    let harness = Harness::new(project(vec![web]));
    // The harness's engine was told of 4 CPUs.
    assert_eq!(harness.engine.wanted(0), 4);
    assert_eq!(harness.numbers(0), vec![0, 1, 2, 3]);
}
