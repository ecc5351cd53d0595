//! Readiness probes gate dependents: each kind is checked by a dependent that looks, the moment
//! it starts, for a file the service writes just before it becomes ready.

use crate::support::{Project, WAIT, assert_no_survivors, free_port, python, toml_str};

/// Runs a project whose `svc` creates `svc.flag` right before it becomes ready under `probe`,
/// and whose `dependent` reports whether the flag existed when it started.
fn probe_gates_dependent(service_command: &str, probe: &str) {
    let project = Project::new(&format!(
        r#"
[services.svc]
command = {service_command}
ready = {probe}

[services.dependent]
command = ["sh", "-c", "test -f svc.flag && echo flag-was-there || echo flag-missing; exec sleep 350"]
depends_on = ["svc"]
"#
    ));
    let mut wrangle = project.up(&[]);
    let ready = wrangle.expect_line("svc * ready in");
    let starting = wrangle.expect_line("dependent * starting:");
    assert!(ready < starting, "{}", wrangle.transcript());
    wrangle.expect_line("dependent | flag-was-there");
    wrangle.expect_line("wrangle * all 2 services up in");
    wrangle.signal("INT");
    assert_eq!(wrangle.wait_exit(WAIT), 0, "{}", wrangle.transcript());
    assert_no_survivors(&project.mark);
}

#[test]
fn log_probe() {
    probe_gates_dependent(
        r#"["sh", "-c", "echo booting; sleep 0.3; touch svc.flag; echo listening on 8123; exec sleep 351"]"#,
        r#"{ log = "listening on \\d+", interval = "50ms" }"#,
    );
}

#[test]
fn log_probe_matches_stderr_too() {
    probe_gates_dependent(
        r#"["sh", "-c", "sleep 0.3; touch svc.flag; echo 'accepting connections' >&2; exec sleep 352"]"#,
        r#"{ log = '^accepting connections$' }"#,
    );
}

#[test]
fn notify_probe() {
    let python = python();
    let script = "import os, socket, time\n\
                  time.sleep(0.3)\n\
                  open('svc.flag', 'w').close()\n\
                  address = os.environ['NOTIFY_SOCKET']\n\
                  if address.startswith('@'):\n    address = '\\0' + address[1:]\n\
                  sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
                  sock.connect(address)\n\
                  sock.send(b'STATUS=almost\\nREADY=1')\n\
                  time.sleep(300)\n";
    probe_gates_dependent(
        &format!(r#"["{python}", "-c", {}]"#, toml_str(script)),
        r#"{ notify = true, interval = "50ms" }"#,
    );
}

/// A home so deep that `<project>/run/0.0.notify` is longer than a Unix socket path may be:
/// the notify sockets move to the short runtime directory with the control socket.
#[test]
fn notify_probe_with_a_home_too_deep_for_its_sockets() {
    let project = Project::new(
        r#"
[services.svc]
command = ["sh", "-c", "sleep 0.2; exec python3 -c \"import os, socket; a = os.environ['NOTIFY_SOCKET']; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'READY=1', a); import time; time.sleep(300)\""]
ready = { notify = true }
"#,
    );
    let home = project.path("h").join("d".repeat(100));
    let mut command = project.command(&["up"]);
    command.env("WRANGLE_HOME", &home);
    let mut wrangle = project.spawn_command(command);
    wrangle.expect_line("svc * ready in");
    wrangle.expect_line("wrangle * all 1 service up in");
    wrangle.signal("INT");
    assert_eq!(wrangle.wait_exit(WAIT), 0, "{}", wrangle.transcript());
    assert_no_survivors(&project.mark);
}

#[test]
fn tcp_probe() {
    let port = free_port();
    let python = python();
    let script = format!(
        "import socket, time\n\
         time.sleep(0.3)\n\
         sock = socket.socket()\n\
         sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         sock.bind(('127.0.0.1', {port}))\n\
         open('svc.flag', 'w').close()\n\
         sock.listen()\n\
         time.sleep(300)\n"
    );
    probe_gates_dependent(
        &format!(r#"["{python}", "-c", {}]"#, toml_str(&script)),
        &format!(r#"{{ tcp = {port}, interval = "50ms" }}"#),
    );
}

#[test]
fn http_probe_needs_a_2xx_status() {
    // The server answers 503 first, then 200 once svc.flag exists.
    let port = free_port();
    let python = python();
    let script = format!(
        "import http.server, os, threading, time\n\
         class Handler(http.server.BaseHTTPRequestHandler):\n    \
             def do_GET(self):\n        \
                 ok = os.path.exists('svc.flag')\n        \
                 self.send_response(200 if ok else 503)\n        \
                 self.send_header('Content-Length', '0')\n        \
                 self.end_headers()\n    \
             def log_message(self, *args):\n        \
                 pass\n\
         server = http.server.HTTPServer(('127.0.0.1', {port}), Handler)\n\
         threading.Thread(target=server.serve_forever, daemon=True).start()\n\
         time.sleep(0.5)\n\
         open('svc.flag', 'w').close()\n\
         time.sleep(300)\n"
    );
    probe_gates_dependent(
        &format!(r#"["{python}", "-c", {}]"#, toml_str(&script)),
        &format!(r#"{{ http = "http://127.0.0.1:{port}/health", interval = "50ms" }}"#),
    );
}

#[test]
fn exec_probe_runs_in_the_service_directory() {
    probe_gates_dependent(
        r#"["sh", "-c", "sleep 0.3; touch svc.flag; exec sleep 353"]"#,
        r#"{ exec = ["sh", "-c", "test -f svc.flag"], interval = "50ms" }"#,
    );
}

#[test]
fn readiness_timeout_fails_startup_with_exit_3() {
    let port = free_port();
    let project = Project::new(&format!(
        r#"
[services.slow]
command = ["sleep", "354"]
ready = {{ tcp = {port}, timeout = "1s", interval = "100ms" }}

[services.dependent]
command = ["sh", "-c", "touch dependent.flag; exec sleep 355"]
depends_on = ["slow"]
"#
    ));
    let mut wrangle = project.up(&[]);
    let code = wrangle.wait_exit(WAIT);
    assert_eq!(code, 3, "{}", wrangle.transcript());
    wrangle.expect_line("slow * not ready after 1s");
    wrangle.expect_line("wrangle * start-up failed: slow");
    wrangle.expect_line("wrangle * every process is stopped");
    assert!(
        wrangle.find_line("dependent * starting").is_none(),
        "{}",
        wrangle.transcript()
    );
    assert!(!project.exists("dependent.flag"));
    assert_no_survivors(&project.mark);
}

#[test]
fn exec_probe_that_hangs_is_bounded_by_the_timeout() {
    let project = Project::new(
        r#"
[services.svc]
command = ["sleep", "356"]
ready = { exec = ["sleep", "357"], timeout = "1s", interval = "100ms" }
"#,
    );
    let mut wrangle = project.up(&[]);
    let code = wrangle.wait_exit(WAIT);
    assert_eq!(code, 3, "{}", wrangle.transcript());
    // The probe's own process (`sleep 357`) is part of what must not survive.
    assert_no_survivors(&project.mark);
}

#[test]
fn recheck_reports_readiness_lost_and_back_without_restarting() {
    let project = Project::new(
        r#"
[services.svc]
command = ["sleep", "356"]
ready = { exec = ["test", "-f", "healthy"], interval = "50ms", recheck = "100ms" }
"#,
    );
    project.write("healthy", "");
    let mut wrangle = project.up(&[]);
    let ready = wrangle.expect_line("svc * ready in");
    std::fs::remove_file(project.path("healthy")).expect("remove healthy");
    let lost = wrangle.expect_line_from(
        ready,
        "svc * readiness lost: 3 checks in a row failed",
        WAIT,
    );
    project.write("healthy", "");
    wrangle.expect_line_from(lost, "svc * ready again", WAIT);
    // Reported, not acted on: the same instance runs on.
    assert!(
        wrangle.find_line("svc * stopping").is_none(),
        "{}",
        wrangle.transcript()
    );
    wrangle.signal("INT");
    assert_eq!(wrangle.wait_exit(WAIT), 0, "{}", wrangle.transcript());
    assert_no_survivors(&project.mark);
}
