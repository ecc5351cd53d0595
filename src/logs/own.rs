//! The daemon's own log (`daemon.log`), rotated like a service's log: by size, keeping
//! `keep_files` older ones as `daemon.log.1` (the newest) … `daemon.log.<keep_files>`.
//!
//! It is written differently from a service's log: the daemon's standard output and error point
//! at it and whoever prints writes to it directly (no writer thread, no index: it is read by
//! people). So the rotation is driven by the writing side: before a write that would take the
//! file past its limit, [`OwnLog::rotate_for`] renames the generations and opens a fresh file,
//! which the caller then points its descriptors at. Whole lines are written at once, so the cut
//! falls between lines.
//!
//! The file is opened as a service's log is: never through a symlink, a regular file with one
//! link, mode 0600, in a private directory; only `<name>.<n>` files are ever removed.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use crate::logs::LogError;
use crate::logs::files::{self, LogDir};

/// A log the daemon writes itself. See the module docs.
#[derive(Debug)]
pub struct OwnLog {
    dir: LogDir,
    name: String,
    max_file_bytes: u64,
    keep_files: u32,
}

impl OwnLog {
    /// Opens (creating, mode 0600) the log at `path` for appending; its directory must be a
    /// private directory of ours.
    pub fn open(
        path: &Path,
        max_file_bytes: u64,
        keep_files: u32,
    ) -> Result<(OwnLog, File), LogError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(LogError::NotAFile {
                path: path.to_path_buf(),
            });
        };
        let name = name.to_string_lossy().into_owned();
        let dir = files::open_dir(parent)?;
        let file = files::open_appending(&dir, &name)?;
        let own = OwnLog {
            dir,
            name,
            max_file_bytes,
            keep_files,
        };
        Ok((own, file))
    }

    /// Before `bytes` more are written to `current` (the log as it is open now): when they would
    /// take it past its size limit (and it holds something), rotates it and returns the fresh
    /// file to write to instead. `None` when `current` is not a file (the daemon's output still
    /// goes to the CLI that started it) or has room.
    pub fn rotate_for(&self, current: &impl AsFd, bytes: usize) -> Result<Option<File>, LogError> {
        let Some(size) = files::size_of_regular(current) else {
            return Ok(None);
        };
        if size == 0 || size.saturating_add(bytes as u64) <= self.max_file_bytes {
            return Ok(None);
        }
        files::rotate(&self.dir, &self.name, self.keep_files)?;
        files::open_appending(&self.dir, &self.name).map(Some)
    }
}
