//! Deleting a path under a directory without ever following a symlink: what `clean` does.
//!
//! [`remove_below`] takes a directory (the project root) and a path relative to it, already
//! checked by the config to have no `..`, and removes what that path names. Every step is an
//! `openat`/`fstatat`/`unlinkat` relative to a descriptor of the directory above it, opened with
//! `O_NOFOLLOW | O_DIRECTORY`: no path is ever resolved twice, so a directory swapped for a
//! symlink between two steps makes the next step fail (`ELOOP`/`ENOTDIR`), never lead elsewhere.
//!
//! - A symlink on the way to the path (any component but the last) is refused: the path would
//!   resolve somewhere else, possibly outside the directory.
//! - A symlink that the path names (its last component), or one found inside a directory being
//!   removed, is removed as a link: what it points to is never touched.
//! - A directory on another file system (a mount point) inside what is removed is refused and
//!   left as it is: unmounting is not ours to decide, and deleting through it would reach
//!   outside the tree the path names.
//! - Unlinking a name never affects other names of the same file (hard links), so who owns the
//!   files inside does not matter: nothing here opens one or follows one.
//!
//! Nesting is bounded ([`MAX_DEPTH`]): each level holds one descriptor.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

/// The deepest directory nesting removed; deeper is refused (each level holds a descriptor).
pub const MAX_DEPTH: usize = 256;

/// What one removal did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Whether the path existed (a missing path is not an error: it is clean already).
    pub existed: bool,
    /// Entries removed (files, links, directories; the path itself included).
    pub entries: u64,
    /// Disk space the removed entries held (allocated blocks), in bytes. A file with another
    /// hard link frees nothing, but is counted: the kernel does not say which unlink freed it.
    pub bytes: u64,
}

/// Why a path was not (entirely) removed. What could be removed before the problem was found
/// is gone; `removed` says how much.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    /// A component on the way to the path is a symlink: it would lead somewhere else.
    #[error("{} is a symlink: clean never follows one (it could lead outside the project)", .at.display())]
    SymlinkOnTheWay { at: PathBuf, removed: Removed },
    /// A directory inside the path is a mount point.
    #[error("{} is on another file system (a mount point): left as it is", .at.display())]
    OtherFileSystem { at: PathBuf, removed: Removed },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("{} is nested more than {MAX_DEPTH} directories deep", .at.display())]
    TooDeep { at: PathBuf, removed: Removed },
    /// The path is not a relative path of normal components (the config guarantees this; the
    /// check is here too because deleting is not undone).
    #[error("{} is not a plain relative path", .0.display())]
    NotRelative(PathBuf),
    /// A call failed.
    #[error("cannot {action} {}", .at.display())]
    Io {
        action: &'static str,
        at: PathBuf,
        removed: Removed,
        #[source]
        source: std::io::Error,
    },
}

impl CleanError {
    /// How much was removed before the problem stopped the removal.
    pub fn removed(&self) -> Removed {
        match self {
            CleanError::SymlinkOnTheWay { removed, .. }
            | CleanError::OtherFileSystem { removed, .. }
            | CleanError::TooDeep { removed, .. }
            | CleanError::Io { removed, .. } => *removed,
            CleanError::NotRelative(_) => Removed::default(),
        }
    }
}

/// Removes `relative` (no `..`, `.`, root or prefix components; at least one component) below
/// the directory `root`, which is opened as given (the caller passes a canonical path).
pub fn remove_below(root: &Path, relative: &Path) -> Result<Removed, CleanError> {
    let mut names = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(name) => names.push(name.to_os_string()),
            _ => return Err(CleanError::NotRelative(relative.to_path_buf())),
        }
    }
    let Some((last, parents)) = names.split_last() else {
        return Err(CleanError::NotRelative(relative.to_path_buf()));
    };
    let mut removal = Removal {
        removed: Removed::default(),
    };
    let mut dir = rustix::fs::open(root, directory_flags(), Mode::empty())
        .map_err(|errno| removal.io("open", root.to_path_buf(), errno))?;
    let mut at = root.to_path_buf();
    for name in parents {
        at.push(name);
        dir = match rustix::fs::openat(&dir, name.as_os_str(), directory_flags(), Mode::empty()) {
            Ok(fd) => fd,
            // Nothing there, or a file where a directory would be: the path does not exist.
            Err(Errno::NOENT) => return Ok(removal.removed),
            Err(errno @ (Errno::LOOP | Errno::NOTDIR)) => {
                return match kind_of(&dir, name) {
                    Some(FileType::Symlink) => Err(CleanError::SymlinkOnTheWay {
                        at,
                        removed: removal.removed,
                    }),
                    Some(_) | None if errno == Errno::NOTDIR => Ok(removal.removed),
                    _ => Err(removal.io("open", at, errno)),
                };
            }
            Err(errno) => return Err(removal.io("open", at, errno)),
        };
    }
    at.push(last);
    let parent_device = rustix::fs::fstat(&dir)
        .map_err(|errno| removal.io("inspect", at.clone(), errno))?
        .st_dev;
    removal.entry(dir.as_fd(), last, &at, parent_device, 0)?;
    Ok(removal.removed)
}

struct Removal {
    removed: Removed,
}

impl Removal {
    fn io(&self, action: &'static str, at: PathBuf, errno: Errno) -> CleanError {
        CleanError::Io {
            action,
            at,
            removed: self.removed,
            source: errno.into(),
        }
    }

    /// Removes the entry `name` of `dir` (a directory with everything in it), `at` naming it
    /// for messages.
    fn entry(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        at: &Path,
        device: u64,
        depth: usize,
    ) -> Result<(), CleanError> {
        let stat = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return Ok(()),
            Err(errno) => return Err(self.io("inspect", at.to_path_buf(), errno)),
        };
        self.removed.existed = true;
        let bytes = u64::try_from(stat.st_blocks)
            .unwrap_or(0)
            .saturating_mul(512);
        if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
            if stat.st_dev != device {
                return Err(CleanError::OtherFileSystem {
                    at: at.to_path_buf(),
                    removed: self.removed,
                });
            }
            if depth >= MAX_DEPTH {
                return Err(CleanError::TooDeep {
                    at: at.to_path_buf(),
                    removed: self.removed,
                });
            }
            let inner = match rustix::fs::openat(dir, name, directory_flags(), Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => return Ok(()),
                // Swapped for a symlink or a file since the stat: refused (ELOOP/ENOTDIR), never
                // followed.
                Err(errno) => return Err(self.io("open", at.to_path_buf(), errno)),
            };
            self.contents(inner, at, stat.st_dev, depth + 1)?;
            match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(errno) => return Err(self.io("remove", at.to_path_buf(), errno)),
            }
        } else {
            match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(errno) => return Err(self.io("remove", at.to_path_buf(), errno)),
            }
        }
        self.removed.entries += 1;
        self.removed.bytes = self.removed.bytes.saturating_add(bytes);
        Ok(())
    }

    /// Empties the directory open as `fd`. Names are read in batches and removed after each
    /// batch is read (removing while reading may skip entries); the directory is read again
    /// until it is empty, so entries created meanwhile go too.
    fn contents(
        &mut self,
        fd: OwnedFd,
        at: &Path,
        device: u64,
        depth: usize,
    ) -> Result<(), CleanError> {
        /// Names held at once: bounds memory for huge directories.
        const BATCH: usize = 4096;
        let mut reader =
            Dir::read_from(&fd).map_err(|errno| self.io("read", at.to_path_buf(), errno))?;
        loop {
            let mut names: Vec<OsString> = Vec::new();
            while names.len() < BATCH {
                let Some(entry) = reader.read() else { break };
                let entry = entry.map_err(|errno| self.io("read", at.to_path_buf(), errno))?;
                let name = entry.file_name().to_bytes();
                if name == b"." || name == b".." {
                    continue;
                }
                names.push(OsStr::from_bytes(name).to_os_string());
            }
            if names.is_empty() {
                return Ok(());
            }
            for name in &names {
                self.entry(fd.as_fd(), name, &at.join(name), device, depth)?;
            }
            reader.rewind();
        }
    }
}

fn directory_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// The type of `dir`'s entry `name`, not following a symlink.
fn kind_of(dir: &OwnedFd, name: &OsStr) -> Option<FileType> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .ok()
        .map(|stat| FileType::from_raw_mode(stat.st_mode))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn project() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        (dir, root)
    }

    #[test]
    fn removes_a_tree_and_counts_it() {
        let (_dir, root) = project();
        std::fs::create_dir_all(root.join("a/.cache/x/y")).expect("mkdir");
        std::fs::write(root.join("a/.cache/x/y/f"), vec![7u8; 10_000]).expect("write");
        std::fs::write(root.join("a/.cache/g"), b"g").expect("write");
        std::fs::write(root.join("a/keep"), b"k").expect("write");
        let removed = remove_below(&root, Path::new("a/.cache")).expect("removed");
        assert!(removed.existed);
        assert_eq!(removed.entries, 5, "{removed:?}");
        assert!(removed.bytes >= 10_000, "{removed:?}");
        assert!(!root.join("a/.cache").exists());
        assert!(root.join("a/keep").exists());
    }

    #[test]
    fn a_missing_path_is_clean_already() {
        let (_dir, root) = project();
        std::fs::write(root.join("file"), b"x").expect("write");
        for path in ["nothing", "nothing/below", "file/below"] {
            let removed = remove_below(&root, Path::new(path)).expect(path);
            assert_eq!(removed, Removed::default(), "{path}");
        }
        assert!(root.join("file").exists());
    }

    #[test]
    fn a_symlink_on_the_way_is_refused_and_nothing_outside_is_touched() {
        let (_dir, root) = project();
        let (_outside_dir, outside) = project();
        std::fs::create_dir(outside.join("dist")).expect("mkdir");
        std::fs::write(outside.join("dist/precious"), b"p").expect("write");
        symlink(&outside, root.join("link")).expect("symlink");
        let error = remove_below(&root, Path::new("link/dist")).expect_err("refused");
        assert!(
            matches!(error, CleanError::SymlinkOnTheWay { ref at, .. } if at == &root.join("link")),
            "{error:?}"
        );
        assert!(outside.join("dist/precious").exists());
    }

    #[test]
    fn symlinks_named_or_inside_are_removed_as_links() {
        let (_dir, root) = project();
        let (_outside_dir, outside) = project();
        std::fs::write(outside.join("precious"), b"p").expect("write");
        std::fs::create_dir(root.join("cache")).expect("mkdir");
        symlink(&outside, root.join("cache/to-dir")).expect("symlink");
        symlink(outside.join("precious"), root.join("cache/to-file")).expect("symlink");
        symlink(&outside, root.join("named")).expect("symlink");
        remove_below(&root, Path::new("named")).expect("link removed");
        assert!(std::fs::symlink_metadata(root.join("named")).is_err());
        let removed = remove_below(&root, Path::new("cache")).expect("removed");
        assert_eq!(removed.entries, 3);
        assert!(!root.join("cache").exists());
        assert!(outside.join("precious").exists());
    }

    #[test]
    fn anything_but_plain_relative_components_is_refused() {
        let (_dir, root) = project();
        for bad in ["", "..", "a/../b", "/etc", "./a"] {
            let result = remove_below(&root, Path::new(bad));
            assert!(
                matches!(result, Err(CleanError::NotRelative(_))),
                "{bad}: {result:?}"
            );
        }
    }
}
