//! The log directory and the files in it: creating and vetting the directory, opening a log
//! file, renaming files for rotation, measuring the directory, and removing rotated files.
//!
//! Everything after the directory itself goes through one directory fd and names relative to
//! it, so a directory swapped for a symlink after the check is never written through. The
//! directory must be ours (owner = our effective uid) and not writable by group or others. A
//! log file is opened with `O_NOFOLLOW` and must then be a regular file with a single link: a
//! symlink, FIFO, directory or hard link planted where a log goes is refused, never written
//! through. The only files ever removed are rotated files of known services,
//! `<service>.log.<n>`; `<service>.log` itself and anything else in the directory is left alone.
//!
//! This module does not decide when to rotate or what to delete; the writer does.

use std::ffi::CStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::logs::LogError;

/// A file's identity, to notice that a name now refers to something else (deleted, replaced,
/// moved away by an external logrotate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

/// The log directory, opened and vetted.
#[derive(Debug)]
pub(crate) struct LogDir {
    pub(crate) path: PathBuf,
    pub(crate) fd: OwnedFd,
    pub(crate) id: FileId,
}

/// A log file opened for appending.
#[derive(Debug)]
pub(crate) struct LogFile {
    pub(crate) file: File,
    pub(crate) id: FileId,
    /// Its size after opening (including a newline added to end a torn last line).
    pub(crate) size: u64,
}

/// A rotated file found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RotatedFile {
    pub(crate) name: String,
    pub(crate) size: u64,
    /// Modification time in nanoseconds since the epoch.
    pub(crate) modified: i128,
    /// The `n` of `<service>.log.<n>`: higher is older, which breaks ties between equal times.
    pub(crate) generation: u32,
}

/// What [`scan`] found.
#[derive(Debug, Default)]
pub(crate) struct DirScan {
    /// Bytes in regular files in the directory, after removals.
    pub(crate) total: u64,
    pub(crate) rotated: Vec<RotatedFile>,
    /// Rotated files beyond `keep` (left over from a larger `keep_files`) that were removed.
    pub(crate) removed: u64,
}

/// Creates the directory (mode 0700, its parent must exist) unless it exists, then opens and
/// vets it.
pub(crate) fn open_dir(path: &Path) -> Result<LogDir, LogError> {
    let fd = crate::paths::private_dir(path).map_err(LogError::Dir)?;
    let stat = rustix::fs::fstat(&fd).map_err(|errno| io_error("inspect", path, errno))?;
    Ok(LogDir {
        path: path.to_path_buf(),
        fd,
        id: FileId {
            dev: stat.st_dev,
            ino: stat.st_ino,
        },
    })
}

/// What `path` is now, without following a symlink; `None` if it cannot be inspected.
pub(crate) fn path_identity(path: &Path) -> Option<FileId> {
    let stat = rustix::fs::lstat(path).ok()?;
    Some(FileId {
        dev: stat.st_dev,
        ino: stat.st_ino,
    })
}

/// What `name` in `dir` is now, without following a symlink; `None` if absent.
pub(crate) fn name_identity(dir: &LogDir, name: &str) -> Option<FileId> {
    let stat = rustix::fs::statat(&dir.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    Some(FileId {
        dev: stat.st_dev,
        ino: stat.st_ino,
    })
}

/// Opens (creating, mode 0600) `name` in `dir` for appending; refuses anything but a regular
/// file with one link. If the file ends in the middle of a line (a crash, or a failed write),
/// a newline is added first so that the next record starts on a line of its own.
pub(crate) fn open_log(dir: &LogDir, name: &str) -> Result<LogFile, LogError> {
    let path = dir.path.join(name);
    // O_NONBLOCK: opening a planted FIFO for writing would otherwise wait for a reader forever.
    // It has no effect on a regular file.
    let flags = OFlags::RDWR
        | OFlags::CREATE
        | OFlags::APPEND
        | OFlags::NOFOLLOW
        | OFlags::NONBLOCK
        | OFlags::NOCTTY
        | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(&dir.fd, name, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => return Err(LogError::Symlink { path }),
        Err(errno) => return Err(io_error("open", &path, errno)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|errno| io_error("inspect", &path, errno))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(LogError::NotAFile { path });
    }
    // A second link means someone else holds a name for this inode, possibly outside the
    // directory: writing would grow a file we do not own.
    if stat.st_nlink != 1 {
        return Err(LogError::HardLinked { path });
    }
    let mut file = File::from(fd);
    let mut size = u64::try_from(stat.st_size).unwrap_or(0);
    if size > 0 {
        let mut last = [0u8; 1];
        let torn = matches!(file.read_at(&mut last, size - 1), Ok(1) if last[0] != b'\n');
        if torn {
            file.write_all(b"\n").map_err(|source| LogError::Io {
                action: "write",
                path: path.clone(),
                source,
            })?;
            size += 1;
        }
    }
    Ok(LogFile {
        file,
        id: FileId {
            dev: stat.st_dev,
            ino: stat.st_ino,
        },
        size,
    })
}

/// `name.1` … `name.<keep>` shift up by one (the one at `keep` is replaced, which deletes it),
/// then `name` becomes `name.1`. With `keep == 0`, `name` is removed. The caller has closed
/// `name` and opens a fresh one afterwards.
///
/// Only the run of existing files from `name.1` up is shifted: after the budget removed some
/// older ones there is a gap, and files beyond the gap are older than anything shifted, so the
/// order by age still holds. This also keeps a huge `keep` from costing a rename per number.
pub(crate) fn rotate(dir: &LogDir, name: &str, keep: u32) -> Result<(), LogError> {
    if keep == 0 {
        return remove(dir, name);
    }
    let mut existing = 0;
    while existing < keep && name_identity(dir, &rotated_name(name, existing + 1)).is_some() {
        existing += 1;
    }
    for generation in (1..=existing).rev() {
        let from = rotated_name(name, generation);
        match generation == keep {
            true => remove(dir, &from)?,
            false => rename(dir, &from, &rotated_name(name, generation + 1))?,
        }
    }
    rename(dir, name, &rotated_name(name, 1))
}

/// Measures the directory: the bytes in its regular files and the rotated files of `services`
/// (file names `<service>.log`). Rotated files numbered above `keep` are removed on the way.
pub(crate) fn scan(dir: &LogDir, services: &[String], keep: u32) -> Result<DirScan, LogError> {
    let entries =
        rustix::fs::Dir::read_from(&dir.fd).map_err(|errno| io_error("list", &dir.path, errno))?;
    let mut scan = DirScan::default();
    for entry in entries {
        let entry = entry.map_err(|errno| io_error("list", &dir.path, errno))?;
        let file_name: &CStr = entry.file_name();
        let Ok(stat) = rustix::fs::statat(&dir.fd, file_name, AtFlags::SYMLINK_NOFOLLOW) else {
            // Gone since it was listed.
            continue;
        };
        let is_file = FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile;
        let size = if is_file {
            u64::try_from(stat.st_size).unwrap_or(0)
        } else {
            0
        };
        let rotated = file_name
            .to_str()
            .ok()
            .and_then(|name| parse_rotated(name, services).map(|generation| (name, generation)));
        match rotated {
            Some((name, generation)) if generation > keep => {
                remove(dir, name)?;
                scan.removed += 1;
            }
            Some((name, generation)) => {
                scan.total += size;
                scan.rotated.push(RotatedFile {
                    name: name.to_string(),
                    size,
                    modified: i128::from(stat.st_mtime) * 1_000_000_000
                        + i128::from(stat.st_mtime_nsec),
                    generation,
                });
            }
            None => scan.total += size,
        }
    }
    Ok(scan)
}

/// Which rotated files to remove, oldest first, to bring `total` down to `budget`: by
/// modification time across services, the higher generation first on equal times.
pub(crate) fn over_budget(rotated: &[RotatedFile], total: u64, budget: u64) -> Vec<&RotatedFile> {
    let mut by_age: Vec<&RotatedFile> = rotated.iter().collect();
    by_age.sort_by_key(|file| (file.modified, std::cmp::Reverse(file.generation)));
    let mut remaining = total;
    by_age
        .into_iter()
        .take_while(|file| {
            let needed = remaining > budget;
            remaining = remaining.saturating_sub(file.size);
            needed
        })
        .collect()
}

/// Removes `name` from `dir` (a missing file is fine). Never follows a symlink: `unlinkat`
/// removes the link itself.
pub(crate) fn remove(dir: &LogDir, name: &str) -> Result<(), LogError> {
    match rustix::fs::unlinkat(&dir.fd, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(errno) => Err(io_error("remove", &dir.path.join(name), errno)),
    }
}

/// `<name>.<generation>`.
pub(crate) fn rotated_name(name: &str, generation: u32) -> String {
    format!("{name}.{generation}")
}

fn rename(dir: &LogDir, from: &str, to: &str) -> Result<(), LogError> {
    match rustix::fs::renameat(&dir.fd, from, &dir.fd, to) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(errno) => Err(io_error("rename", &dir.path.join(from), errno)),
    }
}

/// The generation `n` if `file_name` is `<service>.log.<n>` for one of `services` (given as
/// `<service>.log`), with `n` a canonical positive number (no sign, no leading zero).
fn parse_rotated(file_name: &str, services: &[String]) -> Option<u32> {
    let (base, digits) = file_name.rsplit_once('.')?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let generation: u32 = digits.parse().ok()?;
    services
        .iter()
        .any(|service| service == base)
        .then_some(generation)
}

fn io_error(action: &'static str, path: &Path, errno: Errno) -> LogError {
    LogError::Io {
        action,
        path: path.to_path_buf(),
        source: errno.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotated(name: &str, size: u64, modified: i128, generation: u32) -> RotatedFile {
        RotatedFile {
            name: name.to_string(),
            size,
            modified,
            generation,
        }
    }

    #[test]
    fn rotated_names_are_recognised_strictly() {
        let services = ["web.log".to_string(), "a.log.1.log".to_string()];
        assert_eq!(parse_rotated("web.log.3", &services), Some(3));
        assert_eq!(parse_rotated("a.log.1.log.2", &services), Some(2));
        for not_ours in [
            "web.log",
            "web.log.",
            "web.log.03",
            "web.log.-1",
            "web.log.1x",
            "api.log.1",
            "web.log.99999999999",
            "project",
        ] {
            assert_eq!(parse_rotated(not_ours, &services), None, "{not_ours}");
        }
    }

    #[test]
    fn budget_removes_oldest_first_until_under() {
        let files = [
            rotated("a.log.1", 100, 30, 1),
            rotated("a.log.2", 100, 10, 2),
            rotated("b.log.1", 100, 20, 1),
            rotated("b.log.2", 100, 20, 2),
        ];
        let names = |chosen: Vec<&RotatedFile>| -> Vec<String> {
            chosen.iter().map(|file| file.name.clone()).collect()
        };
        assert_eq!(names(over_budget(&files, 1000, 1000)), Vec::<String>::new());
        assert_eq!(names(over_budget(&files, 1050, 1000)), ["a.log.2"]);
        assert_eq!(
            names(over_budget(&files, 1150, 1000)),
            ["a.log.2", "b.log.2"]
        );
        // Not enough to delete: everything rotated goes, and the caller reports the rest.
        assert_eq!(names(over_budget(&files, 5000, 1000)).len(), 4);
    }
}
