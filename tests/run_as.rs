//! `user` and `group`: as root, a service runs as the user it names, with that user's
//! supplementary groups and `HOME`/`USER`/`LOGNAME`, read back from `/proc/PID/status` and
//! `/proc/PID/environ` of the real process; as anyone else, another user is a located config
//! error. The root cases need the account `wrangle-test` (a member of `wrangle-test-extra`),
//! which `.ci/run` creates and these tests create when missing.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use crate::support::{Daemon, Project, pid, wait_states};

const USER: &str = "wrangle-test";
const EXTRA_GROUP: &str = "wrangle-test-extra";

/// The numeric id `id -u`/`id -g` prints for `name`, if any.
fn id_of(flag: &str, name: &str) -> Option<u32> {
    let output = Command::new("id").args([flag, name]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// A group's id from `getent group`.
fn gid_of(group: &str) -> Option<u32> {
    let output = Command::new("getent")
        .args(["group", group])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.split(':').nth(2)?.trim().parse().ok()
}

/// Makes sure the test account exists: `(uid, primary gid, extra gid)`. Tests running side by
/// side may race to create it: whoever loses finds it made (useradd and groupadd lock the
/// files themselves).
fn test_account() -> (u32, u32, u32) {
    if id_of("-u", USER).is_none() {
        let _ = Command::new("groupadd").args(["-f", EXTRA_GROUP]).status();
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/var/lib/wrangle-test",
                "--shell",
                "/usr/sbin/nologin",
                "--groups",
                EXTRA_GROUP,
                USER,
            ])
            .status();
    }
    let uid = id_of("-u", USER).expect("the test user exists (useradd)");
    let gid = id_of("-g", USER).expect("the test user has a group");
    let extra = gid_of(EXTRA_GROUP).expect("the extra group exists (groupadd)");
    (uid, gid, extra)
}

/// A `/proc/PID/status` line's fields after its name (`Uid:` → real, effective, saved, fs).
fn status_ids(pid: i32, field: &str) -> Vec<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in\n{status}"));
    let mut ids: Vec<u32> = line[field.len()..]
        .split_whitespace()
        .map(|id| id.parse().expect("a numeric id"))
        .collect();
    if field == "Groups:" {
        ids.sort_unstable();
    }
    ids
}

/// One variable of `/proc/PID/environ`.
fn environ_var(pid: i32, key: &str) -> Option<String> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|byte| *byte == 0).find_map(|entry| {
        let entry = String::from_utf8_lossy(entry);
        entry
            .strip_prefix(&format!("{key}="))
            .map(|value| value.to_string())
    })
}

#[test]
fn as_root_a_service_runs_as_its_user_with_its_groups_and_home() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: only root can start a service as another user");
        return;
    }
    let (uid, gid, extra) = test_account();
    let project = Project::new(&format!(
        r#"
[defaults]
cwd = "/"

[services.web]
command = ["sleep", "1000"]
user = "{USER}"

[services.grouped]
command = ["sh", "-c", "echo i am $(id -un); exec sleep 1000"]
user = {uid}
group = "{EXTRA_GROUP}"
env = {{ HOME = "/srv/chosen" }}

[services.plain]
command = ["sleep", "1000"]
"#
    ));
    let daemon = Daemon::start(&project, &[]);
    let status = wait_states(
        &project,
        &[
            ("web", "running"),
            ("grouped", "running"),
            ("plain", "running"),
        ],
    );
    let web = pid(&status, "web").expect("web runs");
    let grouped = pid(&status, "grouped").expect("grouped runs");
    let plain = pid(&status, "plain").expect("plain runs");

    assert_eq!(status_ids(web, "Uid:"), vec![uid; 4]);
    assert_eq!(status_ids(web, "Gid:"), vec![gid; 4]);
    let mut groups = vec![gid, extra];
    groups.sort_unstable();
    assert_eq!(status_ids(web, "Groups:"), groups);
    assert_eq!(
        environ_var(web, "HOME").as_deref(),
        Some("/var/lib/wrangle-test")
    );
    assert_eq!(environ_var(web, "USER").as_deref(), Some(USER));
    assert_eq!(environ_var(web, "LOGNAME").as_deref(), Some(USER));

    // A numeric user with another primary group; its own HOME wins over the account's.
    assert_eq!(status_ids(grouped, "Uid:"), vec![uid; 4]);
    assert_eq!(status_ids(grouped, "Gid:"), vec![extra; 4]);
    assert_eq!(status_ids(grouped, "Groups:"), vec![extra]);
    assert_eq!(environ_var(grouped, "HOME").as_deref(), Some("/srv/chosen"));

    // Without `user`, root; and `up -d` said so once, naming only that service.
    assert_eq!(status_ids(plain, "Uid:"), vec![0; 4]);
    let notices: Vec<&str> = daemon
        .up
        .stdout
        .lines()
        .filter(|line| line.contains("running as root"))
        .collect();
    assert_eq!(notices.len(), 1, "{:#?}", daemon.up);
    assert!(
        notices[0].contains("services without `user` run as root too (plain)"),
        "{notices:?}"
    );

    // Its output reached wrangle, and the log files stay wrangle's (root's).
    let logs = project.run(&["logs", "grouped"]);
    assert!(logs.stdout.contains(&format!("i am {USER}")), "{logs:#?}");
    let log_dir = crate::support::project_dir(&project).join("logs");
    let mut checked = 0;
    for entry in fs::read_dir(&log_dir).expect("the log directory") {
        let entry = entry.expect("a log entry");
        assert_eq!(entry.metadata().expect("stat").uid(), 0, "{entry:?}");
        checked += 1;
    }
    assert!(checked > 0, "no log files in {}", log_dir.display());
}

#[test]
fn a_user_or_group_that_does_not_exist_is_a_located_error() {
    let project = Project::new(
        r#"
[services.api]
command = ["sleep", "1000"]
user = "no-such-user-wrangle"
group = "no-such-group-wrangle"

[services.bad]
command = ["sleep", "1000"]
user = "-rf"
"#,
    );
    let finished = project.run(&["up"]);
    assert_eq!(finished.code, 2, "{finished:#?}");
    for needle in [
        "no user named \"no-such-user-wrangle\" on this machine",
        "wrangle.toml:4:8",
        "no group named \"no-such-group-wrangle\" on this machine",
        "wrangle.toml:5:9",
        "invalid name \"-rf\" for `services.bad.user`",
    ] {
        assert!(
            finished.stderr.contains(needle),
            "{needle:?} not in\n{}",
            finished.stderr
        );
    }
}

/// wrangle run as `nobody` (through setpriv) refuses a config that names root, at load time.
#[test]
fn as_another_user_naming_someone_else_is_a_located_config_error() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: the test switches to nobody, which needs root");
        return;
    }
    let project = Project::new(
        r#"
[services.api]
command = ["sleep", "1000"]
user = "root"

[services.worker]
command = ["sleep", "1000"]
group = 0

[services.self]
command = ["sleep", "1000"]
user = 65534
"#,
    );
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(project.root())
        .status()
        .expect("run chown");
    assert!(chown.success());
    let command = project.command_through(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ],
        &["up"],
    );
    let finished = project.run_command_unswept(command);
    assert_eq!(finished.code, 2, "{finished:#?}");
    for needle in [
        "not root: it cannot start a service as root (uid 0)",
        "wrangle.toml:4:8",
        "not as root: it cannot start a service with group 0",
        "wrangle.toml:8:9",
    ] {
        assert!(
            finished.stderr.contains(needle),
            "{needle:?} not in\n{}",
            finished.stderr
        );
    }
    // Its own uid is allowed: only two errors.
    assert_eq!(
        finished
            .stderr
            .matches("only root can switch users")
            .count(),
        2,
        "{}",
        finished.stderr
    );
}
