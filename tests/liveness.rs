//! Liveness probes (`live`) acting on a real daemon: a Python HTTP server that hangs while it
//! keeps its port open (its only thread blocks in a request, so the kernel still accepts
//! connections into the backlog and nobody answers) is restarted; a healthy one beside it, probed
//! the same way all along, keeps its process.

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Daemon, Project, WAIT, daemon_log, free_ports, pid, python, restarts, service, status,
    toml_str, wait_until,
};

/// A single-threaded HTTP server: `/health` answers 200 at once, `/hang` blocks the server's
/// only thread for good.
fn server(port: u16) -> String {
    let script = format!(
        "import http.server, time\n\
         class Handler(http.server.BaseHTTPRequestHandler):\n    \
             def do_GET(self):\n        \
                 if self.path == '/hang':\n            \
                     time.sleep(3600)\n        \
                 self.send_response(200)\n        \
                 self.send_header('Content-Length', '0')\n        \
                 self.end_headers()\n    \
             def log_message(self, *args):\n        \
                 pass\n\
         http.server.HTTPServer(('127.0.0.1', {port}), Handler).serve_forever()\n"
    );
    format!(r#"["{}", "-c", {}]"#, python(), toml_str(&script))
}

#[test]
fn a_hung_server_that_keeps_its_port_is_restarted_and_a_healthy_one_never() {
    // Distinct: two servers on one port would make one crash (not hang).
    let [hung_port, healthy_port] = free_ports();
    let project = Project::empty();
    let out = project.root();
    let notified = out.join("liveness_failed.json");
    let notify_script = format!(
        "cat > {dir}/liveness.tmp && mv {dir}/liveness.tmp {file}",
        dir = out.display(),
        file = notified.display()
    );
    // A timeout of a second: a loaded machine answers a local request well within it, while a
    // hung server never does.
    let live = |port| {
        format!(
            r#"{{ http = "http://127.0.0.1:{port}/health", interval = "200ms", timeout = "1s", failures = 3 }}"#
        )
    };
    project.write(
        "wrangle.toml",
        &format!(
            "[services.hung]\ncommand = {}\nready = {{ tcp = {hung_port}, interval = \"50ms\" }}\nlive = {}\nstop_timeout = \"2s\"\n\n\
             [services.healthy]\ncommand = {}\nready = {{ tcp = {healthy_port}, interval = \"50ms\" }}\nlive = {}\n\n\
             [[notify]]\non = [\"liveness_failed\"]\ncommand = [\"sh\", \"-c\", {}]\n",
            server(hung_port),
            live(hung_port),
            server(healthy_port),
            live(healthy_port),
            toml_str(&notify_script),
        ),
    );
    let _daemon = Daemon::start(&project, &[]);
    let before = status(&project);
    let hung_pid = pid(&before, "hung").expect("hung runs");
    let healthy_pid = pid(&before, "healthy").expect("healthy runs");

    // Hang it: the request is sent and never answered; the port stays open.
    let mut hang = TcpStream::connect(("127.0.0.1", hung_port)).expect("connect to hung");
    hang.write_all(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send /hang");

    let deadline = Duration::from_secs(30);
    let mut last = Value::Null;
    let restarted = wait_until(deadline, || {
        last = status(&project);
        pid(&last, "hung").is_some_and(|pid| pid != hung_pid)
            && service(&last, "hung")["state"] == "ready"
    });
    assert!(
        restarted,
        "hung was not restarted: {last:#}\ndaemon.log:\n{}",
        daemon_log(&project)
    );
    let hung = service(&last, "hung");
    assert_eq!(hung["restarts_by_cause"]["liveness"], 1, "{last:#}");
    let reason = hung["last_restart_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("liveness probe failed: http http://127.0.0.1:")
            && reason.contains("failed 3 times in a row"),
        "{last:#}"
    );

    // The notification names the event and the service.
    assert!(
        wait_until(WAIT, || notified.exists()),
        "no liveness_failed notification; daemon.log:\n{}",
        daemon_log(&project)
    );
    let payload: Value =
        serde_json::from_str(&fs::read_to_string(&notified).expect("read")).expect("JSON");
    assert_eq!(payload["event"]["kind"], "liveness_failed", "{payload:#}");
    assert_eq!(payload["event"]["service"], "hung", "{payload:#}");

    // The healthy one was probed the whole time and is the same process.
    assert_eq!(pid(&last, "healthy"), Some(healthy_pid), "{last:#}");
    assert_eq!(restarts(&last, "healthy"), 0, "{last:#}");
    assert_eq!(service(&last, "healthy")["state"], "ready", "{last:#}");
    drop(hang);
}
