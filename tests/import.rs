//! `wrangle import` and `wrangle init` end to end: example files of each tool (written for these
//! tests, exercising the keys of the tools' documented examples) imported by the real binary,
//! compared with golden files (`tests/fixtures/import/CASE/expected.toml`; `WRANGLE_BLESS=1`
//! rewrites them), and loaded by the real loader (`wrangle __services` lists what it loaded).
//! Also: never overwriting without --force, never writing through a planted link, stdout, a
//! missing node.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{Project, check_golden};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

/// A project holding a copy of the fixture directory `case` (its input files, not the golden).
fn project_from(case: &str) -> Project {
    let project = Project::empty();
    copy_dir(&fixtures().join(case), &project.root());
    project
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("fixture directory").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "expected.toml" {
            continue;
        }
        let target = to.join(&name);
        if path.is_dir() {
            fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&path, &target);
        } else {
            fs::copy(&path, &target).expect("copy a fixture");
        }
    }
}

/// Imports `file` of `case` with `format` (and `extra` arguments), checks the output against
/// the golden file, and returns the service names the real loader found in it.
fn import_case(case: &str, format: &str, file: &str, extra: &[&str]) -> Vec<String> {
    let project = project_from(case);
    let mut args = vec!["import", format, file];
    args.extend_from_slice(extra);
    let finished = project.run(&args);
    assert_eq!(finished.code, 0, "{}\n{}", finished.stdout, finished.stderr);
    assert!(
        finished.stderr.contains("wrote wrangle.toml"),
        "{}",
        finished.stderr
    );
    let written = fs::read_to_string(project.path("wrangle.toml")).expect("wrangle.toml");
    let golden = fixtures().join(case).join("expected.toml");
    check_golden(
        &golden,
        &written,
        "WRANGLE_BLESS=1 cargo nextest run -E 'test(import::)'",
    );
    let loaded = project.run(&["__services"]);
    assert_eq!(
        loaded.code, 0,
        "the imported config does not load:\n{written}\n{}",
        loaded.stderr
    );
    loaded.stdout.lines().map(str::to_string).collect()
}

#[test]
fn pm2_javascript_ecosystem_is_evaluated_and_imported() {
    let names = import_case("pm2-js", "pm2", "ecosystem.config.js", &[]);
    assert_eq!(names, ["api", "worker", "Nightly-Cleanup"]);
}

#[test]
fn pm2_yaml_and_json_ecosystems_are_imported() {
    assert_eq!(
        import_case("pm2-yaml", "pm2", "ecosystem.config.yaml", &[]),
        ["web", "report"]
    );
    assert_eq!(
        import_case("pm2-json", "pm2", "ecosystem.json", &[]),
        ["queue"]
    );
}

#[test]
fn compose_services_with_commands_are_imported_and_images_commented_out() {
    let names = import_case("compose", "compose", "compose.yaml", &[]);
    // `inspector` has Compose profiles: left out unless one of them is selected.
    assert_eq!(names, ["web", "migrate", "worker"]);
}

#[test]
fn process_compose_is_imported() {
    let names = import_case(
        "process-compose",
        "process-compose",
        "process-compose.yaml",
        &[],
    );
    assert_eq!(
        names,
        ["db", "migrate", "api", "worker", "backup", "cleanup"]
    );
}

#[test]
fn procfile_is_imported_with_foreman_ports_and_env_file() {
    let names = import_case("procfile", "procfile", "Procfile", &["--env", ".env"]);
    assert_eq!(names, ["web", "worker", "release", "clock"]);
}

#[test]
fn an_existing_file_is_kept_unless_forced_and_stdout_writes_nothing() {
    let project = project_from("procfile");
    project.write("wrangle.toml", "[services.mine]\ncommand = \"sleep 1\"\n");
    let refused = project.run(&["import", "procfile", "Procfile"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(
        fs::read_to_string(project.path("wrangle.toml")).expect("read"),
        "[services.mine]\ncommand = \"sleep 1\"\n"
    );
    let printed = project.run(&["import", "procfile", "Procfile", "-o", "-"]);
    assert_eq!(printed.code, 0, "{}", printed.stderr);
    assert!(
        printed.stdout.contains("[services.web]"),
        "{}",
        printed.stdout
    );
    assert!(
        fs::read_to_string(project.path("wrangle.toml"))
            .expect("read")
            .contains("mine")
    );
    let forced = project.run(&["import", "procfile", "Procfile", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(
        fs::read_to_string(project.path("wrangle.toml")).expect("read"),
        printed.stdout
    );
    let elsewhere = project.run(&["import", "procfile", "Procfile", "-o", "other.toml"]);
    assert_eq!(elsewhere.code, 0, "{}", elsewhere.stderr);
    assert_eq!(
        fs::read_to_string(project.path("other.toml")).expect("read"),
        printed.stdout
    );
}

#[test]
fn a_planted_link_is_never_written_through() {
    let project = project_from("procfile");
    project.write("victim", "precious\n");
    std::os::unix::fs::symlink(project.path("victim"), project.path("wrangle.toml"))
        .expect("symlink");
    let refused = project.run(&["import", "procfile", "Procfile"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    std::os::unix::fs::symlink(project.path("nowhere"), project.path("dangling.toml"))
        .expect("symlink");
    let refused = project.run(&["import", "procfile", "Procfile", "-o", "dangling.toml"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(!project.exists("nowhere"));
    let forced = project.run(&["import", "procfile", "Procfile", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(
        fs::read_to_string(project.path("victim")).expect("read"),
        "precious\n"
    );
    let metadata = fs::symlink_metadata(project.path("wrangle.toml")).expect("stat");
    assert!(metadata.is_file(), "the link was replaced by a file");
}

#[test]
fn a_javascript_ecosystem_without_node_is_a_clear_error() {
    let project = project_from("pm2-js");
    let mut command = project.command(&["import", "pm2", "ecosystem.config.js"]);
    command.env("PATH", project.path("no-bin"));
    let output = command.output().expect("run wrangle");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("node is not installed"), "{stderr}");
    assert!(stderr.contains("JSON"), "{stderr}");
    assert!(!project.exists("wrangle.toml"));
}

#[test]
fn a_broken_javascript_ecosystem_reports_node_s_error() {
    let project = Project::empty();
    project.write(
        "ecosystem.config.js",
        "module.exports = { apps: [ { name: 'x', script: 'a.js' } ;\n",
    );
    let finished = project.run(&["import", "pm2", "ecosystem.config.js"]);
    assert_eq!(finished.code, 2, "{}", finished.stderr);
    assert!(
        finished.stderr.contains("node could not evaluate it"),
        "{}",
        finished.stderr
    );
    assert!(
        finished.stderr.contains("SyntaxError"),
        "{}",
        finished.stderr
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    let project = Project::empty();
    project.write("compose.yaml", "services: [unclosed\n");
    let finished = project.run(&["import", "compose", "compose.yaml"]);
    assert_eq!(finished.code, 2);
    assert!(
        finished.stderr.contains("not valid YAML"),
        "{}",
        finished.stderr
    );
    project.write("pc.yaml", "version: 1\n");
    let finished = project.run(&["import", "process-compose", "pc.yaml"]);
    assert_eq!(finished.code, 2);
    assert!(
        finished.stderr.contains("no `processes`"),
        "{}",
        finished.stderr
    );
    let finished = project.run(&["import", "procfile", "missing"]);
    assert_eq!(finished.code, 2);
    assert!(
        finished.stderr.contains("cannot read"),
        "{}",
        finished.stderr
    );
    assert!(finished.stderr.contains("missing"), "{}", finished.stderr);
    project.write("Procfile", "not a line\n");
    let finished = project.run(&["import", "procfile", "Procfile"]);
    assert_eq!(finished.code, 2);
    assert!(
        finished.stderr.contains("Procfile:1:1"),
        "{}",
        finished.stderr
    );
    // A YAML bomb (nested aliases) is refused, not expanded.
    let mut bomb = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    for level in 1..10 {
        let previous = (b'a' + level - 1) as char;
        let name = (b'a' + level) as char;
        bomb.push_str(&format!(
            "{name}: &{name} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]\n"
        ));
    }
    bomb.push_str("services: {}\n");
    project.write("bomb.yaml", &bomb);
    let finished = project.run(&["import", "compose", "bomb.yaml"]);
    assert_eq!(finished.code, 2, "{}", finished.stderr);
}

#[test]
fn init_imports_what_it_finds_and_never_replaces_a_config() {
    let project = project_from("procfile");
    fs::copy(
        fixtures().join("compose/compose.yaml"),
        project.path("compose.yaml"),
    )
    .expect("copy");
    let finished = project.run(&["init"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(
        finished.stderr.contains("from Procfile"),
        "{}",
        finished.stderr
    );
    let written = fs::read_to_string(project.path("wrangle.toml")).expect("read");
    assert!(written.contains("[services.web]"), "{written}");
    assert!(written.contains("env_file = \".env\""), "{written}");
    assert!(
        written.contains("wrangle import compose compose.yaml"),
        "{written}"
    );
    let again = project.run(&["init"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("never replaces"), "{}", again.stderr);
    assert_eq!(
        fs::read_to_string(project.path("wrangle.toml")).expect("read"),
        written
    );
}

#[test]
fn init_reads_package_json_scripts_and_python_entry_points() {
    let node = Project::empty();
    node.write(
        "package.json",
        r#"{"name": "@acme/shop", "scripts": {"start": "node server.js", "dev": "next dev -p 3005"}}"#,
    );
    let finished = node.run(&["init"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let written = fs::read_to_string(node.path("wrangle.toml")).expect("read");
    assert!(written.contains("[services.shop]"), "{written}");
    assert!(
        written.contains("command = [\"npm\", \"run\", \"dev\"]"),
        "{written}"
    );
    assert!(written.contains("port = 3005"), "{written}");
    assert_eq!(node.run(&["__services"]).stdout, "shop\n");

    let python = Project::empty();
    python.write(
        "pyproject.toml",
        "[project]\nname = \"svc\"\n[project.scripts]\nmigrate = \"svc.db:migrate\"\nsvc-serve = \"svc.app:main\"\n",
    );
    let finished = python.run(&["init"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let written = fs::read_to_string(python.path("wrangle.toml")).expect("read");
    assert!(written.contains("command = [\"svc-serve\"]"), "{written}");
    assert_eq!(python.run(&["__services"]).stdout, "svc-serve\n");

    let django = Project::empty();
    django.write("manage.py", "# django\n");
    let finished = django.run(&["init"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(
        fs::read_to_string(django.path("wrangle.toml"))
            .expect("read")
            .contains("runserver")
    );
}

#[test]
fn init_writes_a_commented_example_when_there_is_nothing() {
    let project = Project::empty();
    let finished = project.run(&["init"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(finished.stderr.contains("example"), "{}", finished.stderr);
    let written = fs::read_to_string(project.path("wrangle.toml")).expect("read");
    assert!(
        written.starts_with("# Written by `wrangle init`"),
        "{written}"
    );
    assert!(written.contains("# [services.worker]"), "{written}");
    assert_eq!(project.run(&["__services"]).stdout, "web\n");
}

#[test]
fn init_never_runs_a_javascript_ecosystem_file() {
    let project = Project::empty();
    // Evaluating this file would leave `evaluated` behind.
    project.write(
        "ecosystem.config.js",
        "require('fs').writeFileSync(__dirname + '/evaluated', 'x');\n\
         module.exports = { apps: [{ name: 'api', script: 'server.js' }] };\n",
    );
    project.write(
        "package.json",
        r#"{"name": "shop", "scripts": {"start": "node server.js"}}"#,
    );
    let finished = project.run(&["init"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(
        finished.stderr.contains("from package.json"),
        "{}",
        finished.stderr
    );
    assert!(!project.exists("evaluated"), "init ran the ecosystem file");
    let written = fs::read_to_string(project.path("wrangle.toml")).expect("read");
    assert!(
        written.contains(
            "# Also found ecosystem.config.js: `wrangle import pm2 ecosystem.config.js` converts it \
             (it runs the file with node, so init did not)."
        ),
        "{written}"
    );
    assert_eq!(project.run(&["__services"]).stdout, "shop\n");
}
