//! Helpers shared by the crate's unit tests (compiled for tests only).

use std::process::Child;

/// Kills and reaps a child even when an assertion fails first, so no test leaves a process.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The same kind of runtime wrangle runs on: current-thread, with IO and timers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
}
