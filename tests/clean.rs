//! `clean` paths: `wrangle clean` and `up --clean` delete them inside the project and nothing
//! else, whatever symlinks a project holds (seed 001's audit: a script followed one and deleted
//! outside the project).

use std::os::unix::fs::symlink;

use crate::support::{Project, WAIT, interrupt};

/// A directory outside the project with a file in it that must survive everything.
fn precious() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    std::fs::create_dir(root.join("build")).expect("mkdir");
    std::fs::write(root.join("build/precious"), "keep me").expect("write");
    (dir, root)
}

#[test]
fn a_symlink_on_the_way_is_refused_and_nothing_outside_is_touched() {
    let (_outside_dir, outside) = precious();
    let project = Project::new(
        r#"
[services.web]
command = "sleep 30"
clean = ["cache/build", "dist"]
"#,
    );
    // The attack: `cache` is a symlink out of the project; `cache/build` resolves outside.
    symlink(&outside, project.path("cache")).expect("symlink");
    std::fs::create_dir_all(project.path("dist/sub")).expect("mkdir");
    std::fs::write(project.path("dist/sub/bundle.js"), "x".repeat(20_000)).expect("write");
    let run = project.run(&["clean"]);
    assert_eq!(run.code, 4, "{run:?}");
    let cache = project.path("cache");
    assert!(
        run.stderr.contains(&format!(
            "web: error: cache/build: {} is a symlink: clean never follows one",
            cache.display()
        )),
        "{run:?}"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("build/precious")).expect("still there"),
        "keep me"
    );
    assert!(
        std::fs::symlink_metadata(&cache)
            .expect("link kept")
            .is_symlink()
    );
    // The other path was still cleaned, and the report says so.
    assert!(!project.exists("dist"), "{run:?}");
    assert!(run.stdout.contains("web: removed dist ("), "{run:?}");
    assert!(run.stderr.contains("1 path refused or failed"), "{run:?}");

    // `up --clean` refuses the same way, before anything starts.
    let mut wrangle = project.up(&["--clean"]);
    assert_eq!(wrangle.wait_exit(WAIT), 4, "{}", wrangle.transcript());
    assert!(
        wrangle.stderr_text().contains("is a symlink"),
        "{}",
        wrangle.transcript()
    );
    assert!(
        !wrangle.stdout_text().contains("starting"),
        "{}",
        wrangle.transcript()
    );
    assert!(outside.join("build/precious").exists());
}

#[test]
fn symlinks_named_or_found_inside_are_removed_as_links() {
    let (_outside_dir, outside) = precious();
    let project = Project::new(
        r#"
[services.web]
command = "sleep 30"
clean = ["link", "tmp"]
"#,
    );
    symlink(&outside, project.path("link")).expect("symlink");
    std::fs::create_dir(project.path("tmp")).expect("mkdir");
    symlink(&outside, project.path("tmp/to-dir")).expect("symlink");
    symlink(outside.join("build/precious"), project.path("tmp/to-file")).expect("symlink");
    let run = project.run(&["clean", "web"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        std::fs::symlink_metadata(project.path("link")).is_err(),
        "{run:?}"
    );
    assert!(!project.exists("tmp"), "{run:?}");
    assert_eq!(
        std::fs::read_to_string(outside.join("build/precious")).expect("still there"),
        "keep me"
    );
    assert!(run.stdout.contains("web: removed link ("), "{run:?}");
    assert!(run.stdout.contains("web: removed tmp ("), "{run:?}");
    assert!(run.stdout.contains("clean: "), "{run:?}");
    // Clean already: nothing there, not an error.
    let again = project.run(&["clean"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.contains("web: link: nothing there"),
        "{again:?}"
    );
}

#[test]
fn paths_leaving_the_project_are_config_errors() {
    let project = Project::new(
        r#"
[services.web]
command = "sleep 30"
clean = ["../elsewhere", "a/../../b", "/etc", "."]
"#,
    );
    let run = project.run(&["clean"]);
    assert_eq!(run.code, 2, "{run:?}");
    for (written, problem) in [
        ("../elsewhere", "`..` leads outside the project root"),
        ("a/../../b", "`..` leads outside the project root"),
        ("/etc", "an absolute path outside the project root"),
        (".", "this names the project root itself"),
    ] {
        assert!(
            run.stderr
                .contains(&format!("`clean` path \"{written}\" is refused")),
            "{written}: {run:?}"
        );
        assert!(run.stderr.contains(problem), "{problem}: {run:?}");
    }
    assert!(run.stderr.contains("wrangle.toml:4:"), "{run:?}");
}

#[test]
fn up_clean_deletes_before_the_start_and_clean_refuses_while_running() {
    let project = Project::new(
        r#"
[services.web]
command = ["sh", "-c", "test -e dist && echo dist-still-there || echo dist-gone; exec sleep 30"]
clean = ["dist"]
"#,
    );
    std::fs::create_dir(project.path("dist")).expect("mkdir");
    std::fs::write(project.path("dist/app.js"), "x".repeat(50_000)).expect("write");
    let mut wrangle = project.up(&["--clean"]);
    wrangle.expect_line("web: removed dist (");
    wrangle.expect_line("clean: ");
    wrangle.expect_line("web | dist-gone");
    // The project runs: `clean` would delete under it, so it is refused like a second `up`.
    let refused = project.run(&["clean"]);
    assert_eq!(refused.code, 4, "{refused:?}");
    assert!(refused.stderr.contains("already"), "{refused:?}");
    interrupt(&project, &mut wrangle);
}
