//! `wrangle describe SERVICE`: the config alone without a daemon, and with one the state, the
//! processes of the tree, who holds the ports, the restart history and the log files, with
//! secret-looking values masked throughout.

use serde_json::Value;

use crate::support::{Daemon, Project, WAIT, free_port, listener, wait_states, wait_until};

fn config(port: u16) -> String {
    format!(
        r#"
[services.db]
command = ["sh", "-c", "echo db up; exec sleep 300"]

[services.web]
command = {listener}
port = {port}
depends_on = ["db"]
env = {{ API_TOKEN = "hunter2", DATABASE_URL = "postgres://app:s3cret@db/app", DEBUG = "1" }}
ready = {{ tcp = "127.0.0.1:{port}" }}

[services.worker]
command = ["sh", "-c", "sleep 300 & sleep 301 & wait"]
depends_on = ["web"]
"#,
        listener = listener(port),
    )
}

fn describe_json(project: &Project, service: &str) -> Value {
    let run = project.run(&["describe", service, "--json"]);
    assert_eq!(run.code, 0, "{run:#?}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {run:#?}"))
}

#[test]
fn describe_without_a_daemon_shows_the_config_with_secrets_masked() {
    let port = free_port();
    let project = Project::new(&config(port));
    let run = project.run(&["describe", "worker"]);
    assert!(
        run.stdout
            .lines()
            .any(|line| line == "command      sh -c 'sleep 300 & sleep 301 & wait'"),
        "{run:#?}"
    );
    let run = project.run(&["describe", "web"]);
    assert_eq!(run.code, 0, "{run:#?}");
    for expected in [
        "wrangle      not running (the config file is shown)",
        "env          API_TOKEN=<masked>",
        "             DATABASE_URL=postgres://app:<masked>@db/app",
        "             DEBUG=1",
        "depends on   db (ready)",
        "dependents   worker",
        &format!("port         {port} free"),
        "logs         none",
    ] {
        assert!(
            run.stdout.lines().any(|line| line == expected),
            "no line {expected:?}:\n{}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains("hunter2") && !run.stdout.contains("s3cret"));

    let json = describe_json(&project, "web");
    assert_eq!(json["daemon_pid"], Value::Null);
    assert_eq!(json["instances"], serde_json::json!([]));
    let env = json["config"]["env"].as_array().expect("env");
    let token = env
        .iter()
        .find(|var| var["name"] == "API_TOKEN")
        .expect("API_TOKEN");
    assert_eq!(
        (token["value"].as_str(), token["masked"].as_bool()),
        (Some("<masked>"), Some(true))
    );
    assert!(!json.to_string().contains("hunter2"));

    let run = project.run(&["describe", "wbe"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("no service named \"wbe\""), "{run:#?}");
}

#[test]
fn describe_with_a_daemon_shows_the_tree_ports_restarts_and_log_files() {
    let port = free_port();
    let project = Project::new(&config(port));
    let _daemon = Daemon::start(&project, &[]);
    wait_states(
        &project,
        &[("db", "running"), ("web", "ready"), ("worker", "running")],
    );

    // The port's holder is web's own process.
    let json = describe_json(&project, "web");
    let pid = json["instances"][0]["pid"].as_i64().expect("a pid");
    assert!(json["daemon_pid"].as_u64().is_some(), "{json}");
    assert_eq!(json["instances"][0]["state"], "ready");
    assert_eq!(json["ports"][0]["port"], port);
    let holders = json["ports"][0]["holders"].as_array().expect("holders");
    assert_eq!(holders.len(), 1, "{json}");
    assert!(
        holders[0]
            .as_str()
            .expect("text")
            .starts_with(&format!("PID {pid} (")),
        "{json}"
    );
    assert_eq!(json["dependents"], serde_json::json!(["worker"]));
    assert!(!json.to_string().contains("hunter2"));

    // worker's tree: its shell and both sleeps.
    let json = describe_json(&project, "worker");
    let leader = json["instances"][0]["pid"].as_i64().expect("a pid");
    let processes = json["processes"].as_array().expect("processes");
    assert_eq!(processes.len(), 3, "{json}");
    assert_eq!(processes[0]["pid"], leader);
    assert!(
        processes[1..]
            .iter()
            .all(|process| process["ppid"] == leader
                && process["command"]
                    .as_str()
                    .is_some_and(|command| command.starts_with("sleep 30"))),
        "{json}"
    );

    // A restart is on record with its cause; db's log file is listed with its size.
    let restart = project.run(&["restart", "worker"]);
    assert_eq!(restart.code, 0, "{restart:#?}");
    let mut json = Value::Null;
    assert!(
        wait_until(WAIT, || {
            json = describe_json(&project, "worker");
            json["restarts"]
                .as_array()
                .is_some_and(|restarts| !restarts.is_empty())
        }),
        "{json}"
    );
    assert_eq!(json["restarts"][0]["cause"], "manual", "{json}");
    let run = project.run(&["describe", "worker"]);
    assert!(
        run.stdout
            .lines()
            .any(|line| line.starts_with("restarts ")
                && line.ends_with(" manual: restart requested")),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .lines()
            .any(|line| line.starts_with("state        running, PID ")
                && line.contains(", 1 restarts (manual 1)")),
        "{run:#?}"
    );

    let mut json = Value::Null;
    assert!(
        wait_until(WAIT, || {
            json = describe_json(&project, "db");
            json["log_files"][0]["bytes"]
                .as_u64()
                .is_some_and(|bytes| bytes >= 6)
        }),
        "{json}"
    );
    let path = json["log_files"][0]["path"].as_str().expect("path");
    assert!(path.ends_with("/logs/db.log"), "{json}");
    assert_eq!(std::fs::read_to_string(path).expect("log file"), "db up\n");
}
