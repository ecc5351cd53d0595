//! The daemon's output once it has detached from `up -d`: `daemon.log`, rotated as it grows like
//! a service's log (see [`crate::logs::OwnLog`]), with the `[logs]` settings.
//!
//! The daemon's standard output and error point at the file. The reporter prints through
//! [`DaemonLog::writer`], which before each write checks whether the write would take the file
//! past its limit (one `fstat`; the daemon prints a few lines per event, not service output) and
//! if so rotates it and points both descriptors at the fresh file: between two whole lines. Other
//! writes to standard error (rare notices) go to whichever file is current.

use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use crate::logs::OwnLog;

/// The daemon's log, once attached. See the module docs.
#[derive(Clone, Default)]
pub(super) struct DaemonLog(Arc<Mutex<Option<OwnLog>>>);

impl DaemonLog {
    /// A writer for the reporter: standard output, rotating the log before a write that would
    /// not fit (only once [`DaemonLog::attach`] made standard output the log).
    pub(super) fn writer(&self) -> Box<dyn Write + Send> {
        Box::new(Output(self.clone()))
    }

    /// Points standard output and error at the log file at `path` (created 0600, never through a
    /// symlink), rotated past `max_file_bytes` with `keep_files` kept; at `/dev/null` when it
    /// cannot be opened, rather than at a pipe nobody reads.
    pub(super) fn attach(&self, path: &Path, max_file_bytes: u64, keep_files: u32) {
        let _ = io::stdout().flush();
        match OwnLog::open(path, max_file_bytes, keep_files) {
            Ok((own, file)) => {
                point_stdio_at(&file);
                *self.lock() = Some(own);
            }
            Err(_) => {
                if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
                    point_stdio_at(&null);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<OwnLog>> {
        // A poisoned lock only means a panic elsewhere; the log itself is intact.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn point_stdio_at(file: &std::fs::File) {
    let _ = rustix::stdio::dup2_stdout(file);
    let _ = rustix::stdio::dup2_stderr(file);
}

struct Output(DaemonLog);

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut stdout = io::stdout().lock();
        if let Some(own) = self.0.lock().as_ref() {
            // What is buffered belongs to the file as it is now.
            stdout.flush()?;
            // A failed rotation keeps the current file: a longer log rather than lost lines.
            if let Ok(Some(fresh)) = own.rotate_for(&rustix::stdio::stdout(), bytes.len()) {
                point_stdio_at(&fresh);
            }
        }
        stdout.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}
