//! `nice` and `limits`: the priority and resource limits a service's process is given, read back
//! from `/proc/PID/stat` and `/proc/PID/limits` of the real process, `[defaults]` filling in
//! what a service does not set.

use std::fs;

use crate::support::{Daemon, Project, pid, stat_field, wait_states};

/// The soft and hard values of one row of `/proc/PID/limits` (`Max open files`), as written
/// there (`unlimited` or a number).
fn limit_of(pid: i32, row: &str) -> (String, String) {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).expect("read /proc/PID/limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with(row))
        .unwrap_or_else(|| panic!("no {row} in\n{limits}"));
    let mut values = line[row.len()..].split_whitespace();
    let soft = values.next().expect("a soft limit").to_string();
    let hard = values.next().expect("a hard limit").to_string();
    (soft, hard)
}

/// This process's hard limit of `row`, as a number (`u64::MAX` when unlimited).
fn own_hard(row: &str) -> u64 {
    let (_, hard) = limit_of(std::process::id() as i32, row);
    hard.parse().unwrap_or(u64::MAX)
}

#[test]
fn a_service_runs_with_its_nice_value_and_limits_and_defaults_fill_in_the_rest() {
    // Values any user may set: lowering limits and raising the nice value need no privilege.
    let memlock = own_hard("Max locked memory").min(65536);
    let nproc = own_hard("Max processes").min(100_000);
    let project = Project::new(&format!(
        r#"
[defaults]
nice = 3
limits = {{ core = 0, nofile = 300 }}

[services.tuned]
command = ["sleep", "1000"]
nice = 7
limits = {{ nofile = 200, memlock = {memlock}, nproc = {nproc} }}

[services.plain]
command = ["sleep", "1000"]
"#
    ));
    let _daemon = Daemon::start(&project, &[]);
    let status = wait_states(&project, &[("tuned", "running"), ("plain", "running")]);
    let tuned = pid(&status, "tuned").expect("tuned runs");
    let plain = pid(&status, "plain").expect("plain runs");

    // Field 19 of /proc/PID/stat is the nice value.
    assert_eq!(stat_field(tuned, 19), Some(7));
    assert_eq!(stat_field(plain, 19), Some(3));
    let both = |value: u64| (value.to_string(), value.to_string());
    assert_eq!(limit_of(tuned, "Max open files"), both(200));
    assert_eq!(limit_of(tuned, "Max core file size"), both(0));
    assert_eq!(limit_of(tuned, "Max locked memory"), both(memlock));
    assert_eq!(limit_of(tuned, "Max processes"), both(nproc));
    assert_eq!(limit_of(plain, "Max open files"), both(300));
    assert_eq!(limit_of(plain, "Max core file size"), both(0));
    // What neither sets stays as wrangle had it.
    assert_eq!(
        limit_of(plain, "Max locked memory"),
        limit_of(std::process::id() as i32, "Max locked memory")
    );
}

#[test]
fn limits_and_nice_out_of_range_are_located_config_errors() {
    let project = Project::new(
        r#"
[services.api]
command = ["sleep", "1000"]
nice = 20
limits = { nofile = -1, stack = 5, core = "lots" }
"#,
    );
    let finished = project.run(&["up"]);
    assert_eq!(finished.code, 2, "{finished:#?}");
    for needle in [
        "20 is out of range for `services.api.nice`",
        "wrangle.toml:4:",
        "invalid limit for `services.api.limits.nofile`",
        "unknown key `stack` in `services.api.limits`",
        "invalid limit for `services.api.limits.core`",
    ] {
        assert!(
            finished.stderr.contains(needle),
            "{needle:?} not in\n{}",
            finished.stderr
        );
    }
}

/// As a user who may not lower the nice value, the service is not started, and the error names
/// its `nice` and `limits` rather than only its program. Run as `nobody` through setpriv; skipped,
/// with the reason printed, when the test is not root or setpriv is missing.
#[test]
fn a_nice_value_the_user_may_not_set_fails_the_start_and_says_why() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: only root can run wrangle as another user here");
        return;
    }
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: setpriv is not installed (util-linux)");
        return;
    }
    let project = Project::new(
        r#"
[services.api]
command = ["sleep", "1000"]
nice = -5
"#,
    );
    // nobody must own the project (the config trust rule) and be able to write its state.
    let chown = std::process::Command::new("chown")
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
    assert_eq!(finished.code, 1, "{finished:#?}");
    let output = format!("{}{}", finished.stdout, finished.stderr);
    assert!(
        output.contains("permission denied: sleep, or its nice or limits"),
        "{output}"
    );
}

/// The cgroup v2 directory of a process, from `/proc/PID/cgroup` and the cgroup2 mount.
fn cgroup_dir(pid: i32) -> Option<std::path::PathBuf> {
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = own.lines().find_map(|line| line.strip_prefix("0::"))?;
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    let mount = mounts.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(2) == Some(&"cgroup2")).then(|| fields[1].to_string())
    })?;
    Some(std::path::Path::new(&mount).join(path.trim_start_matches('/')))
}

/// `cpu_max` becomes the service cgroup's `cpu.max` where the cpu controller is available to
/// wrangle; elsewhere (no cgroup, or a v2 hierarchy without the controller, as on hybrid hosts)
/// the daemon says once that it is not enforced. Which of the two this machine does is read
/// from the service's own cgroup.
#[test]
fn cpu_max_is_the_cgroup_cpu_max_or_a_warning_said_once() {
    let project = Project::new(
        r#"
[services.half]
command = ["sleep", "1000"]
cpu_max = "50%"

[services.more]
command = ["sleep", "1000"]
cpu_max = "1.5"
"#,
    );
    let daemon = Daemon::start(&project, &[]);
    let status = wait_states(&project, &[("half", "running"), ("more", "running")]);
    let half = pid(&status, "half").expect("half runs");
    let more = pid(&status, "more").expect("more runs");
    let cpu_max = |pid: i32| {
        cgroup_dir(pid)
            .filter(|dir| dir.to_string_lossy().contains("wrangle-"))
            .and_then(|dir| fs::read_to_string(dir.join("cpu.max")).ok())
    };
    match (cpu_max(half), cpu_max(more)) {
        (Some(half), Some(more)) => {
            assert_eq!(half.trim(), "50000 100000");
            assert_eq!(more.trim(), "150000 100000");
        }
        (None, None) => {
            // Said during start-up, which `up -d` relays.
            let said = format!("{}{}", daemon.up.stdout, daemon.up.stderr);
            assert_eq!(said.matches("cpu_max is not enforced").count(), 1, "{said}");
        }
        other => panic!("one service limited, the other not: {other:?}"),
    }
}
