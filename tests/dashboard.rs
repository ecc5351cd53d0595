//! The web dashboard of a real daemon (`[dashboard] listen`, `wrangle dashboard`): the API over
//! TCP behind the token, the link `wrangle dashboard` prints, token rotation, a held address,
//! and the listener's end with the daemon (or a foreground `up`, which serves it as well). What a browser does with it is in `browser.rs`.
//!
//! Daemons are stopped by their [`DaemonGuard`], however the test ends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Daemon, DaemonGuard, Project, WAIT, assert_no_survivors, failed_detach, free_port, normalize,
    project_dir, request, wait_until,
};

/// `wrangle dashboard`, which must succeed: the URL it printed, its port and its token.
pub(crate) fn dashboard_link(project: &Project) -> (String, u16, String) {
    let run = project.run(&["dashboard"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let url = run.stdout.trim().to_string();
    assert_eq!(url.lines().count(), 1, "one line on stdout: {run:#?}");
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("not a loopback URL: {url}"));
    let (port, token) = rest
        .split_once("/#token=")
        .unwrap_or_else(|| panic!("no token fragment: {url}"));
    let port: u16 = port.parse().expect("a port");
    assert_eq!(token.len(), 64, "{url}");
    assert!(token.bytes().all(|byte| byte.is_ascii_hexdigit()), "{url}");
    (url.clone(), port, token.to_string())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `GET /v1/status` with the token, parsed.
fn status(port: u16, token: &str) -> Value {
    let answer = request(
        port,
        "GET",
        "/v1/status",
        &[("Authorization", &bearer(token))],
    )
    .expect("connect to the dashboard");
    assert_eq!(answer.status, 200, "{answer:?}");
    serde_json::from_str(&answer.body).unwrap_or_else(|error| panic!("{error}: {answer:?}"))
}

fn pid_of(status: &Value, name: &str) -> Option<i64> {
    status["services"]
        .as_array()?
        .iter()
        .find(|service| service["name"] == name)?["pid"]
        .as_i64()
}

#[test]
fn a_configured_dashboard_serves_the_api_behind_its_token() {
    let port = free_port();
    let project = Project::new(&format!(
        r#"
[dashboard]
listen = "127.0.0.1:{port}"

[services.web]
command = ["sh", "-c", "echo hello; exec sleep 440"]
"#
    ));
    let daemon = Daemon::start(&project, &[]);
    assert!(
        daemon
            .up
            .stdout
            .lines()
            .map(normalize)
            .any(|line| line
                == format!(
                    "wrangle * dashboard on http://127.0.0.1:{port}/ (`wrangle dashboard` prints a link with the login token)"
                )),
        "{:#?}",
        daemon.up
    );

    let (url, link_port, token) = dashboard_link(&project);
    assert_eq!(link_port, port, "{url}");
    // The token is kept private in the project's state directory.
    let token_file = project_dir(&project).join("dashboard.token");
    let metadata = std::fs::symlink_metadata(&token_file).expect("token file");
    assert_eq!(metadata.mode() & 0o7777, 0o600);
    assert_eq!(
        std::fs::read_to_string(&token_file).expect("read").trim(),
        token
    );
    assert_eq!(
        dashboard_link(&project).2,
        token,
        "the same link every time"
    );

    // Nothing without the token; everything with it.
    let refused = request(port, "GET", "/v1/status", &[]).expect("connect");
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(!refused.body.contains("web") && !refused.body.contains("wrangle-it-"));
    let page = request(port, "GET", "/", &[]).expect("connect");
    assert_eq!(page.status, 200);
    assert!(page.header("content-security-policy").is_some());
    let before = status(port, &token);
    let old_pid = pid_of(&before, "web").expect("web runs");

    // A script restarts a service with the bearer token and no Origin; a cross-origin POST is
    // refused and changes nothing.
    let forged = request(
        port,
        "POST",
        "/v1/services/web/restart",
        &[
            ("Authorization", &bearer(&token)),
            ("Origin", "http://evil.example"),
        ],
    )
    .expect("connect");
    assert_eq!(forged.status, 403, "{forged:?}");
    assert_eq!(pid_of(&status(port, &token), "web"), Some(old_pid));
    let restart = request(
        port,
        "POST",
        "/v1/services/web/restart",
        &[("Authorization", &bearer(&token))],
    )
    .expect("connect");
    assert_eq!(restart.status, 202, "{restart:?}");
    let mut last = Value::Null;
    let restarted = wait_until(WAIT, || {
        last = status(port, &token);
        pid_of(&last, "web").is_some_and(|pid| pid != old_pid)
    });
    assert!(restarted, "web did not get a new PID: {last:#}");

    // Rotation: the old token stops working at once, the new one works.
    let rotate = project.run(&["dashboard", "--rotate-token"]);
    assert_eq!(rotate.code, 0, "{rotate:#?}");
    assert!(
        rotate.stdout.contains("every open dashboard is signed out"),
        "{rotate:#?}"
    );
    let new_token = rotate
        .stdout
        .lines()
        .find_map(|line| {
            line.split_once("#token=")
                .map(|(_, token)| token.to_string())
        })
        .unwrap_or_else(|| panic!("no new link: {rotate:#?}"));
    assert_ne!(new_token, token);
    let old = request(
        port,
        "GET",
        "/v1/status",
        &[("Authorization", &bearer(&token))],
    )
    .expect("connect");
    assert_eq!(old.status, 401, "{old:?}");
    status(port, &new_token);

    // The listener ends with the daemon.
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert!(
        wait_until(WAIT, || TcpStream::connect(("127.0.0.1", port)).is_err()),
        "the dashboard port is still open after `down`"
    );
    drop(daemon);
    assert_no_survivors(&project.mark);
}

#[test]
fn wrangle_dashboard_starts_it_on_a_free_loopback_port_when_none_is_configured() {
    let project = Project::new(
        r#"
[services.web]
command = ["sleep", "441"]
"#,
    );
    let daemon = Daemon::start(&project, &[]);
    assert!(
        !daemon.up.stdout.contains("dashboard on"),
        "served before anyone asked: {:#?}",
        daemon.up
    );
    let (url, port, token) = dashboard_link(&project);
    let state = status(port, &token);
    assert_eq!(state["services"][0]["name"], "web", "{state:#}");
    let (again, _, _) = dashboard_link(&project);
    assert_eq!(again, url, "the same port and token while the daemon runs");

    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert!(wait_until(WAIT, || TcpStream::connect(("127.0.0.1", port)).is_err()));
    drop(daemon);
    assert_no_survivors(&project.mark);
}

#[test]
fn wrangle_dashboard_serves_a_foreground_up_too() {
    let project = Project::new(
        r#"
[services.web]
command = ["sleep", "443"]
"#,
    );
    let _guard = DaemonGuard::new(&project);
    let mut up = project.up(&[]);
    up.expect_line("wrangle * all 1 service up in");
    let (_, port, token) = dashboard_link(&project);
    let state = status(port, &token);
    assert_eq!(state["foreground"], true, "{state:#}");
    assert_eq!(state["daemon_pid"], up.pid(), "{state:#}");
    assert_eq!(state["services"][0]["name"], "web", "{state:#}");

    // The dashboard ends with the foreground run.
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
    assert!(wait_until(WAIT, || TcpStream::connect(("127.0.0.1", port)).is_err()));
    assert_no_survivors(&project.mark);
}

#[test]
fn wrangle_dashboard_without_a_daemon_fails_but_rotates_the_token_file() {
    let project = Project::new("[services.web]\ncommand = [\"sleep\", \"442\"]\n");
    let _guard = DaemonGuard::new(&project);
    let run = project.run(&["dashboard"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("no wrangle daemon is running for"),
        "{run:#?}"
    );
    let rotate = project.run(&["dashboard", "--rotate-token"]);
    assert_eq!(rotate.code, 0, "{rotate:#?}");
    assert!(rotate.stdout.contains("no daemon runs"), "{rotate:#?}");
    let token_file = project_dir(&project).join("dashboard.token");
    let first = std::fs::read_to_string(&token_file).expect("token file written");
    assert_eq!(first.trim().len(), 64);
    let again = project.run(&["dashboard", "--rotate-token"]);
    assert_eq!(again.code, 0, "{again:#?}");
    assert_ne!(std::fs::read_to_string(&token_file).expect("token"), first);

    // The next daemon uses the file's token.
    let port = free_port();
    project.write(
        "wrangle.toml",
        &format!(
            "[dashboard]\nlisten = {port}\n\n[services.web]\ncommand = [\"sleep\", \"442\"]\n"
        ),
    );
    let daemon = Daemon::start(&project, &[]);
    let (_, link_port, token) = dashboard_link(&project);
    assert_eq!(link_port, port);
    assert_eq!(
        token,
        std::fs::read_to_string(&token_file).expect("token").trim()
    );
    drop(daemon);
    assert_no_survivors(&project.mark);
}

#[test]
fn a_held_dashboard_address_refuses_up_d_with_exit_4_naming_the_holder() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let project = Project::new(&format!(
        r#"
[dashboard]
listen = "127.0.0.1:{port}"

[services.web]
command = ["sh", "-c", "touch started.flag; exec sleep 443"]
"#
    ));
    let output = failed_detach(&project, 4);
    let me = std::process::id();
    assert!(
        output.contains(&format!(
            "error: dashboard address 127.0.0.1:{port} ([dashboard] listen) is in use by PID {me} ("
        )),
        "{output}"
    );
    assert!(
        output.contains("or choose another address for `listen` in [dashboard]"),
        "{output}"
    );
    assert!(!project.exists("started.flag"), "the service was started");
    drop(holder);
}

#[test]
fn a_dashboard_on_a_service_port_is_a_configuration_error() {
    let port = free_port();
    let project = Project::new(&format!(
        r#"
[dashboard]
listen = "127.0.0.1:{port}"

[services.web]
command = ["sleep", "444"]
port = {port}
"#
    ));
    let output = failed_detach(&project, 2);
    assert!(
        output.contains(&format!(
            "[dashboard] listen = \"127.0.0.1:{port}\" uses port {port}, which service web declares"
        )),
        "{output}"
    );
}

#[test]
fn a_dashboard_on_a_socket_port_is_a_configuration_error() {
    let port = free_port();
    let project = Project::new(&format!(
        r#"
[dashboard]
listen = "127.0.0.1:{port}"

[sockets.http]
listen = "tcp://127.0.0.1:{port}"

[services.web]
command = ["sleep", "446"]
sockets = ["http"]
"#
    ));
    let output = failed_detach(&project, 2);
    assert!(
        output.contains(&format!(
            "[dashboard] listen = \"127.0.0.1:{port}\" uses port {port}, which [sockets.http] listens on"
        )),
        "{output}"
    );
}

#[test]
fn a_dashboard_beyond_loopback_is_served_with_a_warning_and_still_needs_the_token() {
    let port = free_port();
    let project = Project::new(&format!(
        r#"
[dashboard]
listen = "0.0.0.0:{port}"

[services.web]
command = ["sleep", "445"]
"#
    ));
    let daemon = Daemon::start(&project, &[]);
    let output = format!("{}{}", daemon.up.stdout, daemon.up.stderr);
    assert!(
        output.contains(&format!(
            "the dashboard listens on 0.0.0.0:{port}, which is not a loopback address"
        )),
        "{output}"
    );
    let (url, link_port, token) = dashboard_link(&project);
    assert_eq!(link_port, port, "reached through loopback: {url}");
    let refused = request(port, "GET", "/v1/status", &[]).expect("connect");
    assert_eq!(refused.status, 401);
    status(port, &token);
    drop(daemon);
    assert_no_survivors(&project.mark);
}

/// Reads the event stream at `path` (with the token) until its text contains every one of
/// `needles`; fails the test after `WAIT`. Returns what was read.
fn stream_until(port: u16, path: &str, token: &str, needles: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("write");
    let mut seen = Vec::new();
    let mut buffer = [0u8; 8192];
    let found = wait_until(WAIT, || {
        if let Ok(read) = stream.read(&mut buffer) {
            seen.extend_from_slice(&buffer[..read]);
        }
        let text = String::from_utf8_lossy(&seen);
        needles.iter().all(|needle| text.contains(needle))
    });
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(found, "not all of {needles:?} in {path}:\n{text}");
    text
}

#[test]
fn the_records_keep_restarts_probes_events_notifications_and_the_start_up() {
    let port = free_port();
    let db_port = free_port();
    let project = Project::new(&format!(
        r#"
[dashboard]
listen = {port}

[[notify]]
on = ["crashed"]
command = ["true"]

[services.db]
command = {db}
ready = {{ tcp = {db_port}, interval = "50ms" }}

[services.flaky]
command = ["sh", "-c", "if [ -f crashed ]; then exec sleep 446; fi; while [ ! -f crash ]; do sleep 0.05; done; touch crashed; exit 3"]
depends_on = ["db"]
backoff_initial = "100ms"
env = {{ API_TOKEN = "hunter2", GREETING = "hello" }}
"#,
        db = crate::support::listener(db_port),
    ));
    let daemon = Daemon::start(&project, &[]);
    let (_, _, token) = dashboard_link(&project);
    project.write("crash", "");
    let history = stream_until(
        port,
        "/v1/events?n=100&service=flaky",
        &token,
        &[
            "event: started",
            "event: crashed",
            "event: restarted",
            "event: notification_sent",
        ],
    );
    assert!(
        !history.contains("\"service\":\"db\""),
        "filtered by service:\n{history}"
    );

    let mut details = Value::Null;
    let recorded = wait_until(WAIT, || {
        let answer = request(
            port,
            "GET",
            "/v1/services/flaky/details",
            &[("Authorization", &bearer(&token))],
        )
        .expect("connect");
        assert_eq!(answer.status, 200, "{answer:?}");
        details = serde_json::from_str(&answer.body).expect("json");
        details["restarts"]
            .as_array()
            .is_some_and(|list| !list.is_empty())
    });
    assert!(recorded, "no restart recorded: {details:#}");
    let restarts = details["restarts"].as_array().expect("restarts");
    assert_eq!(restarts.len(), 1, "{details:#}");
    assert_eq!(restarts[0]["cause"], "crash");
    assert_eq!(restarts[0]["last_exit"]["code"], 3);
    let env = details["config"]["env"].as_array().expect("env");
    let secret = env
        .iter()
        .find(|var| var["name"] == "API_TOKEN")
        .expect("API_TOKEN");
    assert_eq!(secret["masked"], true);
    assert!(
        !details.to_string().contains("hunter2"),
        "a secret left the daemon: {details:#}"
    );
    let greeting = env
        .iter()
        .find(|var| var["name"] == "GREETING")
        .expect("GREETING");
    assert_eq!(greeting["value"], "hello");

    let db = request(
        port,
        "GET",
        "/v1/services/db/details",
        &[("Authorization", &bearer(&token))],
    )
    .expect("connect");
    let db: Value = serde_json::from_str(&db.body).expect("json");
    let attempts = db["probes"].as_array().expect("probes");
    assert!(
        attempts
            .last()
            .is_some_and(|attempt| attempt["passed"] == true),
        "{db:#}"
    );

    let graph = request(
        port,
        "GET",
        "/v1/graph",
        &[("Authorization", &bearer(&token))],
    )
    .expect("connect");
    let graph: Value = serde_json::from_str(&graph.body).expect("json");
    assert_eq!(
        graph["critical_path"],
        serde_json::json!(["db", "flaky"]),
        "{graph:#}"
    );
    assert_eq!(graph["services"][1]["layer"], 1);
    assert_eq!(graph["services"][1]["depends_on"][0]["service"], "db");
    drop(daemon);
    assert_no_survivors(&project.mark);
}
