//! The writer thread: the only place where log files are written, rotated, checked and pruned.
//!
//! # Theory of operation
//!
//! The store encodes lines into the shared [`Queue`]; how much may be queued is bounded by
//! byte credit the store takes from a semaphore before queueing and this thread gives back
//! once the bytes are written (or dropped). The thread works in batches: it sleeps until the
//! queue holds something, takes all of it at once and copies each service's records into that
//! service's buffer. Buffers go to the files when they reach [`FLUSH_BYTES`] and at the end of
//! each batch, so a quiet service's line reaches the file at once and a busy one costs one
//! `write` per 64 KiB, not one per line. There is no fsync: a log line is not worth a disk
//! flush, and the page cache survives a crash of wrangle (only a crash of the machine loses
//! the tail).
//!
//! Housekeeping runs between flushes, when the buffers are empty, at most once per
//! [`RETRY_INTERVAL`]: is the directory still the one we opened, is each file still the one
//! its name points to (an external logrotate, a deleted file), and is the directory within its
//! budget. Rotation happens when a line would take the current file past `max_file_bytes`.
//!
//! A failure (ENOSPC, EACCES, EROFS, a removed directory, a symlink planted at the file's name)
//! closes that service's file, records the error in its counters and drops its lines, counted,
//! until the next attempt to open the file, at most once per [`RETRY_INTERVAL`]. Nothing here
//! panics or stops: logs are worth less than supervision.
//!
//! # Caveats
//!
//! - Lines written between a directory or file being deleted and the next check (up to one
//!   interval) go to the deleted inode: they count as written but are lost.
//! - A failed write may leave a torn line; the next open ends it with a newline.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::logs::files::{self, LogDir, LogFile};
use crate::logs::queue::{self, Frame, Queue};
use crate::logs::{DiskStats, LogError, LogSettings, LogStats};

/// A service's buffer goes to its file when it holds this much.
pub(crate) const FLUSH_BYTES: usize = 64 * 1024;

/// How often a failing file is retried and the directory, files and budget are checked.
/// Tests use a short interval so that recovery can be observed quickly.
pub(crate) const RETRY_INTERVAL: Duration = if cfg!(test) {
    Duration::from_millis(50)
} else {
    Duration::from_secs(1)
};

/// What the store and the writer thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) services: Vec<ServiceCounters>,
    pub(crate) queue: Queue,
    /// Byte credit for queued lines (see [`queue::line_credit`]).
    pub(crate) credit: Semaphore,
    /// Counts the writer's flushes, so the store can tell a slow writer from a stuck one.
    pub(crate) progress: AtomicU64,
    pub(crate) disk: Mutex<DiskStats>,
    /// Woken when a file starts or stops failing or lines are dropped, so the daemon can report
    /// trouble without polling.
    pub(crate) trouble: tokio::sync::Notify,
    /// Held by the writer while it flushes; a test holds it to simulate a stuck disk.
    #[cfg(test)]
    pub(crate) gate: Mutex<()>,
    /// Threads that wrote to a log file, for the test that the store's caller never does.
    #[cfg(test)]
    pub(crate) io_threads: Mutex<Vec<std::thread::ThreadId>>,
}

#[derive(Debug, Default)]
pub(crate) struct ServiceCounters {
    pub(crate) bytes_written: AtomicU64,
    pub(crate) lines_written: AtomicU64,
    pub(crate) lines_dropped: AtomicU64,
    pub(crate) rotations: AtomicU64,
    pub(crate) failing: AtomicBool,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn new(services: usize, credit: usize, budget_bytes: u64) -> Shared {
        Shared {
            services: (0..services).map(|_| ServiceCounters::default()).collect(),
            queue: Queue::default(),
            credit: Semaphore::new(credit),
            progress: AtomicU64::new(0),
            trouble: tokio::sync::Notify::new(),
            disk: Mutex::new(DiskStats {
                budget_bytes,
                ..DiskStats::default()
            }),
            #[cfg(test)]
            gate: Mutex::new(()),
            #[cfg(test)]
            io_threads: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn stats(&self, service: usize) -> LogStats {
        let Some(counters) = self.services.get(service) else {
            return LogStats::default();
        };
        LogStats {
            bytes_written: counters.bytes_written.load(Ordering::Relaxed),
            lines_written: counters.lines_written.load(Ordering::Relaxed),
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

pub(crate) struct Writer {
    shared: Arc<Shared>,
    dir_path: PathBuf,
    dir: Option<LogDir>,
    max_file_bytes: u64,
    keep_files: u32,
    budget_bytes: u64,
    /// `<service>.log`, by service.
    file_names: Vec<String>,
    services: Vec<ServiceFile>,
    /// Bytes in all service buffers.
    buffered: usize,
    /// Credit of lines taken off the queue, given back at the next flush.
    credit: usize,
    /// The directory's size as last measured plus what was written since.
    disk_total: u64,
    budget_due: bool,
    next_check: Instant,
    now: Instant,
}

struct ServiceFile {
    file: Option<LogFile>,
    buffer: Vec<u8>,
    /// Lines in `buffer`, for counting them written or dropped.
    buffer_lines: u64,
    next_attempt: Instant,
}

impl Writer {
    pub(crate) fn new(
        settings: &LogSettings,
        dir: LogDir,
        file_names: Vec<String>,
        shared: Arc<Shared>,
    ) -> Writer {
        let now = Instant::now();
        Writer {
            shared,
            dir_path: dir.path.clone(),
            dir: Some(dir),
            max_file_bytes: settings.max_file_bytes,
            keep_files: settings.keep_files,
            budget_bytes: settings.budget_bytes,
            services: file_names
                .iter()
                .map(|_| ServiceFile {
                    file: None,
                    buffer: Vec::new(),
                    buffer_lines: 0,
                    next_attempt: now,
                })
                .collect(),
            file_names,
            buffered: 0,
            credit: 0,
            disk_total: 0,
            // Measure (and prune) the directory before the first line.
            budget_due: true,
            next_check: now,
            now,
        }
    }

    /// Runs until the store closes the queue and it is drained; then says so on `done`.
    pub(crate) fn run(mut self, done: SyncSender<()>) {
        let shared = Arc::clone(&self.shared);
        let mut spare = Vec::new();
        self.maintain();
        loop {
            let batch = shared.queue.take(spare);
            // The buffers are empty here (flushed at the end of the last batch), and after an
            // idle spell the files may have changed under us.
            self.maintain();
            for frame in queue::frames(&batch.bytes) {
                self.accept(&frame);
                if self.buffered >= FLUSH_BYTES || self.credit >= FLUSH_BYTES {
                    self.flush_all();
                }
            }
            self.flush_all();
            for reply in batch.flushes {
                let _ = reply.send(());
            }
            if batch.closed {
                break;
            }
            // Reuse the buffer, capacity and all (at most the queue's credit): a fresh one would
            // be grown again, page by zeroed page, in the next burst.
            spare = batch.bytes;
            spare.clear();
        }
        // The store may have stopped waiting; nobody to tell then.
        let _ = done.send(());
    }

    /// Takes a service's run of records into its buffer, rotating at record boundaries.
    fn accept(&mut self, frame: &Frame<'_>) {
        self.credit += frame.credit;
        let index = frame.service;
        if index >= self.services.len() {
            return;
        }
        if !self.ensure_open(index) {
            self.shared.count_dropped(index, frame.record_count);
            return;
        }
        let mut rest = frame.records;
        let mut rest_count = frame.record_count;
        while !rest.is_empty() {
            let service = &mut self.services[index];
            let Some(file) = &service.file else {
                self.shared.count_dropped(index, rest_count);
                return;
            };
            let used = file.size + service.buffer.len() as u64;
            let room = self.max_file_bytes.saturating_sub(used);
            if service.buffer.is_empty() && rest.len() >= FLUSH_BYTES && rest.len() as u64 <= room {
                // A large run with nothing buffered before it: straight to the file, no copy.
                #[cfg(test)]
                let gate = Arc::clone(&self.shared);
                #[cfg(test)]
                let _gate = lock(&gate.gate);
                self.write_out(index, rest, rest_count);
                return;
            }
            let (cut, count) = match rest.len() as u64 <= room {
                true => (rest.len(), rest_count),
                false => {
                    let fits = &rest[..rest.len().min(room as usize)];
                    let mut cut = fits
                        .iter()
                        .rposition(|&byte| byte == b'\n')
                        .map_or(0, |at| at + 1);
                    // A record longer than the limit on its own still goes to a fresh file: it
                    // cannot be written anywhere better.
                    if cut == 0 && used == 0 {
                        cut = rest
                            .iter()
                            .position(|&byte| byte == b'\n')
                            .map_or(rest.len(), |at| at + 1);
                    }
                    let count = rest[..cut].iter().filter(|&&byte| byte == b'\n').count();
                    (cut, count as u64)
                }
            };
            service.buffer.extend_from_slice(&rest[..cut]);
            service.buffer_lines += count;
            self.buffered += cut;
            rest = &rest[cut..];
            rest_count = rest_count.saturating_sub(count);
            if rest.is_empty() {
                break;
            }
            let (length, lines) = (service.buffer.len(), service.buffer_lines);
            self.flush_service(index, length, lines);
            self.rotate(index);
        }
        let service = &self.services[index];
        if service.buffer.len() >= FLUSH_BYTES {
            let (length, lines) = (service.buffer.len(), service.buffer_lines);
            self.flush_service(index, length, lines);
        }
    }

    /// Opens the service's file unless it is open or failed less than an interval ago.
    fn ensure_open(&mut self, index: usize) -> bool {
        let service = &mut self.services[index];
        if service.file.is_some() {
            return true;
        }
        if self.now < service.next_attempt {
            return false;
        }
        service.next_attempt = self.now + RETRY_INTERVAL;
        if self.dir.is_none() {
            match files::open_dir(&self.dir_path) {
                Ok(dir) => self.dir = Some(dir),
                Err(error) => {
                    self.record_error(index, &error);
                    return false;
                }
            }
        }
        let Some(dir) = &self.dir else {
            return false;
        };
        match files::open_log(dir, &self.file_names[index]) {
            Ok(file) => {
                self.services[index].file = Some(file);
                true
            }
            Err(error) => {
                self.record_error(index, &error);
                false
            }
        }
    }

    /// Writes `buffer[..length]` (holding `lines` lines) to the service's file and removes it
    /// from the buffer; on failure the lines are counted dropped and the file closed.
    fn flush_service(&mut self, index: usize, length: usize, lines: u64) {
        if length == 0 {
            return;
        }
        let buffer = std::mem::take(&mut self.services[index].buffer);
        self.write_out(index, &buffer[..length], lines);
        let service = &mut self.services[index];
        service.buffer = buffer;
        service.buffer.drain(..length);
        service.buffer_lines -= lines;
        self.buffered -= length;
    }

    /// Writes `bytes` (holding `lines` lines) to the service's file; on failure the lines are
    /// counted dropped and the file closed.
    fn write_out(&mut self, index: usize, bytes: &[u8], lines: u64) {
        let service = &mut self.services[index];
        let counters = &self.shared.services[index];
        let result = match &mut service.file {
            Some(file) => {
                #[cfg(test)]
                record_io_thread(&self.shared);
                let (written, result) = write_all(&mut file.file, bytes);
                file.size += written as u64;
                self.disk_total += written as u64;
                counters
                    .bytes_written
                    .fetch_add(written as u64, Ordering::Relaxed);
                result
            }
            None => Err(io::Error::other("the file is not open")),
        };
        match result {
            Ok(()) => {
                counters.lines_written.fetch_add(lines, Ordering::Relaxed);
                if counters.failing.swap(false, Ordering::Relaxed) {
                    self.shared.trouble.notify_one();
                }
            }
            Err(source) => {
                counters.lines_dropped.fetch_add(lines, Ordering::Relaxed);
                service.file = None;
                service.next_attempt = self.now + RETRY_INTERVAL;
                let error = LogError::Io {
                    action: "write",
                    path: self.dir_path.join(&self.file_names[index]),
                    source,
                };
                self.record_error(index, &error);
            }
        }
    }

    fn flush_all(&mut self) {
        #[cfg(test)]
        let gate = Arc::clone(&self.shared);
        #[cfg(test)]
        let _gate = lock(&gate.gate);
        for index in 0..self.services.len() {
            let service = &self.services[index];
            let (length, lines) = (service.buffer.len(), service.buffer_lines);
            self.flush_service(index, length, lines);
        }
        self.shared
            .credit
            .add_permits(std::mem::take(&mut self.credit));
        self.shared.progress.fetch_add(1, Ordering::Release);
        self.maintain();
    }

    /// Closes the current file, shifts the rotated ones and opens a fresh one. Buffers are
    /// flushed by the caller.
    fn rotate(&mut self, index: usize) {
        let service = &mut self.services[index];
        if service.file.take().is_none() {
            return;
        }
        let Some(dir) = &self.dir else {
            return;
        };
        match files::rotate(dir, &self.file_names[index], self.keep_files) {
            Ok(()) => {
                self.shared.services[index]
                    .rotations
                    .fetch_add(1, Ordering::Relaxed);
                self.budget_due = true;
            }
            // Keep appending to the same file rather than losing lines.
            Err(error) => self.record_error(index, &error),
        }
        self.services[index].next_attempt = self.now;
        self.ensure_open(index);
    }

    /// Housekeeping; only ever called with empty buffers. See the module docs.
    fn maintain(&mut self) {
        self.now = Instant::now();
        if self.now < self.next_check && !self.budget_due {
            return;
        }
        if self.now >= self.next_check {
            self.next_check = self.now + RETRY_INTERVAL;
            self.check_files();
        }
        if self.budget_due || self.disk_total > self.budget_bytes {
            self.enforce_budget();
        }
    }

    /// Closes files whose name now means something else, and everything if the directory is
    /// not the one we opened; the next line reopens them.
    fn check_files(&mut self) {
        let Some(dir) = &self.dir else {
            return;
        };
        if files::path_identity(&self.dir_path) != Some(dir.id) {
            self.dir = None;
            for service in &mut self.services {
                service.file = None;
                service.next_attempt = self.now;
            }
            return;
        }
        for (service, name) in self.services.iter_mut().zip(&self.file_names) {
            let Some(file) = &service.file else {
                continue;
            };
            if files::name_identity(dir, name) != Some(file.id) {
                service.file = None;
                service.next_attempt = self.now;
            }
        }
    }

    /// Measures the directory and removes the oldest rotated files until it fits its budget.
    fn enforce_budget(&mut self) {
        self.budget_due = false;
        let Some(dir) = &self.dir else {
            return;
        };
        let scan = match files::scan(dir, &self.file_names, self.keep_files) {
            Ok(scan) => scan,
            Err(error) => {
                lock(&self.shared.disk).last_error = Some(describe(&error));
                return;
            }
        };
        let mut total = scan.total;
        let mut removed = scan.removed;
        let mut last_error = None;
        for file in files::over_budget(&scan.rotated, scan.total, self.budget_bytes) {
            match files::remove(dir, &file.name) {
                Ok(()) => {
                    total = total.saturating_sub(file.size);
                    removed += 1;
                }
                Err(error) => last_error = Some(describe(&error)),
            }
        }
        let over_budget = total > self.budget_bytes;
        if over_budget {
            last_error = Some(format!(
                "log directory {} holds {total} bytes, over its budget of {} bytes, and has no \
                 rotated log left to remove",
                self.dir_path.display(),
                self.budget_bytes
            ));
        }
        self.disk_total = total;
        let mut disk = lock(&self.shared.disk);
        disk.total_bytes = total;
        disk.files_removed += removed;
        disk.over_budget = over_budget;
        if last_error.is_some() {
            disk.last_error = last_error;
        }
    }

    fn record_error(&self, index: usize, error: &LogError) {
        let counters = &self.shared.services[index];
        counters.failing.store(true, Ordering::Relaxed);
        *lock(&counters.last_error) = Some(describe(error));
        self.shared.trouble.notify_one();
    }
}

/// Writes all of `bytes`; returns how many were written even when it fails part-way.
fn write_all(file: &mut File, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut written = 0;
    while written < bytes.len() {
        match file.write(&bytes[written..]) {
            Ok(0) => return (written, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return (written, Err(error)),
        }
    }
    (written, Ok(()))
}

/// An error with its causes, `cannot write /x/web.log: No space left on device (os error 28)`.
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Locks, ignoring poison: every value behind these locks stays valid between statements.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
fn record_io_thread(shared: &Shared) {
    let id = std::thread::current().id();
    let mut threads = lock(&shared.io_threads);
    if !threads.contains(&id) {
        threads.push(id);
    }
}
