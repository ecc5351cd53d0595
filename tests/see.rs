//! Seeing the project: `wrangle graph [--dot]` (layers, readiness times from a running wrangle,
//! the critical path) and `wrangle ports [--free]` (holders; stopping only the current user's,
//! never another user's).

use std::process::{Child, Command, Stdio};

use crate::support::{
    MARK_VAR, Project, WAIT, assert_no_survivors, free_port, pid, python, status, wait_until,
};

/// db, then api and worker after it, then web after api: the longest chain is db -> api -> web.
const CHAIN: &str = r#"
[services.db]
command = ["sh", "-c", "exec sleep 491"]

[services.api]
command = ["sh", "-c", "exec sleep 492"]
depends_on = ["db"]

[services.worker]
command = ["sh", "-c", "exec sleep 493"]
depends_on = ["db"]

[services.web]
command = ["sh", "-c", "exec sleep 494"]
depends_on = ["api"]
"#;

#[test]
fn graph_shows_layers_and_the_longest_chain_without_a_running_wrangle() {
    let project = Project::new(CHAIN);
    let graph = project.run(&["graph"]);
    assert_eq!(graph.code, 0, "{graph:#?}");
    let lines: Vec<&str> = graph.stdout.lines().collect();
    assert_eq!(lines[0], "layer 1", "{graph:#?}");
    assert_eq!(lines[1], "  * db", "{graph:#?}");
    assert_eq!(lines[2], "layer 2", "{graph:#?}");
    assert_eq!(lines[3], "  * api     after db (ready)", "{graph:#?}");
    assert_eq!(lines[4], "    worker  after db (ready)", "{graph:#?}");
    assert!(
        graph.stdout.ends_with(
            "* critical path: db -> api -> web (the longest chain; no wrangle runs this project, so no times)\n"
        ),
        "{graph:#?}"
    );
    let dot = project.run(&["graph", "--dot"]);
    assert_eq!(dot.code, 0, "{dot:#?}");
    assert!(dot.stdout.starts_with("digraph "), "{dot:#?}");
    assert!(
        dot.stdout
            .contains("\"db\" -> \"api\" [label=\"ready\", color=red, penwidth=2];"),
        "{dot:#?}"
    );
    assert!(
        dot.stdout
            .contains("\"db\" -> \"worker\" [label=\"ready\"];"),
        "{dot:#?}"
    );
}

#[test]
fn graph_shows_readiness_times_from_a_running_foreground_up() {
    let port = free_port();
    let project = Project::new(&format!(
        r#"
[services.db]
command = ["{python}", "-c", "import socket, time; time.sleep(0.3); s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(495)"]
ready = {{ tcp = {port}, interval = "50ms" }}

[services.web]
command = ["sh", "-c", "exec sleep 496"]
depends_on = ["db"]
"#,
        python = python()
    ));
    let mut up = project.up(&[]);
    up.expect_line("wrangle * all 2 services up in");
    let graph = project.run(&["graph"]);
    assert_eq!(graph.code, 0, "{graph:#?}");
    let db = graph
        .stdout
        .lines()
        .find(|line| line.starts_with("  * db"))
        .unwrap_or_else(|| panic!("no db line\n{graph:#?}"));
    assert!(db.contains("ready in "), "{graph:#?}");
    assert!(
        graph.stdout.contains("* critical path: db -> web (")
            && graph.stdout.contains(" of readiness on the last start)"),
        "{graph:#?}"
    );
    up.signal("INT");
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
    assert_no_survivors(&project.mark);
}

/// A process listening on `port`, started by the test (so the test stops it, however it ends).
struct Holder(Child);

impl Holder {
    /// `wrapper` runs the listener (e.g. under another uid); the test's mark is in its
    /// environment.
    fn start(wrapper: &[&str], port: u16, mark: &str) -> Holder {
        let script = format!(
            "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {port})); s.listen(); print('listening', flush=True); time.sleep(497)"
        );
        let (program, args) = match wrapper.split_first() {
            Some((program, args)) => (*program, args.to_vec()),
            None => (python(), Vec::new()),
        };
        let mut command = Command::new(program);
        command.args(&args);
        if !wrapper.is_empty() {
            command.arg(python());
        }
        let mut child = command
            .arg("-c")
            .arg(script)
            .env(MARK_VAR, mark)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the holder");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("read the holder's first line");
        assert_eq!(line, "listening\n", "the holder did not listen");
        Holder(child)
    }

    fn alive(&mut self) -> bool {
        self.0.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ports_free_refuses_another_users_process() {
    if rustix::process::geteuid().as_raw() != 0 {
        // Running a holder under another uid needs root; CI runs the suite as root.
        eprintln!("skipped: needs root to run a process as another user");
        return;
    }
    let port = free_port();
    let project = Project::new(&format!(
        r#"
[services.web]
command = ["sh", "-c", "exec sleep 498"]
port = {port}
"#
    ));
    let mut holder = Holder::start(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        port,
        &project.mark,
    );
    let ports = project.run(&["ports"]);
    assert_eq!(ports.code, 0, "{ports:#?}");
    let row = ports
        .stdout
        .lines()
        .find(|line| line.starts_with(&format!("{port} ")))
        .unwrap_or_else(|| panic!("no row for {port}\n{ports:#?}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "web", "{ports:#?}");
    assert_eq!(cells[2], "held", "{ports:#?}");
    assert_eq!(cells[3], holder.0.id().to_string(), "{ports:#?}");
    assert!(cells[4] == "nobody" || cells[4] == "65534", "{ports:#?}");

    let free = project.run(&["ports", "--free", "--yes"]);
    assert_eq!(free.code, 1, "{free:#?}");
    assert!(
        free.stderr
            .contains("refused, wrangle never stops another user's process"),
        "{free:#?}"
    );
    assert!(
        holder.alive(),
        "another user's process was stopped\n{free:#?}"
    );
}

#[test]
fn ports_free_asks_first_stops_only_the_users_own_stranger_and_leaves_the_projects_services() {
    let (stranger_port, service_port) = (free_port(), free_port());
    let project = Project::new(&format!(
        r#"
[services.db]
command = ["sh", "-c", "exec sleep 499"]
port = {stranger_port}

[services.web]
command = ["{python}", "-c", "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {service_port})); s.listen(); time.sleep(500)"]
port = {service_port}
ready = {{ tcp = {service_port}, interval = "50ms" }}
"#,
        python = python()
    ));
    // `web` runs under a foreground up; `db`'s port is held by a stranger of the same user.
    let mut up = project.up(&["web"]);
    up.expect_line("wrangle * all 1 service up in");
    let mut stranger = Holder::start(&[], stranger_port, &project.mark);
    let web_before = pid(&status(&project), "web");
    assert!(web_before.is_some());

    let ports = project.run(&["ports"]);
    assert_eq!(ports.code, 0, "{ports:#?}");
    let state = |port: u16| {
        ports
            .stdout
            .lines()
            .find(|line| line.starts_with(&format!("{port} ")))
            .map(|line| line.split_whitespace().nth(2).unwrap_or("").to_string())
    };
    assert_eq!(state(stranger_port).as_deref(), Some("held"), "{ports:#?}");
    assert_eq!(state(service_port).as_deref(), Some("ours"), "{ports:#?}");
    assert!(ports.stdout.contains("ours (web)"), "{ports:#?}");

    // Without a terminal to ask on and without --yes: refused, nothing stopped.
    let refused = project.run(&["ports", "--free"]);
    assert_eq!(refused.code, 2, "{refused:#?}");
    assert!(refused.stderr.contains("pass --yes"), "{refused:#?}");
    assert!(stranger.alive());

    let free = project.run(&["ports", "--free", "--yes"]);
    assert_eq!(free.code, 0, "{free:#?}");
    assert!(
        free.stdout.contains(&format!(
            "port {stranger_port}: stopped it with SIGTERM (PID {}",
            stranger.0.id()
        )),
        "{free:#?}"
    );
    assert!(
        free.stdout.contains(&format!(
            "port {service_port}: held by this project's own service web"
        )),
        "{free:#?}"
    );
    assert!(
        wait_until(WAIT, || !stranger.alive()),
        "the stranger still runs\n{free:#?}"
    );
    // The project's own service was left alone: the same process still runs it.
    let after = status(&project);
    assert_eq!(pid(&after, "web"), web_before, "{after:#}");
    up.signal("INT");
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
    assert_no_survivors(&project.mark);
}
