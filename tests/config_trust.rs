//! Config files and env files another user could have written: a discovered one is refused
//! (exit 2, naming the file, its owner and what to do), `-f` and `WRANGLE_TRUSTED_DIRS` are the
//! ways to say "I trust it", and an env file must be a regular file of at most 1 MiB.
//!
//! Files of another user are made with `chown` to uid 65534 (`nobody`), so those tests need
//! root; they say so and return early otherwise. CI runs as root.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{Finished, Project, WAIT, assert_no_survivors};

/// Another user: `nobody` on most systems.
const OTHER_UID: u32 = 65534;

/// Whether this test can make files of another user; prints why it skips when it cannot.
fn can_chown(test: &str) -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("{test}: skipped: making a file of another user needs root (CI runs as root)");
    }
    root
}

fn mkdir(path: &Path, mode: u32) {
    fs::create_dir_all(path).expect("mkdir");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).expect("write");
}

/// `wrangle ARGS` in `cwd`, run to completion.
fn run_in(project: &Project, cwd: &Path, args: &[&str]) -> Finished {
    let mut command = project.command(args);
    command.current_dir(cwd);
    let mut wrangle = project.spawn_command(command);
    let code = wrangle.wait_exit(WAIT);
    Finished {
        code,
        stdout: wrangle.stdout_text(),
        stderr: wrangle.stderr_text(),
    }
}

/// The planted file's canonical path, as wrangle prints it.
fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path).expect("canonicalize")
}

#[test]
fn a_procfile_another_user_planted_above_the_current_directory_is_refused() {
    if !can_chown("planted procfile") {
        return;
    }
    // A shared directory like /tmp (world-writable, sticky), another user's Procfile in it, and
    // root working in a directory of its own below it.
    let project = Project::empty();
    let shared = project.root().join("shared");
    mkdir(&shared, 0o1777);
    let procfile = shared.join("Procfile");
    let pwned = project.root().join("pwned");
    write(
        &procfile,
        &format!("evil: touch {} && sleep 60\n", pwned.display()),
    );
    chown(&procfile, Some(OTHER_UID), Some(OTHER_UID)).expect("chown");
    let work = shared.join("work");
    mkdir(&work, 0o755);

    let finished = run_in(&project, &work, &["up"]);
    assert_eq!(finished.code, 2, "{finished:#?}");
    assert!(!pwned.exists(), "the planted command ran: {finished:#?}");
    let stderr = &finished.stderr;
    for expected in [
        format!("error: refusing to use {}", canonical(&procfile).display()),
        format!("uid {OTHER_UID})"),
        format!("wrangle up -f {}", canonical(&procfile).display()),
        format!("WRANGLE_TRUSTED_DIRS={}", canonical(&shared).display()),
    ] {
        assert!(
            stderr.contains(&expected),
            "expected {expected:?} in:\n{stderr}"
        );
    }
    assert_eq!(finished.stdout, "", "{finished:#?}");
    assert_no_survivors(&project.mark);
}

#[test]
fn a_config_in_a_directory_others_can_write_is_refused() {
    // Root's own file, but in a directory anyone may rename it out of and replace: nobody else's
    // name is on it, so this one needs no second user.
    let project = Project::empty();
    let open = project.root().join("open");
    mkdir(&open, 0o777);
    let pwned = project.root().join("pwned");
    write(
        &open.join("wrangle.toml"),
        &format!(
            "[services.x]\ncommand = [\"touch\", \"{}\"]\nrestart = \"never\"\n",
            pwned.display()
        ),
    );
    let finished = run_in(&project, &open, &["up"]);
    assert_eq!(finished.code, 2, "{finished:#?}");
    assert!(!pwned.exists(), "{finished:#?}");
    let expected = format!(
        "others can write to the directory {} (mode 0777, no sticky bit)",
        canonical(&open).display()
    );
    assert!(finished.stderr.contains(&expected), "{finished:#?}");
}

#[test]
fn trusted_dirs_and_dash_f_run_another_users_config() {
    if !can_chown("trusted dirs") {
        return;
    }
    let project = Project::empty();
    let theirs = project.root().join("theirs");
    mkdir(&theirs, 0o755);
    let config = theirs.join("wrangle.toml");
    write(
        &config,
        "[services.x]\ncommand = \"echo hello from theirs\"\nrestart = \"never\"\nenv_file = \".env\"\n",
    );
    write(&theirs.join(".env"), "A=1\n");
    for path in [&theirs, &config, &theirs.join(".env")] {
        chown(path, Some(OTHER_UID), Some(OTHER_UID)).expect("chown");
    }
    let refused = run_in(&project, &theirs, &["up"]);
    assert_eq!(refused.code, 2, "{refused:#?}");

    // Named with -f: it runs, and each file in doubt is said once as a warning.
    let config_arg = config.to_str().expect("utf-8 path");
    let named = run_in(&project, &project.root(), &["up", "-f", config_arg]);
    assert!(named.stdout.contains("hello from theirs"), "{named:#?}");
    assert!(
        named.stderr.contains(&format!(
            "warning: using {} although it is owned by",
            canonical(&config).display()
        )),
        "{named:#?}"
    );
    assert!(
        named.stderr.contains("warning: using env file"),
        "{named:#?}"
    );

    // Listed in WRANGLE_TRUSTED_DIRS: it runs, silently.
    let mut command = project.command(&["up"]);
    command.current_dir(&theirs).env(
        "WRANGLE_TRUSTED_DIRS",
        format!("/nonexistent:{}", theirs.display()),
    );
    let mut wrangle = project.spawn_command(command);
    let code = wrangle.wait_exit(WAIT);
    let trusted = Finished {
        code,
        stdout: wrangle.stdout_text(),
        stderr: wrangle.stderr_text(),
    };
    assert!(trusted.stdout.contains("hello from theirs"), "{trusted:#?}");
    assert!(!trusted.stderr.contains("warning"), "{trusted:#?}");
    assert_no_survivors(&project.mark);
}

#[test]
fn an_env_file_of_another_user_is_refused_at_its_declaration() {
    if !can_chown("env file owner") {
        return;
    }
    let project = Project::new("[services.x]\ncommand = \"sleep 60\"\nenv_file = \"other.env\"\n");
    let env_file = project.path("other.env");
    write(&env_file, "LD_PRELOAD=/tmp/evil.so\n");
    chown(&env_file, Some(OTHER_UID), Some(OTHER_UID)).expect("chown");
    let finished = project.run(&["up"]);
    assert_eq!(finished.code, 2, "{finished:#?}");
    let stderr = &finished.stderr;
    for expected in [
        format!("error: refusing to read env file {}", env_file.display()),
        format!(" --> {}:3:12", project.path("wrangle.toml").display()),
        format!("uid {OTHER_UID})"),
        "WRANGLE_TRUSTED_DIRS=".to_string(),
    ] {
        assert!(
            stderr.contains(&expected),
            "expected {expected:?} in:\n{stderr}"
        );
    }
    assert_eq!(finished.stdout, "", "{finished:#?}");
}

#[test]
fn an_env_file_that_is_a_fifo_is_refused_without_waiting_for_a_writer() {
    let project = Project::new("[services.x]\ncommand = \"sleep 60\"\nenv_file = \"pipe.env\"\n");
    let fifo = project.path("pipe.env");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    // Nobody ever opens the FIFO for writing: an open for reading would wait forever.
    let finished = project.run(&["up"]);
    assert_eq!(finished.code, 2, "{finished:#?}");
    assert!(
        finished.stderr.contains("it is a FIFO, not a regular file"),
        "{finished:#?}"
    );
    assert!(
        finished
            .stderr
            .contains(&format!("{}:3:12", project.path("wrangle.toml").display())),
        "{finished:#?}"
    );
}

#[test]
fn an_env_file_that_never_ends_or_is_too_large_is_refused() {
    // /dev/zero as an env file made `up` grow to 10 GB. Under a 1 GiB address-space limit the
    // old reader died of it; now it is refused before anything is read.
    let project = Project::new("[services.x]\ncommand = \"sleep 60\"\nenv_file = \"/dev/zero\"\n");
    let base = project.command(&["up"]);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$@\"")
        .arg("sh")
        .arg(base.get_program())
        .args(base.get_args())
        .current_dir(project.root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let mut wrangle = project.spawn_command(command);
    let code = wrangle.wait_exit(WAIT);
    let stderr = wrangle.stderr_text();
    assert_eq!(code, 2, "{}", wrangle.transcript());
    assert!(
        stderr.contains("it is a character device, not a regular file"),
        "{stderr}"
    );

    // A regular file just over the limit.
    project.write(
        "wrangle.toml",
        "[services.x]\ncommand = \"sleep 60\"\nenv_file = \"big.env\"\n",
    );
    let line = format!("A={}\n", "x".repeat(1023));
    project.write("big.env", &line.repeat(1025));
    let finished = project.run(&["up"]);
    assert_eq!(finished.code, 2, "{finished:#?}");
    assert!(
        finished.stderr.contains("it is larger than 1 MiB"),
        "{finished:#?}"
    );
}

#[test]
fn up_d_refuses_the_same_way_and_leaves_no_daemon() {
    // The daemon finds the config itself (no -f): a project directory others can write to is
    // refused there too, and `up -d` passes its exit code on.
    let project = Project::new("[services.x]\ncommand = \"sleep 60\"\n");
    fs::set_permissions(project.root(), fs::Permissions::from_mode(0o777)).expect("chmod");
    let output = crate::support::failed_detach(&project, 2);
    assert!(
        output.contains("others can write to the directory"),
        "{output}"
    );
}
