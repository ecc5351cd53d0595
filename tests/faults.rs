//! Fault injection: the daemon killed at awkward moments, services that misbehave with their
//! processes and their output, a full disk, PID reuse, crowds of services and clients, hostile
//! bytes on the control socket, and random configuration files.
//!
//! Every test asserts the two promises of a process manager: nothing is lost (every service
//! still runs or is restarted, every line is in its log file or counted as dropped, every call
//! is answered) and nothing is left behind (no process, no descriptor in the daemon).
//!
//! Every test that may start a daemon holds the harness's `DaemonGuard` declared right after its
//! project: `wrangle down`, then proof that nothing is left, however the test ends.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    DaemonGuard, Finished, MARK_VAR, Project, WAIT, assert_all_gone, assert_no_survivors,
    assert_nothing_left_after_down, background_pid, control_socket, daemon_log, daemon_process,
    fd_count, has_exited, is_ours, log_file_lines_in, normalize, pid, project_dir, python,
    send_signal, sentinel_of, service, stat_field, state, status, status_kb, stream_marker,
    successor_status, survivors, toml_str, try_project_dir, up_detached, wait_states, wait_until,
    without_clone3,
};

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Every line of `service`'s log files, oldest file first, as (marker, text): read back
/// through the index, `o`/`e` by stream, upper-case when partial. Fails on a line without a
/// time (no index record covers it).
fn log_records(project: &Project, service: &str) -> Vec<(char, String)> {
    log_file_lines_in(&project_dir(project).join("logs"), service)
        .into_iter()
        .map(|(file, line)| {
            assert!(
                line.time.is_some(),
                "{}: a line without time: {:?}",
                file.display(),
                &line.text[..line.text.len().min(80)]
            );
            (stream_marker(&line), line.text)
        })
        .collect()
}

/// The sizes of `service`'s log files (without their indexes).
fn log_file_sizes(project: &Project, service: &str) -> Vec<(String, u64)> {
    let mut sizes: Vec<(String, u64)> = fs::read_dir(project_dir(project).join("logs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = (name == format!("{service}.log")
                || name.starts_with(&format!("{service}.log.")))
                && !name.ends_with(".idx");
            Some((name, entry.metadata().ok()?.len())).filter(|_| ours)
        })
        .collect();
    sizes.sort();
    sizes
}

/// Runs `wrangle ARGS` like [`Project::run_unswept`] (for `up -d`, whose daemon must live on)
/// but waits up to `timeout`: for starts and stops of hundreds of services.
fn run_unswept_within(project: &Project, args: &[&str], timeout: Duration) -> Finished {
    let mut command = project.command(args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = command.spawn().expect("spawn wrangle");
    let pid = i32::try_from(child.id()).expect("pid");
    let (sender, receiver) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(timeout) {
        Ok(Ok(output)) => Finished {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        Ok(Err(error)) => panic!("wrangle {args:?}: {error}"),
        Err(_) => {
            send_signal(pid, "KILL");
            panic!("wrangle {args:?} did not finish within {timeout:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SIGKILL of the daemon at awkward moments.

#[test]
fn sigkill_of_the_daemon_during_start_up_leaves_nothing_and_the_next_up_recovers() {
    // db starts but is not ready until go.flag exists, so `up -d` is still attached (start-up
    // is in progress, api waits for db) when the daemon is killed.
    let project = Project::new(
        r#"
[services.db]
command = ["sh", "-c", "echo started > db.started; exec sleep 611"]
ready = { exec = "test -e go.flag", interval = "50ms", timeout = "60s" }

[services.api]
command = ["sleep", "612"]
depends_on = ["db"]
"#,
    );
    let _guard = DaemonGuard::new(&project);
    let mut up = project.spawn_command(project.command(&["up", "-d"]));
    let mut daemon = None;
    let caught = wait_until(WAIT, || {
        daemon = daemon_process(&project);
        daemon.is_some()
            && project.exists("db.started")
            && up.find_line("db * starting:").is_some()
            && try_project_dir(&project).is_some_and(|dir| dir.join("state.json").exists())
    });
    assert!(caught, "start-up did not begin\n{}", up.transcript());
    let daemon = daemon.expect("daemon pid");
    assert!(send_signal(daemon, "KILL"), "kill -KILL {daemon}");

    // The attached `up -d` notices at once and fails; it is not kept waiting by a process that
    // inherited its pipe.
    let code = up.wait_exit(WAIT);
    assert_ne!(
        code,
        0,
        "up -d succeeded with its daemon killed\n{}",
        up.transcript()
    );
    assert!(
        up.find_line("running in the background").is_none(),
        "{}",
        up.transcript()
    );
    // db (started, not ready) and the sentinel go; api never started.
    assert_all_gone(
        &project,
        WAIT,
        "after SIGKILL of the daemon during start-up",
    );
    drop(up);

    // The next `up` finds the dead daemon's record, says so, and starts the project afresh.
    project.write("go.flag", "");
    let (again, second) = up_detached(&project, &[]);
    assert_ne!(again, daemon);
    assert!(
        second.stderr.contains(&format!(
            "the previous daemon (PID {daemon}) ended without stopping its services; none of its processes is left"
        )),
        "{second:#?}"
    );
    let json = wait_states(&project, &[("db", "ready"), ("api", "running")]);
    assert_eq!(json["daemon_pid"], again, "{json:#}");
    for name in ["db", "api"] {
        let pid = pid(&json, name).expect("pid");
        assert!(is_ours(&project, pid), "{name} (PID {pid}) is not running");
        assert_eq!(service(&json, name)["restarts"], 0, "{json:#}");
    }
    assert!(project_dir(&project).join("state.json.previous").exists());
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

#[test]
fn sigkill_of_the_daemon_during_a_restart_is_taken_over_and_the_restart_can_be_asked_again() {
    // `slow` ignores SIGTERM, so `wrangle restart slow` keeps the daemon in the middle of the
    // restart (stopping, waiting for stop_timeout) when it is killed. The successor takes the
    // processes over as they were recorded (running): the interrupted restart is not resumed,
    // and asking again works.
    let project = Project::new(
        r#"
[defaults]
stop_timeout = "2s"

[services.slow]
command = ["sh", "-c", "trap 'echo got TERM' TERM; while :; do sleep 0.1; done"]

[services.steady]
command = ["sleep", "613"]
"#,
    );
    let _guard = DaemonGuard::new(&project);
    let (daemon, _) = up_detached(&project, &[]);
    let before = status(&project);
    let slow_before = pid(&before, "slow").expect("slow pid");
    let steady_before = pid(&before, "steady").expect("steady pid");

    let mut restart = project.spawn(&["restart", "slow"]);
    let mut last = Value::Null;
    let stopping = wait_until(WAIT, || {
        last = status(&project);
        state(&last, "slow") == "stopping"
    });
    assert!(stopping, "slow never was stopping: {last:#}");
    assert!(send_signal(daemon, "KILL"), "kill -KILL {daemon}");

    // The waiting client is not left hanging (it may see the successor's state, or an error).
    let _ = restart.wait_exit(WAIT);
    drop(restart);
    let json = successor_status(&project, daemon, WAIT);
    assert_eq!(pid(&json, "slow"), Some(slow_before), "{json:#}");
    assert_eq!(pid(&json, "steady"), Some(steady_before), "{json:#}");
    assert!(is_ours(&project, slow_before) && is_ours(&project, steady_before));
    // The restart that was interrupted works now (2 s: slow needs its SIGKILL).
    let restart = project.run(&["restart", "slow"]);
    assert_eq!(restart.code, 0, "{restart:#?}");
    let json = status(&project);
    assert_eq!(service(&json, "slow")["restarts"], 1, "{json:#}");
    assert!(!is_ours(&project, slow_before));
    assert_eq!(pid(&json, "steady"), Some(steady_before), "{json:#}");
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

/// One GET / over a new connection (HTTP/1.0): Ok for a 200, or what went wrong.
fn get_once(address: std::net::SocketAddr) -> Result<(), String> {
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .map_err(|error| format!("connect: {error}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|error| error.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        .map_err(|error| format!("write: {error}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|error| format!("read: {error}"))?;
    match response.starts_with("HTTP/1.0 200 ") || response.starts_with("HTTP/1.1 200 ") {
        true => Ok(()),
        false => Err(format!("bad response: {response:?}")),
    }
}

/// Two clients sending requests back to back until stopped: (successes, failures).
struct HttpLoad {
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ok: std::sync::Arc<std::sync::atomic::AtomicU64>,
    failures: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    workers: Vec<thread::JoinHandle<()>>,
}

impl HttpLoad {
    fn start(address: std::net::SocketAddr) -> HttpLoad {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::{Arc, Mutex};
        let running = Arc::new(AtomicBool::new(true));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..2)
            .map(|_| {
                let (running, ok, failures) =
                    (Arc::clone(&running), Arc::clone(&ok), Arc::clone(&failures));
                thread::spawn(move || {
                    while running.load(Ordering::Relaxed) {
                        match get_once(address) {
                            Ok(()) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(error) => failures.lock().expect("failures").push(error),
                        }
                    }
                })
            })
            .collect();
        HttpLoad {
            running,
            ok,
            failures,
            workers,
        }
    }

    fn ok(&self) -> u64 {
        self.ok.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops the clients; what failed.
    fn stop(mut self) -> Vec<String> {
        self.running
            .store(false, std::sync::atomic::Ordering::Relaxed);
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        std::mem::take(&mut *self.failures.lock().expect("failures"))
    }
}

impl Drop for HttpLoad {
    fn drop(&mut self) {
        self.running
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The numbers of the `line N` lines a service printed, in the order of its log.
fn numbered_lines(project: &Project, service: &str) -> Vec<u64> {
    log_records(project, service)
        .iter()
        .filter_map(|(_, text)| text.strip_prefix("line ")?.parse().ok())
        .collect()
}

#[test]
fn sigkill_of_the_daemon_under_http_load_and_steady_output_fails_no_request_and_loses_no_line() {
    // The issue's proof: a socket-activated HTTP server (two instances) under steady load and a
    // service printing numbered lines; the daemon is SIGKILLed. Its successor takes them over:
    // the same PIDs serve, no request fails (the socket never closes: the sentinel holds it
    // and the services keep it), and no line is lost (the pipes keep what nobody read
    // meanwhile, and the successor reads on from the sentinel's duplicates).
    let port = crate::support::free_port();
    let project = Project::new(&format!(
        r#"
[sockets.http]
listen = "tcp://127.0.0.1:{port}"

[services.web]
command = [{python}, "server.py"]
sockets = ["http"]
instances = 2
ready = {{ notify = true, timeout = "20s" }}

[services.counter]
command = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.005; done"]
"#,
        python = toml_str(python()),
    ));
    project.write(
        "server.py",
        &fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sockets/server.py"),
        )
        .expect("the example server"),
    );
    let _guard = DaemonGuard::new(&project);
    let (daemon, _) = up_detached(&project, &[]);
    let before = status(&project);
    let pids = |json: &Value| -> Vec<i64> {
        let mut pids: Vec<i64> = json["services"]
            .as_array()
            .expect("services")
            .iter()
            .filter_map(|entry| entry["pid"].as_i64())
            .collect();
        pids.sort_unstable();
        pids
    };
    let pids_before = pids(&before);
    assert_eq!(pids_before.len(), 3, "{before:#}");

    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let load = HttpLoad::start(address);
    assert!(
        wait_until(WAIT, || load.ok() >= 20
            && numbered_lines(&project, "counter").len() >= 50),
        "no load or no lines before the kill"
    );
    let sentinel = sentinel_of(daemon).expect("the daemon's sentinel");
    assert!(send_signal(daemon, "KILL"), "kill -KILL {daemon}");
    let served_at_kill = load.ok();
    let lines_at_kill = numbered_lines(&project, "counter").len();

    let after = successor_status(&project, daemon, WAIT);
    assert_eq!(
        pids(&after),
        pids_before,
        "other processes serve: {after:#}"
    );
    assert_eq!(
        sentinel_of(i32::try_from(after["daemon_pid"].as_i64().expect("pid")).expect("pid")),
        Some(sentinel)
    );
    // Load and output go on under the successor.
    assert!(
        wait_until(WAIT, || load.ok() >= served_at_kill + 50
            && numbered_lines(&project, "counter").len() >= lines_at_kill + 100),
        "the load or the lines stopped after the kill"
    );
    let failures = load.stop();
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    let lines = numbered_lines(&project, "counter");
    let first_gap = lines.windows(2).find(|pair| pair[1] != pair[0] + 1);
    assert!(
        first_gap.is_none() && lines.first() == Some(&1),
        "lines were lost: {first_gap:?} of {} lines",
        lines.len()
    );
    assert_eq!(pids(&status(&project)), pids_before);
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

/// `N` of `pid N tick` records.
fn tick_pids(records: &[(char, String)]) -> Vec<u32> {
    records
        .iter()
        .filter_map(|(_, text)| {
            text.strip_prefix("pid ")?
                .strip_suffix(" tick")?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn sigkill_of_an_idle_daemon_loses_no_log_line_and_its_successor_writes_on() {
    // The output written before the kill is still there after it, and the same process's
    // lines follow it in the same file, written by the successor.
    let project = Project::new(
        r#"
[services.ticker]
command = ["sh", "-c", "while :; do echo \"pid $$ tick\"; sleep 0.05; done"]
"#,
    );
    let _guard = DaemonGuard::new(&project);
    let (daemon, _) = up_detached(&project, &[]);
    let mut before = Vec::new();
    assert!(
        wait_until(WAIT, || {
            before = tick_pids(&log_records(&project, "ticker"));
            before.len() >= 5
        }),
        "no ticks in the log: {before:?}"
    );
    let first = before[0];
    assert!(send_signal(daemon, "KILL"));
    let json = successor_status(&project, daemon, WAIT);
    assert_eq!(
        pid(&json, "ticker").map(|pid| pid as u32),
        Some(first),
        "{json:#}"
    );
    let written = tick_pids(&log_records(&project, "ticker"));
    let mut after = Vec::new();
    assert!(
        wait_until(WAIT, || {
            after = tick_pids(&log_records(&project, "ticker"));
            after.len() >= written.len() + 3
        }),
        "the successor's ticks do not reach the log: {after:?}"
    );
    assert_eq!(&after[..written.len()], &written[..], "lines were lost");
    assert!(after.iter().all(|pid| *pid == first), "{after:?}");
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

// ---------------------------------------------------------------------------------------------
// The sentinel above the daemon, and what children inherit.

/// A process by pid and start time that the harness's mark cannot find (it cleared its
/// environment): SIGKILLed on drop if it still lives, however the test ends.
struct Unmarked {
    pid: i32,
    start_time: u64,
}

impl Unmarked {
    /// The process whose pid a service wrote into `file` (waits for it).
    fn from_file(project: &Project, file: &str) -> Unmarked {
        let mut found = None;
        let started = wait_until(WAIT, || {
            found = fs::read_to_string(project.path(file))
                .ok()
                .and_then(|text| text.trim().parse::<i32>().ok())
                .and_then(|pid| Some((pid, stat_field(pid, 22)?)));
            found.is_some()
        });
        assert!(started, "no live process in {file}");
        let (pid, start_time) = found.expect("pid");
        Unmarked { pid, start_time }
    }

    fn alive(&self) -> bool {
        let state = fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .ok()
            .and_then(|stat| stat.rsplit_once(") ")?.1.chars().next());
        stat_field(self.pid, 22) == Some(self.start_time) && state.is_some_and(|state| state != 'Z')
    }
}

impl Drop for Unmarked {
    fn drop(&mut self) {
        if self.alive() {
            send_signal(self.pid, "KILL");
        }
    }
}

/// A service that starts a process in a session of its own with an empty environment (no run
/// token, no test mark) and writes its pid to `escapee.pid`; the leader itself just sleeps.
const ESCAPING: &str = r#"
[services.api]
command = ["sh", "-c", "env -i setsid sh -c 'echo $$ > escapee.pid; exec sleep 651' & exec sleep 652"]
stop_timeout = "1s"
"#;

/// `up -d` without cgroups, so that only the process tree can find an escapee.
fn up_without_cgroups(project: &Project) -> i32 {
    let mut command = project.command(&["up", "-d"]);
    command.env("WRANGLE_NO_CGROUP", "1");
    let up = project.run_command_unswept(command);
    assert_eq!(up.code, 0, "{up:#?}");
    background_pid(&up.stdout).unwrap_or_else(|| panic!("no daemon: {up:#?}"))
}

#[test]
fn without_cgroups_an_escapee_of_a_killed_daemon_is_found_by_its_successor() {
    // Issue 10, item 6: no cgroup, and a process that left its service's session and cleared
    // its environment, so no marker finds it. Once the daemon is gone it is the sentinel's
    // descendant, and the successor (which looks below the sentinel too) stops it with the run.
    let project = Project::new(ESCAPING);
    let _guard = DaemonGuard::new(&project);
    let daemon = up_without_cgroups(&project);
    let escapee = Unmarked::from_file(&project, "escapee.pid");
    assert!(
        !cmdline_environ_has_mark(escapee.pid, &project.mark),
        "the escapee still carries the mark"
    );
    let api = pid(&status(&project), "api").expect("api pid");
    assert!(send_signal(daemon, "KILL"), "kill -KILL {daemon}");
    let json = successor_status(&project, daemon, WAIT);
    assert_eq!(pid(&json, "api"), Some(api), "{json:#}");
    assert!(escapee.alive(), "the escapee was stopped with its daemon");

    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert!(
        wait_until(WAIT, || !escapee.alive()),
        "the escapee (PID {}) outlived `down` under the successor",
        escapee.pid
    );
    assert_nothing_left_after_down(&project);
}

#[test]
fn a_successor_that_cannot_take_over_is_retried_then_the_sentinel_stops_the_run() {
    // The config broke after `up -d`: every successor exits at once (code 2). The sentinel tries
    // a few times, backing off, then stops everything and says so in the daemon's log.
    let project = Project::new(ESCAPING);
    let _guard = DaemonGuard::new(&project);
    let daemon = up_without_cgroups(&project);
    let escapee = Unmarked::from_file(&project, "escapee.pid");
    let sentinel = sentinel_of(daemon).expect("the daemon's sentinel");
    fs::write(project.path("wrangle.toml"), "[services.api\n").expect("break the config");
    assert!(send_signal(daemon, "KILL"), "kill -KILL {daemon}");
    assert!(
        wait_until(Duration::from_secs(30), || !escapee.alive()),
        "the escapee (PID {}) outlived the sentinel's give-up",
        escapee.pid
    );
    assert_all_gone(&project, WAIT, "after the sentinel gave up");
    assert!(!is_ours(&project, sentinel), "the sentinel stayed");
    let log = daemon_log(&project);
    assert!(
        log.contains(
            "3 successive daemons died before taking over, or soon after; stopping the run"
        ),
        "{log}"
    );
    // The next command tells what happened, and it is true: the sentinel saw the whole run.
    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 1, "{ps:#?}");
    assert!(
        ps.stderr.contains(&format!(
            "the previous daemon (PID {daemon}) ended without stopping its services; none of its processes is left"
        )),
        "{ps:#?}"
    );
    assert!(
        ps.stderr.contains(&format!(
            "its sentinel stopped PID {}: sleep 651",
            escapee.pid
        )),
        "{ps:#?}"
    );
}

#[test]
fn without_cgroups_or_a_sentinel_the_next_command_does_not_claim_nothing_is_left() {
    // The sentinel killed with its daemon: the escapee is out of anyone's sight. The next
    // command stops the leader it can prove was the run's, and must say what it could look
    // for, not that nothing is left.
    let project = Project::new(ESCAPING);
    let _guard = DaemonGuard::new(&project);
    let daemon = up_without_cgroups(&project);
    let escapee = Unmarked::from_file(&project, "escapee.pid");
    let sentinel = sentinel_of(daemon).expect("the daemon's sentinel");
    assert!(send_signal(sentinel, "KILL") && send_signal(daemon, "KILL"));
    assert!(
        wait_until(WAIT, || has_exited(daemon) && has_exited(sentinel)),
        "the daemon or its sentinel outlived SIGKILL"
    );

    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 1, "{ps:#?}");
    assert!(
        ps.stderr.contains(&format!(
            "the previous daemon (PID {daemon}) ended without stopping its services; stopped 1 leftover process(es)"
        )),
        "{ps:#?}"
    );
    assert!(ps.stderr.contains("sleep 652"), "{ps:#?}");
    assert!(ps.stderr.contains("cannot be found"), "{ps:#?}");
    assert!(
        !ps.stderr.contains("none of its processes is left"),
        "{ps:#?}"
    );
    assert_all_gone(&project, WAIT, "after the next command's recovery");
    assert!(
        escapee.alive(),
        "the escapee died: this test proves nothing"
    );
    drop(escapee);
}

/// Whether `/proc/PID/environ` carries the test's mark.
fn cmdline_environ_has_mark(pid: i32, mark: &str) -> bool {
    fs::read(format!("/proc/{pid}/environ"))
        .map(|environ| {
            environ
                .split(|byte| *byte == 0)
                .any(|variable| variable.starts_with(format!("{MARK_VAR}={mark}").as_bytes()))
        })
        .unwrap_or(false)
}

#[test]
fn sigterm_to_the_sentinel_stops_the_daemon_and_its_services_in_order() {
    let project = Project::new(
        r#"
[services.db]
command = ["sh", "-c", "trap 'echo db stopping; exit 0' TERM; while :; do sleep 0.05; done"]

[services.api]
command = ["sleep", "653"]
depends_on = ["db"]
"#,
    );
    let _guard = DaemonGuard::new(&project);
    let (daemon, _) = up_detached(&project, &[]);
    let sentinel = sentinel_of(daemon).expect("the daemon's sentinel");
    assert_eq!(
        stat_field(daemon, 4),
        Some(sentinel as u64),
        "the daemon's parent"
    );
    assert!(send_signal(sentinel, "TERM"));
    assert_all_gone(&project, WAIT, "after SIGTERM to the sentinel");
    // A clean stop: nothing for the next command to recover.
    let ps = project.run(&["ps"]);
    assert!(!ps.stderr.contains("previous daemon"), "{ps:#?}");
    // The daemon's own orderly stop: dependents first.
    let log = daemon_log(&project);
    let at = |needle: &str| {
        log.lines()
            .map(normalize)
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in daemon.log:\n{log}"))
    };
    assert!(at("api * stopped") < at("db * stopping (SIGTERM)"), "{log}");
    at("wrangle * every process is stopped");
}

/// Opens `path` and takes an exclusive `flock` on it, on a descriptor without close-on-exec,
/// as `exec 9>path; flock 9` does in a shell: every program the test starts inherits it (std's
/// `Command` closes nothing).
fn inheritable_lock(path: &Path) -> std::os::fd::OwnedFd {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .expect("open the lock file");
    let fd = std::os::fd::OwnedFd::from(file);
    rustix::fs::flock(&fd, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let flags = rustix::io::fcntl_getfd(&fd).expect("getfd");
    rustix::io::fcntl_setfd(&fd, flags - rustix::io::FdFlags::CLOEXEC).expect("setfd");
    fd
}

/// The descriptors of `pid` and what each refers to.
fn descriptors(pid: i32) -> Vec<(i32, PathBuf)> {
    let mut fds: Vec<(i32, PathBuf)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let fd = entry.file_name().to_str()?.parse().ok()?;
            Some((fd, fs::read_link(entry.path()).ok()?))
        })
        .collect();
    fds.sort();
    fds
}

#[test]
fn a_lock_the_caller_holds_is_held_by_neither_the_daemon_nor_its_services() {
    // Issue 10, item 5: `exec 9>deploy.lock; flock 9; wrangle up -d`.
    let project = Project::new(
        r#"
[services.api]
command = ["sh", "-c", "sleep 654 & exec sleep 655"]
ready = { exec = "true" }
"#,
    );
    let lock_path = project.path("deploy.lock");
    let _guard = DaemonGuard::new(&project);
    let lock = inheritable_lock(&lock_path);
    let (daemon, _) = up_detached(&project, &[]);
    // The caller lets go of it (`exec 9>&-`): nobody else may hold it now.
    drop(lock);
    let again = fs::File::open(&lock_path).expect("open");
    let taken = rustix::fs::flock(&again, rustix::fs::FlockOperation::NonBlockingLockExclusive);
    let processes = survivors(&project.mark);
    let holders: Vec<(i32, String)> = processes
        .iter()
        .filter(|(pid, _)| {
            descriptors(*pid)
                .iter()
                .any(|(_, target)| target == &lock_path)
        })
        .cloned()
        .collect();
    assert!(
        taken.is_ok() && holders.is_empty(),
        "the caller's lock is held by {holders:?}"
    );
    // The services have their stdio and nothing else; the sentinel and the daemon nothing of
    // the caller's. Each is looked at once it sleeps: `sh` forks the first before it runs
    // `sleep`, and a program's loader holds a library open for a moment after the exec.
    let sleeping = |pid: i32| {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| Some(stat.rsplit_once(") ")?.1.starts_with('S')))
            .unwrap_or(false)
    };
    let mut services: Vec<(i32, String)> = Vec::new();
    let settled = wait_until(WAIT, || {
        services = survivors(&project.mark)
            .into_iter()
            .filter(|(_, command)| command.starts_with("sleep 65"))
            .collect();
        services.len() == 2 && services.iter().all(|(pid, _)| sleeping(*pid))
    });
    assert!(settled, "{services:?} among {processes:?}");
    for (pid, command) in &services {
        let fds: Vec<i32> = descriptors(*pid).iter().map(|(fd, _)| *fd).collect();
        assert_eq!(fds, vec![0, 1, 2], "{command} (PID {pid})");
    }
    let sentinel = sentinel_of(daemon).expect("the daemon's sentinel");
    for pid in [sentinel, daemon] {
        for (fd, target) in descriptors(pid) {
            assert!(
                !target.starts_with(project.root().join("deploy")),
                "PID {pid} has fd {fd} -> {}",
                target.display()
            );
        }
    }
}

#[test]
fn a_foreground_runs_its_services_and_probes_with_their_stdio_only() {
    let project = Project::empty();
    let lock = inheritable_lock(&project.path("held.lock"));
    let fd = std::os::fd::AsRawFd::as_raw_fd(&lock);
    // The shell of the service and of the probe look for the test's descriptor in their own
    // table; the probe fails (and start-up with it) if it is there.
    project.write(
        "wrangle.toml",
        &format!(
            r#"
[services.api]
command = ["sh", "-c", "test -e /proc/$$/fd/{fd} && echo inherited; echo checked; exec sleep 656"]
ready = {{ exec = "sh -c 'test ! -e /proc/$$/fd/{fd}'", timeout = "5s" }}
"#
        ),
    );
    let mut up = project.up(&[]);
    up.expect_line("api * ready");
    up.expect_line("api | checked");
    assert!(
        up.find_line("api | inherited").is_none(),
        "{}",
        up.transcript()
    );
    let mut sleeping = None;
    let exec_done = wait_until(WAIT, || {
        sleeping = survivors(&project.mark)
            .into_iter()
            .find(|(_, command)| command == "sleep 656");
        sleeping.is_some()
    });
    assert!(exec_done, "api never ran its sleep\n{}", up.transcript());
    let sleeping = sleeping.expect("api's sleep");
    let fds: Vec<i32> = descriptors(sleeping.0).iter().map(|(fd, _)| *fd).collect();
    assert_eq!(fds, vec![0, 1, 2]);
    up.signal("INT");
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
    assert_no_survivors(&project.mark);
    drop(lock);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn where_the_kernel_refuses_clone3_services_start_the_portable_way() {
    // The std fallback of `sys::spawn`, end to end: every spawn of this run (services, a probe,
    // restarts, the sentinel) goes through `std::process::Command`, since `clone3` fails.
    let project = Project::new(
        r#"
[services.db]
command = ["sh", "-c", "grep Seccomp: /proc/self/status; exec sleep 657"]
ready = { exec = "true" }

[services.flaky]
command = ["sh", "-c", "echo run; exit 3"]
depends_on = ["db"]
restart = "always"
max_restarts = 100
"#,
    );
    let mut up = project.spawn_command(without_clone3(&project, &["up"]));
    up.expect_line("db * ready");
    // The filter is in force for wrangle and everything below it.
    up.expect_line("db | Seccomp:\t2");
    let first = up.expect_line("flaky | run");
    up.expect_line_from(first + 1, "flaky | run", WAIT);
    up.signal("INT");
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
    assert_no_survivors(&project.mark);
}

// ---------------------------------------------------------------------------------------------
// Services that misbehave.

/// A shell that ignores SIGTERM (and so do its children) and forks without pause: background
/// children, double-forked grandchildren, and `setsid` escapees that leave its process group.
const FORKER: &str = r#"trap '' TERM
n=0
while :; do
  for i in 1 2 3 4 5 6 7 8 9 10; do
    true &
    sleep 0.01 &
    (sleep 0.3 &)
    setsid sleep 0.05 &
  done
  wait
  n=$((n+40))
  echo spawned $n
done"#;

fn fork_heavy_service_is_stopped_without_survivors(cgroup: bool) {
    let project = Project::new(&format!(
        "[services.forker]\ncommand = [\"sh\", \"-c\", {}]\nstop_timeout = \"1s\"\n",
        toml_str(FORKER)
    ));
    let mut command = project.command(&["up"]);
    if !cgroup {
        command.env("WRANGLE_NO_CGROUP", "1");
    }
    let mut wrangle = project.spawn_command(command);
    // Hundreds of children have come and gone (and keep coming) before the stop.
    wrangle.expect_line_from(0, "forker | spawned 400", WAIT);
    wrangle.signal("INT");
    // SIGTERM is ignored: everything dies by the SIGKILL after stop_timeout, forks made during
    // the stop included.
    let code = wrangle.wait_exit(WAIT);
    assert_eq!(code, 0, "{}", wrangle.transcript());
    assert!(
        wrangle
            .find_line("wrangle * every process is stopped")
            .is_some(),
        "{}",
        wrangle.transcript()
    );
    assert_no_survivors(&project.mark);
}

#[test]
fn fork_heavy_service_is_stopped_without_survivors_in_its_cgroup() {
    fork_heavy_service_is_stopped_without_survivors(true);
}

#[test]
fn fork_heavy_service_is_stopped_without_survivors_without_cgroups() {
    fork_heavy_service_is_stopped_without_survivors(false);
}

/// 10 MB in one line.
const HUGE_LINE: usize = 10_000_000;

#[test]
fn services_that_close_their_output_write_no_newline_or_one_huge_line_stay_supervised() {
    // A service that closes stdout and stderr and keeps running; one that never writes a
    // newline; one that writes 10 MB in one line. Log files rotate at 4 MiB.
    let nonl = "import os, time\n\
                for i in range(1, 201):\n    os.write(1, b'a%d ' % i)\n    time.sleep(0.002)\n\
                open('nonl.done', 'w').close()\n\
                time.sleep(614)\n";
    let huge = format!(
        "import os, time\n\
         while not os.path.exists('go.flag'):\n    time.sleep(0.02)\n\
         view = memoryview(b'y' * {HUGE_LINE} + b'\\nafter\\n')\n\
         while view:\n    view = view[os.write(1, view):]\n\
         open('huge.done', 'w').close()\n\
         time.sleep(615)\n"
    );
    let project = Project::new(&format!(
        r#"
[logs]
max_file_size = "4MiB"
keep_files = 5

[services.closer]
command = ["sh", "-c", "echo before-close; echo err-before-close >&2; exec >&- 2>&-; exec sleep 616"]

[services.nonl]
command = ["{python}", "-c", {nonl}]

[services.huge]
command = ["{python}", "-c", {huge}]
"#,
        python = python(),
        nonl = toml_str(nonl),
        huge = toml_str(&huge),
    ));
    let _guard = DaemonGuard::new(&project);
    let (daemon, _) = up_detached(&project, &[]);
    let peak_before = status_kb(daemon, "VmHWM").expect("VmHWM of the daemon");

    project.write("go.flag", "");
    // `ps` answers while the line is written.
    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 0, "{ps:#?}");
    assert!(
        wait_until(WAIT, || project.exists("huge.done")
            && project.exists("nonl.done")),
        "the writers did not finish"
    );

    // The huge line: read back in pieces of at most 64 KiB marked partial (`O`), the last one
    // ending the line (`o`), nothing lost; every file within its size (the line runs on from
    // one file into the next: each file's last piece is partial too).
    let mut records = Vec::new();
    assert!(
        wait_until(WAIT, || {
            records = log_records(&project, "huge");
            records.last().is_some_and(|(_, text)| text == "after")
        }),
        "the line after the huge one never reached the log ({} records)",
        records.len()
    );
    // Read once more: a read that raced with the last rotation can see the newest file and miss
    // the one just renamed. Once `after` is visible every rotation of this writer is done, so
    // this read is a consistent snapshot.
    records = log_records(&project, "huge");
    let (line, after) = records.split_at(records.len() - 1);
    assert_eq!(after, [('o', "after".to_string())]);
    let total: usize = line.iter().map(|(_, text)| text.len()).sum();
    assert_eq!(total, HUGE_LINE, "bytes of the huge line in the log");
    assert!(line.iter().all(|(_, text)| text.bytes().all(|b| b == b'y')));
    let (last, pieces) = line.split_last().expect("pieces");
    assert_eq!(last.0, 'o', "the last piece ends the line");
    assert!(
        pieces
            .iter()
            .all(|(marker, text)| *marker == 'O' && text.len() <= 64 * 1024),
        "every other piece is a partial one of at most 64 KiB"
    );
    let sizes = log_file_sizes(&project, "huge");
    assert!(sizes.len() >= 3, "10 MB in 4 MiB files: {sizes:?}");
    assert!(
        sizes.iter().all(|(_, size)| *size <= 4 * 1024 * 1024),
        "{sizes:?}"
    );
    // The daemon never held the line whole: its peak memory grew by less than the line.
    let peak_after = status_kb(daemon, "VmHWM").expect("VmHWM of the daemon");
    eprintln!("daemon peak RSS: {peak_before} kB before the 10 MB line, {peak_after} kB after");
    // (VmHWM is not exact: the kernel does not update it when memory is given back by
    // `madvise`, so it can even read lower than before.)
    assert!(
        peak_after.saturating_sub(peak_before) < (HUGE_LINE / 1024) as u64,
        "the daemon's peak RSS grew from {peak_before} kB to {peak_after} kB"
    );
    // `logs` reads the files back, at most 1 MiB of them per call.
    let logs = project.run(&["logs", "-n", "10000", "huge"]);
    assert_eq!(logs.code, 0, "{logs:#?}");
    assert!(
        logs.stdout.len() < 2 * 1024 * 1024,
        "`logs huge` printed {} bytes",
        logs.stdout.len()
    );
    assert!(logs.stdout.ends_with("after\n"), "{}", &logs.stdout[..200]);

    // No newline ever: the text arrives in partial pieces, all of it, in order.
    let expected: String = (1..=200).map(|i| format!("a{i} ")).collect();
    let mut joined = String::new();
    let mut markers = HashSet::new();
    assert!(
        wait_until(WAIT, || {
            let records = log_records(&project, "nonl");
            markers = records.iter().map(|(marker, _)| *marker).collect();
            joined = records.into_iter().map(|(_, text)| text).collect();
            joined == expected
        }),
        "nonl's log holds {joined:?}"
    );
    assert_eq!(
        markers,
        HashSet::from(['O']),
        "pieces without newline are partial"
    );

    // Closed output is not an exit: closer runs on, its lines kept, and it restarts normally.
    let json = status(&project);
    assert_eq!(state(&json, "closer"), "running", "{json:#}");
    let closer = pid(&json, "closer").expect("closer pid");
    assert!(is_ours(&project, closer));
    // stdout and stderr are separate pipes: their order in the file is not defined.
    let mut closer_records = log_records(&project, "closer");
    closer_records.sort();
    assert_eq!(
        closer_records,
        [
            ('e', "err-before-close".to_string()),
            ('o', "before-close".to_string())
        ]
    );
    let restart = project.run(&["restart", "closer"]);
    assert_eq!(restart.code, 0, "{restart:#?}");
    let json = status(&project);
    assert_eq!(state(&json, "closer"), "running", "{json:#}");
    assert_eq!(service(&json, "closer")["restarts"], 1, "{json:#}");
    assert!(wait_until(WAIT, || !is_ours(&project, closer)));
    assert!(wait_until(WAIT, || log_records(&project, "closer").len() == 4));

    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

// ---------------------------------------------------------------------------------------------
// PID reuse.

/// A process unrelated to wrangle that leads its own session (as any service leader, so its
/// pgid equals its pid), notes every catchable signal it gets in `stranger.signals`, and
/// creates `stranger.ready` once its handlers are in place.
const STRANGER: &str = "import os, signal, time\n\
    os.setsid()\n\
    def note(number, frame):\n    with open('stranger.signals', 'a') as f:\n        f.write(f'{number}\\n')\n\
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT):\n    signal.signal(sig, note)\n\
    open('stranger.ready', 'w').close()\n\
    while True:\n    time.sleep(0.05)\n";

/// Kills and reaps a child of the test, however the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_recorded_pid_now_held_by_an_unrelated_process_is_never_signalled() {
    // A real daemon's record, left behind by killing the daemon and its sentinel together, and
    // then the service leader (a daemon's leaders have no death signal: a successor could have
    // taken them over). Then the leader's pid is "reused": the record is
    // made to name the stranger's pid and process group, exactly as if the kernel had handed
    // the dead leader's pid to a new session leader; only the start time tells them apart.
    let project = Project::new(
        r#"
[services.api]
command = ["sleep", "617"]
"#,
    );
    let _guard = DaemonGuard::new(&project);
    let (daemon, _) = up_detached(&project, &[]);
    let leader = pid(&status(&project), "api").expect("api pid");
    // The record is written on a background thread: wait until it names the leader.
    let state_file = project_dir(&project).join("state.json");
    let read_record = || -> Value {
        fs::read(&state_file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null)
    };
    let recorded_api = |record: &Value| {
        record["services"]
            .as_array()
            .and_then(|services| services.iter().find(|service| service["name"] == "api"))
            .cloned()
    };
    let mut record = Value::Null;
    let recorded = wait_until(WAIT, || {
        record = read_record();
        recorded_api(&record).is_some_and(|api| api["pid"] == leader)
    });
    assert!(recorded, "api (PID {leader}) is not recorded: {record:#}");
    let recorded = recorded_api(&record).expect("api");
    let sentinel = sentinel_of(daemon).expect("the daemon's sentinel");
    assert!(send_signal(sentinel, "KILL") && send_signal(daemon, "KILL"));
    assert!(
        wait_until(WAIT, || has_exited(daemon) && has_exited(sentinel)),
        "the daemon or its sentinel outlived SIGKILL"
    );
    assert!(send_signal(leader, "KILL"), "kill -KILL {leader}");
    assert_all_gone(
        &project,
        WAIT,
        "after SIGKILL of the daemon, its sentinel and the leader",
    );
    let mut record = read_record();

    let stranger = Reaped(
        Command::new(python())
            .args(["-c", STRANGER])
            .current_dir(project.root())
            .env(MARK_VAR, &project.mark)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the stranger"),
    );
    let stranger_pid = i32::try_from(stranger.0.id()).expect("pid");
    assert!(
        wait_until(WAIT, || project.exists("stranger.ready")),
        "the stranger did not start"
    );
    let stranger_start = stat_field(stranger_pid, 22).expect("start time");
    assert_eq!(
        stat_field(stranger_pid, 5),
        Some(stranger_pid as u64),
        "pgid"
    );
    assert_ne!(recorded["start_time"], stranger_start);
    for service in record["services"].as_array_mut().expect("services") {
        if service["name"] == "api" {
            service["pid"] = stranger_pid.into();
            service["pgid"] = stranger_pid.into();
        }
    }
    fs::write(&state_file, record.to_string()).expect("rewrite state.json");

    // Any command recovers, and finds nothing of the dead daemon's left. It can know that only
    // where the run had a cgroup (its sentinel was killed too); otherwise it says what it
    // looked for.
    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 1, "{ps:#?}");
    let found_nothing = if record["cgroup"].is_null() {
        "no process carrying its run token is left"
    } else {
        "none of its processes is left"
    };
    assert!(
        ps.stderr.contains(&format!(
            "the previous daemon (PID {daemon}) ended without stopping its services; {found_nothing}"
        )),
        "{ps:#?}"
    );
    assert!(
        !project.exists("stranger.signals"),
        "the stranger got signals: {:?}",
        fs::read_to_string(project.path("stranger.signals"))
    );
    assert_eq!(
        stat_field(stranger_pid, 22),
        Some(stranger_start),
        "the stranger died"
    );
    let stranger_state = fs::read_to_string(format!("/proc/{stranger_pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ")?.1.chars().next())
        .expect("state");
    assert!(
        "SR".contains(stranger_state),
        "the stranger is {stranger_state}"
    );
    assert!(project_dir(&project).join("state.json.previous").exists());
    assert!(!state_file.exists());
    // Once is enough: the next command has nothing to recover, and the stranger still nothing.
    let again = project.run(&["ps"]);
    assert!(!again.stderr.contains("previous daemon"), "{again:#?}");
    assert!(!project.exists("stranger.signals"));
    drop(stranger);
}

// ---------------------------------------------------------------------------------------------
// A full disk.

/// Unmounts (lazily, so a busy mount never fails the cleanup) what the test mounted.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `mount ARGS`; the error output when it fails.
fn mount(args: &[&str], target: &Path) -> Result<(), String> {
    let output = Command::new("mount")
        .args(args)
        .arg(target)
        .output()
        .map_err(|error| format!("cannot run mount: {error}"))?;
    match output.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&output.stderr).trim().to_string()),
    }
}

/// Every file under `dir` whose name ends in `.tmp`.
fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(path),
                _ if path.to_string_lossy().ends_with(".tmp") => found.push(path),
                _ => {}
            }
        }
    }
    found
}

#[test]
fn a_full_disk_at_start_up_fails_cleanly_and_leaves_no_temporary_file() {
    let project = Project::new("[services.api]\ncommand = [\"sleep\", \"619\"]\n");
    let home = project.path("home");
    fs::create_dir(&home).expect("mkdir home");
    if let Err(error) = mount(&["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"], &home) {
        eprintln!(
            "SKIPPED a_full_disk_at_start_up_fails_cleanly_and_leaves_no_temporary_file: cannot \
             mount a tmpfs as the wrangle home (needs root or CAP_SYS_ADMIN): {error}"
        );
        return;
    }
    let _unmount = Unmount(home.clone());
    // Fill it: empty files and directories still fit, no byte of content does.
    let mut filler = fs::File::create(home.join("filler")).expect("create the filler");
    let _ = filler.write_all(&vec![b'x'; 128 * 1024]);
    drop(filler);
    for attempt in 0..3 {
        let up = project.run(&["up"]);
        assert_ne!(up.code, 0, "attempt {attempt}: {up:#?}");
        assert!(
            up.stderr.contains("No space left on device"),
            "attempt {attempt}: the error does not say why: {up:#?}"
        );
    }
    let left = temporary_files(&home);
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
    assert_no_survivors(&project.mark);
}

#[test]
fn a_full_log_disk_drops_and_counts_lines_and_supervision_goes_on() {
    // The log directory is a 1 MiB tmpfs and chatty writes 1.5 MB at once, then a line every
    // 20 ms: the disk is really full (ENOSPC), not merely unwritable.
    let chatty = "import sys, time\n\
                  line = 'z' * 999 + '\\n'\n\
                  sys.stdout.write(line * 1500)\n\
                  sys.stdout.flush()\n\
                  i = 0\n\
                  while True:\n    i += 1\n    print(f'tick {i}', flush=True)\n    time.sleep(0.02)\n";
    let project = Project::new(&format!(
        "[services.chatty]\ncommand = [\"{}\", \"-c\", {}]\n",
        python(),
        toml_str(chatty)
    ));
    // Any command creates the project's private directory.
    assert_eq!(project.run(&["ps"]).code, 1);
    let logs = project_dir(&project).join("logs");
    fs::create_dir(&logs).expect("mkdir logs");
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o700)).expect("chmod logs");
    if let Err(error) = mount(&["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"], &logs) {
        eprintln!(
            "SKIPPED a_full_log_disk_drops_and_counts_lines_and_supervision_goes_on: cannot mount \
             a tmpfs on the log directory (needs root or CAP_SYS_ADMIN): {error}"
        );
        return;
    }
    // Declared after the mount guard: the daemon is stopped before the unmount.
    let _unmount = Unmount(logs.clone());
    let _guard = DaemonGuard::new(&project);
    let (daemon, _) = up_detached(&project, &[]);

    let mut json = Value::Null;
    let full = wait_until(WAIT, || {
        json = status(&project);
        let chatty = service(&json, "chatty");
        chatty["log_error"].is_string() && chatty["log_lines_dropped"].as_u64().unwrap_or(0) > 0
    });
    assert!(full, "no log trouble reported: {json:#}");
    let dropped = service(&json, "chatty")["log_lines_dropped"]
        .as_u64()
        .expect("count");
    assert_eq!(state(&json, "chatty"), "running", "{json:#}");
    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 0, "{ps:#?}");
    assert!(
        ps.stdout.contains("chatty: cannot write its log file"),
        "{ps:#?}"
    );

    // Supervision goes on: a restart works, and the lines of the new process are counted too.
    let before = pid(&json, "chatty").expect("pid");
    let restart = project.run(&["restart", "chatty"]);
    assert_eq!(restart.code, 0, "{restart:#?}");
    let mut json = status(&project);
    assert_eq!(state(&json, "chatty"), "running", "{json:#}");
    assert_eq!(service(&json, "chatty")["restarts"], 1, "{json:#}");
    let after = pid(&json, "chatty").expect("pid");
    assert_ne!(after, before);
    assert!(is_ours(&project, after) && !is_ours(&project, before));
    assert!(
        wait_until(WAIT, || {
            json = status(&project);
            service(&json, "chatty")["log_lines_dropped"]
                .as_u64()
                .is_some_and(|now| now > dropped)
        }),
        "the count of dropped lines does not grow: {json:#}"
    );
    assert_eq!(json["daemon_pid"], daemon);

    // Room again: the error clears and new lines reach the file. A write cut short by ENOSPC
    // leaves a torn piece of output without its index record (documented in logs::writer):
    // its line runs on into the next one written, so lines are read leniently here, and the
    // torn ones checked below.
    let lines = || log_file_lines_in(&project_dir(&project).join("logs"), "chatty");
    let is_tick = |text: &str| {
        text.strip_prefix("tick ")
            .is_some_and(|number| number.parse::<u64>().is_ok())
    };
    let ticks = || {
        lines()
            .iter()
            .filter(|(_, line)| is_tick(&line.text))
            .count()
    };
    let ticks_while_full = ticks();
    mount(&["-o", "remount,size=64m"], &logs).expect("grow the tmpfs");
    assert!(
        wait_until(WAIT, || {
            service(&status(&project), "chatty")["log_error"].is_null()
        }),
        "the log error did not clear: {:#}",
        status(&project)
    );
    assert!(
        wait_until(WAIT, || ticks() > ticks_while_full + 5),
        "no new line reached the log file after the disk had room again"
    );
    // Torn lines: a few at most (one per failed write), and the file goes on with whole,
    // timed lines after them.
    let lines = lines();
    let torn: Vec<&String> = lines
        .iter()
        .map(|(_, line)| &line.text)
        .filter(|text| !is_tick(text) && !text.bytes().all(|byte| byte == b'z'))
        .collect();
    assert!(torn.len() <= 3, "{} torn lines: {torn:?}", torn.len());
    assert!(
        lines
            .last()
            .is_some_and(|(_, line)| is_tick(&line.text) && line.time.is_some() && !line.partial),
        "the log does not end with a whole, timed line: {:?}",
        &lines[lines.len().saturating_sub(3)..]
    );
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

// ---------------------------------------------------------------------------------------------
// Crowds.

#[test]
fn two_hundred_services_start_and_stop_in_one_go() {
    const SERVICES: usize = 200;
    let config: String = (0..SERVICES)
        .map(|n| {
            format!(
                "[services.s{n}]\ncommand = [\"sleep\", \"{}\"]\n\n",
                1000 + n
            )
        })
        .collect();
    let project = Project::new(&config);
    let _guard = DaemonGuard::new(&project);
    let up = run_unswept_within(&project, &["up", "-d"], Duration::from_secs(60));
    assert_eq!(up.code, 0, "{up:#?}");
    assert!(
        up.stdout
            .lines()
            .map(normalize)
            .any(|line| line.starts_with(&format!("wrangle * all {SERVICES} services up in"))),
        "{up:#?}"
    );
    let json = status(&project);
    let services = json["services"].as_array().expect("services");
    assert_eq!(services.len(), SERVICES);
    let running: Vec<(i32, String)> = survivors(&project.mark);
    let mut pids = HashSet::new();
    for n in 0..SERVICES {
        let name = format!("s{n}");
        assert_eq!(state(&json, &name), "running", "{name}: {json:#}");
        let pid = pid(&json, &name).unwrap_or_else(|| panic!("no pid for {name}"));
        let command = format!("sleep {}", 1000 + n);
        assert!(
            running.iter().any(|(p, c)| *p == pid && *c == command),
            "{name} (PID {pid}) does not run `{command}`"
        );
        assert!(pids.insert(pid), "PID {pid} twice");
    }

    let down = run_unswept_within(&project, &["down"], Duration::from_secs(60));
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

/// Starts `wrangle ARGS` with its output piped, for many at once.
fn spawn_client(project: &Project, args: &[&str]) -> Child {
    let mut command = project.command(args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.spawn().expect("spawn wrangle")
}

#[test]
fn a_thousand_parallel_cli_calls_are_all_answered_and_leak_no_descriptor() {
    const BURSTS: usize = 10;
    const CALLS: usize = 100;
    let project = Project::new(
        r#"
[services.api]
command = ["sleep", "618"]

[services.worker]
command = ["sh", "-c", "while :; do echo working; sleep 0.1; done"]
"#,
    );
    let _guard = DaemonGuard::new(&project);
    let (daemon, _) = up_detached(&project, &[]);
    status(&project);
    let fds_before = fd_count(daemon);

    for burst in 0..BURSTS {
        let mut children: Vec<Child> = (0..CALLS)
            .map(|_| spawn_client(&project, &["ps", "--json"]))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut statuses = vec![None; CALLS];
        while statuses.iter().any(Option::is_none) && Instant::now() < deadline {
            for (child, status) in children.iter_mut().zip(statuses.iter_mut()) {
                if status.is_none() {
                    *status = child.try_wait().expect("try_wait");
                }
            }
            thread::sleep(Duration::from_millis(10));
        }
        for (call, (child, status)) in children.iter_mut().zip(&statuses).enumerate() {
            let Some(status) = status else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("burst {burst}, call {call}: `ps --json` did not finish within 30 s");
            };
            let mut stdout = String::new();
            let mut stderr = String::new();
            let _ = child
                .stdout
                .take()
                .expect("stdout")
                .read_to_string(&mut stdout);
            let _ = child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut stderr);
            assert!(
                status.success(),
                "burst {burst}, call {call}: {status}: {stderr}"
            );
            let json: Value = serde_json::from_str(&stdout)
                .unwrap_or_else(|error| panic!("burst {burst}, call {call}: {error}: {stdout}"));
            assert_eq!(json["daemon_pid"], daemon, "{json:#}");
            assert_eq!(json["services"].as_array().map(Vec::len), Some(2));
        }
    }

    // Every connection was closed again: the daemon holds as many descriptors as before.
    let mut fds_after = fd_count(daemon);
    let settled = wait_until(WAIT, || {
        fds_after = fd_count(daemon);
        fds_after <= fds_before
    });
    assert!(
        settled,
        "the daemon held {fds_before} descriptors before {} calls and {fds_after} after",
        BURSTS * CALLS
    );
    assert_eq!(state(&status(&project), "worker"), "running");
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

/// Opens `COUNT` TCP connections to `127.0.0.1:PORT` that each send half a request and then
/// stall, for `SECONDS`; a connection the server closes or answers is replaced at once. Prints
/// `opened N` (connections that sent their half request so far) about once a second. As root it
/// first becomes `nobody`: the attacker is another user, as in the issue.
const HALF_REQUEST_ATTACKER: &str = r#"
import errno, os, select, socket, sys, time
port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
if os.geteuid() == 0:
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
HALF = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
poller = select.poll()
sockets = {}
opened = 0
deadline = time.monotonic() + seconds
next_report = time.monotonic() + 0.5
while time.monotonic() < deadline:
    for _ in range(100):
        if len(sockets) >= count:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if s.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
            s.close()
            break
        sockets[s.fileno()] = [s, False]
        poller.register(s.fileno(), select.POLLOUT)
    for fd, events in poller.poll(50):
        s, sent = sockets[fd]
        if not sent and events & select.POLLOUT and not events & (select.POLLERR | select.POLLHUP):
            try:
                s.send(HALF)
                sockets[fd][1] = True
                opened += 1
                poller.modify(fd, select.POLLIN)
                continue
            except OSError:
                pass
        poller.unregister(fd)
        del sockets[fd]
        s.close()
    if time.monotonic() >= next_report:
        print("opened", opened, flush=True)
        next_report = time.monotonic() + 1
"#;

/// Kills and reaps the attackers however the test ends.
struct Attackers(Vec<Child>);

impl Drop for Attackers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// GET /metrics on a fresh connection: whether the answer is a 200.
fn scrape_ok(port: u16) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200")
}

#[test]
fn another_user_holding_half_requests_on_the_metrics_port_starves_neither_supervision_nor_ps() {
    const ATTACKERS: usize = 2;
    const CONNECTIONS_EACH: usize = 550;
    const ATTACK: Duration = Duration::from_secs(9);
    let metrics_port = crate::support::free_port();
    let project = Project::new(&format!(
        r#"
[metrics]
listen = "127.0.0.1:{metrics_port}"

[services.crashy]
command = ["sh", "-c", "sleep 0.3; exit 1"]
restart = "always"
backoff_initial = "100ms"
backoff_max = "200ms"
max_restarts = 100000
restart_window = "10s"
"#
    ));
    let _guard = DaemonGuard::new(&project);
    // Soft and hard limit 1024, as in the report (the daemon cannot raise it).
    let up = project.run_command_unswept(
        project.command_through(&["prlimit", "--nofile=1024:1024", "--"], &["up", "-d"]),
    );
    assert_eq!(up.code, 0, "{up:#?}");
    let daemon = crate::support::background_pid(&up.stdout)
        .unwrap_or_else(|| panic!("no daemon pid: {up:#?}"));
    let restarts = |status: &Value| service(status, "crashy")["restarts"].as_u64().unwrap_or(0);
    let mut last = Value::Null;
    assert!(
        wait_until(WAIT, || {
            last = status(&project);
            restarts(&last) >= 2
        }),
        "crashy is not restarting: {last:#}"
    );
    let fds_before = fd_count(daemon);

    let mut attackers = Attackers(Vec::new());
    for _ in 0..ATTACKERS {
        let child = Command::new(python())
            .args(["-c", HALF_REQUEST_ATTACKER])
            .arg(metrics_port.to_string())
            .arg(CONNECTIONS_EACH.to_string())
            .arg(ATTACK.as_secs_f64().to_string())
            .env(MARK_VAR, &project.mark)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the attacker");
        attackers.0.push(child);
    }
    // Each attacker reports after its first half second (and exits by itself after ATTACK).
    for attacker in &mut attackers.0 {
        let mut line = String::new();
        let stdout = attacker.stdout.as_mut().expect("piped stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("read the attacker's report");
        assert!(line.starts_with("opened"), "attacker: {line:?}");
    }

    // While the attack lasts: `ps` answers every time, the daemon keeps descriptors free, and
    // the crashing service keeps being restarted.
    let attack_started = Instant::now();
    let first = status(&project);
    let mut calls = 0;
    let mut most_fds = 0;
    while attack_started.elapsed() < ATTACK - Duration::from_secs(2) {
        let ps = project.run(&["ps", "--json"]);
        assert_eq!(
            ps.code,
            0,
            "`ps` failed during the attack (daemon fds: {}): {ps:#?}",
            fd_count(daemon)
        );
        last = serde_json::from_str(&ps.stdout).expect("ps --json is JSON");
        assert_ne!(state(&last, "crashy"), "failed", "{last:#}");
        most_fds = most_fds.max(fd_count(daemon));
        calls += 1;
    }
    assert!(
        most_fds < 1024 - 64,
        "the daemon held {most_fds} of its 1024 descriptors during the attack (before: {fds_before})"
    );
    assert!(
        restarts(&last) >= restarts(&first) + 3,
        "crashy was restarted only {} times in {calls} calls during the attack: {last:#}",
        restarts(&last) - restarts(&first)
    );
    drop(attackers);

    // Afterwards the endpoint serves again and every attacker's descriptor is given back.
    assert!(
        wait_until(WAIT, || scrape_ok(metrics_port)),
        "the metrics endpoint does not answer after the attack"
    );
    let mut fds_after = 0;
    assert!(
        wait_until(WAIT, || {
            fds_after = fd_count(daemon);
            fds_after <= fds_before + 8
        }),
        "the daemon holds {fds_after} descriptors after the attack, {fds_before} before"
    );
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

/// The soft and hard "Max open files" of a process, from `/proc/PID/limits`.
fn open_files_limits(pid: i32) -> (String, String) {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("no Max open files in {limits}"));
    let mut fields = line["Max open files".len()..].split_whitespace();
    let soft = fields.next().unwrap_or_default().to_string();
    let hard = fields.next().unwrap_or_default().to_string();
    (soft, hard)
}

#[test]
fn the_daemon_raises_its_descriptor_limit_and_its_services_keep_the_one_wrangle_was_given() {
    let project = Project::new(
        r#"
[services.api]
command = ["sleep", "617"]
"#,
    );
    let _guard = DaemonGuard::new(&project);
    let up = project.run_command_unswept(
        project.command_through(&["prlimit", "--nofile=1024:4096", "--"], &["up", "-d"]),
    );
    assert_eq!(up.code, 0, "{up:#?}");
    let daemon = crate::support::background_pid(&up.stdout)
        .unwrap_or_else(|| panic!("no daemon pid: {up:#?}"));
    let status = wait_states(&project, &[("api", "running")]);
    let api = pid(&status, "api").expect("api's pid");
    assert_eq!(open_files_limits(daemon), ("4096".into(), "4096".into()));
    assert_eq!(open_files_limits(api), ("1024".into(), "4096".into()));
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

/// The daemon's peak resident memory must stay under this with [`STALLED_FOLLOWERS`] log
/// followers that never read while a service floods its output.
const STALLED_FOLLOWER_PEAK_KB: u64 = 64 * 1024;
const STALLED_FOLLOWERS: usize = 50;

#[test]
fn fifty_stalled_log_followers_leave_the_daemon_small_and_responsive() {
    // 16 KiB lines as fast as python writes them.
    let flood = "import sys\n\
                 block = ('x' * 16383 + '\\n') * 16\n\
                 while True:\n    sys.stdout.write(block)\n    sys.stdout.flush()\n";
    // Files that do not rotate while the followers come: a tail read that races a rotation is
    // repeated and may come back empty, and each follower must get a whole tail here.
    let project = Project::new(&format!(
        "[logs]\nmax_file_size = \"1GiB\"\nbudget = \"1GiB\"\n\n\
         [services.flood]\ncommand = [\"{}\", \"-c\", {}]\n",
        python(),
        toml_str(flood)
    ));
    let _guard = DaemonGuard::new(&project);
    let (daemon, _) = up_detached(&project, &[]);
    let socket = control_socket(&project);
    // The bytes flood has logged; 0 while the daemon does not answer (that is checked below).
    let logged = |project: &Project| {
        let ps = project.run(&["ps", "--json"]);
        serde_json::from_str::<Value>(&ps.stdout)
            .ok()
            .and_then(|json| service(&json, "flood")["log_bytes"].as_u64())
            .unwrap_or(0)
    };
    // Its file is open (the writer opens it at the first output) before the fds are counted.
    assert!(wait_until(WAIT, || logged(&project) > 0), "nothing logged");
    let before = logged(&project);
    let fds_before = fd_count(daemon);

    // Followers that send their request, read the first bytes of the answer (so the daemon has
    // read their tails: it answers after), and never read again.
    let request = b"GET /v1/logs?follow=true&n=10000 HTTP/1.1\r\nHost: wrangle\r\n\r\n";
    let followers: Vec<UnixStream> = (0..STALLED_FOLLOWERS)
        .map(|_| {
            let mut stream = connect(&socket);
            stream.write_all(request).expect("send the request");
            let mut first = [0u8; 64];
            let read = stream
                .read(&mut first)
                .expect("the first bytes of the answer");
            assert!(
                first[..read].starts_with(b"HTTP/1.1 200"),
                "{:?}",
                String::from_utf8_lossy(&first[..read])
            );
            stream
        })
        .collect();

    // Far more output than the followers could hold between them within the bound, unless
    // each is bounded: 256 MiB at 16 KiB a line.
    let mut peak = 0;
    let mut flowed = 0;
    let enough = wait_until(Duration::from_secs(120), || {
        // VmRSS too: VmHWM misses peaks the kernel gave back by `madvise`.
        let now = status_kb(daemon, "VmHWM").max(status_kb(daemon, "VmRSS"));
        peak = peak.max(now.unwrap_or(0));
        flowed = logged(&project).saturating_sub(before);
        // Stop early when the bound is broken: an unbounded daemon would take the machine.
        peak >= STALLED_FOLLOWER_PEAK_KB || flowed >= 256 * 1024 * 1024
    });
    eprintln!(
        "peak RSS {peak} kB with {STALLED_FOLLOWERS} stalled followers, {flowed} bytes logged"
    );
    assert!(
        peak < STALLED_FOLLOWER_PEAK_KB,
        "the daemon's peak RSS reached {peak} kB with {STALLED_FOLLOWERS} stalled followers \
         ({flowed} bytes logged meanwhile)"
    );
    assert!(enough, "the service logged only {flowed} bytes in 120 s");
    assert_responsive(&project, daemon, "stalled followers");
    assert_eq!(state(&status(&project), "flood"), "running");

    // They leave: their memory and their places are returned, and a new follower is served.
    drop(followers);
    let fds_settled = wait_until(WAIT, || fd_count(daemon) <= fds_before);
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{daemon}/fd"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| format!("{:?}", std::fs::read_link(entry.path())))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        fds_settled,
        "the daemon holds {} fds, {fds_before} before the followers came: {fds:?}",
        fd_count(daemon)
    );
    let rss = status_kb(daemon, "VmRSS").expect("the daemon's VmRSS");
    assert!(
        rss < STALLED_FOLLOWER_PEAK_KB,
        "VmRSS {rss} kB after the followers left"
    );
    let mut follower = connect(&socket);
    follower.write_all(request).expect("send the request");
    let mut answer = vec![0u8; 64 * 1024];
    let mut read = 0;
    let served = wait_until(WAIT, || {
        if let Ok(n) = follower.read(&mut answer[read..]) {
            read += n;
        }
        let text = String::from_utf8_lossy(&answer[..read]);
        text.starts_with("HTTP/1.1 200") && text.contains("event: line")
    });
    assert!(
        served,
        "a new follower got: {:?}",
        String::from_utf8_lossy(&answer[..read.min(300)])
    );
    drop(follower);
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

// ---------------------------------------------------------------------------------------------
// Hostile bytes on the control socket.

fn connect(socket: &Path) -> UnixStream {
    let stream = UnixStream::connect(socket)
        .unwrap_or_else(|error| panic!("connect {}: {error}", socket.display()));
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream.set_write_timeout(Some(WAIT)).expect("write timeout");
    stream
}

/// The status code and body of a raw HTTP/1.1 response (None when there is none).
fn parse_response(bytes: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Sends `request` whole and reads the answer until the daemon closes the connection.
fn exchange(socket: &Path, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(socket);
    // The daemon may answer and close before it read everything (a 431 for huge headers).
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    // A reset after the answer (the daemon closed with unread bytes) still leaves the answer.
    let _ = stream.read_to_end(&mut response);
    response
}

/// A `Connection: close` request with `body`.
fn http_request(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: wrangle\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// Asserts that `response` is `code` with an `ApiError` body; returns its message.
fn assert_api_error(response: &[u8], code: u16, what: &str) -> String {
    let (status, body) = parse_response(response).unwrap_or_else(|| {
        panic!(
            "{what}: no HTTP response: {:?}",
            String::from_utf8_lossy(response)
        )
    });
    assert_eq!(status, code, "{what}: {body}");
    let json: Value = serde_json::from_str(&body)
        .unwrap_or_else(|error| panic!("{what}: the error is not JSON ({error}): {body}"));
    assert!(json["code"].is_string(), "{what}: {json}");
    json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error message: {json}"))
        .to_string()
}

/// The daemon is the same process as before and answers `ps`.
fn assert_responsive(project: &Project, daemon: i32, after: &str) {
    let ps = project.run(&["ps", "--json"]);
    assert_eq!(ps.code, 0, "after {after}: {ps:#?}");
    let json: Value = serde_json::from_str(&ps.stdout).expect("JSON");
    assert_eq!(json["daemon_pid"], daemon, "after {after}: {json:#}");
}

/// Sends a 64 MiB body (announced with `Content-Length`, or chunked) to `POST /v1/actions` from
/// another thread, and reads the answer meanwhile.
fn send_huge_body(socket: &Path, chunked: bool) -> Vec<u8> {
    const HUGE: usize = 64 * 1024 * 1024;
    let mut stream = connect(socket);
    let framing = match chunked {
        true => "Transfer-Encoding: chunked".to_string(),
        false => format!("Content-Length: {HUGE}"),
    };
    let head = format!(
        "POST /v1/actions HTTP/1.1\r\nHost: wrangle\r\nContent-Type: application/json\r\n\
         {framing}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("write the head");
    let mut writer = stream.try_clone().expect("clone the stream");
    let sender = thread::spawn(move || {
        let piece = vec![b' '; 1024 * 1024];
        for _ in 0..HUGE / piece.len() {
            let written = match chunked {
                true => writer
                    .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .and_then(|()| writer.write_all(&piece))
                    .and_then(|()| writer.write_all(b"\r\n")),
                false => writer.write_all(&piece),
            };
            // The daemon answered and closed: the rest is refused, as it should be.
            if written.is_err() {
                return;
            }
        }
    });
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    // Unblock the writer if it is still stuck in a write the daemon never reads.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    response
}

#[test]
fn bad_input_on_the_control_socket_gets_clear_errors_and_the_daemon_stays_up() {
    let project = Project::new("[services.api]\ncommand = [\"sleep\", \"619\"]\n");
    let _guard = DaemonGuard::new(&project);
    let (daemon, _) = up_detached(&project, &[]);
    let socket = control_socket(&project);

    // Malformed JSON, JSON of the wrong shape, bytes that are not UTF-8: 400 with the reason.
    for (body, what) in [
        (&b"{\"action\": \"start\", "[..], "truncated JSON"),
        (b"{\"action\": \"explode\"}", "an unknown action"),
        (b"[1, 2, 3]", "an array"),
        (b"\xff\xfe{}", "bytes that are not UTF-8"),
        (b"", "an empty body"),
    ] {
        let response = exchange(&socket, &http_request("POST", "/v1/actions", body));
        let message = assert_api_error(&response, 400, what);
        assert!(message.contains("malformed JSON body"), "{what}: {message}");
    }
    // The right shape, an unknown service: 404.
    let response = exchange(
        &socket,
        &http_request(
            "POST",
            "/v1/actions",
            b"{\"action\": \"restart\", \"services\": [\"nope\"]}",
        ),
    );
    assert_api_error(&response, 404, "an unknown service");
    // Unknown routes and wrong methods.
    for (method, path, code) in [
        ("GET", "/v1/nope", 404),
        ("GET", "/", 404),
        ("GET", "/v2/status", 404),
        ("GET", &format!("/v1/{}", "x".repeat(4000)), 404),
        ("DELETE", "/v1/status", 405),
        ("GET", "/v1/actions", 405),
    ] {
        let response = exchange(&socket, &http_request(method, path, b""));
        assert_api_error(
            &response,
            code,
            &format!("{method} {}", &path[..path.len().min(20)]),
        );
    }
    assert_responsive(&project, daemon, "malformed requests");

    // Huge bodies are refused with 413 without being read: the daemon's memory does not grow
    // by anything like the 64 MiB sent.
    let peak_before = status_kb(daemon, "VmHWM").expect("VmHWM of the daemon");
    for chunked in [false, true] {
        let response = send_huge_body(&socket, chunked);
        let message = assert_api_error(&response, 413, "a 64 MiB body");
        assert!(message.contains("larger than"), "{message}");
    }
    let peak_after = status_kb(daemon, "VmHWM").expect("VmHWM of the daemon");
    eprintln!("daemon peak RSS: {peak_before} kB before two 64 MiB bodies, {peak_after} kB after");
    assert!(
        peak_after - peak_before < 16 * 1024,
        "the daemon's peak RSS grew from {peak_before} kB to {peak_after} kB"
    );
    assert_responsive(&project, daemon, "huge bodies");

    // Slow and idle clients: 50 connections that never send a byte, one that sends its headers
    // a byte at a time and then stalls, one that stalls in its body. The daemon answers others
    // meanwhile and closes each of them after its timeout.
    let fds_before = fd_count(daemon);
    let idle: Vec<UnixStream> = (0..50).map(|_| connect(&socket)).collect();
    let mut slow_headers = connect(&socket);
    for byte in b"GET /v1/status HTTP/1.1\r\nHost: wrangle\r\nX-Slow: " {
        slow_headers.write_all(&[*byte]).expect("write a byte");
        thread::sleep(Duration::from_millis(5));
    }
    let mut slow_body = connect(&socket);
    slow_body
        .write_all(
            b"POST /v1/actions HTTP/1.1\r\nHost: wrangle\r\nContent-Length: 100\r\n\r\n{\"act",
        )
        .expect("write");
    assert!(
        fd_count(daemon) >= fds_before + 50,
        "the connections did not reach the daemon"
    );

    // Meanwhile, bytes that are not HTTP, each on its own connection: at most a 4xx answer, and
    // the connection is closed (at once, or by the header timeout for those that never make a
    // whole request head).
    let long_header = format!(
        "GET /v1/status HTTP/1.1\r\nHost: wrangle\r\nX-Long: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let garbage: Vec<Vec<u8>> = vec![
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        b"\r\n\r\n\r\n".to_vec(),
        b"GET /v1/status HTTP/9.9\r\n\r\n".to_vec(),
        b"GET /v1/status HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_vec(),
        b"POST /v1/actions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        long_header.into_bytes(),
        vec![0u8; 4096],
    ];
    let exchanges: Vec<_> = garbage
        .into_iter()
        .map(|bytes| {
            let socket = socket.clone();
            thread::spawn(move || {
                let mut stream = connect(&socket);
                let _ = stream.write_all(&bytes);
                let mut response = Vec::new();
                let read = stream.read_to_end(&mut response);
                (bytes, read.map(|_| ()), response)
            })
        })
        .collect();
    for _ in 0..3 {
        assert_responsive(&project, daemon, "stalled connections and garbage");
    }
    for exchange in exchanges {
        let (bytes, read, response) = exchange.join().expect("exchange thread");
        let what = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
        if let Err(error) = read {
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::ConnectionReset,
                "{what:?}: the connection was not closed: {error}"
            );
        }
        if let Some((code, _)) = parse_response(&response) {
            assert!((400..500).contains(&code), "{what:?} was answered {code}");
        }
    }

    let stalled_at = Instant::now();
    let mut response = Vec::new();
    slow_body
        .read_to_end(&mut response)
        .expect("the stalled body is answered");
    let message = assert_api_error(&response, 408, "a stalled body");
    assert!(message.contains("did not arrive within"), "{message}");
    for (n, mut stream) in idle.into_iter().chain([slow_headers]).enumerate() {
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(error) => panic!(
                "stalled connection {n} was not closed {:?} after it stalled: {error}",
                stalled_at.elapsed()
            ),
        }
        assert!(
            rest.is_empty() || parse_response(&rest).is_some_and(|(code, _)| code == 408),
            "{:?}",
            String::from_utf8_lossy(&rest)
        );
    }
    let mut fds_after = fd_count(daemon);
    assert!(
        wait_until(WAIT, || {
            fds_after = fd_count(daemon);
            fds_after <= fds_before
        }),
        "the daemon holds {fds_after} descriptors, {fds_before} before the stalled connections"
    );
    assert_responsive(&project, daemon, "the stalled connections were closed");
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

// ---------------------------------------------------------------------------------------------
// Random configuration files.

/// xorshift64*: a seeded generator, so a failing case can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Every key wrangle.toml knows, wherever it belongs (a generator that puts them anywhere also
/// tests that misplaced keys are reported where they are).
const CONFIG_KEYS: &[&str] = &[
    "command",
    "shell",
    "cwd",
    "env",
    "env_file",
    "port",
    "depends_on",
    "ready",
    "restart",
    "backoff_initial",
    "backoff_max",
    "max_restarts",
    "restart_window",
    "stop_signal",
    "stop_timeout",
    "max_file_size",
    "keep_files",
    "budget",
    "http",
    "tcp",
    "exec",
    "log",
    "notify",
    "interval",
    "timeout",
    "condition",
    "services",
    "defaults",
    "logs",
];

const NEAR_KEYS: &[&str] = &[
    "comand",
    "Command",
    "dependson",
    "readyy",
    "stop-signal",
    "x",
];

const SERVICE_NAMES: &[&str] = &["a", "b", "web", "api", "db", "wrangle", "a.b", "-", "1"];

/// Strings a config is made of: commands, durations, sizes, signals, policies, conditions,
/// URLs, addresses, regexes, paths, names.
const CONFIG_STRINGS: &[&str] = &[
    "sleep 1",
    "echo $PORT; exit 1",
    "10s",
    "500ms",
    "0s",
    "-1s",
    "1 h",
    "99999999999999999999s",
    "forever",
    "10MiB",
    "500KB",
    "1GiB",
    "0",
    "-5MiB",
    "18446744073709551616B",
    "SIGTERM",
    "TERM",
    "sigkill",
    "SIGFOO",
    "9",
    "never",
    "on-failure",
    "always",
    "started",
    "ready",
    "completed",
    "http://127.0.0.1:8080/health",
    "https://example.com/",
    "http://[::1]:99999/",
    "ftp://x",
    "127.0.0.1:80",
    "localhost",
    "ready in \\d+ms",
    "(unclosed",
    "",
    " ",
    ".",
    "..",
    "/",
    "/nonexistent",
    ".env",
    "missing.env",
    "dir",
    "a",
    "b",
    "web",
];

/// Characters that break naive code: quotes, escapes, multi-byte and zero-width characters,
/// bidirectional overrides, combining marks, emoji sequences, controls.
const ODD_CHARS: &[char] = &[
    'a',
    'Z',
    '0',
    ' ',
    '"',
    '\'',
    '\\',
    '\n',
    '\t',
    '\r',
    '=',
    '[',
    ']',
    '{',
    '}',
    '#',
    '.',
    ',',
    'é',
    'ß',
    'İ',
    '中',
    '文',
    '🦀',
    '👩',
    '\u{200d}',
    '\u{202e}',
    '\u{0301}',
    '\u{200b}',
    '\u{feff}',
    '\u{10ffff}',
    '\u{7f}',
    '\u{1}',
    '\u{fffd}',
];

fn odd_string(rng: &mut Rng) -> String {
    (0..rng.below(12)).map(|_| rng.pick(ODD_CHARS)).collect()
}

/// A key as TOML writes it: bare when it can be, quoted otherwise.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
    match bare {
        true => key.to_string(),
        false => toml_str(key),
    }
}

fn random_key(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => toml_key(rng.pick(NEAR_KEYS)),
        1 => toml_key(&odd_string(rng)),
        2 => format!("{}.{}", rng.pick(CONFIG_KEYS), rng.pick(CONFIG_KEYS)),
        _ => rng.pick(CONFIG_KEYS).to_string(),
    }
}

fn random_name(rng: &mut Rng) -> String {
    match rng.chance(85) {
        true => toml_key(rng.pick(SERVICE_NAMES)),
        false => toml_key(&odd_string(rng)),
    }
}

/// A TOML value of a random type, nested up to a few levels.
fn random_value(rng: &mut Rng, depth: usize) -> String {
    let kinds = if depth >= 3 { 6 } else { 9 };
    match rng.below(kinds) {
        0 | 1 => toml_str(rng.pick(CONFIG_STRINGS)),
        2 => toml_str(&odd_string(rng)),
        3 => rng
            .pick(&[
                "0",
                "1",
                "-1",
                "80",
                "8080",
                "65535",
                "65536",
                "9223372036854775807",
                "-9223372036854775808",
                "0x1F",
                "1_000",
                "0.5",
                "-0.0",
                "inf",
                "nan",
                "1e300",
            ])
            .to_string(),
        4 => rng.pick(&["true", "false"]).to_string(),
        5 => rng
            .pick(&["1979-05-27T07:32:00Z", "1979-05-27", "07:32:00"])
            .to_string(),
        6 | 7 => {
            let items: Vec<String> = (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect();
            format!("[{}]", items.join(", "))
        }
        _ => {
            let pairs: Vec<String> = (0..rng.below(4))
                .map(|_| {
                    let key = match rng.chance(50) {
                        true => random_key(rng),
                        false => random_name(rng),
                    };
                    format!("{key} = {}", random_value(rng, depth + 1))
                })
                .collect();
            format!("{{ {} }}", pairs.join(", "))
        }
    }
}

/// A value shaped for `key`, so that many documents get past the types into the deeper checks.
fn shaped_value(rng: &mut Rng, key: &str) -> String {
    let names = |rng: &mut Rng| -> String {
        let names: Vec<String> = (0..rng.below(3))
            .map(|_| toml_str(rng.pick(SERVICE_NAMES)))
            .collect();
        format!("[{}]", names.join(", "))
    };
    match key {
        "command" if rng.chance(50) => {
            format!("[\"sleep\", {}]", toml_str(rng.pick(CONFIG_STRINGS)))
        }
        "port" => rng
            .pick(&["0", "80", "8080", "65535", "[8080, 8081]", "[]"])
            .to_string(),
        "depends_on" if rng.chance(50) => names(rng),
        "depends_on" => format!(
            "{{ {} = {} }}",
            random_name(rng),
            toml_str(rng.pick(&["started", "ready", "completed", "healthy"]))
        ),
        "ready" => format!(
            "{{ {} = {}, timeout = {} }}",
            rng.pick(&["http", "tcp", "exec", "log", "notify"]),
            random_value(rng, 2),
            toml_str(rng.pick(CONFIG_STRINGS))
        ),
        "env" => format!("{{ {} = {} }}", random_key(rng), random_value(rng, 2)),
        "shell" => rng.pick(&["true", "false"]).to_string(),
        "max_restarts" | "keep_files" | "tcp" => {
            rng.pick(&["0", "3", "-1", "8080", "70000"]).to_string()
        }
        _ => toml_str(rng.pick(CONFIG_STRINGS)),
    }
}

/// A value of the right type for a service key, usually a valid one.
fn plausible_value(rng: &mut Rng, key: &str, names: &[&str]) -> String {
    let duration = |rng: &mut Rng| toml_str(rng.pick(&["1s", "500ms", "2m", "0s", "1h"]));
    match key {
        "command" => match rng.below(3) {
            0 => "[\"sleep\", \"1\"]".to_string(),
            1 => toml_str(rng.pick(&["sleep 1", "./serve --port $PORT", "echo 'a b'"])),
            _ => format!("[\"echo\", {}]", toml_str(&odd_string(rng))),
        },
        "shell" => rng.pick(&["true", "false"]).to_string(),
        "cwd" => toml_str(rng.pick(&["dir", ".", "dir/..", "missing"])),
        "env" => format!("{{ {} = {} }}", random_key(rng), toml_str(&odd_string(rng))),
        "env_file" => toml_str(rng.pick(&[".env", "missing.env"])),
        "port" => rng.pick(&["8080", "8081", "[9000, 9001]", "0"]).to_string(),
        "depends_on" => {
            let chosen: Vec<String> = (0..rng.below(3))
                .map(|_| toml_str(rng.pick(names)))
                .collect();
            match rng.chance(70) {
                true => format!("[{}]", chosen.join(", ")),
                false => format!(
                    "{{ {} = {} }}",
                    rng.pick(names),
                    toml_str(rng.pick(&["started", "ready", "completed"]))
                ),
            }
        }
        "ready" => rng
            .pick(&[
                "{ tcp = 8080 }",
                "{ log = \"ready in \\\\d+ms\" }",
                "{ http = \"http://127.0.0.1:8080/health\", timeout = \"5s\" }",
                "{ exec = \"true\", interval = \"100ms\" }",
                "{ notify = true }",
            ])
            .to_string(),
        "restart" => toml_str(rng.pick(&["never", "on-failure", "always"])),
        "max_restarts" => rng.pick(&["0", "3", "10"]).to_string(),
        "stop_signal" => toml_str(rng.pick(&["SIGTERM", "INT", "SIGQUIT", "KILL"])),
        _ => duration(rng),
    }
}

/// A document close to a valid one: services with the keys they may have and values of the
/// right types (a few of them wrong), with `[defaults]` and `[logs]` now and then.
fn plausible_config(rng: &mut Rng) -> String {
    const NAMES: &[&str] = &["a", "b", "web", "api", "db"];
    const OPTIONAL: &[&str] = &[
        "shell",
        "cwd",
        "env",
        "env_file",
        "port",
        "depends_on",
        "ready",
        "restart",
        "backoff_initial",
        "backoff_max",
        "max_restarts",
        "restart_window",
        "stop_signal",
        "stop_timeout",
    ];
    let services = &NAMES[..1 + rng.below(NAMES.len())];
    let mut text = String::new();
    if rng.chance(30) {
        text.push_str("[defaults]\n");
        let key = rng.pick(&["restart", "stop_timeout", "cwd", "env", "max_restarts"]);
        text.push_str(&format!(
            "{key} = {}\n\n",
            plausible_value(rng, key, services)
        ));
    }
    if rng.chance(20) {
        text.push_str(&format!(
            "[logs]\nmax_file_size = {}\nkeep_files = {}\n\n",
            toml_str(rng.pick(&["1MiB", "10MB", "0", "1KiB"])),
            rng.pick(&["0", "5", "-1"])
        ));
    }
    for name in services {
        text.push_str(&format!("[services.{name}]\n"));
        text.push_str(&format!(
            "command = {}\n",
            plausible_value(rng, "command", services)
        ));
        let mut used = vec!["command"];
        for _ in 0..rng.below(4) {
            let key = rng.pick(OPTIONAL);
            if used.contains(&key) {
                continue;
            }
            used.push(key);
            let value = match rng.chance(90) {
                true => plausible_value(rng, key, services),
                false => random_value(rng, 1),
            };
            text.push_str(&format!("{key} = {value}\n"));
        }
        text.push('\n');
    }
    text
}

/// A random wrangle.toml: tables and keys from the real key set, values of random types and
/// shapes, random nesting, odd unicode; sometimes mutated a few characters further.
fn random_config(rng: &mut Rng) -> String {
    let mut text = String::new();
    if rng.chance(40) {
        text = plausible_config(rng);
    }
    for _ in 0..rng.below(if text.is_empty() { 6 } else { 2 }) {
        let header = match rng.below(12) {
            0..=4 => format!("[services.{}]", random_name(rng)),
            5 => "[defaults]".to_string(),
            6 => "[logs]".to_string(),
            7 => format!(
                "[services.{}.{}]",
                random_name(rng),
                rng.pick(&["env", "ready", "depends_on", "command"])
            ),
            8 => "[services]".to_string(),
            9 => "[[services]]".to_string(),
            10 => format!("[{}]", random_key(rng)),
            _ => String::new(),
        };
        text.push_str(&header);
        text.push('\n');
        for _ in 0..rng.below(8) {
            let key = random_key(rng);
            let value = match rng.chance(60) {
                true => shaped_value(rng, &key),
                false => random_value(rng, 0),
            };
            let comment = if rng.chance(10) { " # ✓ note" } else { "" };
            text.push_str(&format!("{key} = {value}{comment}\n"));
        }
        text.push('\n');
    }
    if rng.chance(25) {
        let mut chars: Vec<char> = text.chars().collect();
        for _ in 0..=rng.below(3) {
            let at = rng.below(chars.len() + 1);
            match rng.below(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 => chars.insert(at, rng.pick(ODD_CHARS)),
                _ => chars.truncate(at),
            }
        }
        text = chars.into_iter().collect();
    }
    text
}

/// The user running the tests, as the config loader's trust.
fn test_user() -> wrangle::config::Trust {
    wrangle::config::Trust::new(
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
}

/// What loading one random document proved.
enum Loaded {
    Config,
    /// The first diagnostic's message.
    Error(String),
}

/// Loads `text` as `path` and checks the outcome: a config, or an error whose every diagnostic
/// points into a file (with a line and column inside it where it has them) and is rendered
/// with that location. Panics (with the seed) otherwise; a panic of the loader itself is
/// caught and reported the same way.
fn load_and_check(path: &Path, text: &str, seed: u64) -> Loaded {
    fs::write(path, text).expect("write wrangle.toml");
    let outcome = std::panic::catch_unwind(|| {
        wrangle::config::load(path, wrangle::config::Origin::Discovered, &test_user())
    });
    let result =
        outcome.unwrap_or_else(|_| panic!("the config loader panicked on seed {seed:#x}:\n{text}"));
    let error = match result {
        Ok(_) => return Loaded::Config,
        Err(error) => error,
    };
    let rendered = error.render(false);
    let context =
        || format!("seed {seed:#x}\n--- wrangle.toml ---\n{text}\n--- error ---\n{rendered}");
    let diagnostics = error.diagnostics();
    assert!(
        !diagnostics.is_empty(),
        "an error without a diagnostic: {}",
        context()
    );
    for diagnostic in diagnostics {
        let Some(file) = diagnostic.path() else {
            panic!(
                "a diagnostic without a location: {:?}\n{}",
                diagnostic.message(),
                context()
            );
        };
        let Some((line, column)) = diagnostic.line_column() else {
            continue;
        };
        let file_text = fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<&str> = file_text.split('\n').collect();
        assert!(
            line >= 1 && line <= lines.len(),
            "line {line} is outside {} ({} lines): {}",
            file.display(),
            lines.len(),
            context()
        );
        let width = lines[line - 1].chars().count();
        assert!(
            column >= 1 && column <= width + 1,
            "column {column} is outside line {line} ({width} characters): {}",
            context()
        );
        assert!(
            rendered.contains(&format!("{}:{line}:{column}", file.display())),
            "the rendering does not show {}:{line}:{column}: {}",
            file.display(),
            context()
        );
    }
    Loaded::Error(diagnostics[0].message().to_string())
}

#[test]
fn random_and_mutated_configs_load_or_fail_with_located_errors() {
    const CASES: u64 = 2000;
    let project = Project::empty();
    fs::create_dir(project.path("dir")).expect("mkdir dir");
    project.write(".env", "FROM_FILE=1\n");
    let path = project.path("wrangle.toml");
    let mut configs = 0;
    let mut errors: Vec<(String, String)> = Vec::new();
    for case in 0..CASES {
        let seed = 0x5eed_0000 + case;
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let text = random_config(&mut rng);
        match load_and_check(&path, &text, seed) {
            Loaded::Config => configs += 1,
            Loaded::Error(message) => {
                // One document per kind of first error, for the command line below.
                let kind: String = message.chars().take(24).collect();
                if !errors.iter().any(|(seen, _)| *seen == kind) {
                    errors.push((kind, text));
                }
            }
        }
    }
    eprintln!(
        "{CASES} random documents: {configs} valid, {} kinds of error",
        errors.len()
    );
    // The generator reaches both outcomes and many kinds of error.
    assert!(
        configs >= CASES / 100,
        "only {configs} of {CASES} documents were valid"
    );
    assert!(
        errors.len() >= 20,
        "only {} kinds of error: {errors:#?}",
        errors.len()
    );

    // Bytes that are not UTF-8 are an error that names the file, not a panic.
    fs::write(&path, b"[services.a]\ncommand = \"\xff\"\n").expect("write");
    let error = wrangle::config::load(&path, wrangle::config::Origin::Discovered, &test_user())
        .expect_err("not UTF-8");
    assert!(
        error.render(false).contains("wrangle.toml"),
        "{}",
        error.render(false)
    );

    // The command line: `up` on a bad file exits 2 with the location, never 101 (a panic).
    for (_, text) in errors.iter().take(12) {
        project.write("wrangle.toml", text);
        let up = project.run(&["up"]);
        assert_eq!(up.code, 2, "--- wrangle.toml ---\n{text}\n{up:#?}");
        assert!(up.stdout.is_empty(), "{up:#?}");
        assert!(
            up.stderr.contains("wrangle.toml") && up.stderr.starts_with("error"),
            "{up:#?}"
        );
        assert!(!up.stderr.contains("panicked"), "{up:#?}");
    }
    assert_no_survivors(&project.mark);
}
