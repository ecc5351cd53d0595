//! Tests of a project's daemon (`wrangle up -d`): the one guard that stops it and proves nothing
//! of the test is left, starting it, reading its status through `ps --json`, and finding its
//! files.
//!
//! `up -d` runs with the project's own mark ([`Project::run_unswept`]), so the daemon inherits it
//! and `survivors(&project.mark)` finds the daemon as well as its services. Every test that may
//! start a daemon holds a [`DaemonGuard`] (directly, or inside a [`Daemon`]) declared right after
//! its project, so it is dropped after everything else the test started.

use std::fs;
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::{
    Finished, Project, WAIT, assert_no_survivors, kill_survivors, normalize, python, survivors,
    toml_str, wait_until,
};

/// Stops the project's daemon however the test ends, and proves that nothing of the test is
/// left: on drop it runs `wrangle down` (bounded), then waits until no process carries the
/// project's mark. When something does, it is SIGKILLed and the test fails naming it (unless the
/// test is already failing: then it is only SIGKILLed, since a second panic would abort).
pub struct DaemonGuard<'a>(&'a Project);

impl<'a> DaemonGuard<'a> {
    pub fn new(project: &'a Project) -> DaemonGuard<'a> {
        DaemonGuard(project)
    }
}

impl Drop for DaemonGuard<'_> {
    fn drop(&mut self) {
        let project = self.0;
        project.run_quietly(&["down"], WAIT);
        if thread::panicking() {
            kill_survivors(&project.mark);
            return;
        }
        // `down` returns once the daemon has let go of the project lock, just before it exits:
        // the daemon and its sentinel may still be there for a moment.
        let gone = wait_until(WAIT, || survivors(&project.mark).is_empty());
        let left = kill_survivors(&project.mark);
        assert!(
            gone,
            "processes of the test outlived `wrangle down` by {WAIT:?}: {left:?}"
        );
    }
}

/// A daemon started by `wrangle up -d`, stopped on drop by its [`DaemonGuard`].
pub struct Daemon<'a> {
    _guard: DaemonGuard<'a>,
    /// The daemon's PID, from the `running in the background` line.
    pub pid: i32,
    /// What `up -d` printed.
    pub up: Finished,
}

impl<'a> Daemon<'a> {
    /// `wrangle up -d ARGS`, which must succeed.
    pub fn start(project: &'a Project, args: &[&str]) -> Daemon<'a> {
        // The guard exists before the daemon may, so a failed assertion below still cleans up.
        let guard = DaemonGuard::new(project);
        let (pid, up) = up_detached(project, args);
        Daemon {
            _guard: guard,
            pid,
            up,
        }
    }
}

/// `wrangle up -d ARGS`, which must succeed: the daemon's PID and what `up -d` printed. The
/// caller holds a [`DaemonGuard`]; for a second daemon of the same test (after the first was
/// killed), where [`Daemon::start`] would make a second guard.
pub fn up_detached(project: &Project, args: &[&str]) -> (i32, Finished) {
    let mut all = vec!["up", "-d"];
    all.extend_from_slice(args);
    let up = project.run_unswept(&all);
    assert_eq!(up.code, 0, "wrangle up -d failed: {up:#?}");
    let pid = background_pid(&up.stdout)
        .unwrap_or_else(|| panic!("no `running in the background` line: {up:#?}"));
    (pid, up)
}

/// The daemon PID of `wrangle * running in the background (daemon PID N): ...`.
pub fn background_pid(stdout: &str) -> Option<i32> {
    let prefix = "wrangle * running in the background (daemon PID ";
    let line = stdout
        .lines()
        .map(normalize)
        .find(|line| line.starts_with(prefix))?;
    line.strip_prefix(prefix)?.split(')').next()?.parse().ok()
}

/// `up -d` on a project that cannot start: the exit code and output of the failure, and no
/// daemon left behind (no process, the lock free).
pub fn failed_detach(project: &Project, code: i32) -> String {
    let _guard = DaemonGuard::new(project);
    let up = project.run_unswept(&["up", "-d"]);
    assert_eq!(up.code, code, "{up:#?}");
    assert!(background_pid(&up.stdout).is_none(), "{up:#?}");
    assert_no_survivors(&project.mark);
    let down = project.run(&["down"]);
    assert_eq!(down.code, 1, "the lock is still held: {down:#?}");
    assert!(
        down.stderr.contains("error: no wrangle is running for"),
        "{down:#?}"
    );
    format!("{}{}", up.stdout, up.stderr)
}

/// `wrangle down`, which must succeed.
pub fn down(project: &Project) {
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "wrangle down failed: {down:#?}");
}

/// `wrangle ps --json`, which must succeed and parse.
pub fn status(project: &Project) -> Value {
    let ps = project.run(&["ps", "--json"]);
    assert_eq!(ps.code, 0, "{ps:#?}");
    serde_json::from_str(&ps.stdout)
        .unwrap_or_else(|error| panic!("ps --json is not JSON ({error}): {ps:#?}"))
}

/// Waits up to `within` until a daemon other than `dead` answers `ps --json`; its status.
pub fn successor_status(project: &Project, dead: i32, within: Duration) -> Value {
    let mut json = Value::Null;
    let answered = wait_until(within, || {
        let ps = project.run(&["ps", "--json"]);
        json = serde_json::from_str(&ps.stdout).unwrap_or(Value::Null);
        ps.code == 0
            && json["daemon_pid"]
                .as_i64()
                .is_some_and(|pid| pid != i64::from(dead))
    });
    assert!(answered, "no daemon took over from PID {dead}: {json:#}");
    json
}

/// One service of a `ps --json` status.
pub fn service<'v>(status: &'v Value, name: &str) -> &'v Value {
    status["services"]
        .as_array()
        .and_then(|services| services.iter().find(|service| service["name"] == name))
        .unwrap_or_else(|| panic!("no service {name:?} in {status:#}"))
}

/// The state of a service in a `ps --json` status.
pub fn state(status: &Value, name: &str) -> String {
    service(status, name)["state"]
        .as_str()
        .unwrap_or_else(|| panic!("state of {name} is not a string: {status:#}"))
        .to_string()
}

/// The leader's PID of a service in a `ps --json` status, when it runs.
pub fn pid(status: &Value, name: &str) -> Option<i32> {
    service(status, name)["pid"]
        .as_i64()
        .map(|pid| i32::try_from(pid).expect("pid fits i32"))
}

/// The restart count of a service in a `ps --json` status.
pub fn restarts(status: &Value, name: &str) -> u64 {
    service(status, name)["restarts"]
        .as_u64()
        .unwrap_or_else(|| panic!("restarts of {name} is not a number: {status:#}"))
}

/// Waits until every named service is in its wanted state according to `ps --json`; returns
/// the status.
pub fn wait_states(project: &Project, wanted: &[(&str, &str)]) -> Value {
    let mut last = Value::Null;
    let settled = wait_until(WAIT, || {
        last = status(project);
        wanted
            .iter()
            .all(|(name, wanted)| state(&last, name) == *wanted)
    });
    assert!(settled, "states did not become {wanted:?}: {last:#}");
    last
}

/// Whether `pid` is a live (non-zombie) process carrying the project's mark.
pub fn is_ours(project: &Project, pid: i32) -> bool {
    survivors(&project.mark)
        .iter()
        .any(|(survivor, _)| *survivor == pid)
}

/// Waits until no process carries the project's mark; fails with what is left.
pub fn assert_all_gone(project: &Project, timeout: Duration, when: &str) {
    let gone = wait_until(timeout, || survivors(&project.mark).is_empty());
    assert!(
        gone,
        "processes left {when} (after {timeout:?}): {:?}",
        survivors(&project.mark)
    );
}

/// After a successful `wrangle down`: no service process is left at all, and the daemon and its
/// sentinel (which `down` waits for only until the daemon releases the project lock, just before
/// it exits) are gone within a moment.
pub fn assert_nothing_left_after_down(project: &Project) {
    let services: Vec<(i32, String)> = survivors(&project.mark)
        .into_iter()
        .filter(|(_, command)| !command.contains("__daemon") && !command.contains("__sentinel"))
        .collect();
    assert!(
        services.is_empty(),
        "processes outlived `down`: {services:?}"
    );
    assert_all_gone(project, Duration::from_secs(3), "after `down`");
}

/// The process running `wrangle __daemon` among the project's processes.
pub fn daemon_process(project: &Project) -> Option<i32> {
    survivors(&project.mark)
        .into_iter()
        .find(|(_, command)| command.contains("__daemon"))
        .map(|(pid, _)| pid)
}

/// The project's private directory under its wrangle home, once it exists (there is only one).
pub fn try_project_dir(project: &Project) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(project.path("home/projects"))
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    (dirs.len() == 1).then(|| dirs.remove(0))
}

/// The project's private directory under its wrangle home, which must exist.
pub fn project_dir(project: &Project) -> PathBuf {
    try_project_dir(project).expect("the project has one private directory")
}

/// The control socket: in the project's `run` directory, or (when that path is too long for a
/// socket) in `/tmp/wrangle-UID/HASH`, HASH being the last part of the project dir's name.
pub fn control_socket(project: &Project) -> PathBuf {
    let dir = project_dir(project);
    let in_home = dir.join("run/control.sock");
    if in_home.exists() {
        return in_home;
    }
    let name = dir
        .file_name()
        .expect("dir name")
        .to_string_lossy()
        .into_owned();
    let hash = name.rsplit('-').next().unwrap_or(&name).to_string();
    let uid = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(String::from))
        })
        .expect("euid");
    PathBuf::from(format!("/tmp/wrangle-{uid}/{hash}/control.sock"))
}

/// The daemon's `daemon.log` (empty while it does not exist).
pub fn daemon_log(project: &Project) -> String {
    try_project_dir(project)
        .and_then(|dir| fs::read_to_string(dir.join("daemon.log")).ok())
        .unwrap_or_default()
}

/// Waits until `daemon.log` contains every one of `needles`; returns it.
pub fn wait_daemon_log(project: &Project, needles: &[&str]) -> String {
    let mut log = String::new();
    let found = wait_until(WAIT, || {
        log = daemon_log(project);
        needles.iter().all(|needle| log.contains(needle))
    });
    assert!(found, "daemon.log lacks {needles:?}:\n{log}");
    log
}

/// A python command line (TOML array) that listens on `port` and then sleeps.
pub fn listener(port: u16) -> String {
    let script = format!(
        "import socket, time\n\
         sock = socket.socket()\n\
         sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         sock.bind(('127.0.0.1', {port}))\n\
         sock.listen()\n\
         print('listening', flush=True)\n\
         time.sleep(300)\n"
    );
    format!(r#"["{}", "-c", {}]"#, python(), toml_str(&script))
}
