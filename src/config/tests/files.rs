//! The files around the config: discovery, Procfile, working directories, env files, the
//! fixtures in `tests/fixtures/config` and the examples of `docs/config.md`.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::load;
use super::{assert_error, load_error, write};
use crate::config::discover;
use crate::spec::RestartPolicy;

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

    // The name limit is the same as in wrangle.toml.
    let long = write(
        dir.path(),
        "Procfile.long",
        &format!("web: serve\n{}: x\n", "p".repeat(201)),
    );
    let error = load(&long).expect_err("too long");
    assert_eq!(
        error.diagnostics()[0].line_column(),
        Some((2, 1)),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("201 bytes long; a service name is at most 200 bytes"),
        "{error}"
    );
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
        let (_, diagnostics) = crate::config::document::read(
            &file,
            &[],
            &mut crate::config::document::Sources::none(),
        );
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
