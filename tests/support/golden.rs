//! Golden files: an output compared with the file committed for it, or, with
//! `WRANGLE_BLESS=1`, written there (to be reviewed in the diff).

use std::fs;
use std::path::Path;

/// Compares `actual` with the golden file at `path`, or writes it there with `WRANGLE_BLESS=1`.
/// `rerun` is the command that blesses this test's files, for the failure message.
pub fn check_golden(path: &Path, actual: &str, rerun: &str) {
    if std::env::var_os("WRANGLE_BLESS").is_some_and(|value| value == "1") {
        if fs::read_to_string(path).is_ok_and(|expected| expected == actual) {
            return;
        }
        fs::create_dir_all(path.parent().expect("a parent")).expect("create the golden dir");
        fs::write(path, actual).expect("write a golden file");
        return;
    }
    let expected = fs::read_to_string(path).unwrap_or_else(|error| {
        panic!(
            "cannot read {}: {error}\nrun with WRANGLE_BLESS=1 to create it: {rerun}",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output, first at line {}:\n--- expected\n{}\n--- actual\n{}\n\
             (if the change is intended: {rerun})",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end of file>"),
            actual.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}
