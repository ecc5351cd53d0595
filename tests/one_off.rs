//! `wrangle run SERVICE -- CMD`: a one-off command in a service's environment and working
//! directory, with what the service depends on started first (by a new daemon when no wrangle
//! runs, by the running one otherwise), exiting with the command's code.

use crate::support::{
    DaemonGuard, Project, WAIT, assert_no_survivors, free_ports, pid, python, service, status,
};

/// `db` listens on a port and is ready once it accepts; `web` (never started by `run`) has a
/// port, a working directory and a variable, and depends on `db`.
fn project() -> Project {
    let [db, web] = free_ports::<2>();
    let python = python();
    let project = Project::new(&format!(
        r#"
[services.db]
command = ["{python}", "-c", "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {db})); s.listen(); time.sleep(600)"]
port = {db}
ready = {{ tcp = {db}, interval = "50ms" }}

[services.web]
command = ["sleep", "491"]
port = {web}
cwd = "app"
env = {{ GREETING = "hello" }}
depends_on = ["db"]
"#
    ));
    std::fs::create_dir(project.path("app")).expect("mkdir app");
    project
}

/// What the one-off command prints: its port, variable, directory, and whether db accepts.
const PROBE: &str = "echo \"$PORT $GREETING $(pwd)\"; exit 7";

#[test]
fn run_starts_the_dependencies_in_a_daemon_and_runs_in_the_services_environment() {
    let project = project();
    let _guard = DaemonGuard::new(&project);
    // Unswept: the daemon it starts must outlive it (the guard stops it).
    let ran = project.run_unswept(&["run", "web", "--", "sh", "-c", PROBE]);
    assert_eq!(ran.code, 7, "the command's code: {ran:#?}");
    let web_port = {
        let config = std::fs::read_to_string(project.path("wrangle.toml")).expect("config");
        config
            .lines()
            .filter(|line| line.starts_with("port = "))
            .nth(1)
            .map(|line| line.trim_start_matches("port = ").to_string())
            .expect("web's port")
    };
    // Standard output is the command's alone; the daemon's start-up went to standard error.
    assert_eq!(
        ran.stdout,
        format!("{web_port} hello {}\n", project.path("app").display()),
        "{ran:#?}"
    );
    assert!(ran.stderr.contains("starting db in a daemon"), "{ran:#?}");
    // db was started and is left running for the next command; web was not started.
    let json = status(&project);
    assert!(pid(&json, "db").is_some(), "{json:#}");
    assert!(pid(&json, "web").is_none(), "{json:#}");
    let db_pid = pid(&json, "db");

    // A second run uses the running daemon: db is not started again.
    let again = project.run(&["run", "web", "--", "sh", "-c", "exit 0"]);
    assert_eq!(again.code, 0, "{again:#?}");
    assert!(!again.stderr.contains("in a daemon"), "{again:#?}");
    assert_eq!(pid(&status(&project), "db"), db_pid);

    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_no_survivors(&project.mark);
}

#[test]
fn run_uses_a_foreground_up_and_refuses_unknown_services_and_commands() {
    let project = project();
    let _guard = DaemonGuard::new(&project);
    let mut up = project.up(&["db"]);
    up.expect_line("wrangle * all 1 service up in");
    let ran = project.run(&["run", "web", "--", "sh", "-c", "echo \"$GREETING\""]);
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(ran.stdout, "hello\n", "{ran:#?}");
    let json = status(&project);
    assert_eq!(json["foreground"], true, "{json:#}");
    assert_eq!(service(&json, "db")["state"], "ready", "{json:#}");

    let unknown = project.run(&["run", "webb", "--", "true"]);
    assert_eq!(unknown.code, 2, "{unknown:#?}");
    assert!(
        unknown.stderr.contains("did you mean \"web\"?"),
        "{unknown:#?}"
    );
    let missing = project.run(&["run", "db", "--", "no-such-command-471"]);
    assert_eq!(missing.code, 2, "{missing:#?}");
    assert!(
        missing
            .stderr
            .contains("command not found: no-such-command-471"),
        "{missing:#?}"
    );

    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
    assert_no_survivors(&project.mark);
}
