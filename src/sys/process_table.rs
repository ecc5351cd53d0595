//! The process table, read from `/proc`: who runs, who is whose parent, in which process group
//! and session, as which user, and with which command line and environment.
//!
//! This module owns reading and parsing `/proc/PID/{stat,cmdline,environ}` and
//! `/etc/passwd`. It only observes: it never signals, waits for or otherwise touches a process,
//! and it keeps no state between calls.
//!
//! # Caveats
//!
//! `/proc` is a moving target. A process listed by `readdir` may be gone by the time its files
//! are opened, and a pid may even be reused in between. Every reader therefore treats a missing
//! or malformed file as "this process does not exist" and skips it, never as an error and never
//! as a panic. The owner and the fields of a process come from one open file descriptor on
//! `/proc/PID/stat`, so both describe the same process even if the pid is recycled mid-scan.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};

/// One process as seen in `/proc` at the time of the read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    /// Process group id.
    pub pgid: i32,
    /// Session id.
    pub sid: i32,
    /// Start time in clock ticks since boot (field 22 of `/proc/PID/stat`). Together with `pid`
    /// it identifies a process across pid reuse.
    pub start_time: u64,
    /// The user the process runs as: the owner of `/proc/PID`, which the kernel sets to the
    /// effective uid (what `ps` shows as USER). It differs from the real uid only for set-uid
    /// programs, and those are non-dumpable, which makes the kernel report them as root (0).
    /// Read this way because `/proc/PID/status`, which has the real uid, costs as much again as
    /// `stat` and would double the time of a scan.
    pub uid: u32,
    /// One-letter state: `R` running, `S` sleeping, `Z` zombie, and so on (see `man 5 proc`).
    pub state: char,
    /// The kernel's short command name (at most 15 bytes, may contain spaces and parentheses).
    pub comm: String,
}

/// Every process visible now. Processes that vanish while being read are skipped silently.
///
/// Runs at every stop, so it costs one open, one `fstat` and one read of `/proc/PID/stat` per
/// process, with one buffer reused for all of them. Measured on a 2-vCPU VM: about 3.5 ms for
/// 320 processes in a release build (the kernel formatting `stat` is most of it).
pub fn scan() -> Vec<ProcessInfo> {
    let Ok(proc_dir) = open_dir_fd("/proc") else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut buffer = Vec::with_capacity(2048);
    let mut processes = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(info) = read_process(&proc_dir, pid, &mut buffer) {
            processes.push(info);
        }
    }
    processes
}

/// One process by pid, or `None` if it does not exist (or vanished while being read).
pub fn process(pid: i32) -> Option<ProcessInfo> {
    let proc_dir = open_dir_fd("/proc").ok()?;
    read_process(&proc_dir, pid, &mut Vec::with_capacity(2048))
}

/// When a process that started `start_time` clock ticks after boot started, by the wall clock.
pub fn started_at(start_time: u64) -> Option<std::time::SystemTime> {
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let uptime: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let ticks = crate::sys::sampler::clock_ticks_per_second().max(1) as f64;
    let ago = (uptime - start_time as f64 / ticks).max(0.0);
    std::time::SystemTime::now().checked_sub(std::time::Duration::from_secs_f64(ago))
}

/// The value of `key` in the environment a process was started with (`/proc/PID/environ`).
///
/// `None` when the variable is absent, the process is gone, or we may not read its environment
/// (another user's process). Changes a process makes to its environment after `exec` are not
/// visible here: the kernel shows the initial block.
pub fn environ_var(pid: i32, key: &str) -> Option<String> {
    if key.is_empty() || key.contains('=') {
        return None;
    }
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ_lookup(&environ, key)
}

/// The command line of a process, arguments joined with spaces.
///
/// Kernel threads and zombies have an empty command line; for them this returns `[comm]`, the
/// way `ps` shows them. `None` when the process is gone.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    match join_cmdline(&raw) {
        Some(line) => Some(line),
        None => process(pid).map(|info| format!("[{}]", info.comm)),
    }
}

/// The login name of `uid` from `/etc/passwd`, or the number itself when it has no entry.
///
/// Deliberately not `getpwuid`: that goes through NSS and libc, which we avoid here; users that
/// only exist in LDAP or similar are shown by number.
pub fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| passwd_lookup(&passwd, uid))
        .unwrap_or_else(|| uid.to_string())
}

/// The fields of `/proc/PID/stat` that wrangle uses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatFields {
    pid: i32,
    comm: String,
    state: char,
    ppid: i32,
    pgid: i32,
    sid: i32,
    start_time: u64,
}

fn open_dir_fd(path: &str) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Reads one process from `/proc/PID/stat` and the owner of that file.
///
/// One open, one `fstat`, one or two reads: the owner and the fields come from the same open
/// file, hence from the same process even if the pid is reused meanwhile.
fn read_process(proc_dir: &OwnedFd, pid: i32, buffer: &mut Vec<u8>) -> Option<ProcessInfo> {
    let fd = rustix::fs::openat(
        proc_dir,
        format!("{pid}/stat"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let uid = rustix::fs::fstat(&fd).ok()?.st_uid;
    buffer.clear();
    File::from(fd).read_to_end(buffer).ok()?;
    let stat = parse_stat(buffer)?;
    Some(ProcessInfo {
        pid: stat.pid,
        ppid: stat.ppid,
        pgid: stat.pgid,
        sid: stat.sid,
        start_time: stat.start_time,
        uid,
        state: stat.state,
        comm: stat.comm,
    })
}

/// Splits a `/proc/PID/stat` line into the pid, the command name and the fields after it
/// (starting at field 3, the state). The name is found between the first `(` and the *last* `)`,
/// since a process may name itself `a) (b`. Shared by every reader of `stat` in `sys`.
pub(crate) fn split_stat(line: &[u8]) -> Option<(&[u8], &[u8], &str)> {
    let open = line.iter().position(|&byte| byte == b'(')?;
    let close = line.iter().rposition(|&byte| byte == b')')?;
    if close < open {
        return None;
    }
    let rest = std::str::from_utf8(&line[close + 1..]).ok()?;
    Some((&line[..open], &line[open + 1..close], rest))
}

/// Parses a `/proc/PID/stat` line.
///
/// The command name sits in parentheses and may itself contain spaces and `)` (a process can
/// name itself `a) b`), so the fields after it are found from the *last* `)`. See: man 5 proc.
fn parse_stat(line: &[u8]) -> Option<StatFields> {
    let (pid, comm, rest) = split_stat(line)?;
    let pid = std::str::from_utf8(pid).ok()?.trim().parse().ok()?;
    let comm = String::from_utf8_lossy(comm).into_owned();
    // `rest` starts at field 3 (state); field N is at index N - 3.
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    let sid = fields.next()?.parse().ok()?;
    // Fields 7..=21 are not needed; field 22 is the start time.
    let start_time = fields.nth(22 - 7)?.parse().ok()?;
    Some(StatFields {
        pid,
        comm,
        state,
        ppid,
        pgid,
        sid,
        start_time,
    })
}

fn environ_lookup(environ: &[u8], key: &str) -> Option<String> {
    environ.split(|&byte| byte == 0).find_map(|entry| {
        let value = entry.strip_prefix(key.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(value).into_owned())
    })
}

/// Joins NUL-separated arguments with spaces; `None` for an empty command line.
fn join_cmdline(raw: &[u8]) -> Option<String> {
    // The block normally ends with a NUL; a process that rewrote its argv (setproctitle) may
    // leave several, or none.
    let trimmed = match raw.iter().rposition(|&byte| byte != 0) {
        Some(last) => &raw[..=last],
        None => return None,
    };
    let args: Vec<_> = trimmed
        .split(|&byte| byte == 0)
        .map(String::from_utf8_lossy)
        .collect();
    Some(args.join(" "))
}

fn passwd_lookup(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let entry_uid: u32 = fields.nth(1)?.parse().ok()?;
        (entry_uid == uid && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::test_support::ChildGuard;

    /// Spawns `sh -c 'echo ready; read line'` and waits for its `ready` line: only then is it
    /// certain that exec has finished (polling `/proc` right after spawn can catch the kernel
    /// between installing the new image and filling in its argv/environ bounds).
    /// The child blocks on its stdin until the guard kills it.
    fn spawn_ready_shell(command: &mut Command) -> ChildGuard {
        let mut child = ChildGuard(
            command
                .args(["-c", "echo ready; read line"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn sh"),
        );
        let stdout = child.0.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read ready line");
        assert_eq!(line, "ready\n");
        child
    }

    #[test]
    fn parse_stat_handles_comm_with_spaces_and_parentheses() {
        let line = b"4242 (a) (b) c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                     987654 1000 200 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let stat = parse_stat(line).expect("parses");
        assert_eq!(
            stat,
            StatFields {
                pid: 4242,
                comm: "a) (b) c)".to_string(),
                state: 'S',
                ppid: 1,
                pgid: 4242,
                sid: 4242,
                start_time: 987654,
            }
        );
    }

    #[test]
    fn parse_stat_rejects_garbage_without_panicking() {
        for line in [
            &b""[..],
            b"12",
            b"12 (x",
            b"12 x) S",
            b") 12 (",
            b"12 (x) S 1 2 3",
            b"\xff (x) S",
        ] {
            assert_eq!(
                parse_stat(line),
                None,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn join_cmdline_handles_trailing_and_missing_nuls() {
        assert_eq!(
            join_cmdline(b"python3\0-m\0http.server\0"),
            Some("python3 -m http.server".into())
        );
        assert_eq!(
            join_cmdline(b"nginx: worker process"),
            Some("nginx: worker process".into())
        );
        assert_eq!(join_cmdline(b"a\0\0\0"), Some("a".into()));
        assert_eq!(join_cmdline(b""), None);
        assert_eq!(join_cmdline(b"\0"), None);
    }

    #[test]
    fn passwd_lookup_finds_names_and_skips_bad_lines() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nbroken\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(passwd_lookup(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_lookup(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(passwd_lookup(passwd, 7), None);
    }

    #[test]
    fn user_name_of_root_and_of_an_unknown_uid() {
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(3_999_999_999), "3999999999");
    }

    #[test]
    fn scan_contains_this_process_with_its_ids() {
        // Timing is printed, not asserted: test machines are too noisy for a hard bound. The
        // best of a few runs is the figure that matters (the first one warms the dentry cache).
        let mut fastest = Duration::MAX;
        let mut processes = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            processes = scan();
            fastest = fastest.min(started.elapsed());
        }
        eprintln!(
            "scan of {} processes: best of 5 took {fastest:?}",
            processes.len()
        );

        let pid = rustix::process::getpid();
        let me = processes
            .iter()
            .find(|info| info.pid == pid.as_raw_pid())
            .expect("own pid in scan");
        let ppid = rustix::process::getppid().map_or(0, |ppid| ppid.as_raw_pid());
        assert_eq!(me.ppid, ppid);
        assert_eq!(me.pgid, rustix::process::getpgrp().as_raw_pid());
        // Our own session id is not checked against getsid(2): it returns 0 when the session
        // leader lives outside our pid namespace (as in CI containers), and rustix panics on 0.
        // The sid column is covered by `a_new_session_leader_has_its_own_pid_as_sid`.
        assert_eq!(me.uid, rustix::process::geteuid().as_raw());
        assert!(me.start_time > 0);
        assert_eq!(
            process(me.pid).as_ref().map(|info| info.start_time),
            Some(me.start_time)
        );
        // pid 1 always exists and has no parent.
        assert!(processes.iter().any(|info| info.pid == 1 && info.ppid == 0));
    }

    #[test]
    fn a_new_session_leader_has_its_own_pid_as_sid() {
        // `setsid` execs directly (no fork) when, as here, it is not a process-group leader.
        let mut child = std::process::Command::new("setsid")
            .args(["sleep", "30"])
            .spawn()
            .expect("spawn setsid");
        let pid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        let info = loop {
            match process(pid) {
                Some(info) if info.sid == pid => break Some(info),
                _ if Instant::now() > deadline => break process(pid),
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        child.kill().ok();
        child.wait().ok();
        let info = info.expect("child in process table");
        assert_eq!(info.sid, pid);
        assert_eq!(info.pgid, pid);
    }

    #[test]
    fn process_of_a_missing_pid_is_none() {
        // Above the largest possible pid_max (2^22).
        assert_eq!(process(5_000_000), None);
        assert_eq!(cmdline(5_000_000), None);
        assert_eq!(environ_var(5_000_000, "PATH"), None);
    }

    #[test]
    fn environ_var_and_cmdline_of_a_child() {
        let child = spawn_ready_shell(
            Command::new("sh")
                .env("WRANGLE_TEST_MARKER", "hello world=1")
                .env("WRANGLE_TEST_EMPTY", ""),
        );
        let pid = child.0.id() as i32;
        assert_eq!(
            environ_var(pid, "WRANGLE_TEST_MARKER").as_deref(),
            Some("hello world=1")
        );
        assert_eq!(environ_var(pid, "WRANGLE_TEST_EMPTY").as_deref(), Some(""));
        assert_eq!(environ_var(pid, "WRANGLE_TEST"), None);
        assert_eq!(environ_var(pid, "WRANGLE_TEST_ABSENT"), None);
        assert_eq!(cmdline(pid).as_deref(), Some("sh -c echo ready; read line"));

        let info = process(pid).expect("child in process table");
        assert_eq!(info.ppid, rustix::process::getpid().as_raw_pid());
        assert_eq!(info.comm, "sh");
    }

    #[test]
    fn cmdline_of_a_zombie_falls_back_to_comm() {
        let mut child = Command::new("sh")
            .args(["-c", "read line"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = child.id() as i32;
        // Closing stdin ends `read`; the child then exits and stays a zombie until reaped.
        drop(child.stdin.take());
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let _ = reader.read_line(&mut line); // EOF once the child has exited.
        let deadline = Instant::now() + Duration::from_secs(5);
        while process(pid).is_some_and(|info| info.state != 'Z') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let result = cmdline(pid);
        let _ = child.wait();
        assert_eq!(result.as_deref(), Some("[sh]"));
    }
}
