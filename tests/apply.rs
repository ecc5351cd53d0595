//! `wrangle apply`: the config read again and compared with what a real daemon runs. The plan
//! names services added, removed and changed (keys, environment with secrets masked) and the
//! project settings that changed; a broken config is refused with its location and exit 2; and
//! nothing the daemon runs is touched (the same PIDs before and after).

use crate::support::{Daemon, Project, pid, status};

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
        r#"    env DATABASE_URL: (unset) -> "<masked>""#,
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

    // Acting is not available yet: refused, and nothing changes.
    let refused = project.run(&["apply"]);
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert!(
        refused
            .stderr
            .contains("acting on the plan is not available yet"),
        "{refused:#?}"
    );

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
    let refused = project.run(&["apply", "--dry-run"]);
    assert_eq!(refused.code, 2, "{refused:#?}");
    assert!(
        refused.stderr.contains(&format!(
            "--> {}:3:",
            project.path("wrangle.toml").display()
        )),
        "{refused:#?}"
    );
    assert!(refused.stdout.is_empty(), "{refused:#?}");
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
