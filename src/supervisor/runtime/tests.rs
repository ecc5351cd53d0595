//! The executor's rules, run against the recording [`System`] (`tests/recording.rs`) on a paused
//! clock: no process is started, and waits of seconds (stop timeouts, the sweep, the port wait)
//! pass at once, in a fixed order.

mod recording;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustix::io::Errno;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::output::OUTPUT_DRAIN_LIMIT;
use super::*;
use crate::spec::{CommandSpec, ReadyCheck, ReadyProbe, RestartPolicy, ServiceSpec};
use crate::sys::reaper::ExitStatus;
use crate::test_support::{project_spec as project, service_spec as service};
use recording::{Call, Recording};

/// How long (paused time) a test waits for something the executor should do.
const WAIT_LIMIT: Duration = Duration::from_secs(600);

fn restarting(mut spec: ServiceSpec) -> ServiceSpec {
    spec.restart.policy = RestartPolicy::Always;
    spec
}

/// What the front-end was told, in order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Event(Event),
    Output(ServiceId, String),
    Notice(String),
}

/// A front-end that remembers everything.
#[derive(Default)]
struct Front {
    seen: RefCell<Vec<Seen>>,
    changed: Notify,
}

impl Observer for Front {
    fn event(&self, event: &Event) {
        self.push(Seen::Event(event.clone()));
    }

    fn output(&self, instance: InstanceId, _stream: Stream, line: &[u8], _partial: bool) {
        let line = String::from_utf8_lossy(line).into_owned();
        self.push(Seen::Output(instance.service, line));
    }

    fn probe_failed(&self, _instance: InstanceId, _failure: &str) {}

    fn notice(&self, text: &str) {
        self.push(Seen::Notice(text.to_string()));
    }
}

impl Front {
    fn push(&self, seen: Seen) {
        self.seen.borrow_mut().push(seen);
        self.changed.notify_waiters();
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.borrow().clone()
    }

    /// Where the first thing matching `what` was seen.
    fn position(&self, what: impl Fn(&Seen) -> bool) -> Option<usize> {
        self.seen.borrow().iter().position(what)
    }

    fn count(&self, what: impl Fn(&Seen) -> bool) -> usize {
        self.seen.borrow().iter().filter(|seen| what(seen)).count()
    }

    /// Waits until something matching `what` has been seen; returns where.
    async fn until(&self, what: impl Fn(&Seen) -> bool) -> usize {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if let Some(at) = self.position(&what) {
                    return at;
                }
                changed.await;
            }
        };
        match tokio::time::timeout(WAIT_LIMIT, wait).await {
            Ok(at) => at,
            Err(_) => panic!("never seen; seen: {:#?}", self.seen()),
        }
    }
}

fn output(service: ServiceId, text: &str) -> impl Fn(&Seen) -> bool {
    let text = text.to_string();
    move |seen| *seen == Seen::Output(service, text.clone())
}

fn exited(service: ServiceId) -> impl Fn(&Seen) -> bool {
    move |seen| matches!(seen, Seen::Event(Event::Exited { instance, .. }) if instance.service == service)
}

fn ready(service: ServiceId) -> impl Fn(&Seen) -> bool {
    move |seen| matches!(seen, Seen::Event(Event::Ready { instance, .. }) if instance.service == service)
}

fn settings(socket_dir: &tempfile::TempDir, lifetime: Lifetime) -> Settings {
    Settings {
        socket_dir: socket_dir.path().to_path_buf(),
        random_seed: 7,
        lifetime,
        log_store: None,
        holder: None,
    }
}

/// An executor running against `system`, with the handles a test drives it by.
struct Run {
    front: Rc<Front>,
    controls: mpsc::UnboundedSender<ControlRequest>,
    outcome: JoinHandle<RunOutcome>,
    _socket_dir: tempfile::TempDir,
}

impl Run {
    fn start(system: &Rc<Recording>, spec: Arc<ProjectSpec>, lifetime: Lifetime) -> Run {
        let socket_dir = tempfile::tempdir().expect("a temporary directory");
        let front = Rc::new(Front::default());
        let observer: Rc<dyn Observer> = front.clone();
        let (runtime, messages) = Runtime::new(
            Rc::clone(system),
            spec,
            observer,
            settings(&socket_dir, lifetime),
        );
        let (controls, receiver) = mpsc::unbounded_channel();
        let outcome =
            tokio::task::spawn_local(runtime.execute(Vec::new(), receiver, messages, Vec::new()));
        Run {
            front,
            controls,
            outcome,
            _socket_dir: socket_dir,
        }
    }

    fn shut_down(&self) {
        self.controls
            .send(ControlRequest::new(Control::Shutdown))
            .expect("the run takes controls");
    }

    async fn outcome(self) -> RunOutcome {
        match tokio::time::timeout(WAIT_LIMIT, self.outcome).await {
            Ok(outcome) => outcome.expect("the run ends without panicking"),
            Err(_) => panic!("the run never ended; seen: {:#?}", self.front.seen()),
        }
    }
}

/// Runs a test's body on this thread's `LocalSet`, as wrangle runs the executor.
async fn local<F: Future>(body: F) -> F::Output {
    tokio::task::LocalSet::new().run_until(body).await
}

#[tokio::test(start_paused = true)]
async fn a_spawn_is_answered_before_any_other_input_is_handled() {
    local(async {
        let system = Recording::new();
        let front = Rc::new(Front::default());
        let socket_dir = tempfile::tempdir().expect("a temporary directory");
        let observer: Rc<dyn Observer> = front.clone();
        let (mut runtime, _messages) = Runtime::new(
            Rc::clone(&system),
            project(vec![service("web")]),
            observer,
            settings(&socket_dir, Lifetime::UntilShutdown),
        );
        runtime.feed(Input::Start {
            services: Vec::new(),
        });
        // No message has been handled yet, and the engine already knows the process.
        let pid = match system.calls()[..] {
            [
                Call::Spawn {
                    service: 0,
                    generation: 1,
                    pid,
                },
            ] => pid,
            ref calls => panic!("one spawn expected, got {calls:?}"),
        };
        let view = runtime.engine.view(0);
        assert!(view.alive);
        assert_eq!(view.generation, 1);
        assert_eq!(
            front.seen().first(),
            Some(&Seen::Event(Event::Started {
                instance: InstanceId::new(0, 0),
                pid,
                restart: 0
            }))
        );
        // So the next input (a stop, here) reaches it: its group is signalled while unreaped.
        runtime.feed(Input::Shutdown { force: false });
        assert_eq!(
            system.calls().last(),
            Some(&Call::SignalTree {
                service: 0,
                unreaped_leader: Some(pid),
                signal: Signal::TERM,
            })
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_one_shot_is_started_shows_its_output_exits_and_leaves_nothing_to_sweep() {
    local(async {
        let system = Recording::new();
        let run = Run::start(&system, project(vec![service("job")]), Lifetime::UntilIdle);
        let job = system.spawned(0).await;
        job.print(Stream::Stdout, "done\n");
        job.close_output();
        job.exit(ExitStatus::Code(0));
        let front = Rc::clone(&run.front);
        let outcome = run.outcome().await;

        assert_eq!(outcome.code, 0);
        let started = front.position(|seen| matches!(seen, Seen::Event(Event::Started { .. })));
        let line = front.position(output(0, "done"));
        let ended = front.position(|seen| {
            matches!(
                seen,
                Seen::Event(Event::Exited {
                    instance: InstanceId { service: 0, .. },
                    status: Exit::Code(0),
                    ..
                })
            )
        });
        assert!(started < line && line < ended, "{:#?}", front.seen());
        assert!(outcome.leftovers.is_empty());
        assert_eq!(outcome.swept, 0);
        let kills = system
            .calls()
            .into_iter()
            .filter(|call| matches!(call, Call::SignalProcesses { .. }))
            .count();
        assert_eq!(kills, 0, "nothing was left to sweep");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn output_still_in_the_pipe_when_the_leader_exits_comes_before_exited() {
    local(async {
        let system = Recording::new();
        let run = Run::start(&system, project(vec![service("web")]), Lifetime::UntilIdle);
        let web = system.spawned(0).await;
        let pid = web.pid();
        web.exit(ExitStatus::Code(3));
        // The executor has handled the exit (no process is left) while the pipe is still open.
        system
            .until(|| {
                system
                    .calls()
                    .contains(&Call::LeaderReaped { service: 0, pid })
            })
            .await;
        assert_eq!(run.front.position(exited(0)), None);
        web.print(Stream::Stdout, "last words\n");
        web.close_output();
        let front = Rc::clone(&run.front);
        let outcome = run.outcome().await;

        let line = front.position(output(0, "last words")).expect("the line");
        let ended = front.position(exited(0)).expect("exited");
        assert!(line < ended, "{:#?}", front.seen());
        assert!(outcome.leftovers.is_empty());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_tree_ends_with_its_last_member_and_only_after_its_output() {
    local(async {
        let system = Recording::new();
        let run = Run::start(&system, project(vec![service("web")]), Lifetime::UntilIdle);
        let web = system.spawned(0).await;
        let worker = web.fork();
        web.exit(ExitStatus::Code(0));
        run.front
            .until(|seen| {
                *seen
                    == Seen::Event(Event::LeaderExited {
                        instance: InstanceId::new(0, 0),
                        status: Exit::Code(0),
                        survivors: 1,
                    })
            })
            .await;
        web.print(Stream::Stdout, "worker still here\n");
        run.front.until(output(0, "worker still here")).await;
        assert_eq!(run.front.position(exited(0)), None);

        // The worker ends; the watcher finds nobody left but the pipe is still open.
        let rescans = system.rescans(0);
        web.member_exits(worker);
        system.until(|| system.rescans(0) > rescans).await;
        assert_eq!(run.front.position(exited(0)), None);
        web.print(Stream::Stdout, "worker's last line\n");
        web.close_output();
        let front = Rc::clone(&run.front);
        run.outcome().await;

        let line = front.position(output(0, "worker's last line"));
        let ended = front.position(|seen| {
            matches!(
                seen,
                Seen::Event(Event::Exited {
                    instance: InstanceId { service: 0, .. },
                    status: Exit::Unknown,
                    ..
                })
            )
        });
        assert!(line.is_some() && line < ended, "{:#?}", front.seen());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_pipe_kept_open_by_another_process_delays_the_end_only_boundedly() {
    local(async {
        let system = Recording::new();
        let run = Run::start(&system, project(vec![service("web")]), Lifetime::UntilIdle);
        let web = system.spawned(0).await;
        web.share_output();
        let exit_at = tokio::time::Instant::now();
        web.exit(ExitStatus::Code(0));
        run.front.until(exited(0)).await;
        let waited = exit_at.elapsed();
        assert!(
            waited >= OUTPUT_DRAIN_LIMIT && waited < OUTPUT_DRAIN_LIMIT * 2,
            "waited {waited:?}"
        );
        web.close_output();
        run.outcome().await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_stop_signal_also_reaches_members_found_after_it() {
    local(async {
        let system = Recording::new();
        system.ignore_term(0);
        let run = Run::start(
            &system,
            project(vec![service("web")]),
            Lifetime::UntilShutdown,
        );
        let web = system.spawned(0).await;
        let first = web.fork();
        web.exit(ExitStatus::Code(0));
        run.front
            .until(|seen| matches!(seen, Seen::Event(Event::LeaderExited { .. })))
            .await;
        run.shut_down();
        system
            .until(|| system.tree_signals(0) == [Signal::TERM])
            .await;

        // A process forked after the signal, found when the watcher looks again.
        let late = web.fork();
        web.member_exits(first);
        system
            .until(|| {
                system.calls().contains(&Call::SignalProcesses {
                    pids: vec![late],
                    signal: Signal::TERM,
                })
            })
            .await;
        // It ignores SIGTERM like its parent: the stop timeout's SIGKILL ends it.
        let outcome = run.outcome().await;
        assert_eq!(system.tree_signals(0), [Signal::TERM, Signal::KILL]);
        assert!(!system.is_alive(late));
        assert!(outcome.leftovers.is_empty());
        assert_eq!(outcome.code, 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_final_sweep_kills_what_is_left_and_reports_what_survives() {
    local(async {
        let system = Recording::new();
        let run = Run::start(
            &system,
            project(vec![service("web")]),
            Lifetime::UntilShutdown,
        );
        system.spawned(0).await;
        // Below wrangle but reached by no stop: one dies when killed, one cannot be killed.
        let stray = system.add_stray(None, false);
        let stuck = system.add_stray(None, true);
        run.shut_down();
        let front = Rc::clone(&run.front);
        let stopping = tokio::time::Instant::now();
        let outcome = run.outcome().await;

        assert!(
            front
                .position(|seen| matches!(
                    seen,
                    Seen::Event(Event::Stopped {
                        instance: InstanceId { service: 0, .. },
                        ..
                    })
                ))
                .is_some()
        );
        assert!(system.calls().contains(&Call::SignalProcesses {
            pids: vec![stray, stuck],
            signal: Signal::KILL,
        }));
        assert!(system.calls().contains(&Call::Reap));
        assert!(!system.is_alive(stray));
        assert_eq!(outcome.swept, 2, "each process counts once");
        assert_eq!(
            outcome.leftovers,
            [(stuck, format!("made-up process {stuck}"))]
        );
        // The sweep gave up on `stuck` only at its deadline.
        assert!(stopping.elapsed() >= Duration::from_secs(5));
    })
    .await;
}

fn with_port(mut spec: ServiceSpec, port: u16) -> ServiceSpec {
    spec.ports = vec![port];
    spec
}

#[tokio::test(start_paused = true)]
async fn a_restart_waits_until_its_ports_are_free() {
    local(async {
        let system = Recording::new();
        let run = Run::start(
            &system,
            project(vec![with_port(restarting(service("web")), 8080)]),
            Lifetime::UntilShutdown,
        );
        let first = system.spawned(0).await;
        // The old instance's port lingers (in another process, or the kernel).
        system.hold_port(8080, "PID 4242 (user alice): web --old");
        first.close_output();
        first.exit(ExitStatus::Code(1));
        run.front
            .until(|seen| matches!(seen, Seen::Event(Event::Restarting { .. })))
            .await;
        // Paused time: the backoff is over and the executor has looked at the port many times
        // during this second, without spawning.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(system.spawns(), 1);
        system.release_port(8080);
        system.spawned(1).await;
        assert_eq!(
            run.front
                .count(|seen| matches!(seen, Seen::Event(Event::RestartBlocked { .. }))),
            0
        );
        run.shut_down();
        let outcome = run.outcome().await;
        assert_eq!(outcome.ports_checked, [8080]);
        assert!(outcome.ports_in_use.is_empty());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_port_held_past_the_wait_blocks_the_restart_and_names_its_holder() {
    local(async {
        let system = Recording::new();
        let run = Run::start(
            &system,
            project(vec![with_port(restarting(service("web")), 8080)]),
            Lifetime::UntilShutdown,
        );
        let first = system.spawned(0).await;
        system.hold_port(8080, "PID 4242 (user alice): squatter");
        first.close_output();
        first.exit(ExitStatus::Code(1));
        let crashed = tokio::time::Instant::now();
        run.front
            .until(|seen| matches!(seen, Seen::Event(Event::RestartBlocked { .. })))
            .await;
        assert!(
            crashed.elapsed() >= Duration::from_secs(5),
            "the wait is bounded, not skipped"
        );
        assert_eq!(system.spawns(), 1);
        let reason = run.front.seen().into_iter().find_map(|seen| match seen {
            Seen::Event(Event::RestartBlocked { reason, .. }) => Some(reason),
            _ => None,
        });
        assert_eq!(
            reason.as_deref(),
            Some("port 8080 is held by PID 4242 (user alice): squatter")
        );
        run.shut_down();
        let outcome = run.outcome().await;
        assert_eq!(
            outcome.ports_in_use,
            [(
                8080,
                "port 8080 is held by PID 4242 (user alice): squatter".to_string()
            )]
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_line_of_an_ended_instance_cannot_make_the_next_one_ready() {
    local(async {
        let system = Recording::new();
        let mut web = restarting(service("web"));
        web.ready = Some(ReadyProbe {
            check: ReadyCheck::Log {
                pattern: regex::Regex::new("ready").expect("a valid pattern"),
            },
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(2),
            recheck: None,
            per_instance: false,
        });
        let run = Run::start(&system, project(vec![web]), Lifetime::UntilShutdown);
        let first = system.spawned(0).await;
        first.print(Stream::Stdout, "ready\n");
        run.front.until(ready(0)).await;
        first.close_output();
        first.exit(ExitStatus::Code(1));

        // The second instance never says it is ready; its probe times out, it is stopped and
        // restarted, but another process keeps its pipe (and its reader) going.
        let second = system.spawned(1).await;
        second.share_output();
        let third = system.spawned(2).await;
        assert_eq!(
            run.front.count(|seen| matches!(
                seen,
                Seen::Event(Event::NotReady {
                    instance: InstanceId { service: 0, .. },
                    ..
                })
            )),
            1
        );
        second.print(Stream::Stdout, "ready (stale)\n");
        run.front.until(output(0, "ready (stale)")).await;
        third.print(Stream::Stdout, "ready (fresh)\n");
        let fresh = run.front.until(output(0, "ready (fresh)")).await;
        run.front
            .until(|seen| ready(0)(seen) && run.front.count(ready(0)) == 2)
            .await;
        let readies: Vec<usize> = run
            .front
            .seen()
            .iter()
            .enumerate()
            .filter(|(_, seen)| ready(0)(seen))
            .map(|(at, _)| at)
            .collect();
        assert_eq!(readies.len(), 2, "{:#?}", run.front.seen());
        assert!(readies[1] > fresh, "{:#?}", run.front.seen());
        second.close_output();
        run.shut_down();
        run.outcome().await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_spawn_that_fails_is_reported_with_its_error_and_fails_the_start() {
    local(async {
        let system = Recording::new();
        system.refuse_spawns(0, Errno::NOENT, 1);
        let run = Run::start(
            &system,
            project(vec![service("web-server")]),
            Lifetime::UntilIdle,
        );
        let front = Rc::clone(&run.front);
        let outcome = run.outcome().await;
        assert!(front.seen().contains(&Seen::Event(Event::SpawnFailed {
            instance: InstanceId::new(0, 0),
            error: "command not found: web-server".to_string(),
            retry: None,
        })));
        assert_eq!(outcome.code, crate::exit::SERVICE_FAILED);
        assert_eq!(system.tree_signals(0), []);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_spawn_refused_for_lack_of_descriptors_is_tried_again() {
    local(async {
        let system = Recording::new();
        system.refuse_spawns(0, Errno::MFILE, 1);
        let run = Run::start(
            &system,
            project(vec![service("web")]),
            Lifetime::UntilShutdown,
        );
        // wrangle's own shortage, not the service's: the spawn is tried again, not given up.
        system.spawned(0).await;
        let refused = Call::SpawnRefused {
            service: 0,
            generation: 1,
        };
        assert_eq!(system.calls().first(), Some(&refused));
        let retry = run.front.seen().into_iter().find_map(|seen| match seen {
            Seen::Event(Event::SpawnFailed { retry, .. }) => Some(retry),
            _ => None,
        });
        assert!(matches!(retry, Some(Some(_))), "{:#?}", run.front.seen());
        run.front.until(ready(0)).await;
        run.shut_down();
        assert_eq!(run.outcome().await.code, 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_every_tree_and_checks_every_declared_port() {
    local(async {
        let system = Recording::new();
        let run = Run::start(
            &system,
            project(vec![
                with_port(service("api"), 8081),
                with_port(service("web"), 8080),
            ]),
            Lifetime::UntilShutdown,
        );
        system.spawned(1).await;
        run.front
            .until(|seen| matches!(seen, Seen::Event(Event::AllReady { .. })))
            .await;
        // A stranger takes a port the project declares while it stops.
        system.hold_port(8081, "PID 7 (user bob): squatter");
        run.shut_down();
        let front = Rc::clone(&run.front);
        let outcome = run.outcome().await;

        assert_eq!(outcome.code, 0);
        assert_eq!(system.tree_signals(0), [Signal::TERM]);
        assert_eq!(system.tree_signals(1), [Signal::TERM]);
        for service in [0, 1] {
            assert!(front.seen().iter().any(|seen| matches!(
                seen,
                Seen::Event(Event::Stopped { instance, .. }) if instance.service == service
            )));
        }
        assert!(outcome.leftovers.is_empty());
        assert_eq!(outcome.swept, 0);
        assert_eq!(outcome.ports_checked, [8080, 8081]);
        assert_eq!(
            outcome.ports_in_use,
            [(
                8081,
                "port 8081 is held by PID 7 (user bob): squatter".to_string()
            )]
        );
        assert!(
            front
                .seen()
                .iter()
                .all(|seen| !matches!(seen, Seen::Notice(_)))
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_exec_probe_runs_through_the_system_until_it_passes() {
    local(async {
        let system = Recording::new();
        system.fail_exec_probes(0, 2);
        let mut web = service("web");
        web.ready = Some(ReadyProbe {
            check: ReadyCheck::Exec {
                command: CommandSpec {
                    argv: vec!["check".to_string()],
                    shell: false,
                },
            },
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(10),
            recheck: None,
            per_instance: false,
        });
        let run = Run::start(&system, project(vec![web]), Lifetime::UntilShutdown);
        run.front.until(ready(0)).await;
        let attempts = system
            .calls()
            .into_iter()
            .filter(|call| *call == Call::ExecProbe { service: 0 })
            .count();
        assert_eq!(attempts, 3);
        run.shut_down();
        run.outcome().await;
    })
    .await;
}
