//! Restart on change (`watch`): real files edited under a running foreground `up`, and the
//! restarts (and non-restarts) that follow.

use std::fs;

use crate::support::{Project, interrupt, normalize};

/// How many stdout lines so far contain `needle`.
fn count(wrangle: &crate::support::Wrangle, needle: &str) -> usize {
    wrangle
        .lines()
        .iter()
        .filter(|line| normalize(line).contains(needle))
        .count()
}

#[test]
fn an_edit_restarts_exactly_the_service_watching_it_once_and_ignored_files_none() {
    let project = Project::new(
        r#"
[services.web]
command = ["sh", "-c", "echo started; exec sleep 300"]
watch = ["src", "package.json"]
watch_ignore = ["*.bak"]
watch_debounce = "300ms"

[services.api]
command = ["sh", "-c", "echo started; exec sleep 300"]
watch = ["api/**/*.py"]
"#,
    );
    project.write(".gitignore", "*.log\nbuild/\n*.tmp\n");
    fs::create_dir_all(project.path("src")).expect("mkdir");
    fs::create_dir_all(project.path("api")).expect("mkdir");
    project.write("src/app.py", "print(1)\n");
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("web | started");
    wrangle.expect_line("api | started");
    let up = wrangle.expect_line("wrangle * all 2 services up");

    // An editor's save: a new file written under a (gitignored) temporary name, renamed over
    // the old one, then written again: one burst, one restart, naming the file.
    project.write("src/app.py.tmp", "print(2)\n");
    fs::rename(project.path("src/app.py.tmp"), project.path("src/app.py")).expect("rename");
    project.write("src/app.py", "print(3)\n");
    let first = wrangle.expect_line_from(
        up,
        "web: src/app.py changed: restarting",
        crate::support::WAIT,
    );
    assert!(
        normalize(&wrangle.lines()[first]).ends_with("web: src/app.py changed: restarting"),
        "{}",
        wrangle.transcript()
    );
    let restarted = wrangle.expect_line_from(first, "web | started", crate::support::WAIT);

    // Ignored by .gitignore (a pattern and a directory) and by watch_ignore; outside any watch
    // entry; a glob entry's non-matching file. None restarts anything; the next real change
    // is named alone.
    project.write("src/debug.log", "x\n");
    fs::create_dir_all(project.path("src/build")).expect("mkdir");
    project.write("src/build/out.js", "x\n");
    project.write("src/app.py.bak", "x\n");
    project.write("elsewhere.py", "x\n");
    project.write("api/notes.txt", "x\n");
    project.write("src/second.py", "x\n");
    let second = wrangle.expect_line_from(restarted, "changed: restarting", crate::support::WAIT);
    assert!(
        normalize(&wrangle.lines()[second]).ends_with("web: src/second.py changed: restarting"),
        "{}",
        wrangle.transcript()
    );
    let restarted = wrangle.expect_line_from(second, "web | started", crate::support::WAIT);

    // A directory created after the start is watched too.
    fs::create_dir(project.path("src/new")).expect("mkdir");
    let third = wrangle.expect_line_from(
        restarted,
        "web: src/new changed: restarting",
        crate::support::WAIT,
    );
    let restarted = wrangle.expect_line_from(third, "web | started", crate::support::WAIT);
    project.write("src/new/module.py", "x\n");
    let fourth = wrangle.expect_line_from(
        restarted,
        "web: src/new/module.py changed: restarting",
        crate::support::WAIT,
    );
    wrangle.expect_line_from(fourth, "web | started", crate::support::WAIT);

    // The other service's glob: only it restarts.
    project.write("api/handlers.py", "x\n");
    let api = wrangle.expect_line_from(
        fourth,
        "api: api/handlers.py changed: restarting",
        crate::support::WAIT,
    );
    wrangle.expect_line_from(api, "api | started", crate::support::WAIT);

    assert_eq!(
        count(&wrangle, "changed: restarting"),
        5,
        "{}",
        wrangle.transcript()
    );
    assert_eq!(
        count(&wrangle, "web | started"),
        5,
        "{}",
        wrangle.transcript()
    );
    assert_eq!(
        count(&wrangle, "api | started"),
        2,
        "{}",
        wrangle.transcript()
    );
    interrupt(&project, &mut wrangle);
}

#[test]
fn a_watch_path_that_does_not_exist_is_said_and_bad_globs_are_config_errors() {
    let project = Project::new(
        r#"
[services.web]
command = ["sh", "-c", "echo started; exec sleep 300"]
watch = ["missing"]
"#,
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("web: watch path missing does not exist: not watched");
    wrangle.expect_line("web | started");
    interrupt(&project, &mut wrangle);

    let project = Project::new(
        r#"
[services.web]
command = "sleep 300"
watch = ["src/[", ""]
watch_ignore = ["{a,b"]
"#,
    );
    let run = project.run(&["up"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("invalid glob \"src/[\" in `services.web.watch`"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("invalid glob \"\" in `services.web.watch`"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("invalid glob \"{a,b\" in `services.web.watch_ignore`"),
        "{run:?}"
    );
    assert!(run.stderr.contains("wrangle.toml:4:"), "{run:?}");
}
