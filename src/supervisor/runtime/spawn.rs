//! Starting an instance: its notify socket, the spawn through the [`System`], and the tasks that
//! follow a new instance (a reader per output pipe, the wait for the leader's exit, the readiness
//! probe). The answer to the engine (`Spawned` or `SpawnFailed`) is returned, not sent: the
//! executor feeds it before anything else.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::Notify;

use crate::probe::NotifySocket;
use crate::spec::{ProjectSpec, ReadyCheck, ServiceId};
use crate::supervisor::engine::{Input, SpawnFault};
use crate::supervisor::event::InstanceId;

use super::probes::{ProbeContext, run_probe};
use super::system::System;
use super::{Instance, Message, Runtime};

impl<S: System> Runtime<S> {
    /// Spawns tree `generation` of `instance`; the engine's next input.
    pub(super) fn spawn(&mut self, instance: InstanceId, generation: u64) -> Input {
        let service = instance.service;
        match self.try_spawn(instance, generation) {
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

    fn try_spawn(&mut self, id: InstanceId, generation: u64) -> io::Result<i32> {
        // A previous tree that ended without an Exited/Stopped event (readiness lost on a
        // restart) still has its probe task: it must not outlive its generation.
        self.end_instance(id);
        let service = id.service;
        let spec = Arc::clone(&self.spec);
        let service_spec = &spec.services[service];
        let notify_socket = match service_spec.ready.as_ref().map(|probe| &probe.check) {
            Some(ReadyCheck::Notify) => {
                // One socket per instance: READY=1 says which instance is ready.
                let path = self
                    .settings
                    .socket_dir
                    .join(format!("{service}.{}.notify", id.number));
                Some((NotifySocket::bind(&path)?, path))
            }
            _ => None,
        };
        let spawned = self.system.spawn(
            id,
            generation,
            self.engine.wanted(service),
            notify_socket.as_ref().map(|(_, path)| path.as_path()),
        )?;
        let pid = spawned.pid;
        if let Some(holder) = &self.settings.holder {
            let fds: Vec<_> = [&spawned.stdout, &spawned.stderr]
                .into_iter()
                .flatten()
                .map(std::os::fd::AsFd::as_fd)
                .collect();
            if let Err(error) = holder.hold(&super::output_tag(&spec, id, generation), &fds) {
                self.observer.notice(&format!(
                    "{}: the sentinel cannot hold its output pipes ({error}); if the daemon dies, its successor cannot take it over",
                    id.label(&spec)
                ));
            }
        }

        let output_drained = self.read_output(id, generation, spawned.stdout, spawned.stderr);

        let sender = self.sender.clone();
        let exit = spawned.exit;
        tokio::task::spawn_local(async move {
            // The sender side lives in the reaper until the status arrives.
            if let Ok(status) = exit.await {
                let _ = sender.send(Message::LeaderExit {
                    instance: id,
                    generation,
                    pid,
                    status,
                });
            }
        });

        let probe_task = service_spec.ready.clone().map(|probe| {
            let context = ProbeContext {
                instance: id,
                generation,
                sender: self.sender.clone(),
                observer: Rc::clone(&self.observer),
                system: Rc::clone(&self.system),
            };
            let socket = notify_socket.map(|(socket, _)| socket);
            tokio::task::spawn_local(run_probe(probe, context, socket))
        });
        self.instances.insert(
            id,
            Instance {
                generation,
                pid,
                leader_unreaped: true,
                adopted: false,
                rescan: Rc::new(Notify::new()),
                signal_late_members: Rc::new(Cell::new(None)),
                probe_task,
                live_task: None,
                started_at: SystemTime::now(),
                output_drained: Some(output_drained),
            },
        );
        Ok(pid)
    }
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

/// What the user reads when a service's command cannot be started.
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
        // setrlimit refuses a raised hard limit with EPERM, setpriority a lower nice value with
        // EACCES: either may be the service's own settings rather than its program.
        io::ErrorKind::PermissionDenied if asks_for_privilege(&service_spec.process) => format!(
            "permission denied: {program}, or its nice or limits: lowering the nice value below \
             wrangle's or raising a hard limit above wrangle's needs root (CAP_SYS_NICE, \
             CAP_SYS_RESOURCE)"
        ),
        io::ErrorKind::PermissionDenied => format!("permission denied: {program}"),
        _ => format!("{program}: {error}"),
    }
}

/// Whether the service sets a nice value or a limit, which the spawn may lack the right to set.
fn asks_for_privilege(process: &crate::spec::ProcessSpec) -> bool {
    process.nice.is_some()
        || process
            .rlimits
            .each()
            .iter()
            .any(|(_, limit)| limit.is_some())
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

    #[test]
    fn a_refused_nice_value_or_limit_is_named_with_the_program() {
        let mut service = crate::test_support::service_spec("api");
        let denied = io::Error::from_raw_os_error(Errno::PERM.raw_os_error());
        let spec = crate::test_support::project_spec(vec![service.clone()]);
        assert_eq!(
            spawn_error_text(&spec, 0, &denied),
            "permission denied: api"
        );
        service.process.rlimits.nofile = Some(1 << 20);
        let spec = crate::test_support::project_spec(vec![service]);
        let text = spawn_error_text(&spec, 0, &denied);
        assert!(
            text.starts_with("permission denied: api, or its nice or limits"),
            "{text}"
        );
    }
}
