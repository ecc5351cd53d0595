//! The dashboard in a real browser: each test starts a daemon with a real project, gets the
//! login link from `wrangle dashboard`, and runs one scenario of `tests/browser/dashboard.mjs`
//! (Playwright driving the system's Chromium) against it.
//!
//! They need `node`, Chromium (`/usr/bin/chromium`, or `WRANGLE_CHROMIUM`) and
//! `npm ci` in `tests/browser/`. Without them a test says why and passes, unless
//! `WRANGLE_BROWSER_TESTS=required` (CI sets it, and installs them): then it fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::dashboard::dashboard_link;
use crate::support::{
    Daemon, MARK_VAR, Project, kill_survivors, listener, python, toml_str, wait_until,
};

/// The longest one scenario may take: a few browser starts and a few dozen steps, each bounded
/// by `WAIT_MS` in `harness.mjs`. The longest scenario (`accessible`, three browsers) took 64 s
/// with the machine's two cores at a load of 26 under the parallel suite: this leaves room for
/// worse, and a scenario that hangs still fails at a step of its own long before.
const SCENARIO_LIMIT: Duration = Duration::from_secs(240);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Why the scenarios cannot run here, if they cannot.
fn missing_tools() -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|status| status.success()) {
        return Some("node is not installed".to_string());
    }
    let chromium = std::env::var("WRANGLE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "{chromium} does not exist (apt-get install chromium)"
        ));
    }
    if !browser_dir().join("node_modules/playwright-core").is_dir() {
        return Some(
            "playwright-core is not installed (run `npm ci` in tests/browser)".to_string(),
        );
    }
    None
}

/// Runs `scenario` against a daemon of `project`; returns false when it was skipped.
fn run_scenario(project: &Project, scenario: &str) -> bool {
    if let Some(reason) = missing_tools() {
        if std::env::var("WRANGLE_BROWSER_TESTS").as_deref() == Ok("required") {
            panic!("the browser tests are required here, but {reason}");
        }
        eprintln!("skipped: the browser test {scenario} cannot run: {reason}");
        return false;
    }
    let daemon = Daemon::start(project, &[]);
    let (url, port, _) = dashboard_link(project);
    let output = project.path("browser-output.txt");
    let log = fs::File::create(&output).expect("create the browser output file");
    let mut node = Command::new("node")
        .arg("dashboard.mjs")
        .arg(scenario)
        .current_dir(browser_dir())
        .env("DASHBOARD_URL", &url)
        .env("DASHBOARD_ORIGIN", format!("http://127.0.0.1:{port}"))
        .env("PROJECT_DIR", project.root())
        .env("WRANGLE_BIN", env!("CARGO_BIN_EXE_wrangle"))
        .env("WRANGLE_HOME", project.path("home"))
        .env("WRANGLE_BROWSER_TMP", project.root())
        // Chromium inherits the mark: whatever of it outlives the test is found and killed.
        .env(MARK_VAR, &project.mark)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the output file"))
        .stderr(log)
        .spawn()
        .expect("start node");
    let mut status = None;
    let finished = wait_until(SCENARIO_LIMIT, || {
        status = node.try_wait().expect("wait for node");
        status.is_some()
    });
    if !finished {
        let _ = node.kill();
        let _ = node.wait();
        kill_survivors(&project.mark);
    }
    let transcript = fs::read_to_string(&output).unwrap_or_default();
    assert!(
        finished,
        "scenario {scenario} did not finish within {SCENARIO_LIMIT:?}:\n{transcript}"
    );
    assert!(
        status.is_some_and(|status| status.success()),
        "scenario {scenario} failed ({status:?}):\n{transcript}"
    );
    drop(daemon);
    true
}

/// A service that runs until its project directory gets a `crash` file, then exits with 3, once.
const FLAKY: &str = r#"["sh", "-c", "if [ -f crashed ]; then exec sleep 1000; fi; while [ ! -f crash ]; do sleep 0.05; done; touch crashed; exit 3"]"#;

#[test]
fn the_overview_follows_a_crash_live() {
    let project = Project::new(&format!(
        r#"
[monitor]
interval = "200ms"

[services.web]
command = ["sleep", "450"]

[services.flaky]
command = {FLAKY}
backoff_initial = "2s"
"#
    ));
    run_scenario(&project, "overview");
}

#[test]
fn restart_from_the_service_page_gives_a_new_pid() {
    let project = Project::new("[services.web]\ncommand = [\"sleep\", \"451\"]\n");
    run_scenario(&project, "restart");
}

#[test]
fn the_log_tail_can_be_searched_and_paused() {
    let script = "printf 'alpha 1\\nbeta 1\\nalpha 2\\nbeta 2\\nalpha 3\\nbeta 3\\n'; \
                  while [ ! -f more ]; do sleep 0.05; done; \
                  echo gamma 1; echo gamma 2; echo gamma 3; exec sleep 452";
    let project = Project::new(&format!(
        "[services.talker]\ncommand = [\"sh\", \"-c\", {}]\n",
        toml_str(script)
    ));
    run_scenario(&project, "logs");
}

#[test]
fn markup_and_script_from_a_service_show_as_text_and_run_nothing() {
    let project = Project::new(&format!(
        r#"
[services.evil]
command = ["{}", "evil.py"]
env = {{ HTML = "<b>bold</b><img src=x onerror=window.__pwned=4>", DB_PASSWORD = "hunter2" }}
"#,
        python()
    ));
    project.write(
        "evil.py",
        r#"import sys, time
print('<script>window.__pwned = 1</script>')
print('<img src=x onerror="window.__pwned = 2">')
print('"><svg onload=window.__pwned=3>')
print('\x1b[31mred\x1b[0m', flush=True)
time.sleep(453)
"#,
    );
    run_scenario(&project, "hostile");
}

#[test]
fn without_the_token_the_api_answers_401_and_the_page_shows_nothing() {
    let project = Project::new("[services.web]\ncommand = [\"sleep\", \"454\"]\n");
    run_scenario(&project, "unauthorized");
}

#[test]
fn a_cross_origin_post_from_the_signed_in_browser_gets_403() {
    let project = Project::new("[services.web]\ncommand = [\"sleep\", \"455\"]\n");
    run_scenario(&project, "crossOrigin");
}

#[test]
fn rotating_the_token_signs_the_open_page_out() {
    let project = Project::new(&format!(
        "[services.web]\ncommand = [\"sleep\", \"456\"]\n\n[services.flaky]\ncommand = {FLAKY}\n"
    ));
    run_scenario(&project, "rotation");
}

#[test]
fn keyboard_narrow_screens_and_both_colour_schemes() {
    let port = crate::support::free_port();
    let project = Project::new(&format!(
        r#"
[services.db]
command = {}
ready = {{ tcp = {port}, interval = "50ms" }}

[services.web]
command = ["sleep", "457"]
depends_on = ["db"]

[services.task]
command = ["true"]
restart = "never"
"#,
        listener(port)
    ));
    run_scenario(&project, "accessible");
}

#[test]
fn the_graph_shows_the_critical_path_and_the_timeline_filters_events() {
    let port = crate::support::free_port();
    let project = Project::new(&format!(
        r#"
[[notify]]
on = ["crashed"]
command = ["true"]

[services.db]
command = {}
ready = {{ tcp = {port}, interval = "50ms" }}

[services.api]
command = ["sleep", "458"]
depends_on = ["db"]

[services.flaky]
command = {FLAKY}
"#,
        listener(port)
    ));
    run_scenario(&project, "graphAndTimeline");
}

#[test]
fn a_row_per_instance_scale_and_reload_seen_live() {
    let project = Project::new("[services.pool]\ncommand = [\"sleep\", \"459\"]\ninstances = 2\n");
    run_scenario(&project, "instances");
}
