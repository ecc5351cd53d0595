//! Start-up: dependency order gated on readiness and completion, failures during start-up,
//! `wrangle up SERVICE`, Procfiles, and what a service finds in its environment.

use crate::support::{
    Project, WAIT, assert_no_survivors, free_port, interrupt, python, toml_str, wait_until,
};

#[test]
fn dependents_start_after_readiness_and_completion() {
    let port = free_port();
    let python = python();
    // web asks the api itself the moment it starts, and checks that the migration ran.
    let web_script = format!(
        "import os, sys, time, urllib.request\n\
         opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))\n\
         status = opener.open('http://127.0.0.1:{port}/').status\n\
         print('web saw status', status, 'migrated', os.path.exists('migrated.flag'), flush=True)\n\
         time.sleep(300)\n"
    );
    let web_script = toml_str(&web_script);
    let project = Project::new(&format!(
        r#"
[services.web]
command = ["{python}", "-c", {web_script}]
depends_on = {{ api = "ready", migrate = "completed" }}

[services.api]
command = ["sh", "-c", "sleep 1; exec {python} -m http.server {port} --bind 127.0.0.1"]
ready = {{ http = "http://127.0.0.1:{port}/", interval = "100ms" }}
port = {port}

[services.migrate]
command = ["sh", "-c", "sleep 0.3; touch migrated.flag; echo migrated"]
restart = "never"
"#
    ));
    let mut wrangle = project.up(&[]);
    let waiting = wrangle.expect_line("web * waiting for api (ready), migrate (completed)");
    let api_ready = wrangle.expect_line("api * ready in");
    let migrated = wrangle.expect_line("migrate * exited with code 0");
    let web_starting = wrangle.expect_line("web * starting:");
    let all_up = wrangle.expect_line("wrangle * all 3 services up in");
    wrangle.expect_line("web | web saw status 200 migrated True");
    assert!(
        waiting < api_ready && api_ready < web_starting && migrated < web_starting,
        "wrong order\n{}",
        wrangle.transcript()
    );
    assert!(web_starting < all_up, "{}", wrangle.transcript());
    // api and migrate have no dependencies: both start at once, in declaration order.
    let api_starting = wrangle.expect_line("api * starting:");
    let migrate_starting = wrangle.expect_line("migrate * starting:");
    assert!(api_starting < migrate_starting && migrate_starting < api_ready);
    interrupt(&project, &mut wrangle);
    wrangle.expect_line(&format!(
        "wrangle * every process is stopped; port {port} free"
    ));
}

#[test]
fn started_condition_does_not_wait_for_readiness() {
    let project = Project::new(
        r#"
[services.slow]
command = ["sh", "-c", "sleep 0.5; touch slow.ready; exec sleep 330"]
ready = { exec = ["test", "-f", "slow.ready"], interval = "50ms" }

[services.eager]
command = ["sh", "-c", "test -f slow.ready && echo too-late || echo before-ready; exec sleep 331"]
depends_on = { slow = "started" }
"#,
    );
    let mut wrangle = project.up(&[]);
    let eager_starting = wrangle.expect_line("eager * starting:");
    let slow_ready = wrangle.expect_line("slow * ready in");
    wrangle.expect_line("eager | before-ready");
    assert!(eager_starting < slow_ready, "{}", wrangle.transcript());
    interrupt(&project, &mut wrangle);
}

#[test]
fn service_failing_during_startup_fails_the_run_with_its_last_output() {
    let project = Project::new(
        r#"
[services.bad]
command = ["sh", "-c", "echo line one; echo line two >&2; echo line three; sleep 0.2; exit 1"]
ready = { log = "never printed" }

[services.after]
command = ["sh", "-c", "touch after.flag; exec sleep 332"]
depends_on = ["bad"]
"#,
    );
    let mut wrangle = project.up(&[]);
    let code = wrangle.wait_exit(WAIT);
    assert_eq!(code, 1, "{}", wrangle.transcript());
    let failed =
        wrangle.expect_line("wrangle * start-up failed: bad exited with code 1 during start-up");
    let header = wrangle.expect_line_from(failed, "wrangle * last output of bad:", WAIT);
    let lines = wrangle.lines();
    let mut tail: Vec<String> = lines[header + 1..]
        .iter()
        .map(|line| crate::support::normalize(line))
        .take_while(|line| line.starts_with("wrangle *   "))
        .collect();
    // stdout and stderr are separate pipes: their relative order is not defined.
    tail.sort();
    assert_eq!(
        tail,
        [
            "wrangle *   line one",
            "wrangle *   line three",
            "wrangle *   line two"
        ],
        "{}",
        wrangle.transcript()
    );
    assert!(wrangle.find_line("after * starting").is_none());
    assert!(!project.exists("after.flag"));
    wrangle.expect_line("wrangle * every process is stopped");
    assert_no_survivors(&project.mark);
}

#[test]
fn command_not_found_fails_the_run() {
    let project = Project::new(
        r#"
[services.ghost]
command = "no-such-program-for-wrangle-tests --flag"
"#,
    );
    let finished = project.run(&["up"]);
    assert_eq!(finished.code, 1, "{finished:#?}");
    assert!(
        finished
            .stdout
            .contains("cannot start: command not found: no-such-program-for-wrangle-tests"),
        "{finished:#?}"
    );
    assert_no_survivors(&project.mark);
}

#[test]
fn up_with_names_starts_only_them_and_their_dependencies() {
    let project = Project::new(
        r#"
[services.db]
command = ["sh", "-c", "touch db.flag; exec sleep 333"]

[services.web]
command = ["sleep", "334"]
depends_on = ["db"]

[services.unrelated]
command = ["sh", "-c", "touch unrelated.flag; exec sleep 335"]
"#,
    );
    let mut wrangle = project.up(&["web"]);
    wrangle.expect_line("wrangle * all 2 services up in");
    assert!(wait_until(WAIT, || project.exists("db.flag")));
    interrupt(&project, &mut wrangle);
    assert!(
        wrangle.find_line("unrelated").is_none(),
        "{}",
        wrangle.transcript()
    );
    assert!(!project.exists("unrelated.flag"));
}

#[test]
fn one_shot_services_end_the_run_when_everything_has_exited() {
    let project = Project::new(
        r#"
[services.first]
command = ["touch", "first.done"]

[services.second]
command = ["sh", "-c", "test -f first.done && touch second.saw-first"]
depends_on = { first = "completed" }
"#,
    );
    let finished = project.run(&["up"]);
    assert_eq!(finished.code, 0, "{finished:#?}");
    assert!(
        finished.stdout.contains("first    * exited with code 0"),
        "{finished:#?}"
    );
    assert!(
        finished.stdout.contains("second   * exited with code 0"),
        "{finished:#?}"
    );
    assert!(project.exists("second.saw-first"), "{finished:#?}");
    assert_no_survivors(&project.mark);
}

#[test]
fn procfile_project_runs_its_lines_through_sh() {
    let project = Project::empty();
    project.write(
        "Procfile",
        "# a comment\nweb: echo hello from $WRANGLE_SERVICE; exec sleep 336\n\nworker: echo working; exec sleep 337\n",
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 2 services up in");
    wrangle.expect_line("web | hello from web");
    wrangle.expect_line("worker | working");
    interrupt(&project, &mut wrangle);
}

#[test]
fn config_is_found_from_a_subdirectory_and_with_dash_f() {
    let project = Project::new(
        r#"
[services.here]
command = ["sh", "-c", "pwd; exec sleep 338"]
"#,
    );
    std::fs::create_dir_all(project.path("deep/er")).expect("mkdir");
    let root = project.root();

    let mut command = project.command(&["up"]);
    command.current_dir(project.path("deep/er"));
    let mut wrangle = project.spawn_command(command);
    // The service runs in the config file's directory, not in wrangle's.
    wrangle.expect_line(&format!("here | {}", root.display()));
    interrupt(&project, &mut wrangle);

    let elsewhere = tempfile::tempdir().expect("tempdir");
    let mut command = project.command(&["up", "-f", &root.join("wrangle.toml").to_string_lossy()]);
    command.current_dir(elsewhere.path());
    let mut wrangle = project.spawn_command(command);
    wrangle.expect_line(&format!("here | {}", root.display()));
    interrupt(&project, &mut wrangle);
}

#[test]
fn services_get_their_name_a_run_token_and_the_inherited_environment() {
    let port = free_port();
    let project = Project::new(&format!(
        r#"
[services.envy]
command = ["sh", "-c", "echo \"name=$WRANGLE_SERVICE run=$${{WRANGLE_RUN:+set}} inherited=$INHERITED_BY_TEST own=$OWN port=$PORT\"; exec sleep 339"]
env = {{ OWN = 4 }}
port = {port}
"#
    ));
    let mut command = project.command(&["up"]);
    command.env("INHERITED_BY_TEST", "yes");
    let mut wrangle = project.spawn_command(command);
    wrangle.expect_line(&format!(
        "envy | name=envy run=set inherited=yes own=4 port={port}"
    ));
    interrupt(&project, &mut wrangle);
}

#[test]
fn interpolated_ports_and_variables_reach_the_processes_and_the_probe() {
    let port = free_port();
    let project = Project::new(&format!(
        r#"
[services.db]
command = ["{python}", "-c", "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', ${{PORT}})); s.listen(); print('db listening', flush=True); time.sleep(339)"]
port = {port}
ready = {{ tcp = "127.0.0.1:${{PORT}}" }}

[services.api]
command = ["sh", "-c", "echo \"db=${{services.db.port}} greeting=${{GREETING:-hi}} unset=${{NOT_SET_HERE:-fallback}}\" 'kept=$${{X}} $$HOME'; exec sleep 339"]
"#,
        python = crate::support::python(),
    ));
    let mut command = project.command(&["up"]);
    command.env("GREETING", "hello");
    let mut wrangle = project.spawn_command(command);
    let listening = wrangle.expect_line("db | db listening");
    // `${services.db.port}` made db a dependency: api starts once db's probe on ${PORT} passed.
    let api = wrangle.expect_line(&format!(
        "api | db={port} greeting=hello unset=fallback kept=${{X}} $$HOME"
    ));
    assert!(api > listening, "{}", wrangle.transcript());
    interrupt(&project, &mut wrangle);
}

// Known bug: this test fails until wrangle is fixed (see the commit message).

#[test]
fn startup_failure_report_shows_what_the_service_printed() {
    // Forty siblings start in the same step as the failing service. Its error line is printed
    // right before it exits; the failure report must show it.
    let mut config = String::from(
        r#"
[services.bad]
command = ["sh", "-c", "echo the-real-error; exit 1"]
ready = { log = "never printed" }
"#,
    );
    for sibling in 0..40 {
        config.push_str(&format!(
            "\n[services.sibling{sibling}]\ncommand = [\"sleep\", \"378\"]\n"
        ));
    }
    let project = Project::new(&config);
    let mut wrangle = project.up(&[]);
    let code = wrangle.wait_exit(WAIT);
    assert_eq!(code, 1, "{}", wrangle.transcript());
    let failed =
        wrangle.expect_line("wrangle * start-up failed: bad exited with code 1 during start-up");
    let output = wrangle.find_line("bad | the-real-error");
    assert!(
        output.is_some_and(|output| output < failed),
        "the service's output was lost or shown after the failure\n{}",
        wrangle.transcript()
    );
    wrangle.expect_line_from(failed, "wrangle * last output of bad:", WAIT);
    wrangle.expect_line_from(failed, "wrangle *   the-real-error", WAIT);
    assert_no_survivors(&project.mark);
}
