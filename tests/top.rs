//! `wrangle top` in a real pseudo-terminal: the binary runs with the pty's slave as its
//! controlling terminal (so it gets SIGWINCH on a resize), the test reads the master into a
//! `vt100` screen and asserts on what a user would see, and types keys into it.
//!
//! Every daemon is stopped by the harness's `DaemonGuard` (`wrangle down`, then proof that
//! nothing is left), and every `top` by its [`Top`] guard, however the test ends.
//! Waits poll the screen until a deadline; nothing sleeps to synchronise.

use std::fs::File;
use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;
use serde_json::Value;

use crate::support::{
    Daemon, DaemonGuard, Project, WAIT, assert_no_survivors, pid, service, status, wait_until,
};

/// A project of three services: one that prints a line every 200 ms, one that burns some CPU
/// and prints, and one that only sleeps.
fn three_services() -> Project {
    Project::new(
        r#"
[services.ticker]
command = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done"]

[services.burner]
command = ["sh", "-c", "while :; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo burnt; sleep 0.1; done"]

[services.idle]
command = ["sleep", "421"]
"#,
    )
}

/// `wrangle top` running in a pseudo-terminal, its output parsed into a screen.
struct Top {
    child: Child,
    master: File,
    screen: Arc<Mutex<vt100::Parser>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Top {
    /// Starts `wrangle top ARGS` in the project, in a `cols` x `rows` terminal.
    fn start(project: &Project, args: &[&str], cols: u16, rows: u16) -> Top {
        Top::start_with(project, args, cols, rows, &[])
    }

    fn start_with(
        project: &Project,
        args: &[&str],
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
    ) -> Top {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)
            .expect("open a pseudo-terminal");
        rustix::pty::grantpt(&master).expect("grantpt");
        rustix::pty::unlockpt(&master).expect("unlockpt");
        set_size(&master, cols, rows);
        let name = rustix::pty::ptsname(&master, Vec::new()).expect("ptsname");
        let slave: OwnedFd = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open the pty's slave");
        let mut all = vec!["top"];
        all.extend_from_slice(args);
        let mut command = project.command(&all);
        command
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(slave.try_clone().expect("dup the slave")))
            .stdout(Stdio::from(slave.try_clone().expect("dup the slave")))
            .stderr(Stdio::from(slave));
        for (key, value) in env {
            command.env(key, value);
        }
        // A session of its own with the pty as its controlling terminal, as a shell gives a
        // program: `/dev/tty` is the pty, and a resize of the pty sends it SIGWINCH.
        #[allow(unsafe_code)]
        // SAFETY: the closure runs between fork and exec; it only makes two system calls
        // (setsid, ioctl), which are async-signal-safe, and allocates nothing.
        unsafe {
            command.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
                Ok(())
            });
        }
        let child = command.spawn().expect("spawn wrangle top");
        // The command holds the slave's copies: drop them, so the master reads end-of-file
        // (EIO) once top has exited.
        drop(command);
        let master = File::from(master);
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            NonZeroU16::new(rows).expect("rows > 0"),
            NonZeroU16::new(cols).expect("cols > 0"),
            0,
        )));
        let mut reading = master.try_clone().expect("dup the master");
        let parser = Arc::clone(&screen);
        let reader = thread::spawn(move || {
            let mut buffer = [0u8; 65536];
            while let Ok(read) = reading.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                lock(&parser).process(&buffer[..read]);
            }
        });
        Top {
            child,
            master,
            screen,
            reader: Some(reader),
        }
    }

    /// Types `keys` into the terminal.
    fn keys(&mut self, keys: &str) {
        self.master
            .write_all(keys.as_bytes())
            .expect("write to the pty");
    }

    /// Resizes the terminal (TIOCSWINSZ on the master: the kernel sends SIGWINCH to top).
    fn resize(&self, cols: u16, rows: u16) {
        lock(&self.screen).set_size(
            NonZeroU16::new(rows).expect("rows > 0"),
            NonZeroU16::new(cols).expect("cols > 0"),
        );
        set_size(&self.master, cols, rows);
    }

    /// The screen's rows, trailing spaces trimmed.
    fn rows(&self) -> Vec<String> {
        let parser = lock(&self.screen);
        let (_, cols) = parser.screen().size();
        parser
            .screen()
            .rows(0, cols.get())
            .map(|row| row.trim_end().to_string())
            .collect()
    }

    /// Waits until the screen satisfies `condition`; returns its rows then. Fails the test with
    /// the screen when it does not in time.
    fn wait_for(&self, what: &str, condition: impl Fn(&[String]) -> bool) -> Vec<String> {
        let mut rows = Vec::new();
        let seen = wait_until(WAIT, || {
            rows = self.rows();
            condition(&rows)
        });
        assert!(seen, "the screen never showed {what}:\n{}", rows.join("\n"));
        rows
    }

    /// Waits (bounded) for top to exit; its exit code, after its last output was parsed.
    fn wait_exit(&mut self) -> i32 {
        let mut status = None;
        let exited = wait_until(WAIT, || {
            status = self.child.try_wait().expect("waitpid wrangle top");
            status.is_some()
        });
        assert!(
            exited,
            "wrangle top did not exit:\n{}",
            self.rows().join("\n")
        );
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let status = status.expect("exited");
        status
            .code()
            .unwrap_or_else(|| panic!("wrangle top died of a signal: {status:?}"))
    }

    /// Whether the terminal is back to normal: main screen, cursor visible.
    fn restored(&self) -> bool {
        let parser = lock(&self.screen);
        !parser.screen().alternate_screen() && !parser.screen().hide_cursor()
    }
}

impl Drop for Top {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lock(parser: &Mutex<vt100::Parser>) -> std::sync::MutexGuard<'_, vt100::Parser> {
    parser.lock().unwrap_or_else(PoisonError::into_inner)
}

fn set_size(master: &impl std::os::fd::AsFd, cols: u16, rows: u16) {
    rustix::termios::tcsetwinsize(
        master,
        Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .expect("TIOCSWINSZ");
}

/// The words of the table row of `name` (`["idle", "running", "1234", ...]`).
fn row_of(rows: &[String], name: &str) -> Option<Vec<String>> {
    rows.iter()
        .map(|row| row.split_whitespace().map(String::from).collect::<Vec<_>>())
        .find(|words| words.first().is_some_and(|first| first == name) && words.len() >= 3)
}

/// Whether the table shows `name` in `state` with `pid`.
fn shows(rows: &[String], name: &str, state: &str, pid: Option<i32>) -> bool {
    let pid = pid.expect("ps --json shows the pid of a running service");
    row_of(rows, name).is_some_and(|words| words[1] == state && words[2] == pid.to_string())
}

#[test]
fn top_shows_the_services_acts_on_keys_resizes_and_restores_the_terminal() {
    let project = three_services();
    let _daemon = Daemon::start(&project, &[]);
    let before = status(&project);
    let mut top = Top::start(&project, &[], 120, 40);

    // The table: every service with its state and the PID `ps` reports, and the columns.
    let rows = top.wait_for("the three services with their PIDs", |rows| {
        ["ticker", "burner", "idle"]
            .iter()
            .all(|name| shows(rows, name, "running", pid(&before, name)))
    });
    assert!(rows[0].starts_with("wrangle top"), "{rows:#?}");
    let header = rows
        .iter()
        .find(|row| row.starts_with("NAME"))
        .expect("a table header");
    for column in [
        "STATE",
        "PID",
        "CPU%",
        "MEM",
        "RESTARTS",
        "UPTIME",
        "CPU HISTORY",
    ] {
        assert!(header.contains(column), "no {column} in {header:?}");
    }
    // The log pane follows the selected (first) service.
    top.wait_for("ticker's log lines", |rows| {
        rows.iter().any(|row| row.contains("logs: ticker"))
            && rows.iter().any(|row| row.starts_with("tick "))
    });
    // Moving the selection follows another service's log.
    top.keys("j");
    top.wait_for("burner's log lines", |rows| {
        rows.iter().any(|row| row.contains("logs: burner")) && rows.iter().any(|row| row == "burnt")
    });

    // `r` on `idle` restarts it: `ps` sees a new instance, and so does the screen.
    top.keys("j");
    top.wait_for("idle's log pane", |rows| {
        rows.iter().any(|row| row.contains("logs: idle"))
    });
    top.keys("r");
    let mut after = Value::Null;
    let restarted = wait_until(WAIT, || {
        after = status(&project);
        service(&after, "idle")["restarts"].as_u64() == Some(1)
            && service(&after, "idle")["state"] == "running"
            && pid(&after, "idle") != pid(&before, "idle")
    });
    assert!(restarted, "idle was not restarted: {after:#}");
    let rows = top.wait_for("idle's new PID and the outcome", |rows| {
        shows(rows, "idle", "running", pid(&after, "idle"))
            && rows
                .iter()
                .any(|row| row.contains("restart idle: accepted"))
    });
    assert_eq!(
        row_of(&rows, "idle").map(|words| words[5].clone()),
        Some("1".to_string()),
        "restarts column: {rows:#?}"
    );
    assert_eq!(service(&after, "ticker")["restarts"], 0, "{after:#}");

    // A smaller terminal: redrawn at its size, without the sparklines.
    top.resize(60, 20);
    let rows = top.wait_for("the table redrawn at 60x20", |rows| {
        rows.len() == 20
            && rows[19].starts_with("↑↓/jk select")
            && rows
                .iter()
                .any(|row| row.starts_with("NAME") && !row.contains("HISTORY"))
            && shows(rows, "idle", "running", pid(&after, "idle"))
    });
    assert!(
        rows.iter().all(|row| row.chars().count() <= 60),
        "{rows:#?}"
    );
    // And back to a large one.
    top.resize(120, 40);
    top.wait_for("the sparklines again at 120x40", |rows| {
        rows.len() == 40
            && rows
                .iter()
                .any(|row| row.starts_with("NAME") && row.contains("MEM HISTORY"))
    });

    // `l` opens idle's log full-screen; Esc goes back to the table.
    top.keys("l");
    top.wait_for("the full-screen log", |rows| {
        rows.iter()
            .any(|row| row.contains("logs: idle (following)"))
            && !rows.iter().any(|row| row.starts_with("NAME"))
    });
    top.keys("\x1b");
    top.wait_for("the table again", |rows| {
        rows.iter().any(|row| row.starts_with("NAME"))
    });

    // `q` quits with 0 and leaves the terminal as it found it.
    top.keys("q");
    assert_eq!(top.wait_exit(), 0, "{:#?}", top.rows());
    assert!(top.restored(), "terminal not restored: {:#?}", top.rows());
    drop(top);
    drop(_daemon);
    assert_no_survivors(&project.mark);
}

#[test]
fn top_shows_real_cpu_and_memory() {
    let project = three_services();
    let _daemon = Daemon::start(&project, &[]);
    let mut top = Top::start(&project, &[], 120, 40);
    // Memory is a size (`1.2MiB`) and CPU a number for every running service, the daemon's own
    // figures are in the header, and the sparklines have samples.
    let rows = top.wait_for("CPU and memory figures", |rows| {
        ["ticker", "burner", "idle"].iter().all(|name| {
            row_of(rows, name).is_some_and(|words| {
                words.len() >= 5
                    && words[3].parse::<f64>().is_ok()
                    && ["KiB", "MiB", "GiB"]
                        .iter()
                        .any(|unit| words[4].ends_with(unit))
            })
        }) && rows[0].contains("mem ")
            && !rows[0].contains("mem –")
    });
    top.wait_for("sparklines", |rows| {
        row_of(rows, "idle").is_some_and(|words| words.len() >= 9)
    });
    top.keys("\x03"); // Ctrl+C quits too.
    assert_eq!(top.wait_exit(), 0, "{rows:#?}");
    assert!(top.restored());
}

#[test]
fn top_says_when_the_daemon_goes_away_and_exits_1() {
    let project = three_services();
    let daemon = Daemon::start(&project, &[]);
    let mut top = Top::start(&project, &[], 100, 30);
    top.wait_for("the table", |rows| {
        row_of(rows, "idle").is_some_and(|words| words[1] == "running")
    });
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_eq!(top.wait_exit(), 1, "{:#?}", top.rows());
    assert!(top.restored(), "terminal not restored: {:#?}", top.rows());
    let config = project.path("wrangle.toml").display().to_string();
    top.wait_for("the reason on the normal screen", |rows| {
        rows.join("\n").contains(&format!(
            "error: the wrangle daemon for {config} is gone: it stopped or was killed"
        ))
    });
    drop(top);
    drop(daemon);
    assert_no_survivors(&project.mark);
}

#[test]
fn top_refuses_without_a_terminal_or_a_daemon() {
    let project = three_services();
    let _guard = DaemonGuard::new(&project);
    // Output into a pipe: exit 2, before even looking for a daemon.
    let piped = project.run(&["top"]);
    assert_eq!(piped.code, 2, "{piped:#?}");
    assert!(
        piped.stderr.contains("error: wrangle top needs a terminal"),
        "{piped:#?}"
    );
    assert_eq!(piped.stdout, "");
    // In a terminal but with no daemon: exit 1 with the message of every verb.
    let mut top = Top::start(&project, &[], 80, 24);
    assert_eq!(top.wait_exit(), 1, "{:#?}", top.rows());
    let config = project.path("wrangle.toml").display().to_string();
    let rows = top.rows();
    assert!(
        rows.join("\n")
            .contains(&format!("error: no wrangle daemon is running for {config}")),
        "{rows:#?}"
    );
    assert!(top.restored(), "{rows:#?}");
}

#[test]
fn top_restores_the_terminal_when_it_panics() {
    let project = three_services();
    let _daemon = Daemon::start(&project, &[]);
    // Debug builds panic on the first key when asked to, to test the panic hook.
    let env = [("WRANGLE_TOP_TEST_PANIC", "1"), ("RUST_BACKTRACE", "0")];
    let mut top = Top::start_with(&project, &[], 100, 30, &env);
    top.wait_for("the table", |rows| {
        rows.iter().any(|row| row.starts_with("NAME"))
    });
    top.keys("x");
    let code = top.wait_exit();
    assert_ne!(code, 0);
    assert!(top.restored(), "terminal not restored: {:#?}", top.rows());
    top.wait_for("the panic message on the normal screen", |rows| {
        rows.join("\n").contains("test panic requested")
    });
}

#[test]
fn top_honours_no_color_and_a_tiny_terminal() {
    let project = three_services();
    let _daemon = Daemon::start(&project, &[]);
    let mut top = Top::start_with(&project, &[], 20, 4, &[("NO_COLOR", "1")]);
    top.wait_for("the too-small notice", |rows| {
        rows[0].starts_with("wrangle top: termina")
    });
    top.resize(100, 30);
    let rows = top.wait_for("the table", |rows| {
        row_of(rows, "idle").is_some_and(|words| words[1] == "running")
    });
    // No cell has a colour (bold, dim and reverse video are allowed).
    {
        let parser = lock(&top.screen);
        let screen = parser.screen();
        for row in 0..30 {
            for col in 0..100 {
                if let Some(cell) = screen.cell(row, col) {
                    assert_eq!(
                        cell.fgcolor(),
                        vt100::Color::Default,
                        "({row},{col}) {rows:#?}"
                    );
                    assert_eq!(
                        cell.bgcolor(),
                        vt100::Color::Default,
                        "({row},{col}) {rows:#?}"
                    );
                }
            }
        }
    }
    top.keys("q");
    assert_eq!(top.wait_exit(), 0);
    assert!(top.restored());
}
