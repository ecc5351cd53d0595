//! Notifications (`[[notify]]`) from a real daemon to real receivers: an HTTP server in the test
//! for webhooks, a shell script writing files for commands. Crashing services are `sh -c`
//! one-liners; every wait is bounded and polls a condition.
//!
//! Each test holds the harness's `Daemon` declared right after its project: `wrangle down`, then
//! proof that nothing is left, however the test ends.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Daemon, Project, WAIT, assert_no_survivors, daemon_log, down, free_port, restarts, status,
    toml_str, wait_until,
};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    request_line: String,
    /// Header lines, lowercased.
    headers: Vec<String>,
    body: Value,
}

#[derive(Default)]
struct ReceiverState {
    requests: Vec<Received>,
    /// While true, requests are read and recorded but not answered.
    hold: bool,
}

/// A webhook receiver: a std HTTP/1.1 server on a free loopback port, one thread per
/// connection. It records every request and answers `200 OK`, or holds the answers back.
struct Receiver {
    port: u16,
    state: Arc<(Mutex<ReceiverState>, Condvar)>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start(hold: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().expect("receiver address").port();
        let state = Arc::new((
            Mutex::new(ReceiverState {
                requests: Vec::new(),
                hold,
            }),
            Condvar::new(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let (accept_state, accept_stop) = (Arc::clone(&state), Arc::clone(&stop));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&accept_state);
                thread::spawn(move || serve(stream, &state));
            }
        });
        Receiver { port, state, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Received> {
        self.lock().requests.clone()
    }

    /// Waits (bounded) until at least `count` requests arrived; returns them all.
    fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let (mutex, condvar) = &*self.state;
        let state = mutex.lock().unwrap_or_else(PoisonError::into_inner);
        let (state, _) = condvar
            .wait_timeout_while(state, timeout, |state| state.requests.len() < count)
            .unwrap_or_else(PoisonError::into_inner);
        let requests = state.requests.clone();
        assert!(
            requests.len() >= count,
            "expected {count} request(s) within {timeout:?}, got {requests:#?}"
        );
        requests
    }

    /// Answers the held requests and every later one at once.
    fn release(&self) {
        self.lock().hold = false;
        self.state.1.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReceiverState> {
        self.state.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.release();
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one request from `stream`, records it, and answers when the receiver does not hold.
fn serve(stream: TcpStream, state: &(Mutex<ReceiverState>, Condvar)) {
    let Ok(reader_stream) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reader_stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        headers.push(line);
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (mutex, condvar) = state;
    let mut guard = mutex.lock().unwrap_or_else(PoisonError::into_inner);
    guard.requests.push(Received {
        request_line: request_line.trim_end().to_string(),
        headers,
        body,
    });
    condvar.notify_all();
    while guard.hold {
        guard = condvar.wait(guard).unwrap_or_else(PoisonError::into_inner);
    }
    drop(guard);
    let mut stream = stream;
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
}

/// A service that crashes `delay` after each start and is restarted (fast) forever.
fn crash_loop(delay: &str) -> String {
    format!(
        "[services.crasher]\ncommand = [\"sh\", \"-c\", \"sleep {delay}; exit 3\"]\nrestart = \"always\"\nbackoff_initial = \"100ms\"\nbackoff_max = \"100ms\"\nmax_restarts = 100000\nrestart_window = \"1m\"\n"
    )
}

#[test]
fn notify_webhook_receives_the_crash_event_as_json() {
    let receiver = Receiver::start(false);
    let project = Project::new(&format!(
        "[services.crasher]\ncommand = [\"sh\", \"-c\", \"sleep 0.3; exit 3\"]\nrestart = \"never\"\n\n\
         [services.quiet]\ncommand = [\"sleep\", \"60\"]\n\n\
         [[notify]]\non = [\"crashed\"]\nwebhook = {}\n",
        toml_str(&receiver.url("/hooks/wrangle?token=1"))
    ));
    let _daemon = Daemon::start(&project, &[]);
    let requests = receiver.wait_for(1, WAIT);
    let request = &requests[0];
    assert_eq!(request.request_line, "POST /hooks/wrangle?token=1 HTTP/1.1");
    assert!(
        request
            .headers
            .iter()
            .any(|header| header == "content-type: application/json"),
        "{request:#?}"
    );
    let body = &request.body;
    assert_eq!(body["version"], 1, "{body:#}");
    assert_eq!(body["event"]["kind"], "crashed", "{body:#}");
    assert_eq!(body["event"]["service"], "crasher", "{body:#}");
    let message = body["event"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("code 3"), "{body:#}");
    assert!(
        body["event"]["time"]
            .as_str()
            .is_some_and(|time| time.ends_with('Z'))
    );
    let root = project.root();
    let name = root.file_name().expect("a name").to_string_lossy();
    assert_eq!(body["project"], name.as_ref(), "{body:#}");
    assert_eq!(
        body["project_path"],
        project.path("wrangle.toml").display().to_string(),
        "{body:#}"
    );
    assert!(body["host"].is_string(), "{body:#}");
    assert_eq!(body["suppressed"], 0, "{body:#}");
    down(&project);
    // Only `crashed` was asked for: the stop sent nothing more.
    assert_eq!(receiver.requests().len(), 1, "{:#?}", receiver.requests());
    assert_no_survivors(&project.mark);
}

#[test]
fn notify_command_gets_the_payload_on_stdin_and_in_its_environment() {
    let project = Project::empty();
    let out = project.root().join("out");
    fs::create_dir(&out).expect("mkdir out");
    // Written under a temporary name and renamed, so the test never reads half a file. The
    // `shutting_down` notification takes a moment, so it still runs when the daemon's final
    // sweep looks for leftovers: as wrangle's helper it must be left alone, and waited for.
    let script = format!(
        "set -e; dir={}; cat > \"$dir/$WRANGLE_EVENT.json.tmp\"; env | grep '^WRANGLE_' | sort > \"$dir/$WRANGLE_EVENT.env.tmp\"; \
         if [ \"$WRANGLE_EVENT\" = shutting_down ]; then sleep 0.5; fi; \
         mv \"$dir/$WRANGLE_EVENT.env.tmp\" \"$dir/$WRANGLE_EVENT.env\"; mv \"$dir/$WRANGLE_EVENT.json.tmp\" \"$dir/$WRANGLE_EVENT.json\"",
        out.display()
    );
    project.write(
        "wrangle.toml",
        &format!(
            "[services.crasher]\ncommand = [\"sh\", \"-c\", \"sleep 0.3; exit 3\"]\nrestart = \"never\"\n\n\
             [services.quiet]\ncommand = [\"sleep\", \"60\"]\n\n\
             [[notify]]\non = [\"crashed\", \"stopped\", \"shutting_down\"]\nservices = [\"crasher\", \"quiet\"]\ncommand = [\"sh\", \"-c\", {}]\n",
            toml_str(&script)
        ),
    );
    let _daemon = Daemon::start(&project, &[]);
    let crashed = out.join("crashed.json");
    assert!(
        wait_until(WAIT, || crashed.exists()),
        "no crashed.json; daemon.log:\n{}",
        daemon_log(&project)
    );
    let payload: Value =
        serde_json::from_str(&fs::read_to_string(&crashed).expect("read")).expect("JSON on stdin");
    assert_eq!(payload["event"]["kind"], "crashed", "{payload:#}");
    assert_eq!(payload["event"]["service"], "crasher", "{payload:#}");
    assert_eq!(payload["suppressed"], 0, "{payload:#}");
    let env = fs::read_to_string(out.join("crashed.env")).expect("read env");
    for expected in [
        "WRANGLE_EVENT=crashed",
        "WRANGLE_SERVICE=crasher",
        "WRANGLE_SUPPRESSED=0",
        &format!(
            "WRANGLE_PROJECT_PATH={}",
            project.path("wrangle.toml").display()
        ),
    ] {
        assert!(
            env.lines().any(|line| line == expected),
            "no {expected} in:\n{env}"
        );
    }
    assert!(
        env.lines()
            .any(|line| line.starts_with("WRANGLE_MESSAGE=") && line.contains("code 3")),
        "{env}"
    );
    // The command is not a member of any service, and knows no run token.
    assert!(!env.contains("WRANGLE_RUN="), "{env}");

    down(&project);
    // The notifications of `down` ran to completion before the daemon exited, and the final
    // sweep did not take the slow one for a leftover.
    for name in ["shutting_down.json", "stopped.json"] {
        let path = out.join(name);
        assert!(
            path.exists(),
            "no {name}; daemon.log:\n{}",
            daemon_log(&project)
        );
    }
    let stopped: Value =
        serde_json::from_str(&fs::read_to_string(out.join("stopped.json")).expect("read"))
            .expect("JSON");
    assert_eq!(stopped["event"]["service"], "quiet", "{stopped:#}");
    let shutting_down = fs::read_to_string(out.join("shutting_down.env")).expect("read env");
    assert!(
        shutting_down.lines().any(|line| line == "WRANGLE_SERVICE="),
        "{shutting_down}"
    );
    let log = daemon_log(&project);
    assert!(!log.contains("leftover"), "{log}");
    assert!(!log.contains("not sent"), "{log}");
    assert_no_survivors(&project.mark);
}

#[test]
fn notify_rate_limit_holds_back_a_crash_loop_and_reports_the_count() {
    let receiver = Receiver::start(false);
    let project = Project::new(&format!(
        "{}\n[[notify]]\non = [\"crashed\"]\nwebhook = {}\nrate_limit = 2\nrate_window = \"3s\"\n",
        crash_loop("0"),
        toml_str(&receiver.url("/"))
    ));
    let _daemon = Daemon::start(&project, &[]);
    // The first window lets two through; the flood behind them is counted, and reported as
    // soon as the window has room again.
    let mut reported_at = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            reported_at = receiver
                .requests()
                .iter()
                .position(|request| request.body["suppressed"].as_u64().unwrap_or(0) > 0);
            reported_at.is_some()
        }),
        "no notification reported suppressed events: {:#?}\ndaemon.log:\n{}",
        receiver.requests(),
        daemon_log(&project)
    );
    let requests = receiver.requests();
    let reported_at = reported_at.expect("found");
    assert_eq!(reported_at, 2, "the limit is 2 per window: {requests:#?}");
    for request in &requests[..2] {
        assert_eq!(request.body["event"]["kind"], "crashed", "{requests:#?}");
        assert_eq!(request.body["suppressed"], 0, "{requests:#?}");
    }
    let report = &requests[2].body;
    let suppressed = report["suppressed"].as_u64().expect("a count");
    match report["event"]["kind"].as_str() {
        Some("suppressed") => {
            assert_eq!(report["event"]["service"], Value::Null, "{report:#}");
            let message = report["event"]["message"].as_str().unwrap_or_default();
            assert!(
                message.starts_with(&format!("{suppressed} more event(s) not sent")),
                "{report:#}"
            );
        }
        // A crash that came when the window had room carries the count itself.
        Some("crashed") => {}
        other => panic!("unexpected kind {other:?}: {report:#}"),
    }
    // Every crash so far was notified or counted, never both and never lost.
    let crashes = restarts(&status(&project), "crasher");
    assert!(
        crashes >= 2 + suppressed - 1,
        "{crashes} crashes, {requests:#?}"
    );
}

#[test]
fn notify_slow_webhook_does_not_delay_restarts() {
    // The receiver reads each request and then says nothing until released.
    let receiver = Receiver::start(true);
    let project = Project::new(&format!(
        "{}\n[[notify]]\non = [\"crashed\"]\nwebhook = {}\ntimeout = \"60s\"\nretries = 0\nrate_limit = 1000\n",
        crash_loop("0.05"),
        toml_str(&receiver.url("/slow"))
    ));
    let _daemon = Daemon::start(&project, &[]);
    receiver.wait_for(1, WAIT);
    let before = restarts(&status(&project), "crasher");
    // The first notification hangs (for up to its 60 s timeout) while the service goes on
    // crashing and being restarted.
    assert!(
        wait_until(WAIT, || restarts(&status(&project), "crasher")
            >= before + 5),
        "restarts stalled at {} while a webhook hung; daemon.log:\n{}",
        restarts(&status(&project), "crasher"),
        daemon_log(&project)
    );
    // The entry delivers one at a time: the later crashes wait behind the hanging one.
    assert_eq!(receiver.requests().len(), 1, "{:#?}", receiver.requests());
    // Once the receiver answers, the queued notifications arrive, in order.
    receiver.release();
    let requests = receiver.wait_for(4, WAIT);
    for request in &requests {
        assert_eq!(request.body["event"]["kind"], "crashed", "{requests:#?}");
    }
    let times: Vec<&str> = requests
        .iter()
        .map(|request| request.body["event"]["time"].as_str().unwrap_or_default())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted, "out of order: {requests:#?}");
}

#[test]
fn notify_failed_delivery_is_retried_and_reported_in_the_daemon_log() {
    // Nothing listens there: every attempt is refused.
    let port = free_port();
    let project = Project::new(&format!(
        "[services.crasher]\ncommand = [\"sh\", \"-c\", \"sleep 0.3; exit 3\"]\nrestart = \"never\"\n\n\
         [services.quiet]\ncommand = [\"sleep\", \"60\"]\n\n\
         [[notify]]\non = [\"crashed\"]\nwebhook = \"http://127.0.0.1:{port}/x\"\nretries = 1\ntimeout = \"2s\"\n"
    ));
    let _daemon = Daemon::start(&project, &[]);
    let expected = format!(
        "notify[0] (webhook http://127.0.0.1:{port}/x): not sent (crashed of crasher): connection refused (after 2 attempts)"
    );
    assert!(
        wait_until(WAIT, || daemon_log(&project).contains(&expected)),
        "no {expected:?} in daemon.log:\n{}",
        daemon_log(&project)
    );
    // The daemon carries on.
    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 0, "{ps:#?}");
}

#[test]
fn notify_config_errors_are_located() {
    let project = Project::new(
        "[services.api]\ncommand = \"sleep 1\"\n\n[[notify]]\non = [\"crashd\"]\nservices = [\"apy\"]\nwebhook = \"https://example.com/\"\nformat = \"slak\"\n",
    );
    let up = project.run(&["up"]);
    assert_eq!(up.code, 2, "{up:#?}");
    for expected in [
        "unknown event kind \"crashd\"",
        "wrangle.toml:5:7",
        "did you mean \"crashed\"?",
        "unknown service \"apy\"",
        "wrangle.toml:6:13",
        "did you mean \"api\"?",
        "unknown webhook format \"slak\"",
        "wrangle.toml:8:10",
    ] {
        assert!(
            up.stderr.contains(expected),
            "no {expected:?} in:\n{}",
            up.stderr
        );
    }
}

#[test]
fn notify_foreground_up_says_it_sends_nothing() {
    let project = Project::empty();
    let marker = project.root().join("notified");
    project.write(
        "wrangle.toml",
        &format!(
            "[services.once]\ncommand = [\"true\"]\nrestart = \"never\"\n\n\
             [[notify]]\non = [\"exited\", \"shutting_down\"]\ncommand = [\"touch\", {}]\n",
            toml_str(&marker.display().to_string())
        ),
    );
    let up = project.run(&["up"]);
    assert_eq!(up.code, 0, "{up:#?}");
    assert!(
        up.stdout
            .contains("[[notify]] entries are not used in the foreground"),
        "{up:#?}"
    );
    assert!(!marker.exists(), "a foreground run sent a notification");
}
