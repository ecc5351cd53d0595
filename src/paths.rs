//! Where wrangle keeps its per-project files: a private state directory (`WRANGLE_HOME`, else
//! `$XDG_STATE_HOME/wrangle`, else `~/.local/state/wrangle`) with one directory per project.
//!
//! ```text
//! <home>/projects/<project dir name>-<hash of the config path>/
//!     project    the canonical config path, so `wrangle ls` can list projects
//!     lock       the single-instance lock (see `sys::lock`)
//!     run/       runtime files such as the NOTIFY_SOCKET
//! ```
//!
//! This module owns choosing, creating and vetting those directories. It never deletes anything
//! and never follows a symlink in a directory or file it creates or writes: every step goes
//! through a directory fd opened with `O_NOFOLLOW` and checked with `fstat`, so what was checked
//! is what gets used. Directories must be ours (owner = our effective uid) and not writable by
//! group or others, or another user could plant files (a fake lock, a socket) in them.
//! Components *above* the home directory may be symlinks (a home directory often is one).
//! It does not take the lock or bind sockets: it only provides the paths.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

// How a private file is written: whether it must survive a crash of the whole machine.
pub use crate::sys::file::Durability;
use crate::sys::file::{FileError, replace_at};

/// The state directory, vetted (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub root: PathBuf,
}

/// The files of one project, all under `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPaths {
    pub dir: PathBuf,
    /// `dir/lock`. Not created here: `sys::lock::try_lock` creates it.
    pub lock_file: PathBuf,
    /// Where wrangle binds its sockets (the control socket, `NOTIFY_SOCKET`s): `dir/run`, or,
    /// when a socket's path there could be too long for a Unix socket (107 bytes),
    /// `/tmp/wrangle-<uid>/<hash>` (private, vetted like the rest). Either way every socket
    /// name up to `LONGEST_SOCKET_NAME` bytes stays under the limit, whatever the project or
    /// home path. Created 0700.
    pub runtime_dir: PathBuf,
    /// The daemon's control socket: `runtime_dir/control.sock`.
    pub control_socket: PathBuf,
    /// `dir/logs`: the services' log files (created by the log store).
    pub log_dir: PathBuf,
    /// `dir/daemon.log`: the daemon's own messages once it has detached.
    pub daemon_log: PathBuf,
    /// `dir/state.json`: what the daemon runs, for recovery after it died.
    pub state_file: PathBuf,
    /// `dir/dashboard.token`: the web dashboard's login token (0600; see `dashboard::token`).
    pub dashboard_token: PathBuf,
}

/// The longest socket path we create: `sun_path` holds 108 bytes including the final NUL.
const MAX_SOCKET_PATH: usize = 107;

/// The longest name of a socket in a project's runtime directory: `control.sock`, and
/// `<service>.<instance>.notify` (`NOTIFY_SOCKET`, numbers: 5 and 4 digits leave room).
const LONGEST_SOCKET_NAME: usize = 24;

/// Where control sockets go (in `wrangle-<uid>/`) when the state directory is too deep for one.
const SOCKET_FALLBACK_BASE: &str = "/tmp";

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error("cannot choose a directory for wrangle's state: set WRANGLE_HOME or HOME")]
    NoHome,
    #[error("refusing to use {path}: it is a symbolic link")]
    Symlink { path: PathBuf },
    #[error("refusing to use {path}: it is not a directory")]
    NotADirectory { path: PathBuf },
    #[error(
        "refusing to use {path}: it is owned by {owner_name} (uid {owner}), not by uid {expected} (us)"
    )]
    WrongOwner {
        path: PathBuf,
        owner: u32,
        owner_name: String,
        expected: u32,
    },
    /// The shared fallback directory for control sockets cannot be used (another user made it).
    #[error(
        "{problem}\n  wrangle puts the control socket there because the project's state directory \
         is too long a path for a socket ({MAX_SOCKET_PATH} bytes at most)\n  set WRANGLE_HOME to \
         a shorter directory of your own (for example WRANGLE_HOME=$HOME/.wrangle), or remove \
         {path} if it is not in use"
    )]
    SocketFallback {
        path: PathBuf,
        problem: Box<PathsError>,
    },
    #[error(
        "refusing to use {path}: it is writable by group or others (mode {mode:04o})\n  fix it with: chmod go-w {path}"
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error("cannot resolve config path {path}: {source}")]
    Config {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] FileError),
    #[error("refusing to read {path}: {why}")]
    Unsafe { path: PathBuf, why: String },
}

impl Home {
    /// `WRANGLE_HOME` if set (non-empty), else `$XDG_STATE_HOME/wrangle`, else
    /// `$HOME/.local/state/wrangle`; created 0700 if missing. See [`Home::resolve`].
    pub fn from_env() -> Result<Home, PathsError> {
        Home::resolve(|key| std::env::var(key).ok())
    }

    /// [`Home::from_env`] with the environment passed in, so that tests and callers with their
    /// own environment never mutate the process's.
    ///
    /// A relative `WRANGLE_HOME` is taken relative to the current directory. A relative
    /// `XDG_STATE_HOME` is ignored, as the XDG base directory spec says; a relative `HOME` too.
    /// Refuses a home that is a symlink, is owned by another uid, or is group/world writable.
    pub fn resolve(env: impl Fn(&str) -> Option<String>) -> Result<Home, PathsError> {
        let set = |key: &str| {
            env(key)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        let root = if let Some(home) = set("WRANGLE_HOME") {
            std::path::absolute(&home).map_err(|source| {
                PathsError::Io(FileError::new("resolve WRANGLE_HOME", &home, source))
            })?
        } else if let Some(state) = set("XDG_STATE_HOME").filter(|path| path.is_absolute()) {
            state.join("wrangle")
        } else if let Some(home) = set("HOME").filter(|path| path.is_absolute()) {
            home.join(".local/state/wrangle")
        } else {
            return Err(PathsError::NoHome);
        };
        create_home(&root)?;
        Ok(Home { root })
    }

    /// The directory of the project whose config file is `config_path`:
    /// `<root>/projects/<name>-<hash>`, where `name` is the project directory's name (sanitized,
    /// at most 32 characters) and `hash` is 16 hex digits of FNV-1a 64 of the canonical config
    /// path. The same config always maps to the same directory; two projects with the same
    /// directory name do not collide.
    ///
    /// Creates the directories (0700) and writes the `project` file as needed.
    pub fn project(&self, config_path: &Path) -> Result<ProjectPaths, PathsError> {
        let canonical = config_path
            .canonicalize()
            .map_err(|source| PathsError::Config {
                path: config_path.to_path_buf(),
                source,
            })?;
        let dir_name = project_dir_name(&canonical);

        let root_fd = open_private_dir(None, &self.root, false)?;
        let projects_path = self.root.join("projects");
        let projects_fd = create_private_dir(&root_fd, &projects_path)?;
        let dir = projects_path.join(&dir_name);
        let dir_fd = create_private_dir(&projects_fd, &dir)?;
        let runtime_in_home = dir.join("run");
        create_private_dir(&dir_fd, &runtime_in_home)?;

        let mut content = canonical.as_os_str().as_bytes().to_vec();
        content.push(b'\n');
        // Not synced: the file only matters while the project's lock is held (`ls` lists only
        // held projects), and whoever holds it wrote the file here, after any power loss that
        // could have emptied it. Atomic all the same: a reader never sees half of it.
        write_atomically(&dir_fd, &dir, "project", &content, Durability::Unsynced)?;

        // Every socket wrangle binds goes here (the control socket, one `NOTIFY_SOCKET` per
        // instance): the directory must leave room for the longest of their names.
        let runtime_dir =
            if runtime_in_home.as_os_str().len() + 1 + LONGEST_SOCKET_NAME <= MAX_SOCKET_PATH {
                runtime_in_home
            } else {
                short_runtime_dir(Path::new(SOCKET_FALLBACK_BASE), &dir_name)?
            };
        let control_socket = runtime_dir.join("control.sock");
        Ok(ProjectPaths {
            lock_file: dir.join("lock"),
            log_dir: dir.join("logs"),
            daemon_log: dir.join("daemon.log"),
            state_file: dir.join("state.json"),
            dashboard_token: dir.join("dashboard.token"),
            control_socket,
            runtime_dir,
            dir,
        })
    }
}

/// Creates `path` (mode 0700; its parent must exist) unless it exists, then opens it without
/// following a symlink and checks that it is ours and not writable by others. Every private
/// directory of wrangle's (the home, the project directory, the log directory) goes through this.
pub fn private_dir(path: &Path) -> Result<OwnedFd, PathsError> {
    use std::os::unix::fs::DirBuilderExt;
    let created = match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => true,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(source) => {
            return Err(FileError::new("create directory", path, source).into());
        }
    };
    open_private_dir(None, path, created)
}

/// Replaces `path` (in one of our private directories) with `content` atomically: a temporary
/// file (0600, never following a symlink) is written (and synced, with [`Durability::Synced`]),
/// then renamed over `path` (and the directory synced). A reader sees the old content or the
/// new, never a mix, even if we are killed halfway.
pub fn write_private_file(
    path: &Path,
    content: &[u8],
    durability: Durability,
) -> Result<(), PathsError> {
    let (Some(dir_path), Some(name)) = (path.parent(), path.file_name().and_then(OsStr::to_str))
    else {
        return Err(PathsError::NotADirectory {
            path: path.to_path_buf(),
        });
    };
    let dir = open_private_dir(None, dir_path, false)?;
    write_atomically(&dir, dir_path, name, content, durability)
}

/// The content of `path` (in one of our private directories) if it exists and is what a secret
/// of ours must be: a regular file (a symlink is not followed), owned by us, readable and
/// writable by nobody else, at most `max_len` bytes. `Ok(None)` when it does not exist;
/// [`PathsError::Unsafe`] when it exists but is not such a file. Checked on the opened
/// descriptor, so what was checked is what is read; opened non-blocking, so a FIFO cannot hang
/// the reader.
pub fn read_private_file(path: &Path, max_len: usize) -> Result<Option<Vec<u8>>, PathsError> {
    let (Some(dir_path), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(PathsError::NotADirectory {
            path: path.to_path_buf(),
        });
    };
    let dir = open_private_dir(None, dir_path, false)?;
    let unsafe_file = |why: String| PathsError::Unsafe {
        path: path.to_path_buf(),
        why,
    };
    let fd = match rustix::fs::openat(
        &dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => return Err(unsafe_file("it is a symbolic link".to_string())),
        Err(errno) => return Err(FileError::new("open", path, errno).into()),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|errno| FileError::new("inspect", path, errno))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(unsafe_file("it is not a regular file".to_string()));
    }
    let expected = rustix::process::geteuid().as_raw();
    if stat.st_uid != expected {
        return Err(unsafe_file(format!(
            "it is owned by uid {}, not by uid {expected} (us)",
            stat.st_uid
        )));
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o077 != 0 {
        return Err(unsafe_file(format!(
            "it is accessible to group or others (mode {mode:04o})"
        )));
    }
    let mut content = Vec::new();
    File::from(fd)
        .take(u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut content)
        .map_err(|source| FileError::new("read", path, source))?;
    if content.len() > max_len {
        return Err(unsafe_file(format!("it is larger than {max_len} bytes")));
    }
    Ok(Some(content))
}

/// `/tmp/wrangle-<uid>/<hash>`, for sockets when the home is too deep. /tmp is shared, so the
/// per-user directory is vetted like any other: ours, 0700, not a symlink.
fn short_runtime_dir(base: &Path, dir_name: &str) -> Result<PathBuf, PathsError> {
    use std::os::unix::fs::DirBuilderExt;
    let uid = rustix::process::geteuid().as_raw();
    let user_dir = base.join(format!("wrangle-{uid}"));
    let created = std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&user_dir)
        .is_ok();
    // Anyone can create it in /tmp before us: say whose it is and how to do without it.
    let user_fd = open_private_dir(None, &user_dir, created).map_err(|problem| match problem {
        PathsError::Io(_) => problem,
        _ => PathsError::SocketFallback {
            path: user_dir.clone(),
            problem: Box::new(problem),
        },
    })?;
    let hash = dir_name.rsplit('-').next().unwrap_or(dir_name);
    let dir = user_dir.join(hash);
    create_private_dir(&user_fd, &dir)?;
    Ok(dir)
}

/// Creates the home directory (and any missing parents) and vets it.
fn create_home(root: &Path) -> Result<(), PathsError> {
    let parent = root
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty());
    let (Some(parent), Some(_)) = (parent, root.file_name()) else {
        // `/` or a path ending in `..`: nothing to create, only to check.
        open_private_dir(None, root, false)?;
        return Ok(());
    };
    // Parents are the user's business (XDG wants 0700 for them, so create them that way);
    // symlinks among them are fine.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|source| FileError::new("create directory", parent, source))?;
    let parent_fd = rustix::fs::open(
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| FileError::new("open directory", parent, errno))?;
    create_private_dir(&parent_fd, root)?;
    Ok(())
}

/// `mkdir` the last component of `path` (0700) inside `parent`, then open and vet it.
fn create_private_dir(parent: &OwnedFd, path: &Path) -> Result<OwnedFd, PathsError> {
    let name = path.file_name().unwrap_or(OsStr::new("."));
    let created = match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(errno) => return Err(FileError::new("create directory", path, errno).into()),
    };
    open_private_dir(Some(parent), path, created)
}

/// Opens a directory without following a final symlink and checks owner and mode on the fd.
/// With `parent`, only the last component of `path` is opened relative to it.
///
/// A directory we just `created` gets its mode forced to 0700: `mkdir` applies the umask, and a
/// strange umask must not leave it unusable or open.
fn open_private_dir(
    parent: Option<&OwnedFd>,
    path: &Path,
    created: bool,
) -> Result<OwnedFd, PathsError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let opened = match parent {
        Some(parent) => {
            let name = path.file_name().unwrap_or(OsStr::new("."));
            rustix::fs::openat(parent, name, flags, Mode::empty())
        }
        None => rustix::fs::open(path, flags, Mode::empty()),
    };
    let fd = match opened {
        Ok(fd) => fd,
        // Linux reports a symlink under O_NOFOLLOW|O_DIRECTORY as ELOOP (or ENOTDIR on some
        // filesystems); tell the user which one it really is.
        Err(Errno::LOOP | Errno::NOTDIR) => {
            let is_symlink = std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_symlink());
            return Err(match is_symlink {
                true => PathsError::Symlink {
                    path: path.to_path_buf(),
                },
                false => PathsError::NotADirectory {
                    path: path.to_path_buf(),
                },
            });
        }
        Err(errno) => return Err(FileError::new("open directory", path, errno).into()),
    };
    if created {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700))
            .map_err(|errno| FileError::new("set permissions of", path, errno))?;
    }
    let stat = rustix::fs::fstat(&fd).map_err(|errno| FileError::new("inspect", path, errno))?;
    let expected = rustix::process::geteuid().as_raw();
    if stat.st_uid != expected {
        return Err(PathsError::WrongOwner {
            path: path.to_path_buf(),
            owner: stat.st_uid,
            owner_name: crate::sys::process_table::user_name(stat.st_uid),
            expected,
        });
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(PathsError::Writable {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(fd)
}

/// Replaces `dir/name` with `content` atomically, a private file (0600), through
/// `sys::file::replace_at` (a new temporary file renamed over it; fsyncs only with
/// [`Durability::Synced`]), unless it already holds exactly that: the usual case, as it runs at
/// every start.
fn write_atomically(
    dir: &OwnedFd,
    dir_path: &Path,
    name: &str,
    content: &[u8],
    durability: Durability,
) -> Result<(), PathsError> {
    if read_at(dir, name).is_some_and(|existing| existing == content) {
        return Ok(());
    }
    replace_at(dir, dir_path, name, content, 0o600, durability)?;
    Ok(())
}

/// The content of a regular file `name` in `dir`, without following a symlink; `None` if it
/// cannot be read (absent, a symlink, anything else).
fn read_at(dir: &OwnedFd, name: &str) -> Option<Vec<u8>> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut content = Vec::new();
    File::from(fd).read_to_end(&mut content).ok()?;
    Some(content)
}

/// `<name>-<hash>` for a canonical config path: the name of the directory holding the config,
/// reduced to `[A-Za-z0-9._-]` (anything else becomes `_`, and a leading `.` too so the
/// directory is not hidden), at most 32 characters; `project` when nothing is left.
pub fn project_dir_name(canonical_config: &Path) -> String {
    let project_dir = canonical_config
        .parent()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = project_dir
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .take(32)
        .collect();
    if name.starts_with('.') {
        name.replace_range(..1, "_");
    }
    if name.is_empty() {
        name.push_str("project");
    }
    format!(
        "{name}-{:016x}",
        fnv1a_64(canonical_config.as_os_str().as_bytes())
    )
}

/// 64-bit FNV-1a: stable across Rust versions and platforms (unlike `DefaultHasher`), which a
/// directory name on disk must be. See: http://www.isthe.com/chongo/tech/comp/fnv/
fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o7777
    }

    fn env_of(pairs: &[(&str, &Path)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string_lossy().into_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    /// A project directory with a config file in it; returns the config path.
    fn make_config(base: &Path, project: &str) -> PathBuf {
        let dir = base.join(project);
        std::fs::create_dir_all(&dir).expect("mkdir project");
        let config = dir.join("wrangle.toml");
        std::fs::write(&config, "").expect("write config");
        config
    }

    #[test]
    fn fnv1a_64_matches_reference_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn project_dir_name_is_sanitized_and_bounded() {
        let name = project_dir_name(Path::new("/src/my app/wrangle.toml"));
        assert!(name.starts_with("my_app-"), "{name}");
        assert_eq!(name.len(), "my_app-".len() + 16);

        let long = project_dir_name(Path::new(&format!("/src/{}/wrangle.toml", "x".repeat(80))));
        assert_eq!(long.len(), 32 + 1 + 16);

        assert!(project_dir_name(Path::new("/.hidden/w.toml")).starts_with("_hidden-"));
        assert!(project_dir_name(Path::new("/w.toml")).starts_with("project-"));
        assert!(project_dir_name(Path::new("/src/café/w.toml")).starts_with("caf_-"));
    }

    #[test]
    fn resolve_prefers_wrangle_home_and_creates_it_private() {
        let temp = tempfile::tempdir().expect("tempdir");
        let wrangle_home = temp.path().join("a/b/wrangle-home");
        let env = env_of(&[
            ("WRANGLE_HOME", &wrangle_home),
            ("XDG_STATE_HOME", &temp.path().join("xdg")),
            ("HOME", temp.path()),
        ]);
        let home = Home::resolve(env).expect("resolve");
        assert_eq!(home.root, wrangle_home);
        assert!(wrangle_home.is_dir());
        assert_eq!(mode_of(&wrangle_home), 0o700);
        // Resolving again accepts what it created.
        let env = env_of(&[("WRANGLE_HOME", &wrangle_home)]);
        assert_eq!(Home::resolve(env).expect("resolve again"), home);
    }

    #[test]
    fn resolve_falls_back_to_xdg_state_home_then_home() {
        let temp = tempfile::tempdir().expect("tempdir");
        let xdg = temp.path().join("xdg");
        let empty = Path::new("");
        let env = env_of(&[
            ("WRANGLE_HOME", empty),
            ("XDG_STATE_HOME", &xdg),
            ("HOME", temp.path()),
        ]);
        assert_eq!(Home::resolve(env).expect("xdg").root, xdg.join("wrangle"));

        let relative = Path::new("relative/state");
        let env = env_of(&[("XDG_STATE_HOME", relative), ("HOME", temp.path())]);
        let root = Home::resolve(env).expect("home").root;
        assert_eq!(root, temp.path().join(".local/state/wrangle"));
        assert_eq!(mode_of(&root), 0o700);

        assert!(matches!(Home::resolve(|_| None), Err(PathsError::NoHome)));
    }

    #[test]
    fn resolve_refuses_a_symlinked_home() {
        let temp = tempfile::tempdir().expect("tempdir");
        let real = temp.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let link = temp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let result = Home::resolve(env_of(&[("WRANGLE_HOME", &link)]));
        assert!(
            matches!(result, Err(PathsError::Symlink { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn resolve_refuses_a_writable_or_foreign_home_and_a_file() {
        let temp = tempfile::tempdir().expect("tempdir");
        let open = temp.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o770)).expect("chmod");
        let result = Home::resolve(env_of(&[("WRANGLE_HOME", &open)]));
        let Err(error @ PathsError::Writable { mode: 0o770, .. }) = result else {
            panic!("expected Writable, got {result:?}");
        };
        assert!(error.to_string().contains("chmod go-w"), "{error}");

        let file = temp.path().join("file");
        std::fs::write(&file, "").expect("write");
        let result = Home::resolve(env_of(&[("WRANGLE_HOME", &file)]));
        assert!(
            matches!(result, Err(PathsError::NotADirectory { .. })),
            "{result:?}"
        );

        // Only root can hand a directory to another uid; elsewhere this part cannot run.
        if rustix::process::geteuid().is_root() {
            let foreign = temp.path().join("foreign");
            std::fs::create_dir(&foreign).expect("mkdir");
            std::os::unix::fs::chown(&foreign, Some(65534), None).expect("chown");
            let result = Home::resolve(env_of(&[("WRANGLE_HOME", &foreign)]));
            assert!(
                matches!(result, Err(PathsError::WrongOwner { owner: 65534, .. })),
                "{result:?}"
            );
        }
    }

    #[test]
    fn a_socket_fallback_directory_made_by_another_user_is_refused_naming_the_owner_and_the_fix() {
        let temp = tempfile::tempdir().expect("tempdir");
        let uid = rustix::process::geteuid().as_raw();
        let planted = temp.path().join(format!("wrangle-{uid}"));
        std::fs::create_dir(&planted).expect("mkdir");
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let nobody = rustix::process::Uid::from_raw(65534);
        if rustix::fs::chown(&planted, Some(nobody), None).is_err() {
            eprintln!("SKIPPED: chown needs root");
            return;
        }
        let error = short_runtime_dir(temp.path(), "shop-0123").expect_err("refused");
        let message = error.to_string();
        assert!(
            matches!(error, PathsError::SocketFallback { .. }),
            "{message}"
        );
        let owner = crate::sys::process_table::user_name(65534);
        for needed in [
            format!("refusing to use {}", planted.display()),
            format!("owned by {owner} (uid 65534)"),
            "set WRANGLE_HOME".to_string(),
        ] {
            assert!(message.contains(&needed), "{needed:?} not in {message}");
        }
    }

    #[test]
    fn control_socket_stays_under_the_unix_limit_for_a_deep_home() {
        let temp = tempfile::tempdir().expect("tempdir");
        let deep = temp.path().join("d".repeat(60)).join("e".repeat(60));
        let home = Home::resolve(env_of(&[("WRANGLE_HOME", &deep)])).expect("home");
        let config = make_config(temp.path(), "shop");
        let paths = home.project(&config).expect("project");
        assert!(paths.dir.join("run/control.sock").as_os_str().len() > MAX_SOCKET_PATH);
        assert_eq!(paths.control_socket, paths.runtime_dir.join("control.sock"));
        let notify = paths.runtime_dir.join("99999.1023.notify");
        assert!(notify.as_os_str().len() <= MAX_SOCKET_PATH);
        assert!(
            paths.control_socket.as_os_str().len() <= MAX_SOCKET_PATH,
            "{}",
            paths.control_socket.display()
        );
        assert!(
            paths
                .control_socket
                .to_string_lossy()
                .starts_with("/tmp/wrangle-")
        );
        let mode = std::fs::metadata(paths.control_socket.parent().expect("parent"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        // The same project maps to the same socket.
        assert_eq!(
            home.project(&config).expect("again").control_socket,
            paths.control_socket
        );
    }

    #[test]
    fn project_paths_are_stable_private_and_distinct() {
        let temp = tempfile::tempdir().expect("tempdir");
        let home =
            Home::resolve(env_of(&[("WRANGLE_HOME", &temp.path().join("home"))])).expect("home");
        let config = make_config(temp.path(), "shop");
        let other = make_config(&temp.path().join("elsewhere"), "shop");

        let paths = home.project(&config).expect("project");
        assert_eq!(
            paths.dir.parent(),
            Some(home.root.join("projects").as_path())
        );
        let dir_name = paths.dir.file_name().and_then(OsStr::to_str).expect("name");
        assert!(
            dir_name.starts_with("shop-") && dir_name.len() == 5 + 16,
            "{dir_name}"
        );
        assert_eq!(paths.lock_file, paths.dir.join("lock"));
        assert_eq!(paths.runtime_dir, paths.dir.join("run"));
        assert_eq!(paths.control_socket, paths.runtime_dir.join("control.sock"));
        for dir in [&home.root.join("projects"), &paths.dir, &paths.runtime_dir] {
            assert_eq!(mode_of(dir), 0o700, "{}", dir.display());
        }
        let project_file = paths.dir.join("project");
        assert_eq!(mode_of(&project_file), 0o600);
        let canonical = config.canonicalize().expect("canonical");
        let expected = format!("{}\n", canonical.display());
        assert_eq!(
            std::fs::read_to_string(&project_file).expect("read"),
            expected
        );

        // Same config (even spelled differently) → same directory; same dir name elsewhere → not.
        let spelled_differently = config
            .parent()
            .expect("parent")
            .join("./../shop/wrangle.toml");
        assert_eq!(home.project(&spelled_differently).expect("again"), paths);
        let other_paths = home.project(&other).expect("other");
        assert_ne!(other_paths.dir, paths.dir);
        assert!(
            other_paths
                .dir
                .file_name()
                .and_then(OsStr::to_str)
                .expect("name")
                .starts_with("shop-")
        );
    }

    #[test]
    fn project_refuses_a_symlinked_project_dir_and_a_missing_config() {
        let temp = tempfile::tempdir().expect("tempdir");
        let home =
            Home::resolve(env_of(&[("WRANGLE_HOME", &temp.path().join("home"))])).expect("home");
        let config = make_config(temp.path(), "api");
        let paths = home.project(&config).expect("project");

        // Replace the project directory by a symlink to a copy of it (moving, not deleting).
        let moved = temp.path().join("moved");
        std::fs::rename(&paths.dir, &moved).expect("move");
        std::os::unix::fs::symlink(&moved, &paths.dir).expect("symlink");
        let result = home.project(&config);
        assert!(
            matches!(result, Err(PathsError::Symlink { .. })),
            "{result:?}"
        );

        let result = home.project(&temp.path().join("absent/wrangle.toml"));
        assert!(
            matches!(result, Err(PathsError::Config { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn project_file_is_not_written_through_a_symlink() {
        let temp = tempfile::tempdir().expect("tempdir");
        let home =
            Home::resolve(env_of(&[("WRANGLE_HOME", &temp.path().join("home"))])).expect("home");
        let config = make_config(temp.path(), "web");
        let paths = home.project(&config).expect("project");
        let victim = temp.path().join("victim");
        std::fs::write(&victim, "precious").expect("write");
        let project_file = paths.dir.join("project");
        std::fs::rename(&project_file, temp.path().join("old-project")).expect("move");
        std::os::unix::fs::symlink(&victim, &project_file).expect("symlink");

        home.project(&config).expect("project again");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
        assert!(
            !std::fs::symlink_metadata(&project_file)
                .expect("meta")
                .is_symlink()
        );
    }
}
