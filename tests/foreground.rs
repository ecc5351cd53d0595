//! A foreground `wrangle up` answers a second terminal like a daemon: `ps`, `logs [-f]`,
//! `restart`, `ls` and `down` against it, with the output staying on the first terminal.

use serde_json::Value;

use crate::support::{
    DaemonGuard, Project, WAIT, assert_no_survivors, control_socket, pid, restarts, service, status,
};

/// Two services: `db` and `web` (after it), each printing a line when it starts.
const TWO_SERVICES: &str = r#"
[services.db]
command = ["sh", "-c", "echo db up; exec sleep 471"]

[services.web]
command = ["sh", "-c", "echo web started $$; exec sleep 472"]
depends_on = ["db"]
"#;

#[test]
fn a_second_terminal_controls_a_foreground_up() {
    let project = Project::new(TWO_SERVICES);
    let _guard = DaemonGuard::new(&project);
    let mut up = project.up(&[]);
    up.expect_line("wrangle * all 2 services up in");

    // `ps` reads the foreground run's status, with its pid as the wrangle's.
    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 0, "{ps:#?}");
    let header: Vec<&str> = ps
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header.first(), Some(&"NAME"), "{ps:#?}");
    assert!(
        ps.stdout.lines().any(|line| line.starts_with("db ")),
        "{ps:#?}"
    );
    let json = status(&project);
    assert_eq!(json["daemon_pid"], up.pid(), "{json:#}");
    assert_eq!(json["foreground"], true, "{json:#}");
    let first_web = pid(&json, "web").expect("web runs");

    // `ls` names it as a foreground run.
    let ls = project.run(&["ls", "--json"]);
    assert_eq!(ls.code, 0, "{ls:#?}");
    let rows: Value = serde_json::from_str(&ls.stdout).expect("ls --json is JSON");
    assert_eq!(rows[0]["mode"], "foreground", "{rows:#}");
    assert_eq!(rows[0]["up"], 2, "{rows:#}");

    // `logs -f web` from a second terminal: the backlog first, then what comes.
    let follower = project.spawn(&["logs", "-f", "web"]);
    let started = format!("web | web started {first_web}");
    follower.expect_line(&started);

    // `restart web` waits until it runs again; the foreground terminal says so.
    let restart = project.run(&["restart", "web"]);
    assert_eq!(restart.code, 0, "{restart:#?}");
    assert_eq!(restart.stdout, "web: running\n", "{restart:#?}");
    let json = status(&project);
    let second_web = pid(&json, "web").expect("web runs again");
    assert_ne!(second_web, first_web, "{json:#}");
    assert_eq!(restarts(&json, "web"), 1, "{json:#}");
    assert_eq!(
        service(&json, "db")["pid"],
        json["services"][0]["pid"],
        "{json:#}"
    );
    up.expect_line(&format!("web | web started {second_web}"));
    follower.expect_line(&format!("web | web started {second_web}"));
    assert!(
        follower.lines().iter().all(|line| line.starts_with("web")),
        "`logs -f web` printed another service\n{}",
        follower.transcript()
    );

    // The same exit codes as against a daemon: an unknown service is a usage error.
    let unknown = project.run(&["restart", "nosuch"]);
    assert_eq!(unknown.code, 2, "{unknown:#?}");
    assert!(
        unknown.stderr.contains("no service named \"nosuch\""),
        "{unknown:#?}"
    );

    // `down` stops the run through its socket: the foreground wrangle exits 0, having proved
    // nothing is left, and its follower ends with it.
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert!(
        down.stdout.contains("wrangle: every process is stopped"),
        "{down:#?}"
    );
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
    up.expect_line("wrangle * every process is stopped");
    let mut follower = follower;
    assert_eq!(follower.wait_exit(WAIT), 0, "{}", follower.transcript());
    assert_no_survivors(&project.mark);
}

#[test]
fn ctrl_c_still_stops_a_foreground_up_and_its_socket_goes_with_it() {
    let project = Project::new(TWO_SERVICES);
    let _guard = DaemonGuard::new(&project);
    let mut up = project.up(&[]);
    up.expect_line("wrangle * all 2 services up in");
    let socket = control_socket(&project);
    assert!(socket.exists(), "no control socket at {}", socket.display());

    up.signal("INT");
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
    up.expect_line("wrangle * every process is stopped");
    assert_no_survivors(&project.mark);
    assert!(!socket.exists(), "{} left behind", socket.display());

    // Nothing answers any more: the verbs say no wrangle runs, as before.
    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 1, "{ps:#?}");
    assert!(
        ps.stderr.contains("no wrangle daemon is running"),
        "{ps:#?}"
    );
}

#[test]
fn a_foreground_up_that_ends_by_itself_still_ends() {
    // Every service exits: the foreground run ends as before (it does not wait for `down`).
    let project = Project::new(
        r#"
[services.once]
command = ["sh", "-c", "echo done"]
restart = "never"
"#,
    );
    let _guard = DaemonGuard::new(&project);
    let mut up = project.up(&[]);
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
    up.expect_line("once | done");
    assert_no_survivors(&project.mark);
}
