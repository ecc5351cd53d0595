//! `wrangle apply`: the config read again and compared with what a real daemon runs. The plan
//! names services added, removed and changed (keys, environment with secrets masked) and the
//! project settings that changed; `--dry-run` touches nothing; a broken config is refused with
//! its location and exit 2 and changes nothing. Acting on the plan starts the added services,
//! stops the removed ones and restarts the changed ones (with their environment read again),
//! and leaves the others alone (the same PIDs); SIGHUP does the same; a successor daemon
//! (after SIGKILL) takes the applied run over.

use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Daemon, DaemonGuard, Project, assert_no_survivors, daemon_log, pid, send_signal, status,
    successor_status, wait_daemon_log, wait_until,
};

const WAIT: Duration = Duration::from_secs(20);

const RUNNING: &str = r#"
[services.web]
command = ["sleep", "371"]
env = { API_TOKEN = "old-token-value", DEBUG = "0" }

[services.db]
command = ["sleep", "372"]
"#;

const EDITED: &str = r#"
[logs]
keep_files = 2

[services.web]
command = ["sleep", "371"]
env = { API_TOKEN = "new-token-value", DEBUG = "1", DATABASE_URL = "postgres://app:hunter2@db/app" }
stop_timeout = "3s"

[services.worker]
command = ["sleep", "373"]
"#;

#[test]
fn the_plan_names_every_change_masks_secrets_and_touches_nothing() {
    let project = Project::new(RUNNING);
    let _daemon = Daemon::start(&project, &[]);
    let before = status(&project);
    project.write("wrangle.toml", EDITED);

    let plan = project.run(&["apply", "--dry-run"]);
    assert_eq!(plan.code, 0, "{plan:#?}");
    for line in [
        "+ worker: added (to start)",
        "- db: removed (to stop)",
        "~ web: changed env, stop_timeout",
        r#"    env API_TOKEN: "<masked>" -> "<masked>""#,
        r#"    env DATABASE_URL: (unset) -> "postgres://app:<masked>@db/app""#,
        r#"    env DEBUG: "0" -> "1""#,
        "! [logs]: changed (needs `wrangle down` and `wrangle up`)",
    ] {
        assert!(
            plan.stdout.lines().any(|printed| printed == line),
            "no line {line:?} in:\n{}",
            plan.stdout
        );
    }
    for secret in ["old-token-value", "new-token-value", "hunter2"] {
        assert!(!plan.stdout.contains(secret), "{plan:#?}");
        assert!(!plan.stderr.contains(secret), "{plan:#?}");
    }

    let after = status(&project);
    for name in ["web", "db"] {
        assert_eq!(pid(&after, name), pid(&before, name), "{after:#}");
        assert!(pid(&after, name).is_some(), "{after:#}");
    }
    let names: Vec<&str> = after["services"]
        .as_array()
        .map(|services| services.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["web", "db"], "{after:#}");
}

#[test]
fn a_broken_config_is_refused_with_its_location_and_changes_nothing() {
    let project = Project::new(RUNNING);
    let _daemon = Daemon::start(&project, &[]);
    let before = status(&project);
    project.write(
        "wrangle.toml",
        "[services.web]\ncommand = [\"sleep\", \"371\"]\nrestart = \"sometimes\"\n",
    );
    for args in [&["apply", "--dry-run"][..], &["apply"]] {
        let refused = project.run(args);
        assert_eq!(refused.code, 2, "{refused:#?}");
        assert!(
            refused.stderr.contains(&format!(
                "--> {}:3:",
                project.path("wrangle.toml").display()
            )),
            "{refused:#?}"
        );
        assert!(refused.stdout.is_empty(), "{refused:#?}");
    }
    let after = status(&project);
    for name in ["web", "db"] {
        assert_eq!(pid(&after, name), pid(&before, name), "{after:#}");
    }
}

#[test]
fn an_unchanged_config_has_nothing_to_apply() {
    let project = Project::new(RUNNING);
    let _daemon = Daemon::start(&project, &[]);
    let plan = project.run(&["apply", "--dry-run"]);
    assert_eq!(plan.code, 0, "{plan:#?}");
    assert_eq!(
        plan.stdout, "nothing to apply: the config matches what runs\n",
        "{plan:#?}"
    );
}

/// The names of the services `ps` shows, in its order.
fn names(status: &Value) -> Vec<String> {
    status["services"]
        .as_array()
        .map(|services| {
            services
                .iter()
                .filter_map(|s| s["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `ps` shows exactly `expected`, each running with a PID; the status then.
fn wait_running(project: &Project, expected: &[&str]) -> Value {
    let mut json = Value::Null;
    let reached = wait_until(WAIT, || {
        json = status(project);
        names(&json) == expected
            && expected.iter().all(|name| {
                pid(&json, name).is_some()
                    && json["services"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|s| s["name"] == *name && s["state"] == "running")
            })
    });
    assert!(reached, "ps never showed {expected:?} running: {json:#}");
    json
}

/// Waits until `wrangle logs NAME` prints a line containing `needle`.
fn wait_log_line(project: &Project, name: &str, needle: &str) {
    let mut printed = String::new();
    let found = wait_until(WAIT, || {
        printed = project.run(&["logs", name]).stdout;
        printed.contains(needle)
    });
    assert!(found, "`logs {name}` never printed {needle:?}:\n{printed}");
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

const BEFORE_APPLY: &str = r#"
[services.keep]
command = ["sleep", "381"]

[services.web]
command = ["sh", "-c", "echo \"web MODE=$MODE\"; exec sleep 382"]
env_file = "app.env"
depends_on = ["keep"]

[services.old]
command = ["sleep", "383"]
"#;

const AFTER_APPLY: &str = r#"
[services.keep]
command = ["sleep", "381"]

[services.web]
command = ["sh", "-c", "echo \"web MODE=$MODE\"; exec sleep 382"]
env_file = "app.env"
depends_on = ["keep"]

[services.worker]
command = ["sh", "-c", "echo worker up; exec sleep 384"]
depends_on = ["web"]
"#;

#[test]
fn apply_starts_the_added_stops_the_removed_restarts_the_changed_and_leaves_the_rest() {
    let project = Project::new(BEFORE_APPLY);
    project.write("app.env", "MODE=one\n");
    let daemon = Daemon::start(&project, &[]);
    let before = wait_running(&project, &["keep", "web", "old"]);
    wait_log_line(&project, "web", "web MODE=one");

    // Only the env file of `web` changes: it is read again on apply.
    project.write("app.env", "MODE=two\n");
    project.write("wrangle.toml", AFTER_APPLY);
    let dry = project.run(&["apply", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:#?}");
    assert_eq!(
        status(&project)["services"],
        before["services"],
        "a dry run changed something"
    );

    let applied = project.run(&["apply"]);
    assert_eq!(applied.code, 0, "{applied:#?}");
    for line in [
        "+ worker: added (starting)",
        "- old: removed (stopping)",
        "~ web: changed env",
        r#"    env MODE: "one" -> "two""#,
    ] {
        assert!(
            applied.stdout.lines().any(|printed| printed == line),
            "no line {line:?} in:\n{}",
            applied.stdout
        );
    }

    let after = wait_running(&project, &["keep", "web", "worker"]);
    assert_eq!(pid(&after, "keep"), pid(&before, "keep"), "{after:#}");
    assert_ne!(pid(&after, "web"), pid(&before, "web"), "{after:#}");
    let old = pid(&before, "old").expect("old ran");
    assert!(
        wait_until(WAIT, || !alive(old)),
        "old (PID {old}) still runs"
    );
    wait_log_line(&project, "web", "web MODE=two");
    // The added service's output reaches its own log file.
    wait_log_line(&project, "worker", "worker up");
    assert_eq!(after["daemon_pid"], daemon.pid, "{after:#}");

    // Applied: nothing differs any more, and `old` is not a service of the daemon's.
    let again = project.run(&["apply", "--dry-run"]);
    assert_eq!(
        again.stdout, "nothing to apply: the config matches what runs\n",
        "{again:#?}"
    );
    let refused = project.run(&["restart", "old"]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    wait_daemon_log(
        &project,
        &["config applied: web changed, worker added, old removed"],
    );
}

#[test]
fn sighup_applies_the_config_and_a_broken_one_changes_nothing() {
    let project = Project::new(RUNNING);
    let daemon = Daemon::start(&project, &[]);
    let before = wait_running(&project, &["web", "db"]);

    project.write(
        "wrangle.toml",
        "[services.web]\ncommand = [\"sleep\", \"371\"]\nrestart = \"sometimes\"\n",
    );
    assert!(send_signal(daemon.pid, "HUP"));
    wait_daemon_log(
        &project,
        &["SIGHUP: the config was not applied, nothing changed"],
    );
    let unchanged = status(&project);
    assert_eq!(unchanged["daemon_pid"], daemon.pid, "{unchanged:#}");
    assert_eq!(unchanged["services"], before["services"], "{unchanged:#}");

    let with_cache = format!("{RUNNING}\n[services.cache]\ncommand = [\"sleep\", \"374\"]\n");
    project.write("wrangle.toml", &with_cache);
    assert!(send_signal(daemon.pid, "HUP"));
    let after = wait_running(&project, &["web", "db", "cache"]);
    assert_eq!(after["daemon_pid"], daemon.pid, "{after:#}");
    for name in ["web", "db"] {
        assert_eq!(pid(&after, name), pid(&before, name), "{after:#}");
    }
    let log = wait_daemon_log(&project, &["config applied: cache added"]);
    assert!(!log.contains("stopping everything"), "{log}");
    let _ = daemon_log(&project);
}

#[test]
fn a_successor_daemon_takes_over_the_applied_run() {
    let project = Project::new(BEFORE_APPLY);
    project.write("app.env", "MODE=one\n");
    let daemon = Daemon::start(&project, &[]);
    wait_running(&project, &["keep", "web", "old"]);
    project.write("wrangle.toml", AFTER_APPLY);
    let applied = project.run(&["apply"]);
    assert_eq!(applied.code, 0, "{applied:#?}");
    let after = wait_running(&project, &["keep", "web", "worker"]);

    assert!(send_signal(daemon.pid, "KILL"));
    successor_status(&project, daemon.pid, WAIT);
    let successor = wait_running(&project, &["keep", "web", "worker"]);
    for name in ["keep", "web", "worker"] {
        assert_eq!(pid(&successor, name), pid(&after, name), "{successor:#}");
    }
    wait_log_line(&project, "worker", "worker up");
}

#[test]
fn a_foreground_up_applies_too_and_its_hangup_still_stops_it() {
    let project = Project::new(RUNNING);
    let _guard = DaemonGuard::new(&project);
    let mut up = project.up(&[]);
    up.expect_line("wrangle * all 2 services up in");
    let before = wait_running(&project, &["web", "db"]);

    let with_cache = format!("{RUNNING}\n[services.cache]\ncommand = [\"sleep\", \"375\"]\n");
    project.write("wrangle.toml", &with_cache);
    let applied = project.run(&["apply"]);
    assert_eq!(applied.code, 0, "{applied:#?}");
    assert!(
        applied.stdout.contains("+ cache: added (starting)"),
        "{applied:#?}"
    );
    let after = wait_running(&project, &["web", "db", "cache"]);
    for name in ["web", "db"] {
        assert_eq!(pid(&after, name), pid(&before, name), "{after:#}");
    }
    // In the foreground, SIGHUP (the terminal went away) stops everything, as before.
    up.signal("HUP");
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
    assert_no_survivors(&project.mark);
}
