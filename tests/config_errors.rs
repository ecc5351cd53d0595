//! Each class of configuration problem: exit 2, the exact `path:line:column`, the message and
//! the help, and nothing started.

use crate::support::{Daemon, Finished, Project, assert_no_survivors, wait_states};

/// Runs `wrangle up` on `config` and checks the refusal: exit 2, nothing on stdout, every
/// `expected` fragment in stderr, and the location `wrangle.toml:LINE:COLUMN`.
fn check(config: &str, location: (usize, usize), expected: &[&str]) -> Finished {
    let project = Project::new(config);
    let finished = project.run(&["up"]);
    assert_eq!(finished.code, 2, "{finished:#?}");
    assert_eq!(finished.stdout, "", "something was started: {finished:#?}");
    let (line, column) = location;
    let arrow = format!(
        " --> {}:{line}:{column}\n",
        project.path("wrangle.toml").display()
    );
    assert!(
        finished.stderr.contains(&arrow),
        "expected {arrow:?} in:\n{}",
        finished.stderr
    );
    for fragment in expected {
        assert!(
            finished.stderr.contains(fragment),
            "expected {fragment:?} in:\n{}",
            finished.stderr
        );
    }
    assert_no_survivors(&project.mark);
    finished
}

#[test]
fn unknown_key_suggests_the_closest() {
    check(
        "[services.web]\ncomand = \"sleep 1\"\n",
        (2, 1),
        &[
            "error: unknown key `comand` in [services.web]",
            "2 | comand = \"sleep 1\"",
            "  | ^^^^^^ unknown key",
            "= help: did you mean \"command\"?",
            "= note: expected one of: command, shell, cwd,",
        ],
    );
}

#[test]
fn wrong_type() {
    check(
        "[services.web]\ncommand = \"sleep 1\"\nport = \"80\"\n",
        (3, 8),
        &[
            "error: expected a port number (1-65535), an array of them, \"auto\" or a range such as \"3000-3100\" for `services.web.port`, found a string",
            "  |        ^^^^ expected a port number",
        ],
    );
}

#[test]
fn unknown_dependency_suggests_the_closest() {
    check(
        "[services.web]\ncommand = \"sleep 1\"\ndepends_on = [\"apii\"]\n\n[services.api]\ncommand = \"sleep 1\"\n",
        (3, 15),
        &[
            "error: service \"web\" depends on unknown service \"apii\"",
            "^^^^^^ no service with this name",
            "= help: did you mean \"api\"?",
            "= note: services: web, api",
        ],
    );
}

#[test]
fn dependency_cycle_is_shown_with_its_path() {
    check(
        "[services.a]\ncommand = \"sleep 1\"\ndepends_on = [\"b\"]\n\n[services.b]\ncommand = \"sleep 1\"\ndepends_on = [\"c\"]\n\n[services.c]\ncommand = \"sleep 1\"\ndepends_on = { a = \"ready\" }\n",
        (11, 16),
        &[
            "error: dependency cycle: a -> b -> c -> a",
            "closes the cycle",
        ],
    );
}

#[test]
fn bad_duration() {
    check(
        "[services.a]\ncommand = \"sleep 1\"\nstop_timeout = \"10 parsecs\"\n",
        (3, 16),
        &[
            "error: invalid duration \"10 parsecs\" for `services.a.stop_timeout`",
            "^^^^^^^^^^^^ unknown time unit \"parsecs\"",
            "= help: write a duration such as \"500ms\", \"10s\" or \"1m 30s\"",
        ],
    );
}

#[test]
fn zero_stop_timeout_is_rejected() {
    let finished = check(
        "[services.a]\ncommand = \"sleep 1\"\nstop_timeout = \"0s\"\n",
        (3, 16),
        &["`services.a.stop_timeout`"],
    );
    assert!(
        finished.stderr.contains("must be greater than zero"),
        "{finished:#?}"
    );
}

#[test]
fn bad_regex() {
    check(
        "[services.a]\ncommand = \"sleep 1\"\nready = { log = \"(\" }\n",
        (3, 17),
        &[
            "error: invalid regex in `services.a.ready.log`",
            "^^^ this regex does not compile",
            "unclosed group",
        ],
    );
}

#[test]
fn bad_signal_suggests_the_closest() {
    check(
        "[services.a]\ncommand = \"sleep 1\"\nstop_signal = \"SIGTREM\"\n",
        (3, 15),
        &[
            "error: unknown signal \"SIGTREM\" for `services.a.stop_signal`",
            "expected a signal name or a number from 1 to 64",
            "= help: did you mean \"SIGTERM\"?",
        ],
    );
}

#[test]
fn toml_syntax_error_is_located() {
    check(
        "[services.a]\ncommand = \"sleep 1\nport = 80\n",
        (2, 19),
        &["error"],
    );
}

#[test]
fn all_problems_of_a_file_are_reported_in_one_run() {
    let finished = check(
        "[services.a]\ncomand = \"sleep 1\"\nstop_signal = \"SIGTREM\"\n\n[services.b]\ncommand = \"sleep 1\"\ndepends_on = [\"zz\"]\n",
        (2, 1),
        &[
            "unknown key `comand`",
            "unknown signal \"SIGTREM\"",
            "unknown service \"zz\"",
        ],
    );
    assert!(
        finished.stderr.contains("wrangle.toml:3:15")
            && finished.stderr.contains("wrangle.toml:7:15"),
        "{finished:#?}"
    );
}

#[test]
fn unknown_service_on_the_command_line() {
    let project = Project::new("[services.web]\ncommand = \"sleep 1\"\n");
    let finished = project.run(&["up", "nope"]);
    assert_eq!(finished.code, 2, "{finished:#?}");
    assert!(
        finished.stderr.contains(&format!(
            "error: no service named \"nope\" in {}",
            project.path("wrangle.toml").display()
        )),
        "{finished:#?}"
    );
    assert!(finished.stderr.contains("  services: web"), "{finished:#?}");
    assert_eq!(finished.stdout, "");

    let finished = project.run(&["up", "wbe"]);
    assert_eq!(finished.code, 2, "{finished:#?}");
    assert!(
        finished.stderr.contains("(did you mean \"web\"?)"),
        "{finished:#?}"
    );
    assert_no_survivors(&project.mark);
}

#[test]
fn no_config_file_is_a_usage_error() {
    let project = Project::empty();
    let finished = project.run(&["up"]);
    assert_eq!(finished.code, 2, "{finished:#?}");
    assert!(finished.stderr.contains("error"), "{finished:#?}");
}

#[test]
fn a_name_longer_than_the_daemon_can_use_is_refused_at_load_time() {
    // 252 bytes passed the config's rule and the foreground ran it; `up -d` then failed with
    // "at most 200 bytes" from the log store. One limit now, checked when the file is read.
    let long = "a".repeat(252);
    let finished = check(
        &format!("[services.{long}]\ncommand = \"sleep 1\"\n"),
        (1, 11),
        &[
            &format!("error: invalid service name \"{long}\""),
            "252 bytes long; a service name is at most 200 bytes",
        ],
    );
    assert!(!finished.stderr.contains("panicked"), "{finished:#?}");
}

#[test]
fn a_name_at_the_limit_runs_in_the_daemon() {
    let name = "b".repeat(200);
    let project = Project::new(&format!("[services.{name}]\ncommand = \"sleep 60\"\n"));
    let _daemon = Daemon::start(&project, &[]);
    wait_states(&project, &[(name.as_str(), "running")]);
}

#[test]
fn an_unknown_interpolated_variable_is_located_with_a_did_you_mean() {
    check(
        "[services.web]\ncommand = [\"sh\", \"-c\", \"echo ${PTAH}\"]\n",
        (2, 30),
        &[
            "error: unknown variable `${PTAH}` in `services.web.command`",
            "did you mean \"PATH\"?",
            "write `$${PTAH}` to pass it on as written",
        ],
    );
}
