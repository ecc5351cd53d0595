//! `wrangle apply [--dry-run]`: the project's config read again (same loader, same located
//! errors and exit 2 as `up`) and compared with the one the daemon runs; the plan is printed:
//! services added, removed and changed with the keys that changed, environment differences with
//! secret-looking values masked (`spec::secret`), and project settings, each applied live or
//! needing `down` and `up`. Without `--dry-run` the daemon acts on the plan (see
//! `daemon::apply`), and `apply` returns once the changes are under way: `wrangle ps` and
//! `wrangle logs` show them.

use std::path::PathBuf;

use clap::Args;

use crate::api::client::{Client, ClientError};
use crate::api::wire::{ApplyPlan, Reply, Request};
use crate::cli::project;
use crate::cli::status::client_failure;
use crate::exit;
use crate::launch;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// Print what would change and touch nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn apply(file: Option<PathBuf>, args: ApplyArgs) -> u8 {
    // The same check as `up`, with its located errors and exit 2: a broken config changes
    // nothing.
    let color = crate::output::Printer::color_wanted(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        |key| std::env::var(key).ok(),
    );
    if let Err(error) = launch::load(file.clone(), &[], color, &mut |text| eprintln!("{text}")) {
        return crate::cli::launch_failed(&error);
    }
    let project = match project::locate(file) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let client = Client::new(project.paths.control_socket.clone());
    let request = Request::Apply {
        dry_run: args.dry_run,
    };
    let outcome = project::block_on(async { client.request(&request).await });
    match outcome {
        Ok(Ok(Reply::Plan { plan })) => {
            crate::stdout::text(format_args!("{}", render_plan(&plan, false)));
            exit::SUCCESS
        }
        Ok(Ok(Reply::Applied { plan })) => {
            crate::stdout::text(format_args!("{}", render_plan(&plan, true)));
            exit::SUCCESS
        }
        Ok(Ok(_)) => client_failure(
            &project,
            &ClientError::Protocol("the daemon answered apply with something else".into()),
        ),
        Ok(Err(error)) => client_failure(&project, &error),
        Err(code) => code,
    }
}

/// The plan as `apply` prints it, one line per service or setting; `applied`: the daemon acts
/// on it (otherwise it is a dry run).
pub fn render_plan(plan: &ApplyPlan, applied: bool) -> String {
    let mut text = String::new();
    let count = plan.added.len() + plan.removed.len() + plan.changed.len() + plan.settings.len();
    if count == 0 {
        text.push_str("nothing to apply: the config matches what runs\n");
        return text;
    }
    let (start, stop) = match applied {
        true => ("starting", "stopping"),
        false => ("to start", "to stop"),
    };
    for name in &plan.added {
        text.push_str(&format!("+ {name}: added ({start})\n"));
    }
    for name in &plan.removed {
        text.push_str(&format!("- {name}: removed ({stop})\n"));
    }
    for change in &plan.changed {
        text.push_str(&format!(
            "~ {}: changed {}\n",
            change.name,
            change.keys.join(", ")
        ));
        for env in &change.env {
            let shown = |value: &Option<String>| match value {
                Some(value) => format!("{value:?}"),
                None => "(unset)".to_string(),
            };
            text.push_str(&format!(
                "    env {}: {} -> {}\n",
                env.name,
                shown(&env.before),
                shown(&env.after)
            ));
        }
    }
    for setting in &plan.settings {
        let name = &setting.name;
        let line = match (setting.live, applied) {
            (true, true) => format!("~ {name}: changed (applied live)\n"),
            (true, false) => format!("~ {name}: changed (applies live)\n"),
            (false, true) => {
                format!("! {name}: changed, not applied (needs `wrangle down` and `wrangle up`)\n")
            }
            (false, false) => {
                format!("! {name}: changed (needs `wrangle down` and `wrangle up`)\n")
            }
        };
        text.push_str(&line);
    }
    if applied {
        text.push_str("applied: the changes are under way (`wrangle ps` shows them)\n");
    }
    text
}
