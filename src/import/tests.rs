//! The small rules of an import; whole files are tested end to end in tests/import.rs.

use super::*;

#[test]
fn service_names_are_made_valid_and_unique() {
    assert_eq!(
        service_name("api server/v2").as_deref(),
        Some("api-server-v2")
    );
    assert_eq!(service_name("--x").as_deref(), Some("x"));
    assert_eq!(service_name("@scope/pkg").as_deref(), Some("scope-pkg"));
    assert_eq!(service_name("!!!"), None);
    let mut names = Names::default();
    assert_eq!(names.claim("web", "app").0, "web");
    let (second, note) = names.claim("web", "app");
    assert_eq!(second, "web-2");
    assert!(note.is_some());
    assert_eq!(names.claim("", "app1").0, "app1");
}

#[test]
fn paths_are_rebased_onto_the_output_directory() {
    let same = Paths {
        source_dir: PathBuf::from("/p"),
        output_dir: PathBuf::from("/p"),
    };
    assert_eq!(same.rebase("./api"), "./api");
    let below = Paths {
        source_dir: PathBuf::from("/p/deploy"),
        output_dir: PathBuf::from("/p"),
    };
    assert_eq!(below.rebase("../api"), "api");
    assert_eq!(below.rebase(".."), ".");
    assert_eq!(below.rebase("/abs"), "/abs");
    assert_eq!(below.rebase("/p/api"), "api");
    let elsewhere = Paths {
        source_dir: PathBuf::from("/p"),
        output_dir: PathBuf::from("/q"),
    };
    assert_eq!(elsewhere.rebase("api/./x"), "/p/api/x");
}

#[test]
fn milliseconds_are_written_in_the_largest_exact_unit() {
    assert_eq!(millis(0), "0s");
    assert_eq!(millis(1500), "1500ms");
    assert_eq!(millis(3000), "3s");
    assert_eq!(millis(120_000), "2m");
}
