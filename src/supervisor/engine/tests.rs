//! Scenarios for the engine, driven like the runtime drives it (a [`Harness`] answers spawns at
//! once with fake pids and records signals, timers and events), with no process anywhere.

mod apply;
mod instances;
mod restart;
mod schedule;
mod start;
mod stop;

use std::collections::VecDeque;

use super::*;
use crate::exit;
use crate::spec::{
    CommandSpec, Dependency, DependencyCondition, ReadyCheck, ReadyProbe, RestartPolicy,
    RestartSpec, ServiceSpec,
};
use crate::test_support::{project_spec as project, service_spec};

/// A service of the engine's scenarios: `true`, restarted on failure (3 in a window, backoff from
/// 100 ms to 5 s), with a TCP probe when `probe`.
fn service(
    name: &str,
    depends_on: &[(ServiceId, DependencyCondition)],
    probe: bool,
) -> ServiceSpec {
    let base = service_spec(name);
    ServiceSpec {
        command: CommandSpec {
            argv: vec!["true".into()],
            shell: false,
        },
        depends_on: depends_on
            .iter()
            .map(|(service, condition)| Dependency {
                service: *service,
                condition: *condition,
                restart: false,
            })
            .collect(),
        ready: probe.then(|| ReadyProbe {
            check: ReadyCheck::Tcp {
                host: "127.0.0.1".into(),
                port: 1,
            },
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
            recheck: None,
            per_instance: false,
        }),
        restart: RestartSpec {
            policy: RestartPolicy::OnFailure,
            backoff_max: Duration::from_secs(5),
            max_restarts: 3,
            ..base.restart
        },
        ..base
    }
}

/// Drives an engine like the runtime does: spawns succeed at once with fake pids (or fail, as
/// queued in `spawn_failures`).
struct Harness {
    engine: Engine,
    now: Instant,
    /// The next spawns fail with these, in order.
    spawn_failures: VecDeque<(String, SpawnFault)>,
    spawned: Vec<(ServiceId, u64)>,
    /// Every spawn, by instance.
    spawned_instances: Vec<InstanceId>,
    signals: Vec<(ServiceId, Signal)>,
    /// Every signal, by instance.
    instance_signals: Vec<(InstanceId, Signal)>,
    timers: Vec<(ServiceId, u64, TimerKind, Duration)>,
    events: Vec<Event>,
    exit: Option<u8>,
}

impl Harness {
    fn new(spec: Arc<ProjectSpec>) -> Harness {
        Harness {
            engine: Engine::new(spec, Lifetime::UntilIdle, 42, 4),
            now: Instant::now(),
            spawn_failures: VecDeque::new(),
            spawned: Vec::new(),
            spawned_instances: Vec::new(),
            signals: Vec::new(),
            instance_signals: Vec::new(),
            timers: Vec::new(),
            events: Vec::new(),
            exit: None,
        }
    }

    fn feed(&mut self, input: Input) {
        let mut queue = VecDeque::from(self.engine.handle(self.now, input));
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Spawn {
                    instance,
                    generation,
                } => {
                    let service = instance.service;
                    let answer = match self.spawn_failures.pop_front() {
                        Some((error, fault)) => Input::SpawnFailed {
                            service,
                            generation,
                            error,
                            fault,
                        },
                        None => {
                            self.spawned.push((service, generation));
                            self.spawned_instances.push(instance);
                            Input::Spawned {
                                service,
                                generation,
                                pid: 1000 + service as i32,
                            }
                        }
                    };
                    queue.extend(self.engine.handle(self.now, answer));
                }
                Effect::AwaitPorts {
                    instance,
                    generation,
                } => {
                    queue.extend(self.engine.handle(
                        self.now,
                        Input::PortsFree {
                            service: instance.service,
                            generation,
                        },
                    ));
                }
                Effect::Signal { instance, signal } => {
                    self.signals.push((instance.service, signal));
                    self.instance_signals.push((instance, signal));
                }
                Effect::ArmTimer {
                    service,
                    sequence,
                    kind,
                    after,
                } => self.timers.push((service, sequence, kind, after)),
                Effect::Publish(event) => self.events.push(event),
                Effect::Exit { code } => self.exit = Some(code),
            }
        }
    }

    /// The generation of the service's first instance's latest tree.
    fn generation(&self, service: ServiceId) -> u64 {
        self.engine.view(service).generation
    }

    fn exit_tree(&mut self, service: ServiceId, status: Exit) {
        let generation = self.generation(service);
        self.feed(Input::LeaderExited {
            service,
            generation,
            status,
            survivors: 0,
        });
        self.feed(Input::TreeGone {
            service,
            generation,
        });
    }

    /// The current instance runs for `uptime`, then its whole tree exits with `status`.
    fn run_then_exit(&mut self, service: ServiceId, uptime: Duration, status: Exit) {
        self.now += uptime;
        self.exit_tree(service, status);
    }

    fn spawned_services(&self) -> Vec<ServiceId> {
        self.spawned.iter().map(|(service, _)| *service).collect()
    }

    fn phase(&self, service: ServiceId) -> Phase {
        self.engine.view(service).phase
    }

    /// The delay of the latest restart timer armed.
    fn last_delay(&self, kind: TimerKind) -> Duration {
        self.timers
            .iter()
            .rev()
            .find(|timer| timer.2 == kind)
            .expect("a timer of that kind")
            .3
    }

    fn count_events(&self, matches: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|event| matches(event)).count()
    }

    fn fire_last_timer(&mut self, kind: TimerKind) {
        let (service, sequence, _, after) = *self
            .timers
            .iter()
            .rev()
            .find(|timer| timer.2 == kind)
            .expect("a timer of that kind");
        self.now += after;
        self.feed(Input::Timer {
            service,
            sequence,
            kind,
        });
    }
}

fn daemon(spec: Arc<ProjectSpec>) -> Harness {
    let mut harness = Harness::new(spec);
    harness.engine = Engine::new(
        Arc::clone(&harness.engine.spec),
        Lifetime::UntilShutdown,
        42,
        4,
    );
    harness
}

impl Engine {
    /// The service's first instance: the only one of the services most scenarios use.
    pub(crate) fn view(&self, service: ServiceId) -> InstanceView {
        self.instances(service)
            .into_iter()
            .next()
            .expect("an instance")
    }
}
