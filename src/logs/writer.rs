//! The writer thread: the only place where log files are written, rotated, checked and pruned.
//!
//! # Theory of operation
//!
//! Output reaches the writer two ways. Reads of pipes the supervisor still reads itself (while
//! their lines are wanted: a log probe waits, the CLI that started the daemon shows them) are
//! copied into the shared [`Queue`]; how much may be queued is bounded by byte credit the store
//! takes from a semaphore before queueing and this thread gives back once the bytes are written
//! (or dropped). Pipes nobody needs the lines of are handed over whole and read by this thread
//! itself, their bytes spliced to the files inside the kernel (see `pipes`).
//!
//! The thread sleeps in one poll over the queue's waker and every adopted pipe, and works in
//! rounds: it takes all of the queue at once and copies each service's output into that
//! service's buffer (a large frame with nothing buffered before it goes to the file as it is),
//! noting an index record (offset, time, stream) for each frame that does not continue the
//! file's last record; then it gives each readable pipe its turn. Buffers go to the files when
//! they reach [`FLUSH_BYTES`] and at the end of each round, each followed by its index records,
//! so a quiet service's line reaches the file at once and a busy one costs one `write` per
//! 64 KiB or more, not one per line. There is no fsync: a log line is not worth a disk flush, and
//! the page cache survives a crash of wrangle (only a crash of the machine loses the tail).
//!
//! Housekeeping runs between flushes, when the buffers are empty, at most once per
//! [`RETRY_INTERVAL`]: is the directory still the one we opened, is each file still the one
//! its name points to (an external logrotate, a deleted file), and is the directory within its
//! budget. Rotation happens when output would take the current file past `max_file_bytes`: at
//! the last newline that fits (a line longer than a whole file goes to a fresh file as it is).
//! A file and its index are opened, checked, rotated and removed together.
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
//! - A failed write may leave a torn piece of output without its index record: read back, it
//!   belongs to the record before, and its line runs on into the next output written.
//! - A crash between a write and its index records leaves the same: bytes that belong to the
//!   last record of the index.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::logs::files::{self, IndexFile, LogDir, LogFile};
use crate::logs::format::Record;
use crate::logs::queue::{self, Frame};
use crate::logs::{LogError, LogSettings, Stream};
use crate::mutex::lock;
use crate::sys::file::FileError;
use crate::sys::pipes::Poller;

pub(crate) mod pipes;
mod shared;
mod spans;
mod upkeep;

pub(crate) use crate::logs::writer::shared::{ServiceCounters, Shared};
pub(crate) use crate::logs::writer::spans::{FileSpan, SPANS_KEPT, ServiceFiles};

/// A service's buffer goes to its file when it holds this much.
pub(crate) const FLUSH_BYTES: usize = 64 * 1024;

/// Output of at least this many bytes (a busy service's read) is written as it is, not copied
/// into the buffer.
const DIRECT_BYTES: usize = 16 * 1024;

/// How often a failing file is retried and the directory, files and budget are checked.
/// Tests use a short interval so that recovery can be observed quickly.
pub(crate) const RETRY_INTERVAL: Duration = if cfg!(test) {
    Duration::from_millis(50)
} else {
    Duration::from_secs(1)
};

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
    /// The shared entries of each service (`Shared::services`, `Shared::files`), held here so
    /// that writing never takes the tables' lock.
    counters: Vec<Arc<ServiceCounters>>,
    files: Vec<Arc<Mutex<ServiceFiles>>>,
    /// Bytes in all service buffers.
    buffered: usize,
    /// Credit of lines taken off the queue, given back at the next flush.
    credit: usize,
    /// The directory's size as last measured plus what was written since.
    disk_total: u64,
    budget_due: bool,
    next_check: Instant,
    now: Instant,
    /// A file was opened or output completed since followers were last told.
    changed: bool,
    /// Waits on the queue's waker (token 0) and every adopted pipe (token = slot + 1).
    poller: Poller,
    /// Adopted pipes (see `pipes`), by slot.
    pipes: Vec<Option<queue::Adopted>>,
    /// Bytes read from a pipe: near a file's size limit, or when splicing cannot be used.
    scratch: Vec<u8>,
    /// The log directory's filesystem takes spliced bytes (until it refuses once).
    splice_works: bool,
    /// Between adopted pipes and files (see `pipes`), made at first use; empty between steps.
    relay: Option<crate::sys::pipes::Relay>,
}

struct ServiceFile {
    file: Option<LogFile>,
    /// The file's index: open exactly when `file` is.
    index: Option<IndexFile>,
    buffer: Vec<u8>,
    /// Index records of the bytes taken since the last write, written right after them.
    records: Vec<u8>,
    /// The stream and millisecond of the file's last record: output that continues it needs
    /// no record of its own.
    last_record: Option<(Stream, u64)>,
    next_attempt: Instant,
    /// Bytes written to the service's files so far, from the origin of [`FileSpan::start`].
    position: i64,
}

impl ServiceFile {
    fn new(now: Instant) -> ServiceFile {
        ServiceFile {
            file: None,
            index: None,
            buffer: Vec::new(),
            records: Vec::new(),
            last_record: None,
            next_attempt: now,
            position: 0,
        }
    }
}

impl Writer {
    /// Takes on the services added to the store since the last round (`LogStore::add_services`,
    /// which adds them before any of their output is queued).
    fn take_on_added_services(&mut self) {
        if self.shared.files.len() == self.files.len() {
            return;
        }
        let names = self.shared.file_names();
        let (counters, files) = (self.shared.services.all(), self.shared.files.all());
        let known = names.len().min(counters.len()).min(files.len());
        for index in self.file_names.len()..known {
            self.file_names.push(names[index].clone());
            self.services.push(ServiceFile::new(self.now));
            self.counters.push(Arc::clone(&counters[index]));
            self.files.push(Arc::clone(&files[index]));
        }
    }

    pub(crate) fn new(
        settings: &LogSettings,
        dir: LogDir,
        shared: Arc<Shared>,
    ) -> io::Result<Writer> {
        let now = Instant::now();
        let poller = Poller::new()?;
        poller.add(shared.queue.waker().as_fd(), 0)?;
        let file_names: Vec<String> = shared.file_names().to_vec();
        Ok(Writer {
            counters: shared.services.all(),
            files: shared.files.all(),
            shared,
            dir_path: dir.path.clone(),
            dir: Some(dir),
            max_file_bytes: settings.max_file_bytes,
            keep_files: settings.keep_files,
            budget_bytes: settings.budget_bytes,
            services: file_names.iter().map(|_| ServiceFile::new(now)).collect(),
            file_names,
            buffered: 0,
            credit: 0,
            disk_total: 0,
            // Measure (and prune) the directory before the first line.
            budget_due: true,
            next_check: now,
            now,
            changed: false,
            poller,
            pipes: Vec::new(),
            scratch: Vec::new(),
            splice_works: true,
            relay: None,
        })
    }

    /// Runs until the store closes the queue and it is drained; then says so on `done`.
    pub(crate) fn run(mut self, done: SyncSender<()>) {
        let shared = Arc::clone(&self.shared);
        let mut spare = Vec::new();
        let mut ready: Vec<u64> = Vec::new();
        self.maintain();
        loop {
            // Sleep until the queue has something, a pipe is readable (or hung up), or a line
            // held back near a file's limit is due.
            let sleep = shared.queue.prepare_wait();
            ready.clear();
            let timeout = match sleep {
                false => Some(Duration::ZERO),
                true => self
                    .hold_deadline()
                    .map(|deadline| deadline.saturating_duration_since(Instant::now())),
            };
            if self
                .poller
                .wait(timeout, |token| ready.push(token))
                .is_err()
            {
                // Not expected (a bad descriptor would be ours): do not spin on it.
                std::thread::sleep(RETRY_INTERVAL);
            }
            if ready.contains(&0) {
                shared.queue.waker().reset();
            }
            self.release_held(Instant::now());
            let batch = shared.queue.take(spare);
            self.take_on_added_services();
            // The buffers are empty here (flushed at the end of the last round), and after an
            // idle spell the files may have changed under us.
            self.maintain();
            for frame in queue::frames(&batch) {
                self.accept(&frame);
                if self.buffered >= FLUSH_BYTES || self.credit >= FLUSH_BYTES {
                    self.flush_all();
                }
            }
            // After the output queued before them: a pipe's own bytes come after its reader's.
            for adopted in batch.pipes {
                self.adopt(adopted);
            }
            for &token in ready.iter().filter(|&&token| token != 0) {
                self.pump_token(token);
            }
            if !batch.flushes.is_empty() || !batch.clears.is_empty() || batch.closed {
                // What the pipes hold now was written before the flush was asked for.
                self.drain_pipes();
            }
            self.flush_all();
            for reply in batch.flushes {
                let _ = reply.send(());
            }
            for (services, reply) in batch.clears {
                let known = self.services.len();
                let cleared = services
                    .into_iter()
                    .filter(|&service| service < known)
                    .map(|service| self.clear(service))
                    .collect();
                let _ = reply.send(cleared);
                self.shared.changes.send_modify(|count| *count += 1);
            }
            if batch.closed {
                self.close_pipes();
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

    /// Takes a frame of a service's output into its buffer (or straight to its file), with an
    /// index record unless it continues the last one; rotates at line boundaries.
    fn accept(&mut self, frame: &Frame<'_>) {
        self.credit += frame.credit;
        let index = frame.service;
        if index >= self.services.len() {
            self.take_on_added_services();
        }
        if index >= self.services.len() || frame.bytes.is_empty() {
            return;
        }
        if !self.ensure_open(index) {
            self.shared.count_dropped(index, line_count(frame.bytes));
            return;
        }
        let mut rest = frame.bytes;
        // Set when a rotation failed: the file then takes the rest beyond its size limit.
        let mut unlimited = false;
        while !rest.is_empty() {
            let service = &mut self.services[index];
            let Some(file) = &service.file else {
                self.shared.count_dropped(index, line_count(rest));
                return;
            };
            let used = file.size + service.buffer.len() as u64;
            let room = self.max_file_bytes.saturating_sub(used);
            let cut = match unlimited || rest.len() as u64 <= room {
                true => rest.len(),
                false => {
                    // `room` is below `rest.len()` here.
                    let fits = &rest[..room as usize];
                    match memchr::memrchr(b'\n', fits) {
                        Some(at) => at + 1,
                        // A line longer than the limit on its own still goes to a fresh file:
                        // it cannot be written anywhere better.
                        None if used == 0 => {
                            memchr::memchr(b'\n', rest).map_or(rest.len(), |at| at + 1)
                        }
                        None => 0,
                    }
                }
            };
            if cut > 0 {
                let direct = cut >= DIRECT_BYTES;
                if direct && !service.buffer.is_empty() {
                    // Its records go with it: this part's record must not precede its bytes.
                    self.flush_service(index);
                }
                let service = &mut self.services[index];
                let Some(file) = &service.file else {
                    self.shared.count_dropped(index, line_count(rest));
                    return;
                };
                let used = file.size + service.buffer.len() as u64;
                if service.last_record != Some((frame.stream, frame.time_ms)) {
                    let record = Record {
                        offset: used,
                        time_ms: frame.time_ms,
                        stream: frame.stream,
                    };
                    service.records.extend_from_slice(&record.encode());
                    service.last_record = Some((frame.stream, frame.time_ms));
                }
                let part = &rest[..cut];
                rest = &rest[cut..];
                if direct {
                    // A large part: straight to the file, not copied into the buffer.
                    #[cfg(test)]
                    let gate = Arc::clone(&self.shared);
                    #[cfg(test)]
                    let _gate = lock(&gate.gate);
                    self.write_out(index, part);
                } else {
                    service.buffer.extend_from_slice(part);
                    self.buffered += part.len();
                }
            }
            if rest.is_empty() {
                break;
            }
            self.flush_service(index);
            unlimited = !self.rotate(index);
        }
        if self.services[index].buffer.len() >= FLUSH_BYTES {
            self.flush_service(index);
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
        let name = &self.file_names[index];
        let opened = files::open_log(dir, name).and_then(|file| {
            let index_file = files::open_index(dir, &files::index_name(name), file.size)?;
            Ok((file, index_file))
        });
        match opened {
            Ok((file, index_file)) => {
                let service = &mut self.services[index];
                let mut files = lock(&self.files[index]);
                let reopened = files
                    .spans
                    .back()
                    .filter(|last| last.id == file.id && last.generation == Some(0))
                    .map(|last| last.serial);
                let serial = match reopened {
                    // Opened again after a failure: the same file, where it was.
                    Some(serial) => serial,
                    None => {
                        let serial = files.next_serial;
                        files.next_serial += 1;
                        let size = i64::try_from(file.size).unwrap_or(i64::MAX);
                        files.spans.push_back(FileSpan {
                            serial,
                            id: file.id,
                            start: service.position.saturating_sub(size),
                            generation: Some(0),
                        });
                        if files.spans.len() > SPANS_KEPT {
                            files.spans.pop_front();
                        }
                        serial
                    }
                };
                files.current = Some(serial);
                files.committed = file.size;
                drop(files);
                self.changed = true;
                service.file = Some(file);
                service.index = Some(index_file);
                service.last_record = None;
                true
            }
            Err(error) => {
                self.record_error(index, &error);
                false
            }
        }
    }

    /// Writes the service's buffer to its file and empties it, with the index records taken
    /// since the last write (those of spliced output, when the buffer is empty); on failure its
    /// lines are counted dropped and the file closed.
    fn flush_service(&mut self, index: usize) {
        let service = &self.services[index];
        if service.buffer.is_empty() && service.records.is_empty() {
            return;
        }
        let buffer = std::mem::take(&mut self.services[index].buffer);
        self.write_out(index, &buffer);
        self.buffered -= buffer.len();
        let service = &mut self.services[index];
        service.buffer = buffer;
        service.buffer.clear();
    }

    /// Writes `bytes` to the service's file, then the index records taken with them; on
    /// failure the lines are counted dropped and the file and its index closed.
    fn write_out(&mut self, index: usize, bytes: &[u8]) {
        let service = &mut self.services[index];
        let counters = &self.counters[index];
        let result = match (&mut service.file, &mut service.index) {
            (Some(file), Some(index_file)) => {
                #[cfg(test)]
                record_io_thread(&self.shared);
                let (written, result) = write_all(&mut file.file, bytes);
                file.size += written as u64;
                service.position = service
                    .position
                    .saturating_add(i64::try_from(written).unwrap_or(i64::MAX));
                self.disk_total += written as u64;
                counters
                    .bytes_written
                    .fetch_add(written as u64, Ordering::Relaxed);
                match result {
                    Ok(()) => {
                        let (written, result) = write_all(&mut index_file.file, &service.records);
                        self.disk_total += written as u64;
                        service.records.clear();
                        if result.is_ok() {
                            lock(&self.files[index]).committed = file.size;
                            self.changed = true;
                        }
                        result.map_err(|source| (true, source))
                    }
                    Err(source) => Err((false, source)),
                }
            }
            _ => Err((false, io::Error::other("the file is not open"))),
        };
        match result {
            Ok(()) => {
                if counters.failing.swap(false, Ordering::Relaxed) {
                    self.shared.trouble.notify_one();
                }
            }
            Err((written, source)) => {
                if !written {
                    counters
                        .lines_dropped
                        .fetch_add(line_count(bytes), Ordering::Relaxed);
                }
                self.write_failed(index, source, written);
            }
        }
    }

    /// Writing the service's file (or its index, when `index_file`) failed with `source`: the
    /// pair is closed, and opened again at the next attempt.
    fn write_failed(&mut self, index: usize, source: io::Error, index_file: bool) {
        let service = &mut self.services[index];
        service.file = None;
        service.index = None;
        service.records.clear();
        service.next_attempt = self.now + RETRY_INTERVAL;
        let name = &self.file_names[index];
        let path = self.dir_path.join(match index_file {
            true => files::index_name(name),
            false => name.clone(),
        });
        let error = LogError::Io(FileError::new("write", &path, source));
        self.record_error(index, &error);
    }

    fn flush_all(&mut self) {
        #[cfg(test)]
        let gate = Arc::clone(&self.shared);
        #[cfg(test)]
        let _gate = lock(&gate.gate);
        for index in 0..self.services.len() {
            self.flush_service(index);
        }
        self.shared
            .credit
            .add_permits(std::mem::take(&mut self.credit));
        self.shared.progress.fetch_add(1, Ordering::Release);
        if std::mem::take(&mut self.changed) {
            self.shared.changes.send_modify(|count| *count += 1);
        }
        self.maintain();
    }

    /// Closes the current file and its index, shifts the rotated ones and opens a fresh pair.
    /// Buffers are flushed by the caller. Returns whether the file was rotated.
    fn rotate(&mut self, index: usize) -> bool {
        let service = &mut self.services[index];
        service.index = None;
        if service.file.take().is_none() {
            return false;
        }
        let Some(dir) = &self.dir else {
            return false;
        };
        let rotated = match files::rotate(dir, &self.file_names[index], self.keep_files) {
            Ok(existing) => {
                self.counters[index]
                    .rotations
                    .fetch_add(1, Ordering::Relaxed);
                lock(&self.files[index]).rotated(existing, self.keep_files);
                self.budget_due = true;
                true
            }
            // Keep appending to the same file rather than losing lines. Which renames happened
            // is not known: the rotated files are no longer where their spans say.
            Err(error) => {
                let mut files = lock(&self.files[index]);
                for span in &mut files.spans {
                    if span.generation != Some(0) {
                        span.generation = None;
                    }
                }
                files.moves += 1;
                drop(files);
                self.record_error(index, &error);
                false
            }
        };
        self.services[index].next_attempt = self.now;
        self.ensure_open(index);
        rotated
    }

    /// Empties the service's files (`wrangle flush`), buffers flushed by the caller: every
    /// rotated file is removed, then the current one is rotated away and removed too, each with
    /// its index, and a fresh one opened. Done as a rotation and removals, the same steps the
    /// size limit and the budget take, so that followers see what they already know how to
    /// follow (the output they had not read yet is skipped, and counted for them).
    fn clear(&mut self, index: usize) -> queue::Cleared {
        let mut cleared = queue::Cleared {
            service: index,
            files: 0,
            bytes: 0,
            error: None,
        };
        if self.dir.is_none() {
            match files::open_dir(&self.dir_path) {
                Ok(dir) => self.dir = Some(dir),
                Err(error) => {
                    cleared.error = Some(describe(&error));
                    return cleared;
                }
            }
        }
        let Some(dir) = &self.dir else {
            return cleared;
        };
        let name = &self.file_names[index];
        let result = (|| -> Result<(), LogError> {
            let scan = files::scan(dir, std::slice::from_ref(name), self.keep_files)?;
            for file in &scan.rotated {
                files::remove_with_index(dir, &file.name)?;
                lock(&self.files[index]).removed(file.generation);
                cleared.files += 1;
                cleared.bytes += file.size;
            }
            let current = files::regular_size(dir, name);
            if current.is_none() {
                return Ok(());
            }
            cleared.files += 1;
            cleared.bytes += current.unwrap_or(0)
                + files::regular_size(dir, &files::index_name(name)).unwrap_or(0);
            let service = &mut self.services[index];
            service.file = None;
            service.index = None;
            service.last_record = None;
            let keep = self.keep_files.max(1);
            files::rotate(dir, name, keep)?;
            let mut spans = lock(&self.files[index]);
            spans.rotated(0, keep);
            files::remove_with_index(dir, &files::rotated_name(name, 1))?;
            spans.removed(1);
            Ok(())
        })();
        if let Err(error) = result {
            cleared.error = Some(describe(&error));
        }
        self.budget_due = true;
        self.changed = true;
        self.services[index].next_attempt = self.now;
        self.ensure_open(index);
        cleared
    }

    fn record_error(&self, index: usize, error: &LogError) {
        let counters = &self.counters[index];
        counters.failing.store(true, Ordering::Relaxed);
        *lock(&counters.last_error) = Some(describe(error));
        self.shared.trouble.notify_one();
    }
}

/// The lines of `bytes` as counted when dropped: those it ends, and a last one without newline.
pub(crate) fn line_count(bytes: &[u8]) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', bytes).count() as u64;
    newlines + u64::from(bytes.last().is_some_and(|&last| last != b'\n'))
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

#[cfg(test)]
fn record_io_thread(shared: &Shared) {
    let id = std::thread::current().id();
    let mut threads = lock(&shared.io_threads);
    if !threads.contains(&id) {
        threads.push(id);
    }
}
