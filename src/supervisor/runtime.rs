//! The runtime: carries out the engine's decisions with processes, pipes, probes and timers.
//!
//! # Theory of operation
//! Everything runs on one thread (a current-thread tokio runtime with a `LocalSet`): the engine,
//! the reaper, output readers, probes and timers. One thread means no locks around the engine, and
//! it is also what `PR_SET_PDEATHSIG` needs (the signal is tied to the thread that forked).
//!
//! This file is the executor: all asynchronous work reports back as a [`Message`] on one channel;
//! the loop feeds each to the engine and carries out the returned effects. Its rules:
//! - `Spawn` is executed synchronously and its `Spawned` answer is fed back before any other
//!   message, so no other input can observe a spawned process the engine does not know about.
//! - A service instance ends in two steps: its leader exits (the reaper reports the status), then
//!   its whole tree is gone. Between the two, a watcher follows the survivors and rescans whenever
//!   they exit, so a service that daemonized itself stays supervised until its last process ends.
//!   The tree's end is reported only once its output has been read to the end (bounded), so no
//!   line printed before the end comes after it.
//! - Every input about an instance carries its generation; the engine drops stale ones.
//! - When the engine is done, a final sweep kills whatever is left below wrangle and reports it,
//!   and every declared port is checked free.
//!
//! Every effect on processes goes through the [`System`] seam (`system.rs`; the real one is
//! `os.rs`), so these rules are unit-tested without processes (`runtime/tests.rs`). Each concern
//! has its own file: `spawn.rs` (starting an instance and what follows it), `trees.rs` (signals,
//! the watch of a tree's end, the final sweep), `output.rs` (reading pipes), `probes.rs`
//! (readiness), `ports.rs` and `sampling.rs`.

mod adopt;
mod liveness;
mod os;
mod output;
mod ports;
mod probes;
mod sampling;
mod spawn;
mod system;
#[cfg(test)]
mod tests;
mod trees;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::logs::LogStore;
use crate::spec::{ApplyChange, ProjectSpec, ServiceId, Signal};
use crate::stream::Stream;
use crate::supervisor::engine::{
    Effect, Engine, Input, InstanceView, Lifetime, NewSpec, ServiceAction,
};
use crate::supervisor::event::{Event, Exit, InstanceId};
use crate::supervisor::monitor::{Monitor, ResourceReport};
use crate::supervisor::schedule;
use crate::sys::cgroup::RunCgroup;
use crate::sys::reaper::{ExitStatus, Reaper};
use crate::sys::sentinel::ParentLink;
use crate::sys::sockets::BoundSockets;

pub use adopt::AdoptedInstance;
use os::{Os, OsOptions};
use output::{OutputDrained, READ_BUFFER};
use system::System;
use trees::TreeWatcher;

/// What a front-end receives while a project runs.
pub trait Observer {
    fn event(&self, event: &Event);
    fn output(&self, instance: InstanceId, stream: Stream, line: &[u8], partial: bool);
    /// Whether [`Observer::output`] wants the lines of `service` at the moment (asked once per
    /// read, not per line): a front-end that only sometimes shows output says no otherwise, and
    /// saves the per-line work when a service prints a lot.
    fn wants_output(&self, service: ServiceId) -> bool {
        let _ = service;
        true
    }
    /// A readiness attempt failed (the probe keeps trying until its timeout); for progress display.
    fn probe_failed(&self, instance: InstanceId, failure: &str);
    /// Something the user should know that is not a service event (a degraded mode, say).
    fn notice(&self, text: &str);
    /// A readiness attempt (HTTP, TCP or exec) finished after `latency`; for statistics.
    fn probe_attempt(&self, instance: InstanceId, latency: Duration, passed: bool) {
        let _ = (instance, latency, passed);
    }
    /// How often the front-end wants resource figures now; `None` when it shows none (then
    /// services are sampled only for their limits, if they have any).
    fn sample_interval(&self) -> Option<Duration> {
        None
    }
    /// The figures of the latest resource sample.
    fn resources(&self, report: &ResourceReport) {
        let _ = report;
    }
    /// Notified when [`Observer::sample_interval`] may have become shorter (a client started
    /// watching), so the monitor need not wake up every second to find out.
    fn sample_wakeup(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
    /// The state of every instance of every service after a change (called once per turn of
    /// the main loop, only when something differs from the last call), by service then number.
    /// Front-ends that show state (the daemon's API) keep it; the foreground reporter needs
    /// events only.
    fn state_changed(&self, instances: &[InstanceSnapshot]) {
        let _ = instances;
    }
    /// The run follows `spec` from now on (`wrangle apply`), to carry out `changes`: every id
    /// it used before names the same service; ids past the old spec's end are new services.
    /// Called before any event about the new services.
    fn spec_changed(&self, spec: &Arc<ProjectSpec>, changes: &[ApplyChange]) {
        let _ = (spec, changes);
    }
}

/// One instance as front-ends see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSnapshot {
    pub view: InstanceView,
    /// How many instances its service should have (`instances`, `wrangle scale`).
    pub wanted: u32,
    /// A rolling reload of its service is in progress.
    pub reloading: bool,
    /// The leader of its current tree, while it lives.
    pub pid: Option<i32>,
    /// When its current tree was spawned.
    pub started_at: Option<SystemTime>,
}

/// A control with an optional acknowledgement, sent once the control has been applied and the
/// new state published (so a client that waits for the ack then reads the new state).
pub struct ControlRequest {
    pub control: Control,
    pub done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ControlRequest {
    pub fn new(control: Control) -> ControlRequest {
        ControlRequest {
            control,
            done: None,
        }
    }
}

/// Requests from the front-end (signals, the control API).
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Stop everything; a second one skips the grace period.
    Shutdown,
    /// Start, stop or restart one service (every instance).
    Service {
        service: ServiceId,
        action: ServiceAction,
    },
    /// Start, stop or restart one instance.
    Instance {
        instance: InstanceId,
        action: ServiceAction,
    },
    /// Run this many instances of the service.
    Scale { service: ServiceId, count: u32 },
    /// Replace every instance of the service, one at a time.
    Reload { service: ServiceId },
    /// Run `spec` from now on (the running spec with the config read again merged in, every
    /// id kept: `spec::merge`) and carry out `changes`. The executor, the system, the observer
    /// and the engine all switch in the same turn.
    Apply {
        spec: NewSpec,
        changes: Vec<ApplyChange>,
    },
}

pub struct RunOptions {
    /// Identifies this run in every service's environment (`WRANGLE_RUN`).
    pub run_token: String,
    /// Tie each service leader to wrangle's life: `PR_SET_PDEATHSIG` sends it SIGTERM if wrangle
    /// dies, and the sentinel stops the rest of its tree (SIGKILL after a grace period).
    pub die_with_parent: bool,
    /// A private directory for per-service sockets (`NOTIFY_SOCKET`).
    pub socket_dir: PathBuf,
    /// wrangle helper processes that are not services (the sentinel).
    pub helper_pids: Vec<i32>,
    /// The run's cgroup, when the machine lets wrangle create one: services then get exact
    /// membership and atomic kills.
    pub cgroup: Option<Rc<RunCgroup>>,
    /// Seed for backoff jitter.
    pub random_seed: u64,
    /// Whether the run ends when every service has ended (foreground) or only on shutdown.
    pub lifetime: Lifetime,
    /// Every output line is also appended here (the daemon's log files), with backpressure: a
    /// service that writes faster than the disk is read at disk speed.
    pub log_store: Option<Arc<LogStore>>,
    /// The project's sockets (`[sockets]`), passed to the services that list them.
    pub sockets: Arc<BoundSockets>,
    /// The sentinel above the daemon, which holds duplicates of every instance's output pipes
    /// so that a successor can read on should the daemon die (see `sys::sentinel`).
    pub holder: Option<Rc<ParentLink>>,
    /// For a daemon taking over the run of one that died: the instances it took over, and the
    /// sentinel whose children their leaders are.
    pub adopted: Vec<AdoptedInstance>,
    pub adopted_root: Option<i32>,
}

/// How the run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub code: u8,
    /// Processes still alive after the final sweep (should be empty).
    pub leftovers: Vec<(i32, String)>,
    /// Processes the final sweep had to kill because no stop reached them.
    pub swept: usize,
    /// Declared ports still in use after the stop, with who holds them.
    pub ports_in_use: Vec<(u16, String)>,
    pub ports_checked: Vec<u16>,
}

enum Message {
    Engine(Input),
    LeaderExit {
        instance: InstanceId,
        generation: u64,
        pid: i32,
        status: ExitStatus,
    },
    Control(ControlRequest),
    /// An adopted leader ended (see `adopt.rs`).
    AdoptedExit {
        pid: i32,
        status: Option<Exit>,
    },
    /// Time to check whether a resource sample is due.
    SampleTick,
}

/// What the executor itself needs of [`RunOptions`] (the rest is the real system's).
struct Settings {
    socket_dir: PathBuf,
    random_seed: u64,
    lifetime: Lifetime,
    log_store: Option<Arc<LogStore>>,
    holder: Option<Rc<ParentLink>>,
}

/// The live tree of an instance, as the executor follows it.
struct Instance {
    generation: u64,
    pid: i32,
    /// The leader is not reaped yet, so its pid (and process group id) cannot be reused.
    leader_unreaped: bool,
    /// Taken over from a daemon that died: its leader is the sentinel's child, not ours.
    adopted: bool,
    /// Wakes the watcher to rescan (e.g. after a new signal).
    rescan: Rc<Notify>,
    /// When set, the watcher sends this signal to members it finds later (SIGKILL escalation).
    signal_late_members: Rc<Cell<Option<Signal>>>,
    probe_task: Option<JoinHandle<()>>,
    /// The liveness probe (`live`), from the instance's readiness until its stop.
    live_task: Option<JoinHandle<()>>,
    started_at: SystemTime,
    /// Taken by whoever reports the end of the tree.
    output_drained: Option<OutputDrained>,
}

struct Runtime<S: System> {
    spec: Arc<ProjectSpec>,
    engine: Engine,
    system: Rc<S>,
    observer: Rc<dyn Observer>,
    settings: Settings,
    instances: HashMap<InstanceId, Instance>,
    sender: mpsc::UnboundedSender<Message>,
    /// Output readers still running: the last lines a service printed before it stopped must be
    /// shown before the closing summary.
    readers: Vec<JoinHandle<()>>,
    last_state: Vec<InstanceSnapshot>,
    read_buffer: Rc<RefCell<Vec<u8>>>,
    /// Acknowledgements to send once this turn's state is published.
    pending_acks: Vec<tokio::sync::oneshot::Sender<()>>,
    monitor: Monitor,
    /// When the last resource sample was taken.
    last_sample: Option<Instant>,
    /// The spec the scheduler (`supervisor::schedule`) keeps time for.
    schedules: tokio::sync::watch::Sender<Arc<ProjectSpec>>,
}

/// Runs `services` (all when empty) of `spec` until everything has stopped. Must be called inside
/// a `LocalSet` on a current-thread runtime, after the reaper was started.
pub async fn run(
    spec: Arc<ProjectSpec>,
    services: Vec<ServiceId>,
    reaper: Rc<Reaper>,
    observer: Rc<dyn Observer>,
    controls: mpsc::UnboundedReceiver<ControlRequest>,
    options: RunOptions,
) -> RunOutcome {
    let os = Os::new(
        Arc::clone(&spec),
        reaper,
        Rc::clone(&observer),
        OsOptions {
            run_token: options.run_token,
            die_with_parent: options.die_with_parent,
            helper_pids: options.helper_pids,
            cgroup: options.cgroup,
            sockets: options.sockets,
            adopted_root: options.adopted_root,
        },
    );
    let settings = Settings {
        socket_dir: options.socket_dir,
        random_seed: options.random_seed,
        lifetime: options.lifetime,
        log_store: options.log_store,
        holder: options.holder,
    };
    let (runtime, receiver) = Runtime::new(Rc::new(os), spec, observer, settings);
    runtime
        .execute(services, controls, receiver, options.adopted)
        .await
}

/// The executor's clock: tokio's, which is the system's monotonic clock (and a test's paused one).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl<S: System> Runtime<S> {
    fn new(
        system: Rc<S>,
        spec: Arc<ProjectSpec>,
        observer: Rc<dyn Observer>,
        settings: Settings,
    ) -> (Runtime<S>, mpsc::UnboundedReceiver<Message>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let schedules = tokio::sync::watch::Sender::new(Arc::clone(&spec));
        let runtime = Runtime {
            engine: Engine::new(
                Arc::clone(&spec),
                settings.lifetime,
                settings.random_seed,
                available_cpus(),
            ),
            instances: HashMap::new(),
            monitor: Monitor::new(),
            spec,
            system,
            observer,
            settings,
            sender,
            readers: Vec::new(),
            last_state: Vec::new(),
            read_buffer: Rc::new(RefCell::new(vec![0; READ_BUFFER])),
            pending_acks: Vec::new(),
            last_sample: None,
            schedules,
        };
        (runtime, receiver)
    }

    /// The message loop: starts `services`, then handles messages until the engine says the run
    /// is over, then sweeps.
    async fn execute(
        mut self,
        services: Vec<ServiceId>,
        mut controls: mpsc::UnboundedReceiver<ControlRequest>,
        mut receiver: mpsc::UnboundedReceiver<Message>,
        adopted: Vec<AdoptedInstance>,
    ) -> RunOutcome {
        self.start_sample_ticks();
        if let Some(holder) = &self.settings.holder {
            tokio::task::spawn_local(adopt::read_sentinel(Rc::clone(holder), self.sender.clone()));
        }
        self.adopt_all(adopted);
        // Controls arrive on their own channel so front-ends need not know the internal messages.
        let sender = self.sender.clone();
        tokio::task::spawn_local(async move {
            while let Some(control) = controls.recv().await {
                if sender.send(Message::Control(control)).is_err() {
                    return;
                }
            }
        });

        let mut code = self.feed(Input::Start { services });
        self.publish_state();
        // Runs by the clock: each scheduled time comes back as an input, like a timer.
        let sender = self.sender.clone();
        let scheduler =
            tokio::task::spawn_local(schedule::run(self.schedules.subscribe(), move |service| {
                sender
                    .send(Message::Engine(Input::Scheduled { service }))
                    .is_ok()
            }));
        while code.is_none() {
            let Some(message) = receiver.recv().await else {
                break;
            };
            // A new turn: the process table may have changed since the last scan. Messages
            // already queued are handled in the same turn, so a burst (50 leaders exiting at
            // once) shares one scan.
            self.system.new_turn();
            code = self.handle(message);
            while code.is_none() {
                match receiver.try_recv() {
                    Ok(message) => code = self.handle(message),
                    Err(_) => break,
                }
            }
            self.publish_state();
        }
        scheduler.abort();
        let code = code.unwrap_or(crate::exit::SERVICE_FAILED);
        self.finish(code).await
    }

    fn handle(&mut self, message: Message) -> Option<u8> {
        match message {
            Message::Engine(input) => self.feed(input),
            Message::LeaderExit {
                instance,
                generation,
                pid,
                status,
            } => {
                let status = match status {
                    ExitStatus::Code(code) => Exit::Code(code),
                    ExitStatus::Signal(signal) => Exit::Signal(signal),
                };
                self.leader_exited(instance, generation, pid, status)
            }
            Message::AdoptedExit { pid, status } => self.adopted_exited(pid, status),
            Message::Control(request) => {
                let code = match request.control {
                    Control::Shutdown => {
                        // From here on a dead daemon is not replaced: the run is ending.
                        if let Some(holder) = &self.settings.holder {
                            let _ = holder.stopping();
                        }
                        self.feed(Input::Shutdown { force: false })
                    }
                    Control::Service { service, action } => {
                        self.feed(Input::Control { service, action })
                    }
                    Control::Instance { instance, action } => {
                        self.feed(Input::InstanceControl { instance, action })
                    }
                    Control::Scale { service, count } => self.feed(Input::Scale { service, count }),
                    Control::Reload { service } => self.feed(Input::Reload { service }),
                    Control::Apply { spec, changes } => {
                        self.spec = Arc::clone(&spec.0);
                        self.schedules.send_replace(Arc::clone(&spec.0));
                        self.system.spec_changed(&spec.0);
                        self.observer.spec_changed(&spec.0, &changes);
                        self.feed(Input::Apply { spec, changes })
                    }
                };
                self.pending_acks.extend(request.done);
                code
            }
            Message::SampleTick => self.sample_if_due(),
        }
    }

    /// Feeds one input and executes effects until the engine has nothing more to do now.
    fn feed(&mut self, input: Input) -> Option<u8> {
        let mut queue: VecDeque<Effect> = self.engine.handle(now(), input).into();
        let mut exit = None;
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Spawn {
                    instance,
                    generation,
                } => {
                    // Answered here, before anything else is handled (see the module's rules).
                    let answer = self.spawn(instance, generation);
                    queue.extend(self.engine.handle(now(), answer));
                }
                Effect::AwaitPorts {
                    instance,
                    generation,
                } => self.await_ports(instance, generation),
                Effect::Signal { instance, signal } => self.signal_instance(instance, signal),
                Effect::ArmTimer {
                    service,
                    sequence,
                    kind,
                    after,
                } => {
                    let sender = self.sender.clone();
                    tokio::task::spawn_local(async move {
                        tokio::time::sleep(after).await;
                        let _ = sender.send(Message::Engine(Input::Timer {
                            service,
                            sequence,
                            kind,
                        }));
                    });
                }
                Effect::Publish(event) => {
                    match event {
                        Event::Stopped { instance, .. } | Event::Exited { instance, .. } => {
                            self.end_instance(instance)
                        }
                        Event::Ready { instance, .. } => self.watch_liveness(instance),
                        Event::Stopping { instance, .. } | Event::Killing { instance, .. } => {
                            self.stop_liveness(instance)
                        }
                        _ => {}
                    }
                    self.observer.event(&event);
                }
                Effect::Exit { code } => exit = Some(code),
            }
        }
        exit
    }

    /// Tells the observer about the instances' state, when it changed since the last time.
    fn publish_state(&mut self) {
        // A retired service (removed by `apply`) is stopped for good and shown nowhere.
        let snapshots: Vec<InstanceSnapshot> = (0..self.spec.services.len())
            .filter(|service| self.spec.is_current(*service))
            .flat_map(|service| {
                let wanted = self.engine.wanted(service);
                let reloading = self.engine.reloading(service);
                self.engine
                    .instances(service)
                    .into_iter()
                    .map(move |view| (view, wanted, reloading))
            })
            .map(|(view, wanted, reloading)| {
                let instance = self.instances.get(&view.id).filter(|_| view.alive);
                InstanceSnapshot {
                    pid: instance
                        .filter(|instance| instance.leader_unreaped)
                        .map(|instance| instance.pid),
                    started_at: instance.map(|instance| instance.started_at),
                    view,
                    wanted,
                    reloading,
                }
            })
            .collect();
        if snapshots != self.last_state {
            self.observer.state_changed(&snapshots);
            self.last_state = snapshots;
        }
        for ack in self.pending_acks.drain(..) {
            // The requester may have given up waiting; that is fine.
            let _ = ack.send(());
        }
    }

    fn leader_exited(
        &mut self,
        id: InstanceId,
        generation: u64,
        pid: i32,
        status: Exit,
    ) -> Option<u8> {
        self.system.leader_reaped(id, pid);
        let service = id.service;
        let instance = self
            .instances
            .get_mut(&id)
            .filter(|instance| instance.generation == generation)?;
        instance.leader_unreaped = false;
        let mut output_drained = instance.output_drained.take();
        let survivors = self.system.members(id).len();
        let code = self.feed(Input::LeaderExited {
            service,
            generation,
            status,
            survivors,
        });
        if survivors == 0 {
            if code.is_none() && output_drained.as_mut().is_none_or(OutputDrained::is_done) {
                // The usual case: the pipes hung up before the exit status came, so the output
                // is read to the end already; the tree's end is reported in this same turn (a
                // crashed service is restarted without another trip through the main loop).
                return self.feed(Input::TreeGone {
                    service,
                    generation,
                });
            }
            if code.is_none() {
                // The tree is gone; its end is reported once its last output has been read.
                let sender = self.sender.clone();
                tokio::task::spawn_local(async move {
                    if let Some(output_drained) = output_drained {
                        output_drained.wait().await;
                    }
                    let _ = sender.send(Message::Engine(Input::TreeGone {
                        service,
                        generation,
                    }));
                });
            }
        } else if let Some(instance) = self.instances.get(&id) {
            let watcher = TreeWatcher {
                instance: id,
                generation,
                output_drained,
                rescan: Rc::clone(&instance.rescan),
                signal_late_members: Rc::clone(&instance.signal_late_members),
                system: Rc::clone(&self.system),
                sender: self.sender.clone(),
            };
            tokio::task::spawn_local(watcher.run());
        }
        code
    }

    fn end_instance(&mut self, id: InstanceId) {
        let Some(instance) = self.instances.remove(&id) else {
            return;
        };
        for task in [instance.probe_task, instance.live_task]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        if let Some(holder) = &self.settings.holder {
            // Best effort: a duplicate the sentinel keeps too long only costs it a descriptor.
            let _ = holder.release(&output_tag(&self.spec, id, instance.generation));
        }
    }

    /// The instance is ready: its liveness probe (if it has one) starts.
    fn watch_liveness(&mut self, id: InstanceId) {
        let Some(probe) = self.spec.services[id.service].live.clone() else {
            return;
        };
        let Some(instance) = self.instances.get_mut(&id) else {
            return;
        };
        let context = probes::ProbeContext {
            instance: id,
            generation: instance.generation,
            sender: self.sender.clone(),
            observer: Rc::clone(&self.observer),
            system: Rc::clone(&self.system),
        };
        if let Some(previous) = instance
            .live_task
            .replace(tokio::task::spawn_local(liveness::watch(probe, context)))
        {
            previous.abort();
        }
    }

    /// The instance is being stopped: a probe failing now says nothing new.
    fn stop_liveness(&mut self, id: InstanceId) {
        if let Some(task) = self
            .instances
            .get_mut(&id)
            .and_then(|instance| instance.live_task.take())
        {
            task.abort();
        }
    }
}

/// What the sentinel holds an instance's output pipes (stdout, then stderr) under.
fn output_tag(spec: &ProjectSpec, id: InstanceId, generation: u64) -> String {
    format!(
        "out {} {} {generation}",
        spec.services[id.service].name, id.number
    )
}

/// How many CPUs wrangle may run on (its affinity and cgroup quota), for `instances = "max"`.
fn available_cpus() -> u32 {
    u32::try_from(crate::sys::sampler::cores()).unwrap_or(u32::MAX)
}
