//! Boot (`startup`, `unstartup`) and `save`/`resurrect`: the unit checked field by field and by
//! `systemd-analyze verify`, installed into and removed from a unit directory of the test's own
//! (`WRANGLE_SYSTEMD_DIR`: systemd does not run here), the daemon's `READY=1` and `STOPPING=1` on
//! a real `NOTIFY_SOCKET` the test binds, and two real projects saved, stopped and brought back.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    DaemonGuard, Finished, Project, WAIT, daemon_process, wait_states, wait_until,
};

const EXE: &str = env!("CARGO_BIN_EXE_wrangle");

/// The unit's lines as `(section, key, value)`, comments and blank lines left out.
fn unit_fields(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut fields = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            section = name.to_string();
            continue;
        }
        let (key, value) = line.split_once('=').expect("KEY=VALUE");
        fields.push((section.clone(), key.to_string(), value.to_string()));
    }
    fields
}

fn field<'f>(fields: &'f [(String, String, String)], section: &str, key: &str) -> Vec<&'f str> {
    fields
        .iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, value)| value.as_str())
        .collect()
}

#[test]
fn startup_print_writes_the_unit_field_by_field_and_changes_nothing() {
    let project = Project::new("[services.web]\ncommand = [\"sleep\", \"1000\"]\n");
    let config = project.path("wrangle.toml").display().to_string();
    let root = project.root().display().to_string();
    let printed = project.run(&["startup", "--print", "--user"]);
    assert_eq!(printed.code, 0, "{printed:#?}");
    assert!(
        printed
            .stdout
            .starts_with("# Written by `wrangle startup`\n"),
        "{}",
        printed.stdout
    );
    let fields = unit_fields(&printed.stdout);
    let expected = [
        (
            "Unit",
            "Description",
            format!("wrangle: the project {config}"),
        ),
        ("Service", "Type", "notify".to_string()),
        ("Service", "NotifyAccess", "all".to_string()),
        ("Service", "ExecStart", format!("{EXE} up -d -f {config}")),
        ("Service", "ExecStop", format!("{EXE} down -f {config}")),
        ("Service", "Restart", "on-failure".to_string()),
        ("Service", "RestartSec", "5s".to_string()),
        ("Service", "TimeoutStartSec", "infinity".to_string()),
        ("Service", "KillMode", "mixed".to_string()),
        ("Service", "TimeoutStopSec", "5min".to_string()),
        ("Service", "WorkingDirectory", root.clone()),
        ("Install", "WantedBy", "default.target".to_string()),
    ];
    for (section, key, value) in &expected {
        assert_eq!(
            field(&fields, section, key),
            [value.as_str()],
            "[{section}] {key} in\n{}",
            printed.stdout
        );
    }
    // The state directories the test's commands use, so `ps` finds the daemon the unit starts.
    assert_eq!(
        field(&fields, "Service", "Environment"),
        [
            format!("\"WRANGLE_HOME={}/home\"", root),
            format!("\"XDG_STATE_HOME={}/state\"", root),
        ]
    );
    // Nothing else: a user unit runs as its user, and needs no network target.
    let keys: Vec<(&str, &str)> = fields
        .iter()
        .map(|(section, key, _)| (section.as_str(), key.as_str()))
        .collect();
    let mut wanted: Vec<(&str, &str)> = expected
        .iter()
        .map(|(section, key, _)| (*section, *key))
        .collect();
    wanted.push(("Service", "Environment"));
    let extra: Vec<_> = keys
        .iter()
        .filter(|key| !wanted.contains(key))
        .filter(|(_, key)| *key != "Environment")
        .collect();
    assert!(
        extra.is_empty(),
        "unexpected {extra:?} in\n{}",
        printed.stdout
    );

    // A system unit: as the user --as names, after the network.
    let system = project.run(&["startup", "--print", "--system", "--as", "root"]);
    assert_eq!(system.code, 0, "{system:#?}");
    let fields = unit_fields(&system.stdout);
    assert_eq!(field(&fields, "Service", "User"), ["root"]);
    assert_eq!(field(&fields, "Unit", "After"), ["network-online.target"]);
    assert_eq!(field(&fields, "Unit", "Wants"), ["network-online.target"]);
    assert_eq!(field(&fields, "Install", "WantedBy"), ["multi-user.target"]);

    // The saved projects' unit runs resurrect once, and stops them all.
    let saved = project.run(&["startup", "--print", "--user", "--saved"]);
    assert_eq!(saved.code, 0, "{saved:#?}");
    let fields = unit_fields(&saved.stdout);
    assert_eq!(field(&fields, "Service", "Type"), ["oneshot"]);
    assert_eq!(field(&fields, "Service", "RemainAfterExit"), ["yes"]);
    assert_eq!(
        field(&fields, "Service", "ExecStart"),
        [format!("{EXE} resurrect")]
    );
    assert_eq!(
        field(&fields, "Service", "ExecStop"),
        [format!("{EXE} down --saved")]
    );

    // --as needs a user that exists.
    let unknown = project.run(&["startup", "--print", "--system", "--as", "no-such-user-x"]);
    assert_eq!(unknown.code, 2, "{unknown:#?}");
    assert!(unknown.stderr.contains("no such user"), "{unknown:#?}");
}

fn systemd_analyze_verify(unit: &Path) {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped the verification: systemd-analyze is not installed");
        return;
    }
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify {}: {stderr}",
        unit.display()
    );
}

fn in_unit_dir(project: &Project, dir: &Path, args: &[&str]) -> Finished {
    let mut command = project.command(args);
    command.env("WRANGLE_SYSTEMD_DIR", dir);
    project.run_command_unswept(command)
}

#[test]
fn startup_installs_a_unit_systemd_accepts_and_unstartup_removes_only_its_own() {
    let project = Project::new("[services.web]\ncommand = [\"sleep\", \"1000\"]\n");
    let units = project.root().join("units");
    let printed = project.run(&["startup", "--print", "--user"]);
    let installed = in_unit_dir(&project, &units, &["startup", "--user"]);
    assert_eq!(installed.code, 0, "{installed:#?}");
    assert!(
        installed.stdout.contains("loginctl enable-linger"),
        "{installed:#?}"
    );
    let files: Vec<PathBuf> = fs::read_dir(&units)
        .expect("the unit directory")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let unit = &files[0];
    let name = unit
        .file_name()
        .expect("a test step")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("wrangle-") && name.ends_with(".service"),
        "{name}"
    );
    assert_eq!(
        fs::read_to_string(unit).expect("a test step"),
        printed.stdout
    );
    systemd_analyze_verify(unit);

    // Installing again replaces it; removing it leaves the directory empty.
    let again = in_unit_dir(&project, &units, &["startup", "--user"]);
    assert_eq!(again.code, 0, "{again:#?}");
    let removed = in_unit_dir(&project, &units, &["unstartup", "--user"]);
    assert_eq!(removed.code, 0, "{removed:#?}");
    assert!(!unit.exists());
    let nothing = in_unit_dir(&project, &units, &["unstartup", "--user"]);
    assert_eq!(nothing.code, 0, "{nothing:#?}");
    assert!(nothing.stdout.contains("no unit"), "{nothing:#?}");

    // A file of that name that wrangle did not write is neither replaced nor removed.
    fs::write(unit, "[Service]\nExecStart=/bin/true\n").expect("a test step");
    let refused = in_unit_dir(&project, &units, &["startup", "--user"]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(refused.stderr.contains("left alone"), "{refused:#?}");
    let refused = in_unit_dir(&project, &units, &["unstartup", "--user"]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert_eq!(
        fs::read_to_string(unit).expect("a test step"),
        "[Service]\nExecStart=/bin/true\n"
    );
}

#[test]
fn startup_without_systemd_says_what_to_do_instead() {
    if Path::new("/run/systemd/system").exists() {
        eprintln!("skipped: systemd runs on this machine");
        return;
    }
    let project = Project::new("[services.web]\ncommand = [\"sleep\", \"1000\"]\n");
    let refused = project.run(&["startup"]);
    assert_eq!(refused.code, 4, "{refused:#?}");
    assert!(
        refused.stderr.contains("systemd is not running here"),
        "{refused:#?}"
    );
    assert!(
        refused.stderr.contains("wrangle startup --print"),
        "{refused:#?}"
    );
}

/// Receives one datagram within `timeout`, or `None`.
fn receive(socket: &UnixDatagram, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("a test step");
        match socket.recv(&mut buffer) {
            Ok(read) => return Some(String::from_utf8_lossy(&buffer[..read]).into_owned()),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(error) => panic!("recv: {error}"),
        }
    }
}

#[test]
fn the_daemon_says_ready_to_its_notify_socket_only_once_every_service_is_ready() {
    let project = Project::new(
        r#"
[services.web]
command = ["sleep", "1000"]
ready = { exec = ["test", "-e", "ready-flag"], interval = "100ms", timeout = "60s" }

[services.worker]
command = ["sleep", "1000"]
"#,
    );
    let _guard = DaemonGuard::new(&project);
    let socket_path = project.root().join("manager.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    let mut command = project.command(&["up", "-d"]);
    command.env("NOTIFY_SOCKET", &socket_path);
    let mut up = project.spawn_command(command);

    // Started, not ready: nothing said yet.
    assert!(
        wait_until(WAIT, || project.run(&["ps"]).code == 0),
        "the daemon never answered: {}",
        up.transcript()
    );
    wait_states(&project, &[("web", "starting"), ("worker", "running")]);
    socket.set_nonblocking(true).expect("a test step");
    let mut buffer = [0u8; 4096];
    let early = socket.recv(&mut buffer);
    assert!(
        matches!(&early, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "a notification before web was ready: {early:?}"
    );
    socket.set_nonblocking(false).expect("a test step");

    fs::write(project.root().join("ready-flag"), "").expect("a test step");
    let ready = receive(&socket, WAIT).expect("READY=1 within the wait");
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
    let lines: Vec<&str> = ready.lines().collect();
    assert_eq!(lines[0], "READY=1", "{ready:?}");
    let daemon_pid = daemon_process(&project).expect("the daemon runs");
    let sentinel = crate::support::sentinel_of(daemon_pid).expect("its sentinel");
    assert_eq!(lines[1], format!("MAINPID={sentinel}"), "{ready:?}");
    assert!(lines[2].starts_with("STATUS="), "{ready:?}");
    // Once only.
    assert_eq!(receive(&socket, Duration::from_millis(200)), None);

    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    let stopping = receive(&socket, WAIT).expect("STOPPING=1 within the wait");
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping:?}");
}

/// `wrangle ARGS` in `project` with the wrangle home `home` (shared by the projects of a test).
fn run_with_home(project: &Project, home: &Path, args: &[&str]) -> Finished {
    let mut command = project.command(args);
    command.env("WRANGLE_HOME", home);
    project.run_command_unswept(command)
}

fn states_with_home(project: &Project, home: &Path) -> Option<String> {
    let status = run_with_home(project, home, &["ps", "--json"]);
    (status.code == 0).then_some(status.stdout)
}

#[test]
fn save_records_the_running_projects_and_resurrect_brings_each_back() {
    let first = Project::new("[services.one]\ncommand = [\"sleep\", \"1000\"]\n");
    let second = Project::new("[services.two]\ncommand = [\"sleep\", \"1000\"]\n");
    let home = first.root().join("shared-home");
    // Stops whatever still runs, under the shared home, however the test ends.
    struct Stop<'a>(&'a Project, &'a Project, &'a Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            for project in [self.0, self.1] {
                let _ = run_with_home(project, self.2, &["down"]);
            }
        }
    }
    let _stop = Stop(&first, &second, &home);
    for project in [&first, &second] {
        let up = run_with_home(project, &home, &["up", "-d"]);
        assert_eq!(up.code, 0, "{up:#?}");
    }

    let saved = run_with_home(&first, &home, &["save"]);
    assert_eq!(saved.code, 0, "{saved:#?}");
    let record = home.join("saved.json");
    let mode = fs::metadata(&record)
        .expect("a test step")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&record).expect("a test step");
    for project in [&first, &second] {
        let config = project.path("wrangle.toml").display().to_string();
        assert!(text.contains(&config), "{config} not in {text}");
        assert!(
            saved.stdout.contains(&format!("saved {config}")),
            "{saved:#?}"
        );
    }

    // Both stopped (as a reboot would), then both brought back.
    let down = run_with_home(&first, &home, &["down", "--saved"]);
    assert_eq!(down.code, 0, "{down:#?}");
    for project in [&first, &second] {
        assert_eq!(states_with_home(project, &home), None, "still running");
    }
    let back = run_with_home(&second, &home, &["resurrect"]);
    assert_eq!(back.code, 0, "{back:#?}");
    assert!(
        back.stdout.contains("resurrected 2 of 2 project(s)"),
        "{back:#?}"
    );
    for (project, service) in [(&first, "one"), (&second, "two")] {
        let status = states_with_home(project, &home).expect("running again");
        assert!(status.contains(&format!("\"{service}\"")), "{status}");
    }
    // Again: both already run, which is no failure.
    let again = run_with_home(&first, &home, &["resurrect"]);
    assert_eq!(again.code, 0, "{again:#?}");
    assert_eq!(
        again.stdout.matches("already running").count(),
        2,
        "{again:#?}"
    );

    // One project that cannot start any more: the other still comes back, the exit says so.
    let down = run_with_home(&first, &home, &["down", "--saved"]);
    assert_eq!(down.code, 0, "{down:#?}");
    second.write("wrangle.toml", "[services.two]\ncommand = 5\n");
    let partial = run_with_home(&first, &home, &["resurrect"]);
    assert_eq!(partial.code, 1, "{partial:#?}");
    assert!(
        partial.stdout.contains("resurrected 1 of 2 project(s)"),
        "{partial:#?}"
    );
    assert!(
        partial.stderr.contains(&format!(
            "{} did not come up (exit code 2)",
            second.path("wrangle.toml").display()
        )),
        "{partial:#?}"
    );
    assert!(states_with_home(&first, &home).is_some());

    // A record another user could have written is refused.
    fs::set_permissions(&record, fs::Permissions::from_mode(0o644)).expect("a test step");
    let refused = run_with_home(&first, &home, &["resurrect"]);
    assert_eq!(refused.code, 2, "{refused:#?}");
    assert!(
        refused.stderr.contains("accessible to group or others"),
        "{refused:#?}"
    );
}
