//! The hand-over from the store to the writer thread: one buffer of output as it goes to the
//! files, framed by service, stream and time, and pipes handed over whole, behind one mutex.
//!
//! The caller copies output (a read of a pipe the supervisor still reads itself) straight into
//! the buffer. The writer takes the whole buffer at once in exchange for an empty one, so the
//! bytes travel between cores in bulk. The writer is woken (its [`Waker`], which its poll waits
//! on beside the pipes it reads) only when it sleeps waiting for work, so a steady stream costs
//! no syscall per read on either side. Consecutive reads of one service, stream and millisecond
//! share a frame of up to [`FRAME_BYTES`] (the writer makes one index record per frame), which
//! also sets how finely the writer gives credit back. A pipe handed over comes after the output
//! queued before it, so each stream's bytes stay in order.
//!
//! This owns the buffer and its framing only; the credit that bounds it is the store's.

use std::io;
use std::os::fd::OwnedFd;

use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::logs::Stream;
use crate::mutex::lock;
use crate::spec::ServiceId;
use crate::sys::pipes::Waker;

/// `service, length, credit, stream` (each a little-endian `u32`), then `time_ms` (`u64`).
pub(crate) const FRAME_HEADER: usize = 24;

/// A frame is not extended past this many bytes.
const FRAME_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct Queue {
    pending: Mutex<Pending>,
    waker: Waker,
}

#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Where the last frame starts and what it holds, so the next output may extend it.
    last_frame: Option<(usize, FrameKey)>,
    pipes: Vec<Adopted>,
    flushes: Vec<oneshot::Sender<()>>,
    clears: Vec<ClearRequest>,
    closed: bool,
    writer_waiting: bool,
}

/// A request to empty services' files (`wrangle flush`): the services (indexes of the store),
/// and where to answer with what was removed.
pub(crate) type ClearRequest = (Vec<ServiceId>, oneshot::Sender<Vec<Cleared>>);

/// What emptying one service's files removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleared {
    pub service: ServiceId,
    /// Log files removed or emptied (its current file counts as one).
    pub files: u32,
    /// Their bytes, indexes included.
    pub bytes: u64,
    /// Why some of it could not be removed, if so.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameKey {
    service: ServiceId,
    stream: Stream,
    time_ms: u64,
}

/// A pipe handed over to the writer (see `writer::pipes`).
pub(crate) struct Adopted {
    pub(crate) service: ServiceId,
    pub(crate) stream: Stream,
    pub(crate) pipe: OwnedFd,
    /// Dropped once the pipe has reached its end (or the writer let it go).
    pub(crate) _guard: Box<dyn Send>,
    /// The writer grew its buffer (it does once for a busy pipe).
    pub(crate) grown: bool,
    /// A line begun near the file's size limit, held back until its end (see
    /// `writer::pipes`), and since when.
    pub(crate) held: Vec<u8>,
    pub(crate) held_since: Option<std::time::Instant>,
}

impl std::fmt::Debug for Adopted {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Adopted")
            .field("service", &self.service)
            .field("stream", &self.stream)
            .field("pipe", &self.pipe)
            .finish_non_exhaustive()
    }
}

/// What the writer takes in one go.
pub(crate) struct Batch {
    pub(crate) bytes: Vec<u8>,
    /// Pipes to read from now on, after `bytes`.
    pub(crate) pipes: Vec<Adopted>,
    /// Answer these once everything in `bytes` is written.
    pub(crate) flushes: Vec<oneshot::Sender<()>>,
    /// Empty these services' files once everything in `bytes` is written.
    pub(crate) clears: Vec<ClearRequest>,
    /// The store is gone: write `bytes` and stop.
    pub(crate) closed: bool,
}

/// One service's output of one stream and millisecond in a batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) service: ServiceId,
    pub(crate) stream: Stream,
    pub(crate) time_ms: u64,
    pub(crate) bytes: &'a [u8],
    pub(crate) credit: usize,
}

/// The credit `bytes` of output take in the queue: exactly their bytes there, counting a frame
/// header as if they started a frame of their own.
pub(crate) fn credit(bytes: usize) -> usize {
    FRAME_HEADER + bytes
}

impl Queue {
    pub(crate) fn new() -> io::Result<Queue> {
        Ok(Queue {
            pending: Mutex::new(Pending::default()),
            waker: Waker::new()?,
        })
    }

    /// What wakes the writer: it polls this beside its pipes.
    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Appends `output` of `service` (whose `credit` was taken), read from `stream` at
    /// `time_ms`: into the open frame when it is the last one, of the same service, stream and
    /// millisecond, and not full, else into a new frame; wakes the writer if it waits.
    pub(crate) fn push_bytes(
        &self,
        service: ServiceId,
        stream: Stream,
        time_ms: u64,
        output: &[u8],
        credit: usize,
    ) {
        let key = FrameKey {
            service,
            stream,
            time_ms,
        };
        let (Ok(service_u32), Ok(credit)) = (u32::try_from(key.service), u32::try_from(credit))
        else {
            return;
        };
        let mut pending = lock(&self.pending);
        let Pending {
            bytes, last_frame, ..
        } = &mut *pending;
        let frame = match *last_frame {
            Some((start, open)) if open == key && bytes.len() - start < FRAME_BYTES => start,
            _ => {
                let start = bytes.len();
                bytes.extend_from_slice(&[0; FRAME_HEADER]);
                write_u32(bytes, start, service_u32);
                write_u32(bytes, start + 12, u32::from(key.stream == Stream::Stderr));
                if let Some(field) = bytes.get_mut(start + 16..start + 24) {
                    field.copy_from_slice(&key.time_ms.to_le_bytes());
                }
                *last_frame = Some((start, key));
                start
            }
        };
        bytes.extend_from_slice(output);
        // A frame stays below FRAME_BYTES plus one output, which is far below u32::MAX.
        add_u32(
            bytes,
            frame + 4,
            u32::try_from(output.len()).unwrap_or(u32::MAX),
        );
        add_u32(bytes, frame + 8, credit);
        self.wake_writer(pending);
    }

    /// Hands `pipe` over to the writer, after the output queued so far.
    pub(crate) fn adopt(&self, adopted: Adopted) {
        let mut pending = lock(&self.pending);
        pending.pipes.push(adopted);
        // Output queued after this is not the pipe's (its reader stopped), but it must not join
        // a frame the writer takes before the pipe: keep frames apart across a hand-over.
        pending.last_frame = None;
        self.wake_writer(pending);
    }

    /// Asks the writer to answer on `reply` once everything queued so far is written.
    pub(crate) fn request_flush(&self, reply: oneshot::Sender<()>) {
        let mut pending = lock(&self.pending);
        pending.flushes.push(reply);
        self.wake_writer(pending);
    }

    /// Asks the writer to empty the files of `services` once everything queued so far is
    /// written, and to answer on `reply`.
    pub(crate) fn request_clear(
        &self,
        services: Vec<ServiceId>,
        reply: oneshot::Sender<Vec<Cleared>>,
    ) {
        let mut pending = lock(&self.pending);
        pending.clears.push((services, reply));
        self.wake_writer(pending);
    }

    /// Tells the writer to finish what is queued and stop.
    pub(crate) fn close(&self) {
        let mut pending = lock(&self.pending);
        pending.closed = true;
        self.wake_writer(pending);
    }

    /// For the writer, before it sleeps: whether there is nothing to take (then it is marked
    /// waiting, and whoever queues something next wakes it).
    pub(crate) fn prepare_wait(&self) -> bool {
        let mut pending = lock(&self.pending);
        let idle = pending.bytes.is_empty()
            && pending.pipes.is_empty()
            && pending.flushes.is_empty()
            && pending.clears.is_empty()
            && !pending.closed;
        pending.writer_waiting = idle;
        idle
    }

    /// For the writer: takes everything queued (perhaps nothing), leaving `spare` (an empty
    /// buffer, reused to avoid allocating) in its place.
    pub(crate) fn take(&self, spare: Vec<u8>) -> Batch {
        let mut pending = lock(&self.pending);
        pending.writer_waiting = false;
        pending.last_frame = None;
        Batch {
            bytes: std::mem::replace(&mut pending.bytes, spare),
            pipes: std::mem::take(&mut pending.pipes),
            flushes: std::mem::take(&mut pending.flushes),
            clears: std::mem::take(&mut pending.clears),
            closed: pending.closed,
        }
    }

    fn wake_writer(&self, mut pending: std::sync::MutexGuard<'_, Pending>) {
        let wake = std::mem::take(&mut pending.writer_waiting);
        drop(pending);
        if wake {
            self.waker.wake();
        }
    }
}

/// The frames of a batch, in order. Stops at anything malformed (which `push_bytes` never
/// writes).
pub(crate) fn frames(batch: &Batch) -> impl Iterator<Item = Frame<'_>> {
    let mut rest = batch.bytes.as_slice();
    std::iter::from_fn(move || {
        let header = rest.get(..FRAME_HEADER)?;
        let field = |at: usize| read_u32(header, at) as usize;
        let length = field(4);
        let bytes = rest.get(FRAME_HEADER..FRAME_HEADER + length)?;
        let frame = Frame {
            service: field(0),
            stream: match field(12) {
                0 => Stream::Stdout,
                _ => Stream::Stderr,
            },
            time_ms: header
                .get(16..24)
                .and_then(|field| field.try_into().ok())
                .map_or(0, u64::from_le_bytes),
            bytes,
            credit: field(8),
        };
        rest = &rest[FRAME_HEADER + length..];
        Some(frame)
    })
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|field| field.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn write_u32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(field) = bytes.get_mut(at..at + 4) {
        field.copy_from_slice(&value.to_le_bytes());
    }
}

fn add_u32(bytes: &mut [u8], at: usize, value: u32) {
    let sum = read_u32(bytes, at).saturating_add(value);
    write_u32(bytes, at, sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_output_of_a_service_stream_and_millisecond_shares_a_frame() {
        let queue = Queue::new().unwrap();
        let push = |service, stream, time_ms, bytes: &[u8]| {
            queue.push_bytes(service, stream, time_ms, bytes, credit(bytes.len()));
        };
        push(0, Stream::Stdout, 7, b"a\n");
        push(0, Stream::Stdout, 7, b"b\nc\n");
        push(1, Stream::Stdout, 7, b"d\n");
        push(0, Stream::Stdout, 7, b"e");
        push(0, Stream::Stdout, 7, b"f\n");
        push(0, Stream::Stderr, 7, b"g\n");
        push(0, Stream::Stderr, 8, b"h");
        let (reader, _writer) = rustix::pipe::pipe().unwrap();
        queue.adopt(Adopted {
            service: 0,
            stream: Stream::Stderr,
            pipe: reader,
            _guard: Box::new(()),
            grown: false,
            held: Vec::new(),
            held_since: None,
        });
        // Not joined to the frame before the hand-over.
        push(0, Stream::Stderr, 8, b"i\n");
        assert!(!queue.prepare_wait());
        let batch = queue.take(Vec::new());
        let frames: Vec<Frame<'_>> = frames(&batch).collect();
        let summary: Vec<(ServiceId, Stream, u64, &[u8])> = frames
            .iter()
            .map(|frame| (frame.service, frame.stream, frame.time_ms, frame.bytes))
            .collect();
        assert_eq!(
            summary,
            [
                (0, Stream::Stdout, 7, &b"a\nb\nc\n"[..]),
                (1, Stream::Stdout, 7, b"d\n"),
                (0, Stream::Stdout, 7, b"ef\n"),
                (0, Stream::Stderr, 7, b"g\n"),
                (0, Stream::Stderr, 8, b"h"),
                (0, Stream::Stderr, 8, b"i\n"),
            ]
        );
        assert_eq!(batch.pipes.len(), 1);
        // The credit covers the bytes exactly, or more.
        let total: usize = frames.iter().map(|frame| frame.credit).sum();
        assert!(total >= batch.bytes.len());
        // Nothing left: the writer may sleep, and is woken by the next output.
        assert!(queue.prepare_wait());
        push(2, Stream::Stdout, 9, b"j\n");
        assert!(!queue.prepare_wait());
    }

    #[test]
    fn malformed_batches_end_the_frames_quietly() {
        let batch = |bytes: Vec<u8>| Batch {
            bytes,
            pipes: Vec::new(),
            flushes: Vec::new(),
            clears: Vec::new(),
            closed: false,
        };
        assert_eq!(frames(&batch(vec![1, 2, 3])).count(), 0);
        let mut bytes = vec![0u8; FRAME_HEADER];
        write_u32(&mut bytes, 4, 1000);
        assert_eq!(frames(&batch(bytes)).count(), 0);
    }
}
