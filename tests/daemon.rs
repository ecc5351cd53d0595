//! The per-project daemon (`wrangle up -d`) and the verbs that talk to it from other processes:
//! `ps`, `logs`, `start`/`stop`/`restart`, `down`, `ls`.
//!
//! Every test that may start a daemon holds the harness's `DaemonGuard` (directly or in a
//! `Daemon`) declared right after its project: `wrangle down`, then proof that nothing is left.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    Daemon, DaemonGuard, Project, WAIT, assert_no_survivors, assert_nothing_left_after_down,
    background_pid, failed_detach, free_port, has_exited, is_ours, listener, log_file_lines_in,
    normalize, pid, project_dir, python, restarts, send_signal, sentinel_of, service, state,
    status, stream_marker, successor_status, survivors, toml_str, wait_states, wait_until,
};

/// Every line of `service`'s log files, oldest file first (`.log.N` ... `.log.1`, `.log`), read
/// back with its time and stream from the index and shown as `YYYY-MM-DDTHH:MM:SS.mmmZ M text`
/// (`M`: `o`/`e`, upper-case when partial; `no-time` for a line without a time).
fn log_file_lines(project: &Project, service: &str) -> Vec<String> {
    let logs = project_dir(project).join("logs");
    log_file_lines_in(&logs, service)
        .into_iter()
        .map(|(_, line)| {
            let time = line.time.map_or("no-time".to_string(), |time| {
                humantime::format_rfc3339_millis(time).to_string()
            });
            format!("{time} {} {}", stream_marker(&line), line.text)
        })
        .collect()
}

/// The raw contents of `service`'s current log file.
fn log_file_bytes(project: &Project, service: &str) -> Vec<u8> {
    fs::read(
        project_dir(project)
            .join("logs")
            .join(format!("{service}.log")),
    )
    .unwrap_or_default()
}

/// The names of `service`'s log files (current and rotated), without their indexes.
fn log_file_names(project: &Project, service: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(project_dir(project).join("logs"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            name == &format!("{service}.log") || name.starts_with(&format!("{service}.log."))
        })
        .filter(|name| !name.ends_with(".idx"))
        .collect();
    names.sort();
    names
}

/// Whether `line` is `YYYY-MM-DDTHH:MM:SS.mmmZ <marker> <text>`.
fn is_log_line(line: &str, marker: char, text: &str) -> bool {
    let bytes = line.as_bytes();
    if bytes.len() < 27 {
        return false;
    }
    let timestamp_ok = bytes[..24]
        .iter()
        .enumerate()
        .all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            10 => *byte == b'T',
            13 | 16 => *byte == b':',
            19 => *byte == b'.',
            23 => *byte == b'Z',
            _ => byte.is_ascii_digit(),
        });
    timestamp_ok && line[24..] == format!(" {marker} {text}")
}

/// `K` of a `ticker | tick K` line (normalized or not).
fn tick(line: &str) -> Option<u64> {
    normalize(line)
        .strip_prefix("ticker | tick ")?
        .trim()
        .parse()
        .ok()
}

/// A service that prints `tick 1`, `tick 2`... every 200 ms.
const TICKER: &str = r#"
[services.ticker]
command = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done"]
"#;

/// A database that is ready when it listens on `port`, and an api without a probe.
fn db_and_api(port: u16) -> String {
    format!(
        r#"
[services.db]
command = {}
port = {port}
ready = {{ tcp = {port}, interval = "50ms" }}

[services.api]
command = ["sh", "-c", "echo hello from api; exec sleep 410"]
depends_on = ["db"]
"#,
        listener(port)
    )
}

#[test]
fn detached_project_is_seen_from_other_processes() {
    let port = free_port();
    let project = Project::new(&db_and_api(port));
    let daemon = Daemon::start(&project, &[]);
    let up: Vec<String> = daemon.up.stdout.lines().map(normalize).collect();
    for expected in [
        "db * starting:",
        "db * ready in",
        "api * starting:",
        "wrangle * all 2 services up in",
        "wrangle * running in the background (daemon PID ",
    ] {
        assert!(
            up.iter().any(|line| line.starts_with(expected)),
            "no {expected:?} line: {:#?}",
            daemon.up
        );
    }
    assert!(
        up.last().is_some_and(|line| line.contains(
            "`wrangle ps` to see it, `wrangle logs -f` to follow, `wrangle down` to stop"
        )),
        "{:#?}",
        daemon.up
    );
    assert!(
        is_ours(&project, daemon.pid),
        "the daemon (PID {}) is not running: {:?}",
        daemon.pid,
        survivors(&project.mark)
    );

    // The table, from another process.
    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 0, "{ps:#?}");
    let rows: Vec<Vec<&str>> = ps
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows.first().map(Vec::as_slice),
        Some(
            &[
                "NAME",
                "STATE",
                "PID",
                "UPTIME",
                "CPU",
                "MEM",
                "RESTARTS",
                "LAST",
                "EXIT",
                "PORTS",
                "READINESS"
            ][..]
        ),
        "{ps:#?}"
    );
    let row = |name: &str| {
        rows.iter()
            .find(|row| row.first() == Some(&name))
            .unwrap_or_else(|| panic!("no row for {name}: {ps:#?}"))
            .clone()
    };
    let db_row = row("db");
    let api_row = row("api");
    assert_eq!(db_row[1], "ready", "{ps:#?}");
    assert_eq!(api_row[1], "running", "{ps:#?}");
    for row in [&db_row, &api_row] {
        let pid: i32 = row[2]
            .parse()
            .unwrap_or_else(|_| panic!("no PID in {row:?}: {ps:#?}"));
        assert!(is_ours(&project, pid), "PID {pid} does not exist: {ps:#?}");
        assert_eq!(row[6], "0", "restarts: {ps:#?}");
    }
    assert!(db_row.contains(&port.to_string().as_str()), "{ps:#?}");
    assert!(
        ps.stdout.contains(&format!("tcp 127.0.0.1:{port}")),
        "{ps:#?}"
    );
    // `status` is an alias.
    let status_alias = project.run(&["status"]);
    assert_eq!(status_alias.code, 0, "{status_alias:#?}");
    assert!(status_alias.stdout.starts_with("NAME"), "{status_alias:#?}");

    // The JSON: the API's ProjectStatus, every field present.
    let json = status(&project);
    assert_eq!(
        json["project"],
        project.path("wrangle.toml").display().to_string(),
        "{json:#}"
    );
    let dir_name = project
        .root()
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert_eq!(json["name"], dir_name.as_str(), "{json:#}");
    assert_eq!(json["daemon_pid"], daemon.pid, "{json:#}");
    assert!(json["started_at"].is_string(), "{json:#}");
    let services = json["services"].as_array().expect("services array");
    let names: Vec<&str> = services
        .iter()
        .map(|service| service["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["db", "api"], "declaration order: {json:#}");
    for service in services {
        let object = service.as_object().expect("service object");
        for field in [
            "name",
            "state",
            "pid",
            "started_at",
            "restarts",
            "last_exit",
            "ports",
            "readiness",
            "reason",
        ] {
            assert!(object.contains_key(field), "no {field:?} in {service:#}");
        }
        assert!(service["started_at"].is_string(), "{service:#}");
        assert!(service["last_exit"].is_null(), "{service:#}");
        assert!(service["reason"].is_null(), "{service:#}");
        assert_eq!(service["restarts"], 0, "{service:#}");
    }
    assert_eq!(state(&json, "db"), "ready");
    assert_eq!(state(&json, "api"), "running");
    assert_eq!(service(&json, "db")["ports"], serde_json::json!([port]));
    assert_eq!(
        service(&json, "db")["readiness"],
        format!("tcp 127.0.0.1:{port}").as_str()
    );
    assert_eq!(service(&json, "api")["ports"], serde_json::json!([]));
    assert!(service(&json, "api")["readiness"].is_null());
    for name in ["db", "api"] {
        let pid = pid(&json, name).unwrap_or_else(|| panic!("no pid for {name}: {json:#}"));
        assert!(is_ours(&project, pid), "{name}'s PID {pid} does not exist");
    }

    // The control socket is private.
    let dir = project_dir(&project);
    let socket = dir.join("run/control.sock");
    let metadata = fs::symlink_metadata(&socket).expect("control socket");
    assert!(metadata.file_type().is_socket(), "{}", socket.display());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let run = fs::metadata(dir.join("run")).expect("run dir");
    assert_eq!(run.permissions().mode() & 0o777, 0o700);
}

#[test]
fn logs_follow_exits_quietly_once_its_stdout_is_closed_while_lines_flow_or_while_idle() {
    let project = Project::new(&format!(
        r#"
[services.quiet]
command = ["sh", "-c", "echo only line; exec sleep 412"]
{TICKER}"#
    ));
    let _daemon = Daemon::start(&project, &[]);
    for (service, first) in [("ticker", "ticker | tick "), ("quiet", "quiet | only line")] {
        let mut follower = project
            .command(&["logs", "-f", service])
            .spawn()
            .expect("spawn");
        let mut stdout = std::io::BufReader::new(follower.stdout.take().expect("stdout"));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).expect("read a line");
        assert!(normalize(&line).starts_with(first), "{service}: {line:?}");
        // Like `| head -1`: the reader goes away.
        drop(stdout);
        let mut status = None;
        let exited = wait_until(WAIT, || {
            status = follower.try_wait().expect("try_wait");
            status.is_some()
        });
        if !exited {
            let _ = follower.kill();
            let _ = follower.wait();
            panic!("`logs -f {service}` still runs {WAIT:?} after its stdout was closed");
        }
        let mut stderr = String::new();
        let _ =
            std::io::Read::read_to_string(follower.stderr.as_mut().expect("stderr"), &mut stderr);
        assert_eq!(
            status.and_then(|status| status.code()),
            Some(0),
            "{service}: {stderr}"
        );
        assert_eq!(stderr, "", "{service}");
    }
}

#[test]
fn ps_counts_the_bytes_logged_as_they_are_now_not_as_of_the_last_sample() {
    // A monitor that samples once an hour: only `ps` itself can make the count current.
    let project = Project::new(
        r#"
[monitor]
interval = "1h"

[services.api]
command = ["sh", "-c", "echo 0123456789; sleep 0.2; printf 'abcdefghi\n'; exec sleep 412"]
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    let mut logged = None;
    let counted = wait_until(WAIT, || {
        let ps = project.run(&["ps", "--json"]);
        let json: Value = serde_json::from_str(&ps.stdout).unwrap_or(Value::Null);
        logged = service(&json, "api")["log_bytes"].as_u64();
        logged == Some(21)
    });
    assert!(counted, "ps says {logged:?} bytes logged, not 21");
}

#[test]
fn answers_to_a_reader_that_left_end_quietly_with_0() {
    let project = Project::new(
        r#"
[services.api]
command = ["sh", "-c", "echo a line; exec sleep 413"]
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    let verbs: [&[&str]; 5] = [
        &["ps"],
        &["ps", "--json"],
        &["ls"],
        &["logs"],
        &["export", "compose", "-", "--image", "example"],
    ];
    for verb in verbs {
        // A pipe whose reader is gone before the command writes: like `| head` that has left.
        let (reader, writer) = rustix::pipe::pipe().expect("pipe");
        drop(reader);
        let mut command = project.command(verb);
        command.stdout(std::process::Stdio::from(writer));
        let output = command.output().expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{verb:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{verb:?}: {stderr}");
    }
}

#[test]
fn logs_show_earlier_lines_and_follow_new_ones() {
    let project = Project::new(&format!(
        r#"
[services.api]
command = ["sh", "-c", "echo hello from api; exec sleep 411"]
{TICKER}"#
    ));
    let _daemon = Daemon::start(&project, &[]);

    // Lines printed before `logs` ran.
    let mut logs = None;
    let seen = wait_until(WAIT, || {
        let finished = project.run(&["logs", "api"]);
        let found = finished.code == 0
            && finished
                .stdout
                .lines()
                .any(|line| normalize(line) == "api | hello from api");
        logs = Some(finished);
        found
    });
    assert!(seen, "`logs api` does not show api's line: {logs:#?}");
    let logs = logs.expect("ran");
    assert!(
        logs.stdout.lines().all(|line| line.starts_with("api ")),
        "`logs api` shows other services: {logs:#?}"
    );

    // -n limits the backlog; remember the latest tick it showed.
    let mut last = 0;
    let mut tail = None;
    assert!(
        wait_until(WAIT, || {
            let finished = project.run(&["logs", "-n", "2", "ticker"]);
            last = finished.stdout.lines().filter_map(tick).max().unwrap_or(0);
            let ok = finished.code == 0 && finished.stdout.lines().count() == 2 && last >= 2;
            tail = Some(finished);
            ok
        }),
        "`logs -n 2 ticker` did not show two ticks: {tail:#?}"
    );

    // A follower prints the backlog and then new lines: consecutive ticks, none twice, none
    // missing, up to one printed after `logs -n` ran.
    let follower = project.spawn(&["logs", "-f", "ticker"]);
    let newer = follower.wait_line(0, WAIT, |line| tick(line).is_some_and(|k| k > last + 2));
    assert!(
        newer.is_some(),
        "`logs -f` showed no tick after {last}\n{}",
        follower.transcript()
    );
    let ticks: Vec<u64> = follower
        .lines()
        .iter()
        .filter_map(|line| tick(line))
        .collect();
    assert_eq!(
        ticks.len(),
        follower.lines().len(),
        "`logs -f ticker` printed other lines\n{}",
        follower.transcript()
    );
    assert_eq!(ticks.first(), Some(&1), "{}", follower.transcript());
    assert!(
        ticks.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "ticks missing or repeated: {ticks:?}"
    );
    drop(follower);
}

#[test]
fn restart_stop_and_start_touch_only_the_named_service() {
    let project = Project::new(
        r#"
[services.db]
command = ["sleep", "412"]

[services.api]
command = ["sleep", "413"]

[services.worker]
command = ["sleep", "414"]
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    let before = status(&project);
    let pid_before =
        |name: &str| pid(&before, name).unwrap_or_else(|| panic!("no pid for {name}: {before:#}"));
    let (db, api, worker) = (pid_before("db"), pid_before("api"), pid_before("worker"));

    let restart = project.run(&["restart", "api"]);
    assert_eq!(restart.code, 0, "{restart:#?}");
    assert_eq!(restart.stdout, "api: running\n", "{restart:#?}");
    let after = status(&project);
    assert_eq!(state(&after, "api"), "running", "{after:#}");
    let new_api = pid(&after, "api").expect("api has a pid after the restart");
    assert_ne!(new_api, api, "api's PID did not change: {after:#}");
    assert!(
        is_ours(&project, new_api),
        "new api PID {new_api} is not running"
    );
    assert!(
        wait_until(WAIT, || !is_ours(&project, api)),
        "the old api (PID {api}) is still running"
    );
    assert_eq!(restarts(&after, "api"), 1, "{after:#}");
    for (name, old) in [("db", db), ("worker", worker)] {
        assert_eq!(
            pid(&after, name),
            Some(old),
            "{name} was touched: {after:#}"
        );
        assert_eq!(restarts(&after, name), 0, "{name} was touched: {after:#}");
        assert_eq!(state(&after, name), "running", "{after:#}");
    }

    let stop = project.run(&["stop", "worker"]);
    assert_eq!(stop.code, 0, "{stop:#?}");
    assert_eq!(stop.stdout, "worker: stopped\n", "{stop:#?}");
    let stopped = status(&project);
    assert_eq!(state(&stopped, "worker"), "stopped", "{stopped:#}");
    assert_eq!(pid(&stopped, "worker"), None, "{stopped:#}");
    assert!(
        wait_until(WAIT, || !is_ours(&project, worker)),
        "the stopped worker (PID {worker}) is still running"
    );
    assert!(
        !survivors(&project.mark)
            .iter()
            .any(|(_, command)| command.contains("sleep 414")),
        "{:?}",
        survivors(&project.mark)
    );
    assert_eq!(pid(&stopped, "db"), Some(db), "{stopped:#}");
    assert_eq!(pid(&stopped, "api"), Some(new_api), "{stopped:#}");

    let start = project.run(&["start", "worker"]);
    assert_eq!(start.code, 0, "{start:#?}");
    assert_eq!(start.stdout, "worker: running\n", "{start:#?}");
    let started = status(&project);
    assert_eq!(state(&started, "worker"), "running", "{started:#}");
    let new_worker = pid(&started, "worker").expect("worker has a pid again");
    assert!(
        is_ours(&project, new_worker),
        "worker PID {new_worker} is not running"
    );
    assert_eq!(pid(&started, "db"), Some(db), "{started:#}");
    assert_eq!(pid(&started, "api"), Some(new_api), "{started:#}");

    // An unknown service is a usage error, and changes nothing.
    let unknown = project.run(&["restart", "nope"]);
    assert_eq!(unknown.code, 2, "{unknown:#?}");
    assert!(
        unknown.stderr.contains("no service named \"nope\""),
        "{unknown:#?}"
    );
    let last = status(&project);
    assert_eq!(pid(&last, "api"), Some(new_api), "{last:#}");
    assert_eq!(restarts(&last, "api"), 1, "{last:#}");
}

#[test]
fn down_stops_everything_and_frees_the_lock() {
    let port = free_port();
    let project = Project::new(&db_and_api(port));
    let daemon = Daemon::start(&project, &[]);
    let running = status(&project);
    assert_eq!(state(&running, "db"), "ready", "{running:#}");

    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    for expected in [
        "api: stopping (SIGTERM)".to_string(),
        "api: stopped".to_string(),
        "db: stopping (SIGTERM)".to_string(),
        "db: stopped".to_string(),
        format!("wrangle: every process is stopped; ports {port} free"),
    ] {
        assert!(
            down.stdout.lines().any(|line| line == expected),
            "no line {expected:?}: {down:#?}"
        );
    }
    // Dependents stop first.
    let position = |line: &str| down.stdout.lines().position(|l| l == line);
    assert!(
        position("api: stopped") < position("db: stopping (SIGTERM)"),
        "{down:#?}"
    );
    // `down` returned: the daemon has exited (the lock is free) and nothing it ran is left.
    let daemon_alive = survivors(&project.mark)
        .into_iter()
        .filter(|(pid, _)| *pid == daemon.pid)
        .collect::<Vec<_>>();
    assert_no_survivors(&project.mark);
    assert!(
        daemon_alive.is_empty(),
        "`down` returned while the daemon still ran: {daemon_alive:?}"
    );

    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 1, "{ps:#?}");
    assert!(
        ps.stderr.contains(&format!(
            "no wrangle daemon is running for {}",
            project.path("wrangle.toml").display()
        )),
        "{ps:#?}"
    );

    // The lock is free: the project starts again.
    let again = Daemon::start(&project, &[]);
    assert_ne!(again.pid, daemon.pid);
    let json = status(&project);
    assert_eq!(json["daemon_pid"], again.pid, "{json:#}");
    assert_eq!(state(&json, "api"), "running", "{json:#}");
}

#[test]
fn foreground_up_is_refused_while_a_daemon_runs() {
    let project = Project::new(
        r#"
[services.web]
command = ["sh", "-c", "echo run >> runs.log; exec sleep 415"]
"#,
    );
    let daemon = Daemon::start(&project, &[]);
    let web = pid(&status(&project), "web").expect("web pid");

    let foreground = project.run(&["up"]);
    assert_eq!(foreground.code, 4, "{foreground:#?}");
    for expected in [
        format!(
            "another wrangle is already running this project (PID {})",
            daemon.pid
        ),
        "wrangle ps".to_string(),
        "wrangle logs -f".to_string(),
        "wrangle down".to_string(),
    ] {
        assert!(
            foreground.stderr.contains(&expected),
            "no {expected:?}: {foreground:#?}"
        );
    }
    assert!(!foreground.stdout.contains("starting"), "{foreground:#?}");

    let second = project.run_unswept(&["up", "-d"]);
    assert_eq!(second.code, 4, "{second:#?}");
    assert!(
        format!("{}{}", second.stdout, second.stderr).contains(&format!(
            "another wrangle is already running this project (PID {})",
            daemon.pid
        )),
        "{second:#?}"
    );

    // The refusals took nothing from the daemon.
    let json = status(&project);
    assert_eq!(json["daemon_pid"], daemon.pid, "{json:#}");
    assert_eq!(pid(&json, "web"), Some(web), "{json:#}");
    let runs = fs::read_to_string(project.path("runs.log")).expect("runs.log");
    assert_eq!(runs, "run\n", "the service ran more than once");
}

#[test]
fn detach_is_refused_while_a_foreground_up_runs_and_down_stops_that_through_its_socket() {
    let project = Project::new(
        r#"
[services.web]
command = ["sh", "-c", "echo run >> runs.log; exec sleep 416"]
"#,
    );
    let mut foreground = project.up(&[]);
    let _cleanup = DaemonGuard::new(&project);
    foreground.expect_line("wrangle * all 1 service up in");
    let foreground_pid = foreground.pid();

    let detached = project.run_unswept(&["up", "-d"]);
    assert_eq!(detached.code, 4, "{detached:#?}");
    assert!(
        format!("{}{}", detached.stdout, detached.stderr).contains(&format!(
            "another wrangle is already running this project (PID {foreground_pid})"
        )),
        "{detached:#?}"
    );
    assert!(background_pid(&detached.stdout).is_none(), "{detached:#?}");

    // The foreground run answers like a daemon (tests/foreground.rs has the rest of it).
    let ps = status(&project);
    assert_eq!(ps["daemon_pid"], foreground_pid, "{ps:#}");
    assert_eq!(ps["foreground"], true, "{ps:#}");

    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert!(
        down.stdout.contains("wrangle: every process is stopped"),
        "{down:#?}"
    );
    assert_eq!(foreground.wait_exit(WAIT), 0, "{}", foreground.transcript());
    foreground.expect_line("wrangle * every process is stopped");
    assert_no_survivors(&project.mark);
    let runs = fs::read_to_string(project.path("runs.log")).expect("runs.log");
    assert_eq!(runs, "run\n", "the refused daemon started the service");
}

#[test]
fn every_verb_fails_fast_without_a_daemon() {
    let project = Project::new(
        r#"
[services.x]
command = ["sleep", "417"]
"#,
    );
    let _cleanup = DaemonGuard::new(&project);
    let config = project.path("wrangle.toml").display().to_string();
    let no_daemon = format!("error: no wrangle daemon is running for {config}");
    let cases: [(&[&str], &str); 9] = [
        (&["ps"], &no_daemon),
        (&["ps", "--json"], &no_daemon),
        (&["status"], &no_daemon),
        (&["logs"], &no_daemon),
        (&["logs", "-f"], &no_daemon),
        (&["start", "x"], &no_daemon),
        (&["stop", "x"], &no_daemon),
        (&["restart", "x"], &no_daemon),
        (
            &["down"],
            &format!("error: no wrangle is running for {config}"),
        ),
    ];
    for (args, message) in cases {
        let started = Instant::now();
        let finished = project.run(args); // bounded by WAIT: panics if it hangs
        let took = started.elapsed();
        assert_eq!(finished.code, 1, "wrangle {args:?}: {finished:#?}");
        assert!(
            finished.stderr.contains(message),
            "wrangle {args:?}: expected {message:?}: {finished:#?}"
        );
        assert!(
            took < Duration::from_secs(3),
            "wrangle {args:?} took {took:?}"
        );
        assert_eq!(finished.stdout, "", "wrangle {args:?}: {finished:#?}");
    }
    assert_no_survivors(&project.mark);
}

#[test]
fn detach_readiness_timeout_exits_3() {
    let project = Project::new(
        r#"
[services.slow]
command = ["sleep", "418"]
ready = { exec = ["false"], timeout = "1s", interval = "100ms" }
"#,
    );
    let output = failed_detach(&project, 3);
    let lines: Vec<String> = output.lines().map(normalize).collect();
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("slow * not ready after 1s")),
        "{output}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("wrangle * start-up failed: slow")),
        "{output}"
    );
}

#[test]
fn detach_service_crashing_at_start_up_exits_1() {
    let project = Project::new(
        r#"
[services.bad]
command = ["sh", "-c", "echo the-real-error; sleep 0.2; exit 1"]
ready = { log = "never printed" }

[services.other]
command = ["sleep", "419"]
"#,
    );
    let output = failed_detach(&project, 1);
    let lines: Vec<String> = output.lines().map(normalize).collect();
    assert!(
        lines.iter().any(|line| line
            .starts_with("wrangle * start-up failed: bad exited with code 1 during start-up")),
        "{output}"
    );
    assert!(
        lines.iter().any(|line| line == "bad | the-real-error"),
        "{output}"
    );
}

#[test]
fn detach_bad_config_exits_2_with_the_located_error() {
    let project = Project::new("[services.web]\ncomand = \"sleep 1\"\n");
    let output = failed_detach(&project, 2);
    for expected in [
        "error: unknown key `comand` in [services.web]".to_string(),
        format!(" --> {}:2:1\n", project.path("wrangle.toml").display()),
        "= help: did you mean \"command\"?".to_string(),
    ] {
        assert!(output.contains(&expected), "no {expected:?} in:\n{output}");
    }
}

#[test]
fn detach_held_port_exits_4() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let project = Project::new(&format!(
        r#"
[services.web]
command = ["sh", "-c", "touch started.flag; exec sleep 420"]
port = {port}
"#
    ));
    let output = failed_detach(&project, 4);
    let me = std::process::id();
    assert!(
        output.contains(&format!(
            "port {port} (service web) is in use by PID {me} ("
        )),
        "{output}"
    );
    assert!(!project.exists("started.flag"), "the service was started");
    drop(holder);
}

#[test]
fn log_files_hold_the_lines_with_time_and_stream() {
    let project = Project::new(
        r#"
[services.talker]
command = ["sh", "-c", "echo out-line; echo err-line >&2; exec sleep 421"]
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    // Read straight from the files: the bytes may be there a moment before their index
    // records (readers through wrangle wait for both), so the wait is for the lines as indexed.
    let mut lines = Vec::new();
    let written = wait_until(WAIT, || {
        lines = log_file_lines(&project, "talker");
        lines.iter().any(|line| is_log_line(line, 'o', "out-line"))
            && lines.iter().any(|line| is_log_line(line, 'e', "err-line"))
    });
    assert!(
        written,
        "talker.log does not hold both lines with their time and stream: {lines:?}"
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
    // The file holds the output as written; time and stream are in its index.
    let raw = String::from_utf8(log_file_bytes(&project, "talker")).expect("UTF-8");
    assert!(
        raw == "out-line\nerr-line\n" || raw == "err-line\nout-line\n",
        "{raw:?}"
    );
    let logs = project_dir(&project).join("logs");
    let dir_mode = fs::metadata(&logs).expect("logs dir").permissions().mode();
    assert_eq!(dir_mode & 0o077, 0, "logs dir mode {dir_mode:o}");
    for name in ["talker.log", "talker.log.idx"] {
        let file_mode = fs::metadata(logs.join(name))
            .expect(name)
            .permissions()
            .mode();
        assert_eq!(file_mode & 0o077, 0, "{name} mode {file_mode:o}");
    }
}

#[test]
fn log_files_frame_lines_as_printed_across_reads() {
    // CR LF, a line in two writes, a prompt finished after the partial-line delay, a line
    // longer than the 16 KiB framing bound, then the last line.
    let script = "import os, time\n\
                  os.write(1, b'crlf line\\r\\nsplit ')\n\
                  os.write(1, b'across writes\\n')\n\
                  os.write(1, b'prompt: ')\n\
                  time.sleep(0.5)\n\
                  os.write(1, b'answer\\n' + b'x' * 40000 + b'\\nend\\n')\n\
                  time.sleep(431)\n";
    let project = Project::new(&format!(
        "[services.talker]\ncommand = [\"{}\", \"-c\", {}]\n",
        python(),
        toml_str(script)
    ));
    let _daemon = Daemon::start(&project, &[]);
    let mut lines = Vec::new();
    let written = wait_until(WAIT, || {
        lines = log_file_lines(&project, "talker");
        lines.iter().any(|line| line.ends_with(" end"))
    });
    assert!(written, "talker.log does not end: {lines:?}");
    // The file holds the output exactly as written, and reads back as lines framed from it:
    // the prompt runs on into its answer there, as `tail -f` shows it.
    let x = "x".repeat(40000);
    let raw = String::from_utf8(log_file_bytes(&project, "talker")).expect("UTF-8");
    assert_eq!(
        raw,
        format!("crlf line\r\nsplit across writes\nprompt: answer\n{x}\nend\n")
    );
    let expected = [
        ('o', "crlf line".to_string()),
        ('o', "split across writes".to_string()),
        ('o', "prompt: answer".to_string()),
        ('o', x),
        ('o', "end".to_string()),
    ];
    assert_eq!(lines.len(), expected.len(), "{lines:?}");
    for (line, (marker, text)) in lines.iter().zip(&expected) {
        assert!(
            is_log_line(line, *marker, text),
            "{line:?} is not {marker} {text:?}"
        );
    }
    // `logs` reads the same lines back from the files.
    let logs = project.run(&["logs", "-n", "8", "talker"]);
    let shown: Vec<String> = logs.stdout.lines().map(normalize).collect();
    assert_eq!(shown.len(), 5, "{logs:#?}");
    assert_eq!(shown[0], "talker | crlf line", "{logs:#?}");
    assert_eq!(shown[2], "talker | prompt: answer", "{logs:#?}");
    assert_eq!(shown[3].matches('x').count(), 40000, "{logs:#?}");
    assert_eq!(shown[4], "talker | end", "{logs:#?}");
}

/// Lines the flood service writes, 100 bytes each: 20 MB of output, about 26 MB on disk, so
/// rotation at 10 MB per file keeps all of it.
const FLOOD_LINES: usize = 200_000;

/// A project whose `flood` writes [`FLOOD_LINES`] as fast as python can once `go.flag` appears
/// (then creates `flood.done`), next to the [`TICKER`].
fn flood_project() -> Project {
    let script = format!(
        "import os, sys, time\n\
         while not os.path.exists('go.flag'):\n    time.sleep(0.02)\n\
         line = 'x' * 99 + '\\n'\n\
         write = sys.stdout.write\n\
         for _ in range({FLOOD_LINES}):\n    write(line)\n\
         sys.stdout.flush()\n\
         open('flood.done', 'w').close()\n\
         time.sleep(300)\n"
    );
    Project::new(&format!(
        r#"
[services.flood]
command = ["{}", "-c", {}]
{TICKER}"#,
        python(),
        toml_str(&script)
    ))
}

/// The latest tick in the daemon's in-memory tail of the ticker (0 if none yet).
fn latest_tick(project: &Project) -> u64 {
    let logs = project.run(&["logs", "-n", "1", "ticker"]);
    assert_eq!(logs.code, 0, "{logs:#?}");
    logs.stdout.lines().filter_map(tick).max().unwrap_or(0)
}

#[test]
fn fast_writer_blocks_nobody_and_loses_no_line() {
    let project = flood_project();
    let _daemon = Daemon::start(&project, &[]);
    let mut before = 0;
    assert!(
        wait_until(WAIT, || {
            before = latest_tick(&project);
            before > 0
        }),
        "no tick before the flood"
    );

    project.write("go.flag", "");
    let go = Instant::now();
    // While the flood goes on: `ps` answers, and the ticker's lines are still read.
    let ps = project.run(&["ps"]);
    let ps_took = go.elapsed();
    assert_eq!(ps.code, 0, "{ps:#?}");
    assert!(ps_took < Duration::from_secs(2), "`ps` took {ps_took:?}");
    let mut during = 0;
    let ticked = wait_until(Duration::from_secs(3), || {
        during = latest_tick(&project);
        during >= before + 2
    });
    let flood_done_at_tick = project.exists("flood.done");
    assert!(
        ticked,
        "the ticker's lines stopped arriving during the flood: tick {before} before, {during} 3 s later \
         (flood done: {flood_done_at_tick})"
    );

    assert!(
        wait_until(WAIT, || project.exists("flood.done")),
        "the flood did not finish in time"
    );
    let flood_took = go.elapsed();
    let mut count = 0;
    let complete = wait_until(WAIT, || {
        count = log_file_lines(&project, "flood").len();
        count >= FLOOD_LINES
    });
    let names = log_file_names(&project, "flood");
    assert!(
        complete && count == FLOOD_LINES,
        "the flood's log files hold {count} lines, not {FLOOD_LINES} ({names:?}; the flood took \
         {flood_took:?}; it was done when the ticker was checked: {flood_done_at_tick})"
    );
    assert!(names.contains(&"flood.log".to_string()), "{names:?}");
    let text = "x".repeat(99);
    let malformed = log_file_lines(&project, "flood")
        .iter()
        .filter(|line| !is_log_line(line, 'o', &text))
        .count();
    assert_eq!(malformed, 0, "{malformed} malformed lines in {names:?}");
    // The ticker's own file kept growing through the flood.
    let ticker_ticks: Vec<u64> = log_file_lines(&project, "ticker")
        .iter()
        .filter_map(|line| line.split_once(" o tick ")?.1.parse().ok())
        .collect();
    assert!(
        ticker_ticks.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "ticker.log misses lines: {ticker_ticks:?}"
    );
}

#[test]
fn sigkill_of_the_daemon_is_not_an_outage_a_successor_takes_the_services_over() {
    let project = Project::new(&format!(
        r#"
[services.api]
command = ["sh", "-c", "(sleep 422 &) ; exec sleep 423"]
{TICKER}"#
    ));
    let daemon = Daemon::start(&project, &[]);
    let json = status(&project);
    let pids: Vec<i32> = ["api", "ticker"]
        .iter()
        .map(|name| pid(&json, name).expect("pid"))
        .collect();
    assert!(
        wait_until(WAIT, || survivors(&project.mark)
            .iter()
            .any(|(_, command)| command.contains("sleep 422"))),
        "the grandchild did not start: {:?}",
        survivors(&project.mark)
    );

    assert!(send_signal(daemon.pid, "KILL"), "kill -KILL {}", daemon.pid);
    // A new daemon answers, with the same processes running.
    let json = successor_status(&project, daemon.pid, WAIT);
    for (name, before) in ["api", "ticker"].iter().zip(&pids) {
        assert_eq!(pid(&json, name), Some(*before), "{name}: {json:#}");
        assert_eq!(state(&json, name), "running", "{json:#}");
    }
    assert!(pids.iter().all(|pid| is_ours(&project, *pid)));
    assert!(
        survivors(&project.mark)
            .iter()
            .any(|(_, command)| command.contains("sleep 422")),
        "the grandchild was stopped"
    );
    let log = fs::read_to_string(project_dir(&project).join("daemon.log")).expect("daemon.log");
    assert!(
        log.contains(&format!(
            "the daemon (PID {}) was killed by signal 9; its services keep running",
            daemon.pid
        )),
        "{log}"
    );
    // The successor serves the same socket, and `down` stops everything it took over.
    let socket = project_dir(&project).join("run/control.sock");
    let metadata = fs::symlink_metadata(&socket).expect("the control socket");
    assert!(metadata.file_type().is_socket());
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_nothing_left_after_down(&project);
}

#[test]
fn ls_lists_the_running_daemon() {
    let project = Project::new(
        r#"
[services.a]
command = ["sleep", "424"]

[services.b]
command = ["sleep", "425"]
"#,
    );
    let empty = project.run(&["ls"]);
    assert_eq!(empty.code, 0, "{empty:#?}");
    assert_eq!(
        empty.stdout, "no wrangle is running for this user\n",
        "{empty:#?}"
    );

    let daemon = Daemon::start(&project, &[]);
    wait_states(&project, &[("a", "running"), ("b", "running")]);
    let config = project.path("wrangle.toml").display().to_string();
    let ls = project.run(&["ls"]);
    assert_eq!(ls.code, 0, "{ls:#?}");
    let rows: Vec<Vec<&str>> = ls
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["PROJECT", "PID", "MODE", "SERVICES"],
            vec![
                config.as_str(),
                daemon.pid.to_string().as_str(),
                "daemon",
                "2/2",
                "up"
            ],
        ],
        "{ls:#?}"
    );

    let ls_json = project.run(&["ls", "--json"]);
    assert_eq!(ls_json.code, 0, "{ls_json:#?}");
    let json: Value = serde_json::from_str(&ls_json.stdout).expect("ls --json is JSON");
    assert_eq!(
        json,
        serde_json::json!([{
            "project": config,
            "pid": daemon.pid,
            "mode": "daemon",
            "services": 2,
            "up": 2,
        }]),
        "{ls_json:#?}"
    );

    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    let after = project.run(&["ls"]);
    assert_eq!(after.code, 0, "{after:#?}");
    assert_eq!(
        after.stdout, "no wrangle is running for this user\n",
        "{after:#?}"
    );
    let after_json = project.run(&["ls", "--json"]);
    assert_eq!(after_json.code, 0, "{after_json:#?}");
    let json: Value = serde_json::from_str(&after_json.stdout).expect("ls --json is JSON");
    assert_eq!(json, serde_json::json!([]), "{after_json:#?}");
}

// Known bug: this test fails until wrangle is fixed (see the commit message).
#[test]
fn detach_errors_go_to_stderr_like_the_foreground() {
    // A foreground `up` prints a refused start (config error, held port) on stderr and nothing
    // on stdout; `up -d` must keep the streams apart the same way, for scripts that read one.
    let project = Project::new("[services.web]\ncomand = \"sleep 1\"\n");
    let _cleanup = DaemonGuard::new(&project);
    let foreground = project.run(&["up"]);
    assert_eq!(foreground.code, 2, "{foreground:#?}");
    assert_eq!(foreground.stdout, "", "{foreground:#?}");
    let detached = project.run_unswept(&["up", "-d"]);
    assert_eq!(detached.code, 2, "{detached:#?}");
    assert_eq!(
        detached.stderr, foreground.stderr,
        "up -d does not print the config error on stderr like up: {detached:#?}"
    );
    assert_eq!(detached.stdout, "", "{detached:#?}");

    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    project.write(
        "wrangle.toml",
        &format!("[services.web]\ncommand = [\"sleep\", \"426\"]\nport = {port}\n"),
    );
    let held = project.run_unswept(&["up", "-d"]);
    assert_eq!(held.code, 4, "{held:#?}");
    assert!(
        held.stderr
            .contains(&format!("port {port} (service web) is in use by PID")),
        "up -d does not print the refusal on stderr: {held:#?}"
    );
    assert!(!held.stdout.contains("error:"), "{held:#?}");
    drop(holder);
}

// Known bug: this test fails until wrangle is fixed (see the commit message).
#[test]
fn follower_of_one_service_keeps_its_lines_while_another_floods() {
    // `logs -f ticker` reads every line it gets at once; only the other service writes fast.
    let project = flood_project();
    let _daemon = Daemon::start(&project, &[]);
    let follower = project.spawn(&["logs", "-f", "-n", "0", "ticker"]);
    let first = follower
        .wait_line(0, WAIT, |line| tick(line).is_some())
        .unwrap_or_else(|| panic!("no tick followed\n{}", follower.transcript()));
    project.write("go.flag", "");
    assert!(
        wait_until(WAIT, || project.exists("flood.done")),
        "the flood did not finish in time"
    );
    // Two ticks after the flood: whatever the ticker printed during it was sent before these.
    let last_during = latest_tick(&project);
    let after = follower.wait_line(first, WAIT, |line| {
        tick(line).is_some_and(|k| k >= last_during + 2)
    });
    let lines = follower.lines();
    drop(follower);
    assert!(after.is_some(), "no tick after the flood: {lines:#?}");
    let skipped: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("lines skipped"))
        .collect();
    let ticks: Vec<u64> = lines.iter().filter_map(|line| tick(line)).collect();
    let gaps: Vec<(u64, u64)> = ticks
        .windows(2)
        .filter(|pair| pair[1] != pair[0] + 1)
        .map(|pair| (pair[0], pair[1]))
        .collect();
    assert!(
        skipped.is_empty() && gaps.is_empty(),
        "`logs -f ticker` lost ticker lines while flood wrote: ticks missing between {gaps:?}; \
         {} `lines skipped` notices, e.g. {:?}",
        skipped.len(),
        skipped.first()
    );
}

#[test]
fn verbs_find_the_project_from_elsewhere_with_file() {
    let project = Project::new(&format!(
        r#"
[services.api]
command = ["sh", "-c", "echo hello from api; exec sleep 427"]
{TICKER}"#
    ));
    let config = project.path("wrangle.toml").display().to_string();
    fs::create_dir(project.path("sub")).expect("mkdir sub");
    // From another directory, naming the config: `-f` after the verb for `up`, before it for
    // `ps`, `--file` for `logs` (where `-f` follows).
    let _cleanup = DaemonGuard::new(&project);
    let elsewhere = |args: &[&str]| {
        let mut command = project.command(args);
        command.current_dir("/");
        project.run_command_unswept(command)
    };
    let up = elsewhere(&["up", "-f", &config, "-d"]);
    assert_eq!(up.code, 0, "{up:#?}");
    let daemon_pid = background_pid(&up.stdout).expect("background line");

    let ps = elsewhere(&["-f", &config, "ps", "--json"]);
    assert_eq!(ps.code, 0, "{ps:#?}");
    let json: Value = serde_json::from_str(&ps.stdout).expect("JSON");
    assert_eq!(json["daemon_pid"], daemon_pid, "{json:#}");
    assert_eq!(json["project"], config.as_str(), "{json:#}");

    let mut logs = None;
    assert!(
        wait_until(WAIT, || {
            let finished = elsewhere(&["logs", "--file", &config, "api"]);
            let found = finished.stdout.contains("hello from api");
            logs = Some(finished);
            found
        }),
        "{logs:#?}"
    );

    // From a subdirectory, the config is found upwards.
    let mut command = project.command(&["ps"]);
    command.current_dir(project.path("sub"));
    let from_sub = project.run_command_unswept(command);
    assert_eq!(from_sub.code, 0, "{from_sub:#?}");
    assert!(from_sub.stdout.contains("ticker"), "{from_sub:#?}");

    let restart = elsewhere(&["restart", "-f", &config, "--all"]);
    assert_eq!(restart.code, 0, "{restart:#?}");
    assert_eq!(
        restart.stdout, "api: running\nticker: running\n",
        "{restart:#?}"
    );
    let json = status(&project);
    assert_eq!(restarts(&json, "api"), 1, "{json:#}");
    assert_eq!(restarts(&json, "ticker"), 1, "{json:#}");

    let down = elsewhere(&["down", "-f", &config]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_no_survivors(&project.mark);
}

// Known bug: this test fails until wrangle is fixed (see the commit message).
#[test]
fn stopping_a_service_stops_what_depends_on_it() {
    // docs/api.yaml: "Stop a service (and what depends on it)"; api::wire::Request::Stop: "Stop
    // these services (and what depends on them)".
    let project = Project::new(
        r#"
[services.db]
command = ["sleep", "432"]

[services.api]
command = ["sleep", "433"]
depends_on = ["db"]

[services.other]
command = ["sleep", "434"]
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    let before = status(&project);
    let api = pid(&before, "api").expect("api pid");
    let other = pid(&before, "other").expect("other pid");

    let stop = project.run(&["stop", "db"]);
    assert_eq!(stop.code, 0, "{stop:#?}");
    let after = status(&project);
    assert_eq!(state(&after, "db"), "stopped", "{after:#}");
    assert_eq!(pid(&after, "other"), Some(other), "{after:#}");
    assert_eq!(
        (state(&after, "api").as_str(), pid(&after, "api")),
        ("stopped", None),
        "api depends on db but kept running after `stop db`: {after:#}"
    );
    assert!(
        wait_until(WAIT, || !is_ours(&project, api)),
        "api (PID {api}) still runs"
    );
}

#[test]
fn leftovers_of_a_daemon_killed_with_its_sentinel_are_found_and_stopped_by_the_next_command() {
    // Killing the daemon and its sentinel together is the worst case: nothing is left to stop
    // the services (under a daemon they have no death signal, so that a successor can take them
    // over), and the leader and a double-forked grandchild live on. The next command must prove
    // they belong to the dead daemon (state.json) and stop them, and say so.
    let project = Project::new(
        r#"
[services.api]
command = ["sh", "-c", "(sleep 431 &) ; exec sleep 432"]
"#,
    );
    let daemon = Daemon::start(&project, &[]);
    assert!(
        wait_until(WAIT, || survivors(&project.mark)
            .iter()
            .any(|(_, command)| command.contains("sleep 431"))),
        "the grandchild did not start"
    );
    let sentinel = sentinel_of(daemon.pid).expect("the daemon's sentinel");
    assert!(send_signal(sentinel, "KILL") && send_signal(daemon.pid, "KILL"));
    assert!(
        wait_until(WAIT, || has_exited(daemon.pid)),
        "the daemon outlived SIGKILL"
    );
    let grandchild = survivors(&project.mark)
        .into_iter()
        .find(|(_, command)| command.contains("sleep 431"));
    assert!(
        grandchild.is_some(),
        "nothing was left to recover: {:?}",
        survivors(&project.mark)
    );

    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 1, "{ps:#?}");
    assert!(ps.stderr.contains("the previous daemon (PID"), "{ps:#?}");
    assert!(
        ps.stderr.contains("stopped 2 leftover process(es)"),
        "{ps:#?}"
    );
    assert!(ps.stderr.contains("sleep 431"), "{ps:#?}");
    assert!(ps.stderr.contains("sleep 432"), "{ps:#?}");
    assert!(
        wait_until(WAIT, || survivors(&project.mark)
            .iter()
            .all(|(_, command)| !command.contains("sleep 43"))),
        "the leftovers were not stopped: {:?}",
        survivors(&project.mark)
    );
    let dir = project_dir(&project);
    assert!(!dir.join("state.json").exists() && dir.join("state.json.previous").exists());
    // Said once: the next command has nothing to recover.
    let again = project.run(&["ps"]);
    assert!(!again.stderr.contains("previous daemon"), "{again:#?}");
}

#[test]
fn a_corrupt_state_file_is_set_aside_with_a_warning() {
    let project = Project::new("[services.a]\ncommand = [\"sleep\", \"433\"]\n");
    // Any command creates the project's directory; then a torn record appears in it.
    assert_eq!(project.run(&["ps"]).code, 1);
    let dir = project_dir(&project);
    fs::write(dir.join("state.json"), "{\"version\": 1, \"daemon_pi").expect("write");
    let daemon = Daemon::start(&project, &[]);
    assert!(
        daemon.up.stderr.contains("state file was unreadable"),
        "{:#?}",
        daemon.up
    );
    assert_eq!(state(&status(&project), "a"), "running");
    let kept: Vec<_> = fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("state.json.corrupt-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "the corrupt record is kept for inspection");
}

#[test]
fn an_unwritable_log_directory_is_reported_and_never_stops_supervision() {
    let project = Project::new(
        r#"
[services.chatty]
command = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.02; done"]
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    let logs = project_dir(&project).join("logs");
    assert!(wait_until(WAIT, || logs.join("chatty.log").exists()));
    // The log directory is replaced by a regular file: nothing can be written there any more.
    fs::rename(&logs, project_dir(&project).join("logs.moved")).expect("move the log dir away");
    fs::write(&logs, "not a directory").expect("plant a file");
    let reported = wait_until(Duration::from_secs(10), || {
        let json = status(&project);
        let chatty = service(&json, "chatty");
        chatty["log_error"].is_string() && chatty["log_lines_dropped"].as_u64().unwrap_or(0) > 0
    });
    assert!(reported, "no log trouble reported: {:#}", status(&project));
    assert_eq!(
        state(&status(&project), "chatty"),
        "running",
        "supervision goes on"
    );
    let ps = project.run(&["ps"]);
    assert!(
        ps.stdout.contains("chatty: cannot write its log file"),
        "{ps:#?}"
    );
    // Once the directory can be written again, the error clears (the count stays, as history).
    fs::remove_file(&logs).expect("remove the file");
    let recovered = wait_until(Duration::from_secs(10), || {
        service(&status(&project), "chatty")["log_error"].is_null()
    });
    assert!(
        recovered,
        "the log error did not clear: {:#}",
        status(&project)
    );
}

#[test]
fn the_daemon_log_is_rotated_like_a_services_log() {
    // A service that crashes and is restarted at once, for ever: every round writes three lines
    // to daemon.log, which rotates at 4 KiB keeping 2 older files.
    let project = Project::new(
        r#"
[logs]
max_file_size = "4KiB"
keep_files = 2

[services.flap]
command = ["sh", "-c", "sleep 0.02; exit 3"]
restart = "on-failure"
backoff_initial = "0s"
backoff_max = "1ms"
max_restarts = 100000
restart_window = "1s"
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    let dir = project_dir(&project);
    let file = |generation: u32| match generation {
        0 => dir.join("daemon.log"),
        n => dir.join(format!("daemon.log.{n}")),
    };
    // Three rotations at least: daemon.log.2 was rotated on to daemon.log.3, which is removed.
    let rotated = wait_until(Duration::from_secs(60), || {
        fs::read_to_string(file(2)).is_ok_and(|text| !text.contains("restart #1)"))
    });
    assert!(rotated, "daemon.log was not rotated three times");
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");

    assert!(!file(3).exists(), "more than keep_files old daemon logs");
    // Each file within the limit, cut between lines; the lines run on from the oldest file to
    // the current one: every restart that began in them, in order, none missing.
    let mut restarts = Vec::new();
    for generation in [2, 1, 0] {
        let text = fs::read_to_string(file(generation)).expect("daemon.log");
        assert!(
            text.len() <= 4096,
            "daemon.log.{generation}: {} bytes",
            text.len()
        );
        assert!(
            text.ends_with('\n'),
            "daemon.log.{generation} ends mid-line"
        );
        let mode = fs::metadata(file(generation))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "daemon.log.{generation} mode {mode:o}");
        restarts.extend(text.lines().filter_map(|line| {
            let line = normalize(line);
            let number = line.strip_prefix("flap * restarting in 0ms (restart #")?;
            number.strip_suffix(')')?.parse::<u64>().ok()
        }));
    }
    let first = *restarts.first().expect("restarts in the daemon logs");
    assert!(
        first > 1,
        "the oldest restarts should have been rotated away"
    );
    let expected: Vec<u64> = (first..first + restarts.len() as u64).collect();
    assert_eq!(restarts, expected);
}

#[test]
fn log_rotation_keeps_the_configured_number_of_files() {
    // 1 MB of output through 64 KiB files, 2 rotated files kept: the current file plus
    // chatty.log.1 and chatty.log.2, never a .3; and the writer was never blocked for it.
    let project = Project::new(
        r#"
[logs]
max_file_size = "64KiB"
keep_files = 2
budget = "1MiB"

[services.chatty]
command = ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo \"line $i of some output\"; done; echo finished; exec sleep 600"]
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    assert!(
        wait_until(WAIT, || log_file_lines(&project, "chatty")
            .iter()
            .any(|line| line.ends_with(" finished"))),
        "the last line never reached the log"
    );
    let mut names = log_file_names(&project, "chatty");
    names.sort();
    assert_eq!(
        names,
        ["chatty.log", "chatty.log.1", "chatty.log.2"],
        "{names:?}"
    );
    let logs = project_dir(&project).join("logs");
    for name in &names {
        let size = fs::metadata(logs.join(name)).expect("stat").len();
        assert!(size <= 64 * 1024, "{name} is {size} bytes");
        // Each file was rotated with its index, and reads back with times.
        assert!(
            logs.join(format!("{name}.idx")).exists(),
            "{name} has no index"
        );
    }
    assert!(
        !logs.join("chatty.log.3.idx").exists(),
        "an index outlived its file"
    );
    let lines = log_file_lines(&project, "chatty");
    assert!(
        lines.iter().all(|line| !line.starts_with("no-time")),
        "a line without time"
    );
    assert_eq!(state(&status(&project), "chatty"), "running");
}

#[test]
fn up_detached_and_down_print_one_json_object_each_for_scripts() {
    let project = Project::new("[services.web]\ncommand = [\"sleep\", \"421\"]\n");
    let _guard = DaemonGuard::new(&project);
    let up = project.run_unswept(&["up", "-d", "--json"]);
    assert_eq!(up.code, 0, "{up:#?}");
    let outcome: Value = serde_json::from_str(&up.stdout)
        .unwrap_or_else(|error| panic!("up -d --json is not one JSON object ({error}): {up:#?}"));
    assert_eq!(outcome["ok"], true, "{outcome:#}");
    assert_eq!(outcome["exit_code"], 0, "{outcome:#}");
    let daemon_pid = outcome["daemon_pid"].as_i64().expect("daemon_pid");
    assert!(daemon_pid > 1, "{outcome:#}");
    assert_eq!(state(&outcome["status"], "web"), "running", "{outcome:#}");
    let web_pid = pid(&outcome["status"], "web").expect("web's pid");
    assert!(is_ours(&project, web_pid));

    let down = project.run(&["down", "--json"]);
    assert_eq!(down.code, 0, "{down:#?}");
    let outcome: Value = serde_json::from_str(&down.stdout)
        .unwrap_or_else(|error| panic!("down --json is not one JSON object ({error}): {down:#?}"));
    assert_eq!(outcome["ok"], true, "{outcome:#}");
    assert_eq!(outcome["stopped"], "daemon", "{outcome:#}");
    let events = outcome["events"].as_array().expect("events");
    assert!(
        events
            .iter()
            .any(|event| event["kind"] == "stopped" && event["service"] == "web"),
        "{outcome:#}"
    );
    assert!(!is_ours(&project, web_pid));

    // Nothing runs any more: the failure is an object too, its reason on stderr.
    let again = project.run(&["down", "--json"]);
    assert_eq!(again.code, 1, "{again:#?}");
    let outcome: Value = serde_json::from_str(&again.stdout).expect("one JSON object");
    assert_eq!(outcome, serde_json::json!({ "ok": false, "exit_code": 1 }));
    assert!(again.stderr.contains("no wrangle is running"), "{again:#?}");
    assert_no_survivors(&project.mark);
}

#[test]
fn up_detached_json_reports_a_failed_start_up_with_its_last_lines() {
    let project = Project::new(
        "[services.bad]\ncommand = [\"sh\", \"-c\", \"echo the-real-error; sleep 0.2; exit 1\"]\nready = { log = \"never printed\" }\n",
    );
    let _guard = DaemonGuard::new(&project);
    let up = project.run_unswept(&["up", "-d", "--json"]);
    assert_eq!(up.code, 1, "{up:#?}");
    let outcome: Value = serde_json::from_str(&up.stdout)
        .unwrap_or_else(|error| panic!("up -d --json is not one JSON object ({error}): {up:#?}"));
    assert_eq!(outcome["ok"], false, "{outcome:#}");
    assert_eq!(outcome["exit_code"], 1, "{outcome:#}");
    let lines = outcome["output"].as_array().expect("output lines");
    assert!(
        lines
            .iter()
            .filter_map(Value::as_str)
            .any(|line| line.contains("bad") && line.contains("the-real-error")),
        "{outcome:#}"
    );
    assert_no_survivors(&project.mark);
}
