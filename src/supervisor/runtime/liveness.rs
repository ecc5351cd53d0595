//! Liveness probes (`live`): while an instance is ready, an http, tcp or exec attempt every
//! `interval`; `failures` failed attempts in a row tell the engine (`LivenessFailed`), which
//! restarts the instance. A hung process that still holds its port (the kernel accepts its
//! connections into the backlog, nobody answers) fails an http or exec probe by its timeout.
//!
//! The task starts when the instance is ready (the `Ready` event) and is aborted when its tree
//! is stopped or ends: a service that is starting, or being stopped, is never probed.

use crate::spec::LiveProbe;
use crate::supervisor::engine::Input;

use super::Message;
use super::probes::{ProbeContext, attempt};
use super::system::System;

/// Probes until `failures` attempts in a row failed, reports it, and ends. A `per_instance`
/// probe looks at this instance's address (the probe's port moved up by its number).
pub(super) async fn watch<S: System>(probe: LiveProbe, context: ProbeContext<S>) {
    let check = match probe.per_instance {
        true => probe.check.for_instance(context.instance.number),
        false => Some(probe.check.clone()),
    };
    // The config refuses a per-instance probe that runs out of ports.
    let Some(check) = check else {
        return;
    };
    let mut failed = 0;
    loop {
        tokio::time::sleep(probe.interval).await;
        let Some(result) = attempt(&check, &context, probe.timeout).await else {
            // A log or notify check: the config refuses them for `live`.
            return;
        };
        let failure = match result {
            Ok(()) => {
                failed = 0;
                continue;
            }
            Err(failure) => failure,
        };
        failed += 1;
        if failed < probe.failures {
            continue;
        }
        let reason = format!(
            "{} failed {} times in a row, {} apart (last: {})",
            check.describe(),
            failed,
            crate::human::duration(probe.interval),
            failure.0
        );
        let _ = context.sender.send(Message::Engine(Input::LivenessFailed {
            service: context.instance.service,
            generation: context.generation,
            reason,
        }));
        return;
    }
}
