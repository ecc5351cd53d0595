//! Pipes the writer reads itself: a service's stdout or stderr handed over by the supervisor
//! ([`crate::logs::LogStore::adopt_pipe`]) once nobody needs its lines, whose bytes then go to
//! the file by `splice(2)`, inside the kernel, never through wrangle's memory.
//!
//! # Theory of operation
//!
//! The writer waits on every adopted pipe at once (an epoll set, with the queue's waker) and
//! pumps each readable one: it splices what the pipe holds to the end of the service's file
//! (through a relay pipe of its own, so that the service's pipe is held only while its pages are
//! moved, not while they are copied into the file: see [`pipes::Relay`]),
//! noting an index record (offset, time, stream) per splice that does not continue the file's
//! last record, exactly as for output that came through the queue. Output the queue brought for
//! the same service earlier is written first, so each stream's bytes stay in order.
//!
//! Rotation must cut at a line boundary, which splicing cannot see. So splices stop
//! [`CUT_WINDOW`] short of the size limit, and the last bytes before it are read: whole lines
//! are written, the line not yet ended is held back (at most [`HOLD_DELAY`], then written as it
//! is), and output that would not fit is cut at its last newline that does, the file rotated and
//! the rest written to the fresh file. A file thus costs one read of at most about
//! [`CUT_WINDOW`] bytes through user space, the rest none, and ends at a line boundary unless a
//! line took longer than [`HOLD_DELAY`] to end or is longer than the window.
//!
//! A file that cannot be written (a full disk, an unwritable directory) does not stop the pipe:
//! its bytes are read and dropped, their lines counted, until the file can be opened again, so a
//! service never blocks on its output because of wrangle's disk. A filesystem that refuses
//! splicing gets the bytes by read and write instead (a copy, as for queued output).
//!
//! At end of file (every writer of the pipe gone) the pipe is closed and its guard dropped: the
//! supervisor waits on the guards to know that an instance's output has all been taken.
//!
//! # Caveats
//!
//! - A disk that hangs (not one that fails) stalls the writer in a splice, and the services
//!   whose pipes it adopted then block on their output until the disk answers, as they would
//!   writing their own files; supervision itself goes on.

use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use crate::logs::Stream;
use crate::logs::format::{self, Record};
use crate::logs::queue::{Adopted, Frame};
use crate::logs::writer::{Writer, line_count};
use crate::spec::ServiceId;
use crate::sys::pipes;

/// Splices stop this far short of the size limit of a file, so that the cut at a line boundary
/// can see the last bytes (see the module docs). A line longer than this that crosses the limit
/// is cut where it crosses.
pub(crate) const CUT_WINDOW: usize = 64 * 1024;

/// How long a line begun in the window before a file's size limit is held back waiting for its
/// end (see the module docs); then it is written as it is (a prompt, a slow writer).
pub(crate) const HOLD_DELAY: Duration = Duration::from_millis(100);

/// The most bytes taken from one pipe per turn, so that a flood does not keep the writer from
/// the other pipes and the queue.
const TURN_BYTES: usize = 4 * 1024 * 1024;

/// A pipe found holding this much (three quarters of a pipe's default 64 KiB) belongs to a
/// service that writes a lot: it is grown to [`BUSY_PIPE_BYTES`], so that the service goes on
/// writing while the writer takes what it wrote, instead of waiting for every turn.
const BUSY_READ_BYTES: usize = 48 * 1024;

/// The buffer of a busy service's pipe: the default `/proc/sys/fs/pipe-max-size`. Only busy
/// pipes grow: the kernel gives a user's new pipes a single page once its pipes hold more than
/// `pipe-user-pages-soft` (64 MiB by default). Pipe pages are only used while they hold output.
/// The writer's relay (see `pipes::Relay`) has this size too: it takes a grown pipe in one move.
const BUSY_PIPE_BYTES: usize = 1024 * 1024;

/// What one turn of a pipe found.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    /// It is empty now (or its turn is over): it stays.
    Open,
    /// End of file: close it.
    Ended,
}

impl Writer {
    /// Takes a pipe over: it is read from now on, whenever it is readable.
    pub(crate) fn adopt(&mut self, pipe: Adopted) {
        if pipes::set_nonblocking(pipe.pipe.as_fd()).is_err() {
            // A pipe that cannot be polled would block the writer: let it go (its guard with
            // it, so nobody waits for its end). Only a broken descriptor gets here.
            return;
        }
        let slot = match self.pipes.iter().position(Option::is_none) {
            Some(slot) => slot,
            None => {
                self.pipes.push(None);
                self.pipes.len() - 1
            }
        };
        // Token 0 is the queue's waker.
        if self.poller.add(pipe.pipe.as_fd(), slot as u64 + 1).is_err() {
            return;
        }
        self.pipes[slot] = Some(pipe);
    }

    /// Gives the pipe of `token` (as the poller reported it) its turn.
    pub(crate) fn pump_token(&mut self, token: u64) {
        let Some(slot) = token
            .checked_sub(1)
            .and_then(|slot| usize::try_from(slot).ok())
        else {
            return;
        };
        if self.pipes.get(slot).is_some_and(Option::is_some) && self.pump(slot) == Turn::Ended {
            self.close_pipe(slot);
        }
    }

    /// Takes everything the adopted pipes hold now (before a flush is answered, or at the end).
    pub(crate) fn drain_pipes(&mut self) {
        for slot in 0..self.pipes.len() {
            if self.pipes[slot].is_none() {
                continue;
            }
            // Each turn is bounded; a pipe still full after many is being written as fast as it
            // is read, and what "now" meant has long been taken.
            for _ in 0..16 {
                match self.pump(slot) {
                    Turn::Ended => {
                        self.close_pipe(slot);
                        break;
                    }
                    Turn::Open if self.pipe_is_empty(slot) => break,
                    Turn::Open => {}
                }
            }
            // Everything taken is written: a line held back too.
            self.release(slot);
        }
    }

    /// When the earliest line held back must be written (see [`HOLD_DELAY`]).
    pub(crate) fn hold_deadline(&self) -> Option<Instant> {
        self.pipes
            .iter()
            .flatten()
            .filter_map(|pipe| pipe.held_since)
            .min()
            .map(|since| since + HOLD_DELAY)
    }

    /// Writes the lines held back for [`HOLD_DELAY`] or more, as they are.
    pub(crate) fn release_held(&mut self, now: Instant) {
        for slot in 0..self.pipes.len() {
            let due = self.pipes[slot]
                .as_ref()
                .and_then(|pipe| pipe.held_since)
                .is_some_and(|since| now >= since + HOLD_DELAY);
            if due {
                self.release(slot);
            }
        }
    }

    /// Writes (or drops, counted, when the file cannot be written) what the pipe in `slot`
    /// holds back.
    fn release(&mut self, slot: usize) {
        let Some(pipe) = self.pipes.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        pipe.held_since = None;
        if pipe.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut pipe.held);
        let (service, stream) = (pipe.service, pipe.stream);
        if service < self.services.len() && self.ensure_open(service) {
            self.write_part(service, stream, &held);
            self.flush_service(service);
        } else if service < self.services.len() {
            self.shared.count_dropped(service, line_count(&held));
        }
    }

    /// Closes every adopted pipe (the store is closing).
    pub(crate) fn close_pipes(&mut self) {
        for slot in 0..self.pipes.len() {
            self.close_pipe(slot);
        }
    }

    fn pipe_is_empty(&self, slot: usize) -> bool {
        self.pipes[slot].as_ref().is_none_or(|pipe| {
            pipes::bytes_waiting(pipe.pipe.as_fd()).is_ok_and(|bytes| bytes == 0)
        })
    }

    fn close_pipe(&mut self, slot: usize) {
        self.release(slot);
        if let Some(pipe) = self.pipes.get_mut(slot).and_then(Option::take) {
            let _ = self.poller.remove(pipe.pipe.as_fd());
            // Closing the descriptor and dropping the guard: the supervisor learns that this
            // output has all been taken.
            drop(pipe);
        }
    }

    /// One turn of the pipe in `slot`: at most [`TURN_BYTES`].
    fn pump(&mut self, slot: usize) -> Turn {
        let mut taken = 0;
        while taken < TURN_BYTES {
            let Some(pipe) = &self.pipes[slot] else {
                return Turn::Ended;
            };
            let (service, stream) = (pipe.service, pipe.stream);
            if service >= self.services.len() {
                return Turn::Ended;
            }
            let step = match self.ensure_open(service) {
                true => self.step(slot, service, stream),
                false => self.drop_step(slot, service),
            };
            match step {
                Step::Took(n) => taken += n,
                Step::Empty => return Turn::Open,
                Step::Ended => return Turn::Ended,
            }
        }
        Turn::Open
    }

    /// Moves some of the pipe's bytes to the service's open file.
    fn step(&mut self, slot: usize, service: ServiceId, stream: Stream) -> Step {
        // Output queued earlier for this service goes first.
        if !self.services[service].buffer.is_empty() {
            self.flush_service(service);
            if self.services[service].file.is_none() {
                return Step::Took(0);
            }
        }
        let Some(file) = &self.services[service].file else {
            return Step::Took(0);
        };
        let room = self.max_file_bytes.saturating_sub(file.size);
        let Some(pipe) = &self.pipes[slot] else {
            return Step::Ended;
        };
        let before_window = room.saturating_sub(CUT_WINDOW as u64);
        let len = match (before_window > 0, self.splice_works && pipe.held.is_empty()) {
            (true, true) => usize::try_from(before_window).unwrap_or(usize::MAX),
            (true, false) => return self.copy_step(slot, service, stream),
            (false, _) => return self.window_step(slot, service, stream),
        };
        if self.relay.is_none() {
            self.relay = pipes::Relay::new(BUSY_PIPE_BYTES).ok();
        }
        let Some(relay) = &self.relay else {
            // The system gives no pipe now: copy.
            return self.copy_step(slot, service, stream);
        };
        // Into the relay first: the service's pipe is held only while its pages are moved (see
        // `pipes::Relay`), then the relay's bytes go to the file.
        let taken = match relay.take(pipe.pipe.as_fd(), len) {
            Ok(0) => return Step::Ended,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return Step::Empty,
            Err(_) => return Step::Ended,
        };
        if taken >= BUSY_READ_BYTES {
            self.grow(slot);
        }
        self.give(service, stream, taken);
        Step::Took(taken)
    }

    /// Moves the `len` bytes the relay holds to the service's file; what the file does not take
    /// (a full disk, a filesystem without splicing) is read back from the relay, so that it is
    /// empty again: written by copy, or dropped and counted.
    fn give(&mut self, service: ServiceId, stream: Stream, len: usize) {
        let mut left = len;
        while left > 0 {
            let (Some(relay), Some(file)) = (&self.relay, &self.services[service].file) else {
                break;
            };
            match relay.give(file.file.as_fd(), left) {
                Ok(n) if n > 0 => {
                    self.account(service, stream, n);
                    left -= n;
                }
                // The relay holds `left` bytes, so no progress is the file refusing them.
                Ok(_) => break,
                Err(error) if error.kind() == std::io::ErrorKind::InvalidInput => {
                    // This filesystem takes no spliced bytes: copy from now on.
                    self.splice_works = false;
                    break;
                }
                Err(error) => {
                    self.write_failed(service, error, false);
                    break;
                }
            }
        }
        if left > 0 {
            self.take_back(service, stream, left);
        }
    }

    /// Reads `len` bytes back from the relay: written as queued output is when the file is open
    /// (it refused splicing), else dropped and counted.
    fn take_back(&mut self, service: ServiceId, stream: Stream, mut len: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(CUT_WINDOW, 0);
        while len > 0 {
            let Some(relay) = &self.relay else { break };
            let n = match relay.read(&mut scratch[..len.min(CUT_WINDOW)]) {
                Ok(n) if n > 0 => n,
                // Not expected (the relay holds `len` bytes): a relay in an unknown state is
                // not reused.
                _ => {
                    self.relay = None;
                    break;
                }
            };
            len -= n;
            match self.services[service].file.is_some() {
                true => {
                    self.write_part(service, stream, &scratch[..n]);
                    self.flush_service(service);
                }
                false => self
                    .shared
                    .count_dropped(service, line_count(&scratch[..n])),
            }
        }
        self.scratch = scratch;
    }

    /// Reads some of the pipe's bytes and writes them as queued output is written (where the
    /// filesystem takes no spliced bytes).
    fn copy_step(&mut self, slot: usize, service: ServiceId, stream: Stream) -> Step {
        let Some(pipe) = &self.pipes[slot] else {
            return Step::Ended;
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(CUT_WINDOW, 0);
        let read = pipes::read_now(pipe.pipe.as_fd(), &mut scratch);
        let step = match read {
            Ok(0) => Step::Ended,
            Ok(n) => {
                let frame = Frame {
                    service,
                    stream,
                    time_ms: format::millis(SystemTime::now()),
                    bytes: &scratch[..n],
                    credit: 0,
                };
                self.accept(&frame);
                self.flush_service(service);
                Step::Took(n)
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Step::Empty,
            Err(_) => Step::Ended,
        };
        self.scratch = scratch;
        step
    }

    /// Near the file's size limit: reads some of the pipe's bytes and places them after what is
    /// held back (see `place`).
    fn window_step(&mut self, slot: usize, service: ServiceId, stream: Stream) -> Step {
        let Some(pipe) = self.pipes.get_mut(slot).and_then(Option::as_mut) else {
            return Step::Ended;
        };
        // The bytes held back, then a read after them.
        let mut data = std::mem::take(&mut pipe.held);
        let start = data.len();
        data.resize(start + CUT_WINDOW, 0);
        let read = pipes::read_now(pipe.pipe.as_fd(), &mut data[start..]);
        let n = match read {
            Ok(n) if n > 0 => n,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                data.truncate(start);
                pipe.held = data;
                return Step::Empty;
            }
            // The end (or a broken pipe): what was held back is written as it is.
            _ => {
                data.truncate(start);
                pipe.held = data;
                self.release(slot);
                return Step::Ended;
            }
        };
        data.truncate(start + n);
        self.place(slot, service, stream, data);
        Step::Took(n)
    }

    /// Places `data` (held back bytes and a read) at the end of the service's file near its
    /// limit: cut at its last newline that fits and the file rotated when it would not fit, else
    /// its whole lines written and the line not ended held back.
    fn place(&mut self, slot: usize, service: ServiceId, stream: Stream, mut data: Vec<u8>) {
        let Some(file) = &self.services[service].file else {
            self.shared.count_dropped(service, line_count(&data));
            return;
        };
        let room =
            usize::try_from(self.max_file_bytes.saturating_sub(file.size)).unwrap_or(usize::MAX);
        let empty = file.size == 0;
        let held = match data.len() > room {
            // A line longer than a whole file: it goes as it is (see `accept`).
            true if empty && !data[..room].contains(&b'\n') => {
                self.write_part(service, stream, &data);
                Vec::new()
            }
            true => {
                let cut = memchr::memrchr(b'\n', &data[..room]).map_or(0, |at| at + 1);
                self.write_part(service, stream, &data[..cut]);
                self.flush_service(service);
                self.rotate(service);
                // The rest starts the fresh file (where it cannot be cut wrong).
                self.write_part(service, stream, &data[cut..]);
                Vec::new()
            }
            false => {
                let whole = memchr::memrchr(b'\n', &data).map_or(0, |at| at + 1);
                self.write_part(service, stream, &data[..whole]);
                data.drain(..whole);
                data
            }
        };
        self.flush_service(service);
        if let Some(pipe) = self.pipes.get_mut(slot).and_then(Option::as_mut) {
            pipe.held_since = match held.is_empty() {
                true => None,
                false => pipe.held_since.or_else(|| Some(Instant::now())),
            };
            pipe.held = held;
        }
    }

    /// Writes `bytes` of `stream`, read now, as queued output is written.
    fn write_part(&mut self, service: ServiceId, stream: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let frame = Frame {
            service,
            stream,
            time_ms: format::millis(SystemTime::now()),
            bytes,
            credit: 0,
        };
        self.accept(&frame);
    }

    /// Grows the pipe in `slot` once (see [`BUSY_READ_BYTES`]).
    fn grow(&mut self, slot: usize) {
        if let Some(pipe) = self.pipes.get_mut(slot).and_then(Option::as_mut)
            && !pipe.grown
        {
            crate::sys::spawn::grow_pipe(pipe.pipe.as_fd(), BUSY_PIPE_BYTES);
            pipe.grown = true;
        }
    }

    /// The file cannot be written: reads some of the pipe's bytes and drops them, counted.
    fn drop_step(&mut self, slot: usize, service: ServiceId) -> Step {
        // What was held back is lost with the rest.
        self.release(slot);
        let Some(pipe) = &self.pipes[slot] else {
            return Step::Ended;
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(CUT_WINDOW, 0);
        let step = match pipes::read_now(pipe.pipe.as_fd(), &mut scratch) {
            Ok(0) => Step::Ended,
            Ok(n) => {
                self.shared
                    .count_dropped(service, line_count(&scratch[..n]));
                Step::Took(n)
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Step::Empty,
            Err(_) => Step::Ended,
        };
        self.scratch = scratch;
        step
    }

    /// Counts `n` bytes of `stream` spliced to the end of the service's file just now, with an
    /// index record unless they continue the file's last one.
    fn account(&mut self, service: ServiceId, stream: Stream, n: usize) {
        let time_ms = format::millis(SystemTime::now());
        let state = &mut self.services[service];
        let Some(file) = &mut state.file else {
            return;
        };
        if state.last_record != Some((stream, time_ms)) {
            let record = Record {
                offset: file.size,
                time_ms,
                stream,
            };
            state.records.extend_from_slice(&record.encode());
            state.last_record = Some((stream, time_ms));
        }
        file.size += n as u64;
        if state.records.is_empty() {
            // They continue a record already in the index: complete now. (With a record
            // pending, the flush that writes it completes them.)
            crate::mutex::lock(&self.files[service]).committed = file.size;
            self.changed = true;
        }
        state.position = state
            .position
            .saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
        self.disk_total += n as u64;
        self.counters[service]
            .bytes_written
            .fetch_add(n as u64, Ordering::Relaxed);
        #[cfg(test)]
        self.shared.spliced.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// What one step of a pipe did.
enum Step {
    Took(usize),
    Empty,
    Ended,
}
