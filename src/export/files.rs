//! Writing an export's files: into a directory (created when missing) or to one file.
//!
//! **Invariant:** nothing is written through a symbolic link, and no file is replaced unless an
//! export wrote it (it starts with [`MARKER`]) or the user said `--force`. Every check is made on
//! a descriptor of the directory, and each file is written to a new temporary file (`O_EXCL`,
//! `O_NOFOLLOW`, see `sys::file`) that is then renamed over the old one: a rename replaces a symbolic link
//! itself, never what it points to, and a reader sees the old file or the new one, never half.
//! The directory must be ours or root's, and not open to everyone without the sticky bit (where
//! anyone could swap the files between the export and their use). Nothing is ever deleted but a
//! temporary file of our own that could not be renamed; files an earlier export wrote and this
//! one does not are reported, not removed.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{Export, MARKER};
use crate::sys::file::{Durability, FileError, replace_at};

/// The most of an existing file read to compare it with the new content.
const MAX_COMPARED_BYTES: u64 = 4 * 1024 * 1024;

/// What a write did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Files created or replaced.
    pub written: Vec<PathBuf>,
    /// Files that already held exactly the new content (left untouched).
    pub unchanged: Vec<PathBuf>,
    /// Files an earlier export of the same project wrote in the directory that this one does
    /// not write (a service removed since): left in place.
    pub stale: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Files that would have been replaced without the right to: nothing was written.
    #[error("{}", refusals_text(.0))]
    Refused(Vec<Refusal>),
    #[error("{path}: {problem}")]
    Directory { path: PathBuf, problem: String },
    #[error(transparent)]
    Io(#[from] FileError),
}

/// A file the export will not replace, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: PathBuf,
    pub why: String,
}

fn refusals_text(refusals: &[Refusal]) -> String {
    let mut text = String::from("nothing was written:");
    for refusal in refusals {
        text.push_str(&format!("\n  {}: {}", refusal.path.display(), refusal.why));
    }
    text
}

/// Writes every file of `export` into `dir` (created, with its parents, when missing).
pub fn write_into_dir(dir: &Path, export: &Export, force: bool) -> Result<WriteReport, WriteError> {
    if let Err(source) = std::fs::create_dir_all(dir) {
        return Err(FileError::new("create directory", dir, source).into());
    }
    let dir_fd = open_directory(dir)?;
    let mut report = write_files(&dir_fd, dir, export, force)?;
    report.stale = stale_files(&dir_fd, dir, export);
    Ok(report)
}

/// Writes the one file of `export` to `path` (its directory must exist).
pub fn write_to_file(path: &Path, export: &Export, force: bool) -> Result<WriteReport, WriteError> {
    let (Some(name), [file]) = (path.file_name(), export.files.as_slice()) else {
        return Err(WriteError::Directory {
            path: path.to_path_buf(),
            problem: "not a file name".to_string(),
        });
    };
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dir_fd = open_directory(parent)?;
    let named = Export {
        files: vec![super::OutputFile {
            name: name.to_string_lossy().into_owned(),
            text: file.text.clone(),
        }],
        ..export.clone()
    };
    if name.to_str().is_none() {
        return Err(WriteError::Directory {
            path: path.to_path_buf(),
            problem: "the file name is not valid UTF-8".to_string(),
        });
    }
    write_files(&dir_fd, parent, &named, force)
}

/// Opens the directory the files go to and checks it (see the module documentation). The path is
/// the user's: symbolic links on it are followed, except a last one that another user owns.
fn open_directory(dir: &Path) -> Result<OwnedFd, WriteError> {
    let me = rustix::process::geteuid().as_raw();
    let refuse = |problem: String| WriteError::Directory {
        path: dir.to_path_buf(),
        problem,
    };
    match rustix::fs::lstat(dir) {
        Ok(stat)
            if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink
                && stat.st_uid != me
                && stat.st_uid != 0 =>
        {
            return Err(refuse(format!(
                "a symbolic link that belongs to another user (uid {}): not followed",
                stat.st_uid
            )));
        }
        Ok(_) => {}
        Err(errno) => return Err(FileError::new("inspect", dir, errno).into()),
    }
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| match errno {
        Errno::NOTDIR => refuse("not a directory".to_string()),
        errno => FileError::new("open directory", dir, errno).into(),
    })?;
    let stat = rustix::fs::fstat(&fd).map_err(|errno| FileError::new("inspect", dir, errno))?;
    if stat.st_uid != me && stat.st_uid != 0 {
        return Err(refuse(format!(
            "the directory belongs to another user (uid {}), who could replace the files before \
             they are used",
            stat.st_uid
        )));
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(refuse(format!(
            "anyone can write to the directory (mode {mode:o}, no sticky bit) and replace the \
             files before they are used"
        )));
    }
    Ok(fd)
}

/// What is at a file's place now.
enum Existing {
    Nothing,
    /// A regular file of ours written by an export, with its content (when small enough).
    Ours(Option<Vec<u8>>),
    /// Anything else, with why it may not be replaced without `--force`.
    Foreign(String),
    /// A directory: never replaced.
    Directory,
}

fn write_files(
    dir_fd: &OwnedFd,
    dir: &Path,
    export: &Export,
    force: bool,
) -> Result<WriteReport, WriteError> {
    let mut existing = Vec::with_capacity(export.files.len());
    let mut refusals = Vec::new();
    for file in &export.files {
        let path = dir.join(&file.name);
        let found = inspect(dir_fd, &file.name, &path)?;
        match &found {
            Existing::Directory => refusals.push(Refusal {
                path,
                why: "a directory is in the way".to_string(),
            }),
            Existing::Foreign(why) if !force => refusals.push(Refusal {
                path,
                why: format!("{why}; use --force to replace it"),
            }),
            _ => {}
        }
        existing.push(found);
    }
    if !refusals.is_empty() {
        return Err(WriteError::Refused(refusals));
    }
    let mode = match export.copies_env_files {
        true => 0o600,
        false => 0o644,
    };
    let mut report = WriteReport::default();
    for (file, found) in export.files.iter().zip(existing) {
        let path = dir.join(&file.name);
        if let Existing::Ours(Some(content)) = &found
            && content.as_slice() == file.text.as_bytes()
        {
            report.unchanged.push(path);
            continue;
        }
        replace_at(
            dir_fd,
            dir,
            &file.name,
            file.text.as_bytes(),
            mode,
            Durability::Unsynced,
        )?;
        report.written.push(path);
    }
    Ok(report)
}

fn inspect(dir_fd: &OwnedFd, name: &str, path: &Path) -> Result<Existing, WriteError> {
    let stat = match rustix::fs::statat(dir_fd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(Existing::Nothing),
        Err(errno) => return Err(FileError::new("inspect", path, errno).into()),
    };
    let me = rustix::process::geteuid().as_raw();
    Ok(match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => Existing::Directory,
        FileType::Symlink => {
            Existing::Foreign("a symbolic link (not followed: it would be replaced)".to_string())
        }
        FileType::RegularFile if stat.st_uid != me => Existing::Foreign(format!(
            "a file that belongs to another user (uid {})",
            stat.st_uid
        )),
        FileType::RegularFile => match first_bytes(dir_fd, name, path)? {
            (content, complete) if content.starts_with(MARKER.as_bytes()) => {
                Existing::Ours(complete.then_some(content))
            }
            _ => Existing::Foreign("a file that wrangle export did not write".to_string()),
        },
        _ => Existing::Foreign("not a regular file".to_string()),
    })
}

/// Up to [`MAX_COMPARED_BYTES`] of a regular file, without following a link or blocking; and
/// whether that is all of it.
fn first_bytes(dir_fd: &OwnedFd, name: &str, path: &Path) -> Result<(Vec<u8>, bool), WriteError> {
    let fd = rustix::fs::openat(
        dir_fd,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| FileError::new("open", path, errno))?;
    let mut content = Vec::new();
    File::from(fd)
        .take(MAX_COMPARED_BYTES + 1)
        .read_to_end(&mut content)
        .map_err(|source| FileError::new("read", path, source))?;
    let complete = content.len() as u64 <= MAX_COMPARED_BYTES;
    Ok((content, complete))
}

/// Files in the directory whose first line is this export's (same format, same source file)
/// and that this export does not write.
fn stale_files(dir_fd: &OwnedFd, dir: &Path, export: &Export) -> Vec<PathBuf> {
    let Some(first_line) = export
        .files
        .first()
        .and_then(|file| file.text.lines().next())
    else {
        return Vec::new();
    };
    let written: HashSet<&str> = export.files.iter().map(|file| file.name.as_str()).collect();
    let Ok(entries) = rustix::fs::Dir::read_from(dir_fd) else {
        return Vec::new();
    };
    let mut stale = Vec::new();
    for entry in entries.flatten() {
        let bytes = entry.file_name().to_bytes();
        let Ok(name) = std::str::from_utf8(bytes) else {
            continue;
        };
        let extension = Path::new(OsStr::from_bytes(bytes))
            .extension()
            .and_then(OsStr::to_str);
        if written.contains(name)
            || name.starts_with('.')
            || !extension.is_some_and(|extension| export.format.extensions().contains(&extension))
        {
            continue;
        }
        let path = dir.join(name);
        if let Ok(Existing::Ours(_)) = inspect(dir_fd, name, &path)
            && let Ok((content, _)) = first_bytes(dir_fd, name, &path)
            && content
                .split(|byte| *byte == b'\n')
                .next()
                .is_some_and(|line| line == first_line.as_bytes())
        {
            stale.push(path);
        }
    }
    stale.sort();
    stale
}
