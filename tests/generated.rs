//! Generated files used by real programs: completion scripts loaded by bash, zsh and fish (and
//! completing a project's service names), man pages read by `man`'s formatter, and the JSON
//! Schema printed by `wrangle schema`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{Project, wait_until};

/// Runs `program args` in `dir` with the wrangle binary's directory first on PATH, its input
/// closed, bounded by the harness's wait.
fn shell(dir: &Path, program: &str, args: &[&str]) -> Output {
    let binary = Path::new(env!("CARGO_BIN_EXE_wrangle"));
    let bin_dir = binary.parent().expect("binary directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("XDG_DATA_HOME", dir.join(".data"))
        .env("WRANGLE_HOME", dir.join("home"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{program} must be installed for this test: {error}"));
    let mut status = None;
    let finished = wait_until(crate::support::WAIT, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    if !finished {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("wait");
    assert!(finished, "{program} {args:?} did not finish: {output:?}");
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const PROJECT: &str = "[services.db]\ncommand = \"sleep 60\"\n\n[services.api]\ncommand = \"sleep 60\"\n\n[services.\"api.v2\"]\ncommand = \"sleep 60\"\n";

/// Writes `wrangle completions SHELL` into the project as `file`.
fn completions(project: &Project, shell_name: &str, file: &str) {
    let finished = project.run(&["completions", shell_name]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(finished.stdout.len() > 1000, "{}", finished.stdout);
    project.write(file, &finished.stdout);
}

#[test]
fn bash_loads_the_completions_and_completes_verbs_and_service_names() {
    let project = Project::new(PROJECT);
    completions(&project, "bash", "wrangle.bash");
    let registered = shell(
        &project.root(),
        "bash",
        &["-c", "source ./wrangle.bash && complete -p wrangle"],
    );
    assert!(registered.status.success(), "{registered:?}");
    assert!(
        text(&registered.stdout).contains("-F _wrangle_with_services"),
        "{}",
        text(&registered.stdout)
    );
    // What bash does at a tab: set the words and the cursor, call the function, read COMPREPLY.
    let complete = |words: &str| -> Vec<String> {
        let script = format!(
            "source ./wrangle.bash; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
             _wrangle_with_services wrangle \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let output = shell(&project.root(), "bash", &["-c", &script]);
        assert!(output.status.success(), "{output:?}");
        text(&output.stdout)
            .lines()
            .map(str::to_string)
            .filter(|line| !line.is_empty())
            .collect()
    };
    let verbs = complete("wrangle res");
    assert!(verbs.contains(&"restart".to_string()), "{verbs:?}");
    let names = complete("wrangle restart ''");
    for name in ["db", "api", "api.v2"] {
        assert!(names.contains(&name.to_string()), "{name} in {names:?}");
    }
    let names = complete("wrangle logs -n 5 ap");
    assert!(names.contains(&"api".to_string()), "{names:?}");
    assert!(!names.contains(&"db".to_string()), "{names:?}");
    // `ls` takes no service names.
    let none = complete("wrangle ls ''");
    assert!(!none.contains(&"db".to_string()), "{none:?}");
}

#[test]
fn fish_completes_service_names() {
    let project = Project::new(PROJECT);
    completions(&project, "fish", "wrangle.fish");
    let output = shell(
        &project.root(),
        "fish",
        &[
            "--no-config",
            "-c",
            "source ./wrangle.fish; complete -C 'wrangle stop '; complete -C 'wrangle st'",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let lines = text(&output.stdout);
    let words: Vec<&str> = lines
        .lines()
        .map(|line| line.split('\t').next().unwrap_or_default())
        .collect();
    for word in ["db", "api", "api.v2", "start", "stop"] {
        assert!(words.contains(&word), "{word} in {words:?}");
    }
}

#[test]
fn zsh_loads_the_completion_function_and_it_lists_service_names() {
    let project = Project::new(PROJECT);
    completions(&project, "zsh", "_wrangle");
    // Sourced outside a completion, the file registers `_wrangle` for `wrangle`; `_describe` is
    // replaced by a function printing the names it is given, so `_wrangle_services` can be run
    // as a completion would run it.
    let output = shell(
        &project.root(),
        "zsh",
        &[
            "-f",
            "-c",
            "autoload -Uz compinit && compinit -u -D; source ./_wrangle; \
             print -r -- \"registered: ${_comps[wrangle]}\"; \
             _describe() { print -rl -- ${(P)4} }; _wrangle_services",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["registered: _wrangle", "db", "api", "api.v2"],
        "{output:?}"
    );
}

#[test]
fn services_lists_the_names_and_is_quiet_without_a_project() {
    let project = Project::new(PROJECT);
    let finished = project.run(&["__services"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert_eq!(finished.stdout, "db\napi\napi.v2\n");
    let empty = Project::empty();
    let finished = empty.run(&["__services"]);
    assert_eq!(finished.code, 1);
    assert_eq!(finished.stdout, "");
    assert_eq!(finished.stderr, "");
    let broken = Project::new("[services.x]\ncomand = \"y\"\n");
    let finished = broken.run(&["__services"]);
    assert_eq!(
        (
            finished.code,
            finished.stdout.as_str(),
            finished.stderr.as_str()
        ),
        (1, "", "")
    );
}

#[test]
fn man_writes_pages_that_man_formats() {
    let project = Project::empty();
    let finished = project.run(&["man"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(
        finished.stdout.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &finished.stdout[..80]
    );
    assert!(
        finished.stdout.contains("wrangle\\-up(1)"),
        "{}",
        finished.stdout
    );
    let finished = project.run(&["man", "--dir", "pages"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    for page in [
        "wrangle.1",
        "wrangle-up.1",
        "wrangle-completions.1",
        "wrangle-schema.1",
    ] {
        assert!(project.exists(&format!("pages/{page}")), "{page}");
    }
    // groff, where present, renders the page without warnings.
    if Command::new("groff").arg("--version").output().is_ok() {
        let output = shell(
            &project.root(),
            "groff",
            &["-man", "-Tutf8", "-ww", "pages/wrangle-up.1"],
        );
        assert!(output.status.success(), "{output:?}");
        assert!(text(&output.stdout).contains("wrangle-up"), "{output:?}");
        assert_eq!(text(&output.stderr), "");
    }
}

#[test]
fn schema_prints_the_committed_schema() {
    let project = Project::empty();
    let finished = project.run(&["schema"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/wrangle.schema.json"),
    )
    .expect("docs/wrangle.schema.json");
    assert_eq!(finished.stdout, committed);
}
