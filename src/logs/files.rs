//! The log directory and the files in it: creating and vetting the directory, opening a log
//! file, renaming files for rotation, measuring the directory, and removing rotated files.
//!
//! Everything after the directory itself goes through one directory fd and names relative to
//! it, so a directory swapped for a symlink after the check is never written through. The
//! directory must be ours (owner = our effective uid) and not writable by group or others. A
//! log file is opened with `O_NOFOLLOW` and must then be a regular file with a single link: a
//! symlink, FIFO, directory or hard link planted where a log goes is refused, never written
//! through. Each log file has its index beside it, `<log file>.idx` (see [`crate::logs::format`]),
//! opened with the same care; a file and its index are rotated and removed together. The only
//! files ever removed are rotated files of known services, `<service>.log.<n>` and
//! `<service>.log.<n>.idx`; `<service>.log`, its index and anything else in the directory are
//! left alone.
//!
//! This module does not decide when to rotate or what to delete; the writer does.

use std::ffi::CStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::logs::LogError;
use crate::logs::format;
use crate::sys::file::FileError;

/// A file's identity, to notice that a name now refers to something else (deleted, replaced,
/// moved away by an external logrotate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of an open file; `None` if it cannot be inspected.
    pub(crate) fn of(file: &impl std::os::fd::AsFd) -> Option<FileId> {
        let stat = rustix::fs::fstat(file).ok()?;
        Some(FileId {
            dev: stat.st_dev,
            ino: stat.st_ino,
        })
    }
}

/// The log directory, opened and vetted.
#[derive(Debug)]
pub(crate) struct LogDir {
    pub(crate) path: PathBuf,
    pub(crate) fd: OwnedFd,
    pub(crate) id: FileId,
}

/// A log file opened for appending: its position is at its end. (Not in `O_APPEND` mode:
/// `splice(2)` refuses such a file; the writer is its only writer and keeps its position at
/// the end, and notices a file truncated under it.)
#[derive(Debug)]
pub(crate) struct LogFile {
    pub(crate) file: File,
    pub(crate) id: FileId,
    /// Its size when opened.
    pub(crate) size: u64,
}

/// A log file's index opened for appending records.
#[derive(Debug)]
pub(crate) struct IndexFile {
    pub(crate) file: File,
    pub(crate) id: FileId,
}

/// A rotated file found by [`scan`], with its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RotatedFile {
    /// The log file's name (`<service>.log.<n>`); its index is [`index_name`] of it.
    pub(crate) name: String,
    /// The bytes of the file and its index.
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
    /// One entry per rotated generation of a service: its file and index together.
    pub(crate) rotated: Vec<RotatedFile>,
    /// Rotated files beyond `keep` (left over from a larger `keep_files`) that were removed.
    pub(crate) removed: u64,
}

/// Creates the directory (mode 0700, its parent must exist) unless it exists, then opens and
/// vets it.
pub(crate) fn open_dir(path: &Path) -> Result<LogDir, LogError> {
    let fd = crate::paths::private_dir(path).map_err(LogError::Dir)?;
    let stat = rustix::fs::fstat(&fd).map_err(|errno| FileError::new("inspect", path, errno))?;
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
/// file with one link. The file is taken as it is: it holds a service's output as written, so
/// it may well end in the middle of a line.
pub(crate) fn open_log(dir: &LogDir, name: &str) -> Result<LogFile, LogError> {
    let (file, id, size) = open_vetted(dir, name, OFlags::empty())?;
    rustix::fs::seek(&file, rustix::fs::SeekFrom::End(0))
        .map_err(|errno| FileError::new("seek in", &dir.path.join(name), errno))?;
    Ok(LogFile { file, id, size })
}

/// Opens (creating, mode 0600) the index `name` of a log file that holds `log_size` bytes, with
/// the care of [`open_log`], and makes it fit for appending records: a new or foreign file gets
/// the header, a torn last record (a crash, a failed write) is cut off, and an index whose last
/// record points past the end of its log, or whose log is empty (the log was replaced or
/// truncated), starts afresh.
pub(crate) fn open_index(dir: &LogDir, name: &str, log_size: u64) -> Result<IndexFile, LogError> {
    let path = dir.path.join(name);
    let (mut file, id, size) = open_vetted(dir, name, OFlags::APPEND)?;
    let write_error = |source| LogError::from(FileError::new("write", &path, source));
    // An index of an empty log describes a file that is gone (or never had a line).
    let keep = match log_size {
        0 => 0,
        _ => format::index_keep(&file, size, log_size).map_err(write_error)?,
    };
    if keep < size {
        file.set_len(keep).map_err(write_error)?;
    }
    if keep == 0 {
        file.write_all(&format::INDEX_MAGIC).map_err(write_error)?;
    }
    Ok(IndexFile { file, id })
}

/// The size of `name` in `dir` if it is a regular file (not following a symlink); `None` for
/// anything else or if it is absent.
pub(crate) fn regular_size(dir: &LogDir, name: &str) -> Option<u64> {
    let stat = rustix::fs::statat(&dir.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    (FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile)
        .then(|| u64::try_from(stat.st_size).ok())
        .flatten()
}

/// The size of an open file now; `None` if it cannot be inspected.
pub(crate) fn size_of(file: &File) -> Option<u64> {
    let stat = rustix::fs::fstat(file).ok()?;
    u64::try_from(stat.st_size).ok()
}

/// The size of `fd` now if it is a regular file; `None` for anything else (a pipe, a terminal)
/// or if it cannot be inspected.
pub(crate) fn size_of_regular(fd: &impl AsFd) -> Option<u64> {
    let stat = rustix::fs::fstat(fd).ok()?;
    (FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile)
        .then(|| u64::try_from(stat.st_size).ok())
        .flatten()
}

/// Opens (creating, mode 0600) `name` in `dir` in append mode, with the care of [`open_log`]:
/// for a log written by several descriptors at once (the daemon's own).
pub(crate) fn open_appending(dir: &LogDir, name: &str) -> Result<File, LogError> {
    open_vetted(dir, name, OFlags::APPEND).map(|(file, _, _)| file)
}

/// The log file's index: `<name>.idx`.
pub(crate) fn index_name(name: &str) -> String {
    format!("{name}.idx")
}

/// Opens (creating, mode 0600) `name` in `dir` read-write with `mode` (`APPEND` or not): a
/// regular file with one link, never through a symlink.
fn open_vetted(dir: &LogDir, name: &str, mode: OFlags) -> Result<(File, FileId, u64), LogError> {
    let path = dir.path.join(name);
    // O_NONBLOCK: opening a planted FIFO for writing would otherwise wait for a reader forever.
    // It has no effect on a regular file.
    let flags = mode
        | OFlags::RDWR
        | OFlags::CREATE
        | OFlags::NOFOLLOW
        | OFlags::NONBLOCK
        | OFlags::NOCTTY
        | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(&dir.fd, name, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => return Err(LogError::Symlink { path }),
        Err(errno) => return Err(FileError::new("open", &path, errno).into()),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|errno| FileError::new("inspect", &path, errno))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(LogError::NotAFile { path });
    }
    // A second link means someone else holds a name for this inode, possibly outside the
    // directory: writing would grow a file we do not own.
    if stat.st_nlink != 1 {
        return Err(LogError::HardLinked { path });
    }
    let id = FileId {
        dev: stat.st_dev,
        ino: stat.st_ino,
    };
    Ok((File::from(fd), id, u64::try_from(stat.st_size).unwrap_or(0)))
}

/// `name.1` … `name.<keep>` shift up by one (the one at `keep` is replaced, which deletes it),
/// then `name` becomes `name.1`, each with its index. With `keep == 0`, `name` and its index
/// are removed. The caller has closed `name` and opens a fresh one afterwards.
///
/// Only the run of existing files from `name.1` up is shifted: after the budget removed some
/// older ones there is a gap, and files beyond the gap are older than anything shifted, so the
/// order by age still holds. This also keeps a huge `keep` from costing a rename per number.
/// Returns how long that run was: `name.1` … `name.<run>` became `name.2` … (the one at `keep`
/// removed).
pub(crate) fn rotate(dir: &LogDir, name: &str, keep: u32) -> Result<u32, LogError> {
    if keep == 0 {
        remove(dir, &index_name(name))?;
        remove(dir, name)?;
        return Ok(0);
    }
    let exists = |generation| {
        let rotated = rotated_name(name, generation);
        name_identity(dir, &rotated).is_some()
            || name_identity(dir, &index_name(&rotated)).is_some()
    };
    let mut existing = 0;
    while existing < keep && exists(existing + 1) {
        existing += 1;
    }
    for generation in (1..=existing).rev() {
        let from = rotated_name(name, generation);
        match generation == keep {
            true => remove_with_index(dir, &from)?,
            false => {
                let to = rotated_name(name, generation + 1);
                rename(dir, &index_name(&from), &index_name(&to))?;
                rename(dir, &from, &to)?;
            }
        }
    }
    let to = rotated_name(name, 1);
    rename(dir, &index_name(name), &index_name(&to))?;
    rename(dir, name, &to)?;
    Ok(existing)
}

/// Removes the rotated file `name` and its index.
pub(crate) fn remove_with_index(dir: &LogDir, name: &str) -> Result<(), LogError> {
    remove(dir, &index_name(name))?;
    remove(dir, name)
}

/// Measures the directory: the bytes in its regular files and the rotated files of `services`
/// (file names `<service>.log`) with their indexes. Rotated files numbered above `keep` are
/// removed on the way, with their indexes.
pub(crate) fn scan(dir: &LogDir, services: &[String], keep: u32) -> Result<DirScan, LogError> {
    let entries = rustix::fs::Dir::read_from(&dir.fd)
        .map_err(|errno| FileError::new("list", &dir.path, errno))?;
    let mut scan = DirScan::default();
    // Where each rotated file is in `scan.rotated`, to add its index to it.
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for entry in entries {
        let entry = entry.map_err(|errno| FileError::new("list", &dir.path, errno))?;
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
        // The log file a rotated index belongs to, or the rotated log file itself.
        let rotated = file_name.to_str().ok().and_then(|name| {
            let log = name.strip_suffix(".idx").unwrap_or(name);
            parse_rotated(log, services).map(|generation| (log, generation))
        });
        match rotated {
            Some((log, generation)) if generation > keep => {
                remove_with_index(dir, log)?;
                scan.removed += u64::from(file_name.to_bytes().len() == log.len());
            }
            Some((log, generation)) => {
                scan.total += size;
                let modified =
                    i128::from(stat.st_mtime) * 1_000_000_000 + i128::from(stat.st_mtime_nsec);
                let is_log = file_name.to_bytes().len() == log.len();
                match seen.get(log) {
                    Some(&at) => {
                        let file: &mut RotatedFile = &mut scan.rotated[at];
                        file.size += size;
                        if is_log {
                            file.modified = modified;
                        }
                    }
                    None => {
                        seen.insert(log.to_string(), scan.rotated.len());
                        scan.rotated.push(RotatedFile {
                            name: log.to_string(),
                            size,
                            modified,
                            generation,
                        });
                    }
                }
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
        Err(errno) => Err(FileError::new("remove", &dir.path.join(name), errno).into()),
    }
}

/// `<name>.<generation>`.
pub(crate) fn rotated_name(name: &str, generation: u32) -> String {
    format!("{name}.{generation}")
}

fn rename(dir: &LogDir, from: &str, to: &str) -> Result<(), LogError> {
    match rustix::fs::renameat(&dir.fd, from, &dir.fd, to) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(errno) => Err(FileError::new("rename", &dir.path.join(from), errno).into()),
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
