//! The declared ports of a service: a restart waits until they are free (the previous instance's
//! may take a moment to be released), and the end of a run checks them all free.

use std::rc::Rc;
use std::time::Duration;

use tokio::time::Instant;

use crate::spec::ProjectSpec;
use crate::supervisor::engine::Input;
use crate::supervisor::event::InstanceId;

use super::system::System;
use super::{Message, Runtime};

/// How long the end of a run waits for every declared port to be released.
const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// How long a restart waits for the previous instance's ports to be released.
const PORT_WAIT: Duration = Duration::from_secs(5);
/// The first and the longest pause between two looks at the ports of a restart.
const FIRST_DELAY: Duration = Duration::from_millis(5);
const LONGEST_DELAY: Duration = Duration::from_millis(200);

impl<S: System> Runtime<S> {
    /// Answers `PortsFree` once the service's declared ports can be bound, or `RestartBlocked`
    /// naming their holders after [`PORT_WAIT`].
    pub(super) fn await_ports(&self, instance: InstanceId, generation: u64) {
        let service = instance.service;
        let declared = self.spec.services[service].ports.clone();
        let sender = self.sender.clone();
        let system = Rc::clone(&self.system);
        tokio::task::spawn_local(async move {
            let deadline = Instant::now() + PORT_WAIT;
            let mut delay = FIRST_DELAY;
            loop {
                let busy: Vec<u16> = declared
                    .iter()
                    .copied()
                    .filter(|port| !system.port_free(*port))
                    .collect();
                if busy.is_empty() {
                    let _ = sender.send(Message::Engine(Input::PortsFree {
                        service,
                        generation,
                    }));
                    return;
                }
                if Instant::now() >= deadline {
                    let reason = busy
                        .iter()
                        .map(|port| system.port_holders(*port))
                        .collect::<Vec<_>>()
                        .join("; ");
                    let _ = sender.send(Message::Engine(Input::RestartBlocked {
                        service,
                        generation,
                        reason,
                    }));
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(LONGEST_DELAY);
            }
        });
    }
}

/// After the run: every port the project declares (sorted), and those still held after a bounded
/// wait, with who holds them.
pub(super) async fn check_released<S: System>(
    system: &S,
    spec: &ProjectSpec,
) -> (Vec<u16>, Vec<(u16, String)>) {
    let mut ports_checked: Vec<u16> = spec
        .services
        .iter()
        .flat_map(|service| service.ports.iter().copied())
        .collect();
    ports_checked.sort_unstable();
    ports_checked.dedup();
    let deadline = Instant::now() + RELEASE_WAIT;
    let ports_in_use = loop {
        let busy: Vec<u16> = ports_checked
            .iter()
            .copied()
            .filter(|port| !system.port_free(*port))
            .collect();
        if busy.is_empty() || Instant::now() >= deadline {
            break busy
                .into_iter()
                .map(|port| (port, system.port_holders(port)))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    (ports_checked, ports_in_use)
}
