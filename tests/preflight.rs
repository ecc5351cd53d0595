//! Pre-flight refusals: exit 4, a message naming who is in the way, and nothing started.

use std::net::TcpListener;

use crate::support::{Project, WAIT, assert_no_survivors, free_port};

#[test]
fn held_port_refuses_to_start_and_names_the_holder() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let project = Project::new(&format!(
        r#"
[services.web]
command = ["sh", "-c", "touch started.flag; exec sleep 320"]
port = {port}
"#
    ));
    let finished = project.run(&["up"]);
    assert_eq!(finished.code, 4, "{finished:#?}");
    let me = std::process::id();
    assert!(
        finished.stderr.contains(&format!(
            "port {port} (service web) is in use by PID {me} ("
        )),
        "{finished:#?}"
    );
    assert!(
        finished
            .stderr
            .contains(&format!("  free it with: kill {me}")),
        "{finished:#?}"
    );
    // The holder's command line is shown: it is this test binary.
    let exe = std::env::current_exe().expect("current_exe");
    let exe_name = exe.file_name().expect("file name").to_string_lossy();
    assert!(finished.stderr.contains(&*exe_name), "{finished:#?}");
    assert!(!project.exists("started.flag"), "the service was started");
    assert!(!finished.stdout.contains("starting"), "{finished:#?}");
    drop(listener);
    assert_no_survivors(&project.mark);
}

#[test]
fn held_port_of_an_unselected_service_does_not_refuse() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let project = Project::new(&format!(
        r#"
[services.web]
command = ["sleep", "321"]

[services.other]
command = ["sleep", "322"]
port = {port}
"#
    ));
    let mut wrangle = project.up(&["web"]);
    wrangle.expect_line("wrangle * all 1 service up in");
    wrangle.signal("INT");
    assert_eq!(wrangle.wait_exit(WAIT), 0, "{}", wrangle.transcript());
    drop(listener);
    assert_no_survivors(&project.mark);
}

#[test]
fn second_instance_is_refused_with_the_first_ones_pid() {
    let port = free_port();
    let project = Project::new(&format!(
        r#"
[services.web]
command = ["sh", "-c", "echo run >> runs.log; exec sleep 323"]
port = {port}
"#
    ));
    let mut first = project.up(&[]);
    first.expect_line("wrangle * all 1 service up in");

    let second = project.run(&["up"]);
    assert_eq!(second.code, 4, "{second:#?}");
    let first_pid = first.pid();
    assert!(
        second.stderr.contains(&format!(
            "another wrangle is already running this project (PID {first_pid})"
        )),
        "{second:#?}"
    );
    assert!(
        second.stderr.contains("stop it with `wrangle down`"),
        "{second:#?}"
    );
    assert!(!second.stdout.contains("starting"), "{second:#?}");

    // The refusal took nothing from the first instance.
    first.signal("INT");
    assert_eq!(first.wait_exit(WAIT), 0, "{}", first.transcript());
    first.expect_line(&format!(
        "wrangle * every process is stopped; port {port} free"
    ));
    let runs = std::fs::read_to_string(project.path("runs.log")).expect("runs.log");
    assert_eq!(runs, "run\n", "the service ran more than once");
    assert_no_survivors(&project.mark);
}

#[test]
fn instance_can_start_again_after_a_clean_stop() {
    let project = Project::new(
        r#"
[services.web]
command = ["sleep", "324"]
"#,
    );
    for _ in 0..2 {
        let mut wrangle = project.up(&[]);
        wrangle.expect_line("wrangle * all 1 service up in");
        wrangle.signal("INT");
        assert_eq!(wrangle.wait_exit(WAIT), 0, "{}", wrangle.transcript());
    }
    assert_no_survivors(&project.mark);
}
