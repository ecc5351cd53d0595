//! Generated files: `wrangle completions SHELL`, `wrangle man`, `wrangle schema`, and
//! `wrangle __services`, which completion scripts call for the current project's service names.
//!
//! Everything here is generated from one source: the clap definition ([`super::Cli`]) for
//! completions and man pages, the config readers' key tables for the schema. The outputs are
//! committed (`completions/`, `docs/man/`, `docs/wrangle.schema.json`) and tests fail when they
//! are stale, so a change to the command line or the config shows up in review.
//!
//! Service names: clap's static scripts know the command line, not the project. Each script
//! gets a few lines that ask `wrangle __services` for the names of the project found from the
//! current directory (quietly nothing when there is none or its config does not load), for the
//! verbs that take service names. bash and fish allow that around the generated script; for zsh
//! the generated `_default` action of those arguments is replaced.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::config;
use crate::exit;

/// The verbs whose positional arguments are service names.
pub const SERVICE_VERBS: &[&str] = &[
    "up", "test", "start", "stop", "restart", "logs", "reload", "clean", "flush",
];

/// The hidden verb the completion scripts call.
pub const SERVICES_VERB: &str = "__services";

/// `wrangle completions SHELL`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// `wrangle man [--dir DIR]`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write every page (wrangle.1, wrangle-up.1, ...) into this directory instead of writing
    /// wrangle.1 to standard output.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The completion script for `shell`, service names included.
pub fn completion_script(shell: CompletionShell) -> String {
    let mut command = Cli::command();
    let mut generated = Vec::new();
    let clap_shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    clap_complete::generate(clap_shell, &mut command, "wrangle", &mut generated);
    let generated = String::from_utf8_lossy(&generated).into_owned();
    let verbs = SERVICE_VERBS.join(" ");
    match shell {
        CompletionShell::Bash => format!(
            "{generated}
# Service names of the project found from the current directory (`wrangle {SERVICES_VERB}`),
# for the verbs that take them.
_wrangle_with_services() {{
    _wrangle \"$@\"
    local cur=\"${{COMP_WORDS[COMP_CWORD]}}\" word verb=\"\"
    [[ \"$cur\" == -* ]] && return 0
    for word in \"${{COMP_WORDS[@]:1:COMP_CWORD-1}}\"; do
        case \"$word\" in -*) ;; *) verb=\"$word\"; break ;; esac
    done
    case \" {verbs} \" in
        *\" $verb \"*)
            local names
            names=\"$(\"${{COMP_WORDS[0]}}\" {SERVICES_VERB} 2>/dev/null)\" || return 0
            COMPREPLY+=( $(compgen -W \"$names\" -- \"$cur\") )
            ;;
    esac
}}
if [[ \"${{BASH_VERSINFO[0]}}\" -eq 4 && \"${{BASH_VERSINFO[1]}}\" -ge 4 || \"${{BASH_VERSINFO[0]}}\" -gt 4 ]]; then
    complete -F _wrangle_with_services -o nosort -o bashdefault -o default wrangle
else
    complete -F _wrangle_with_services -o bashdefault -o default wrangle
fi
"
        ),
        CompletionShell::Fish => format!(
            "{generated}
# Service names of the project found from the current directory, for the verbs that take them.
complete -c wrangle -n \"__fish_seen_subcommand_from {verbs}\" -f -a \"(wrangle {SERVICES_VERB} 2>/dev/null)\"
"
        ),
        CompletionShell::Zsh => zsh_with_services(&generated),
    }
}

/// clap writes `:_default` as the action of a positional argument without a value hint; for the
/// service-name arguments (named `services`) that action becomes `_wrangle_services`.
fn zsh_with_services(generated: &str) -> String {
    let replaced = generated.replace(
        "'*::services -- ",
        "'*::services -- (completed by _wrangle_services) ",
    );
    let mut out = String::new();
    for line in replaced.lines() {
        if line.contains("'*::services -- (completed by _wrangle_services) ") {
            let line = line.replace(":_default'", ":_wrangle_services'");
            out.push_str(&line.replace("(completed by _wrangle_services) ", ""));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    let function = format!(
        "# Service names of the project found from the current directory (`wrangle {SERVICES_VERB}`).
(( $+functions[_wrangle_services] )) ||
_wrangle_services() {{
    local -a names
    names=(${{(f)\"$(wrangle {SERVICES_VERB} 2>/dev/null)\"}})
    _describe -t services 'service' names
}}

"
    );
    // The function must exist before the dispatcher at the end of the file calls `_wrangle`.
    match out.find("if [ \"$funcstack[1]\" = \"_wrangle\" ]") {
        Some(at) => {
            out.insert_str(at, &function);
            out
        }
        None => format!("{out}\n{function}"),
    }
}

/// Every man page: `(file name, roff)` for wrangle and each visible subcommand.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let command = Cli::command();
    let mut pages = Vec::new();
    let mut root = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(command.clone()).render(&mut root);
    pages.push(("wrangle.1".to_string(), root));
    for sub in command.get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let name = format!("wrangle-{}", sub.get_name());
        let sub = sub.clone().name(name.clone());
        let mut page = Vec::new();
        let _ = clap_mangen::Man::new(sub).render(&mut page);
        pages.push((format!("{name}.1"), page));
    }
    pages
}

pub fn completions(args: &CompletionsArgs) -> u8 {
    write_stdout(completion_script(args.shell).as_bytes())
}

pub fn man(args: &ManArgs) -> u8 {
    let pages = man_pages();
    let Some(dir) = &args.dir else {
        return match pages.first() {
            Some((_, page)) => write_stdout(page),
            None => exit::SUCCESS,
        };
    };
    match write_pages(dir, &pages) {
        Ok(()) => exit::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            exit::INVALID
        }
    }
}

fn write_pages(dir: &Path, pages: &[(String, Vec<u8>)]) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    for (name, page) in pages {
        let path = dir.join(name);
        crate::sys::file::replace(&path, page)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    Ok(())
}

pub fn schema() -> u8 {
    write_stdout(config::json_schema().as_bytes())
}

/// `wrangle __services`: the current project's service names, one per line; nothing (status 1)
/// when there is no project or its config does not load. Never prints an error: a completion
/// script calls it at every tab.
pub fn services(file: Option<PathBuf>) -> u8 {
    let (path, origin) = match file {
        Some(path) => (path, config::Origin::Named),
        None => {
            let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            match config::discover(&start) {
                Ok(path) => (path, config::Origin::Discovered),
                Err(_) => return exit::SERVICE_FAILED,
            }
        }
    };
    let loaded =
        crate::launch::config_trust().and_then(|trust| config::load(&path, origin, &trust));
    let Ok(loaded) = loaded else {
        return exit::SERVICE_FAILED;
    };
    let mut names = String::new();
    for service in &loaded.spec.services {
        names.push_str(&service.name);
        names.push('\n');
    }
    write_stdout(names.as_bytes())
}

fn write_stdout(bytes: &[u8]) -> u8 {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => exit::SUCCESS,
        // A closed pipe (`wrangle schema | head`) is the reader's choice, not a failure.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(error) => {
            eprintln!("error: cannot write to standard output: {error}");
            exit::SERVICE_FAILED
        }
    }
}

#[cfg(test)]
mod tests;
