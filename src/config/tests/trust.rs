//! The trust rule (`config::trust`): which config files and env files wrangle refuses, warns
//! about or reads, with real files, modes, owners and links.
//!
//! Files of another user are made with `chown` to uid 65534, which needs root: those tests say
//! so and return early otherwise (CI runs as root). The rest play "another user" by giving the
//! loader a `Trust` whose primary group is not the files' group.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown, lchown, symlink};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

use super::{me, write};
use crate::config::{ConfigError, Loaded, Origin, Trust, load};

const OTHER_UID: u32 = 65534;

const CONFIG: &str = "[services.a]\ncommand = \"x\"\n";

fn is_root(test: &str) -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("{test}: skipped: making a file of another user needs root (CI runs as root)");
    }
    root
}

fn mkdir(path: &Path, mode: u32) -> PathBuf {
    fs::create_dir_all(path).expect("mkdir");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    path.to_path_buf()
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn give_away(path: &Path) {
    chown(path, Some(OTHER_UID), Some(OTHER_UID)).expect("chown");
}

/// The error of loading `path`, which must fail.
fn refused(path: &Path, origin: Origin, trust: &Trust) -> ConfigError {
    match load(path, origin, trust) {
        Ok(loaded) => panic!("{} was not refused: {:?}", path.display(), loaded.warnings),
        Err(error) => error,
    }
}

fn loaded(path: &Path, origin: Origin, trust: &Trust) -> Loaded {
    load(path, origin, trust).unwrap_or_else(|error| panic!("{error}"))
}

fn assert_contains(text: &str, fragment: &str) {
    assert!(text.contains(fragment), "expected {fragment:?} in:\n{text}");
}

#[test]
fn another_users_discovered_config_is_refused_and_a_named_one_warns() {
    if !is_root("another user's config") {
        return;
    }
    let dir = TempDir::new().expect("tempdir");
    let path = write(dir.path(), "wrangle.toml", CONFIG);
    give_away(&path);
    let rendered = refused(&path, Origin::Discovered, &me()).render(false);
    assert_contains(
        &rendered,
        &format!(
            "error: refusing to use {}: it is owned by uid {OTHER_UID}",
            path.display()
        ),
    );
    assert_contains(&rendered, &format!("wrangle up -f {}", path.display()));
    let real_dir = fs::canonicalize(dir.path()).expect("canonicalize");
    assert_contains(
        &rendered,
        &format!("WRANGLE_TRUSTED_DIRS={}", real_dir.display()),
    );

    let named = loaded(&path, Origin::Named, &me());
    assert_eq!(named.spec.services.len(), 1);
    assert_eq!(named.warnings.len(), 1, "{:?}", named.warnings);
    assert!(named.warnings[0].is_warning());
    assert_contains(
        &named.warnings[0].render(false),
        &format!(
            "warning: using {} although it is owned by uid {OTHER_UID}",
            path.display()
        ),
    );

    // Users are named when the caller can name them.
    let named_users = me().with_user_names(|uid| match uid {
        OTHER_UID => "nobody".to_string(),
        uid => uid.to_string(),
    });
    let rendered = refused(&path, Origin::Discovered, &named_users).render(false);
    assert_contains(&rendered, "it is owned by nobody (uid 65534)");
}

#[test]
fn roots_files_are_trusted_by_everyone() {
    if !is_root("root's files") {
        return;
    }
    let dir = TempDir::new().expect("tempdir");
    let path = write(dir.path(), "wrangle.toml", CONFIG);
    let someone = Trust::new(1000, 1000);
    let loaded = loaded(&path, Origin::Discovered, &someone);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn directories_others_can_write_need_the_sticky_bit() {
    let dir = TempDir::new().expect("tempdir");
    let open = mkdir(&dir.path().join("open"), 0o777);
    let path = write(&open, "wrangle.toml", CONFIG);
    let rendered = refused(&path, Origin::Discovered, &me()).render(false);
    let real_open = fs::canonicalize(&open).expect("canonicalize");
    assert_contains(
        &rendered,
        &format!(
            "others can write to the directory {} (mode 0777, no sticky bit)",
            real_open.display()
        ),
    );
    // Like /tmp: others may add names, not replace ours.
    chmod(&open, 0o1777);
    loaded(&path, Origin::Discovered, &me());
    // A directory further up counts too.
    chmod(&open, 0o755);
    chmod(dir.path(), 0o777);
    let rendered = refused(&path, Origin::Discovered, &me()).render(false);
    assert_contains(&rendered, "others can write to the directory");
}

#[test]
fn group_write_counts_unless_the_group_is_your_primary_group() {
    let dir = TempDir::new().expect("tempdir");
    let shared = mkdir(&dir.path().join("shared"), 0o775);
    let path = write(&shared, "wrangle.toml", CONFIG);
    let me = me();
    // The directory's group is ours (a user private group): fine.
    loaded(&path, Origin::Discovered, &me);
    // The same directory seen by a user whose primary group is another one: its group's members
    // are others.
    let group = fs::metadata(&shared)
        .map(|meta| std::os::unix::fs::MetadataExt::gid(&meta))
        .expect("stat");
    let other_group = Trust::new(rustix::process::geteuid().as_raw(), group.wrapping_add(1));
    let rendered = refused(&path, Origin::Discovered, &other_group).render(false);
    assert_contains(
        &rendered,
        &format!("the members of group {group} can write to the directory"),
    );
}

#[test]
fn a_config_others_can_write_is_refused() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(dir.path(), "wrangle.toml", CONFIG);
    chmod(&path, 0o666);
    let rendered = refused(&path, Origin::Discovered, &me()).render(false);
    assert_contains(&rendered, "others can write to it (mode 0666)");
}

#[test]
fn symbolic_links_are_checked_at_both_ends() {
    if !is_root("symbolic links") {
        return;
    }
    let dir = TempDir::new().expect("tempdir");
    let ours = write(dir.path(), "ours.toml", CONFIG);
    // Our file through another user's link.
    let link = dir.path().join("wrangle.toml");
    symlink(&ours, &link).expect("symlink");
    lchown(&link, Some(OTHER_UID), Some(OTHER_UID)).expect("lchown");
    let rendered = refused(&link, Origin::Discovered, &me()).render(false);
    assert_contains(
        &rendered,
        &format!("it was found through the symbolic link {}", link.display()),
    );
    // Another user's file through our link.
    let theirs = write(dir.path(), "theirs.toml", CONFIG);
    give_away(&theirs);
    let link = dir.path().join("Procfile.x");
    symlink(&theirs, &link).expect("symlink");
    let rendered = refused(&link, Origin::Discovered, &me()).render(false);
    assert_contains(&rendered, &format!("it is owned by uid {OTHER_UID}"));
    // Our file through our link: fine.
    let link = dir.path().join("fine.toml");
    symlink(&ours, &link).expect("symlink");
    loaded(&link, Origin::Discovered, &me());
}

#[test]
fn a_directory_above_owned_by_another_user_is_refused() {
    if !is_root("directory owner") {
        return;
    }
    let dir = TempDir::new().expect("tempdir");
    let theirs = mkdir(&dir.path().join("theirs"), 0o755);
    let mine = mkdir(&theirs.join("mine"), 0o755);
    let path = write(&mine, "wrangle.toml", CONFIG);
    give_away(&theirs);
    let rendered = refused(&path, Origin::Discovered, &me()).render(false);
    let real = fs::canonicalize(&theirs).expect("canonicalize");
    assert_contains(
        &rendered,
        &format!(
            "the directory {} is owned by uid {OTHER_UID}",
            real.display()
        ),
    );
}

#[test]
fn a_hard_link_in_a_directory_others_can_add_to_is_refused() {
    // Someone may have linked a file of ours, or root's, into a shared directory such as /tmp.
    let dir = TempDir::new().expect("tempdir");
    let ours = write(dir.path(), "ours.toml", CONFIG);
    let shared = mkdir(&dir.path().join("shared"), 0o1777);
    let linked = shared.join("wrangle.toml");
    fs::hard_link(&ours, &linked).expect("link");
    let rendered = refused(&linked, Origin::Discovered, &me()).render(false);
    assert_contains(&rendered, "it has 2 hard links and others can add files to");
    // The same link in a private directory is ours to make.
    let private = mkdir(&dir.path().join("private"), 0o755);
    let linked = private.join("wrangle.toml");
    fs::hard_link(&ours, &linked).expect("link");
    loaded(&linked, Origin::Discovered, &me());
}

#[test]
fn trusted_dirs_take_whatever_is_below_them() {
    let dir = TempDir::new().expect("tempdir");
    let open = mkdir(&dir.path().join("open"), 0o777);
    let path = write(&open, "wrangle.toml", CONFIG);
    refused(&path, Origin::Discovered, &me());

    let listed = format!("/nonexistent::{}", dir.path().display());
    let trust = me()
        .with_trusted_dirs(listed.as_ref())
        .unwrap_or_else(|error| panic!("{error}"));
    let loaded_listed = loaded(&path, Origin::Discovered, &trust);
    assert!(loaded_listed.warnings.is_empty());

    let everything = me()
        .with_trusted_dirs("*".as_ref())
        .unwrap_or_else(|error| panic!("{error}"));
    loaded(&path, Origin::Discovered, &everything);

    // A sibling of a trusted directory is not trusted.
    let sibling = format!("{}-other", dir.path().display());
    let trust = me()
        .with_trusted_dirs(sibling.as_ref())
        .unwrap_or_else(|error| panic!("{error}"));
    refused(&path, Origin::Discovered, &trust);

    let error = me()
        .with_trusted_dirs("relative/dir".as_ref())
        .expect_err("relative");
    assert_contains(
        &error.render(false),
        "WRANGLE_TRUSTED_DIRS lists \"relative/dir\", which is not an absolute path",
    );
}

#[test]
fn env_files_are_refused_unless_under_a_named_configs_directory() {
    let dir = TempDir::new().expect("tempdir");
    let project = mkdir(&dir.path().join("project"), 0o755);
    let inside = mkdir(&project.join("open"), 0o777);
    write(&inside, "inside.env", "A=1\n");
    let outside = mkdir(&dir.path().join("elsewhere"), 0o777);
    write(&outside, "outside.env", "B=2\n");
    // Used by two services through [defaults]: said once.
    let path = write(
        &project,
        "wrangle.toml",
        "[defaults]\nenv_file = \"open/inside.env\"\n\n[services.a]\ncommand = \"x\"\n\n[services.b]\ncommand = \"x\"\n",
    );

    // Found by itself: the env file is refused at its declaration.
    let error = refused(&path, Origin::Discovered, &me());
    assert_eq!(error.diagnostics().len(), 1, "{error}");
    assert_eq!(error.diagnostics()[0].line_column(), Some((2, 12)));
    let rendered = error.render(false);
    assert_contains(
        &rendered,
        &format!(
            "refusing to read env file {}",
            fs::canonicalize(&project)
                .expect("canonicalize")
                .join("open/inside.env")
                .display()
        ),
    );
    assert_contains(&rendered, "help: if you trust it, trust its directory");

    // Named with -f: it is under the config's directory, so it is used with one warning.
    let named = loaded(&path, Origin::Named, &me());
    assert_eq!(named.spec.services[1].env["A"], "1");
    assert_eq!(named.warnings.len(), 1, "{:?}", named.warnings);
    let warning = named.warnings[0].render(false);
    assert_contains(&warning, "warning: using env file");
    assert_contains(
        &warning,
        "trusted: under the directory of the config named with -f",
    );
    assert_eq!(named.warnings[0].line_column(), Some((2, 12)));

    // An env file outside the named config's directory is still refused.
    write(
        &project,
        "wrangle.toml",
        &format!(
            "[services.a]\ncommand = \"x\"\nenv_file = \"{}\"\n",
            outside.join("outside.env").display()
        ),
    );
    let rendered = refused(&path, Origin::Named, &me()).render(false);
    assert_contains(&rendered, "refusing to read env file");
}

/// Runs `load` on another thread and gives up after a while: a loader that blocks (on a FIFO)
/// fails the test instead of hanging it.
fn load_bounded(path: &Path, origin: Origin) -> Result<Loaded, ConfigError> {
    let (sender, receiver) = mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = sender.send(load(&path, origin, &me()));
    });
    receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("loading did not finish within 10s")
}

#[test]
fn only_regular_files_of_bounded_size_are_read_even_when_named() {
    let dir = TempDir::new().expect("tempdir");
    let fifo = dir.path().join("wrangle.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    let error = load_bounded(&fifo, Origin::Named).expect_err("a FIFO");
    assert_contains(&error.render(false), "it is a FIFO, not a regular file");

    let error = load_bounded(Path::new("/dev/zero"), Origin::Named).expect_err("a device");
    assert_contains(
        &error.render(false),
        "cannot read file /dev/zero: it is a character device, not a regular file",
    );
    let error = load_bounded(dir.path(), Origin::Named).expect_err("a directory");
    assert_contains(
        &error.render(false),
        "it is a directory, not a regular file",
    );

    let big = dir.path().join("big.toml");
    let comment = format!("# {}\n", "x".repeat(1021));
    let mut text = String::from(CONFIG);
    text.push_str(&comment.repeat(4 * 1024));
    fs::write(&big, text).expect("write");
    let error = load_bounded(&big, Origin::Named).expect_err("too large");
    assert_contains(&error.render(false), "it is larger than 4 MiB");

    let env_fifo = dir.path().join("pipe.env");
    let made = std::process::Command::new("mkfifo")
        .arg(&env_fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    let path = write(
        dir.path(),
        "fifo.toml",
        "[services.a]\ncommand = \"x\"\nenv_file = \"pipe.env\"\n",
    );
    let error = load_bounded(&path, Origin::Named).expect_err("an env FIFO");
    assert_eq!(error.diagnostics()[0].line_column(), Some((3, 12)));
    assert_contains(&error.render(false), "it is a FIFO, not a regular file");
}
