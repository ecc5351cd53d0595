//! Spawning a service instance: its environment and notify socket, its cgroup (created on first
//! use; a kernel that refuses the move means process groups only), the spawn through the reaper,
//! and the tasks that follow a new instance (output readers, the leader's exit, its probe).

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{Notify, mpsc};

use crate::probe::NotifySocket;
use crate::spec::{ProjectSpec, ReadyCheck, ServiceId, Signal};
use crate::supervisor::engine::{Input, SpawnFault};
use crate::supervisor::event::Stream;
use crate::sys::cgroup::ServiceCgroup;
use crate::sys::spawn::{JoinCgroup, Output, SpawnRequest};
use crate::sys::tree::{RUN_VAR, SERVICE_VAR};

use super::output::{OutputDrained, OutputReader};
use super::probes::{ProbeContext, run_probe};
use super::{Instance, Message, Runtime};

impl Runtime {
    pub(super) fn spawn(&mut self, service: ServiceId, generation: u64) -> Input {
        match self.try_spawn(service, generation) {
            Ok(pid) => Input::Spawned {
                service,
                generation,
                pid,
            },
            Err(error) => Input::SpawnFailed {
                service,
                generation,
                error: spawn_error_text(&self.spec, service, &error),
                fault: spawn_fault(&error),
            },
        }
    }

    fn try_spawn(&mut self, service: ServiceId, generation: u64) -> io::Result<i32> {
        // A previous instance that ended without an Exited/Stopped event (readiness lost on a
        // restart) still has its probe task: it must not outlive its generation.
        self.end_instance(service);
        let spec = Arc::clone(&self.spec);
        let service_spec = &spec.services[service];
        let mut env = service_spec.env.clone();
        env.insert(RUN_VAR.to_string(), self.options.run_token.clone());
        env.insert(SERVICE_VAR.to_string(), service_spec.name.clone());
        let notify_socket = match service_spec.ready.as_ref().map(|probe| &probe.check) {
            Some(ReadyCheck::Notify) => {
                let path = self.options.socket_dir.join(format!("{service}.notify"));
                let socket = NotifySocket::bind(&path)?;
                env.insert(
                    "NOTIFY_SOCKET".to_string(),
                    path.to_string_lossy().into_owned(),
                );
                Some(socket)
            }
            _ => None,
        };
        let mut request = SpawnRequest {
            argv: service_spec.command.argv.clone(),
            cwd: service_spec.cwd.clone(),
            env,
            // wrangle's own systemd/socket-activation variables are not the service's.
            env_remove: inherited_variables_to_drop(),
            output: Output::Capture,
            death_signal: self.options.die_with_parent.then_some(Signal::TERM.0),
            cgroup: self.service_cgroup(service),
            stdin: None,
        };
        let spawned = match self.reaper.spawn(&mut request) {
            Err(error) if request.cgroup.is_some() && is_cgroup_refusal(&error) => {
                // The cgroup exists but the kernel refused the move (delegation rules): run
                // without cgroups rather than not at all.
                self.observer.notice(&format!(
                    "cannot move processes into cgroups ({error}); continuing with process groups only"
                ));
                self.options.cgroup = None;
                self.shared
                    .borrow_mut()
                    .cgroups
                    .iter_mut()
                    .for_each(|cgroup| *cgroup = None);
                request.cgroup = None;
                self.reaper.spawn(&mut request)
            }
            other => other,
        };
        let (child, exit) = spawned?;
        let pid = child.pid;
        self.shared.borrow_mut().leaders.insert(pid, service);

        let log_pattern = match service_spec.ready.as_ref().map(|probe| &probe.check) {
            Some(ReadyCheck::Log { pattern }) => Some(pattern.clone()),
            _ => None,
        };
        let log_matched = Rc::new(Cell::new(false));
        let (output_open, output_drained) = mpsc::channel(1);
        for (fd, stream) in [
            (child.stdout, Stream::Stdout),
            (child.stderr, Stream::Stderr),
        ] {
            if let Some(fd) = fd {
                let reader = OutputReader {
                    service,
                    generation,
                    stream,
                    observer: Rc::clone(&self.observer),
                    log_pattern: log_pattern.clone(),
                    log_matched: Rc::clone(&log_matched),
                    sender: self.sender.clone(),
                    _open: output_open.clone(),
                    log_store: self.options.log_store.clone(),
                    buffer: Rc::clone(&self.read_buffer),
                };
                self.readers.retain(|reader| !reader.is_finished());
                self.readers.push(tokio::task::spawn_local(reader.run(fd)));
            }
        }

        let sender = self.sender.clone();
        tokio::task::spawn_local(async move {
            // The sender side lives in the reaper until the status arrives.
            if let Ok(status) = exit.await {
                let _ = sender.send(Message::LeaderExit {
                    service,
                    generation,
                    status,
                });
            }
        });

        let probe_task = service_spec.ready.clone().map(|probe| {
            let context = ProbeContext {
                service,
                generation,
                cwd: service_spec.cwd.clone(),
                env: service_spec.env.clone(),
                sender: self.sender.clone(),
                observer: Rc::clone(&self.observer),
                reaper: Rc::clone(&self.reaper),
                shared: Rc::clone(&self.shared),
            };
            tokio::task::spawn_local(run_probe(probe, context, notify_socket))
        });
        // Drop the pidfd: the leader is our unreaped child, so signalling its group is race-free
        // until the reaper reports it, and members are held through fresh pidfds when needed.
        drop(child.pidfd);
        self.instances[service] = Some(Instance {
            generation,
            pid,
            leader_unreaped: true,
            rescan: Rc::new(Notify::new()),
            signal_late_members: Rc::new(Cell::new(None)),
            probe_task,
            started_at: SystemTime::now(),
            output_drained: Some(OutputDrained(output_drained)),
        });
        Ok(pid)
    }

    /// The cgroup the child starts in, creating the service's cgroup on first use.
    fn service_cgroup(&mut self, service: ServiceId) -> Option<JoinCgroup> {
        let run_cgroup = self.options.cgroup.as_ref()?;
        let mut shared = self.shared.borrow_mut();
        if shared.cgroups[service].is_none() {
            match run_cgroup.service(&self.service_names[service]) {
                Ok(cgroup) => {
                    if let Some(max) = self.spec.services[service].limits.max_memory {
                        // The kernel's limit is a backstop above wrangle's: the graceful
                        // restart at `max_memory` comes first, the OOM killer only for a leak
                        // too fast for a check every second.
                        let backstop = max.saturating_add(max / 4);
                        if let Err(error) = cgroup.set_memory_max(backstop) {
                            let name = &self.service_names[service];
                            self.observer.notice(&format!(
                                "{name}: cannot set its kernel memory limit ({error}); max_memory is enforced by wrangle alone"
                            ));
                        }
                    }
                    shared.cgroups[service] = Some(cgroup);
                }
                Err(error) => {
                    let name = &self.service_names[service];
                    self.observer.notice(&format!(
                        "{name}: cannot create its cgroup ({error}); using its process group"
                    ));
                    return None;
                }
            }
        }
        shared.cgroups[service].as_ref().map(ServiceCgroup::join)
    }
}

/// The kernel refusing a move into a cgroup shows up as one of these from the child's setup.
fn is_cgroup_refusal(error: &io::Error) -> bool {
    // ENODEV: the cgroup was removed under us (by an administrator, or an older wrangle in
    // another pid namespace); process groups still work.
    matches!(error.raw_os_error(), Some(code) if code == rustix::io::Errno::ACCESS.raw_os_error()
        || code == rustix::io::Errno::NODEV.raw_os_error()
        || code == rustix::io::Errno::PERM.raw_os_error()
        || code == rustix::io::Errno::BUSY.raw_os_error()
        || code == rustix::io::Errno::NOTSUP.raw_os_error()
        || code == rustix::io::Errno::OPNOTSUPP.raw_os_error())
}

/// Variables of wrangle's own environment that describe wrangle, not a child: never passed on.
pub(crate) fn inherited_variables_to_drop() -> Vec<String> {
    [
        "NOTIFY_SOCKET",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Whose failure a failed spawn is: running out of descriptors (EMFILE, ENFILE), memory (ENOMEM)
/// or processes (EAGAIN from clone) is wrangle's own shortage, not the service's.
fn spawn_fault(error: &io::Error) -> SpawnFault {
    use rustix::io::Errno;
    match Errno::from_io_error(error) {
        Some(Errno::MFILE | Errno::NFILE | Errno::NOMEM | Errno::AGAIN) => SpawnFault::Supervisor,
        _ => SpawnFault::Service,
    }
}

fn spawn_error_text(spec: &ProjectSpec, service: ServiceId, error: &io::Error) -> String {
    let service_spec = &spec.services[service];
    let program = service_spec
        .command
        .argv
        .first()
        .cloned()
        .unwrap_or_default();
    match error.kind() {
        io::ErrorKind::NotFound if !service_spec.cwd.is_dir() => {
            format!(
                "working directory {} does not exist",
                service_spec.cwd.display()
            )
        }
        io::ErrorKind::NotFound => format!("command not found: {program}"),
        io::ErrorKind::PermissionDenied => format!("permission denied: {program}"),
        _ => format!("{program}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use rustix::io::Errno;

    use super::*;

    #[test]
    fn a_spawn_failing_for_lack_of_wrangles_resources_is_not_the_services_fault() {
        for errno in [Errno::MFILE, Errno::NFILE, Errno::NOMEM, Errno::AGAIN] {
            let error = io::Error::from_raw_os_error(errno.raw_os_error());
            assert_eq!(spawn_fault(&error), SpawnFault::Supervisor, "{error}");
        }
        for errno in [Errno::NOENT, Errno::ACCESS, Errno::NOEXEC] {
            let error = io::Error::from_raw_os_error(errno.raw_os_error());
            assert_eq!(spawn_fault(&error), SpawnFault::Service, "{error}");
        }
        let empty = io::Error::new(io::ErrorKind::InvalidInput, "empty command");
        assert_eq!(spawn_fault(&empty), SpawnFault::Service);
    }
}
