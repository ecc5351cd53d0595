//! Whether wrangle may act on what a file says, and the one way config files and env files are
//! read.
//!
//! wrangle finds its config by walking up from the current directory, and runs what it says. A
//! file someone else could have written there (a `Procfile` planted in a shared directory above
//! the one you run in) would run their commands as you, as root if you are root; an env file
//! could set `LD_PRELOAD`. So a file is read only after its owner and the directories that lead
//! to it are checked, in the manner of git's `safe.directory`.
//!
//! # The rule
//!
//! "Others" are every user but you (the effective uid) and root. A file is in doubt when:
//! - it, or the symbolic link it was found through, is owned by someone else;
//! - others can write to it: the world-write bit, or the group-write bit of a group other than
//!   your primary group (a user private group, the default of most distributions, is yours alone);
//! - a directory above it (from its own directory up to `/`, where it was found and where a
//!   symbolic link leads) is owned by someone else, or others can write to it and it has no
//!   sticky bit (with the sticky bit, as on `/tmp`, others can add names but cannot rename or
//!   remove yours);
//! - it has other hard links while its directory is one others can write to: someone may have
//!   linked your file, or root's, there.
//!
//! A discovered config file, or any env file or `ca_file`, in doubt is refused, unless it is under a directory
//! listed in `WRANGLE_TRUSTED_DIRS`. A config named with `-f` is trusted, and so are the env files
//! under its directory, each doubt said as a warning. Whether a file is regular and not too large
//! is checked for every file, trusted or not.
//!
//! Reading: the file is opened without blocking (a FIFO would hang an open for reading), checked
//! through the opened descriptor (regular file, owner, mode: what is checked is what is read), and
//! read up to its limit plus one byte, so `/dev/zero` or a huge file cannot grow wrangle's memory.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::ops::RangeInclusive;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::OFlags;

use crate::config::diagnostic::{ConfigError, Diagnostic, SourceFile};

/// The environment variable listing directories whose files are trusted whoever owns them.
pub const TRUSTED_DIRS_VAR: &str = "WRANGLE_TRUSTED_DIRS";

/// The largest config file wrangle reads: far more than any hand-written project needs.
pub(crate) const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// The largest env file wrangle reads.
pub(crate) const MAX_ENV_FILE_BYTES: u64 = 1 << 20;
/// The largest `ca_file` wrangle reads: a system bundle of every public CA is about 200 KiB.
pub(crate) const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// A file a config names, for the messages about trusting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamedFile {
    /// `env_file`: a service's environment.
    EnvFile,
    /// `ca_file` of a `[[notify]]` webhook: certificates trusted for its `https://` URL.
    CaFile,
}

impl NamedFile {
    /// The config key that names it.
    pub(crate) fn key(self) -> &'static str {
        match self {
            NamedFile::EnvFile => "env_file",
            NamedFile::CaFile => "ca_file",
        }
    }

    /// The largest one wrangle reads.
    pub(crate) fn max_bytes(self) -> u64 {
        match self {
            NamedFile::EnvFile => MAX_ENV_FILE_BYTES,
            NamedFile::CaFile => MAX_CA_FILE_BYTES,
        }
    }

    pub(crate) fn noun(self) -> &'static str {
        match self {
            NamedFile::EnvFile => "env file",
            NamedFile::CaFile => "CA file",
        }
    }

    fn why_it_matters(self) -> &'static str {
        match self {
            NamedFile::EnvFile => {
                "an env file sets the environment of the service (LD_PRELOAD, PATH): wrangle \
                 reads one only if no one but you or root could have written it"
            }
            NamedFile::CaFile => {
                "a CA file decides whom a webhook's notifications go to: wrangle reads one only \
                 if no one but you or root could have written it"
            }
        }
    }
}

/// The sticky bit of a directory's mode: others may add names to it but not rename or remove
/// names they do not own.
const STICKY: u32 = 0o1000;

/// Who wrangle runs as, and the directories they trust whoever owns the files in them.
#[derive(Debug, Clone)]
pub struct Trust {
    uid: u32,
    gid: u32,
    trusted: TrustedDirs,
    user_name: fn(u32) -> String,
    accounts: Accounts,
    /// Loading for `export`: `user` and `group` may name accounts of another machine.
    exporting: bool,
    /// The environment wrangle was started in, for `${VAR}` (empty unless the caller gives it).
    environment: Arc<BTreeMap<String, String>>,
    /// How `port = "auto"` and `port = "A-B"` get a port (the config binds nothing itself).
    ports: PortPicking,
}

/// How the loader gets a port for `port = "auto"` (`None`: any port the kernel offers) or
/// `port = "A-B"` (the first free one): the caller's check of what is free, and the ports to
/// keep per service (a running project's, so that `apply` and a daemon's successor do not move
/// a service that holds its port).
#[derive(Debug, Clone)]
pub struct PortPicking {
    /// A port free to bind now within the range, and not one of the ports given (the project's
    /// other ports); `None` when there is none.
    pub pick: fn(Option<RangeInclusive<u16>>, &[u16]) -> Option<u16>,
    /// Per service name, the port it has now: kept, without a check, while it is in the
    /// service's range and no other service declares it.
    pub kept: Arc<BTreeMap<String, u16>>,
}

impl PortPicking {
    /// Picks nothing: what a config is checked with when the caller gives no way to pick.
    pub const NONE: fn(Option<RangeInclusive<u16>>, &[u16]) -> Option<u16> = |_, _| None;
}

/// The caller's lookups of the accounts that `user` and `group` name (the config reads no
/// system file by itself).
#[derive(Debug, Clone, Copy)]
pub struct Accounts {
    /// A user by name or number; a number without an entry is a bare [`UserEntry`].
    pub user: fn(&str) -> Option<UserEntry>,
    /// A group's id by name or number.
    pub group: fn(&str) -> Option<u32>,
    /// The groups a user (by login name) belongs to, with the given primary group first.
    pub groups_of: fn(&str, u32) -> Vec<u32>,
}

impl Accounts {
    /// Numbers only: what a config is checked with when the caller gives no lookup (tests).
    pub const NUMERIC: Accounts = Accounts {
        user: |text| {
            let uid = text.parse().ok()?;
            Some(UserEntry {
                name: text.to_string(),
                uid,
                gid: None,
                home: PathBuf::from("/"),
            })
        },
        group: |text| text.parse().ok(),
        groups_of: |_, primary| vec![primary],
    };
}

/// A user as the caller's lookup found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub name: String,
    pub uid: u32,
    /// Its primary group; `None` for a number without an entry.
    pub gid: Option<u32>,
    pub home: PathBuf,
}

#[derive(Debug, Clone)]
enum TrustedDirs {
    /// Canonical directories.
    Listed(Vec<PathBuf>),
    /// `*`: every file is trusted (only regular files of bounded size are still required).
    Everything,
}

/// How the config file was chosen, which decides how far it is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Found by walking up from the current directory: refused when in doubt.
    Discovered,
    /// Named on the command line (`-f PATH`): trusted with a warning when in doubt, and so are
    /// the env files under its directory.
    Named,
}

impl Trust {
    /// `uid` and `gid`: the effective user and primary group wrangle runs as. No directory is
    /// trusted beyond the rule, and users are named by number.
    pub fn new(uid: u32, gid: u32) -> Trust {
        Trust {
            uid,
            gid,
            trusted: TrustedDirs::Listed(Vec::new()),
            user_name: |uid| uid.to_string(),
            accounts: Accounts::NUMERIC,
            exporting: false,
            environment: Arc::default(),
            ports: PortPicking {
                pick: PortPicking::NONE,
                kept: Arc::default(),
            },
        }
    }

    /// Picks the ports of `port = "auto"` and ranges with `pick` (see [`PortPicking`]).
    pub fn with_port_picker(
        mut self,
        pick: fn(Option<RangeInclusive<u16>>, &[u16]) -> Option<u16>,
    ) -> Trust {
        self.ports.pick = pick;
        self
    }

    /// Keeps these services' ports (a running project's) where they still fit.
    pub fn with_kept_ports(mut self, kept: BTreeMap<String, u16>) -> Trust {
        self.ports.kept = Arc::new(kept);
        self
    }

    pub(crate) fn port_picking(&self) -> &PortPicking {
        &self.ports
    }

    /// `${VAR}` in the config finds `environment` (the environment wrangle was started in;
    /// variables whose name or value is not UTF-8 are left out by the caller).
    pub fn with_environment(mut self, environment: BTreeMap<String, String>) -> Trust {
        self.environment = Arc::new(environment);
        self
    }

    pub(crate) fn environment(&self) -> &BTreeMap<String, String> {
        &self.environment
    }

    /// Looks up the accounts `user` and `group` name with `accounts`.
    pub fn with_accounts(mut self, accounts: Accounts) -> Trust {
        self.accounts = accounts;
        self
    }

    /// For `export`: `user` and `group` are taken as written, unchecked, since they name
    /// accounts of the machine the output is for, and nothing runs here.
    pub fn exporting(mut self) -> Trust {
        self.exporting = true;
        self
    }

    /// The effective user and group wrangle runs as.
    pub(crate) fn ids(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }

    pub(crate) fn accounts(&self) -> Option<&Accounts> {
        (!self.exporting).then_some(&self.accounts)
    }

    /// Names users in messages (for example from `/etc/passwd`); the function returns the
    /// number itself for a user it does not know.
    pub fn with_user_names(mut self, user_name: fn(u32) -> String) -> Trust {
        self.user_name = user_name;
        self
    }

    /// Trusts the directories listed in `value`, the value of [`TRUSTED_DIRS_VAR`]: absolute
    /// paths separated by `:`, or `*` for every directory. A directory that does not exist is
    /// kept as written (it cannot contain anything yet); a relative path is an error.
    pub fn with_trusted_dirs(mut self, value: &OsStr) -> Result<Trust, ConfigError> {
        let mut listed = Vec::new();
        for entry in value.as_bytes().split(|byte| *byte == b':') {
            if entry.is_empty() {
                continue;
            }
            if entry == b"*" {
                self.trusted = TrustedDirs::Everything;
                return Ok(self);
            }
            let path = Path::new(OsStr::from_bytes(entry));
            if !path.is_absolute() {
                return Err(ConfigError::single(
                    Diagnostic::unlocated(format!(
                        "{TRUSTED_DIRS_VAR} lists \"{}\", which is not an absolute path",
                        path.display()
                    ))
                    .with_help(format!(
                        "list absolute directories separated by ':', for example \
                         {TRUSTED_DIRS_VAR}=/srv/app:/home/shared/project, or '*' for all"
                    )),
                ));
            }
            listed.push(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        }
        self.trusted = TrustedDirs::Listed(listed);
        Ok(self)
    }

    /// Whether `real` (a canonical path) is under a directory the user said to trust.
    fn listed(&self, real: &Path) -> bool {
        match &self.trusted {
            TrustedDirs::Everything => true,
            TrustedDirs::Listed(dirs) => dirs.iter().any(|dir| real.starts_with(dir)),
        }
    }

    fn is_ours(&self, uid: u32) -> bool {
        uid == self.uid || uid == 0
    }

    /// Whether others can write, by the mode bits alone: `Some(None)` for everyone,
    /// `Some(Some(gid))` for the members of a group other than ours.
    fn others_can_write(&self, mode: u32, gid: u32) -> Option<Option<u32>> {
        if mode & 0o002 != 0 {
            return Some(None);
        }
        (mode & 0o020 != 0 && gid != self.gid).then_some(Some(gid))
    }

    /// `nobody (uid 65534)`, or `uid 1234` for a user without a name.
    pub(crate) fn user(&self, uid: u32) -> String {
        let name = (self.user_name)(uid);
        if name == uid.to_string() {
            format!("uid {uid}")
        } else {
            format!("{name} (uid {uid})")
        }
    }

    /// The doubts about the file at `path`, which was opened as `opened`. `real` is its
    /// canonical path.
    fn doubts(&self, path: &Path, real: &Path, opened: &Metadata) -> io::Result<Vec<Doubt>> {
        let mut doubts = Vec::new();
        if !self.is_ours(opened.uid()) {
            doubts.push(Doubt::Owner { uid: opened.uid() });
        }
        if let Some(group) = self.others_can_write(opened.mode(), opened.gid()) {
            doubts.push(Doubt::Writable {
                mode: opened.mode() & 0o7777,
                group,
            });
        }
        let absolute = std::path::absolute(path)?;
        let link = std::fs::symlink_metadata(&absolute)?;
        if link.file_type().is_symlink() && !self.is_ours(link.uid()) {
            doubts.push(Doubt::LinkOwner {
                link: absolute.clone(),
                uid: link.uid(),
            });
        }
        // The directories where the file is and where it was found (they differ when the path
        // ends in a symbolic link), each up to `/`, canonical, each once.
        let mut parents: Vec<PathBuf> = Vec::new();
        if let Some(parent) = real.parent() {
            parents.push(parent.to_path_buf());
        }
        if let Some(parent) = absolute.parent() {
            let parent = std::fs::canonicalize(parent)?;
            if !parents.contains(&parent) {
                parents.push(parent);
            }
        }
        let mut seen: Vec<&Path> = Vec::new();
        for parent in &parents {
            for dir in parent.ancestors() {
                if seen.contains(&dir) {
                    continue;
                }
                seen.push(dir);
                let meta = std::fs::metadata(dir)?;
                if !self.is_ours(meta.uid()) {
                    doubts.push(Doubt::DirOwner {
                        dir: dir.to_path_buf(),
                        uid: meta.uid(),
                    });
                }
                let writable = self.others_can_write(meta.mode(), meta.gid());
                if let Some(group) = writable
                    && meta.mode() & STICKY == 0
                {
                    doubts.push(Doubt::DirWritable {
                        dir: dir.to_path_buf(),
                        mode: meta.mode() & 0o7777,
                        group,
                    });
                }
                if writable.is_some() && dir == parent.as_path() && opened.nlink() > 1 {
                    doubts.push(Doubt::Linked {
                        links: opened.nlink(),
                        dir: dir.to_path_buf(),
                    });
                }
            }
        }
        Ok(doubts)
    }

    /// One doubt as a clause about the file: "it is owned by nobody (uid 65534)".
    fn describe(&self, doubt: &Doubt) -> String {
        let writers = |group: &Option<u32>| match group {
            None => "others".to_string(),
            Some(gid) => format!("the members of group {gid}"),
        };
        match doubt {
            Doubt::Owner { uid } => format!("it is owned by {}", self.user(*uid)),
            Doubt::LinkOwner { link, uid } => format!(
                "it was found through the symbolic link {}, owned by {}",
                link.display(),
                self.user(*uid)
            ),
            Doubt::Writable { mode, group } => {
                format!("{} can write to it (mode {mode:04o})", writers(group))
            }
            Doubt::DirOwner { dir, uid } => format!(
                "the directory {} is owned by {}",
                dir.display(),
                self.user(*uid)
            ),
            Doubt::DirWritable { dir, mode, group } => format!(
                "{} can write to the directory {} (mode {mode:04o}, no sticky bit)",
                writers(group),
                dir.display()
            ),
            Doubt::Linked { links, dir } => format!(
                "it has {links} hard links and others can add files to {}: someone may have \
                 linked it there",
                dir.display()
            ),
        }
    }
}

/// A reason to think that someone other than you or root chose what a file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Doubt {
    /// The file is another user's.
    Owner { uid: u32 },
    /// The symbolic link the file was found through is another user's.
    LinkOwner { link: PathBuf, uid: u32 },
    /// Others can write to the file (`group`: only the members of that group).
    Writable { mode: u32, group: Option<u32> },
    /// A directory on its path is another user's.
    DirOwner { dir: PathBuf, uid: u32 },
    /// Others can write to a directory on its path, which has no sticky bit.
    DirWritable {
        dir: PathBuf,
        mode: u32,
        group: Option<u32>,
    },
    /// The file has other hard links, in a directory others can add names to.
    Linked { links: u64, dir: PathBuf },
}

/// What one load trusts: the user's [`Trust`] and, for a config named with `-f`, its directory.
#[derive(Debug)]
pub(crate) struct Gate<'t> {
    pub(crate) trust: &'t Trust,
    /// The canonical directory of a config named with `-f`: files under it that are in doubt
    /// are used, with a warning.
    vouched: Option<PathBuf>,
}

/// What to do with a file that was read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing is in doubt, or it is under a trusted directory.
    Trusted,
    /// In doubt, but under the directory of a config named with `-f`: use it, warn.
    Vouched(Vec<Doubt>),
    /// In doubt: refuse it.
    Refused(Vec<Doubt>),
}

/// A file read after its checks.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) bytes: Vec<u8>,
    /// The canonical path of what was read.
    pub(crate) real: PathBuf,
    pub(crate) verdict: Verdict,
}

/// Why a file could not be read at all.
#[derive(Debug)]
pub(crate) enum Unreadable {
    Io(io::Error),
    /// It is not a regular file: what it is ("a FIFO", "a directory", ...).
    NotAFile(&'static str),
    /// It is larger than this limit, in bytes.
    TooLarge(u64),
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreadable::Io(error) => write!(formatter, "{error}"),
            Unreadable::NotAFile(kind) => write!(formatter, "it is {kind}, not a regular file"),
            Unreadable::TooLarge(limit) => {
                write!(formatter, "it is larger than {}", format_limit(*limit))
            }
        }
    }
}

impl From<io::Error> for Unreadable {
    fn from(error: io::Error) -> Unreadable {
        Unreadable::Io(error)
    }
}

impl<'t> Gate<'t> {
    /// The gate of one load: a config chosen as `origin` at `config`.
    pub(crate) fn new(trust: &'t Trust, config: &Path, origin: Origin) -> Gate<'t> {
        let vouched = match origin {
            Origin::Discovered => None,
            Origin::Named => std::fs::canonicalize(config)
                .ok()
                .and_then(|real| real.parent().map(Path::to_path_buf)),
        };
        Gate { trust, vouched }
    }

    /// Opens `path` without blocking, checks that it is a regular file and what is in doubt about
    /// it, and reads at most `limit` bytes of it.
    pub(crate) fn read(&self, path: &Path, limit: u64) -> Result<Checked, Unreadable> {
        // A first look by path refuses a FIFO or a device without even opening it; the look
        // through the opened descriptor below is the one that counts.
        let looked = std::fs::metadata(path)?;
        if !looked.file_type().is_file() {
            return Err(Unreadable::NotAFile(kind(&looked)));
        }
        let file = File::options()
            .read(true)
            .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32)
            .open(path)?;
        let opened = file.metadata()?;
        if !opened.file_type().is_file() {
            return Err(Unreadable::NotAFile(kind(&opened)));
        }
        let real = std::fs::canonicalize(path)?;
        let verdict = self.verdict(path, &real, &opened)?;
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(Unreadable::TooLarge(limit));
        }
        Ok(Checked {
            bytes,
            real,
            verdict,
        })
    }

    fn verdict(&self, path: &Path, real: &Path, opened: &Metadata) -> io::Result<Verdict> {
        if self.trust.listed(real) {
            return Ok(Verdict::Trusted);
        }
        let doubts = self.trust.doubts(path, real, opened)?;
        if doubts.is_empty() {
            return Ok(Verdict::Trusted);
        }
        match &self.vouched {
            Some(dir) if real.starts_with(dir) => Ok(Verdict::Vouched(doubts)),
            _ => Ok(Verdict::Refused(doubts)),
        }
    }
}

impl Gate<'_> {
    /// The error for a discovered config file in doubt. `path` is where it was found.
    pub(crate) fn refused_config(&self, path: &Path, real: &Path, doubts: &[Doubt]) -> Diagnostic {
        let mut diagnostic = Diagnostic::unlocated(format!(
            "refusing to use {}: {}",
            path.display(),
            self.first(doubts)
        ));
        for doubt in doubts.iter().skip(1) {
            diagnostic = diagnostic.with_note(format!("also, {}", self.trust.describe(doubt)));
        }
        diagnostic
            .with_note(
                "wrangle runs a config file it finds by itself only if no one but you or root \
                 could have written it: another user's file would run their commands as you",
            )
            .with_help(format!(
                "if you trust it, name it: wrangle up -f {}",
                path.display()
            ))
            .with_help(format!("or {}", self.trust_hint(real)))
    }

    /// The error for a `wrangle.local.toml` in doubt: it is laid over the config, so it runs
    /// commands as much as the config does.
    pub(crate) fn refused_local(&self, path: &Path, real: &Path, doubts: &[Doubt]) -> Diagnostic {
        let mut diagnostic = Diagnostic::unlocated(format!(
            "refusing to use {}: {}",
            path.display(),
            self.first(doubts)
        ));
        for doubt in doubts.iter().skip(1) {
            diagnostic = diagnostic.with_note(format!("also, {}", self.trust.describe(doubt)));
        }
        diagnostic
            .with_note(
                "it is laid over the config, so another user's file would run their commands \
                 as you",
            )
            .with_help(format!("if you trust it, {}", self.trust_hint(real)))
    }

    /// The warning for a config named with `-f` that is in doubt.
    /// A warning: an optional file (a `.gitignore` for `watch`) is not used, and why.
    pub(crate) fn skipped_file(&self, path: &Path, doubts: &[Doubt]) -> Diagnostic {
        Diagnostic::unlocated(format!(
            "not using {}: {}",
            path.display(),
            self.first(doubts)
        ))
    }

    pub(crate) fn vouched_config(&self, path: &Path, doubts: &[Doubt]) -> Diagnostic {
        let mut diagnostic = Diagnostic::unlocated(format!(
            "using {} although {}",
            path.display(),
            self.first(doubts)
        ));
        for doubt in doubts.iter().skip(1) {
            diagnostic = diagnostic.with_note(format!("also, {}", self.trust.describe(doubt)));
        }
        diagnostic
            .with_note(
                "it was named with -f, which trusts it and the env files under its directory; \
                 wrangle would not use it if it found it by itself",
            )
            .into_warning()
    }

    /// The error for a file the config names (`role`) in doubt, at `span` (the value naming it)
    /// of `file`.
    pub(crate) fn refused_file(
        &self,
        role: NamedFile,
        file: &std::sync::Arc<SourceFile>,
        span: std::ops::Range<usize>,
        path: &Path,
        real: &Path,
        doubts: &[Doubt],
    ) -> Diagnostic {
        let mut diagnostic = Diagnostic::at(
            file,
            span,
            format!(
                "refusing to read {} {}: {}",
                role.noun(),
                path.display(),
                self.first(doubts)
            ),
            "another user could have written this file",
        );
        for doubt in doubts.iter().skip(1) {
            diagnostic = diagnostic.with_note(format!("also, {}", self.trust.describe(doubt)));
        }
        diagnostic
            .with_note(role.why_it_matters())
            .with_help(format!("if you trust it, {}", self.trust_hint(real)))
    }

    /// The warning for a file the config names (`role`) in doubt under the directory of a
    /// config named with `-f`.
    pub(crate) fn vouched_file(
        &self,
        role: NamedFile,
        file: &std::sync::Arc<SourceFile>,
        span: std::ops::Range<usize>,
        path: &Path,
        doubts: &[Doubt],
    ) -> Diagnostic {
        Diagnostic::at(
            file,
            span,
            format!(
                "using {} {} although {}",
                role.noun(),
                path.display(),
                self.first(doubts)
            ),
            "trusted: under the directory of the config named with -f",
        )
        .into_warning()
    }

    fn first(&self, doubts: &[Doubt]) -> String {
        doubts
            .first()
            .map(|doubt| self.trust.describe(doubt))
            .unwrap_or_default()
    }

    /// How to trust a file's directory.
    fn trust_hint(&self, real: &Path) -> String {
        format!(
            "trust its directory: {TRUSTED_DIRS_VAR}={} (directories separated by ':', or '*' \
             for every directory)",
            directory_of(real).display()
        )
    }
}

/// What a file that is not a regular file is, for messages.
fn kind(metadata: &Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// `4 MiB`, `1 MiB`: the limits are whole mebibytes.
fn format_limit(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

/// The directory to suggest trusting for a file: its own.
fn directory_of(real: &Path) -> &Path {
    real.parent().unwrap_or(Path::new("/"))
}
