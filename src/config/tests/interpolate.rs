//! Interpolation: `${PORT}`, `${services.NAME.port}`, `${VAR}` and `${VAR:-default}` put in
//! `command`, `env`, `cwd`, `ready` and `live`; `$${` and every other `$` kept; unknown names
//! located with a did-you-mean.

use std::collections::BTreeMap;

use super::{assert_error, load_toml, me, write};
use crate::config::{Origin, Trust};
use crate::spec::{ProjectSpec, ReadyCheck};

fn environment(pairs: &[(&str, &str)]) -> Trust {
    let vars: BTreeMap<String, String> = pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    me().with_environment(vars)
}

fn load_in(dir: &std::path::Path, trust: &Trust) -> ProjectSpec {
    crate::config::load(&dir.join("wrangle.toml"), Origin::Discovered, trust)
        .unwrap_or_else(|error| panic!("{}", error.render(false)))
        .spec
}

#[test]
fn ports_variables_and_defaults_are_put_in_every_interpolated_key() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    write(dir.path(), ".env", "DB_NAME=app\nEMPTY=\n");
    std::fs::create_dir(dir.path().join("srv-app")).expect("mkdir");
    write(
        dir.path(),
        "wrangle.toml",
        r#"
[services.db]
command = ["postgres", "-p", "${PORT}"]
port = 5432
ready = { tcp = "127.0.0.1:${PORT}" }

[services.api]
command = "./api --db localhost:${services.db.port} --name ${DB_NAME}"
env_file = ".env"
env = { URL = "http://localhost:${PORT}/${MODE:-dev}", E = "${EMPTY:-fallback}", H = "${HOME}" }
cwd = "srv-${DB_NAME}"
port = 8080
ready = { http = "http://127.0.0.1:${PORT}/health" }
live = { exec = ["check", "${services.db.port}"] }
"#,
    );
    let spec = load_in(
        dir.path(),
        &environment(&[("HOME", "/home/me"), ("DB_NAME", "env")]),
    );
    let db = &spec.services[0];
    assert_eq!(db.command.argv, ["postgres", "-p", "5432"]);
    assert!(matches!(&db.ready.as_ref().expect("ready").check,
        ReadyCheck::Tcp { host, port: 5432 } if host == "127.0.0.1"));
    let api = &spec.services[1];
    // The env file wins over wrangle's environment, as it does in the service's environment.
    assert_eq!(
        api.command.argv,
        ["./api", "--db", "localhost:5432", "--name", "app"]
    );
    assert_eq!(api.env["URL"], "http://localhost:8080/dev");
    assert_eq!(api.env["E"], "fallback");
    assert_eq!(api.env["H"], "/home/me");
    assert!(api.cwd.ends_with("srv-app"), "{}", api.cwd.display());
    assert!(matches!(&api.ready.as_ref().expect("ready").check,
        ReadyCheck::Http { url } if url == "http://127.0.0.1:8080/health"));
    let live = &api.live.as_ref().expect("live").check;
    assert!(matches!(live, ReadyCheck::Exec { command } if command.argv == ["check", "5432"]));
    // `${services.db.port}` made db a dependency.
    assert_eq!(api.depends_on.len(), 1);
    assert_eq!(api.depends_on[0].service, 0);
}

#[test]
fn only_a_brace_is_interpolated_and_a_doubled_dollar_brace_is_literal() {
    let (_dir, spec) = load_toml(
        r#"
[services.sh]
command = ["sh", "-c", "echo $HOME $$ $1 $(id) $${HOME} cost: 5$"]
env = { PS = "$ ", LITERAL = "$${NOT_A_VAR}" }
ready = { log = "ready$" }
"#,
    );
    let spec = spec.unwrap_or_else(|error| panic!("{}", error.render(false)));
    let sh = &spec.services[0];
    assert_eq!(
        sh.command.argv[2],
        "echo $HOME $$ $1 $(id) ${HOME} cost: 5$"
    );
    assert_eq!(sh.env["PS"], "$ ");
    assert_eq!(sh.env["LITERAL"], "${NOT_A_VAR}");
    assert!(matches!(&sh.ready.as_ref().expect("ready").check,
        ReadyCheck::Log { pattern } if pattern.as_str() == "ready$"));
}

#[test]
fn an_unknown_variable_is_located_at_the_reference_with_a_did_you_mean() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    write(
        dir.path(),
        "wrangle.toml",
        "[services.web]\ncommand = \"serve --db ${DATABSE_URL}\"\n",
    );
    let trust = environment(&[("DATABASE_URL", "postgres://")]);
    let error = crate::config::load(&dir.path().join("wrangle.toml"), Origin::Discovered, &trust)
        .expect_err("unknown variable");
    let rendered = error.render(false);
    let diagnostic = &error.diagnostics()[0];
    assert!(
        diagnostic
            .message()
            .contains("unknown variable `${DATABSE_URL}`"),
        "{rendered}"
    );
    assert_eq!(diagnostic.line_column(), Some((2, 23)), "{rendered}");
    assert!(
        rendered.contains("did you mean \"DATABASE_URL\"?"),
        "{rendered}"
    );
    assert!(rendered.contains("$${DATABSE_URL}"), "{rendered}");
}

#[test]
fn service_references_are_checked_and_suggested() {
    let rendered = assert_error(
        r#"
[services.db]
command = "db"
port = 5432

[services.api]
command = ["api", "${services.dv.port}"]
"#,
        "names unknown service \"dv\"",
        7,
        20,
    );
    assert!(rendered.contains("did you mean \"db\"?"), "{rendered}");
    assert_error(
        "[services.db]\ncommand = \"db\"\n\n[services.api]\ncommand = \"api ${services.db.port}\"\n",
        "service \"db\" has no port",
        5,
        16,
    );
    assert_error(
        "[services.api]\ncommand = \"api ${services.api.host}\"\n",
        "invalid reference `${services.api.host}`",
        2,
        16,
    );
    assert_error(
        "[services.api]\ncommand = \"api ${PORT}\"\n",
        "service \"api\" has no port",
        2,
        16,
    );
    assert_error(
        "[services.api]\ncommand = \"api ${oops\"\n",
        "unclosed `${`",
        2,
        16,
    );
    assert_error(
        "[defaults]\nenv = { P = \"${PORT}\" }\n\n[services.api]\ncommand = \"api\"\n",
        "[defaults] has no port",
        2,
        14,
    );
    // A string with escapes is located as a whole.
    assert_error(
        "[services.api]\ncommand = \"api \\t ${NOPE_X}\"\n",
        "unknown variable `${NOPE_X}`",
        2,
        11,
    );
}

#[test]
fn a_service_reference_adds_to_each_form_of_depends_on_once() {
    let (_dir, spec) = load_toml(
        r#"
[services.db]
command = "db"
port = 5432

[services.cache]
command = "cache"
port = 6379

[services.a]
command = "a ${services.db.port} ${services.db.port}"

[services.b]
command = "b ${services.db.port} ${services.cache.port}"
depends_on = ["db"]

[services.c]
command = "c ${services.cache.port}"
depends_on = { db = "started" }
"#,
    );
    let spec = spec.unwrap_or_else(|error| panic!("{}", error.render(false)));
    let names = |index: usize| -> Vec<&str> {
        spec.services[index]
            .depends_on
            .iter()
            .map(|dependency| spec.services[dependency.service].name.as_str())
            .collect()
    };
    assert_eq!(names(2), ["db"]);
    assert_eq!(names(3), ["db", "cache"]);
    assert_eq!(names(4), ["db", "cache"]);
}

#[test]
fn a_reference_that_closes_a_cycle_is_a_located_cycle() {
    assert_error(
        r#"
[services.a]
command = "a ${services.b.port}"
port = 1000

[services.b]
command = "b"
port = 2000
depends_on = ["a"]
"#,
        "dependency cycle: a -> b -> a",
        9,
        15,
    );
}

/// Picks like the real picker would on a machine where every port is free: the first of a
/// range not taken, or 40000 and up for `"auto"` (the real one, `sys::ports::pick_free`, is
/// exercised with real sockets by the integration tests).
fn first_free(range: Option<std::ops::RangeInclusive<u16>>, taken: &[u16]) -> Option<u16> {
    range
        .unwrap_or(40000..=40100)
        .find(|port| !taken.contains(port))
}

#[test]
fn an_auto_port_or_a_range_is_picked_and_flows_into_ports_env_and_references() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    write(
        dir.path(),
        "wrangle.toml",
        r#"
[services.db]
command = ["db", "--port", "${PORT}"]
port = "auto"
ready = { tcp = "${PORT}" }

[services.fixed]
command = "fixed"
port = 5000

[services.api]
command = "api --db ${services.db.port}"
port = "5000-5002"
env = { DB = "127.0.0.1:${services.db.port}" }
ready = { http = "http://127.0.0.1:${PORT}/" }
"#,
    );
    let trust = me().with_port_picker(first_free);
    let spec = load_in(dir.path(), &trust);
    let (db, api) = (&spec.services[0], &spec.services[2]);
    assert_eq!(db.ports, [40000]);
    assert_eq!(db.env["PORT"], "40000");
    assert_eq!(db.command.argv, ["db", "--port", "40000"]);
    assert!(matches!(
        &db.ready.as_ref().expect("ready").check,
        ReadyCheck::Tcp { port: 40000, .. }
    ));
    // 5000 is fixed's: the range's next port is picked.
    assert_eq!(api.ports, [5001]);
    assert_eq!(api.command.argv, ["api", "--db", "40000"]);
    assert_eq!(api.env["DB"], "127.0.0.1:40000");
    assert_eq!(api.depends_on[0].service, 0);

    // A running project's ports are kept where they fit; one outside the range is not.
    let kept: BTreeMap<String, u16> = [("db".to_string(), 41234), ("api".to_string(), 6000)]
        .into_iter()
        .collect();
    let spec = load_in(dir.path(), &trust.with_kept_ports(kept));
    assert_eq!(spec.services[0].ports, [41234]);
    assert_eq!(spec.services[2].ports, [5001]);
    assert_eq!(spec.services[2].command.argv, ["api", "--db", "41234"]);
}

#[test]
fn a_range_without_a_free_port_and_a_bad_port_string_are_located() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    write(
        dir.path(),
        "wrangle.toml",
        "[services.a]\ncommand = \"a\"\nport = 7000\n\n[services.b]\ncommand = \"b\"\nport = \"7000-7000\"\n\n[services.c]\ncommand = \"c\"\nport = \"somewhere\"\n",
    );
    let trust = me().with_port_picker(first_free);
    let error = crate::config::load(&dir.path().join("wrangle.toml"), Origin::Discovered, &trust)
        .expect_err("no free port");
    let rendered = error.render(false);
    let full = error
        .diagnostics()
        .iter()
        .find(|d| d.message() == "no free port in 7000-7000 for service \"b\"")
        .unwrap_or_else(|| panic!("{rendered}"));
    assert_eq!(full.line_column(), Some((7, 8)), "{rendered}");
    let bad = error
        .diagnostics()
        .iter()
        .find(|d| {
            d.message()
                .contains("for `services.c.port`, found a string")
        })
        .unwrap_or_else(|| panic!("{rendered}"));
    assert_eq!(bad.line_column(), Some((11, 8)), "{rendered}");
}
