//! Processes as the tests see them in `/proc`: finding every process of a test by its mark,
//! proving none is left, signalling, and the few `/proc/PID` fields tests assert on.

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{MARK_VAR, wait_until};

/// Processes (other than zombies) whose environment carries `MARK_VAR=mark`, or the mark of one
/// of the project's runs (`MARK_VAR=mark/N`), with their command lines.
pub fn survivors(mark: &str) -> Vec<(i32, String)> {
    let needle = format!("{MARK_VAR}={mark}");
    let run_prefix = format!("{needle}/");
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        // A zombie's environ reads empty; a process of another user is unreadable. Both are
        // skipped, as is a process that ended while we looked.
        let Ok(environ) = fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ.split(|byte| *byte == 0).any(|variable| {
            variable == needle.as_bytes() || variable.starts_with(run_prefix.as_bytes())
        }) {
            continue;
        }
        found.push((pid, cmdline(pid)));
    }
    found.sort();
    found
}

/// `/proc/PID/cmdline` with its NULs turned into spaces.
pub fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = raw
        .split(|byte| *byte == 0)
        .filter(|word| !word.is_empty())
        .map(|word| String::from_utf8_lossy(word).into_owned())
        .collect();
    words.join(" ")
}

/// SIGKILLs every process carrying `mark` until none is left (bounded); returns what it found
/// the first time, so a caller can report it.
pub fn kill_survivors(mark: &str) -> Vec<(i32, String)> {
    let first = survivors(mark);
    if first.is_empty() {
        return first;
    }
    wait_until(Duration::from_secs(5), || {
        let left = survivors(mark);
        for (pid, _) in &left {
            send_signal(*pid, "KILL");
        }
        left.is_empty()
    });
    first
}

/// The test's assertion that nothing outlived wrangle: no service process may be left at all,
/// and wrangle's own helper (`wrangle __sentinel`, told to leave when wrangle exits) must be gone
/// within a moment.
pub fn assert_no_survivors(mark: &str) {
    let services: Vec<_> = survivors(mark)
        .into_iter()
        .filter(|(_, command)| !command.contains("__sentinel"))
        .collect();
    let late = if wait_until(Duration::from_secs(3), || survivors(mark).is_empty()) {
        Vec::new()
    } else {
        survivors(mark)
    };
    let killed = kill_survivors(mark);
    assert!(
        services.is_empty() && late.is_empty(),
        "processes outlived wrangle: {services:?}; still there after 3 s: {late:?} (killed: {killed:?})"
    );
}

/// Sends a signal (a name such as "INT", "KILL") to `pid` with kill(1); std has no kill.
pub fn send_signal(pid: i32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Field `index` (1-based, as in proc(5)) of `/proc/PID/stat`: 4 is the parent, 22 the start
/// time.
pub fn stat_field(pid: i32, index: usize) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces and parentheses) start at field 3.
    let rest = stat.rsplit_once(") ")?.1;
    rest.split(' ').nth(index.checked_sub(3)?)?.parse().ok()
}

/// Whether `pid` has exited: gone, or a zombie with every thread of it exited too. Unlike a
/// process that no longer shows the project's mark (its environment is unreadable once its
/// memory is released, early in its exit), an exited process has closed its descriptors: a
/// daemon's socket refuses connections. The threads matter: the leader of a killed
/// multi-threaded process shows as a zombie while its other threads are still exiting, and the
/// descriptors they share close only with the last of them.
pub fn has_exited(pid: i32) -> bool {
    let exited = |stat: &str| {
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        matches!(state, Some('Z' | 'X'))
    };
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    if !exited(&stat) {
        return false;
    }
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks
        .flatten()
        .all(|task| fs::read_to_string(task.path().join("stat")).map_or(true, |stat| exited(&stat)))
}

/// A `/proc/PID/status` field in kB (`VmRSS`, `VmHWM`); None once the process is gone.
pub fn status_kb(pid: i32, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

/// How many descriptors `pid` has open.
pub fn fd_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// The sentinel of a daemon: its parent, running `wrangle __sentinel --daemon`.
pub fn sentinel_of(daemon_pid: i32) -> Option<i32> {
    let ppid = i32::try_from(stat_field(daemon_pid, 4)?).ok()?;
    cmdline(ppid)
        .contains("__sentinel --daemon")
        .then_some(ppid)
}
