//! After start-up, crashes restart with a growing backoff until the crash-loop limit; a restart
//! waits for its ports and says who holds them.

use std::net::TcpListener;
use std::time::Duration;

use crate::support::{
    Daemon, Project, WAIT, assert_no_survivors, free_port, python, service, state, status,
    toml_str, wait_until,
};

#[test]
fn crash_loop_is_given_up_on_while_the_others_keep_running() {
    let project = Project::new(
        r#"
[services.steady]
command = ["sleep", "360"]

[services.crashy]
command = ["sh", "-c", "echo boom; sleep 0.3; exit 1"]
backoff_initial = "50ms"
max_restarts = 3
restart_window = "60s"
"#,
    );
    let mut wrangle = project.up(&[]);
    let up = wrangle.expect_line("wrangle * all 2 services up in");
    let mut position = up;
    for restart in 1..=3 {
        position =
            wrangle.expect_line_from(position, "crashy * crashed: exited with code 1 after", WAIT);
        position = wrangle.expect_line_from(position, &format!("(restart #{restart})"), WAIT);
        assert!(
            crate::support::normalize(&wrangle.lines()[position])
                .starts_with("crashy * restarting in "),
            "{}",
            wrangle.transcript()
        );
        position = wrangle.expect_line_from(position, "crashy * restarted (pid ", WAIT);
        assert!(wrangle.lines()[position].ends_with(&format!(", restart #{restart})")));
    }
    wrangle.expect_line_from(position, "crashy * FAILED: crash loop", WAIT);
    assert!(
        wrangle.find_line("(restart #4)").is_none(),
        "{}",
        wrangle.transcript()
    );
    // The backoff grows: each delay is at least the previous one.
    let delays: Vec<Duration> = wrangle
        .lines()
        .iter()
        .filter_map(|line| {
            let line = crate::support::normalize(line);
            let rest = line.strip_prefix("crashy * restarting in ")?;
            let delay = rest.split(' ').next()?;
            parse_delay(delay)
        })
        .collect();
    assert_eq!(delays.len(), 3, "{}", wrangle.transcript());
    assert!(
        delays.windows(2).all(|pair| pair[0] <= pair[1]),
        "backoff did not grow: {delays:?}\n{}",
        wrangle.transcript()
    );

    // steady was not touched, and no crashy process is left.
    assert!(
        wrangle.find_line("steady * stopping").is_none(),
        "{}",
        wrangle.transcript()
    );
    assert!(wait_until(WAIT, || crate::support::survivors(
        &project.mark
    )
    .iter()
    .all(|(_, command)| !command.contains("echo boom"))));

    wrangle.signal("INT");
    let code = wrangle.wait_exit(WAIT);
    assert_eq!(
        code,
        1,
        "a failed service makes the run fail\n{}",
        wrangle.transcript()
    );
    wrangle.expect_line("steady * stopped");
    assert_no_survivors(&project.mark);
}

/// "50ms", "1.2s" or "1m 2s"-like humanized delays; only the units wrangle prints for short
/// delays are needed here.
fn parse_delay(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms
            .parse::<f64>()
            .ok()
            .map(|ms| Duration::from_secs_f64(ms / 1000.0));
    }
    text.strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .map(Duration::from_secs_f64)
}

#[test]
fn restart_never_leaves_a_crashed_service_down() {
    let project = Project::new(
        r#"
[services.steady]
command = ["sleep", "361"]

[services.once]
command = ["sh", "-c", "sleep 0.2; exit 3"]
restart = "never"
"#,
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 2 services up in");
    wrangle.expect_line("once * crashed: exited with code 3 after");
    wrangle.signal("INT");
    let code = wrangle.wait_exit(WAIT);
    assert!(
        wrangle.find_line("once * restarting").is_none(),
        "{}",
        wrangle.transcript()
    );
    assert_eq!(code, 1, "{}", wrangle.transcript());
    assert_no_survivors(&project.mark);
}

#[test]
fn restart_always_restarts_a_clean_exit() {
    let project = Project::new(
        r#"
[services.looper]
command = ["sh", "-c", "echo round; sleep 0.2; exit 0"]
restart = "always"
backoff_initial = "50ms"
"#,
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 1 service up in");
    wrangle.expect_line("looper * restarted (pid ");
    wrangle.signal("INT");
    assert_eq!(wrangle.wait_exit(WAIT), 0, "{}", wrangle.transcript());
    assert_no_survivors(&project.mark);
}

#[test]
fn restart_waits_for_its_port_and_names_the_stranger_holding_it() {
    let port = free_port();
    let python = python();
    // Listens on the port until crash.flag appears, then crashes.
    let script = format!(
        "import os, socket, sys, time\n\
         sock = socket.socket()\n\
         sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         sock.bind(('127.0.0.1', {port}))\n\
         sock.listen()\n\
         print('listening', flush=True)\n\
         while not os.path.exists('crash.flag'):\n    time.sleep(0.02)\n\
         sys.exit(1)\n"
    );
    let project = Project::new(&format!(
        r#"
[services.server]
command = ["{python}", "-c", {}]
port = {port}
ready = {{ tcp = {port}, interval = "50ms" }}
backoff_initial = "1s"
"#,
        toml_str(&script)
    ));
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 1 service up in");
    project.write("crash.flag", "");
    wrangle.expect_line("server * crashed: exited with code 1");
    // The stranger grabs the port during the backoff.
    let mut stranger = None;
    assert!(
        wait_until(Duration::from_millis(800), || {
            stranger = TcpListener::bind(("127.0.0.1", port)).ok();
            stranger.is_some()
        }),
        "could not take the port after the crash"
    );
    let me = std::process::id();
    wrangle.expect_line_from(
        0,
        &format!("server * cannot restart: port {port} is held by PID {me}"),
        Duration::from_secs(15),
    );
    assert!(
        wrangle.find_line("server * restarted").is_none(),
        "{}",
        wrangle.transcript()
    );
    // A blocked restart is retried later, so the service has not failed: a clean stop.
    drop(stranger);
    wrangle.signal("INT");
    let code = wrangle.wait_exit(WAIT);
    assert_eq!(code, 0, "{}", wrangle.transcript());
    wrangle.expect_line(&format!(
        "wrangle * every process is stopped; port {port} free"
    ));
    assert_no_survivors(&project.mark);
}

/// Issue 10, item 11: with `restart_window = "200ms"` each crash comes after the window has slid
/// past the previous restart, so the window alone restarted this service forever. Every run ends
/// long before `min_uptime` (5 minutes by default), so the second crash in a row is one more than
/// `max_restarts = 1`.
#[test]
fn a_crash_loop_slower_than_its_window_is_marked_failed() {
    let project = Project::new(
        r#"
[services.steady]
command = ["sleep", "362"]

[services.flaky]
command = ["sh", "-c", "sleep 0.4; exit 1"]
backoff_initial = "50ms"
max_restarts = 1
restart_window = "200ms"
"#,
    );
    let mut wrangle = project.up(&[]);
    let up = wrangle.expect_line("wrangle * all 2 services up in");
    let restarted = wrangle.expect_line_from(up, "flaky * restarted (pid ", WAIT);
    wrangle.expect_line_from(
        restarted,
        "flaky * FAILED: crash loop: crashed 2 times in a row within 5m of starting \
         (min_uptime), more than max_restarts = 1; not restarting again",
        WAIT,
    );
    assert!(
        wrangle.find_line("(restart #2)").is_none(),
        "{}",
        wrangle.transcript()
    );
    wrangle.signal("INT");
    assert_eq!(wrangle.wait_exit(WAIT), 1, "{}", wrangle.transcript());
    wrangle.expect_line("steady * stopped");
    assert_no_survivors(&project.mark);
}

/// A run that lasts `min_uptime` stayed up: its crash is not a quick one, so a service that
/// crashes after each such run is restarted for as long as the window allows.
#[test]
fn runs_that_last_min_uptime_are_no_crash_loop() {
    let project = Project::new(
        r#"
[services.flaky]
command = ["sh", "-c", "sleep 0.3; exit 1"]
backoff_initial = "50ms"
max_restarts = 1
restart_window = "100ms"
min_uptime = "100ms"
"#,
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 1 service up in");
    wrangle.expect_line_from(0, "flaky * restarted (pid ", WAIT);
    wrangle.expect_line_from(0, "(restart #3)", WAIT);
    assert!(
        wrangle.find_line("FAILED").is_none(),
        "{}",
        wrangle.transcript()
    );
    wrangle.signal("INT");
    assert_eq!(wrangle.wait_exit(WAIT), 0, "{}", wrangle.transcript());
    assert_no_survivors(&project.mark);
}

/// `ps` names the crash-loop rule that gave up, in the table and in `--json`.
#[test]
fn ps_says_which_crash_loop_rule_gave_up() {
    let project = Project::new(
        r#"
[services.flaky]
command = ["sh", "-c", "sleep 0.3; exit 1"]
backoff_initial = "50ms"
max_restarts = 2
restart_window = "100ms"
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    let rule = "crash loop: crashed 3 times in a row within 5m of starting (min_uptime), more \
                than max_restarts = 2; not restarting again";
    let mut last = serde_json::Value::Null;
    let failed = wait_until(WAIT, || {
        last = status(&project);
        state(&last, "flaky") == "failed"
    });
    assert!(failed, "not failed: {last:#}");
    let flaky = service(&last, "flaky");
    assert_eq!(flaky["reason"], rule, "{last:#}");
    assert_eq!(flaky["restarts"], 2, "{last:#}");
    let ps = project.run(&["ps"]);
    assert_eq!(ps.code, 0, "{ps:#?}");
    assert!(ps.stdout.contains(&format!("flaky: {rule}")), "{ps:#?}");
}
