//! The runtime: carries out the engine's decisions with real processes, pipes, probes and timers.
//!
//! # Theory of operation
//! Everything runs on one thread (a current-thread tokio runtime with a `LocalSet`): the engine,
//! the reaper, output readers, probes and timers. One thread means no locks around the engine, and
//! it is also what `PR_SET_PDEATHSIG` needs (the signal is tied to the thread that forked).
//!
//! All asynchronous work reports back as a [`Message`] on one channel; the main loop feeds each to
//! the engine and executes the returned effects. `Spawn` is executed synchronously and its
//! `Spawned` answer is fed back before any other message, so no other input can observe a spawned
//! process the engine does not know about yet.
//!
//! A service instance ends in two steps: its leader exits (the reaper reports the status), then
//! its whole tree is gone. Between the two, a watcher holds pidfds of the survivors and rescans
//! whenever they exit, so a service that daemonized itself stays supervised until its last process
//! ends.
//!
//! **Invariant:** nothing here waits for a child except through [`Reaper`]; nothing signals a pid
//! except through a pidfd or a process group whose leader is known to be unreaped.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::logs::{LogChunk, LogStore};
use crate::probe::{self, NotifySocket, ProbeSchedule};
use crate::spec::{
    CommandSpec, MonitorSpec, ProjectSpec, ReadyCheck, ReadyProbe, ServiceId, Signal,
};
use crate::supervisor::engine::{Effect, Engine, Input, Lifetime, ServiceAction, ServiceView};
use crate::supervisor::event::{Event, Exit, Stream};
use crate::supervisor::lines::LineSplitter;
use crate::supervisor::monitor::{Monitor, ResourceReport, Running, Verdict};
use crate::sys::cgroup::{RunCgroup, ServiceCgroup};
use crate::sys::ports;
use crate::sys::process_table::{self, ProcessInfo};
use crate::sys::reaper::{ExitStatus, Reaper};
use crate::sys::spawn::{JoinCgroup, Output, SpawnRequest, signal_group};
use crate::sys::tree::{self, Owners, Ownership, RUN_VAR, SERVICE_VAR};

/// Longest line kept whole; longer lines are passed on in pieces (a service printing megabytes
/// without a newline must not grow wrangle's memory).
pub const MAX_LINE: usize = 16 * 1024;
/// The size of the one read buffer all output readers share: a quarter of a grown pipe
/// ([`BUSY_PIPE_BYTES`]), so that a busy service is read in few, large reads. Its pages are only
/// touched (resident) as far as reads have ever filled them.
const READ_BUFFER: usize = 256 * 1024;
/// A pipe's capacity until it is grown: a read this large found the pipe full.
const DEFAULT_PIPE_BYTES: usize = 64 * 1024;
/// The pipe buffer of a service that fills its pipe (see `sys::spawn::grow_pipe`): the default
/// `/proc/sys/fs/pipe-max-size`. Pipe pages are only used while they hold unread output.
const BUSY_PIPE_BYTES: usize = 1024 * 1024;
/// A partial line is shown after this long without its newline (prompts, progress output).
const PARTIAL_LINE_DELAY: Duration = Duration::from_millis(100);
/// How long the end of an instance waits for its output readers to reach end-of-file.
const OUTPUT_DRAIN_LIMIT: Duration = Duration::from_millis(250);
/// How long a restart waits for the previous instance's ports to be released.
const PORT_WAIT: Duration = Duration::from_secs(5);
/// How long the final sweep keeps killing leftovers before giving up and reporting them.
const SWEEP_LIMIT: Duration = Duration::from_secs(5);
/// Tolerance for a tick that comes a little early.
const SAMPLE_SLACK: Duration = Duration::from_millis(50);

/// What a front-end receives while a project runs.
pub trait Observer {
    fn event(&self, event: &Event);
    fn output(&self, service: ServiceId, stream: Stream, line: &[u8], partial: bool);
    /// Whether [`Observer::output`] wants the lines of `service` at the moment (asked once per
    /// read, not per line): a front-end that only sometimes shows output says no otherwise, and
    /// saves the per-line work when a service prints a lot.
    fn wants_output(&self, service: ServiceId) -> bool {
        let _ = service;
        true
    }
    /// A readiness attempt failed (the probe keeps trying until its timeout); for progress display.
    fn probe_failed(&self, service: ServiceId, failure: &str);
    /// Something the user should know that is not a service event (a degraded mode, say).
    fn notice(&self, text: &str);
    /// A readiness attempt (HTTP, TCP or exec) finished after `latency`; for statistics.
    fn probe_attempt(&self, service: ServiceId, latency: Duration, passed: bool) {
        let _ = (service, latency, passed);
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
    /// The state of the services after a change (called once per turn of the main loop, only
    /// when something differs from the last call). Front-ends that show state (the daemon's
    /// API) keep it; the foreground reporter needs events only.
    fn state_changed(&self, services: &[ServiceSnapshot]) {
        let _ = services;
    }
}

/// One service as front-ends see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSnapshot {
    pub view: ServiceView,
    /// The leader of the current instance, while it lives.
    pub pid: Option<i32>,
    /// When the current instance was spawned.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop everything; a second one skips the grace period.
    Shutdown,
    /// Start, stop or restart one service.
    Service {
        service: ServiceId,
        action: ServiceAction,
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
        service: ServiceId,
        generation: u64,
        status: ExitStatus,
    },
    Control(ControlRequest),
    /// Time to check whether a resource sample is due.
    SampleTick,
}

/// State shared with the tasks of this run (single thread: `Rc`/`RefCell`).
struct Shared {
    /// Live (unreaped) leaders by pid.
    leaders: HashMap<i32, ServiceId>,
    /// wrangle's own helper processes (sentinel, exec probes): never attributed to a service.
    helpers: HashSet<i32>,
    /// The reaper, which knows the other helpers ([`Reaper::helpers`]: notification commands).
    reaper: Rc<Reaper>,
    /// Each service's cgroup, once created.
    cgroups: Vec<Option<ServiceCgroup>>,
}

struct Instance {
    generation: u64,
    pid: i32,
    /// The leader is not reaped yet, so its pid (and process group id) cannot be reused.
    leader_unreaped: bool,
    /// Wakes the watcher to rescan (e.g. after a new signal).
    rescan: Rc<Notify>,
    /// When set, the watcher sends this signal to members it finds later (SIGKILL escalation).
    signal_late_members: Rc<Cell<Option<Signal>>>,
    probe_task: Option<JoinHandle<()>>,
    started_at: SystemTime,
    /// Taken by whoever reports the end of the tree.
    output_drained: Option<OutputDrained>,
}

struct Runtime {
    spec: Arc<ProjectSpec>,
    engine: Engine,
    reaper: Rc<Reaper>,
    observer: Rc<dyn Observer>,
    options: RunOptions,
    service_names: Vec<String>,
    shared: Rc<RefCell<Shared>>,
    instances: Vec<Option<Instance>>,
    sender: mpsc::UnboundedSender<Message>,
    supervisor_pid: i32,
    /// The process-table scan of the current turn (see [`OwnersSnapshot::members`]); cleared
    /// whenever the main loop wakes up for new messages.
    scan_cache: RefCell<Option<Rc<Ownership>>>,
    /// Output readers still running: the last lines a service printed before it stopped must be
    /// shown before the closing summary.
    readers: Vec<JoinHandle<()>>,
    last_state: Vec<ServiceSnapshot>,
    read_buffer: Rc<RefCell<Vec<u8>>>,
    /// Acknowledgements to send once this turn's state is published.
    pending_acks: Vec<tokio::sync::oneshot::Sender<()>>,
    monitor: Monitor,
    /// When the last resource sample was taken.
    last_sample: Option<Instant>,
}

/// Runs `services` (all when empty) of `spec` until everything has stopped. Must be called inside
/// a `LocalSet` on a current-thread runtime, after the reaper was started.
pub async fn run(
    spec: Arc<ProjectSpec>,
    services: Vec<ServiceId>,
    reaper: Rc<Reaper>,
    observer: Rc<dyn Observer>,
    mut controls: mpsc::UnboundedReceiver<ControlRequest>,
    options: RunOptions,
) -> RunOutcome {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let spec_services = spec.services.len();
    let shared = Rc::new(RefCell::new(Shared {
        leaders: HashMap::new(),
        helpers: options.helper_pids.iter().copied().collect(),
        reaper: Rc::clone(&reaper),
        cgroups: (0..spec.services.len()).map(|_| None).collect(),
    }));
    let mut runtime = Runtime {
        engine: Engine::new(Arc::clone(&spec), options.lifetime, options.random_seed),
        service_names: spec
            .services
            .iter()
            .map(|service| service.name.clone())
            .collect(),
        instances: (0..spec.services.len()).map(|_| None).collect(),
        spec,
        reaper,
        observer,
        options,
        shared,
        sender: sender.clone(),
        supervisor_pid: rustix::process::getpid().as_raw_nonzero().get(),
        scan_cache: RefCell::new(None),
        readers: Vec::new(),
        last_state: Vec::new(),
        read_buffer: Rc::new(RefCell::new(vec![0; READ_BUFFER])),
        pending_acks: Vec::new(),
        monitor: Monitor::new(spec_services),
        last_sample: None,
    };
    if runtime.sample_interval().is_some() {
        // Sleeps one interval at a time, and wakes early when the front-end says the interval
        // may have shortened: an idle daemon nobody watches wakes only to sample.
        let sender = sender.clone();
        let observer = Rc::clone(&runtime.observer);
        let limits = runtime.has_limits();
        let wakeup = observer.sample_wakeup();
        tokio::task::spawn_local(async move {
            // The first sample at once, so figures exist as soon as services run.
            if sender.send(Message::SampleTick).is_err() {
                return;
            }
            loop {
                let Some(interval) = effective_interval(observer.sample_interval(), limits) else {
                    return;
                };
                match &wakeup {
                    Some(wakeup) => tokio::select! {
                        () = tokio::time::sleep(interval) => {}
                        () = wakeup.notified() => continue,
                    },
                    None => tokio::time::sleep(interval).await,
                }
                if sender.send(Message::SampleTick).is_err() {
                    return;
                }
            }
        });
    }
    // Controls arrive on their own channel so front-ends need not know the internal messages.
    tokio::task::spawn_local(async move {
        while let Some(control) = controls.recv().await {
            if sender.send(Message::Control(control)).is_err() {
                return;
            }
        }
    });

    let mut code = runtime.feed(Input::Start { services });
    runtime.publish_state();
    while code.is_none() {
        let Some(message) = receiver.recv().await else {
            break;
        };
        // A new turn: the process table may have changed since the last scan. Messages already
        // queued are handled in the same turn, so a burst (50 leaders exiting at once) shares one
        // scan. A scan a few microseconds old is safe: survivors it misses are found by the tree
        // watcher, which always rescans before declaring a tree gone.
        runtime.scan_cache.take();
        code = runtime.handle(message);
        while code.is_none() {
            match receiver.try_recv() {
                Ok(message) => code = runtime.handle(message),
                Err(_) => break,
            }
        }
        runtime.publish_state();
    }
    let code = code.unwrap_or(crate::supervisor::engine::code::SERVICE_FAILED);
    runtime.finish(code).await
}

impl Runtime {
    fn handle(&mut self, message: Message) -> Option<u8> {
        match message {
            Message::Engine(input) => self.feed(input),
            Message::LeaderExit {
                service,
                generation,
                status,
            } => self.leader_exited(service, generation, status),
            Message::Control(request) => {
                let code = match request.control {
                    Control::Shutdown => self.feed(Input::Shutdown { force: false }),
                    Control::Service { service, action } => {
                        self.feed(Input::Control { service, action })
                    }
                };
                self.pending_acks.extend(request.done);
                code
            }
            Message::SampleTick => self.sample_if_due(),
        }
    }

    /// The interval resources are sampled at now: what the front-end wants, and at least every
    /// [`MonitorSpec::LIMIT_INTERVAL`] when a service has a limit; `None`: no sampling.
    fn sample_interval(&self) -> Option<Duration> {
        effective_interval(self.observer.sample_interval(), self.has_limits())
    }

    fn has_limits(&self) -> bool {
        self.spec
            .services
            .iter()
            .any(|service| service.limits.any())
    }

    fn sample_if_due(&mut self) -> Option<u8> {
        let interval = self.sample_interval()?;
        let now = Instant::now();
        // A few milliseconds of slack keep a tick that comes slightly early from being skipped
        // (it would be a whole interval late).
        let due = self
            .last_sample
            .is_none_or(|last| now.saturating_duration_since(last) + SAMPLE_SLACK >= interval);
        if !due || self.engine.is_shutting_down() {
            return None;
        }
        self.last_sample = Some(now);
        let running: Vec<Running> = (0..self.spec.services.len())
            .filter_map(|service| {
                let instance = self.instances[service].as_ref()?;
                if !self.engine.view(service).alive {
                    return None;
                }
                let age = SystemTime::now()
                    .duration_since(instance.started_at)
                    .unwrap_or_default();
                let generation = instance.generation;
                let pids = self.shared.borrow().cgroups[service]
                    .as_ref()
                    .map(|cgroup| cgroup.pids());
                let pids = pids
                    .unwrap_or_else(|| self.members(service).iter().map(|info| info.pid).collect());
                Some(Running {
                    service,
                    generation,
                    spawned: now.checked_sub(age).unwrap_or(now),
                    pids,
                })
            })
            .collect();
        let mut own = vec![self.supervisor_pid];
        own.extend(&self.options.helper_pids);
        let (report, verdicts) = self.monitor.sample(&self.spec, interval, &running, &own);
        self.observer.resources(&report);
        let mut code = None;
        for verdict in verdicts {
            match verdict {
                Verdict::MemoryLimit {
                    service,
                    generation,
                    reason,
                } => {
                    code = code.or(self.feed(Input::MemoryLimitExceeded {
                        service,
                        generation,
                        reason,
                    }));
                }
                Verdict::Warning {
                    service,
                    resource,
                    active,
                    message,
                } => self.observer.event(&Event::ResourceWarning {
                    service,
                    resource,
                    active,
                    message,
                }),
            }
        }
        code
    }

    /// Feeds one input and executes effects until the engine has nothing more to do now.
    fn feed(&mut self, input: Input) -> Option<u8> {
        let mut queue: VecDeque<Effect> = self.engine.handle(Instant::now(), input).into();
        let mut exit = None;
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Spawn {
                    service,
                    generation,
                } => {
                    let answer = self.spawn(service, generation);
                    queue.extend(self.engine.handle(Instant::now(), answer));
                }
                Effect::AwaitPorts {
                    service,
                    generation,
                } => self.await_ports(service, generation),
                Effect::Signal { service, signal } => self.signal_service(service, signal),
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
                    if let Event::Stopped { service, .. } | Event::Exited { service, .. } = event {
                        self.end_instance(service);
                    }
                    self.observer.event(&event);
                }
                Effect::Exit { code } => exit = Some(code),
            }
        }
        exit
    }

    fn spawn(&mut self, service: ServiceId, generation: u64) -> Input {
        match self.try_spawn(service, generation) {
            Ok(pid) => Input::Spawned {
                service,
                generation,
                pid,
            },
            Err(error) => Input::SpawnFailed {
                service,
                generation,
                error: spawn_error_text(&self.spec, service, &error),
            },
        }
    }

    fn try_spawn(&mut self, service: ServiceId, generation: u64) -> io::Result<i32> {
        // A previous instance that ended without an Exited/Stopped event (readiness lost on a
        // restart) still has its probe task: it must not outlive its generation.
        self.end_instance(service);
        let spec = Arc::clone(&self.spec);
        let service_spec = &spec.services[service];
        let mut env = service_spec.env.clone();
        env.insert(RUN_VAR.to_string(), self.options.run_token.clone());
        env.insert(SERVICE_VAR.to_string(), service_spec.name.clone());
        let notify_socket = match service_spec.ready.as_ref().map(|probe| &probe.check) {
            Some(ReadyCheck::Notify) => {
                let path = self.options.socket_dir.join(format!("{service}.notify"));
                let socket = NotifySocket::bind(&path)?;
                env.insert(
                    "NOTIFY_SOCKET".to_string(),
                    path.to_string_lossy().into_owned(),
                );
                Some(socket)
            }
            _ => None,
        };
        let mut request = SpawnRequest {
            argv: service_spec.command.argv.clone(),
            cwd: service_spec.cwd.clone(),
            env,
            // wrangle's own systemd/socket-activation variables are not the service's.
            env_remove: inherited_variables_to_drop(),
            output: Output::Capture,
            death_signal: self.options.die_with_parent.then_some(Signal::TERM.0),
            cgroup: self.service_cgroup(service),
            stdin: None,
        };
        let spawned = match self.reaper.spawn(&mut request) {
            Err(error) if request.cgroup.is_some() && is_cgroup_refusal(&error) => {
                // The cgroup exists but the kernel refused the move (delegation rules): run
                // without cgroups rather than not at all.
                self.observer.notice(&format!(
                    "cannot move processes into cgroups ({error}); continuing with process groups only"
                ));
                self.options.cgroup = None;
                self.shared
                    .borrow_mut()
                    .cgroups
                    .iter_mut()
                    .for_each(|cgroup| *cgroup = None);
                request.cgroup = None;
                self.reaper.spawn(&mut request)
            }
            other => other,
        };
        let (child, exit) = spawned?;
        let pid = child.pid;
        self.shared.borrow_mut().leaders.insert(pid, service);

        let log_pattern = match service_spec.ready.as_ref().map(|probe| &probe.check) {
            Some(ReadyCheck::Log { pattern }) => Some(pattern.clone()),
            _ => None,
        };
        let log_matched = Rc::new(Cell::new(false));
        let (output_open, output_drained) = mpsc::channel(1);
        for (fd, stream) in [
            (child.stdout, Stream::Stdout),
            (child.stderr, Stream::Stderr),
        ] {
            if let Some(fd) = fd {
                let reader = OutputReader {
                    service,
                    generation,
                    stream,
                    observer: Rc::clone(&self.observer),
                    log_pattern: log_pattern.clone(),
                    log_matched: Rc::clone(&log_matched),
                    sender: self.sender.clone(),
                    _open: output_open.clone(),
                    log_store: self.options.log_store.clone(),
                    buffer: Rc::clone(&self.read_buffer),
                };
                self.readers.retain(|reader| !reader.is_finished());
                self.readers.push(tokio::task::spawn_local(reader.run(fd)));
            }
        }

        let sender = self.sender.clone();
        tokio::task::spawn_local(async move {
            // The sender side lives in the reaper until the status arrives.
            if let Ok(status) = exit.await {
                let _ = sender.send(Message::LeaderExit {
                    service,
                    generation,
                    status,
                });
            }
        });

        let probe_task = service_spec.ready.clone().map(|probe| {
            let context = ProbeContext {
                service,
                generation,
                cwd: service_spec.cwd.clone(),
                env: service_spec.env.clone(),
                sender: self.sender.clone(),
                observer: Rc::clone(&self.observer),
                reaper: Rc::clone(&self.reaper),
                shared: Rc::clone(&self.shared),
            };
            tokio::task::spawn_local(run_probe(probe, context, notify_socket))
        });
        // Drop the pidfd: the leader is our unreaped child, so signalling its group is race-free
        // until the reaper reports it, and members are held through fresh pidfds when needed.
        drop(child.pidfd);
        self.instances[service] = Some(Instance {
            generation,
            pid,
            leader_unreaped: true,
            rescan: Rc::new(Notify::new()),
            signal_late_members: Rc::new(Cell::new(None)),
            probe_task,
            started_at: SystemTime::now(),
            output_drained: Some(OutputDrained(output_drained)),
        });
        Ok(pid)
    }

    /// Tells the observer about the services' state, when it changed since the last time.
    fn publish_state(&mut self) {
        let snapshots: Vec<ServiceSnapshot> = (0..self.spec.services.len())
            .map(|service| {
                let view = self.engine.view(service);
                let instance = self.instances[service].as_ref().filter(|_| view.alive);
                ServiceSnapshot {
                    view,
                    pid: instance
                        .filter(|instance| instance.leader_unreaped)
                        .map(|instance| instance.pid),
                    started_at: instance.map(|instance| instance.started_at),
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

    /// The cgroup the child starts in, creating the service's cgroup on first use.
    fn service_cgroup(&mut self, service: ServiceId) -> Option<JoinCgroup> {
        let run_cgroup = self.options.cgroup.as_ref()?;
        let mut shared = self.shared.borrow_mut();
        if shared.cgroups[service].is_none() {
            match run_cgroup.service(&self.service_names[service]) {
                Ok(cgroup) => {
                    if let Some(max) = self.spec.services[service].limits.max_memory {
                        // The kernel's limit is a backstop above wrangle's: the graceful
                        // restart at `max_memory` comes first, the OOM killer only for a leak
                        // too fast for a check every second.
                        let backstop = max.saturating_add(max / 4);
                        if let Err(error) = cgroup.set_memory_max(backstop) {
                            let name = &self.service_names[service];
                            self.observer.notice(&format!(
                                "{name}: cannot set its kernel memory limit ({error}); max_memory is enforced by wrangle alone"
                            ));
                        }
                    }
                    shared.cgroups[service] = Some(cgroup);
                }
                Err(error) => {
                    let name = &self.service_names[service];
                    self.observer.notice(&format!(
                        "{name}: cannot create its cgroup ({error}); using its process group"
                    ));
                    return None;
                }
            }
        }
        shared.cgroups[service].as_ref().map(ServiceCgroup::join)
    }

    fn leader_exited(
        &mut self,
        service: ServiceId,
        generation: u64,
        status: ExitStatus,
    ) -> Option<u8> {
        self.shared
            .borrow_mut()
            .leaders
            .retain(|_, owner| *owner != service);
        let instance = self.instances[service]
            .as_mut()
            .filter(|instance| instance.generation == generation)?;
        instance.leader_unreaped = false;
        let mut output_drained = instance.output_drained.take();
        let status = match status {
            ExitStatus::Code(code) => Exit::Code(code),
            ExitStatus::Signal(signal) => Exit::Signal(signal),
        };
        let survivors = self.members(service).len();
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
        } else if let Some(instance) = &self.instances[service] {
            let watcher = TreeWatcher {
                service,
                generation,
                output_drained,
                rescan: Rc::clone(&instance.rescan),
                signal_late_members: Rc::clone(&instance.signal_late_members),
                owners: self.owners_snapshot(),
                shared: Rc::clone(&self.shared),
                sender: self.sender.clone(),
            };
            tokio::task::spawn_local(watcher.run());
        }
        code
    }

    fn end_instance(&mut self, service: ServiceId) {
        if let Some(task) = self.instances[service]
            .take()
            .and_then(|instance| instance.probe_task)
        {
            task.abort();
        }
    }

    /// Sends `signal` to every process of the service's tree.
    fn signal_service(&mut self, service: ServiceId, signal: Signal) {
        let Some(instance) = &self.instances[service] else {
            return;
        };
        let mut group_signalled = None;
        if instance.leader_unreaped {
            // Race-free: the leader is unreaped, so its pid and its group id stay ours. One
            // kill(-pgid) also reaches children forked while we are signalling.
            if signal_group(instance.pid, signal.0).is_ok() {
                group_signalled = Some(instance.pid);
            }
        }
        let others: Vec<_> = self
            .members_except(service, group_signalled)
            .into_iter()
            .filter(|info| Some(info.pgid) != group_signalled)
            .collect();
        tree::signal_all(&others, signal.0);
        if signal == Signal::KILL {
            // Atomic with respect to forks, and reaches processes that left the session and
            // cleared their environment.
            if let Some(cgroup) = &self.shared.borrow().cgroups[service] {
                let _ = cgroup.kill();
            }
        }
        instance.signal_late_members.set(Some(signal));
        instance.rescan.notify_one();
    }

    fn await_ports(&self, service: ServiceId, generation: u64) {
        let declared = self.spec.services[service].ports.clone();
        let sender = self.sender.clone();
        tokio::task::spawn_local(async move {
            let deadline = Instant::now() + PORT_WAIT;
            let mut delay = Duration::from_millis(5);
            loop {
                let busy: Vec<u16> = declared
                    .iter()
                    .copied()
                    .filter(|port| !ports::can_bind(*port))
                    .collect();
                if busy.is_empty() {
                    let _ = sender.send(Message::Engine(Input::PortsFree {
                        service,
                        generation,
                    }));
                    return;
                }
                if Instant::now() >= deadline {
                    let reason = busy
                        .iter()
                        .map(|port| describe_port_holders(*port))
                        .collect::<Vec<_>>()
                        .join("; ");
                    let _ = sender.send(Message::Engine(Input::RestartBlocked {
                        service,
                        generation,
                        reason,
                    }));
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(200));
            }
        });
    }

    fn owners_snapshot(&self) -> OwnersSnapshot {
        OwnersSnapshot {
            supervisor_pid: self.supervisor_pid,
            run_token: self.options.run_token.clone(),
            service_names: self.service_names.clone(),
        }
    }

    /// [`Runtime::members`] without `leader`, which is not even looked up in `/proc` when the
    /// service's cgroup lists the members (a stop of 50 one-process services then reads no
    /// process at all). For callers that reached `leader` otherwise (its process group).
    fn members_except(&self, service: ServiceId, leader: Option<i32>) -> Vec<ProcessInfo> {
        let Some(leader) = leader else {
            return self.members(service);
        };
        let shared = self.shared.borrow();
        match &shared.cgroups[service] {
            Some(cgroup) => cgroup
                .pids()
                .into_iter()
                .filter(|pid| *pid != leader)
                .filter_map(process_table::process)
                .filter(|info| info.state != 'Z')
                .collect(),
            None => {
                drop(shared);
                self.members(service)
                    .into_iter()
                    .filter(|info| info.pid != leader)
                    .collect()
            }
        }
    }

    /// The live processes of one service (see [`OwnersSnapshot::members`]).
    fn members(&self, service: ServiceId) -> Vec<ProcessInfo> {
        self.owners_snapshot()
            .members(&self.shared.borrow(), service, &self.scan_cache)
    }

    /// After the engine has stopped everything: make sure nothing of ours is left (killing any
    /// stray the stops did not reach), and that every declared port is free again.
    async fn finish(mut self, code: u8) -> RunOutcome {
        let deadline = Instant::now() + SWEEP_LIMIT;
        let mut swept = 0;
        let leftovers = loop {
            let ownership = self.owners_snapshot().scan_all(&self.shared.borrow());
            let all: Vec<_> = ownership
                .by_service
                .into_values()
                .flatten()
                .chain(ownership.strays)
                .collect();
            if all.is_empty() || Instant::now() >= deadline {
                break all;
            }
            swept += tree::signal_all(&all, Signal::KILL.0);
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.reaper.reap_ready();
        };
        // Every process is gone, so every pipe is at end-of-file; let the readers print what was
        // still buffered (bounded, in case a pipe was passed to a process outside wrangle's view).
        let readers = std::mem::take(&mut self.readers);
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            for reader in readers {
                let _ = reader.await;
            }
        })
        .await;
        let leftovers = leftovers
            .iter()
            .map(|info| {
                (
                    info.pid,
                    crate::sys::process_table::cmdline(info.pid)
                        .unwrap_or_else(|| info.comm.clone()),
                )
            })
            .collect();

        let ports_checked: Vec<u16> = {
            let mut all: Vec<u16> = self
                .spec
                .services
                .iter()
                .flat_map(|service| service.ports.iter().copied())
                .collect();
            all.sort_unstable();
            all.dedup();
            all
        };
        let port_deadline = Instant::now() + Duration::from_secs(2);
        let ports_in_use = loop {
            let busy: Vec<u16> = ports_checked
                .iter()
                .copied()
                .filter(|port| !ports::can_bind(*port))
                .collect();
            if busy.is_empty() || Instant::now() >= port_deadline {
                break busy
                    .into_iter()
                    .map(|port| (port, describe_port_holders(port)))
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        RunOutcome {
            code,
            leftovers,
            swept,
            ports_in_use,
            ports_checked,
        }
    }
}

/// The parts of [`Owners`] that tasks can carry around.
#[derive(Clone)]
struct OwnersSnapshot {
    supervisor_pid: i32,
    run_token: String,
    service_names: Vec<String>,
}

impl OwnersSnapshot {
    /// Every live process below wrangle, attributed. A full /proc scan: used for the final sweep
    /// and, without cgroups, for per-service queries (through the turn cache).
    fn scan_all(&self, shared: &Shared) -> Ownership {
        let ignore: Vec<i32> = shared
            .helpers
            .iter()
            .copied()
            .chain(shared.reaper.helpers())
            .collect();
        let mut ownership = tree::scan_ownership(&Owners {
            supervisor_pid: self.supervisor_pid,
            run_token: &self.run_token,
            service_names: &self.service_names,
            leaders: &shared.leaders,
            ignore: &ignore,
        });
        // A cgroup's member list is exact: it settles every process the tree walk could not
        // attribute (an orphan that cleared its environment and left its session).
        for (service, cgroup) in shared.cgroups.iter().enumerate() {
            let Some(cgroup) = cgroup else { continue };
            let members = cgroup.pids();
            let (claimed, strays): (Vec<_>, Vec<_>) = ownership
                .strays
                .drain(..)
                .partition(|info| members.contains(&info.pid));
            ownership.strays = strays;
            ownership
                .by_service
                .entry(service)
                .or_default()
                .extend(claimed);
        }
        ownership
    }

    /// The live processes of one service: exact and cheap from its cgroup when it has one, else
    /// from a full scan, shared through `cache` by every query of the same turn (a stop of 50
    /// services then costs one scan, not 50).
    fn members(
        &self,
        shared: &Shared,
        service: ServiceId,
        cache: &RefCell<Option<Rc<Ownership>>>,
    ) -> Vec<ProcessInfo> {
        if let Some(cgroup) = &shared.cgroups[service] {
            return cgroup
                .pids()
                .into_iter()
                .filter_map(process_table::process)
                .filter(|info| info.state != 'Z')
                .collect();
        }
        let mut cache = cache.borrow_mut();
        let ownership = cache.get_or_insert_with(|| Rc::new(self.scan_all(shared)));
        ownership.of(service).to_vec()
    }
}

/// Follows a tree whose leader exited until its last process is gone.
struct TreeWatcher {
    service: ServiceId,
    generation: u64,
    output_drained: Option<OutputDrained>,
    rescan: Rc<Notify>,
    signal_late_members: Rc<Cell<Option<Signal>>>,
    owners: OwnersSnapshot,
    shared: Rc<RefCell<Shared>>,
    sender: mpsc::UnboundedSender<Message>,
}

impl TreeWatcher {
    async fn run(mut self) {
        loop {
            let members =
                self.owners
                    .members(&self.shared.borrow(), self.service, &RefCell::new(None));
            if members.is_empty() {
                if let Some(output_drained) = self.output_drained.take() {
                    output_drained.wait().await;
                }
                let message = Input::TreeGone {
                    service: self.service,
                    generation: self.generation,
                };
                let _ = self.sender.send(Message::Engine(message));
                return;
            }
            if let Some(signal) = self.signal_late_members.get() {
                tree::signal_all(&members, signal.0);
            }
            let held: Vec<_> = members.iter().filter_map(tree::hold).collect();
            let all_exited = async {
                for process in held {
                    // An error here means the pidfd cannot be polled; rescanning is the fallback.
                    let _ = tree::exited(process.pidfd).await;
                }
            };
            tokio::select! {
                () = all_exited => {}
                () = self.rescan.notified() => {}
            }
        }
    }
}

/// Reads one output pipe of a service until end-of-file (which may be long after the leader
/// exited, when a daemonized child keeps the pipe).
struct OutputReader {
    service: ServiceId,
    generation: u64,
    stream: Stream,
    observer: Rc<dyn Observer>,
    log_pattern: Option<regex::Regex>,
    log_matched: Rc<Cell<bool>>,
    sender: mpsc::UnboundedSender<Message>,
    /// Dropped when the reader ends: the instance's end waits for every reader's (see
    /// [`OutputDrained`]).
    _open: mpsc::Sender<()>,
    log_store: Option<Arc<LogStore>>,
    /// The read buffer, shared by every reader of the run: reads never overlap on this thread,
    /// and one 64 KiB buffer instead of one per pipe keeps the daemon small with many services.
    buffer: Rc<RefCell<Vec<u8>>>,
}

/// Lets the end of an instance wait until its output has been read to the end, so a service's
/// last lines come before "exited", and a start-up failure report can show them.
struct OutputDrained(mpsc::Receiver<()>);

impl OutputDrained {
    /// Whether every reader has already reached end-of-file.
    fn is_done(&mut self) -> bool {
        matches!(
            self.0.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        )
    }

    /// Once every process is gone every pipe is at end-of-file, so this is quick; it is bounded
    /// anyway, in case a pipe was passed to a process outside the service.
    async fn wait(mut self) {
        let _ = tokio::time::timeout(OUTPUT_DRAIN_LIMIT, self.0.recv()).await;
    }
}

impl OutputReader {
    async fn run(self, fd: OwnedFd) {
        let Ok(pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
            return;
        };
        let mut splitter = LineSplitter::new(MAX_LINE);
        // Lines framed but not yet handed to the log store (which may make us wait).
        let mut unstored = LogChunk::default();
        // Output the log store had no room for at once: a copy of the read, so that waiting for
        // room does not hold the shared buffer (only while the writer lags behind).
        let mut unqueued = Vec::new();
        let mut grown = false;
        loop {
            let readable = if splitter.has_pending() {
                match tokio::time::timeout(PARTIAL_LINE_DELAY, pipe.readable()).await {
                    Ok(readable) => readable,
                    Err(_) => {
                        let per_line = self.wants_lines();
                        splitter.flush(|line, partial| {
                            self.line(line, partial, per_line, &mut unstored)
                        });
                        self.store(&mut unqueued, &mut unstored).await;
                        continue;
                    }
                }
            } else {
                pipe.readable().await
            };
            if readable.is_err() {
                break;
            }
            // The read itself is synchronous, so every reader can use the one shared buffer.
            let read = pipe.try_read(&mut self.buffer.borrow_mut());
            match read {
                Ok(0) => break,
                Ok(n) => {
                    if n >= DEFAULT_PIPE_BYTES && !grown {
                        // A full read: this service writes a lot. A bigger pipe lets it go on
                        // writing while we read, instead of waiting for every read.
                        crate::sys::spawn::grow_pipe(&pipe, BUSY_PIPE_BYTES);
                        grown = true;
                    }
                    if self.log_store.is_some() {
                        unstored.reserve(n);
                    }
                    let per_line = self.wants_lines();
                    let buffer = self.buffer.borrow();
                    let output = &buffer[..n];
                    match self.log_store.is_some() && !per_line {
                        // Lines only for the store's tail: framed without a copy each.
                        true => frame_into(&mut splitter, output, &mut unstored),
                        false => splitter.push(output, |line, partial| {
                            self.line(line, partial, per_line, &mut unstored)
                        }),
                    }
                    // Output the chunk holds goes to the file from there; otherwise it is copied.
                    if let Some(store) = &self.log_store
                        && !unstored.has_output()
                    {
                        let time = SystemTime::now();
                        if !store.try_append_output(self.service, self.stream, time, output) {
                            unqueued.extend_from_slice(output);
                        }
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => break,
            }
            self.store(&mut unqueued, &mut unstored).await;
        }
        let per_line = self.wants_lines();
        splitter.flush(|line, partial| self.line(line, partial, per_line, &mut unstored));
        self.store(&mut unqueued, &mut unstored).await;
    }

    /// Hands the lines read so far to the log store's tail, and the output it had no room for
    /// to its file, waiting for room: the store's queue is bounded, so the pipe is then not
    /// read, and a service writing faster than the disk slows down to disk speed instead of
    /// growing wrangle's memory.
    async fn store(&self, unqueued: &mut Vec<u8>, unstored: &mut LogChunk) {
        let Some(store) = &self.log_store else {
            return;
        };
        if unstored.is_empty() && !unstored.has_output() && unqueued.is_empty() {
            return;
        }
        let time = SystemTime::now();
        store
            .append_chunk(self.service, self.stream, time, unqueued, unstored)
            .await;
        unqueued.clear();
    }

    /// Whether lines must be looked at one by one now: shown, or matched by the log probe.
    fn wants_lines(&self) -> bool {
        let probing = self.log_pattern.is_some() && !self.log_matched.get();
        probing || self.observer.wants_output(self.service)
    }

    fn line(&self, line: &[u8], partial: bool, per_line: bool, unstored: &mut LogChunk) {
        if self.log_store.is_some() {
            unstored.push(line, partial);
        }
        if !per_line {
            return;
        }
        self.observer
            .output(self.service, self.stream, line, partial);
        let matched = match &self.log_pattern {
            Some(pattern) if !self.log_matched.get() => {
                pattern.is_match(&String::from_utf8_lossy(line))
            }
            _ => false,
        };
        if matched {
            self.log_matched.set(true);
            let message = Input::ProbePassed {
                service: self.service,
                generation: self.generation,
            };
            let _ = self.sender.send(Message::Engine(message));
        }
    }
}

/// Frames `output` into lines of `chunk` as [`LineSplitter::push`] does: when it is valid UTF-8
/// (the usual case), with one copy of the whole read, marked as the output for the file, and
/// each line a span of it, not a copy.
fn frame_into(splitter: &mut LineSplitter, output: &[u8], chunk: &mut LogChunk) {
    let Ok(text) = std::str::from_utf8(output) else {
        splitter.push(output, |line, partial| chunk.push(line, partial));
        return;
    };
    let base = chunk.push_text(text);
    chunk.mark_output(base);
    let origin = output.as_ptr() as usize;
    splitter.push(output, |line, partial| {
        // Most lines are slices of `output`; pieces joined in the splitter's own buffer are not.
        let at = (line.as_ptr() as usize).wrapping_sub(origin);
        let inside = at <= output.len() && line.len() <= output.len() - at;
        if !(inside && chunk.push_span(base + at, base + at + line.len(), partial)) {
            chunk.push(line, partial);
        }
    });
}

struct ProbeContext {
    service: ServiceId,
    generation: u64,
    cwd: PathBuf,
    env: BTreeMap<String, String>,
    sender: mpsc::UnboundedSender<Message>,
    observer: Rc<dyn Observer>,
    reaper: Rc<Reaper>,
    shared: Rc<RefCell<Shared>>,
}

/// Runs a readiness probe until it passes or its timeout (counted from spawn) is over.
async fn run_probe(probe: ReadyProbe, context: ProbeContext, notify_socket: Option<NotifySocket>) {
    let deadline = tokio::time::Instant::now() + probe.timeout;
    let service = context.service;
    let generation = context.generation;
    let passed = match &probe.check {
        // Log probes pass from the output reader; notify probes from the socket.
        ReadyCheck::Log { .. } => {
            tokio::time::sleep_until(deadline).await;
            Err(Some("no output line matched".to_string()))
        }
        ReadyCheck::Notify => match &notify_socket {
            Some(socket) => wait_for_notify_ready(socket, deadline).await,
            None => Err(Some("no notify socket".to_string())),
        },
        check => poll_check(check, &probe, &context, deadline).await,
    };
    let message = match passed {
        Ok(()) => Input::ProbePassed {
            service,
            generation,
        },
        Err(last_failure) => Input::ProbeTimedOut {
            service,
            generation,
            last_failure,
        },
    };
    let ready = matches!(message, Input::ProbePassed { .. });
    let _ = context.sender.send(Message::Engine(message));
    if let (true, Some(period)) = (ready, probe.recheck) {
        // Ends with the instance: the task is aborted when the instance ends.
        recheck(&probe, &context, period).await;
    }
    // Keep the notify socket open while the instance lives: services may keep sending STATUS=
    // or WATCHDOG=1, and a vanished socket would make their sd_notify calls fail.
    if let Some(socket) = notify_socket {
        while socket.recv().await.is_ok() {}
    }
}

/// After readiness: probes every `period` and reports readiness lost after
/// [`ReadyProbe::LOST_AFTER`] failures in a row, and back on the next pass.
async fn recheck(probe: &ReadyProbe, context: &ProbeContext, period: Duration) {
    let mut failures = 0;
    let mut lost = false;
    loop {
        tokio::time::sleep(period).await;
        let started = Instant::now();
        let attempt_timeout = period.clamp(Duration::from_millis(100), Duration::from_secs(10));
        let result = match &probe.check {
            ReadyCheck::Http { url } => probe::http_attempt(url, attempt_timeout).await,
            ReadyCheck::Tcp { host, port } => {
                probe::tcp_attempt(host, *port, attempt_timeout).await
            }
            ReadyCheck::Exec { command } => exec_attempt(command, context, attempt_timeout).await,
            // Refused by the config: these cannot be repeated.
            ReadyCheck::Log { .. } | ReadyCheck::Notify => return,
        };
        context
            .observer
            .probe_attempt(context.service, started.elapsed(), result.is_ok());
        match result {
            Ok(()) => {
                failures = 0;
                if std::mem::take(&mut lost) {
                    context.observer.event(&Event::ReadinessRestored {
                        service: context.service,
                    });
                }
            }
            Err(failure) => {
                failures += 1;
                if failures >= ReadyProbe::LOST_AFTER && !lost {
                    lost = true;
                    context.observer.event(&Event::ReadinessLost {
                        service: context.service,
                        failure: format!(
                            "{} checks in a row failed (last: {})",
                            failures, failure.0
                        ),
                    });
                }
            }
        }
    }
}

/// The interval resources are sampled at: what the front-end wants, and at least every
/// [`MonitorSpec::LIMIT_INTERVAL`] when a service has a limit; `None`: no sampling at all.
fn effective_interval(wanted: Option<Duration>, limits: bool) -> Option<Duration> {
    match (wanted, limits) {
        (Some(wanted), true) => Some(wanted.min(MonitorSpec::LIMIT_INTERVAL)),
        (None, true) => Some(MonitorSpec::LIMIT_INTERVAL),
        (wanted, false) => wanted,
    }
}

async fn wait_for_notify_ready(
    socket: &NotifySocket,
    deadline: tokio::time::Instant,
) -> Result<(), Option<String>> {
    loop {
        match tokio::time::timeout_at(deadline, socket.recv()).await {
            Ok(Ok(message)) if message.ready => return Ok(()),
            Ok(Ok(_)) => continue,
            Ok(Err(error)) => return Err(Some(format!("notify socket: {error}"))),
            Err(_) => return Err(Some("READY=1 was not received".to_string())),
        }
    }
}

async fn poll_check(
    check: &ReadyCheck,
    probe: &ReadyProbe,
    context: &ProbeContext,
    deadline: tokio::time::Instant,
) -> Result<(), Option<String>> {
    let mut schedule = ProbeSchedule::new(probe.interval);
    let mut last_failure = None;
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(last_failure);
        }
        // One attempt may take up to an interval (at least a second), never past the deadline.
        let attempt_timeout = probe
            .interval
            .max(Duration::from_secs(1))
            .min(deadline - now);
        let attempt_started = Instant::now();
        let result = match check {
            ReadyCheck::Http { url } => probe::http_attempt(url, attempt_timeout).await,
            ReadyCheck::Tcp { host, port } => {
                probe::tcp_attempt(host, *port, attempt_timeout).await
            }
            ReadyCheck::Exec { command } => exec_attempt(command, context, attempt_timeout).await,
            ReadyCheck::Log { .. } | ReadyCheck::Notify => return Err(None),
        };
        context
            .observer
            .probe_attempt(context.service, attempt_started.elapsed(), result.is_ok());
        match result {
            Ok(()) => return Ok(()),
            Err(failure) => {
                context.observer.probe_failed(context.service, &failure.0);
                last_failure = Some(failure.0);
            }
        }
        let wake = (tokio::time::Instant::now() + schedule.next_delay()).min(deadline);
        tokio::time::sleep_until(wake).await;
    }
}

/// Runs an exec probe command through the reaper (never `tokio::process`: one reaper owns all
/// children). Ready on exit 0. A probe that overruns its attempt timeout is killed with its group.
async fn exec_attempt(
    command: &CommandSpec,
    context: &ProbeContext,
    attempt_timeout: Duration,
) -> Result<(), probe::ProbeFailure> {
    let mut request = SpawnRequest {
        argv: command.argv.clone(),
        cwd: context.cwd.clone(),
        env: context.env.clone(),
        // Without the run marker the probe is never mistaken for a member of the service.
        env_remove: [RUN_VAR.to_string(), SERVICE_VAR.to_string()]
            .into_iter()
            .chain(inherited_variables_to_drop())
            .collect(),
        output: Output::Discard,
        // A probe is wrangle's own helper: it dies with wrangle, at once.
        death_signal: Some(Signal::KILL.0),
        cgroup: None,
        stdin: None,
    };
    let (child, exit) = context.reaper.spawn(&mut request).map_err(|error| {
        probe::ProbeFailure(format!("cannot run {}: {error}", command.display()))
    })?;
    let pid = child.pid;
    context.shared.borrow_mut().helpers.insert(pid);
    let outcome = tokio::time::timeout(attempt_timeout, exit).await;
    let result = match outcome {
        Ok(Ok(ExitStatus::Code(0))) => Ok(()),
        Ok(Ok(ExitStatus::Code(code))) => {
            Err(probe::ProbeFailure(format!("exited with code {code}")))
        }
        Ok(Ok(ExitStatus::Signal(signal))) => Err(probe::ProbeFailure(format!(
            "killed by {}",
            Signal(signal).name()
        ))),
        Ok(Err(_)) => Err(probe::ProbeFailure("exit status lost".to_string())),
        Err(_) => {
            // Still unreaped: the group id is ours to signal.
            let _ = signal_group(pid, Signal::KILL.0);
            Err(probe::ProbeFailure(format!(
                "timed out after {}",
                crate::supervisor::engine::humanize(attempt_timeout)
            )))
        }
    };
    context.shared.borrow_mut().helpers.remove(&pid);
    result
}

/// The kernel refusing a move into a cgroup shows up as one of these from the child's setup.
fn is_cgroup_refusal(error: &io::Error) -> bool {
    // ENODEV: the cgroup was removed under us (by an administrator, or an older wrangle in
    // another pid namespace); process groups still work.
    matches!(error.raw_os_error(), Some(code) if code == rustix::io::Errno::ACCESS.raw_os_error()
        || code == rustix::io::Errno::NODEV.raw_os_error()
        || code == rustix::io::Errno::PERM.raw_os_error()
        || code == rustix::io::Errno::BUSY.raw_os_error()
        || code == rustix::io::Errno::NOTSUP.raw_os_error()
        || code == rustix::io::Errno::OPNOTSUPP.raw_os_error())
}

/// Variables of wrangle's own environment that describe wrangle, not a child: never passed on.
pub(crate) fn inherited_variables_to_drop() -> Vec<String> {
    [
        "NOTIFY_SOCKET",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

fn spawn_error_text(spec: &ProjectSpec, service: ServiceId, error: &io::Error) -> String {
    let service_spec = &spec.services[service];
    let program = service_spec
        .command
        .argv
        .first()
        .cloned()
        .unwrap_or_default();
    match error.kind() {
        io::ErrorKind::NotFound if !service_spec.cwd.is_dir() => {
            format!(
                "working directory {} does not exist",
                service_spec.cwd.display()
            )
        }
        io::ErrorKind::NotFound => format!("command not found: {program}"),
        io::ErrorKind::PermissionDenied => format!("permission denied: {program}"),
        _ => format!("{program}: {error}"),
    }
}

/// "port 8080 is held by PID 4242 (user alice): python3 -m http.server 8080".
pub fn describe_port_holders(port: u16) -> String {
    let holders = ports::listeners(port);
    if holders.is_empty() {
        return format!("port {port} is in use");
    }
    let described: Vec<String> = holders
        .iter()
        .map(|holder| match (holder.pid, &holder.command) {
            (Some(pid), Some(command)) => format!("PID {pid} (user {}): {command}", holder.user),
            (Some(pid), None) => format!("PID {pid} (user {})", holder.user),
            (None, _) => format!("a process of user {} (uid {})", holder.user, holder.uid),
        })
        .collect();
    format!("port {port} is held by {}", described.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_a_read_for_the_store_gives_the_lines_push_emits() {
        let long = "é".repeat(MAX_LINE);
        let reads: Vec<Vec<u8>> = vec![
            b"one\ntwo\r\nthr".to_vec(),
            b"ee\nfour\n".to_vec(),
            format!("{long}\nafter\n").into_bytes(),
            b"bad \xff utf-8\nok\n".to_vec(),
            b"a\nb\nunfinished".to_vec(),
            b" end\n".to_vec(),
        ];
        let mut pushing = LineSplitter::new(MAX_LINE);
        let mut framing = LineSplitter::new(MAX_LINE);
        for read in &reads {
            let mut pushed = Vec::new();
            pushing.push(read, |line, partial| {
                pushed.push((String::from_utf8_lossy(line).into_owned(), partial));
            });
            let mut chunk = LogChunk::default();
            frame_into(&mut framing, read, &mut chunk);
            let framed: Vec<(String, bool)> = chunk
                .lines()
                .map(|(text, partial)| (text.to_string(), partial))
                .collect();
            assert_eq!(framed, pushed);
            // A valid UTF-8 read is the chunk's output as it is; another is left to the caller.
            assert_eq!(chunk.has_output(), std::str::from_utf8(read).is_ok());
        }
    }
}
