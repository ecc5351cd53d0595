//! Stopping: whatever a service did with its processes (double fork, `setsid`, daemonizing),
//! Ctrl+C, SIGTERM and SIGHUP stop all of it and exit 0, and SIGKILL of wrangle itself still
//! leaves nothing behind.

use std::time::Duration;

use crate::support::{Project, WAIT, Wrangle, assert_no_survivors, survivors, wait_until};

/// Waits until at least `count` marked processes have `needle` in their command line, so that a
/// test of "nothing survives" is known to have had something to kill.
fn expect_processes(project: &Project, wrangle: &Wrangle, needle: &str, count: usize) {
    let found = wait_until(WAIT, || {
        survivors(&project.mark)
            .iter()
            .filter(|(_, command)| command.contains(needle))
            .count()
            >= count
    });
    assert!(
        found,
        "expected {count} process(es) running {needle:?}, found {:?}\n{}",
        survivors(&project.mark),
        wrangle.transcript()
    );
}

/// Sends `signal` and checks the clean stop: exit 0, the closing line, and no survivor.
fn stop_cleanly(project: &Project, mut wrangle: Wrangle, signal: &str) -> Wrangle {
    wrangle.signal(signal);
    let code = wrangle.wait_exit(WAIT);
    assert_eq!(
        code,
        0,
        "exit code after SIG{signal}\n{}",
        wrangle.transcript()
    );
    assert!(
        wrangle
            .find_line("wrangle * every process is stopped")
            .is_some(),
        "no closing line\n{}",
        wrangle.transcript()
    );
    assert_no_survivors(&project.mark);
    wrangle
}

#[test]
fn double_forked_grandchild_is_stopped_on_sigint() {
    let project = Project::new(
        r#"
[services.forker]
command = ["sh", "-c", "(sleep 301 &) ; exec sleep 302"]
stop_timeout = "2s"
"#,
    );
    let wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 1 service up in");
    expect_processes(&project, &wrangle, "sleep 301", 1);
    expect_processes(&project, &wrangle, "sleep 302", 1);
    stop_cleanly(&project, wrangle, "INT");
}

#[test]
fn fork_setsid_fork_escapee_is_stopped_on_sigint() {
    // The grandchild is in a new session and process group, and its parent is gone: neither a
    // process-group signal nor the parent/child tree reaches it.
    let project = Project::new(
        r#"
[services.escaper]
command = ["sh", "-c", "(setsid sh -c '(sleep 303 &)' &) ; exec sleep 304"]
stop_timeout = "2s"
"#,
    );
    let wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 1 service up in");
    expect_processes(&project, &wrangle, "sleep 303", 1);
    expect_processes(&project, &wrangle, "sleep 304", 1);
    stop_cleanly(&project, wrangle, "INT");
}

#[test]
fn setsid_child_is_stopped_on_sigint() {
    let project = Project::new(
        r#"
[services.sessions]
command = ["sh", "-c", "setsid sleep 305 & wait"]
stop_timeout = "2s"
"#,
    );
    let wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 1 service up in");
    expect_processes(&project, &wrangle, "sleep 305", 1);
    stop_cleanly(&project, wrangle, "INT");
}

#[test]
fn daemonized_service_is_kept_and_then_stopped() {
    // The classic daemon: the first process forks a child into a new session and exits 0.
    let project = Project::new(
        r#"
[services.daemon]
command = ["sh", "-c", "(setsid sleep 306 &) ; exit 0"]
stop_timeout = "2s"

[services.other]
command = ["sleep", "307"]
"#,
    );
    let wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 2 services up in");
    wrangle.expect_line(
        "daemon * main process exited with code 0; 1 process of its tree live on, so it is still running",
    );
    expect_processes(&project, &wrangle, "sleep 306", 1);
    let wrangle = stop_cleanly(&project, wrangle, "INT");
    assert!(
        wrangle.find_line("daemon * stopped").is_some(),
        "the daemon was not stopped as a running service\n{}",
        wrangle.transcript()
    );
}

#[test]
fn tree_ignoring_sigterm_is_killed_after_stop_timeout() {
    let project = Project::new(
        r#"
[services.stubborn]
command = ["sh", "-c", "trap '' TERM; echo trapped; while :; do sleep 0.1; done"]
stop_timeout = "1s"
"#,
    );
    let wrangle = project.up(&[]);
    wrangle.expect_line("stubborn | trapped");
    wrangle.signal("INT");
    wrangle.expect_line("stubborn * stopping (SIGTERM)");
    wrangle.expect_line("stubborn * still running after 1s: sending SIGKILL to its whole tree");
    let mut wrangle = wrangle;
    let code = wrangle.wait_exit(WAIT);
    assert_eq!(code, 0, "{}", wrangle.transcript());
    wrangle.expect_line("wrangle * every process is stopped");
    assert_no_survivors(&project.mark);
}

#[test]
fn second_sigint_kills_at_once() {
    let project = Project::new(
        r#"
[services.stubborn]
command = ["sh", "-c", "trap '' TERM; echo trapped; while :; do sleep 0.1; done"]
stop_timeout = "30s"
"#,
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("stubborn | trapped");
    wrangle.signal("INT");
    wrangle.expect_line("stubborn * stopping (SIGTERM)");
    wrangle.signal("INT");
    wrangle.expect_line("wrangle * stopping now: killing every process (SIGKILL)");
    // Far less than the 30 s grace period.
    let code = wrangle.wait_exit(WAIT);
    assert_eq!(code, 0, "{}", wrangle.transcript());
    assert!(
        wrangle.find_line("still running after 30s").is_none(),
        "{}",
        wrangle.transcript()
    );
    assert_no_survivors(&project.mark);
}

#[test]
fn sigterm_stops_everything_cleanly() {
    let project = Project::new(
        r#"
[services.a]
command = ["sleep", "308"]

[services.b]
command = ["sh", "-c", "(sleep 309 &); exec sleep 310"]
depends_on = ["a"]
"#,
    );
    let wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 2 services up in");
    expect_processes(&project, &wrangle, "sleep 309", 1);
    let wrangle = stop_cleanly(&project, wrangle, "TERM");
    // Reverse dependency order: b depends on a, so b is stopped first.
    let b_stopped = wrangle.expect_line("b * stopped");
    let a_stopping = wrangle.expect_line("a * stopping (SIGTERM)");
    assert!(b_stopped < a_stopping, "{}", wrangle.transcript());
}

#[test]
fn sighup_stops_everything_cleanly() {
    let project = Project::new(
        r#"
[services.a]
command = ["sh", "-c", "setsid sleep 311 & exec sleep 312"]
"#,
    );
    let wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 1 service up in");
    expect_processes(&project, &wrangle, "sleep 311", 1);
    stop_cleanly(&project, wrangle, "HUP");
}

#[test]
fn sigkill_of_wrangle_leaves_no_service_alive() {
    let project = Project::new(
        r#"
[services.plain]
command = ["sleep", "313"]

[services.forker]
command = ["sh", "-c", "(sleep 314 &) ; exec sleep 315"]

[services.escaper]
command = ["sh", "-c", "(setsid sh -c '(sleep 316 &)' &) ; setsid sleep 317 & wait"]
"#,
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 3 services up in");
    for needle in [
        "sleep 313",
        "sleep 314",
        "sleep 315",
        "sleep 316",
        "sleep 317",
    ] {
        expect_processes(&project, &wrangle, needle, 1);
    }
    wrangle.kill_hard();
    let gone = wait_until(Duration::from_secs(10), || {
        survivors(&project.mark).is_empty()
    });
    assert!(
        gone,
        "still alive 10 s after SIGKILL of wrangle: {:?}\n{}",
        survivors(&project.mark),
        wrangle.transcript()
    );
}

/// Starts `wrangle up` with the cgroup path switched off, so the process-group, subreaper and
/// marker path is what must leave nothing behind (as on machines where wrangle gets no cgroup).
fn up_without_cgroups(project: &Project) -> Wrangle {
    let mut command = project.command(&["up"]);
    command.env("WRANGLE_NO_CGROUP", "1");
    project.spawn_command(command)
}

/// Every process on the machine whose command line contains `needle` (for processes that
/// cleared their environment and so carry no test mark).
fn running(needle: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'));
            !zombie && crate::support::cmdline(*pid).contains(needle)
        })
        .collect()
}

#[test]
fn without_cgroups_escapees_are_still_stopped_on_sigint() {
    let project = Project::new(
        r#"
[services.forker]
command = ["sh", "-c", "(sleep 331 &) ; exec sleep 332"]
stop_timeout = "2s"

[services.escaper]
command = ["sh", "-c", "(setsid sh -c '(sleep 333 &)' &) ; setsid sleep 334 & wait"]
stop_timeout = "2s"
"#,
    );
    let wrangle = up_without_cgroups(&project);
    wrangle.expect_line("wrangle * all 2 services up in");
    for needle in ["sleep 331", "sleep 332", "sleep 333", "sleep 334"] {
        expect_processes(&project, &wrangle, needle, 1);
    }
    stop_cleanly(&project, wrangle, "INT");
}

#[test]
fn without_cgroups_sigkill_of_wrangle_leaves_no_service_alive() {
    let project = Project::new(
        r#"
[services.forker]
command = ["sh", "-c", "(sleep 335 &) ; exec sleep 336"]

[services.escaper]
command = ["sh", "-c", "(setsid sh -c '(sleep 337 &)' &) ; wait"]
"#,
    );
    let mut wrangle = up_without_cgroups(&project);
    wrangle.expect_line("wrangle * all 2 services up in");
    for needle in ["sleep 335", "sleep 336", "sleep 337"] {
        expect_processes(&project, &wrangle, needle, 1);
    }
    wrangle.kill_hard();
    let gone = wait_until(Duration::from_secs(10), || {
        survivors(&project.mark).is_empty()
    });
    assert!(
        gone,
        "still alive after SIGKILL of wrangle: {:?}\n{}",
        survivors(&project.mark),
        wrangle.transcript()
    );
}

#[test]
fn an_escapee_that_clears_its_environment_is_stopped_too() {
    // `env -i` drops every variable (wrangle's run marker included) and `setsid` leaves the
    // service's session: with a cgroup the service's stop reaches it; without one, it is still
    // below wrangle (the subreaper) and the final sweep kills it. Either way nothing survives.
    let needle = format!("sleep 33{}", std::process::id() % 10 + 80);
    let config = format!(
        r#"
[services.cleaner]
command = ["sh", "-c", "env -i setsid {needle} & wait"]
stop_timeout = "2s"
"#
    );
    for without_cgroup in [false, true] {
        let project = Project::new(&config);
        let wrangle = if without_cgroup {
            up_without_cgroups(&project)
        } else {
            project.up(&[])
        };
        wrangle.expect_line("wrangle * all 1 service up in");
        assert!(
            wait_until(WAIT, || !running(&needle).is_empty()),
            "{}",
            wrangle.transcript()
        );
        let wrangle = stop_cleanly(&project, wrangle, "INT");
        assert!(
            wait_until(Duration::from_secs(3), || running(&needle).is_empty()),
            "the environment-less escapee survived (cgroup off: {without_cgroup})\n{}",
            wrangle.transcript()
        );
    }
}

#[test]
fn services_of_a_killed_wrangle_are_stopped_gracefully() {
    // SIGKILL of wrangle: each leader gets SIGTERM as its death signal and the sentinel stops
    // the rest, SIGKILL only after a grace period. A service that cleans up on SIGTERM gets to.
    let project = Project::new(
        r#"
[services.tidy]
command = ["sh", "-c", "trap 'echo graceful > stopped.txt; exit 0' TERM; echo up; while :; do sleep 0.1; done"]
stop_timeout = "5s"
"#,
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("tidy | up");
    wrangle.kill_hard();
    assert!(
        wait_until(WAIT, || project.exists("stopped.txt")),
        "the service got no chance to stop gracefully\n{}",
        wrangle.transcript()
    );
    assert!(
        wait_until(WAIT, || survivors(&project.mark).is_empty()),
        "still alive: {:?}",
        survivors(&project.mark)
    );
}
