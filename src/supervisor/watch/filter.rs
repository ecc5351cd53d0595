//! Which changed paths concern a service: its `watch` entries, minus its `watch_ignore` globs,
//! the project's ignore files (`.gitignore`, `.ignore`) and `.git` itself. Pure: paths in, a
//! verdict out (it asks the file system only whether a path is a directory, for the ignore files'
//! `dir/` patterns).

use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::spec::WatchSpec;

/// A service's filter, built once when watching starts.
pub(crate) struct Filter {
    cwd: PathBuf,
    watch: WatchSpec,
    ignore_files: Vec<Gitignore>,
}

impl Filter {
    /// `cwd` is the service's working directory, against which `watch` and `watch_ignore` were
    /// written.
    pub(crate) fn new(cwd: &Path, watch: &WatchSpec) -> Filter {
        let ignore_files = watch
            .ignore_files
            .iter()
            .filter_map(|file| {
                let mut builder = GitignoreBuilder::new(&file.dir);
                for line in file.text.lines() {
                    // A malformed line is skipped, as git skips it.
                    let _ = builder.add_line(Some(file.path.clone()), line);
                }
                builder.build().ok()
            })
            .collect();
        Filter {
            cwd: cwd.to_path_buf(),
            watch: watch.clone(),
            ignore_files,
        }
    }

    /// Whether a change of `path` (absolute) should restart the service.
    pub(crate) fn wants(&self, path: &Path) -> bool {
        let relative = path.strip_prefix(&self.cwd).ok();
        let watched = self.watch.entries.iter().any(|entry| {
            path.starts_with(&entry.root)
                && entry
                    .glob
                    .as_ref()
                    .is_none_or(|glob| relative.is_some_and(|relative| glob.is_match(relative)))
        });
        if !watched || path.components().any(|part| part.as_os_str() == ".git") {
            return false;
        }
        if let Some(relative) = relative
            && self.watch.ignore.iter().any(|glob| glob.is_match(relative))
        {
            return false;
        }
        let is_dir = path.is_dir();
        !self.ignore_files.iter().any(|ignore| {
            path.starts_with(ignore.path())
                && ignore.matched_path_or_any_parents(path, is_dir).is_ignore()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{IgnoreFile, WatchEntry, glob};

    fn matcher(text: &str) -> globset::GlobMatcher {
        glob(text).expect("glob").compile_matcher()
    }

    fn spec(cwd: &Path, entries: &[(&str, Option<&str>)], ignore: &[&str]) -> WatchSpec {
        WatchSpec {
            entries: entries
                .iter()
                .map(|(root, text)| WatchEntry {
                    root: cwd.join(root),
                    glob: text.map(matcher),
                })
                .collect(),
            ignore: ignore.iter().map(|text| matcher(text)).collect(),
            ignore_files: vec![IgnoreFile {
                dir: cwd.to_path_buf(),
                path: cwd.join(".gitignore"),
                text: "target/\n*.tmp\n!keep.tmp\n".to_string(),
            }],
            debounce: std::time::Duration::from_millis(200),
        }
    }

    #[test]
    fn entries_globs_and_ignores() {
        let cwd = Path::new("/p");
        let filter = Filter::new(
            cwd,
            &spec(
                cwd,
                &[
                    ("src", None),
                    ("package.json", None),
                    ("lib", Some("lib/**/*.rs")),
                ],
                &["**/*.log"],
            ),
        );
        for (path, wanted) in [
            ("/p/src/app.py", true),
            ("/p/src/deep/er/x.js", true),
            ("/p/package.json", true),
            ("/p/package.json.swp", false),
            ("/p/lib/a/b.rs", true),
            ("/p/lib/a/b.txt", false),
            ("/p/other/x.py", false),
            ("/p/src/debug.log", false),
            ("/p/src/a/debug.log", false),
            ("/p/src/x.tmp", false),
            ("/p/src/target/out.o", false),
            ("/p/src/.git/index", false),
        ] {
            assert_eq!(filter.wants(Path::new(path)), wanted, "{path}");
        }
    }
}
