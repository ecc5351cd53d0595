//! Profiles (`[profiles.NAME]`, `--profile`, `WRANGLE_PROFILE`) and `wrangle.local.toml`, laid
//! over `wrangle.toml` for real runs: a profile switching a command and a service on or off, the
//! later profile winning, the local file overlaying last, `ps` naming the active profiles, and
//! mistakes in any of them located in the file that has them (exit 2).

use crate::support::{DaemonGuard, Project, WAIT, assert_no_survivors, status};

const PROJECT: &str = r#"
[services.db]
command = ["sh", "-c", "echo db base; exec sleep 481"]

[services.web]
command = ["sh", "-c", "echo web base $GREETING; exec sleep 482"]
env = { GREETING = "hello", OTHER = "kept" }
depends_on = ["db"]

[services.debugger]
command = ["sh", "-c", "echo debugger on; exec sleep 483"]
enabled = false

[profiles.dev.services.web]
command = ["sh", "-c", "echo web dev $GREETING $OTHER; exec sleep 484"]

[profiles.dev.services.debugger]
enabled = true

[profiles.quiet.services.debugger]
enabled = false
"#;

/// `wrangle down` from a second terminal, and the foreground `up` ends cleanly.
fn stop(project: &Project, up: &mut crate::support::Wrangle) {
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert_eq!(up.wait_exit(WAIT), 0, "{}", up.transcript());
}

#[test]
fn a_profile_switches_a_command_and_a_service_and_the_local_file_overlays_last() {
    let project = Project::new(PROJECT);
    let _guard = DaemonGuard::new(&project);

    // Without a profile: the base commands; the debugger is left out.
    let mut up = project.up(&[]);
    up.expect_line("wrangle * all 2 services up in");
    up.expect_line("web | web base hello");
    let json = status(&project);
    assert_eq!(json["profiles"], serde_json::json!([]), "{json:#}");
    assert_eq!(
        json["services"].as_array().map(Vec::len),
        Some(2),
        "{json:#}"
    );
    stop(&project, &mut up);

    // `--profile dev`: web's command switched (its env kept), the debugger switched on; `ps`
    // names the profile.
    let mut up = project.up(&["--profile", "dev"]);
    up.expect_line("wrangle * all 3 services up in");
    up.expect_line("web | web dev hello kept");
    up.expect_line("debugger | debugger on");
    let json = status(&project);
    assert_eq!(json["profiles"], serde_json::json!(["dev"]), "{json:#}");
    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 0, "{ps:#?}");
    assert!(ps.stdout.starts_with("NAME"), "{ps:#?}");
    assert!(ps.stdout.ends_with("profiles: dev\n"), "{ps:#?}");
    stop(&project, &mut up);

    // WRANGLE_PROFILE, two of them: the later one wins (the debugger is off again).
    let mut command = project.command(&["up"]);
    command.env("WRANGLE_PROFILE", "dev,quiet");
    let mut up = project.spawn_command(command);
    up.expect_line("wrangle * all 2 services up in");
    up.expect_line("web | web dev hello kept");
    assert_eq!(
        status(&project)["profiles"],
        serde_json::json!(["dev", "quiet"])
    );
    stop(&project, &mut up);
    assert!(
        up.find_line("debugger |").is_none(),
        "the later profile left the debugger out\n{}",
        up.transcript()
    );

    // A daemon runs with the profiles it was started with.
    let daemon = crate::support::up_detached(&project, &["--profile", "dev"]);
    assert!(
        daemon.1.stdout.contains("all 3 services up"),
        "{:#?}",
        daemon.1
    );
    assert_eq!(status(&project)["profiles"], serde_json::json!(["dev"]));
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");

    // wrangle.local.toml overlays last: over the profile, one variable of web's env changed.
    project.write(
        "wrangle.local.toml",
        "[services.web.env]\nGREETING = \"from local\"\n",
    );
    let mut up = project.up(&["--profile", "dev"]);
    up.expect_line("wrangle * all 3 services up in");
    up.expect_line("web | web dev from local kept");
    stop(&project, &mut up);
    assert_no_survivors(&project.mark);
}

#[test]
fn mistakes_in_profiles_and_the_local_file_are_located_and_exit_2() {
    let project = Project::new(PROJECT);
    let _guard = DaemonGuard::new(&project);

    let unknown = project.run(&["up", "--profile", "deb"]);
    assert_eq!(unknown.code, 2, "{unknown:#?}");
    assert!(
        unknown.stderr.contains("no profile named \"deb\""),
        "{unknown:#?}"
    );
    assert!(
        unknown.stderr.contains("did you mean \"dev\"?"),
        "{unknown:#?}"
    );

    // A bad value in the local file is reported at its own line.
    project.write(
        "wrangle.local.toml",
        "\n[services.web]\nrestart = \"sometimes\"\n",
    );
    let local = project.run(&["up"]);
    assert_eq!(local.code, 2, "{local:#?}");
    assert!(
        local.stderr.contains("wrangle.local.toml:3:11"),
        "{local:#?}"
    );
    std::fs::remove_file(project.path("wrangle.local.toml")).expect("remove the local file");

    // A profile naming a service that does not exist, and a service left out that another
    // still depends on.
    project.write(
        "wrangle.toml",
        &format!(
            "{PROJECT}\n[profiles.typo.services.wbe]\nenv = {{ A = \"1\" }}\n\n[profiles.nodb.services.db]\nenabled = false\n"
        ),
    );
    let typo = project.run(&["up", "--profile", "typo"]);
    assert_eq!(typo.code, 2, "{typo:#?}");
    assert!(
        typo.stderr
            .contains("profile \"typo\" changes service \"wbe\", which is not defined"),
        "{typo:#?}"
    );
    assert!(typo.stderr.contains("did you mean \"web\"?"), "{typo:#?}");
    // Checked even when another profile is selected.
    let other = project.run(&["up", "--profile", "dev"]);
    assert_eq!(other.code, 2, "{other:#?}");
    let nodb = project.run(&["up", "--profile", "nodb"]);
    assert_eq!(nodb.code, 2, "{nodb:#?}");
    assert!(
        nodb.stderr
            .contains("service \"web\" depends on service \"db\", which is left out"),
        "{nodb:#?}"
    );
    assert_no_survivors(&project.mark);
}
