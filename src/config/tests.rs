//! Tests of the config loader as a whole: real files in temporary directories in, a spec or
//! located diagnostics out. Tests of one format's details live next to that format's parser.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::config::{ConfigError, discover, load};
use crate::spec::{DependencyCondition, ProjectSpec, ReadyCheck, RestartPolicy, Signal};

mod notify;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent");
    }
    fs::write(&path, text).expect("write file");
    path
}

/// Writes `text` as `wrangle.toml` in a fresh directory and loads it.
fn load_toml(text: &str) -> (TempDir, Result<ProjectSpec, ConfigError>) {
    let dir = TempDir::new().expect("tempdir");
    let path = write(dir.path(), "wrangle.toml", text);
    let result = load(&path);
    (dir, result)
}

fn load_error(text: &str) -> ConfigError {
    let (_dir, result) = load_toml(text);
    match result {
        Ok(spec) => panic!("expected an error, got {spec:#?}"),
        Err(error) => error,
    }
}

/// Asserts that loading `text` reports a diagnostic whose message contains `fragment`, at
/// `line:column`, and that the rendering shows `wrangle.toml:line:column`. Returns the rendering.
fn assert_error(text: &str, fragment: &str, line: usize, column: usize) -> String {
    let error = load_error(text);
    let rendered = error.render(false);
    let diagnostic = error
        .diagnostics()
        .iter()
        .find(|diagnostic| diagnostic.message().contains(fragment))
        .unwrap_or_else(|| panic!("no diagnostic containing {fragment:?} in:\n{rendered}"));
    assert_eq!(
        diagnostic.line_column(),
        Some((line, column)),
        "wrong location for {fragment:?} in:\n{rendered}"
    );
    assert!(
        rendered.contains(&format!("wrangle.toml:{line}:{column}")),
        "{rendered}"
    );
    rendered
}

const FULL: &str = r#"
[defaults]
restart = "always"
stop_timeout = "5s"
env = { SHARED = "from-defaults", OVERRIDDEN = "defaults" }
max_restarts = 3

[services.db]
command = ["postgres", "-D", "data dir"]
cwd = "db"
port = 5432
ready = { tcp = 5432, interval = "250ms", timeout = 30 }
stop_signal = "SIGINT"

[services.migrate]
command = "./migrate --all 'two words'"
depends_on = ["db"]
restart = "never"

[services.api]
command = "exec ./api --port $PORT | tee log"
shell = true
cwd = "/"
env = { OVERRIDDEN = "service", DEBUG = true, WORKERS = 4, RATIO = 0.5 }
env_file = [".env", "api.env"]
port = [8080, 8081]
depends_on = { db = "ready", migrate = "completed" }
backoff_initial = "1s"
backoff_max = "1m"
restart_window = "2m"
min_uptime = "90s"
stop_signal = 1

[services.api.ready]
http = "http://127.0.0.1:8080/health"

[services.worker]
command = ["worker"]
env_file = ".env"
port = 9000
depends_on = { api = "started" }
ready.log = "listening on \\d+"

[services.exec-probe]
command = "sleep 100"
ready = { exec = "pg_isready -h 'local host'" }

[services.notifier]
command = ["notifier"]
ready = { notify = true }

[services.tcp-host]
command = ["x"]
ready = { tcp = "localhost:6379" }
"#;

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
fn metacharacters_stay_literal_argv_words() {
    let (_dir, result) =
        load_toml("[services.x]\ncommand = \"echo a; rm -rf / $(whoami) `x` *\"\n");
    let spec = result.expect("valid");
    assert_eq!(
        spec.services[0].command.argv,
        ["echo", "a;", "rm", "-rf", "/", "$(whoami)", "`x`", "*"]
    );
    assert!(!spec.services[0].command.shell);
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
fn unknown_ready_key_is_an_error() {
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nready = { tcp = 1, intervall = \"1s\" }\n",
        "unknown key `intervall`",
        3,
        20,
    );
    assert!(
        rendered.contains("did you mean \"interval\"?"),
        "{rendered}"
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    let rendered = assert_error(
        "[services.a]\ncommand = 42\n",
        "expected a string or an array of strings for `services.a.command`, found an integer",
        2,
        11,
    );
    assert!(rendered.contains("^^"), "{rendered}");
    assert_error(
        "[services.a]\ncommand = \"x\"\ncwd = true\n",
        "expected a string for `services.a.cwd`, found a boolean",
        3,
        7,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nenv = { A = [1] }\n",
        "expected a string, number or boolean for `services.a.env.A`",
        3,
        13,
    );
    assert_error(
        "[services.a]\ncommand = [\"x\", 1]\n",
        "expected a string (every argv element is a string)",
        2,
        17,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nport = 70000\n",
        "70000 is out of range for `services.a.port`",
        3,
        8,
    );
    assert_error(
        "[services]\na = 1\n",
        "expected a table for `services.a`, found an integer",
        2,
        5,
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
fn bad_durations_are_located_with_an_example() {
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nstop_timeout = \"10 parsecs\"\n",
        "invalid duration \"10 parsecs\" for `services.a.stop_timeout`",
        3,
        16,
    );
    assert!(rendered.contains("\"500ms\""), "{rendered}");
    assert_error(
        "[services.a]\ncommand = \"x\"\nready = { tcp = 1, timeout = 0 }\n",
        "`services.a.ready.timeout` must be greater than zero",
        3,
        30,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nbackoff_max = -1\n",
        "must not be negative",
        3,
        15,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nbackoff_initial = \"1m\"\nbackoff_max = \"10s\"\n",
        "backoff_max (10s) must not be less than backoff_initial (1m)",
        4,
        15,
    );
    // Bare integers are seconds, and backoff_initial may be zero.
    let (_dir, result) =
        load_toml("[services.a]\ncommand = \"x\"\nbackoff_initial = 0\nstop_timeout = 3\n");
    let spec = result.expect("valid");
    assert_eq!(spec.services[0].stop.timeout, Duration::from_secs(3));
    assert_eq!(spec.services[0].restart.backoff_initial, Duration::ZERO);
}

#[test]
fn bad_regex_shows_the_regex_error() {
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nready = { log = \"ready (\" }\n",
        "invalid regex in `services.a.ready.log`",
        3,
        17,
    );
    assert!(rendered.contains("unclosed group"), "{rendered}");
}

#[test]
fn bad_signal_suggests_a_name() {
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nstop_signal = \"SIGTREM\"\n",
        "unknown signal \"SIGTREM\"",
        3,
        15,
    );
    assert!(rendered.contains("did you mean \"SIGTERM\"?"), "{rendered}");
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nstop_signal = \"INTT\"\n",
        "unknown signal",
        3,
        15,
    );
    assert!(rendered.contains("did you mean \"SIGINT\"?"), "{rendered}");
}

#[test]
fn probes_need_exactly_one_kind() {
    assert_error(
        "[services.a]\ncommand = \"x\"\nready = { interval = \"1s\" }\n",
        "`services.a.ready` sets no probe kind",
        3,
        9,
    );
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\n[services.a.ready]\ntcp = 80\nhttp = \"http://x/\"\n",
        "`services.a.ready` sets more than one probe kind",
        5,
        1,
    );
    assert!(rendered.contains("first probe kind"), "{rendered}");
}

#[test]
fn https_and_malformed_probe_urls_are_rejected() {
    assert_error(
        "[services.a]\ncommand = \"x\"\nready.http = \"https://localhost/health\"\n",
        "https probes are not supported",
        3,
        14,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nready.http = \"localhost:80/health\"\n",
        "expected an http:// URL",
        3,
        14,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nready.tcp = \"nohost\"\n",
        "invalid TCP address \"nohost\"",
        3,
        13,
    );
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
fn port_sets_port_env_unless_given() {
    let dir = TempDir::new().expect("tempdir");
    write(dir.path(), "p.env", "PORT=1234\n");
    let path = write(
        dir.path(),
        "wrangle.toml",
        "[services.a]\ncommand = \"x\"\nport = 80\nenv_file = \"p.env\"\n[services.b]\ncommand = \"x\"\nport = 81\n",
    );
    let spec = load(&path).expect("valid");
    assert_eq!(spec.services[0].env["PORT"], "1234");
    assert_eq!(spec.services[1].env["PORT"], "81");
}

#[test]
fn missing_cwd_is_located() {
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\ncwd = \"nope\"\n",
        "working directory",
        3,
        7,
    );
    assert!(rendered.contains("does not exist"), "{rendered}");
    // A missing cwd in [defaults] shared by two services is reported once.
    let error = load_error(
        "[defaults]\ncwd = \"nope\"\n[services.a]\ncommand = \"x\"\n[services.b]\ncommand = \"x\"\n",
    );
    assert_eq!(error.diagnostics().len(), 1, "{error}");
}

#[test]
fn missing_env_file_is_located_at_the_value() {
    assert_error(
        "[services.a]\ncommand = \"x\"\nenv_file = [\"missing.env\"]\n",
        "cannot read env file",
        3,
        13,
    );
}

#[test]
fn bad_dotenv_line_names_the_env_file_and_line() {
    let dir = TempDir::new().expect("tempdir");
    write(dir.path(), ".env", "GOOD=1\nthis is not a pair\n");
    let path = write(
        dir.path(),
        "wrangle.toml",
        "[services.a]\ncommand = \"x\"\nenv_file = \".env\"\n",
    );
    let error = load(&path).expect_err("bad env file");
    let rendered = error.render(false);
    let diagnostic = &error.diagnostics()[0];
    assert!(
        diagnostic.message().contains("expected KEY=VALUE"),
        "{rendered}"
    );
    assert_eq!(diagnostic.line_column(), Some((2, 1)));
    assert!(rendered.contains(".env:2:1"), "{rendered}");
    assert!(rendered.contains("env_file declared at"), "{rendered}");
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
fn unbalanced_quotes_are_located() {
    assert_error(
        "[services.a]\ncommand = \"echo 'open\"\n",
        "unbalanced quotes",
        2,
        11,
    );
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
}

#[test]
fn syntax_errors_stop_at_the_first() {
    let error = load_error("[services.a]\ncommand = \"x\nport = 1\n[[[\n");
    assert_eq!(error.diagnostics().len(), 1, "{error}");
    assert!(error.diagnostics()[0].message().starts_with("invalid TOML"));
    assert!(error.diagnostics()[0].line_column().is_some());
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
fn discover_walks_up_and_prefers_wrangle_toml() {
    let dir = TempDir::new().expect("tempdir");
    let deep = dir.path().join("a/b/c");
    fs::create_dir_all(&deep).expect("mkdir");
    write(dir.path(), "Procfile", "web: serve\n");
    assert_eq!(discover(&deep).expect("found"), dir.path().join("Procfile"));
    write(
        dir.path(),
        "wrangle.toml",
        "[services.a]\ncommand = \"x\"\n",
    );
    assert_eq!(
        discover(&deep).expect("found"),
        dir.path().join("wrangle.toml")
    );
    write(&dir.path().join("a"), "Procfile", "web: serve\n");
    assert_eq!(
        discover(&deep).expect("found"),
        dir.path().join("a/Procfile")
    );
}

#[test]
fn discover_failure_names_the_start_and_suggests_wrangle_toml() {
    // The temp dir lives under /tmp, and nothing above it should hold a config. If a machine
    // does have one, the walk legitimately finds it: skip the assertion rather than fail.
    let dir = TempDir::new().expect("tempdir");
    if let Err(error) = discover(dir.path()) {
        let rendered = error.render(false);
        assert!(
            rendered.contains(&dir.path().display().to_string()),
            "{rendered}"
        );
        assert!(rendered.contains("create a wrangle.toml"), "{rendered}");
    }
}

#[test]
fn unreadable_file_is_an_unlocated_error() {
    let error = load(Path::new("/nonexistent/wrangle.toml")).expect_err("missing");
    assert!(
        error
            .to_string()
            .contains("cannot read file /nonexistent/wrangle.toml")
    );
    assert!(error.diagnostics()[0].line_column().is_none());
}

#[test]
fn procfile_is_parsed_as_shell_lines_with_defaults() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        dir.path(),
        "Procfile",
        "# comment\n\nweb: bundle exec rails s -p $PORT\nworker:  ./work --queue=a && echo done  \r\n",
    );
    let spec = load(&path).expect("valid");
    let root = fs::canonicalize(dir.path()).expect("canonicalize");
    assert_eq!(spec.root, root);
    assert_eq!(spec.services.len(), 2);
    assert_eq!(spec.services[0].name, "web");
    assert_eq!(
        spec.services[0].command.argv,
        ["sh", "-c", "bundle exec rails s -p $PORT"]
    );
    assert!(spec.services[0].command.shell);
    assert_eq!(
        spec.services[1].command.argv[2],
        "./work --queue=a && echo done"
    );
    assert_eq!(spec.services[1].cwd, root);
    assert_eq!(spec.services[1].restart.policy, RestartPolicy::OnFailure);
    assert!(spec.services[1].ports.is_empty());
    // Any name starting with "Procfile" is a Procfile.
    let dev = write(dir.path(), "Procfile.dev", "web: serve\n");
    assert_eq!(
        load(&dev).expect("valid").services[0].command.argv[2],
        "serve"
    );
}

#[test]
fn procfile_errors_are_located() {
    let dir = TempDir::new().expect("tempdir");
    let path = write(
        dir.path(),
        "Procfile",
        "web: serve\nbroken line\nweb: again\nbad name: x\nempty:\n",
    );
    let error = load(&path).expect_err("invalid");
    let rendered = error.render(false);
    let located: Vec<(String, Option<(usize, usize)>)> = error
        .diagnostics()
        .iter()
        .map(|d| (d.message().to_string(), d.line_column()))
        .collect();
    assert_eq!(located.len(), 4, "{rendered}");
    assert!(located[0].0.contains("expected `name: command`"));
    assert_eq!(located[0].1, Some((2, 1)));
    assert!(located[1].0.contains("\"web\" is defined twice"));
    assert_eq!(located[1].1, Some((3, 1)));
    assert!(located[2].0.contains("invalid service name \"bad name\""));
    assert_eq!(located[2].1, Some((4, 1)));
    assert!(located[3].0.contains("\"empty\" has no command"));
    assert_eq!(located[3].1, Some((5, 6)));
    assert!(rendered.contains("Procfile:2:1"), "{rendered}");

    let empty = write(dir.path(), "Procfile.empty", "# nothing\n\n");
    let error = load(&empty).expect_err("empty");
    assert!(error.to_string().contains("defines no service"), "{error}");
}

/// A tiny deterministic generator, so the mutation test needs no extra crate and is
/// reproducible.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

#[test]
fn mutated_and_truncated_inputs_never_panic() {
    let dir = TempDir::new().expect("tempdir");
    fs::create_dir(dir.path().join("db")).expect("mkdir");
    write(dir.path(), ".env", "FROM_FILE=one\n");
    write(dir.path(), "api.env", "FROM_FILE=two\n");
    let toml_path = dir.path().join("wrangle.toml");
    let procfile_path = dir.path().join("Procfile");
    let procfile = "web: serve --port $PORT\n# c\nworker: ./w\n";
    let interesting: &[u8] = b"[]{}=\"'#:.,\n\\ 0x-_$`*;|&\xff\xc3\x00";
    let mut random = Lcg(0x5eed);

    let check = |path: &Path, bytes: &[u8]| {
        fs::write(path, bytes).expect("write");
        if let Err(error) = load(path) {
            let _ = error.render(true);
            let _ = error.render(false);
            for diagnostic in error.diagnostics() {
                let _ = diagnostic.line_column();
            }
        }
    };

    for (path, base) in [(&toml_path, FULL), (&procfile_path, procfile)] {
        let base = base.as_bytes();
        for cut in 0..base.len() {
            check(path, &base[..cut]);
        }
        for _ in 0..1000 {
            let mut bytes = base.to_vec();
            for _ in 0..=random.below(4) {
                let index = random.below(bytes.len());
                match random.below(4) {
                    0 => {
                        bytes.remove(index.min(bytes.len().saturating_sub(1)));
                    }
                    1 => bytes.insert(index, interesting[random.below(interesting.len())]),
                    2 => {
                        let last = bytes.len() - 1;
                        bytes[index.min(last)] = random.below(256) as u8;
                    }
                    _ => {
                        let end = (index + random.below(40)).min(bytes.len());
                        let chunk = bytes[index..end].to_vec();
                        let at = random.below(bytes.len());
                        bytes.splice(at..at, chunk);
                    }
                }
                if bytes.is_empty() {
                    bytes.push(b'x');
                }
            }
            check(path, &bytes);
        }
    }
}

#[test]
fn deeply_nested_values_do_not_overflow_the_stack() {
    for n in [1000usize, 100_000] {
        let text = format!("a = {}{}\n", "[".repeat(n), "]".repeat(n));
        let _ = load_toml(&text);
        let text = format!("a = {}1{}\n", "{b=".repeat(n), "}".repeat(n));
        let _ = load_toml(&text);
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

#[test]
fn fixtures_load_as_their_names_say() {
    let spec = load(&fixture("valid.toml")).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(spec.services.len(), 6);
    let api = &spec.services[2];
    assert_eq!(api.env["RUST_LOG"], "debug");
    assert_eq!(api.env["GREETING"], "hello\nworld");
    assert_eq!(api.env["SECRET"], "not $interpolated");
    assert_eq!(api.env["PORT"], "8080");
    let procfile = load(&fixture("Procfile.example")).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(procfile.services.len(), 2);

    let error = load(&fixture("invalid_unknown_key.toml")).expect_err("invalid");
    assert_eq!(error.diagnostics()[0].line_column(), Some((5, 1)));
    assert!(error.to_string().contains("did you mean \"command\"?"));

    let error = load(&fixture("invalid_cycle.toml")).expect_err("invalid");
    assert_eq!(error.diagnostics().len(), 1, "{error}");
    assert_eq!(error.diagnostics()[0].line_column(), Some((13, 15)));
    assert!(
        error
            .to_string()
            .contains("dependency cycle: a -> b -> c -> a")
    );

    let error = load(&fixture("invalid_many.toml")).expect_err("invalid");
    let rendered = error.to_string();
    for expected in [
        "shell = true needs command to be a string",
        "did you mean \"SIGTERM\"?",
        "invalid duration \"10 parsecs\"",
        "unbalanced quotes",
        "port 8080 is already declared by service \"api\"",
        "did you mean \"api\"?",
        "https probes are not supported",
        "more than one probe kind",
        "did you mean \"on-failure\"?",
    ] {
        assert!(
            rendered.contains(expected),
            "missing {expected:?} in:\n{rendered}"
        );
    }
}

/// The ```toml blocks of `docs/config.md`, in order.
fn documented_toml_blocks() -> Vec<String> {
    let docs = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/config.md"))
        .expect("read docs/config.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in docs.lines() {
        let trimmed = line.trim();
        match &mut current {
            None if trimmed == "```toml" => current = Some(String::new()),
            Some(block) if trimmed == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(trimmed);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn documented_examples_are_valid() {
    let blocks = documented_toml_blocks();
    assert!(blocks.len() > 10, "found only {} toml blocks", blocks.len());

    // The complete example loads for real, next to the env file it names.
    let dir = TempDir::new().expect("tempdir");
    write(dir.path(), ".env", "A=1\n");
    let path = write(dir.path(), "wrangle.toml", &blocks[0]);
    load(&path).unwrap_or_else(|error| panic!("complete example: {error}"));

    // Every other block or line passes the shape check, in a minimal service if it is a
    // fragment.
    let check = |text: &str| {
        let file = std::sync::Arc::new(crate::config::diagnostic::SourceFile::new(
            PathBuf::from("docs/config.md"),
            text.to_string(),
        ));
        let (_, diagnostics) = crate::config::document::read(&file);
        let rendered = crate::config::ConfigError::new(diagnostics.clone()).render(false);
        assert!(
            diagnostics.is_empty(),
            "documented example is invalid:\n{text}\n{rendered}"
        );
    };
    for block in &blocks[1..] {
        if block.lines().any(|line| line.starts_with('[')) {
            let mut text = block.clone();
            if !text.contains("[services.") {
                text.push_str("[services.x]\ncommand = \"x\"\n");
            }
            check(&text);
            continue;
        }
        for line in block.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let command = if line.starts_with("command") {
                ""
            } else {
                "command = \"x\"\n"
            };
            check(&format!("[services.x]\n{command}{line}\n"));
        }
    }
}

#[test]
fn rendered_location_matches_line_column_even_at_end_of_file() {
    for text in [
        "[services.a]\ncommand = [\n",
        "[services.a]\ncommand = [",
        "[services.a]\ncommand = \"x\"\n\n\n[services.b]\ncomand = 1\n",
        "[services.é]\ncommand = \"é\" ; bad = 1\n",
        "[services.a]\ncommand = \"é\"\nbad = 1\n",
    ] {
        let error = load_error(text);
        let rendered = error.render(false);
        for diagnostic in error.diagnostics() {
            let Some((line, column)) = diagnostic.line_column() else {
                continue;
            };
            assert!(
                rendered.contains(&format!("wrangle.toml:{line}:{column}")),
                "{line}:{column} not in:\n{rendered}"
            );
        }
    }
}

#[test]
fn logs_table_sets_the_daemon_log_limits() {
    let (_dir, result) = load_toml(
        "[logs]\nmax_file_size = \"1MiB\"\nkeep_files = 2\nbudget = \"8MiB\"\n\n[services.a]\ncommand = \"true\"\n",
    );
    let spec = result.expect("valid");
    assert_eq!(spec.logs.max_file_bytes, 1024 * 1024);
    assert_eq!(spec.logs.keep_files, 2);
    assert_eq!(spec.logs.budget_bytes, 8 * 1024 * 1024);
    let (_dir, result) = load_toml("[services.a]\ncommand = \"true\"\n");
    assert_eq!(result.expect("valid").logs, crate::spec::LogSpec::default());
}

#[test]
fn logs_table_errors_are_located() {
    assert_error(
        "[logs]\nmax_file_size = \"ten megs\"\n\n[services.a]\ncommand = \"true\"\n",
        "invalid size",
        2,
        17,
    );
    assert_error(
        "[logs]\nkeep = 3\n\n[services.a]\ncommand = \"true\"\n",
        "unknown key `keep`",
        2,
        1,
    );
    assert_error(
        "[logs]\nmax_file_size = \"64MiB\"\nbudget = \"8MiB\"\n\n[services.a]\ncommand = \"true\"\n",
        "smaller than",
        2,
        17,
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
fn limits_monitor_and_metrics_resolve_with_defaults_underneath() {
    let (_dir, result) = load_toml(
        "[defaults]\nwarn_after = \"10s\"\nmemory_warn = \"1GiB\"\n\n[monitor]\ninterval = \"2s\"\nhistory = \"1h\"\n\n[metrics]\nlisten = \"127.0.0.1:9464\"\n\n[services.a]\ncommand = \"true\"\nmax_memory = \"500MiB\"\ncpu_warn = \"150%\"\n\n[services.b]\ncommand = \"true\"\ncpu_warn = 80.4\n",
    );
    let spec = result.expect("valid");
    let a = spec.services[0].limits;
    assert_eq!(a.max_memory, Some(500 * 1024 * 1024));
    assert_eq!(a.cpu_warn, Some(150));
    assert_eq!(a.memory_warn, Some(1024 * 1024 * 1024));
    assert_eq!(a.warn_after, Duration::from_secs(10));
    let b = spec.services[1].limits;
    assert_eq!((b.max_memory, b.cpu_warn), (None, Some(80)));
    assert_eq!(spec.monitor.interval, Duration::from_secs(2));
    assert_eq!(spec.monitor.history, Duration::from_secs(3600));
    assert_eq!(
        spec.metrics.map(|metrics| metrics.listen.to_string()),
        Some("127.0.0.1:9464".to_string())
    );

    let (_dir, result) =
        load_toml("[metrics]\nlisten = 9500\n\n[services.a]\ncommand = \"true\"\n");
    let spec = result.expect("valid");
    assert_eq!(spec.metrics.unwrap().listen.to_string(), "127.0.0.1:9500");
    assert_eq!(spec.monitor, crate::spec::MonitorSpec::default());
    assert!(!spec.services[0].limits.any());
}

#[test]
fn limit_monitor_and_metrics_errors_are_located() {
    let service = "\n\n[services.a]\ncommand = \"true\"\n";
    assert_error(
        "[services.a]\ncommand = \"true\"\ncpu_warn = \"lots\"\n",
        "invalid CPU percentage",
        3,
        12,
    );
    assert_error(
        "[services.a]\ncommand = \"true\"\nmax_memory = \"big\"\n",
        "invalid size for `services.a.max_memory`",
        3,
        14,
    );
    assert_error(
        "[services.a]\ncommand = \"true\"\nmax_memroy = \"1GiB\"\n",
        "unknown key `max_memroy`",
        3,
        1,
    );
    assert_error(
        &format!("[monitor]\ninterval = \"10ms\"{service}"),
        "at least 100ms",
        2,
        12,
    );
    let rendered = assert_error(
        &format!("[monitor]\nintervall = \"1s\"{service}"),
        "unknown key `intervall`",
        2,
        1,
    );
    assert!(rendered.contains("interval"), "{rendered}");
    assert_error(
        &format!("[metrics]\nlisten = \"localhost:9464\"{service}"),
        "invalid address",
        2,
        10,
    );
    assert_error(
        &format!("[metrics]\nlisten = 70000{service}"),
        "out of range",
        2,
        10,
    );
    let error = load_error(&format!("[metrics]{service}"));
    assert!(error.render(false).contains("no `listen` address"));
}

#[test]
fn recheck_is_only_for_probes_that_can_be_repeated() {
    let (_dir, result) =
        load_toml("[services.a]\ncommand = \"true\"\nready = { tcp = 5432, recheck = \"10s\" }\n");
    let probe = result.expect("valid").services[0].ready.clone().unwrap();
    assert_eq!(probe.recheck, Some(Duration::from_secs(10)));
    assert_error(
        "[services.a]\ncommand = \"true\"\nready = { log = \"up\", recheck = \"10s\" }\n",
        "needs an http, tcp or exec probe",
        3,
        33,
    );
}
