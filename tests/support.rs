//! Shared harness for the integration tests: a temporary project per test, the real `wrangle`
//! binary running in it, bounded waits on its output, and a sweep that proves (or enforces) that
//! no process of the test outlives it.
//!
//! Every process a test starts carries `WRANGLE_TEST_MARK=<unique mark>` in its environment:
//! wrangle gets it from [`Project::command`] and every service inherits it. [`survivors`] finds
//! processes by that mark in `/proc/*/environ`, so it also sees double-forked and `setsid`'ed
//! processes that no longer belong to wrangle's tree or session.
//!
//! Nothing here sleeps to synchronise: every wait polls a condition until a deadline and fails the
//! test with the output captured so far when the deadline passes.
//!
//! This is the one harness of the integration tests: a helper two test files need lives here (or
//! in a file under `support/`), never copied. `process` finds and checks processes in `/proc`,
//! `daemon` holds the daemon guard and what tests read from a daemon, `logs` reads log files back,
//! `http` makes plain HTTP requests to wrangle's listeners, `golden` compares outputs with golden
//! files.

#![allow(dead_code)]

mod daemon;
mod golden;
mod http;
mod logs;
mod process;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

pub use daemon::{
    Daemon, DaemonGuard, assert_all_gone, assert_nothing_left_after_down, background_pid,
    control_socket, daemon_log, daemon_process, down, failed_detach, is_ours, listener, pid,
    project_dir, restarts, service, state, status, successor_status, try_project_dir, up_detached,
    wait_daemon_log, wait_states,
};
pub use golden::check_golden;
pub use http::{Answer, request};
pub use logs::{log_file_lines_in, stream_marker};
pub use process::{
    assert_no_survivors, cmdline, fd_count, has_exited, kill_survivors, send_signal, sentinel_of,
    stat_field, status_kb, survivors,
};

/// The environment variable that tags every process a test starts.
pub const MARK_VAR: &str = "WRANGLE_TEST_MARK";

/// The default deadline for one expected event (a line, an exit).
pub const WAIT: Duration = Duration::from_secs(10);

/// Polls `condition` every 5 ms until it holds (true) or `timeout` has passed (false).
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// A TCP port that was free a moment ago: bind port 0 on loopback, read the port, let it go.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// `N` distinct TCP ports that were free a moment ago: all bound at once, so that two calls of
/// [`free_port`] cannot hand out the same port twice.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("local_addr").port())
}

/// The real python interpreter. `python3` on `PATH` may be a pyenv shim (a shell script that
/// execs the interpreter), which adds a process and a few hundred milliseconds to every start.
pub fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let output = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 must be installed for the integration tests");
        assert!(output.status.success(), "python3 -c failed: {output:?}");
        String::from_utf8(output.stdout)
            .expect("utf-8 path")
            .trim()
            .to_string()
    })
}

fn unique_mark() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|duration| duration.as_nanos())
        .unwrap_or_default();
    let thread = thread::current();
    let test = thread.name().unwrap_or("test").replace("::", "-");
    format!(
        "{test}-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temporary project directory with its own wrangle home and its own process mark.
///
/// Each wrangle run in the project gets the mark `MARK/N`, so that dropping one run's
/// [`Wrangle`] cleans up after that run only, while `survivors(&project.mark)` covers them all.
pub struct Project {
    dir: TempDir,
    pub mark: String,
    runs: AtomicUsize,
}

impl Project {
    /// A project whose `wrangle.toml` is `config`.
    pub fn new(config: &str) -> Project {
        let project = Project::empty();
        project.write("wrangle.toml", config);
        project
    }

    /// A project directory with no config file yet.
    pub fn empty() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("wrangle-it-")
            .tempdir()
            .expect("create a temporary directory");
        Project {
            dir,
            mark: unique_mark(),
            runs: AtomicUsize::new(0),
        }
    }

    /// The project directory, canonical (the form wrangle prints in its messages).
    pub fn root(&self) -> PathBuf {
        self.dir
            .path()
            .canonicalize()
            .expect("canonicalize the project dir")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }

    pub fn write(&self, name: &str, contents: &str) {
        fs::write(self.dir.path().join(name), contents).expect("write a project file");
    }

    pub fn exists(&self, name: &str) -> bool {
        self.dir.path().join(name).exists()
    }

    /// `wrangle ARGS` in the project directory, with a private home, the test's mark, no colour
    /// forcing from the outside and no stdin.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_marked(args, &self.mark)
    }

    fn command_marked(&self, args: &[&str], mark: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wrangle"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("WRANGLE_HOME", self.dir.path().join("home"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env(MARK_VAR, mark)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// [`Project::command`] run through `wrapper` (e.g. `prlimit --nofile=1024:1024 --`): the
    /// program is `wrapper[0]`, its arguments the rest of `wrapper`, the wrangle binary and `args`,
    /// with wrangle's environment, directory and pipes.
    pub fn command_through(&self, wrapper: &[&str], args: &[&str]) -> Command {
        let inner = self.command(args);
        let (program, wrapper_args) = wrapper.split_first().expect("a wrapper program");
        let mut command = Command::new(program);
        command
            .args(wrapper_args)
            .arg(inner.get_program())
            .args(inner.get_args());
        for (key, value) in inner.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = inner.get_current_dir() {
            command.current_dir(dir);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Starts `wrangle ARGS` in the background.
    pub fn spawn(&self, args: &[&str]) -> Wrangle {
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let mark = format!("{}/{run}", self.mark);
        Wrangle::spawn(self.command_marked(args, &mark), &mark)
    }

    /// Starts a command made by [`Project::command`] (and then adjusted) in the background.
    /// Its run shares the project's mark, so only the project's final sweep cleans up after it.
    pub fn spawn_command(&self, command: Command) -> Wrangle {
        Wrangle::spawn(command, &self.mark)
    }

    /// Runs `wrangle ARGS` to completion (bounded by [`WAIT`]) with the project's own mark and
    /// without sweeping it afterwards: for `wrangle up -d`, whose daemon must outlive the run
    /// (and is found by `survivors(&project.mark)`). The caller must make sure the daemon is
    /// stopped, however the test ends.
    pub fn run_unswept(&self, args: &[&str]) -> Finished {
        self.run_command_unswept(self.command(args))
    }

    /// [`Project::run_unswept`] for a command made by [`Project::command`] and then adjusted
    /// (e.g. another working directory).
    pub fn run_command_unswept(&self, command: Command) -> Finished {
        let mut wrangle = Wrangle::spawn_unswept(command);
        let code = wrangle.wait_exit(WAIT);
        Finished {
            code,
            stdout: wrangle.stdout_text(),
            stderr: wrangle.stderr_text(),
        }
    }

    /// Runs `wrangle ARGS` with its output discarded, waiting at most `timeout` (then SIGKILLs
    /// it); the exit code, if it exited. Never panics: for cleanup in `Drop`.
    pub fn run_quietly(&self, args: &[&str], timeout: Duration) -> Option<i32> {
        let mut command = self.command(args);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = command.spawn().ok()?;
        let mut status = None;
        wait_until(timeout, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        status.and_then(|status| status.code())
    }

    /// `wrangle up ARGS` in the background.
    pub fn up(&self, args: &[&str]) -> Wrangle {
        let mut all = vec!["up"];
        all.extend_from_slice(args);
        self.spawn(&all)
    }

    /// Runs `wrangle ARGS` to completion (bounded by [`WAIT`]) and returns its exit code and
    /// output.
    pub fn run(&self, args: &[&str]) -> Finished {
        let mut wrangle = self.spawn(args);
        let code = wrangle.wait_exit(WAIT);
        Finished {
            code,
            stdout: wrangle.stdout_text(),
            stderr: wrangle.stderr_text(),
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        kill_survivors(&self.mark);
    }
}

/// A finished `wrangle` run.
#[derive(Debug)]
pub struct Finished {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Default)]
struct Captured {
    stdout: Vec<String>,
    stderr: Vec<String>,
    /// How many of the two pipes reached end-of-file.
    closed: usize,
}

type Shared = Arc<(Mutex<Captured>, Condvar)>;

/// A running `wrangle`, its output read line by line in background threads.
///
/// Dropping it SIGKILLs wrangle (if still running), reaps it, and SIGKILLs whatever still carries
/// the test's mark, so a failing test leaves nothing behind either.
pub struct Wrangle {
    child: Child,
    /// The mark swept on drop; None for a run whose processes must outlive it (`up -d`).
    mark: Option<String>,
    shared: Shared,
    status: Option<ExitStatus>,
}

impl Wrangle {
    fn spawn(command: Command, mark: &str) -> Wrangle {
        let mut wrangle = Wrangle::spawn_unswept(command);
        wrangle.mark = Some(mark.to_string());
        wrangle
    }

    fn spawn_unswept(mut command: Command) -> Wrangle {
        let mut child = command.spawn().expect("spawn the wrangle binary");
        let shared: Shared = Arc::default();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        read_lines(stdout, Arc::clone(&shared), false);
        read_lines(stderr, Arc::clone(&shared), true);
        Wrangle {
            child,
            mark: None,
            shared,
            status: None,
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    pub fn signal(&self, signal: &str) {
        assert!(
            send_signal(self.pid(), signal),
            "kill -{signal} {} failed",
            self.pid()
        );
    }

    /// The stdout lines so far (without their newlines).
    pub fn lines(&self) -> Vec<String> {
        self.lock().stdout.clone()
    }

    pub fn stdout_text(&self) -> String {
        join_lines(&self.lock().stdout)
    }

    pub fn stderr_text(&self) -> String {
        join_lines(&self.lock().stderr)
    }

    /// Waits for the first stdout line containing `needle`; returns its index.
    ///
    /// Lines are compared in [`normalize`]d form, so needles are written `"api * ready in"` or
    /// `"api | hello"` whatever the width of the name column.
    pub fn expect_line(&self, needle: &str) -> usize {
        self.expect_line_from(0, needle, WAIT)
    }

    /// Waits (up to `timeout`) for a stdout line at index `from` or later containing `needle`;
    /// returns its index. Fails the test with the whole output when it does not come.
    pub fn expect_line_from(&self, from: usize, needle: &str, timeout: Duration) -> usize {
        match self.wait_line(from, timeout, |line| normalize(line).contains(needle)) {
            Some(index) => index,
            None => panic!(
                "no line containing {needle:?} (from line {from}) within {timeout:?}\n{}",
                self.transcript()
            ),
        }
    }

    /// Index of the first stdout line (from `from`) matching `predicate`, waiting up to
    /// `timeout`; None on timeout or when wrangle's stdout closed without it.
    pub fn wait_line(
        &self,
        from: usize,
        timeout: Duration,
        predicate: impl Fn(&str) -> bool,
    ) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        let (mutex, condvar) = &*self.shared;
        let mut captured = mutex.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(offset) = captured
                .stdout
                .iter()
                .skip(from)
                .position(|line| predicate(line))
            {
                return Some(from + offset);
            }
            let now = Instant::now();
            if now >= deadline || captured.closed == 2 {
                return None;
            }
            captured = condvar
                .wait_timeout(captured, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Index of the first stdout line containing `needle` seen so far (no waiting).
    pub fn find_line(&self, needle: &str) -> Option<usize> {
        self.lock()
            .stdout
            .iter()
            .position(|line| normalize(line).contains(needle))
    }

    /// Waits (bounded) for wrangle to exit and for both pipes to close; returns the exit code.
    /// Fails the test if wrangle does not exit in time or dies of a signal.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let child = &mut self.child;
        let mut status = self.status;
        let exited = wait_until(timeout, || {
            if status.is_none() {
                status = child.try_wait().expect("waitpid wrangle");
            }
            status.is_some()
        });
        self.status = status;
        if !exited {
            panic!(
                "wrangle did not exit within {timeout:?}\n{}",
                self.transcript()
            );
        }
        // The pipes close when wrangle exits, unless something it started still holds them.
        let (mutex, condvar) = &*self.shared;
        let captured = mutex.lock().unwrap_or_else(PoisonError::into_inner);
        let (captured, timed_out) = condvar
            .wait_timeout_while(captured, Duration::from_secs(5), |captured| {
                captured.closed < 2
            })
            .unwrap_or_else(PoisonError::into_inner);
        drop(captured);
        assert!(
            !timed_out.timed_out(),
            "wrangle exited but its stdout/stderr stayed open: something it started holds them\n{}",
            self.transcript()
        );
        match self.status.and_then(|status| status.code()) {
            Some(code) => code,
            None => panic!(
                "wrangle was killed by a signal: {:?}\n{}",
                self.status,
                self.transcript()
            ),
        }
    }

    /// SIGKILLs wrangle and reaps it.
    pub fn kill_hard(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Stdout and stderr so far, for failure messages.
    pub fn transcript(&self) -> String {
        let captured = self.lock();
        format!(
            "--- wrangle stdout ---\n{}--- wrangle stderr ---\n{}----------------------",
            join_lines(&captured.stdout),
            join_lines(&captured.stderr)
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Captured> {
        self.shared.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Wrangle {
    fn drop(&mut self) {
        self.kill_hard();
        if let Some(mark) = &self.mark {
            kill_survivors(mark);
        }
    }
}

/// Ctrl+C to a foreground `wrangle up`, then the clean-stop checks: exit 0, the closing line,
/// and no process of the project left.
pub fn interrupt(project: &Project, wrangle: &mut Wrangle) {
    wrangle.signal("INT");
    let code = wrangle.wait_exit(WAIT);
    assert_eq!(code, 0, "{}", wrangle.transcript());
    wrangle.expect_line("wrangle * every process is stopped");
    assert_no_survivors(&project.mark);
}

fn read_lines(pipe: impl Read + Send + 'static, shared: Shared, is_stderr: bool) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if buffer.last() == Some(&b'\n') {
                        buffer.pop();
                    }
                    let line = String::from_utf8_lossy(&buffer).into_owned();
                    let (mutex, condvar) = &*shared;
                    let mut captured = mutex.lock().unwrap_or_else(PoisonError::into_inner);
                    match is_stderr {
                        true => captured.stderr.push(line),
                        false => captured.stdout.push(line),
                    }
                    condvar.notify_all();
                }
            }
        }
        let (mutex, condvar) = &*shared;
        mutex.lock().unwrap_or_else(PoisonError::into_inner).closed += 1;
        condvar.notify_all();
    });
}

/// A line with the padding of its name column collapsed: `"api      * ready"` becomes
/// `"api * ready"`. Only the spaces right after the first word are touched.
pub fn normalize(line: &str) -> String {
    match line.split_once(' ') {
        Some((name, rest)) => format!("{name} {}", rest.trim_start_matches(' ')),
        None => line.to_string(),
    }
}

fn join_lines(lines: &[String]) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// A TOML basic string holding `text` (quotes and backslashes escaped).
pub fn toml_str(text: &str) -> String {
    let mut quoted = String::from("\"");
    for ch in text.chars() {
        match ch {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            ch if ch.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(ch))),
            _ => quoted.push(ch),
        }
    }
    quoted.push('"');
    quoted
}

/// Runs its arguments under a seccomp filter that answers ENOSYS to `clone3` (as old kernels
/// and some container runtimes do) and allows everything else: x86_64 system call numbers.
const REFUSE_CLONE3: &str = r#"
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
CLONE3, ENOSYS = 435, 38
# struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}: load the number, refuse clone3, allow.
program = struct.pack("HBBI" * 4,
    0x20, 0, 0, 0,
    0x15, 0, 1, CLONE3,
    0x06, 0, 0, 0x00050000 | ENOSYS,
    0x06, 0, 0, 0x7fff0000)
buffer = ctypes.create_string_buffer(program)
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fprog = Fprog(4, ctypes.addressof(buffer))
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:
    sys.exit("cannot install the filter: errno %d" % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])
"#;

/// [`Project::command`] for `args`, run through [`REFUSE_CLONE3`].
pub fn without_clone3(project: &Project, args: &[&str]) -> Command {
    let base = project.command(args);
    let mut command = Command::new(python());
    command
        .args(["-c", REFUSE_CLONE3])
        .arg(base.get_program())
        .args(base.get_args())
        .current_dir(base.get_current_dir().expect("the project dir"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command
}
