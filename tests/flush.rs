//! `wrangle flush`: services' log files emptied through the daemon (rotated files too, later
//! output still written, read back and followed), and without one; a symlink planted among the
//! files is removed as a link, never followed.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use serde_json::Value;

use crate::support::{Daemon, DaemonGuard, Project, WAIT, normalize, project_dir, wait_until};

/// `chatty` prints 4 KiB lines fast enough to rotate its 4 KiB files; `quiet` prints one line.
const CONFIG: &str = r#"
[logs]
max_file_size = "4KiB"
keep_files = 3

[services.chatty]
command = ["sh", "-c", "i=0; while [ $i -lt 12 ]; do i=$((i+1)); printf 'before %04d %04000d\n' $i 0; done; exec sleep 300"]

[services.quiet]
command = ["sh", "-c", "echo quiet line; exec sleep 300"]
"#;

fn log_dir(project: &Project) -> PathBuf {
    project_dir(project).join("logs")
}

/// The names in the log directory that belong to `service`, indexes included, sorted.
fn files_of(project: &Project, service: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(log_dir(project))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!("{service}.log")))
        .collect();
    names.sort();
    names
}

#[test]
fn flush_empties_a_services_logs_through_the_daemon_and_later_output_is_kept() {
    let project = Project::new(CONFIG);
    let _daemon = Daemon::start(&project, &[]);
    // Rotated files exist for `chatty`, `quiet`'s line is written.
    assert!(
        wait_until(WAIT, || files_of(&project, "chatty")
            .iter()
            .any(|name| name == "chatty.log.3")
            && fs::read_to_string(log_dir(&project).join("quiet.log"))
                .is_ok_and(|text| text.contains("quiet line"))),
        "no rotation: {:?}",
        files_of(&project, "chatty")
    );

    let flush = project.run(&["flush", "chatty", "--json"]);
    assert_eq!(flush.code, 0, "{flush:#?}");
    let report: Value = serde_json::from_str(&flush.stdout).expect("JSON");
    let services = report["services"].as_array().expect("services");
    assert_eq!(services.len(), 1, "{report}");
    assert_eq!(services[0]["name"], "chatty");
    assert_eq!(services[0]["files"], 4, "{report}");
    assert!(
        services[0]["bytes"].as_u64().expect("bytes") >= 4 * 4000,
        "{report}"
    );
    assert_eq!(services[0]["error"], Value::Null);

    // Only a fresh empty file and its index are left; `quiet` is untouched.
    assert_eq!(
        files_of(&project, "chatty"),
        ["chatty.log", "chatty.log.idx"]
    );
    assert_eq!(
        fs::metadata(log_dir(&project).join("chatty.log"))
            .expect("file")
            .len(),
        0
    );
    let logs = project.run(&["logs", "chatty"]);
    assert_eq!(logs.code, 0, "{logs:#?}");
    assert!(!logs.stdout.contains("before"), "{logs:#?}");
    let logs = project.run(&["logs", "quiet"]);
    assert!(
        logs.stdout
            .lines()
            .any(|line| normalize(line) == "quiet | quiet line"),
        "{logs:#?}"
    );

    // A follower of `quiet` across a flush of every service (reported in words): told of no
    // skip, and given the output printed after it.
    let follower = project.spawn(&["logs", "-f", "quiet"]);
    let first = follower
        .wait_line(0, WAIT, |line| normalize(line) == "quiet | quiet line")
        .unwrap_or_else(|| panic!("{}", follower.transcript()));
    let flush = project.run(&["flush"]);
    assert_eq!(flush.code, 0, "{flush:#?}");
    assert!(flush.stdout.contains("chatty: emptied"), "{flush:#?}");
    assert!(
        flush.stdout.contains("quiet: emptied its log file ("),
        "{flush:#?}"
    );
    assert!(
        !project
            .run(&["logs", "quiet"])
            .stdout
            .contains("quiet line")
    );
    let restart = project.run(&["restart", "quiet"]);
    assert_eq!(restart.code, 0, "{restart:#?}");
    assert!(
        follower
            .wait_line(first + 1, WAIT, |line| normalize(line)
                == "quiet | quiet line")
            .is_some(),
        "{}",
        follower.transcript()
    );
    assert!(
        !follower.stdout_text().contains("skipped"),
        "{}",
        follower.transcript()
    );
    drop(follower);
    let logs = project.run(&["logs", "quiet"]);
    assert_eq!(
        logs.stdout
            .lines()
            .filter(|line| normalize(line) == "quiet | quiet line")
            .count(),
        1,
        "{logs:#?}"
    );

    // An unknown service is a usage error, and nothing is flushed.
    let flush = project.run(&["flush", "nope"]);
    assert_eq!(flush.code, 2, "{flush:#?}");
    assert!(
        flush.stderr.contains("no service named \"nope\""),
        "{flush:#?}"
    );
}

#[test]
fn flush_without_a_daemon_empties_the_files_and_removes_a_planted_symlink_as_a_link() {
    let project = Project::new(CONFIG);
    {
        let _daemon = Daemon::start(&project, &[]);
        assert!(
            wait_until(WAIT, || files_of(&project, "chatty")
                .iter()
                .any(|name| name == "chatty.log.3")),
            "no rotation: {:?}",
            files_of(&project, "chatty")
        );
    }
    // No daemon now. A file outside that must survive, and a symlink to it planted where a
    // rotated file goes.
    let outside = tempfile::tempdir().expect("tempdir");
    let precious = outside.path().join("precious");
    fs::write(&precious, "keep me").expect("write");
    fs::remove_file(log_dir(&project).join("chatty.log.3")).expect("remove");
    symlink(&precious, log_dir(&project).join("chatty.log.3")).expect("symlink");

    let _guard = DaemonGuard::new(&project);
    let flush = project.run(&["flush", "chatty"]);
    assert_eq!(flush.code, 0, "{flush:#?}");
    assert!(flush.stdout.contains("chatty: emptied"), "{flush:#?}");
    assert_eq!(
        files_of(&project, "chatty"),
        ["chatty.log", "chatty.log.idx"]
    );
    assert_eq!(fs::read_to_string(&precious).expect("kept"), "keep me");
    // `quiet` was not named: its line is still there, and the lock was released.
    assert!(
        fs::read_to_string(log_dir(&project).join("quiet.log"))
            .expect("quiet.log")
            .contains("quiet line")
    );
    let flush = project.run(&["flush", "quiet"]);
    assert_eq!(flush.code, 0, "{flush:#?}");
    assert!(
        flush.stdout.contains("quiet: emptied its log file"),
        "{flush:#?}"
    );
}
