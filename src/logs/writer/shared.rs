//! What the log store's readers and its writer thread share: the file names, each service's
//! counters and file table, the queue, and the signals that something changed.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::Semaphore;

use crate::logs::queue::Queue;
use crate::logs::writer::ServiceFiles;
use crate::logs::{DiskStats, LogStats};
use crate::mutex::lock;

/// Reads of the files at once (see [`Shared::reads`]).
const CONCURRENT_READS: usize = 4;

/// What the store and the writer thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// `<service>.log`, by service; grows when `apply` adds services (never shrinks: an id
    /// names one service for the store's whole life).
    pub(crate) file_names: RwLock<Arc<[String]>>,
    pub(crate) services: Table<ServiceCounters>,
    pub(crate) queue: Queue,
    /// Byte credit for queued output (see [`queue::credit`]).
    pub(crate) credit: Semaphore,
    /// Counts the writer's flushes, so the store can tell a slow writer from a stuck one.
    pub(crate) progress: AtomicU64,
    pub(crate) disk: Mutex<DiskStats>,
    /// Woken when a file starts or stops failing or lines are dropped, so the daemon can report
    /// trouble without polling.
    pub(crate) trouble: tokio::sync::Notify,
    /// Per service: which file is written now, how much of it is complete, and the files written
    /// before it (see [`ServiceFiles`]); read by those who follow the files.
    pub(crate) files: Table<Mutex<ServiceFiles>>,
    /// Bumped after a batch that completed output in any file (or opened one): followers wait
    /// for it instead of polling. Sending never waits, and costs nothing without receivers.
    pub(crate) changes: tokio::sync::watch::Sender<u64>,
    /// Turns for reading the files back (tails, followers' rounds), so that the memory those
    /// reads hold at once is bounded whatever the number of clients.
    pub(crate) reads: Semaphore,
    /// Held by the writer while it flushes; a test holds it to simulate a stuck disk.
    #[cfg(test)]
    pub(crate) gate: Mutex<()>,
    /// Threads that wrote to a log file, for the test that the store's caller never does.
    #[cfg(test)]
    pub(crate) io_threads: Mutex<Vec<std::thread::ThreadId>>,
    /// Bytes moved by `splice`, for the tests that pipes' bytes do not come through here.
    #[cfg(test)]
    pub(crate) spliced: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct ServiceCounters {
    pub(crate) bytes_written: AtomicU64,
    pub(crate) lines_dropped: AtomicU64,
    pub(crate) rotations: AtomicU64,
    pub(crate) failing: AtomicBool,
    pub(crate) last_error: Mutex<Option<String>>,
}

/// Per-service entries that others read while the writer writes: indexed by service, only ever
/// growing, each entry shared (an `Arc`) so a reader keeps it without holding the table.
#[derive(Debug, Default)]
pub(crate) struct Table<T>(RwLock<Vec<Arc<T>>>);

impl<T: Default> Table<T> {
    fn with_len(len: usize) -> Table<T> {
        Table(RwLock::new((0..len).map(|_| Arc::default()).collect()))
    }

    /// The entry of `service`, if the store knows it.
    pub(crate) fn get(&self, service: usize) -> Option<Arc<T>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(service)
            .cloned()
    }

    /// Every entry, by service.
    pub(crate) fn all(&self) -> Vec<Arc<T>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    fn grow_to(&self, len: usize) {
        let mut entries = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while entries.len() < len {
            entries.push(Arc::default());
        }
    }
}

impl Shared {
    pub(crate) fn new(
        file_names: &[String],
        credit: usize,
        budget_bytes: u64,
    ) -> io::Result<Shared> {
        let services = file_names.len();
        Ok(Shared {
            file_names: RwLock::new(file_names.into()),
            services: Table::with_len(services),
            queue: Queue::new()?,
            credit: Semaphore::new(credit),
            progress: AtomicU64::new(0),
            files: Table::with_len(services),
            changes: tokio::sync::watch::Sender::new(0),
            reads: Semaphore::new(CONCURRENT_READS),
            trouble: tokio::sync::Notify::new(),
            disk: Mutex::new(DiskStats {
                budget_bytes,
                ..DiskStats::default()
            }),
            #[cfg(test)]
            gate: Mutex::new(()),
            #[cfg(test)]
            io_threads: Mutex::new(Vec::new()),
            #[cfg(test)]
            spliced: AtomicU64::new(0),
        })
    }

    /// The file names of every service, by id.
    pub(crate) fn file_names(&self) -> Arc<[String]> {
        Arc::clone(
            &self
                .file_names
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Adds services (file names, by id after the known ones): their entries exist before the
    /// writer takes any of their output (it grows its own on its next round).
    pub(crate) fn add(&self, file_names: &[String]) {
        let mut names = self
            .file_names
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let all: Vec<String> = names.iter().chain(file_names).cloned().collect();
        self.services.grow_to(all.len());
        self.files.grow_to(all.len());
        *names = all.into();
    }

    pub(crate) fn stats(&self, service: usize) -> LogStats {
        let Some(counters) = self.services.get(service) else {
            return LogStats::default();
        };
        LogStats {
            bytes_written: counters.bytes_written.load(Ordering::Relaxed),
            lines_dropped: counters.lines_dropped.load(Ordering::Relaxed),
            rotations: counters.rotations.load(Ordering::Relaxed),
            failing: counters.failing.load(Ordering::Relaxed),
            last_error: lock(&counters.last_error).clone(),
        }
    }

    pub(crate) fn disk(&self) -> DiskStats {
        lock(&self.disk).clone()
    }

    pub(crate) fn count_dropped(&self, service: usize, lines: u64) {
        if let Some(counters) = self.services.get(service) {
            counters.lines_dropped.fetch_add(lines, Ordering::Relaxed);
            self.trouble.notify_one();
        }
    }
}
