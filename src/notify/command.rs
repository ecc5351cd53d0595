//! One command notification: run the entry's argv through the reaper with the payload on stdin
//! and in `WRANGLE_*` variables; delivered when it exits 0 within the timeout.
//!
//! The command is wrangle's helper, not a service: it is spawned with
//! [`Reaper::spawn_helper`] (so the supervisor's sweep leaves it alone), in its own process
//! group, dies with wrangle (SIGKILL death signal), has its output discarded, and is killed with
//! its whole group when it overruns its timeout or when the notifier gives up on it (the
//! [`Running`] guard does that on drop).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use crate::environment::MANAGER_VARIABLES;
use crate::human;
use crate::spec::{CommandSpec, Signal};
use crate::sys::reaper::{ExitStatus, Reaper};
use crate::sys::spawn::{Output, SpawnRequest, signal_group};
use crate::sys::tree::{RUN_VAR, SERVICE_VAR};

/// How long a killed command may take to be reaped before it is left to the reaper.
const REAP_WAIT: Duration = Duration::from_secs(1);

/// Runs `command` in `cwd` with `env` added to wrangle's environment and `stdin` as its input.
/// An error is the reason, in a few words.
pub async fn run(
    reaper: &Reaper,
    command: &CommandSpec,
    cwd: &Path,
    env: BTreeMap<String, String>,
    stdin: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|error| format!("cannot make a pipe: {error}"))?;
    let mut request = SpawnRequest {
        argv: command.argv.clone(),
        cwd: cwd.to_path_buf(),
        env,
        // Never taken for a member of a service, and nothing of wrangle's own protocol leaks.
        env_remove: [RUN_VAR.to_string(), SERVICE_VAR.to_string()]
            .into_iter()
            .chain(MANAGER_VARIABLES.map(String::from))
            .collect(),
        output: Output::Discard,
        // A helper of wrangle's: it dies with wrangle, at once.
        death_signal: Some(Signal::KILL.0),
        cgroup: None,
        stdin: Some(reader),
        listen: None,
        limits: Default::default(),
        credentials: None,
    };
    let program = command.argv.first().cloned().unwrap_or_default();
    let (child, exit) = reaper
        .spawn_helper(&mut request)
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => format!("command not found: {program}"),
            std::io::ErrorKind::PermissionDenied => format!("permission denied: {program}"),
            _ => format!("cannot run {program}: {error}"),
        })?;
    // `request` still holds nothing: std moved the read end into the child's stdin.
    drop(request);
    let mut running = Running {
        pid: child.pid,
        exit: Some(exit),
    };
    let feed = async move {
        // A command that does not read its input closes the pipe; that is its right.
        let Ok(mut pipe) = tokio::net::unix::pipe::Sender::from_owned_fd(writer) else {
            return;
        };
        let _ = pipe.write_all(&stdin).await;
    };
    let outcome = tokio::time::timeout(timeout, async {
        let (_, status) = tokio::join!(feed, running.wait());
        status
    })
    .await;
    match outcome {
        Ok(Some(ExitStatus::Code(0))) => Ok(()),
        Ok(Some(ExitStatus::Code(code))) => Err(format!("exited with code {code}")),
        Ok(Some(ExitStatus::Signal(signal))) => Err(format!("killed by {}", Signal(signal).name())),
        Ok(None) => Err("its exit status was lost".to_string()),
        Err(_elapsed) => {
            running.kill();
            let _ = tokio::time::timeout(REAP_WAIT, running.wait()).await;
            Err(format!(
                "did not finish within {} (killed)",
                human::duration(timeout)
            ))
        }
    }
}

/// A started command until its exit status arrives. Dropped before that, it kills the
/// command's process group, so no notification command outlives the notifier's interest.
struct Running {
    pid: i32,
    /// Taken once the status arrived.
    exit: Option<oneshot::Receiver<ExitStatus>>,
}

impl Running {
    /// The exit status, once the reaper has it (None if it was lost).
    async fn wait(&mut self) -> Option<ExitStatus> {
        let exit = self.exit.as_mut()?;
        let status = exit.await.ok();
        self.exit = None;
        status
    }

    /// SIGKILLs the command's group if the command is still unreaped (its pid, and so its group
    /// id, cannot have been reused then: see `sys::spawn::signal_group`).
    fn kill(&mut self) {
        let Some(exit) = self.exit.as_mut() else {
            return;
        };
        // The reaper sends the status in the same turn it reaps: an empty channel means the
        // child is not reaped yet.
        if let Err(oneshot::error::TryRecvError::Empty) = exit.try_recv() {
            let _ = signal_group(self.pid, Signal::KILL.0);
        } else {
            self.exit = None;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}
