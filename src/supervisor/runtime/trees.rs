//! The end of a service's processes: signalling a tree, following a tree whose leader exited until
//! its last process is gone (and its output is read), and the final sweep after the engine has
//! stopped everything.

use std::cell::Cell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::spec::Signal;
use crate::supervisor::engine::Input;
use crate::supervisor::event::InstanceId;

use super::output::OutputDrained;
use super::ports;
use super::system::System;
use super::{Message, RunOutcome, Runtime};

/// How long the final sweep keeps killing leftovers before giving up and reporting them.
const SWEEP_LIMIT: Duration = Duration::from_secs(5);
/// How long the sweep lets killed processes die before it looks again.
const SWEEP_PAUSE: Duration = Duration::from_millis(5);
/// How long the end of a run waits for output readers to print what their pipes still held.
const READERS_LIMIT: Duration = Duration::from_millis(500);

impl<S: System> Runtime<S> {
    /// Sends `signal` to every process of the instance's tree, now and (through its watcher) to
    /// members found later.
    pub(super) fn signal_instance(&mut self, id: InstanceId, signal: Signal) {
        let Some(instance) = self.instances.get(&id) else {
            return;
        };
        // An adopted leader is the sentinel's child: its group is not ours to signal.
        let unreaped_leader =
            (instance.leader_unreaped && !instance.adopted).then_some(instance.pid);
        self.system.signal_tree(id, unreaped_leader, signal);
        instance.signal_late_members.set(Some(signal));
        instance.rescan.notify_one();
    }

    /// After the engine has stopped everything: make sure nothing of ours is left (killing any
    /// stray the stops did not reach), and that every declared port is free again.
    pub(super) async fn finish(mut self, code: u8) -> RunOutcome {
        let deadline = Instant::now() + SWEEP_LIMIT;
        // Each process counts once, however many rounds it takes to die.
        let mut swept = HashSet::new();
        let leftovers = loop {
            let all = self.system.leftovers();
            if all.is_empty() || Instant::now() >= deadline {
                break all;
            }
            let killed = self.system.signal_processes(&all, Signal::KILL);
            swept.extend(
                all.iter()
                    .filter(|process| killed.contains(&process.pid))
                    .map(|process| (process.pid, process.start_time)),
            );
            tokio::time::sleep(SWEEP_PAUSE).await;
            self.system.reap();
        };
        // Every process is gone, so every pipe is at end-of-file; let the readers print what was
        // still buffered (bounded, in case a pipe was passed to a process outside wrangle's view).
        let readers = std::mem::take(&mut self.readers);
        let _ = tokio::time::timeout(READERS_LIMIT, async {
            for reader in readers {
                let _ = reader.await;
            }
        })
        .await;
        let leftovers = leftovers
            .iter()
            .map(|process| (process.pid, self.system.describe(process)))
            .collect();
        let (ports_checked, ports_in_use) = ports::check_released(&*self.system, &self.spec).await;
        RunOutcome {
            code,
            leftovers,
            swept: swept.len(),
            ports_in_use,
            ports_checked,
        }
    }
}

/// Follows a tree whose leader exited until its last process is gone.
pub(super) struct TreeWatcher<S> {
    pub(super) instance: InstanceId,
    pub(super) generation: u64,
    pub(super) output_drained: Option<OutputDrained>,
    pub(super) rescan: Rc<Notify>,
    pub(super) signal_late_members: Rc<Cell<Option<Signal>>>,
    pub(super) system: Rc<S>,
    pub(super) sender: mpsc::UnboundedSender<Message>,
}

impl<S: System> TreeWatcher<S> {
    pub(super) async fn run(mut self) {
        loop {
            let members = self.system.rescan_members(self.instance);
            if members.is_empty() {
                if let Some(output_drained) = self.output_drained.take() {
                    output_drained.wait().await;
                }
                let message = Input::TreeGone {
                    service: self.instance.service,
                    generation: self.generation,
                };
                let _ = self.sender.send(Message::Engine(message));
                return;
            }
            if let Some(signal) = self.signal_late_members.get() {
                self.system.signal_processes(&members, signal);
            }
            tokio::select! {
                () = self.system.exited(&members) => {}
                () = self.rescan.notified() => {}
            }
        }
    }
}
