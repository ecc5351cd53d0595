//! `[services.NAME]` and `[defaults]`: what a service resolves to, its keys and names, ports
//! declared twice, and its dependencies (unknown names, cycles, restart with a dependency).

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;

use super::{FULL, assert_error, load, load_error, load_toml, write};
use crate::spec::{DependencyCondition, ReadyCheck, RestartPolicy, Signal};

#[test]
fn full_file_with_every_key_resolves_to_the_expected_spec() {
    let dir = TempDir::new().expect("tempdir");
    fs::create_dir(dir.path().join("db")).expect("mkdir");
    write(
        dir.path(),
        ".env",
        "# base\nFROM_FILE=one\nOVERRIDDEN=file\nexport PORT_HINT=x\n",
    );
    write(dir.path(), "api.env", "FROM_FILE=two\n");
    let path = write(dir.path(), "wrangle.toml", FULL);
    let spec = match load(&path) {
        Ok(spec) => spec,
        Err(error) => panic!("{error}"),
    };
    let root = fs::canonicalize(dir.path()).expect("canonicalize");
    assert_eq!(spec.source, root.join("wrangle.toml"));
    assert_eq!(spec.root, root);
    let names: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "db",
            "migrate",
            "api",
            "worker",
            "exec-probe",
            "notifier",
            "tcp-host"
        ]
    );

    let db = &spec.services[0];
    assert_eq!(db.command.argv, ["postgres", "-D", "data dir"]);
    assert!(!db.command.shell);
    assert_eq!(db.cwd, root.join("db"));
    assert_eq!(db.ports, [5432]);
    assert_eq!(db.env.get("PORT").map(String::as_str), Some("5432"));
    assert_eq!(
        db.env.get("SHARED").map(String::as_str),
        Some("from-defaults")
    );
    assert_eq!(db.restart.policy, RestartPolicy::Always);
    assert_eq!(db.restart.max_restarts, 3);
    assert_eq!(db.restart.backoff_initial, Duration::from_millis(200));
    assert_eq!(db.restart.backoff_max, Duration::from_secs(30));
    assert_eq!(db.restart.window, Duration::from_secs(60));
    assert_eq!(db.restart.min_uptime, Duration::from_secs(300));
    assert_eq!(db.stop.signal, Signal::INT);
    assert_eq!(db.stop.timeout, Duration::from_secs(5));
    let probe = db.ready.as_ref().expect("db probe");
    assert!(matches!(&probe.check, ReadyCheck::Tcp { host, port: 5432 } if host == "127.0.0.1"));
    assert_eq!(probe.interval, Duration::from_millis(250));
    assert_eq!(probe.timeout, Duration::from_secs(30));

    let migrate = &spec.services[1];
    assert_eq!(migrate.command.argv, ["./migrate", "--all", "two words"]);
    assert_eq!(migrate.cwd, root);
    assert_eq!(migrate.restart.policy, RestartPolicy::Never);
    assert_eq!(migrate.depends_on.len(), 1);
    assert_eq!(migrate.depends_on[0].service, 0);
    assert_eq!(migrate.depends_on[0].condition, DependencyCondition::Ready);
    assert!(migrate.ready.is_none());
    assert!(!migrate.env.contains_key("PORT"));

    let api = &spec.services[2];
    assert_eq!(
        api.command.argv,
        ["sh", "-c", "exec ./api --port $PORT | tee log"]
    );
    assert!(api.command.shell);
    assert_eq!(api.cwd, PathBuf::from("/"));
    assert_eq!(api.ports, [8080, 8081]);
    let env = |key: &str| api.env.get(key).map(String::as_str);
    assert_eq!(env("OVERRIDDEN"), Some("service"));
    assert_eq!(env("FROM_FILE"), Some("two"));
    assert_eq!(env("PORT_HINT"), Some("x"));
    assert_eq!(env("DEBUG"), Some("true"));
    assert_eq!(env("WORKERS"), Some("4"));
    assert_eq!(env("RATIO"), Some("0.5"));
    assert_eq!(env("SHARED"), Some("from-defaults"));
    assert_eq!(env("PORT"), None, "two ports: no PORT");
    assert_eq!(api.env_files, [root.join(".env"), root.join("api.env")]);
    assert!(db.env_files.is_empty());
    assert_eq!(
        api.depends_on
            .iter()
            .map(|d| (d.service, d.condition))
            .collect::<Vec<_>>(),
        [
            (0, DependencyCondition::Ready),
            (1, DependencyCondition::Completed)
        ]
    );
    assert_eq!(api.restart.backoff_initial, Duration::from_secs(1));
    assert_eq!(api.restart.backoff_max, Duration::from_secs(60));
    assert_eq!(api.restart.window, Duration::from_secs(120));
    assert_eq!(api.restart.min_uptime, Duration::from_secs(90));
    assert_eq!(api.stop.signal, Signal::HUP);
    let probe = api.ready.as_ref().expect("api probe");
    assert!(
        matches!(&probe.check, ReadyCheck::Http { url } if url == "http://127.0.0.1:8080/health")
    );
    assert_eq!(probe.interval, Duration::from_secs(1));
    assert_eq!(probe.timeout, Duration::from_secs(60));

    let worker = &spec.services[3];
    assert_eq!(
        worker.env.get("OVERRIDDEN").map(String::as_str),
        Some("file")
    );
    assert_eq!(worker.env.get("PORT").map(String::as_str), Some("9000"));
    assert_eq!(worker.depends_on[0].condition, DependencyCondition::Started);
    let probe = worker.ready.as_ref().expect("worker probe");
    assert!(
        matches!(&probe.check, ReadyCheck::Log { pattern } if pattern.is_match("listening on 80"))
    );

    let exec = spec.services[4].ready.as_ref().expect("exec probe");
    assert!(
        matches!(&exec.check, ReadyCheck::Exec { command } if command.argv == ["pg_isready", "-h", "local host"] && !command.shell)
    );
    assert!(matches!(
        spec.services[5].ready.as_ref().map(|p| &p.check),
        Some(ReadyCheck::Notify)
    ));
    assert!(matches!(
        spec.services[6].ready.as_ref().map(|p| &p.check),
        Some(ReadyCheck::Tcp { host, port: 6379 }) if host == "localhost"
    ));
}

#[test]
fn built_in_defaults_apply_to_a_minimal_service() {
    let (dir, result) = load_toml("[services.web]\ncommand = \"serve\"\n");
    let spec = result.expect("valid");
    let web = &spec.services[0];
    assert_eq!(web.cwd, fs::canonicalize(dir.path()).expect("canonicalize"));
    assert!(web.env.is_empty());
    assert!(web.ports.is_empty());
    assert!(web.depends_on.is_empty());
    assert!(web.ready.is_none());
    assert_eq!(web.restart, crate::config::resolve::DEFAULT_RESTART);
    assert_eq!(web.stop.signal, Signal::TERM);
    assert_eq!(web.stop.timeout, Duration::from_secs(10));
}

#[test]
fn unknown_service_key_suggests_the_closest() {
    let rendered = assert_error(
        "[services.api]\ncomand = \"x\"\n",
        "unknown key `comand` in [services.api]",
        2,
        1,
    );
    assert!(
        rendered.contains("help: did you mean \"command\"?"),
        "{rendered}"
    );
    assert!(
        rendered.contains("expected one of: command, shell, cwd"),
        "{rendered}"
    );
}

#[test]
fn unknown_top_level_and_defaults_keys_are_errors() {
    let rendered = assert_error(
        "[service.api]\ncommand = \"x\"\n[services.b]\ncommand = \"y\"\n",
        "unknown key `service` in the top level",
        1,
        2,
    );
    assert!(
        rendered.contains("did you mean \"services\"?"),
        "{rendered}"
    );
    let rendered = assert_error(
        "[defaults]\nrestat = \"never\"\n[services.b]\ncommand = \"y\"\n",
        "unknown key `restat` in [defaults]",
        2,
        1,
    );
    assert!(rendered.contains("did you mean \"restart\"?"), "{rendered}");
    assert_error(
        "[defaults]\nport = 80\n[services.b]\ncommand = \"y\"\n",
        "`port` cannot be set in [defaults]",
        2,
        1,
    );
}

#[test]
fn all_semantic_errors_of_a_file_are_reported() {
    let error = load_error(
        "[services.a]\ncomand = \"x\"\n[services.b]\ncommand = \"y\"\nrestart = \"sometimes\"\nstop_timeout = \"0s\"\n",
    );
    let messages: Vec<&str> = error.diagnostics().iter().map(|d| d.message()).collect();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert!(error.render(false).contains("aborting: 4 problems"));
}

#[test]
fn a_port_declared_twice_is_located_at_the_second() {
    let rendered = assert_error(
        "[services.api]\ncommand = \"x\"\nport = 8080\n[services.web]\ncommand = \"y\"\nport = [9000, 8080]\n",
        "port 8080 is already declared by service \"api\"",
        6,
        15,
    );
    assert!(rendered.contains("first declared here"), "{rendered}");
}

#[test]
fn shell_true_with_an_array_command_is_an_error() {
    let rendered = assert_error(
        "[services.a]\ncommand = [\"echo\", \"hi\"]\nshell = true\n",
        "shell = true needs command to be a string",
        2,
        11,
    );
    assert!(rendered.contains("shell = true set here"), "{rendered}");
}

#[test]
fn invalid_service_names_state_the_rule() {
    let rendered = assert_error(
        "[services.\"my app\"]\ncommand = \"x\"\n",
        "invalid service name \"my app\"",
        1,
        11,
    );
    assert!(
        rendered.contains("starts with a letter or digit"),
        "{rendered}"
    );
    let long = "n".repeat(201);
    let rendered = assert_error(
        &format!("[services.{long}]\ncommand = \"x\"\n"),
        "invalid service name",
        1,
        11,
    );
    assert!(
        rendered.contains("201 bytes long; a service name is at most 200 bytes"),
        "{rendered}"
    );
    let (_dir, result) = load_toml(&format!("[services.{}]\ncommand = \"x\"\n", &long[1..]));
    assert_eq!(
        result.expect("200 bytes is valid").services[0].name.len(),
        200
    );
}

#[test]
fn missing_services_and_missing_command_are_errors() {
    let error = load_error("[defaults]\nrestart = \"never\"\n");
    assert!(
        error.diagnostics()[0]
            .message()
            .contains("no service is defined")
    );
    assert!(error.render(false).contains("--> "), "{error}");
    assert_error(
        "[services.a]\ncwd = \".\"\n",
        "service \"a\" has no `command`",
        1,
        11,
    );
    assert!(
        load_error("").diagnostics()[0]
            .message()
            .contains("no service")
    );
}

#[test]
fn unknown_dependency_suggests_a_service() {
    let rendered = assert_error(
        "[services.database]\ncommand = \"x\"\n[services.api]\ncommand = \"y\"\ndepends_on = [\"databse\"]\n",
        "service \"api\" depends on unknown service \"databse\"",
        5,
        15,
    );
    assert!(
        rendered.contains("did you mean \"database\"?"),
        "{rendered}"
    );
    assert_error(
        "[services.db]\ncommand = \"x\"\n[services.api]\ncommand = \"y\"\ndepends_on = { db = \"healthy\" }\n",
        "invalid dependency condition \"healthy\"",
        5,
        21,
    );
}

#[test]
fn dependency_cycles_name_the_path() {
    let text = "\
[services.a]
command = \"x\"
depends_on = [\"b\"]
[services.b]
command = \"x\"
depends_on = [\"c\"]
[services.c]
command = \"x\"
depends_on = [\"a\"]
";
    assert_error(text, "dependency cycle: a -> b -> c -> a", 9, 15);
    assert_error(
        "[services.a]\ncommand = \"x\"\ndepends_on = { a = \"started\" }\n",
        "service \"a\" depends on itself (dependency cycle: a -> a)",
        3,
        16,
    );
}

#[test]
fn a_dependency_can_ask_to_restart_with_its_dependency() {
    let (_dir, result) = load_toml(
        "[services.db]\ncommand = \"true\"\n\n[services.api]\ncommand = \"true\"\ndepends_on = { db = { condition = \"started\", restart = true } }\n",
    );
    let spec = result.expect("valid");
    let edge = spec.services[1].depends_on[0];
    assert_eq!(
        (edge.service, edge.condition, edge.restart),
        (0, crate::spec::DependencyCondition::Started, true)
    );
    assert_error(
        "[services.db]\ncommand = \"true\"\n\n[services.api]\ncommand = \"true\"\ndepends_on = { db = { restrat = true } }\n",
        "unknown key `restrat`",
        6,
        23,
    );
}

#[test]
fn a_kubernetes_image_is_read_and_checked() {
    let (_dir, result) = load_toml(
        "[services.a]\ncommand = \"x\"\n[services.a.kubernetes]\nimage = \"registry.example/app:1.2\"\n\n[services.b]\ncommand = \"x\"\n",
    );
    let spec = result.expect("valid");
    assert_eq!(
        spec.services[0].kubernetes.image.as_deref(),
        Some("registry.example/app:1.2")
    );
    assert_eq!(spec.services[1].kubernetes.image, None);
    assert_error(
        "[services.a]\ncommand = \"x\"\nkubernetes = { image = \"app 1\" }\n",
        "invalid image \"app 1\"",
        3,
        24,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nkubernetes = { image = \"\" }\n",
        "invalid image",
        3,
        24,
    );
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nkubernetes = { imag = \"app\" }\n",
        "unknown key `imag` in [services.a.kubernetes]",
        3,
        16,
    );
    assert!(rendered.contains("did you mean \"image\""), "{rendered}");
    assert_error(
        "[defaults]\nkubernetes = { image = \"app\" }\n[services.a]\ncommand = \"x\"\n",
        "`kubernetes` cannot be set in [defaults]",
        2,
        1,
    );
}

#[test]
fn nice_and_limits_are_read_and_merged_per_key_with_defaults() {
    use crate::spec::{ProcessSpec, ResourceLimits};
    let (_dir, result) = load_toml(
        "[defaults]\nnice = 5\nlimits = { core = 0, nofile = 4096 }\n\n\
         [services.a]\ncommand = \"x\"\nnice = -2\n\
         limits = { nofile = 65536, nproc = \"unlimited\", memlock = \"64MiB\" }\n\n\
         [services.b]\ncommand = \"x\"\n",
    );
    let spec = result.expect("valid");
    assert_eq!(
        spec.services[0].process,
        ProcessSpec {
            nice: Some(-2),
            rlimits: ResourceLimits {
                nofile: Some(65536),
                nproc: Some(ResourceLimits::UNLIMITED),
                core: Some(0),
                memlock: Some(64 * 1024 * 1024),
            },
            ..ProcessSpec::default()
        }
    );
    assert_eq!(
        spec.services[1].process,
        ProcessSpec {
            nice: Some(5),
            rlimits: ResourceLimits {
                nofile: Some(4096),
                core: Some(0),
                ..ResourceLimits::default()
            },
            ..ProcessSpec::default()
        }
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nnice = -21\n",
        "-21 is out of range for `services.a.nice`",
        3,
        8,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nlimits = { nofile = \"64MiB\" }\n",
        "invalid limit for `services.a.limits.nofile`",
        3,
        21,
    );
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nlimits = { nofiles = 10 }\n",
        "unknown key `nofiles` in `services.a.limits`",
        3,
        12,
    );
    assert!(rendered.contains("did you mean \"nofile\""), "{rendered}");
}

#[test]
fn cpu_max_is_a_share_of_one_cpu_or_a_number_of_cpus() {
    let (_dir, result) = load_toml(
        "[defaults]\ncpu_max = \"50%\"\n\n\
         [services.a]\ncommand = \"x\"\ncpu_max = \"1.5\"\n\n\
         [services.b]\ncommand = \"x\"\n\n\
         [services.c]\ncommand = \"x\"\ncpu_max = 2\n",
    );
    let spec = result.expect("valid");
    let cpu_max: Vec<Option<u64>> = spec
        .services
        .iter()
        .map(|service| service.process.cpu_max)
        .collect();
    assert_eq!(cpu_max, [Some(1_500_000), Some(500_000), Some(2_000_000)]);
    assert_error(
        "[services.a]\ncommand = \"x\"\ncpu_max = \"0%\"\n",
        "invalid CPU limit for `services.a.cpu_max`",
        3,
        11,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\ncpu_max = \"lots\"\n",
        "invalid CPU limit for `services.a.cpu_max`",
        3,
        11,
    );
}

#[test]
fn user_and_group_name_accounts_and_defaults_fill_in() {
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let (_dir, result) = load_toml(&format!(
        "[defaults]\nuser = {uid}\ngroup = {gid}\n\n\
         [services.a]\ncommand = \"x\"\ngroup = \"{gid}\"\n\n\
         [services.b]\ncommand = \"x\"\n"
    ));
    let spec = result.expect("valid");
    let a = spec.services[0]
        .process
        .run_as
        .clone()
        .expect("a has run_as");
    assert_eq!(a.user.as_deref(), Some(uid.to_string().as_str()));
    assert_eq!(a.group.as_deref(), Some(gid.to_string().as_str()));
    let account = a.account.clone().expect("resolved");
    assert_eq!((account.uid, account.gid), (uid, gid));
    assert_eq!(account.groups, vec![gid]);
    let b = spec.services[1]
        .process
        .run_as
        .clone()
        .expect("b has run_as");
    assert_eq!(b.group.as_deref(), Some(gid.to_string().as_str()));
    assert_eq!(b.account, a.account);
    // A number with no entry has no group of its own.
    assert_error(
        "[services.a]\ncommand = \"x\"\nuser = 4242\n",
        "user 4242 has no entry in /etc/passwd",
        3,
        8,
    );
    // The test's lookup knows numbers only.
    assert_error(
        "[services.a]\ncommand = \"x\"\nuser = \"somebody\"\n",
        "no user named \"somebody\" on this machine",
        3,
        8,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nuser = [1]\n",
        "`services.a.user`",
        3,
        8,
    );
}
