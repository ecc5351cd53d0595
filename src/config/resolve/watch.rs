//! `watch` and `clean`: watch entries relative to a service's `cwd` (a directory and a glob),
//! the ignore files that apply, and `clean` paths kept inside the project root.

use std::path::{Path, PathBuf};

use crate::config::diagnostic::Diagnostic;
use crate::config::document::RawService;
use crate::config::trust::{MAX_ENV_FILE_BYTES, Unreadable, Verdict};
use crate::spec::{IgnoreFile, WatchEntry, WatchSpec};

use super::{DEFAULT_WATCH_DEBOUNCE, Resolver};

/// A `watch` entry written relative to `cwd`: the directory its literal part names, and the
/// glob when it has one (checked by the config's shape check already).
fn watch_entry(cwd: &Path, written: &str) -> WatchEntry {
    let is_glob = |part: &str| part.contains(['*', '?', '[', '{', '\\']);
    let mut root = cwd.to_path_buf();
    let mut globbed = false;
    for part in written.split('/') {
        if is_glob(part) {
            globbed = true;
            break;
        }
        root.push(part);
    }
    let glob = match globbed {
        true => crate::spec::glob(written.trim_start_matches("./"))
            .ok()
            .map(|glob| glob.compile_matcher()),
        false => None,
    };
    WatchEntry {
        root: std::path::absolute(&root).unwrap_or(root),
        glob,
    }
}

/// `written` as a path relative to `root` with no `.` or `..` left, or why it is refused.
fn clean_path(root: &Path, written: &Path) -> Result<PathBuf, &'static str> {
    use std::path::Component;
    let relative = if written.is_absolute() {
        written
            .strip_prefix(root)
            .map_err(|_| "an absolute path outside the project root")?
    } else {
        written
    };
    let mut normal = PathBuf::new();
    for component in relative.components() {
        match component {
            Component::Normal(name) => normal.push(name),
            Component::CurDir => {}
            Component::ParentDir => {
                if !normal.pop() {
                    return Err("`..` leads outside the project root");
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("an absolute path outside the project root");
            }
        }
    }
    if normal.as_os_str().is_empty() {
        return Err("this names the project root itself");
    }
    Ok(normal)
}

impl Resolver<'_, '_, '_> {
    /// The service's `watch` settings, when it watches anything: entries split into the
    /// directory they start with and a glob, `watch_ignore` globs (`[defaults]`' then its own;
    /// one without `/` matches a name at any depth), the ignore files that apply.
    pub(super) fn watch(&mut self, service: &RawService, cwd: &Path) -> Option<WatchSpec> {
        if service.watch.is_empty() {
            return None;
        }
        let settings = &service.settings;
        let defaults = &self.raw.defaults;
        let entries = service
            .watch
            .iter()
            .map(|written| watch_entry(cwd, written.get_ref()))
            .collect();
        let ignore = defaults
            .watch_ignore
            .iter()
            .chain(&settings.watch_ignore)
            .filter_map(|written| {
                let text = written.get_ref();
                let anchored = match text.trim_start_matches('/').contains('/') {
                    true => text.trim_start_matches('/').to_string(),
                    false => format!("**/{text}"),
                };
                crate::spec::glob(&anchored)
                    .ok()
                    .map(|glob| glob.compile_matcher())
            })
            .collect();
        Some(WatchSpec {
            entries,
            ignore,
            ignore_files: self.ignore_files(cwd),
            debounce: settings
                .watch_debounce
                .or(defaults.watch_debounce)
                .unwrap_or(DEFAULT_WATCH_DEBOUNCE),
        })
    }

    /// `.gitignore` and `.ignore` in the project root and each directory down to `cwd`, read
    /// through the trust gate (one another user could have written is skipped, with a warning).
    fn ignore_files(&mut self, cwd: &Path) -> Vec<IgnoreFile> {
        let mut dirs = vec![self.root.to_path_buf()];
        if let Ok(below) = cwd.strip_prefix(self.root) {
            let mut dir = self.root.to_path_buf();
            for part in below.components() {
                dir.push(part);
                dirs.push(dir.clone());
            }
        }
        let mut files = Vec::new();
        for dir in dirs {
            for name in [".gitignore", ".ignore"] {
                let path = dir.join(name);
                if let Some(text) = self.ignore_file(&path) {
                    files.push(IgnoreFile {
                        dir: dir.clone(),
                        path,
                        text,
                    });
                }
            }
        }
        files
    }

    fn ignore_file(&mut self, path: &Path) -> Option<String> {
        if let Some(cached) = self.ignore_texts.get(path) {
            return cached.clone();
        }
        let text = match self.files.gate.read(path, MAX_ENV_FILE_BYTES) {
            Err(Unreadable::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(problem) => {
                self.files.warnings.push(Diagnostic::unlocated(format!(
                    "not using {} for `watch`: {problem}",
                    path.display()
                )));
                None
            }
            Ok(checked) => match &checked.verdict {
                Verdict::Refused(doubts) => {
                    let warning = self.files.gate.skipped_file(path, doubts);
                    self.files.warnings.push(warning);
                    None
                }
                Verdict::Trusted | Verdict::Vouched(_) => {
                    Some(String::from_utf8_lossy(&checked.bytes).into_owned())
                }
            },
        };
        self.ignore_texts.insert(path.to_path_buf(), text.clone());
        text
    }

    /// The service's `clean` paths, relative to the project root: written relative to it (or
    /// absolute inside it), with `.` and `..` taken away. A path that leaves the root through
    /// `..`, or names the root itself, is refused. Symlinks on the way are found only when the
    /// paths are deleted (`sys::clean`): they may appear after the config is loaded.
    pub(super) fn clean_paths(&mut self, service: &RawService) -> Option<Vec<PathBuf>> {
        let mut paths = Vec::new();
        let mut ok = true;
        for written in &service.clean {
            match clean_path(self.root, Path::new(written.get_ref())) {
                Ok(path) => paths.push(path),
                Err(problem) => {
                    ok = false;
                    self.diagnostics.push(
                        Diagnostic::at(
                            self.file,
                            written.span(),
                            format!("`clean` path \"{}\" is refused", written.get_ref()),
                            problem,
                        )
                        .with_note(format!(
                            "clean paths are relative to the project root, {}, and stay inside it",
                            self.root.display()
                        )),
                    );
                }
            }
        }
        ok.then_some(paths)
    }
}
