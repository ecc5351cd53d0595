//! Writing a file the user named (`import -o`, `init`, `man --dir`) without following a
//! symbolic link planted where the file goes.
//!
//! A new file is created with `O_CREAT | O_EXCL`, which fails on any existing name, a dangling
//! symbolic link included, so nothing is written through a link. Replacing (`--force`) writes a
//! temporary file next to the target, created the same way, and renames it over the target:
//! `rename` replaces a link itself, never the file it points to, and a reader sees the old file
//! or the new one, never half of either.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Creates `path` with `bytes`; fails with `AlreadyExists` when anything has that name.
pub fn create_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    write_all(&mut file, bytes)
}

/// Writes `bytes` to `path`, replacing what has that name (a link itself, not its target).
/// A directory is not replaced.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_dir()) {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a directory",
        ));
    }
    let temporary = temporary_beside(path);
    let result = create_new(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, path));
    if result.is_err() {
        // Only our own temporary file, just created, is removed.
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn write_all(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

fn temporary_beside(path: &Path) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    path.with_file_name(unique)
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
}
