//! `port = "auto"`: a port picked when the config is loaded, exported as `PORT`, flowing into a
//! dependent's `${services.NAME.port}` and the service's own ready probe, shown by `ps`, and
//! kept by `apply` and by a daemon's successor (its services hold it).

use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Daemon, Project, interrupt, python, send_signal, service, status, successor_status, wait_states,
};

const WAIT: Duration = Duration::from_secs(20);

/// A service that listens on `${PORT}` (only there) and says so.
fn listener(name: &str) -> String {
    format!(
        r#"command = ["{python}", "-c", "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', ${{PORT}})); s.listen(); print('{name} listening on', ${{PORT}}, flush=True); time.sleep(397)"]
port = "auto"
ready = {{ tcp = "${{PORT}}" }}"#,
        python = python(),
    )
}

fn port_of(status: &Value, name: &str) -> u16 {
    let ports = &service(status, name)["ports"];
    match ports.as_array().map(Vec::as_slice) {
        Some([port]) => port
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or_else(|| panic!("{status:#}")),
        _ => panic!("{name} has not one port: {status:#}"),
    }
}

#[test]
fn an_auto_port_flows_into_the_dependents_environment_its_ready_probe_and_ps() {
    let project = Project::new(&format!(
        r#"
[services.db]
{db}

[services.api]
command = ["sh", "-c", "echo \"api sees db at $DB_ADDR\"; exec sleep 398"]
env = {{ DB_ADDR = "127.0.0.1:${{services.db.port}}" }}
"#,
        db = listener("db"),
    ));
    let mut wrangle = project.spawn(&["up"]);
    let listening = wrangle.expect_line("db | db listening on ");
    let seen = wrangle.expect_line("api | api sees db at 127.0.0.1:");
    // The dependency the reference added: api started once db's probe on its port passed.
    assert!(seen > listening, "{}", wrangle.transcript());
    let lines = wrangle.lines();
    let port: u16 = lines[seen]
        .rsplit(':')
        .next()
        .and_then(|port| port.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}", wrangle.transcript()));
    assert!(
        lines[listening].ends_with(&format!("on {port}")),
        "{}",
        wrangle.transcript()
    );
    TcpStream::connect(("127.0.0.1", port)).expect("db listens on the port api was given");
    let ps = wait_states(&project, &[("db", "ready"), ("api", "running")]);
    assert_eq!(port_of(&ps, "db"), port, "{ps:#}");
    interrupt(&project, &mut wrangle);
}

#[test]
fn apply_and_a_successor_daemon_keep_the_picked_port() {
    let project = Project::new(&format!("[services.web]\n{}\n", listener("web")));
    let daemon = Daemon::start(&project, &[]);
    let before = wait_states(&project, &[("web", "ready")]);
    let port = port_of(&before, "web");
    let web_pid = service(&before, "web")["pid"].clone();

    let applied = project.run(&["apply"]);
    assert_eq!(applied.code, 0, "{applied:#?}");
    let after = status(&project);
    assert_eq!(port_of(&after, "web"), port, "{after:#}");
    assert_eq!(
        service(&after, "web")["pid"],
        web_pid,
        "apply restarted web: {after:#}"
    );

    assert!(send_signal(daemon.pid, "KILL"));
    let json = successor_status(&project, daemon.pid, WAIT);
    assert_eq!(port_of(&json, "web"), port, "{json:#}");
    assert_eq!(service(&json, "web")["pid"], web_pid, "{json:#}");
    TcpStream::connect(("127.0.0.1", port)).expect("web still listens on its port");
}
