//! Tests of the config loader as a whole: real files in temporary directories in, a spec or
//! located diagnostics out, one file per part of the config (as in `document`) plus the files
//! around it and inputs nobody would write. Tests of one format's details live next to that
//! format's parser. The helpers below are shared by all of them.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::config::{ConfigError, Origin, Trust};
use crate::spec::ProjectSpec;

mod files;
mod interpolate;
mod notify;
mod probes;
mod profiles;
mod project;
mod robustness;
mod services;
mod sockets;
mod trust;
mod values;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent");
    }
    fs::write(&path, text).expect("write file");
    path
}

/// The user running the tests, trusting no directory beyond the rule.
fn me() -> Trust {
    Trust::new(
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
}

/// Loads `path` as if wrangle had found it, as the user running the tests; a file they own in a
/// private temporary directory raises no warning.
fn load(path: &Path) -> Result<ProjectSpec, ConfigError> {
    crate::config::load(path, Origin::Discovered, &me()).map(|loaded| {
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        loaded.spec
    })
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
