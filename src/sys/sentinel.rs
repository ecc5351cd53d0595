//! The sentinel: a small process that keeps wrangle's promise (nothing it started is left
//! running) when wrangle itself is killed with SIGKILL, or crashes, and so cannot keep it.
//!
//! # Theory of operation
//! A foreground run's service leaders are started with `PR_SET_PDEATHSIG = SIGTERM`, but that
//! reaches only the leader: its children, double-forked daemons and `setsid` escapees live on.
//! The sentinel stops them. A daemon's leaders have no death signal: its sentinel either hands
//! them to a successor or stops them. It sits in one of two places in the process tree:
//!
//! - **Above the daemon** ([`parent`]). `up -d` starts `wrangle __sentinel --daemon`, which
//!   becomes a child subreaper and starts the daemon as its only child. Every process of the run
//!   is then its descendant, whatever it does: a process whose parent dies is re-parented to the
//!   nearest subreaper, which is the daemon while it lives and the sentinel after. It holds
//!   duplicates of the project lock, the sockets and every output pipe ([`link`]); when the
//!   daemon dies after start-up, it starts a successor that takes the run over with them
//!   ([`parent`]). When that is not possible (the daemon died starting, or while stopping the run,
//!   or successors keep failing), or the daemon exits leaving anything behind, the sentinel stops
//!   its whole subtree — SIGTERM, a
//!   grace period (the project's longest `stop_timeout`, which the daemon tells it through
//!   their link), SIGKILL — and is sure to have found every process without cgroups or markers: it is
//!   done when it has no child left. It writes what it did where the next command looks
//!   ([`report`]) and then exits with the daemon's code.
//! - **Beside a foreground run** ([`child`]). A foreground `up` must stay the process the shell
//!   waits for, so its sentinel is its child, in a session of its own, reading a pipe whose only
//!   write end wrangle holds. End-of-file without `done` means wrangle died: the sentinel stops
//!   every process carrying the run's `WRANGLE_RUN` token and everything in the run's cgroup.
//!
//! # A process that mostly waits
//! `main` calls [`main`] before parsing the command line or starting the async runtime, so the
//! sentinel never touches the daemon's code or data. Once it has nothing to do but wait, it gives
//! back the pages of program and library files it mapped while starting
//! ([`crate::sys::memory::release_file_pages`]): its resident set is then its own few pages.
//!
//! # Caveats
//! - The foreground's sentinel cannot find a process that cleared its environment and left its
//!   service's session, on a machine without cgroups: such a process is re-parented above
//!   wrangle, out of the sentinel's sight.
//! - A sentinel killed with SIGKILL together with its daemon stops nothing, and a daemon's
//!   services have no death signal: they run on until the next command stops what it can prove
//!   was the run's (see `launch::state`). A daemon whose sentinel died keeps supervising.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::time::Duration;

pub mod child;
pub mod link;
pub mod parent;
pub mod report;

pub use child::Sentinel;
pub use link::{LinkSettings, ParentLink};

/// The hidden subcommand that runs a sentinel: `wrangle __sentinel` (beside a foreground run) or
/// `wrangle __sentinel --daemon ARGS...` (above the daemon `wrangle __daemon ARGS...`).
pub const COMMAND: &str = "__sentinel";

/// The option of [`COMMAND`] that starts the daemon below the sentinel.
pub const DAEMON_OPTION: &str = "--daemon";

/// The option of `wrangle __daemon` naming the descriptor of its link to the sentinel above it.
pub const LINK_OPTION: &str = "--sentinel-fd";

/// The option of `wrangle __daemon` that makes it a successor: it takes over the run of a daemon
/// that died, with what the sentinel held for it (see [`parent`]).
pub const ADOPT_OPTION: &str = "--adopt";

/// The longest grace the sentinel gives a dead wrangle's services before SIGKILL.
pub const MAX_GRACE: Duration = Duration::from_secs(10);

/// How long the sentinel keeps SIGKILLing what is left (a fork bomb, a process stuck in the
/// kernel) before it gives up.
pub const KILL_LIMIT: Duration = Duration::from_secs(10);

/// The entry point of `wrangle __sentinel ARGS`, called by `main` before anything else runs;
/// `args` are those after [`COMMAND`]. Returns the exit code.
pub fn main(mut args: impl Iterator<Item = OsString>) -> u8 {
    match args.next() {
        None => {
            child::watch(std::io::stdin().as_fd());
            0
        }
        Some(option) if option == DAEMON_OPTION => parent::run(args.collect()),
        Some(other) => {
            eprintln!(
                "error: `wrangle {COMMAND}` is wrangle's own helper; unknown argument {}",
                other.to_string_lossy()
            );
            2
        }
    }
}

/// Polite and terminal signals must not take a sentinel down before it has done its job.
fn ignore_polite_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        // SAFETY: SIG_IGN installs no handler code. The foreground's sentinel is single-threaded
        // and spawns nothing, so the ignored dispositions cannot reach a service.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
}
