//! `[sockets.NAME]`, a service's `sockets` and `instances`, and a probe's `per_instance`.

use std::net::SocketAddr;

use super::{assert_error, load_toml};
use crate::spec::{Instances, ListenAddress, ReadyCheck};

#[test]
fn sockets_are_resolved_and_listed_in_order() {
    let (dir, result) = load_toml(
        r#"
[sockets.http]
listen = "tcp://127.0.0.1:8080"

[sockets.admin]
listen = "unix:run/admin.sock"
mode = "0660"

[sockets.any]
listen = "tcp://[::]:9090"

[services.web]
command = "./web"
sockets = ["admin", "http"]
instances = 4
"#,
    );
    // The directory of the Unix socket must exist: create it, then load again.
    drop(result);
    std::fs::create_dir(dir.path().join("run")).expect("mkdir");
    let spec = super::load(&dir.path().join("wrangle.toml")).expect("valid");
    assert_eq!(spec.sockets.len(), 3);
    assert_eq!(spec.sockets[0].name, "http");
    assert_eq!(
        spec.sockets[0].listen,
        ListenAddress::Tcp("127.0.0.1:8080".parse::<SocketAddr>().expect("addr"))
    );
    let ListenAddress::Unix(unix) = &spec.sockets[1].listen else {
        panic!("{:?}", spec.sockets[1]);
    };
    assert_eq!(unix.path, spec.root.join("run/admin.sock"));
    assert!(unix.path.is_absolute());
    assert_eq!(unix.mode, 0o660);
    assert_eq!(
        spec.sockets[1].listen.describe(),
        format!("unix:{}", unix.path.display())
    );
    assert_eq!(spec.sockets[2].listen.describe(), "tcp://[::]:9090");
    let web = &spec.services[0];
    assert_eq!(web.sockets, vec![1, 0]);
    assert_eq!(web.instances, Instances::Count(4));
}

#[test]
fn instances_default_to_one_and_max_means_one_per_cpu() {
    let (_dir, result) = load_toml(
        "[services.a]\ncommand = \"x\"\n\n[services.b]\ncommand = \"x\"\ninstances = \"max\"\n",
    );
    let spec = result.expect("valid");
    assert_eq!(spec.services[0].instances, Instances::Count(1));
    assert_eq!(spec.services[1].instances, Instances::PerCpu);
    assert_eq!(Instances::PerCpu.count(6), 6);
    assert_eq!(Instances::PerCpu.count(0), 1);
}

#[test]
fn bad_instance_counts_are_located() {
    assert_error(
        "[services.a]\ncommand = \"x\"\ninstances = 0\n",
        "0 is out of range for `services.a.instances`",
        3,
        13,
    );
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\ninstances = \"all\"\n",
        "invalid instance count \"all\"",
        3,
        13,
    );
    assert!(rendered.contains("instances = \"max\""), "{rendered}");
    assert_error(
        "[services.a]\ncommand = \"x\"\ninstances = 5000\n",
        "out of range for `services.a.instances`",
        3,
        13,
    );
}

#[test]
fn several_instances_cannot_share_a_port() {
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nport = 8080\ninstances = 2\n",
        "service \"a\" has several instances and a `port`",
        4,
        13,
    );
    assert!(rendered.contains("list it in `sockets`"), "{rendered}");
}

#[test]
fn listen_addresses_are_checked() {
    for (listen, label) in [
        (
            "http://127.0.0.1:80",
            "expected tcp://HOST:PORT or unix:PATH",
        ),
        ("tcp://localhost:80", "host names are not resolved"),
        ("tcp://127.0.0.1:0", "port 0"),
        ("tcp://127.0.0.1", "not an IP address with a port"),
        ("unix:", "no path after unix:"),
        ("unix:@abstract", "abstract Unix sockets"),
    ] {
        let rendered = assert_error(
            &format!("[sockets.s]\nlisten = \"{listen}\"\n\n[services.a]\ncommand = \"x\"\n"),
            &format!("invalid socket address \"{listen}\""),
            2,
            10,
        );
        assert!(rendered.contains(label), "{listen}: {rendered}");
    }
    assert_error(
        "[sockets.s]\nmode = \"0600\"\n\n[services.a]\ncommand = \"x\"\n",
        "socket \"s\" has no `listen` address",
        1,
        10,
    );
    assert_error(
        "[sockets.s]\nlisten = \"tcp://127.0.0.1:80\"\nbacklog = 5\n\n[services.a]\ncommand = \"x\"\n",
        "unknown key `backlog` in [sockets.s]",
        3,
        1,
    );
    assert_error(
        "[sockets.\"a:b\"]\nlisten = \"tcp://127.0.0.1:80\"\n\n[services.a]\ncommand = \"x\"\n",
        "invalid socket name \"a:b\"",
        1,
        10,
    );
}

#[test]
fn a_mode_is_octal_for_a_unix_socket_only() {
    assert_error(
        "[sockets.s]\nlisten = \"tcp://127.0.0.1:80\"\nmode = \"0600\"\n\n[services.a]\ncommand = \"x\"\n",
        "`sockets.s.mode` is only for a Unix socket",
        3,
        8,
    );
    assert_error(
        "[sockets.s]\nlisten = \"unix:s.sock\"\nmode = 660\n\n[services.a]\ncommand = \"x\"\n",
        "`sockets.s.mode`",
        3,
        8,
    );
    assert_error(
        "[sockets.s]\nlisten = \"unix:s.sock\"\nmode = \"0444\"\n\n[services.a]\ncommand = \"x\"\n",
        "`sockets.s.mode` leaves the owner unable to connect",
        3,
        8,
    );
    let (_dir, result) = load_toml(
        "[sockets.s]\nlisten = \"unix:s.sock\"\nmode = 0o666\n\n[services.a]\ncommand = \"x\"\nsockets = [\"s\"]\n",
    );
    let spec = result.expect("valid");
    let ListenAddress::Unix(unix) = &spec.sockets[0].listen else {
        panic!("{:?}", spec.sockets);
    };
    assert_eq!(unix.mode, 0o666);
}

#[test]
fn two_sockets_cannot_hold_one_address() {
    let rendered = assert_error(
        "[sockets.a]\nlisten = \"tcp://0.0.0.0:8080\"\n\n[sockets.b]\nlisten = \"tcp://127.0.0.1:8080\"\n\n[services.x]\ncommand = \"x\"\n",
        "socket \"b\" listens where socket \"a\" already does",
        5,
        10,
    );
    assert!(rendered.contains("socket \"a\" listens here"), "{rendered}");
    assert_error(
        "[sockets.a]\nlisten = \"unix:s.sock\"\n\n[sockets.b]\nlisten = \"unix:./s.sock\"\n\n[services.x]\ncommand = \"x\"\n",
        "socket \"b\" listens where socket \"a\" already does",
        5,
        10,
    );
    // Different addresses on one port are fine.
    let (_dir, result) = load_toml(
        "[sockets.a]\nlisten = \"tcp://127.0.0.1:8080\"\n\n[sockets.b]\nlisten = \"tcp://127.0.0.2:8080\"\n\n[services.x]\ncommand = \"x\"\n",
    );
    result.expect("valid");
}

#[test]
fn a_socket_port_is_neither_a_service_port_nor_the_metrics_port() {
    let rendered = assert_error(
        "[sockets.http]\nlisten = \"tcp://127.0.0.1:8080\"\n\n[services.web]\ncommand = \"x\"\nport = 8080\n",
        "socket \"http\" uses port 8080, which service \"web\" declares",
        2,
        10,
    );
    assert!(rendered.contains("sockets = [\"http\"]"), "{rendered}");
    assert_error(
        "[metrics]\nlisten = 9464\n\n[sockets.http]\nlisten = \"tcp://0.0.0.0:9464\"\n\n[services.web]\ncommand = \"x\"\n",
        "socket \"http\" uses port 9464, which [metrics] listens on",
        5,
        10,
    );
}

#[test]
fn a_service_lists_known_sockets_once() {
    let rendered = assert_error(
        "[sockets.http]\nlisten = \"tcp://127.0.0.1:8080\"\n\n[services.web]\ncommand = \"x\"\nsockets = [\"htp\"]\n",
        "service \"web\" lists unknown socket \"htp\"",
        6,
        12,
    );
    assert!(rendered.contains("did you mean \"http\"?"), "{rendered}");
    let rendered = assert_error(
        "[services.web]\ncommand = \"x\"\nsockets = [\"http\"]\n",
        "service \"web\" lists unknown socket \"http\"",
        3,
        12,
    );
    assert!(rendered.contains("[sockets.http]"), "{rendered}");
    assert_error(
        "[sockets.http]\nlisten = \"tcp://127.0.0.1:8080\"\n\n[services.web]\ncommand = \"x\"\nsockets = [\"http\", \"http\"]\n",
        "service \"web\" lists socket \"http\" twice",
        6,
        20,
    );
}

#[test]
fn a_unix_socket_path_is_short_enough_and_in_a_directory_that_exists() {
    let long = "d".repeat(120);
    assert_error(
        &format!("[sockets.s]\nlisten = \"unix:{long}.sock\"\n\n[services.a]\ncommand = \"x\"\n"),
        "is too long",
        2,
        10,
    );
    assert_error(
        "[sockets.s]\nlisten = \"unix:missing/s.sock\"\n\n[services.a]\ncommand = \"x\"\n",
        "the directory of Unix socket",
        2,
        10,
    );
}

#[test]
fn per_instance_moves_the_port_of_http_and_tcp_probes_only() {
    let (_dir, result) = load_toml(
        "[services.a]\ncommand = \"x\"\ninstances = 3\nready = { http = \"http://127.0.0.1:9100/health?x=1\", per_instance = true }\n",
    );
    let spec = result.expect("valid");
    let probe = spec.services[0].ready.as_ref().expect("probe");
    assert!(probe.per_instance);
    let ReadyCheck::Http { url } = probe.check.for_instance(2).expect("in range") else {
        panic!("{probe:?}");
    };
    assert_eq!(url, "http://127.0.0.1:9102/health?x=1");
    let tcp = ReadyCheck::Tcp {
        host: "::1".into(),
        port: 65534,
    };
    assert!(matches!(
        tcp.for_instance(1),
        Some(ReadyCheck::Tcp { port: 65535, .. })
    ));
    assert!(tcp.for_instance(2).is_none());
    let http = ReadyCheck::Http {
        url: "http://[::1]/".into(),
    };
    let Some(ReadyCheck::Http { url }) = http.for_instance(1) else {
        panic!();
    };
    assert_eq!(url, "http://[::1]:81/");
    assert_error(
        "[services.a]\ncommand = \"x\"\nready = { log = \"up\", per_instance = true }\n",
        "`services.a.ready.per_instance` needs an http or tcp probe",
        3,
        38,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\ninstances = 2\nready = { tcp = 65534, per_instance = true }\n",
        "the per-instance probe of service \"a\" runs out of ports",
        3,
        13,
    );
}
