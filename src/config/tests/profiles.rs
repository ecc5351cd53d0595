//! Profiles and `wrangle.local.toml`: how they are laid over the document (tables merged key by
//! key, other values and probes replaced), their order, and mistakes located in the file that
//! has them.

use std::time::Duration;

use super::{me, write};
use crate::config::{ConfigError, Origin};
use crate::spec::{ProjectSpec, ReadyCheck, RestartPolicy};

const BASE: &str = r#"
[defaults]
restart = "always"
stop_timeout = "5s"

[services.web]
command = "sleep 1"
env = { A = "base", B = "base" }
ready = { tcp = 8000, interval = "3s" }
depends_on = ["db"]

[services.db]
command = "sleep 2"

[profiles.one.defaults]
stop_timeout = "7s"

[profiles.one.services.web]
env = { A = "one" }
ready = { http = "http://127.0.0.1:9000/" }
depends_on = []

[profiles.two.services.web]
env = { A = "two" }
"#;

fn load_with(dir: &std::path::Path, profiles: &[&str]) -> Result<ProjectSpec, ConfigError> {
    let profiles: Vec<String> = profiles.iter().map(|name| name.to_string()).collect();
    crate::config::load_with_profiles(
        &dir.join("wrangle.toml"),
        Origin::Discovered,
        &me(),
        &profiles,
    )
    .map(|loaded| loaded.spec)
}

#[test]
fn tables_merge_key_by_key_and_other_values_and_probes_are_replaced_in_order() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    write(dir.path(), "wrangle.toml", BASE);

    let spec = load_with(dir.path(), &[]).expect("base loads");
    let web = &spec.services[0];
    assert_eq!(web.env.get("A").map(String::as_str), Some("base"));
    assert_eq!(web.depends_on.len(), 1);
    assert!(spec.profiles.is_empty());

    let spec = load_with(dir.path(), &["one"]).expect("profile one loads");
    let web = &spec.services[0];
    assert_eq!(spec.profiles, ["one"]);
    // env merged per variable; the array replaced; the probe replaced whole (no tcp interval
    // left over on the http probe); [defaults] overlaid per key.
    assert_eq!(web.env.get("A").map(String::as_str), Some("one"));
    assert_eq!(web.env.get("B").map(String::as_str), Some("base"));
    assert!(web.depends_on.is_empty());
    let ready = web.ready.as_ref().expect("a probe");
    assert!(matches!(ready.check, ReadyCheck::Http { .. }), "{ready:?}");
    assert_ne!(ready.interval, Duration::from_secs(3));
    assert_eq!(web.stop.timeout, Duration::from_secs(7));
    assert_eq!(web.restart.policy, RestartPolicy::Always);

    // Later wins.
    let spec = load_with(dir.path(), &["one", "two"]).expect("both load");
    assert_eq!(
        spec.services[0].env.get("A").map(String::as_str),
        Some("two")
    );
    let spec = load_with(dir.path(), &["two", "one"]).expect("both load");
    assert_eq!(
        spec.services[0].env.get("A").map(String::as_str),
        Some("one")
    );

    // The local file comes last, over every profile, and may define profiles of its own.
    write(
        dir.path(),
        "wrangle.local.toml",
        "[services.web.env]\nB = \"local\"\n\n[profiles.mine.services.db]\nenabled = false\n\n[profiles.mine.services.web]\ndepends_on = []\n",
    );
    let spec = load_with(dir.path(), &["two"]).expect("with the local file");
    let web = &spec.services[0];
    assert_eq!(web.env.get("A").map(String::as_str), Some("two"));
    assert_eq!(web.env.get("B").map(String::as_str), Some("local"));
    let spec = load_with(dir.path(), &["mine"]).expect("the local file's profile");
    let names: Vec<&str> = spec
        .services
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    assert_eq!(names, ["web"]);
}

#[test]
fn mistakes_are_located_in_the_file_that_has_them() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    write(dir.path(), "wrangle.toml", BASE);
    write(
        dir.path(),
        "wrangle.local.toml",
        "[services.db]\nstop_timeout = \"soon\"\n",
    );
    let error = load_with(dir.path(), &[]).expect_err("a bad duration in the local file");
    let diagnostic = &error.diagnostics()[0];
    assert!(
        diagnostic
            .path()
            .is_some_and(|path| path.ends_with("wrangle.local.toml")),
        "{}",
        error.render(false)
    );
    assert_eq!(
        diagnostic.line_column(),
        Some((2, 16)),
        "{}",
        error.render(false)
    );
    assert!(error.render(false).contains("wrangle.local.toml:2:16"));

    // A syntax error in the local file, too.
    write(dir.path(), "wrangle.local.toml", "[services.db\n");
    let error = load_with(dir.path(), &[]).expect_err("invalid TOML");
    assert!(
        error.render(false).contains("wrangle.local.toml:1:"),
        "{}",
        error.render(false)
    );
    std::fs::remove_file(dir.path().join("wrangle.local.toml")).expect("rm");

    // An unknown key of a profile that is not selected is still an error, located.
    write(
        dir.path(),
        "wrangle.toml",
        &format!("{BASE}\n[profiles.three.services.web]\nstop_timout = \"1s\"\n"),
    );
    let error = load_with(dir.path(), &[]).expect_err("unknown key");
    let rendered = error.render(false);
    assert!(rendered.contains("unknown key `stop_timout`"), "{rendered}");
    assert!(
        rendered.contains("did you mean \"stop_timeout\"?"),
        "{rendered}"
    );

    // Leaving every service out is an error.
    write(
        dir.path(),
        "wrangle.toml",
        "[services.web]\ncommand = \"sleep 1\"\n\n[profiles.off.services.web]\nenabled = false\n",
    );
    let error = load_with(dir.path(), &["off"]).expect_err("nothing left");
    assert!(
        error.render(false).contains("every service is left out"),
        "{}",
        error.render(false)
    );
}
