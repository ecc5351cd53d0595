//! The declared ports of a service: waiting until they are free before a restart, and saying who
//! holds one that is not.

use std::time::{Duration, Instant};

use crate::spec::{ProjectSpec, ServiceId};
use crate::supervisor::engine::Input;
use crate::sys::ports;

use super::{Message, Runtime};

/// How long the end of a run waits for every declared port to be released.
const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// How long a restart waits for the previous instance's ports to be released.
const PORT_WAIT: Duration = Duration::from_secs(5);

impl Runtime {
    /// Answers `PortsFree` once the service's declared ports can be bound, or `RestartBlocked`
    /// naming their holders after [`PORT_WAIT`].
    pub(super) fn await_ports(&self, service: ServiceId, generation: u64) {
        let declared = self.spec.services[service].ports.clone();
        let sender = self.sender.clone();
        tokio::task::spawn_local(async move {
            let deadline = Instant::now() + PORT_WAIT;
            let mut delay = Duration::from_millis(5);
            loop {
                let busy: Vec<u16> = declared
                    .iter()
                    .copied()
                    .filter(|port| !ports::can_bind(*port))
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
                        .map(|port| describe_port_holders(*port))
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
                delay = (delay * 2).min(Duration::from_millis(200));
            }
        });
    }
}

/// "port 8080 is held by PID 4242 (user alice): python3 -m http.server 8080".
fn describe_port_holders(port: u16) -> String {
    let holders = ports::listeners(port);
    if holders.is_empty() {
        return format!("port {port} is in use");
    }
    let described: Vec<String> = holders
        .iter()
        .map(|holder| match (holder.pid, &holder.command) {
            (Some(pid), Some(command)) => format!("PID {pid} (user {}): {command}", holder.user),
            (Some(pid), None) => format!("PID {pid} (user {})", holder.user),
            (None, _) => format!("a process of user {} (uid {})", holder.user, holder.uid),
        })
        .collect();
    format!("port {port} is held by {}", described.join(", "))
}

/// After the run: every port the project declares (sorted), and those still held after a bounded
/// wait, with who holds them.
pub(super) async fn check_released(spec: &ProjectSpec) -> (Vec<u16>, Vec<(u16, String)>) {
    let ports_checked: Vec<u16> = {
        let mut all: Vec<u16> = spec
            .services
            .iter()
            .flat_map(|service| service.ports.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let port_deadline = Instant::now() + RELEASE_WAIT;
    let ports_in_use = loop {
        let busy: Vec<u16> = ports_checked
            .iter()
            .copied()
            .filter(|port| !ports::can_bind(*port))
            .collect();
        if busy.is_empty() || Instant::now() >= port_deadline {
            break busy
                .into_iter()
                .map(|port| (port, describe_port_holders(port)))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    (ports_checked, ports_in_use)
}
