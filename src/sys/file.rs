//! Writing files without following a planted symbolic link, and saying which file call failed:
//! the one writer of wrangle's own files (`paths`), an export's files (`export`) and the files a
//! user names (`import -o`, `init`, `man --dir`, `test --junit`), and [`FileError`], the one
//! error of a failed file call.
//!
//! **Invariant:** nothing is written through a symbolic link. A new file is created with
//! `O_CREAT | O_EXCL`, which fails on any existing name, a dangling link included. A file is
//! replaced by writing a new temporary file beside it, created the same way, and renaming it over
//! the old one: `rename` replaces a link itself, never what it points to, and a reader sees the
//! old file or the new one, never half of either. If writing or renaming fails (a full disk), the
//! temporary file is removed again: the only file this module removes is one it has just created,
//! by name, in the directory it holds open.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

/// A file-system call that failed: what was being done, to which path, and why.
///
/// Its message carries the cause (`cannot open /x: Permission denied (os error 13)`), so the
/// cause is not also its `source`: a printer of error chains would say it twice.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {error}", path.display())]
pub struct FileError {
    pub action: &'static str,
    pub path: PathBuf,
    pub error: io::Error,
}

impl FileError {
    pub fn new(action: &'static str, path: &Path, error: impl Into<io::Error>) -> FileError {
        FileError {
            action,
            path: path.to_path_buf(),
            error: error.into(),
        }
    }
}

/// Whether a replaced file must survive a crash of the whole machine once [`replace_at`]
/// returns: `Synced` fsyncs the file before the rename and the directory after it. Either way
/// other processes see the new content at once, also after the writer is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Synced,
    Unsynced,
}

/// How many names a temporary file tries before giving up (each taken name is another
/// writer's, or a leftover of a killed one with our pid).
const TEMPORARY_NAMES: u32 = 100;

/// Replaces `name` in the directory `dir` (at `dir_path`, for messages) with `content`: written
/// to a new temporary file `.<name>.<pid>.<n>.tmp` (`O_EXCL`, `O_NOFOLLOW`, permissions `mode`
/// less the umask), then renamed over `name`.
pub fn replace_at(
    dir: &impl AsFd,
    dir_path: &Path,
    name: &str,
    content: &[u8],
    mode: u32,
    durability: Durability,
) -> Result<(), FileError> {
    let path = dir_path.join(name);
    let pid = rustix::process::getpid().as_raw_pid();
    let mut attempt = 0;
    let (temporary, fd) = loop {
        let temporary = format!(".{name}.{pid}.{attempt}.tmp");
        match rustix::fs::openat(
            dir,
            temporary.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        ) {
            Ok(fd) => break (temporary, fd),
            Err(Errno::EXIST) if attempt + 1 < TEMPORARY_NAMES => attempt += 1,
            Err(errno) => {
                return Err(FileError::new("create a temporary file for", &path, errno));
            }
        }
    };
    let mut file = File::from(fd);
    let written = file
        .write_all(content)
        .and_then(|()| match durability {
            Durability::Synced => file.sync_all(),
            Durability::Unsynced => Ok(()),
        })
        .map_err(|error| FileError::new("write", &path, error));
    drop(file);
    let renamed = written.and_then(|()| {
        rustix::fs::renameat(dir, temporary.as_str(), dir, name)
            .map_err(|errno| FileError::new("replace", &path, errno))
    });
    if let Err(error) = renamed {
        // Ours, just created with O_EXCL: removing it loses nothing. The write's error is the
        // one to report.
        let _ = rustix::fs::unlinkat(dir, temporary.as_str(), AtFlags::empty());
        return Err(error);
    }
    if durability == Durability::Synced {
        // Make the rename itself durable.
        rustix::fs::fsync(dir)
            .map_err(|errno| FileError::new("sync directory", dir_path, errno))?;
    }
    Ok(())
}

/// Creates `path` with `bytes` (synced); fails with `AlreadyExists` when anything has that name.
pub fn create_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Writes `bytes` to `path` (synced), replacing what has that name: a link itself, never its
/// target ([`replace_at`] in the path's directory). A directory is not replaced.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_dir()) {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a directory",
        ));
    }
    let (Some(name), parent) = (
        path.file_name().and_then(|name| name.to_str()),
        path.parent(),
    ) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file name in UTF-8",
        ));
    };
    let parent = match parent {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dir: OwnedFd = rustix::fs::open(
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // The user's own file: the permissions a newly created one gets (0666 less the umask).
    replace_at(&dir, parent, name, bytes, 0o666, Durability::Synced).map_err(|error| error.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_never_goes_through_a_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("victim");
        std::fs::write(&target, "precious").expect("write");
        let link = dir.path().join("wrangle.toml");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let error = create_new(&link, b"x").expect_err("refused");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        let dangling = dir.path().join("dangling.toml");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).expect("symlink");
        assert!(create_new(&dangling, b"x").is_err());
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "precious");
    }

    #[test]
    fn replacing_replaces_the_link_not_its_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("victim");
        std::fs::write(&target, "precious").expect("write");
        let link = dir.path().join("wrangle.toml");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        replace(&link, b"new").expect("replace");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "precious");
        assert!(!std::fs::symlink_metadata(&link).expect("stat").is_symlink());
        assert_eq!(std::fs::read_to_string(&link).expect("read"), "new");
        let entries = std::fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(entries, 2, "no temporary file is left");
        let error = replace(dir.path(), b"x").expect_err("a directory");
        assert_eq!(error.kind(), io::ErrorKind::IsADirectory);
    }

    #[test]
    fn a_failed_replace_leaves_no_temporary_file_and_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fd: OwnedFd = rustix::fs::open(
            dir.path(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open dir");
        // A directory in the way: the rename fails after the temporary file was written.
        std::fs::create_dir(dir.path().join("taken")).expect("mkdir");
        std::fs::write(dir.path().join("taken/inside"), "x").expect("write");
        let error = replace_at(&fd, dir.path(), "taken", b"new", 0o600, Durability::Synced)
            .expect_err("a directory is not replaced");
        assert_eq!(error.action, "replace");
        assert_eq!(error.path, dir.path().join("taken"));
        assert!(
            error.to_string().starts_with(&format!(
                "cannot replace {}: ",
                dir.path().join("taken").display()
            )),
            "{error}"
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["taken".to_string()],
            "no temporary file is left"
        );
        // Mode and content of a file that could be replaced.
        replace_at(
            &fd,
            dir.path(),
            "new",
            b"content",
            0o600,
            Durability::Unsynced,
        )
        .expect("replace");
        use std::os::unix::fs::PermissionsExt;
        let metadata = std::fs::metadata(dir.path().join("new")).expect("stat");
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read(dir.path().join("new")).expect("read"),
            b"content"
        );
    }
}
