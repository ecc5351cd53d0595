//! Reading a service's output: one reader per pipe until end-of-file, framing lines with a hard
//! length bound (`lines.rs`) for the observer while it `wants_output` or a log probe waits, and
//! handing each read to the log store as it is; a pipe found full is grown. With a log store (the
//! daemon), a pipe whose lines nobody wants is handed over to the store's writer, which moves its
//! bytes to the file inside the kernel: at once for most services once the CLI has detached, and
//! after its log probe matched for a service that has one. [`OutputDrained`] lets the end of an
//! instance wait until its output has been taken to the end of file, by a reader or the writer.

use std::cell::{Cell, RefCell};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::logs::LogStore;
use crate::spec::ReadyCheck;
use crate::stream::Stream;
use crate::supervisor::engine::Input;
use crate::supervisor::event::InstanceId;
use crate::supervisor::lines::LineSplitter;

use super::system::System;
use super::{Message, Observer, Runtime};

impl<S: System> Runtime<S> {
    /// Starts a reader on each of an instance's output pipes (a new one's, or an adopted one's
    /// held by the sentinel), sharing its log probe's pattern and match; returns what resolves
    /// once both have reached end-of-file.
    pub(super) fn read_output(
        &mut self,
        instance: InstanceId,
        generation: u64,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
    ) -> OutputDrained {
        let ready = self.spec.services[instance.service].ready.as_ref();
        let log_pattern = match ready.map(|probe| &probe.check) {
            Some(ReadyCheck::Log { pattern }) => Some(pattern.clone()),
            _ => None,
        };
        let log_matched = Rc::new(Cell::new(false));
        let (output_open, output_drained) = output_tracker();
        self.readers.retain(|reader| !reader.is_finished());
        for (fd, stream) in [(stdout, Stream::Stdout), (stderr, Stream::Stderr)] {
            let Some(fd) = fd else { continue };
            let reader = OutputReader {
                instance,
                generation,
                stream,
                observer: Rc::clone(&self.observer),
                log_pattern: log_pattern.clone(),
                log_matched: Rc::clone(&log_matched),
                sender: self.sender.clone(),
                _open: output_open.clone(),
                log_store: self.settings.log_store.clone(),
                buffer: Rc::clone(&self.read_buffer),
            };
            self.readers.push(tokio::task::spawn_local(reader.run(fd)));
        }
        output_drained
    }
}

/// Longest line kept whole; longer lines are passed on in pieces (a service printing megabytes
/// without a newline must not grow wrangle's memory).
const MAX_LINE: usize = 16 * 1024;
/// The size of the one read buffer all output readers share: a quarter of a grown pipe
/// ([`BUSY_PIPE_BYTES`]), so that a busy service is read in few, large reads. Its pages are only
/// touched (resident) as far as reads have ever filled them.
pub(super) const READ_BUFFER: usize = 256 * 1024;
/// A pipe's capacity until it is grown: a read this large found the pipe full.
const DEFAULT_PIPE_BYTES: usize = 64 * 1024;
/// The pipe buffer of a service that fills its pipe (see `sys::spawn::grow_pipe`): the default
/// `/proc/sys/fs/pipe-max-size`. Pipe pages are only used while they hold unread output.
const BUSY_PIPE_BYTES: usize = 1024 * 1024;
/// A partial line is shown after this long without its newline (prompts, progress output).
const PARTIAL_LINE_DELAY: Duration = Duration::from_millis(100);
/// How long the end of an instance waits for its output readers to reach end-of-file.
pub(super) const OUTPUT_DRAIN_LIMIT: Duration = Duration::from_millis(250);

/// Reads one output pipe of a service until end-of-file (which may be long after the leader
/// exited, when a daemonized child keeps the pipe).
pub(super) struct OutputReader {
    pub(super) instance: InstanceId,
    pub(super) generation: u64,
    pub(super) stream: Stream,
    pub(super) observer: Rc<dyn Observer>,
    pub(super) log_pattern: Option<regex::Regex>,
    pub(super) log_matched: Rc<Cell<bool>>,
    pub(super) sender: mpsc::UnboundedSender<Message>,
    /// Dropped when the reader ends: the instance's end waits for every reader's (see
    /// [`OutputDrained`]).
    pub(super) _open: OutputOpen,
    pub(super) log_store: Option<Arc<LogStore>>,
    /// The read buffer, shared by every reader of the run: reads never overlap on this thread,
    /// and one buffer instead of one per pipe keeps the daemon small with many services.
    pub(super) buffer: Rc<RefCell<Vec<u8>>>,
}

/// Held by each output reader of an instance until it ends (see [`OutputDrained`]).
#[derive(Clone)]
pub(super) struct OutputOpen {
    _sender: mpsc::Sender<()>,
}

/// Lets the end of an instance wait until its output has been read to the end, so a service's
/// last lines come before "exited", and a start-up failure report can show them.
pub(super) struct OutputDrained(mpsc::Receiver<()>);

/// A new instance's pair: an [`OutputOpen`] for each of its readers, and the [`OutputDrained`]
/// that resolves when they have all ended.
pub(super) fn output_tracker() -> (OutputOpen, OutputDrained) {
    let (open, drained) = mpsc::channel(1);
    (OutputOpen { _sender: open }, OutputDrained(drained))
}

impl OutputDrained {
    /// Whether every reader has already reached end-of-file.
    pub(super) fn is_done(&mut self) -> bool {
        matches!(
            self.0.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        )
    }

    /// Once every process is gone every pipe is at end-of-file, so this is quick; it is bounded
    /// anyway, in case a pipe was passed to a process outside the service.
    pub(super) async fn wait(mut self) {
        let _ = tokio::time::timeout(OUTPUT_DRAIN_LIMIT, self.0.recv()).await;
    }
}

impl OutputReader {
    pub(super) async fn run(self, fd: OwnedFd) {
        if self.hands_over() {
            self.hand_over(fd);
            return;
        }
        let Ok(pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
            return;
        };
        let mut splitter = LineSplitter::new(MAX_LINE);
        // Output the log store had no room for at once: a copy of the read, so that waiting for
        // room does not hold the shared buffer (only while the writer lags behind).
        let mut unqueued = Vec::new();
        let mut grown = false;
        loop {
            if self.hands_over() {
                // Lines are no longer wanted (the log probe matched, the CLI detached): what was
                // read is queued, and the writer reads the rest.
                if let Ok(fd) = pipe.into_nonblocking_fd() {
                    self.hand_over(fd);
                }
                return;
            }
            let readable = if splitter.has_pending() {
                match tokio::time::timeout(PARTIAL_LINE_DELAY, pipe.readable()).await {
                    Ok(readable) => readable,
                    Err(_) => {
                        let per_line = self.wants_lines();
                        splitter.flush(|line, partial| self.line(line, partial, per_line));
                        continue;
                    }
                }
            } else {
                pipe.readable().await
            };
            if readable.is_err() {
                break;
            }
            // The read itself is synchronous, so every reader can use the one shared buffer.
            let read = pipe.try_read(&mut self.buffer.borrow_mut());
            match read {
                Ok(0) => break,
                Ok(n) => {
                    if n >= DEFAULT_PIPE_BYTES && !grown {
                        // A full read: this service writes a lot. A bigger pipe lets it go on
                        // writing while we read, instead of waiting for every read.
                        crate::sys::spawn::grow_pipe(&pipe, BUSY_PIPE_BYTES);
                        grown = true;
                    }
                    let per_line = self.wants_lines();
                    let buffer = self.buffer.borrow();
                    let output = &buffer[..n];
                    splitter.push(output, |line, partial| self.line(line, partial, per_line));
                    if let Some(store) = &self.log_store {
                        let time = SystemTime::now();
                        if !store.try_append_output(
                            self.instance.service,
                            self.stream,
                            time,
                            output,
                        ) {
                            unqueued.extend_from_slice(output);
                        }
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => break,
            }
            self.store(&mut unqueued).await;
        }
        let per_line = self.wants_lines();
        splitter.flush(|line, partial| self.line(line, partial, per_line));
        self.store(&mut unqueued).await;
    }

    /// Whether the log store's writer should read this pipe instead: there is a store (the
    /// daemon) and nobody needs the lines one by one now. Its bytes then go to the file inside
    /// the kernel, never through this thread.
    fn hands_over(&self) -> bool {
        self.log_store.is_some() && !self.wants_lines()
    }

    /// Gives the pipe to the log store's writer, with this reader's [`OutputOpen`]: the end of
    /// the instance then waits for the writer to reach the pipe's end.
    fn hand_over(self, fd: OwnedFd) {
        if let Some(store) = &self.log_store {
            store.adopt_pipe(self.instance.service, self.stream, fd, Box::new(self._open));
        }
    }

    /// Hands the output the log store had no room for to its file, waiting for room: the
    /// store's queue is bounded, so the pipe is then not read, and a service writing faster
    /// than the disk slows down to disk speed instead of growing wrangle's memory.
    async fn store(&self, unqueued: &mut Vec<u8>) {
        let Some(store) = &self.log_store else {
            return;
        };
        if unqueued.is_empty() {
            return;
        }
        let time = SystemTime::now();
        store
            .append_output(self.instance.service, self.stream, time, unqueued)
            .await;
        unqueued.clear();
    }

    /// Whether lines must be looked at one by one now: shown, or matched by the log probe.
    fn wants_lines(&self) -> bool {
        let probing = self.log_pattern.is_some() && !self.log_matched.get();
        probing || self.observer.wants_output(self.instance.service)
    }

    fn line(&self, line: &[u8], partial: bool, per_line: bool) {
        if !per_line {
            return;
        }
        self.observer
            .output(self.instance, self.stream, line, partial);
        let matched = match &self.log_pattern {
            Some(pattern) if !self.log_matched.get() => {
                pattern.is_match(&String::from_utf8_lossy(line))
            }
            _ => false,
        };
        if matched {
            self.log_matched.set(true);
            let message = Input::ProbePassed {
                service: self.instance.service,
                generation: self.generation,
            };
            let _ = self.sender.send(Message::Engine(message));
        }
    }
}
