//! A daemon taking over the run of one that died (`wrangle __daemon --adopt`, started by the
//! sentinel; see `sys::sentinel`): what the sentinel held for it, sorted out, and the recorded
//! instances it can prove are still the same processes.

use std::collections::HashMap;
use std::os::fd::OwnedFd;

use crate::launch::state::DaemonRecord;
use crate::spec::ProjectSpec;
use crate::supervisor::event::InstanceId;
use crate::supervisor::runtime::AdoptedInstance;
use crate::sys::sentinel::ParentLink;
use crate::sys::tree::{self, RecordedLeader};

/// What the sentinel held, by kind.
#[derive(Default)]
pub struct Held {
    pub lock: Option<OwnedFd>,
    /// By the socket's index in the project.
    pub sockets: Vec<(usize, OwnedFd)>,
    /// By tag (`out NAME NUMBER GENERATION`): stdout, then stderr.
    pub outputs: HashMap<String, Vec<OwnedFd>>,
}

impl Held {
    /// Sorts what [`ParentLink::take_held`] returned; unknown tags are closed.
    pub fn sort(held: Vec<(String, OwnedFd)>) -> Held {
        let mut sorted = Held::default();
        for (tag, fd) in held {
            if tag == "lock" {
                sorted.lock.get_or_insert(fd);
            } else if let Some(index) = tag.strip_prefix("socket ") {
                if let Ok(index) = index.parse() {
                    sorted.sockets.push((index, fd));
                }
            } else if tag.starts_with("out ") {
                sorted.outputs.entry(tag).or_default().push(fd);
            }
        }
        sorted
    }
}

/// The tag under which the sentinel holds the output pipes of tree `generation` of instance
/// `number` of `service` (as the runtime sends it).
fn output_tag(service: &str, number: u32, generation: u64) -> String {
    format!("out {service} {number} {generation}")
}

/// The instances of `record` this daemon takes over: each recorded leader proven to be the same
/// process, of the same run ([`tree::prove_leader`]), of a service the config still has, with its
/// output pipes. The pipes of everything else are closed and released at the sentinel. Returns
/// them, and what the log should say about those left out.
pub fn adopt(
    spec: &ProjectSpec,
    record: &DaemonRecord,
    mut outputs: HashMap<String, Vec<OwnedFd>>,
    link: &ParentLink,
) -> (Vec<AdoptedInstance>, Vec<String>) {
    let mut adopted = Vec::new();
    let mut notes = Vec::new();
    for recorded in &record.services {
        let tag = output_tag(&recorded.service, recorded.instance, recorded.generation);
        let Some(service) = spec.service_id(&recorded.service) else {
            notes.push(format!(
                "{} (PID {}) is no longer in the config: not taken over",
                recorded.name, recorded.pid
            ));
            continue;
        };
        let proven = tree::prove_leader(&RecordedLeader {
            pid: recorded.pid,
            start_time: recorded.start_time,
            pgid: recorded.pgid,
            run_token: &record.run_token,
            cgroup: record.cgroup.as_deref(),
        });
        let Some(proven) = proven else {
            notes.push(format!(
                "{} (PID {}) is gone, or is not the recorded process: it is started again",
                recorded.name, recorded.pid
            ));
            continue;
        };
        let mut pipes = outputs.remove(&tag).unwrap_or_default().into_iter();
        adopted.push(AdoptedInstance {
            instance: InstanceId::new(service, recorded.instance),
            generation: recorded.generation,
            ready: recorded.ready,
            restarts: recorded.restarts,
            pid: recorded.pid,
            pidfd: proven.pidfd,
            stdout: pipes.next(),
            stderr: pipes.next(),
            started_at: crate::sys::process_table::started_at(recorded.start_time),
        });
    }
    for tag in outputs.keys() {
        // An instance that ended while no daemon ran, or that could not be proven.
        let _ = link.release(tag);
    }
    (adopted, notes)
}
