//! What the sentinel above a daemon did after the daemon died: written by the sentinel into the
//! project's private directory, read by the next command that recovers the project (see
//! `launch::state`), so that it can say what happened and whether anything can be left.
//!
//! A small text file, written atomically (a temporary file renamed over it) and 0600:
//! ```text
//! wrangle-sentinel-report 1
//! daemon <pid> <start time>
//! stopped <pid> <command line>
//! ```

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

const HEADER: &str = "wrangle-sentinel-report 1";

/// A report is a few lines per stopped process; anything larger is not one.
const MAX_BYTES: u64 = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The daemon the sentinel watched, by pid and start time (clock ticks since boot).
    pub daemon_pid: i32,
    pub daemon_start_time: u64,
    /// Every process the sentinel had to signal, with its command line.
    pub stopped: Vec<(i32, String)>,
}

impl Report {
    fn to_text(&self) -> String {
        let mut text = format!(
            "{HEADER}\ndaemon {} {}\n",
            self.daemon_pid, self.daemon_start_time
        );
        for (pid, command) in &self.stopped {
            let command: String = command
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            text.push_str(&format!("stopped {pid} {command}\n"));
        }
        text
    }

    fn parse(text: &str) -> Option<Report> {
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let mut daemon = lines.next()?.strip_prefix("daemon ")?.split(' ');
        let daemon_pid = daemon.next()?.parse().ok()?;
        let daemon_start_time = daemon.next()?.parse().ok()?;
        let stopped = lines
            .map(|line| {
                let (pid, command) = line.strip_prefix("stopped ")?.split_once(' ')?;
                Some((pid.parse().ok()?, command.to_string()))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Report {
            daemon_pid,
            daemon_start_time,
            stopped,
        })
    }

    /// Writes the report at `path` atomically and privately (0600), never following a link; a
    /// temporary file is removed again if anything fails.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let temporary = path.with_extension(format!("tmp.{}", std::process::id()));
        let result = (|| {
            let fd = rustix::fs::open(
                &temporary,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            File::from(fd).write_all(self.to_text().as_bytes())?;
            std::fs::rename(&temporary, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        result
    }

    /// Reads the report at `path`: `None` when there is none, or when it is not a regular file of
    /// ours, too large, or not a report.
    pub fn read(path: &Path) -> Option<Report> {
        // Non-blocking, so that a FIFO planted at `path` does not wait for a writer: it is then
        // refused by its type.
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .ok()?;
        let stat = rustix::fs::fstat(fd.as_fd()).ok()?;
        let regular = rustix::fs::FileType::from_raw_mode(stat.st_mode).is_file();
        if !regular || stat.st_uid != rustix::process::geteuid().as_raw() {
            return None;
        }
        let mut text = String::new();
        File::from(fd)
            .take(MAX_BYTES)
            .read_to_string(&mut text)
            .ok()?;
        Report::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_and_garbage_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sentinel.report");
        let report = Report {
            daemon_pid: 41,
            daemon_start_time: 12345,
            stopped: vec![(42, "sleep 611".into()), (43, "sh -c a\nb".into())],
        };
        report.write(&path).expect("write");
        let read = Report::read(&path).expect("read");
        assert_eq!(read.stopped[1], (43, "sh -c a b".to_string()));
        assert_eq!((read.daemon_pid, read.daemon_start_time), (41, 12345));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).expect("metadata").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            1,
            "no temporary file left"
        );
        for garbage in ["", "wrangle-sentinel-report 2\n", "x\ndaemon 1 2\n"] {
            std::fs::write(&path, garbage).expect("write");
            assert_eq!(Report::read(&path), None, "{garbage:?}");
        }
    }

    #[test]
    fn a_link_or_a_fifo_is_never_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real");
        Report {
            daemon_pid: 1,
            daemon_start_time: 1,
            stopped: Vec::new(),
        }
        .write(&real)
        .expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        assert_eq!(Report::read(&link), None);
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        // Opening a FIFO for reading would wait for a writer: it is refused by its type first.
        let reader = std::thread::spawn(move || Report::read(&fifo));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !reader.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(reader.is_finished(), "reading a FIFO hung");
        assert_eq!(reader.join().expect("join"), None);
    }
}
