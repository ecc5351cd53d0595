//! Taking over the instances of a daemon that died (a successor, see `sys::sentinel`): each
//! proven leader becomes an instance the engine knows as running (`Input::Adopted`), its output
//! read on from the pipes the sentinel held, its end learnt from the sentinel, which is its parent
//! now and reaps it.

use std::cell::Cell;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, mpsc};

use crate::supervisor::engine::Input;
use crate::supervisor::event::{Exit, InstanceId};
use crate::sys::sentinel::ParentLink;
use crate::sys::sentinel::link::{self, Received};

use super::probes::{ProbeContext, run_probe};
use super::system::System;
use super::{Instance, Message, Runtime};

/// How long an adopted leader's end waits for its status from the sentinel before it is taken
/// as unknown (the sentinel could not tell it).
const STATUS_WAIT: Duration = Duration::from_millis(500);

/// An instance of a daemon that died, proven to be the same processes (see
/// `sys::tree::prove_leader`), with the read ends of its output pipes.
pub struct AdoptedInstance {
    pub instance: InstanceId,
    pub generation: u64,
    pub ready: bool,
    pub restarts: u32,
    pub pid: i32,
    /// Pins the leader's identity; readable once it has exited.
    pub pidfd: OwnedFd,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// When the dead daemon spawned it, if known.
    pub started_at: Option<SystemTime>,
}

impl<S: System> Runtime<S> {
    /// Tells the engine about each adopted instance (before `Start`) and follows it as if it
    /// had been spawned here.
    pub(super) fn adopt_all(&mut self, adopted: Vec<AdoptedInstance>) {
        for instance in adopted {
            let id = instance.instance;
            if id.service >= self.spec.services.len() {
                continue;
            }
            self.system.adopt(id, instance.pid);
            self.engine.handle(
                super::now(),
                Input::Adopted {
                    instance: id,
                    generation: instance.generation,
                    ready: instance.ready,
                    restarts: instance.restarts,
                },
            );
            self.follow_adopted(instance);
        }
    }

    fn follow_adopted(&mut self, adopted: AdoptedInstance) {
        let id = adopted.instance;
        let generation = adopted.generation;
        let spec = Arc::clone(&self.spec);
        let service_spec = &spec.services[id.service];
        let output_drained = self.read_output(id, generation, adopted.stdout, adopted.stderr);
        // Without a status from the sentinel, the pidfd still tells the end.
        let sender = self.sender.clone();
        let pid = adopted.pid;
        let pidfd = adopted.pidfd;
        tokio::task::spawn_local(async move {
            let _ = crate::sys::tree::exited(pidfd).await;
            tokio::time::sleep(STATUS_WAIT).await;
            let _ = sender.send(Message::AdoptedExit { pid, status: None });
        });
        // A probe that had not passed yet starts again (a notify probe cannot: its socket was
        // the dead daemon's, so the instance waits for its readiness timeout).
        let probe_task = service_spec
            .ready
            .clone()
            .filter(|_| !adopted.ready)
            .map(|probe| {
                let context = ProbeContext {
                    instance: id,
                    generation,
                    sender: self.sender.clone(),
                    observer: Rc::clone(&self.observer),
                    system: Rc::clone(&self.system),
                };
                tokio::task::spawn_local(run_probe(probe, context, None))
            });
        self.instances.insert(
            id,
            Instance {
                generation,
                pid,
                leader_unreaped: true,
                adopted: true,
                rescan: Rc::new(Notify::new()),
                signal_late_members: Rc::new(Cell::new(None)),
                probe_task,
                live_task: None,
                started_at: adopted.started_at.unwrap_or_else(SystemTime::now),
                output_drained: Some(output_drained),
            },
        );
        // A ready instance is watched for liveness again at once; one that is not ready yet
        // is, once it is (its `Ready` event).
        if adopted.ready {
            self.watch_liveness(id);
        }
    }

    /// An adopted leader `pid` ended (`status` from the sentinel, or `None` when only its pidfd
    /// said so); the first report counts.
    pub(super) fn adopted_exited(&mut self, pid: i32, status: Option<Exit>) -> Option<u8> {
        let (id, generation) = self
            .instances
            .iter()
            .find(|(_, instance)| {
                instance.adopted && instance.leader_unreaped && instance.pid == pid
            })
            .map(|(id, instance)| (*id, instance.generation))?;
        self.leader_exited(id, generation, pid, status.unwrap_or(Exit::Unknown))
    }
}

/// Reads what the sentinel says on the link (how its children ended) until the link closes.
pub(super) async fn read_sentinel(link: Rc<ParentLink>, sender: mpsc::UnboundedSender<Message>) {
    let Ok(fd) = link.fd().try_clone_to_owned() else {
        return;
    };
    let Ok(fd) = link::watch(fd) else {
        return;
    };
    let mut buffer = vec![0u8; link::MAX_MESSAGE_BYTES];
    loop {
        let Ok(mut guard) = fd.readable().await else {
            return;
        };
        loop {
            match link::receive(std::os::fd::AsFd::as_fd(fd.get_ref()), &mut buffer) {
                Ok(Received::Message { text, .. }) => {
                    for line in String::from_utf8_lossy(&text).lines() {
                        if let Some((pid, status)) = link::parse_exit(line) {
                            let status = match status {
                                Ok(code) => Exit::Code(code),
                                Err(signal) => Exit::Signal(signal),
                            };
                            let _ = sender.send(Message::AdoptedExit {
                                pid,
                                status: Some(status),
                            });
                        }
                    }
                }
                Ok(Received::Nothing) => {
                    guard.clear_ready();
                    break;
                }
                Ok(Received::End) | Err(_) => return,
            }
        }
    }
}
