//! The committed completion scripts and man pages are what the generators write now.

use std::fs;
use std::path::PathBuf;

use super::*;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `generated` with the committed file at `relative`; with `WRANGLE_BLESS=1` rewrites
/// it instead. Returns the problem, if any.
fn check_fresh(relative: &str, generated: &[u8]) -> Option<String> {
    let path = repository().join(relative);
    if fs::read(&path).ok().as_deref() == Some(generated) {
        return None;
    }
    if std::env::var_os("WRANGLE_BLESS").is_some_and(|value| value == "1") {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create the directory");
        }
        fs::write(&path, generated).expect("rewrite a generated file");
        return None;
    }
    Some(format!("{relative} is stale"))
}

#[test]
fn the_committed_completion_scripts_are_fresh() {
    let stale: Vec<String> = [
        (CompletionShell::Bash, "completions/wrangle.bash"),
        (CompletionShell::Zsh, "completions/_wrangle"),
        (CompletionShell::Fish, "completions/wrangle.fish"),
    ]
    .into_iter()
    .filter_map(|(shell, path)| check_fresh(path, completion_script(shell).as_bytes()))
    .collect();
    assert!(
        stale.is_empty(),
        "{stale:?}: run `cargo run -- completions SHELL > FILE` for each (or the tests with \
         WRANGLE_BLESS=1)"
    );
}

#[test]
fn the_committed_man_pages_are_fresh() {
    let pages = man_pages();
    let mut stale: Vec<String> = pages
        .iter()
        .filter_map(|(name, page)| check_fresh(&format!("docs/man/{name}"), page))
        .collect();
    let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
    for entry in fs::read_dir(repository().join("docs/man"))
        .expect("docs/man")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !names.contains(&name.as_str()) {
            stale.push(format!("docs/man/{name} is no longer generated: remove it"));
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?}: run `cargo run -- man --dir docs/man` (or the tests with WRANGLE_BLESS=1)"
    );
}

#[test]
fn every_service_verb_takes_services_and_zsh_completes_them() {
    let command = crate::cli::Cli::command();
    for sub in command.get_subcommands() {
        let takes_services = sub.get_positionals().any(|arg| arg.get_id() == "services");
        let listed = SERVICE_VERBS.contains(&sub.get_name());
        assert!(
            takes_services == listed || sub.is_hide_set(),
            "`{}`: takes service names: {takes_services}, in SERVICE_VERBS: {listed}",
            sub.get_name()
        );
    }
    let zsh = completion_script(CompletionShell::Zsh);
    let service_lines: Vec<&str> = zsh
        .lines()
        .filter(|line| line.starts_with("'*::services -- "))
        .collect();
    assert!(service_lines.len() >= SERVICE_VERBS.len(), "{zsh}");
    for line in service_lines {
        assert!(line.ends_with(":_wrangle_services' \\"), "{line}");
    }
    assert!(!zsh.contains("(completed by _wrangle_services)"));
}

#[test]
fn man_pages_cover_every_visible_verb() {
    let pages = man_pages();
    for verb in ["up", "ps", "logs", "completions", "man", "schema"] {
        assert!(
            pages
                .iter()
                .any(|(name, _)| name == &format!("wrangle-{verb}.1")),
            "no page for {verb}"
        );
    }
    assert!(!pages.iter().any(|(name, _)| name.contains("__")));
}
