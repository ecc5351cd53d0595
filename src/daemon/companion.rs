//! A foreground run's companion (`wrangle test`, see [`Companion`]) as the run drives it: its
//! part started once everything is ready, the run stopped when the part ends, and a bounded wait
//! for the part when something else stopped the run.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::Companion;
use crate::api::wire::ProjectStatus;
use crate::supervisor::runtime::{Control, ControlRequest};
use crate::sys::reaper::Reaper;

/// A companion and what it needs from the run (see [`Companion`]).
pub(super) struct Accompanied {
    pub(super) companion: Rc<dyn Companion>,
    pub(super) reaper: Rc<Reaper>,
    pub(super) controls: mpsc::UnboundedSender<ControlRequest>,
    pub(super) status: watch::Receiver<Arc<ProjectStatus>>,
    /// The run is stopping already (Ctrl+C, `down`, a failure): a second stop request would
    /// skip the grace period, so the companion's end must not send one.
    pub(super) stopping: Rc<Cell<bool>>,
    /// The companion's part while it runs.
    pub(super) part: RefCell<Option<tokio::task::JoinHandle<()>>>,
}

impl Accompanied {
    /// Runs the companion's part beside supervision, then stops the run.
    pub(super) fn start(&self, notice: Rc<dyn Fn(&str)>) {
        let part = Rc::clone(&self.companion).all_ready(
            self.status.clone(),
            Rc::clone(&self.reaper),
            notice,
        );
        let controls = self.controls.clone();
        let stopping = Rc::clone(&self.stopping);
        let task = tokio::task::spawn_local(async move {
            part.await;
            if !stopping.get() {
                let _ = controls.send(ControlRequest::new(Control::Shutdown));
            }
        });
        self.part.replace(Some(task));
    }

    /// Waits (bounded) for the companion's part to end after the run was stopped by something
    /// else, so what it started is gone before wrangle exits.
    pub(super) async fn finish(&self) {
        let task = self.part.borrow_mut().take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(COMPANION_GRACE, task).await;
        }
    }
}

/// How long a companion's part may take to end once the run has stopped (it was told to stop
/// when the run began stopping).
const COMPANION_GRACE: Duration = Duration::from_secs(15);
