//! One wrangle per project: an exclusive `flock` on the project's lock file, held for the life
//! of the process.
//!
//! This module owns taking the lock and reporting who holds it. It never deletes the lock file
//! and never breaks a lock: the kernel releases a `flock` when the last fd of its open file
//! description closes, which includes the holder dying in any way, so there are no stale locks
//! to clean up. The pid written into the file is informational only (for messages); the lock
//! itself is the `flock`, never the file's content or existence.
//!
//! # Caveats
//!
//! - The fd is opened `O_CLOEXEC`: a service inheriting it would keep the lock after wrangle
//!   died, and the next wrangle would refuse to start.
//! - `flock` conflicts between open file descriptions, not processes: a second `try_lock` of the
//!   same path from the same process fails too, which is what we want.
//! - The holder writes its pid right after locking; a reader that loses the race sees an empty
//!   file and reports the pid as unknown.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, OFlags};

/// The held lock. Dropping it (or the process exiting) releases it; the file stays.
#[derive(Debug)]
pub struct ProjectLock {
    /// Never read after locking: it is held only so that its fd, and with it the lock, stays
    /// open.
    file: File,
    path: PathBuf,
}

impl ProjectLock {
    /// The open lock file: every duplicate shares the lock, which lasts until the last one is
    /// closed (the sentinel holds one for a daemon's successor; see `sys::sentinel`).
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.file)
    }

    /// Takes over the lock held through `fd` (a duplicate the sentinel kept of a daemon that
    /// died): it must be the open file at `path`, and hold the lock (taking it again through the
    /// same open file succeeds; another holder makes it fail).
    pub fn adopt(fd: std::os::fd::OwnedFd, path: &Path) -> Result<ProjectLock, LockError> {
        let io_error = |source: std::io::Error| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let held = rustix::fs::fstat(&fd).map_err(|errno| io_error(errno.into()))?;
        let named = rustix::fs::lstat(path).map_err(|errno| io_error(errno.into()))?;
        if (held.st_dev, held.st_ino) != (named.st_dev, named.st_ino)
            || !rustix::fs::FileType::from_raw_mode(named.st_mode).is_file()
        {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the descriptor held for it is another file",
            )));
        }
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let mut file = File::from(fd);
                return Err(LockError::Held {
                    pid: read_pid(&mut file),
                });
            }
            Err(errno) => return Err(io_error(errno.into())),
        }
        let mut file = File::from(fd);
        let pid = rustix::process::getpid().as_raw_pid();
        file.set_len(0).map_err(io_error)?;
        file.seek(SeekFrom::Start(0)).map_err(io_error)?;
        file.write_all(format!("{pid}\n").as_bytes())
            .map_err(io_error)?;
        Ok(ProjectLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another open file description holds the lock; `pid` is what the holder wrote, if anything.
    #[error("lock is held by {}", describe_holder(*pid))]
    Held { pid: Option<i32> },
    #[error("cannot lock {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Takes the exclusive lock on `path` without waiting, creating the file (0600) if needed.
///
/// On success the file holds `<our pid>\n`. Refuses to follow a symlink at `path` (`ELOOP`), so
/// a planted link cannot make us create or truncate another file.
pub fn try_lock(path: &Path) -> Result<ProjectLock, LockError> {
    let io_error = |source: std::io::Error| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|errno| io_error(errno.into()))?;
    let mut file = File::from(fd);

    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            return Err(LockError::Held {
                pid: read_pid(&mut file),
            });
        }
        Err(errno) => return Err(io_error(errno.into())),
    }

    // Record who holds it, for the message another instance will print.
    let pid = rustix::process::getpid().as_raw_pid();
    file.set_len(0).map_err(io_error)?;
    file.seek(SeekFrom::Start(0)).map_err(io_error)?;
    file.write_all(format!("{pid}\n").as_bytes())
        .map_err(io_error)?;
    // No fsync: the pid is informational, and the lock itself lives in the kernel, not on disk.
    Ok(ProjectLock {
        file,
        path: path.to_path_buf(),
    })
}

/// Who holds the lock right now, without taking it for more than an instant and without writing
/// anything: `None` when nobody does, `Some(pid)` (the pid the holder wrote, if readable) when
/// somebody does. A missing lock file means nobody ever ran the project: `None`.
pub fn holder(path: &Path) -> Result<Option<Option<i32>>, LockError> {
    let io_error = |source: std::io::Error| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    let fd = match rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(errno) => return Err(io_error(errno.into())),
    };
    let mut file = File::from(fd);
    // A shared lock conflicts with the holder's exclusive one and never with another prober;
    // it is released when `file` closes at the end of this function.
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(None),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(Some(read_pid(&mut file))),
        Err(errno) => Err(io_error(errno.into())),
    }
}

fn describe_holder(pid: Option<i32>) -> String {
    match pid {
        Some(pid) => format!("PID {pid}"),
        None => "another process".to_string(),
    }
}

/// The pid the holder wrote, or `None` for an empty, partial or unreadable file.
fn read_pid(file: &mut File) -> Option<i32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(64).read_to_string(&mut text).ok()?;
    parse_pid(&text)
}

/// Accepts only a complete line: a holder caught mid-write has not written the newline yet.
fn parse_pid(text: &str) -> Option<i32> {
    let line = text.strip_suffix('\n')?;
    line.trim().parse().ok().filter(|&pid: &i32| pid > 0)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::test_support::ChildGuard;

    #[test]
    fn holder_reports_the_lock_without_taking_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lock");
        assert_eq!(holder(&path).expect("probe"), None, "no file: nobody");
        let lock = try_lock(&path).expect("lock");
        let own = rustix::process::getpid().as_raw_pid();
        assert_eq!(holder(&path).expect("probe"), Some(Some(own)));
        drop(lock);
        assert_eq!(holder(&path).expect("probe"), None);
        // Probing left the lock free for the next instance.
        drop(try_lock(&path).expect("lock again"));
    }

    #[test]
    fn parse_pid_needs_a_complete_positive_number() {
        assert_eq!(parse_pid("1234\n"), Some(1234));
        assert_eq!(parse_pid("1234"), None);
        assert_eq!(parse_pid(""), None);
        assert_eq!(parse_pid("0\n"), None);
        assert_eq!(parse_pid("-5\n"), None);
        assert_eq!(parse_pid("junk\n"), None);
    }

    #[test]
    fn lock_writes_our_pid_and_conflicts_within_the_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lock");
        let lock = try_lock(&path).expect("first lock");
        let pid = rustix::process::getpid().as_raw_pid();
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            format!("{pid}\n")
        );
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        // A second open file description conflicts even in the same process.
        match try_lock(&path) {
            Err(LockError::Held { pid: held_by }) => assert_eq!(held_by, Some(pid)),
            other => panic!("expected Held, got {other:?}"),
        }

        drop(lock);
        let again = try_lock(&path).expect("lock again after release");
        assert_eq!(again.path(), path);
        assert!(path.exists(), "the lock file is never deleted");
    }

    #[test]
    fn lock_refuses_a_symlink() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, "precious").expect("write");
        let link = dir.path().join("lock");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(matches!(try_lock(&link), Err(LockError::Io { .. })));
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "precious");
    }

    #[test]
    fn lock_held_by_a_child_names_it_and_is_released_when_it_dies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lock");
        // Same protocol as try_lock: flock, then write "<pid>\n"; say "locked" when done.
        let script = "import fcntl, os, sys, time\n\
                      f = open(sys.argv[1], 'a+')\n\
                      fcntl.flock(f, fcntl.LOCK_EX)\n\
                      f.truncate(0)\n\
                      f.write('%d\\n' % os.getpid())\n\
                      f.flush()\n\
                      print('locked', flush=True)\n\
                      time.sleep(30)\n";
        let mut child = ChildGuard(
            Command::new("python3")
                .args(["-c", script])
                .arg(&path)
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn python3"),
        );
        let mut line = String::new();
        BufReader::new(child.0.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line, "locked\n");

        match try_lock(&path) {
            Err(LockError::Held { pid }) => assert_eq!(pid, Some(child.0.id() as i32)),
            other => panic!("expected Held, got {other:?}"),
        }

        // kill + wait: once the child is reaped its fds are closed and the flock is gone.
        drop(child);
        let lock = try_lock(&path).expect("lock after the holder died");
        drop(lock);
    }

    #[test]
    fn lock_fd_is_not_inherited_by_children() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lock");
        let lock = try_lock(&path).expect("lock");
        let output = Command::new("sh")
            .args(["-c", "ls -l /proc/self/fd"])
            .output()
            .expect("run sh");
        let listing = String::from_utf8_lossy(&output.stdout);
        assert!(
            !listing.contains(path.to_str().expect("utf-8 path")),
            "{listing}"
        );
        drop(lock);
    }
}
