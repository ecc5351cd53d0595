//! Service logs: one file per service with size-based rotation, a disk budget for the whole
//! project, and reading the files back for `wrangle logs` and `logs -f`.
//!
//! # Theory of operation
//!
//! A [`LogStore`] is opened once per project by the daemon and fed every output line, one at a
//! time through [`LogStore::append`] or, as the supervisor does, a whole read at once through
//! [`LogStore::append_chunk`]. Appending does no IO on the caller's thread: it hands the output
//! to the [`queue`] of the [`writer`] thread, which owns every file operation: copied into it,
//! or, for the output of a chunk (the supervisor's copy of a read), by reference. See `queue`
//! for the hand-over and `writer` for batching, rotation, the budget and error handling.
//!
//! The queue is bounded by bytes ([`QUEUE_BYTES`]). When it is full, `append` waits for room,
//! so a service that writes faster than the disk takes ends up writing at disk speed, just as
//! if it wrote to a file itself, and no line is lost in normal operation. Waiting is an `await`,
//! never a blocking call: the supervisor's thread keeps running everything else. The wait is
//! bounded: if the writer makes no progress at all for [`STALL_TIMEOUT`] (a hung NFS mount, a
//! disk in D state), lines are dropped and counted until it moves again, so a stuck disk stalls
//! a service's output for at most that long. [`LogStore::try_append`] never waits and drops
//! (counted) when the queue is full, for callers that must not wait at all.
//!
//! Output is read back from the files, never kept in memory: [`LogStore::read_tail`] reads the
//! last lines of services ([`read`]), and [`LogStore::follow`] makes a [`Follow`], a cursor into
//! the files that reads what the writer has completed as the files grow ([`follow`]). A client
//! that follows and stops reading costs its cursor and the tail it has not taken: tails not
//! taken share [`FOLLOWER_TAILS_BYTES`]. Reads are bounded in bytes ([`TAIL_BYTES`], a
//! follower's round; a line counts at least 64) and take turns, followers are at most
//! [`MAX_FOLLOWERS`], and all of it runs on tokio's blocking pool.
//!
//! A failing disk (full, read-only, unwritable, the directory removed) never reaches the
//! caller: the writer drops lines, counts them and keeps the error in [`LogStats`]; disk
//! budget trouble is in [`DiskStats`]. Reporting those to the user is the daemon's job.
//!
//! Files are `<dir>/<service>.log`, holding the output exactly as the service wrote it, each
//! with its index `<service>.log.idx` (when and on which stream each part was written), rotated
//! together to `<service>.log.1` (newest) up to `<service>.log.<keep_files>`; see [`format`] for
//! the format and [`read`] for reading files back. This module owns the files in the log
//! directory and nothing else: it does not read pipes or frame lines for the supervisor, and it
//! never deletes a file other than a rotated log of a service it was opened with.

mod files;
pub mod follow;
pub mod format;
mod own;
mod queue;
pub mod read;
mod writer;

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::logs::follow::Cursor;
pub use crate::logs::follow::{Follow, FollowItem};
pub use crate::logs::format::FileLine;
pub use crate::logs::own::OwnLog;
use crate::logs::queue::Adopted;
pub use crate::logs::queue::Cleared;
pub use crate::logs::read::{read_file_tail, read_service_tail};
use crate::logs::writer::{Shared, Writer, line_count};
use crate::mutex::lock;
use crate::spec::ServiceId;
use crate::sys::file::FileError;
// Imported here for the files of `logs`, which name it `crate::logs::Stream`.
use crate::stream::Stream;

/// The most bytes of lines waiting for the writer thread, across services.
pub const QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// Lines longer than this are read back as several, all but the last marked partial, so that
/// one enormous line is never held whole.
pub const MAX_PIECE_BYTES: usize = 64 * 1024;

/// [`LogStore::append_output`] queues output in parts of at most this many bytes, so that a part
/// always fits the queue and the writer gets credit back in reasonable steps.
const PART_BYTES: usize = 256 * 1024;

/// How long [`LogStore::append`] waits for a writer that makes no progress at all before it
/// drops lines instead.
pub const STALL_TIMEOUT: Duration = if cfg!(test) {
    Duration::from_millis(200)
} else {
    Duration::from_secs(2)
};

/// How long [`LogStore::close`] waits for the writer to finish.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most bytes of files one read of tails ([`LogStore::read_tail`], the start of
/// [`LogStore::follow`]) reads, shared among the services it reads (but at least
/// [`TAIL_SERVICE_BYTES`] each): a service of long lines shows fewer lines rather than growing
/// the daemon.
pub const TAIL_BYTES: u64 = 1024 * 1024;
const TAIL_SERVICE_BYTES: u64 = 16 * 1024;

/// The bytes of files that the tails of all followers not yet taken by their clients may come
/// from together ([`LogStore::follow`]): a follower keeps its tail until its client takes it, and
/// a client that never reads would keep it for good. Once they hold this much, a new follower's
/// tail is smaller (at least [`TAIL_SERVICE_BYTES`], outside this pool, which
/// [`MAX_FOLLOWERS`] bounds). A few followers at once get whole tails.
pub const FOLLOWER_TAILS_BYTES: u64 = 8 * 1024 * 1024;

/// [`FOLLOWER_TAILS_BYTES`] is counted in units of this many bytes.
const TAIL_UNIT: u64 = 1024;

/// The most clients following logs at once ([`LogStore::follow`]); each costs at most a round
/// of reads (see [`follow`]) while it is read, and its cursor while it is not.
pub const MAX_FOLLOWERS: usize = 64;

/// Marks [`LogStore::stalled_at`] as "the writer is not known to be stuck".
const NOT_STALLED: u64 = u64::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// The project's log directory, normally `<project dir>/logs`; created 0700 if missing.
    pub dir: PathBuf,
    /// A file is rotated before a line would take it past this size.
    pub max_file_bytes: u64,
    /// Rotated files kept per service, besides the current one.
    pub keep_files: u32,
    /// The most bytes of files in `dir`; beyond it, the oldest rotated files are removed.
    pub budget_bytes: u64,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            dir: PathBuf::new(),
            max_file_bytes: 10 * 1024 * 1024,
            keep_files: 5,
            budget_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Counters of one service's log file.
///
/// Dropped output is counted in lines of the file: the newlines it held, and one more for a last
/// line without its newline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStats {
    pub bytes_written: u64,
    /// Lines that did not reach the file: a failing disk, or a writer stuck too long.
    pub lines_dropped: u64,
    pub rotations: u64,
    /// The file cannot be written at the moment (`last_error` says why).
    pub failing: bool,
    /// The latest error, kept after recovery.
    pub last_error: Option<String>,
}

/// The log directory as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Bytes of files in the directory when last measured.
    pub total_bytes: u64,
    pub budget_bytes: u64,
    /// Rotated files removed for the budget or because they were beyond `keep_files`.
    pub files_removed: u64,
    /// The directory was over its budget with no rotated file left to remove when last
    /// measured.
    pub over_budget: bool,
    pub last_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(
        "cannot keep logs for service {name:?}: a name for a log file must start with a letter or \
         digit, hold only letters, digits, '_', '.' and '-', and be at most {max} bytes",
        max = crate::spec::MAX_SERVICE_NAME_BYTES
    )]
    ServiceName { name: String },
    #[error("cannot keep logs for service {name:?}: the name is given twice")]
    DuplicateService { name: String },
    #[error("refusing to use {path}: it is a symbolic link")]
    Symlink { path: PathBuf },
    #[error("refusing to write {path}: it is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("refusing to write {path}: it has other hard links")]
    HardLinked { path: PathBuf },
    /// The log directory is not a private directory of ours (see `paths::private_dir`).
    #[error(transparent)]
    Dir(crate::paths::PathsError),
    #[error(transparent)]
    Io(#[from] FileError),
    #[error("cannot start the log writer thread")]
    Spawn(#[source] std::io::Error),
    #[error("cannot set up the log writer's polling of pipes")]
    Poll(#[source] std::io::Error),
    #[error("the log writer did not finish within {0:?}; the last lines may be lost")]
    CloseTimedOut(Duration),
    #[error("the log writer thread panicked; the last lines may be lost")]
    WriterPanicked,
    #[error("{MAX_FOLLOWERS} clients already follow the logs; try again when one has left")]
    TooManyFollowers,
}

/// The logs of one project. See the module docs.
///
/// `Send + Sync`: the daemon may share it (in an `Arc`) with API handlers. Dropping it without
/// [`LogStore::close`] lets the writer finish the queue in the background and stop.
#[derive(Debug)]
pub struct LogStore {
    dir: Arc<PathBuf>,
    keep_files: u32,
    /// Service names by id; grows when `apply` adds services ([`LogStore::add_services`]).
    names: std::sync::RwLock<Arc<[String]>>,
    shared: Arc<Shared>,
    /// Places for followers ([`MAX_FOLLOWERS`]).
    followers: Arc<Semaphore>,
    /// What followers' tails not yet taken may hold ([`FOLLOWER_TAILS_BYTES`], in [`TAIL_UNIT`]s).
    follower_tails: Arc<Semaphore>,
    /// The writer's `progress` when it was last found stuck (see [`STALL_TIMEOUT`]).
    stalled_at: AtomicU64,
    /// `None` once [`LogStore::close`] took it.
    writer: Option<JoinHandle<()>>,
    done: Mutex<Receiver<()>>,
}

impl LogStore {
    /// Creates (0700) and vets the log directory and starts the writer thread. `service_names`
    /// are indexed by [`ServiceId`]; each must be usable as a file name.
    pub fn open(settings: LogSettings, service_names: &[String]) -> Result<LogStore, LogError> {
        for (index, name) in service_names.iter().enumerate() {
            // The config's rule, checked again: the name becomes a file name.
            if !crate::spec::is_valid_service_name(name) {
                return Err(LogError::ServiceName { name: name.clone() });
            }
            if service_names[..index].contains(name) {
                return Err(LogError::DuplicateService { name: name.clone() });
            }
        }
        let dir = files::open_dir(&settings.dir)?;
        let file_names: Vec<String> = service_names
            .iter()
            .map(|name| format!("{name}.log"))
            .collect();
        let shared = Arc::new(
            Shared::new(&file_names, QUEUE_BYTES, settings.budget_bytes).map_err(LogError::Poll)?,
        );
        let writer = Writer::new(&settings, dir, Arc::clone(&shared)).map_err(LogError::Poll)?;
        let (done_sender, done) = std::sync::mpsc::sync_channel(1);
        let writer = std::thread::Builder::new()
            .name("wrangle-logs".to_string())
            .spawn(move || writer.run(done_sender))
            .map_err(LogError::Spawn)?;
        Ok(LogStore {
            dir: Arc::new(settings.dir),
            keep_files: settings.keep_files,
            names: std::sync::RwLock::new(service_names.into()),
            shared,
            followers: Arc::new(Semaphore::new(MAX_FOLLOWERS)),
            follower_tails: Arc::new(Semaphore::new((FOLLOWER_TAILS_BYTES / TAIL_UNIT) as usize)),
            stalled_at: AtomicU64::new(NOT_STALLED),
            writer: Some(writer),
            done: Mutex::new(done),
        })
    }

    /// Service names by id: those the store was opened with, then those added.
    pub fn names(&self) -> Arc<[String]> {
        Arc::clone(
            &self
                .names
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Whether the store knows `service`.
    fn knows(&self, service: ServiceId) -> bool {
        service < self.shared.files.len()
    }

    /// Adds services after the known ones (`wrangle apply`): `names` take the next ids, in
    /// order. A name the store knows already is refused, like at [`LogStore::open`]; so is one
    /// that cannot be a file name.
    pub fn add_services(&self, names: &[String]) -> Result<(), LogError> {
        let mut known = self
            .names
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (index, name) in names.iter().enumerate() {
            if !crate::spec::is_valid_service_name(name) {
                return Err(LogError::ServiceName { name: name.clone() });
            }
            if known.contains(name) || names[..index].contains(name) {
                return Err(LogError::DuplicateService { name: name.clone() });
            }
        }
        let file_names: Vec<String> = names.iter().map(|name| format!("{name}.log")).collect();
        self.shared.add(&file_names);
        *known = known.iter().chain(names).cloned().collect();
        Ok(())
    }

    /// Records output of `service` read from `stream` at `time` (a read of a pipe the supervisor
    /// reads itself), as the service wrote it, for its file: copied to the writer's queue,
    /// waiting (asynchronously) while the queue is full. See the module docs for the bound on
    /// that wait. Output of an unknown service is ignored.
    ///
    /// Needs a tokio runtime with the time driver (for the stall timeout).
    pub async fn append_output(
        &self,
        service: ServiceId,
        stream: Stream,
        time: SystemTime,
        output: &[u8],
    ) {
        if !self.knows(service) {
            return;
        }
        for part in Part::copied(service, stream, format::millis(time), output) {
            self.queue_part(&part).await;
        }
    }

    /// Hands a pipe of `service` (its `stream`) over to the writer, which reads it from now on
    /// and moves its bytes to the file inside the kernel (`splice`), after the output given
    /// before. `guard` is dropped once the pipe has reached its end (or the store closed): the
    /// supervisor waits on it to know that an instance's output has all been taken. The pipe
    /// of an unknown service is closed at once.
    pub fn adopt_pipe(
        &self,
        service: ServiceId,
        stream: Stream,
        pipe: OwnedFd,
        guard: Box<dyn Send>,
    ) {
        if !self.knows(service) {
            return;
        }
        self.shared.queue.adopt(Adopted {
            service,
            stream,
            pipe,
            _guard: guard,
            grown: false,
            held: Vec::new(),
            held_since: None,
        });
    }

    /// Queues `output` of `service` (all of `stream` at `time`) for its file if the queue has
    /// room for all of it now; never waits. Returns whether it did: if not, nothing was queued,
    /// and the caller gives the output to [`LogStore::append_output`] (which waits for room).
    /// Lets a caller hand over output from a buffer it cannot hold across a wait. Output of an
    /// unknown service is ignored (and counts as queued).
    pub fn try_append_output(
        &self,
        service: ServiceId,
        stream: Stream,
        time: SystemTime,
        output: &[u8],
    ) -> bool {
        if !self.knows(service) || output.is_empty() {
            return true;
        }
        if self.writer_stuck() {
            return false;
        }
        let parts = output.len().div_ceil(PART_BYTES);
        let credit = output.len() + parts * queue::FRAME_HEADER;
        let Some(permit) = u32::try_from(credit)
            .ok()
            .and_then(|permits| self.shared.credit.try_acquire_many(permits).ok())
        else {
            return false;
        };
        permit.forget();
        for part in Part::copied(service, stream, format::millis(time), output) {
            part.push(self);
        }
        true
    }

    /// Takes the credit of `part`, waiting for it (within the stall bound), and queues it.
    async fn queue_part(&self, part: &Part<'_>) {
        let Ok(permits) = u32::try_from(queue::credit(part.bytes.len())) else {
            self.shared
                .count_dropped(part.service, line_count(part.bytes));
            return;
        };
        match self.shared.credit.try_acquire_many(permits) {
            Ok(permit) => {
                permit.forget();
                part.push(self);
                return;
            }
            Err(TryAcquireError::Closed) => {
                self.shared
                    .count_dropped(part.service, line_count(part.bytes));
                return;
            }
            Err(TryAcquireError::NoPermits) => {}
        }
        loop {
            if self.writer_stuck() {
                self.shared
                    .count_dropped(part.service, line_count(part.bytes));
                return;
            }
            let progress = self.shared.progress.load(Ordering::Acquire);
            let acquire = self.shared.credit.acquire_many(permits);
            match tokio::time::timeout(STALL_TIMEOUT, acquire).await {
                Ok(Ok(permit)) => {
                    permit.forget();
                    part.push(self);
                    return;
                }
                Ok(Err(_closed)) => {
                    self.shared
                        .count_dropped(part.service, line_count(part.bytes));
                    return;
                }
                Err(_elapsed) => {
                    if self.shared.progress.load(Ordering::Acquire) == progress {
                        self.stalled_at.store(progress, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Waits until all output given before, and what the adopted pipes hold now, has been
    /// written to its file (or dropped). Unbounded if the disk hangs; wrap it in a timeout where
    /// that matters.
    pub async fn flush(&self) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.shared.queue.request_flush(reply);
        // An error means the writer thread is gone: nothing more will be written.
        let _ = answer.await;
    }

    /// Empties the files of `services` (all if empty; `wrangle flush`) once all output given
    /// before, and what the adopted pipes hold now, has been written: every rotated file and its
    /// index removed, the current one rotated away and removed, a fresh one opened (see
    /// `writer`). Followers skip what they had not read yet, as after a removal by the budget.
    /// Answers what was removed per service; `None` if the writer thread is gone.
    pub async fn clear(&self, services: &[ServiceId]) -> Option<Vec<Cleared>> {
        let mut chosen: Vec<ServiceId> = match services.is_empty() {
            true => (0..self.names().len()).collect(),
            false => services.to_vec(),
        };
        chosen.sort_unstable();
        chosen.dedup();
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.shared.queue.request_clear(chosen, reply);
        answer.await.ok()
    }

    /// The last `n` lines at or after `since` of `services` (all services if empty, a service
    /// named twice counts once) from their files, merged by time (lines with equal times in the
    /// order of `services`), oldest first. Reads up to what the writer has completed, on
    /// tokio's blocking pool.
    pub async fn read_tail(
        &self,
        services: &[ServiceId],
        n: usize,
        since: Option<SystemTime>,
    ) -> std::io::Result<Vec<(ServiceId, FileLine)>> {
        let (lines, _) = self.tail_and_ends(services, n, since, TAIL_BYTES).await?;
        Ok(lines)
    }

    /// Follows `services` (all if empty): the last `n` lines at or after `since` (as
    /// [`LogStore::read_tail`] gives them, from fewer bytes once followers hold their share of
    /// [`FOLLOWER_TAILS_BYTES`]), and a [`Follow`] that gives every line completed after them.
    /// The [`Follow`] holds the tail's share until [`Follow::tail_taken`]. At most
    /// [`MAX_FOLLOWERS`] at once.
    pub async fn follow(
        &self,
        services: &[ServiceId],
        n: usize,
        since: Option<SystemTime>,
    ) -> Result<(Vec<(ServiceId, FileLine)>, Follow), LogError> {
        let permit = Arc::clone(&self.followers)
            .try_acquire_owned()
            .map_err(|_| LogError::TooManyFollowers)?;
        let (bytes, tail_share) = self.tail_share();
        let (lines, ends) = self
            .tail_and_ends(services, n, since, bytes)
            .await
            .map_err(|source| FileError::new("read", &self.dir, source))?;
        let names = self.names();
        let cursors = ends
            .into_iter()
            .filter_map(|(service, end)| {
                let files = self.shared.files.get(service)?;
                let name = names.get(service)?;
                Some(Cursor::new(service, format!("{name}.log"), end, files))
            })
            .collect();
        let follow = Follow::new(
            Arc::clone(&self.shared),
            Arc::clone(&self.dir),
            cursors,
            permit,
            tail_share,
        );
        Ok((lines, follow))
    }

    /// How many bytes of files a new follower's tail may come from, and its share of
    /// [`FOLLOWER_TAILS_BYTES`] (none for the minimum).
    fn tail_share(&self) -> (u64, Option<OwnedSemaphorePermit>) {
        let mut bytes = TAIL_BYTES;
        while bytes > TAIL_SERVICE_BYTES {
            let units = u32::try_from(bytes / TAIL_UNIT).unwrap_or(u32::MAX);
            if let Ok(share) = Arc::clone(&self.follower_tails).try_acquire_many_owned(units) {
                return (bytes, Some(share));
            }
            bytes /= 2;
        }
        (TAIL_SERVICE_BYTES, None)
    }

    /// The tail of [`LogStore::read_tail`], and where each service's lines end.
    async fn tail_and_ends(
        &self,
        services: &[ServiceId],
        n: usize,
        since: Option<SystemTime>,
        tail_bytes: u64,
    ) -> std::io::Result<(
        Vec<(ServiceId, FileLine)>,
        Vec<(ServiceId, read::Completed)>,
    )> {
        let names = self.names();
        let mut chosen: Vec<ServiceId> = match services.is_empty() {
            true => (0..names.len()).collect(),
            false => services
                .iter()
                .copied()
                .filter(|service| *service < names.len())
                .collect(),
        };
        // A service named twice must not show its lines twice.
        let mut seen = Vec::with_capacity(chosen.len());
        chosen.retain(|service| {
            let first = !seen.contains(service);
            seen.push(*service);
            first
        });
        let dir = Arc::clone(&self.dir);
        let files: Vec<_> = chosen
            .iter()
            .map(|service| self.shared.files.get(*service))
            .collect();
        let keep_files = self.keep_files;
        let budget = (tail_bytes / chosen.len().max(1) as u64).max(TAIL_SERVICE_BYTES);
        let read = move || -> std::io::Result<_> {
            let mut lines = Vec::new();
            let mut ends = Vec::with_capacity(chosen.len());
            for (service, files) in chosen.into_iter().zip(files) {
                // Known services only (the table never shrinks).
                let Some(files) = files else {
                    continue;
                };
                let completed = || lock(&files).completed();
                let (tail, end) = read::read_service_tail_at(
                    &dir,
                    &names[service],
                    keep_files,
                    n,
                    since,
                    budget,
                    completed,
                )?;
                lines.extend(tail.into_iter().map(|line| (service, line)));
                ends.push((service, end));
            }
            lines.sort_by_key(|(_, line)| line.time);
            let excess = lines.len().saturating_sub(n);
            lines.drain(..excess);
            Ok((lines, ends))
        };
        // Reads take turns: what they hold in memory together stays bounded.
        let _turn = self.shared.reads.acquire().await;
        tokio::task::spawn_blocking(read)
            .await
            .map_err(|_| std::io::Error::other("the log reader panicked"))?
    }

    /// Returns when a file has started or stopped failing, or lines were dropped, since the last
    /// call returned (a notification is kept until someone waits for it).
    pub async fn trouble(&self) {
        self.shared.trouble.notified().await;
    }

    /// The counters of one service's file (all zero for an unknown service).
    pub fn stats(&self, service: ServiceId) -> LogStats {
        self.shared.stats(service)
    }

    /// The log directory's size against its budget.
    pub fn disk(&self) -> DiskStats {
        self.shared.disk()
    }

    /// `<dir>/<service>.log`; `None` for an unknown service.
    pub fn file_path(&self, service: ServiceId) -> Option<PathBuf> {
        let name = self.names().get(service)?.clone();
        Some(self.dir.join(format!("{name}.log")))
    }

    /// Writes out what is queued and stops the writer thread, waiting at most
    /// [`CLOSE_TIMEOUT`]; after a timeout the thread is left to finish on its own.
    pub fn close(mut self) -> Result<(), LogError> {
        self.shared.queue.close();
        let finished = lock(&self.done).recv_timeout(CLOSE_TIMEOUT);
        match (finished, self.writer.take()) {
            (Ok(()) | Err(RecvTimeoutError::Disconnected), Some(writer)) => {
                writer.join().map_err(|_| LogError::WriterPanicked)
            }
            (Ok(()) | Err(RecvTimeoutError::Disconnected), None) => Ok(()),
            (Err(RecvTimeoutError::Timeout), _) => Err(LogError::CloseTimedOut(CLOSE_TIMEOUT)),
        }
    }

    /// The writer has made no progress since an `append` last gave up waiting for it.
    fn writer_stuck(&self) -> bool {
        let stalled_at = self.stalled_at.load(Ordering::Relaxed);
        stalled_at != NOT_STALLED && stalled_at == self.shared.progress.load(Ordering::Acquire)
    }
}

impl Drop for LogStore {
    /// Lets the writer finish the queue and stop without waiting for it (see
    /// [`LogStore::close`] for waiting).
    fn drop(&mut self) {
        self.shared.queue.close();
    }
}

/// Output queued together (see [`LogStore::append_output`]).
struct Part<'a> {
    service: ServiceId,
    stream: Stream,
    time_ms: u64,
    bytes: &'a [u8],
}

impl<'a> Part<'a> {
    /// `output` as parts of at most [`PART_BYTES`].
    fn copied(
        service: ServiceId,
        stream: Stream,
        time_ms: u64,
        output: &'a [u8],
    ) -> impl Iterator<Item = Part<'a>> {
        output.chunks(PART_BYTES).map(move |bytes| Part {
            service,
            stream,
            time_ms,
            bytes,
        })
    }

    fn push(&self, store: &LogStore) {
        let credit = queue::credit(self.bytes.len());
        let queue = &store.shared.queue;
        queue.push_bytes(self.service, self.stream, self.time_ms, self.bytes, credit);
    }
}

#[cfg(test)]
mod tests;
