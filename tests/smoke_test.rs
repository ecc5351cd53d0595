//! `wrangle test`: start, wait until ready, run a command with the ports, stop, prove nothing
//! is left; its exit codes and its JUnit report (parsed by a real XML parser).

use std::process::Command;

use serde_json::Value;

use crate::support::{Project, assert_no_survivors, free_port, python};

/// The JUnit file at `path`, parsed by Python's XML parser, as JSON: the suite's counts and
/// every test case with its failure or skip, if any.
fn parsed_junit(path: &std::path::Path) -> Value {
    let script = r#"
import json, sys, xml.etree.ElementTree as tree
root = tree.parse(sys.argv[1]).getroot()
suite = root.find("testsuite")
cases = []
for case in suite.findall("testcase"):
    failure, skipped = case.find("failure"), case.find("skipped")
    cases.append({
        "classname": case.get("classname"), "name": case.get("name"), "time": case.get("time"),
        "failure": None if failure is None else {"type": failure.get("type"), "message": failure.get("message")},
        "skipped": None if skipped is None else skipped.get("message"),
    })
print(json.dumps({"root": root.tag, "tests": suite.get("tests"), "failures": suite.get("failures"),
                  "skipped": suite.get("skipped"), "cases": cases}))
"#;
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "the JUnit report does not parse: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
    serde_json::from_slice(&output.stdout).expect("JSON from the parser")
}

/// `web` listens on a port from the OS (readiness: TCP) after `db`, which has no probe.
fn web_and_db(port: u16) -> String {
    format!(
        r#"
[services.db]
command = ["sh", "-c", "echo db up; exec sleep 481"]

[services.web]
command = ["{python}", "-c", "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {port})); s.listen(); print('listening', flush=True); time.sleep(482)"]
port = {port}
ready = {{ tcp = {port}, interval = "50ms" }}
depends_on = ["db"]
"#,
        python = python()
    )
}

#[test]
fn the_command_runs_once_everything_is_ready_with_the_ports_and_its_code_is_the_exit_code() {
    let port = free_port();
    let project = Project::new(&web_and_db(port));
    // The command sees the port, reaches the service through it, leaves a child behind (which
    // the final sweep must take), and exits 7.
    let script = format!(
        "echo \"port is $WRANGLE_PORT_WEB\"; {python} -c \"import socket; socket.create_connection(('127.0.0.1', $WRANGLE_PORT_WEB)).close(); print('connected')\"; sleep 483 & exit 7",
        python = python()
    );
    let junit = project.path("report.xml");
    let junit_arg = junit.display().to_string();
    let run = project.run(&["test", "--junit", &junit_arg, "--", "sh", "-c", &script]);
    assert_eq!(run.code, 7, "{run:#?}");
    assert!(
        run.stdout.contains(&format!("port is {port}\n")),
        "{run:#?}"
    );
    assert!(run.stdout.contains("connected\n"), "{run:#?}");
    assert!(run.stdout.contains("every process is stopped"), "{run:#?}");
    // The command's line comes after readiness (it waited for it).
    let ready_at = run.stdout.find("all 2 services up in").expect("ready line");
    let command_at = run.stdout.find("port is").expect("command line");
    assert!(ready_at < command_at, "{run:#?}");
    assert_no_survivors(&project.mark);

    let report = parsed_junit(&junit);
    assert_eq!(report["root"], "testsuites", "{report:#}");
    assert_eq!(report["tests"], "3", "{report:#}");
    assert_eq!(report["failures"], "1", "{report:#}");
    let cases = report["cases"].as_array().expect("cases");
    assert_eq!(cases[0]["name"], "db", "{report:#}");
    assert_eq!(cases[0]["failure"], Value::Null, "{report:#}");
    assert_eq!(cases[1]["name"], "web", "{report:#}");
    assert_eq!(cases[1]["classname"], "readiness", "{report:#}");
    assert!(cases[1]["time"].is_string(), "{report:#}");
    assert_eq!(cases[2]["classname"], "command", "{report:#}");
    assert_eq!(cases[2]["name"], format!("sh -c {script}"), "{report:#}");
    assert_eq!(cases[2]["failure"]["type"], "exit_status", "{report:#}");
    assert_eq!(
        cases[2]["failure"]["message"], "exited with code 7",
        "{report:#}"
    );
}

#[test]
fn without_a_command_it_passes_once_everything_is_ready_and_a_passing_command_passes() {
    let port = free_port();
    let project = Project::new(&web_and_db(port));
    let run = project.run(&["test"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("every process is stopped"), "{run:#?}");
    assert_no_survivors(&project.mark);

    // Only `db` (named) runs; the command passes; the report has one case each.
    let junit = project.path("db.xml");
    let junit_arg = junit.display().to_string();
    let run = project.run(&["test", "db", "--junit", &junit_arg, "--", "true"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(!run.stdout.contains("web"), "{run:#?}");
    assert_no_survivors(&project.mark);
    let report = parsed_junit(&junit);
    assert_eq!(report["tests"], "2", "{report:#}");
    assert_eq!(report["failures"], "0", "{report:#}");
    assert_eq!(report["skipped"], "0", "{report:#}");
}

#[test]
fn a_service_that_never_becomes_ready_fails_with_3_and_the_command_never_runs() {
    let port = free_port();
    let project = Project::new(&format!(
        r#"
[services.db]
command = ["sh", "-c", "exec sleep 484"]
ready = {{ tcp = {port}, timeout = "1s", interval = "100ms" }}

[services.web]
command = ["sh", "-c", "exec sleep 485"]
depends_on = ["db"]
"#
    ));
    let junit = project.path("report.xml");
    let junit_arg = junit.display().to_string();
    let run = project.run(&[
        "test",
        "--junit",
        &junit_arg,
        "--",
        "sh",
        "-c",
        "touch command-ran",
    ]);
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(!project.exists("command-ran"), "{run:#?}");
    assert_no_survivors(&project.mark);

    let report = parsed_junit(&junit);
    let cases = report["cases"].as_array().expect("cases");
    assert_eq!(report["failures"], "1", "{report:#}");
    assert_eq!(cases[0]["name"], "db", "{report:#}");
    assert_eq!(cases[0]["failure"]["type"], "not_ready", "{report:#}");
    assert_eq!(cases[1]["name"], "web", "{report:#}");
    assert!(cases[1]["skipped"].is_string(), "{report:#}");
    assert_eq!(cases[2]["classname"], "command", "{report:#}");
    assert!(cases[2]["skipped"].is_string(), "{report:#}");
}

#[test]
fn a_command_that_cannot_be_started_is_a_usage_error_and_nothing_is_left() {
    let project = Project::new(
        r#"
[services.db]
command = ["sh", "-c", "exec sleep 486"]
"#,
    );
    let run = project.run(&["test", "--", "no-such-program-wrangle-test"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr
            .contains("command not found: no-such-program-wrangle-test")
            || run
                .stdout
                .contains("command not found: no-such-program-wrangle-test"),
        "{run:#?}"
    );
    assert_no_survivors(&project.mark);
}

#[test]
fn ctrl_c_while_the_command_runs_stops_it_and_everything_else() {
    let project = Project::new(
        r#"
[services.db]
command = ["sh", "-c", "exec sleep 487"]
"#,
    );
    let mut test = project.spawn(&[
        "test",
        "--",
        "sh",
        "-c",
        "echo command started; exec sleep 488",
    ]);
    test.expect_line("command started");
    test.signal("INT");
    // The command ended by the SIGTERM it was passed: 128 + 15.
    assert_eq!(
        test.wait_exit(crate::support::WAIT),
        143,
        "{}",
        test.transcript()
    );
    test.expect_line("every process is stopped");
    assert_no_survivors(&project.mark);
}
