//! The hand-over from the store to the writer thread: one buffer of output as it goes to the
//! files, framed by service, stream and time, behind one mutex.
//!
//! The caller copies output (a line, or a read that is not valid UTF-8) straight into the
//! buffer, or, for the output of a chunk (the supervisor's copy of a read), adds a frame that
//! refers to the chunk (`push_shared`): no copy. The writer takes the whole buffer (and the
//! chunks referred to) at once in exchange for an empty one, so the bytes travel between cores
//! in bulk. The writer is woken only when it sleeps waiting for work, so a steady stream costs
//! no syscall per chunk on either side. Consecutive chunks of one service, stream and millisecond share a frame of up
//! to [`FRAME_BYTES`] (the writer makes one index record per frame), which also sets how
//! finely the writer gives credit back.
//!
//! This owns the buffer and its framing only; the credit that bounds it is the store's.

use std::sync::{Condvar, Mutex, PoisonError};

use tokio::sync::oneshot;

use std::sync::Arc;

use crate::logs::chunk::StoredChunk;
use crate::logs::{LogLine, Stream};
use crate::mutex::lock;
use crate::spec::ServiceId;

/// `service, length, credit, stream` (each a little-endian `u32`), `time_ms` (`u64`), and for a
/// frame whose bytes are a shared chunk's output rather than inline, `shared, start` (`u32`).
pub(crate) const FRAME_HEADER: usize = 32;

/// `shared` of a frame whose bytes follow its header.
const INLINE: u32 = u32::MAX;

/// A frame is not extended past this many bytes.
const FRAME_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct Queue {
    pending: Mutex<Pending>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Chunks whose output frames refer to (by index), so that it is not copied.
    shared: Vec<Arc<StoredChunk>>,
    /// Where the last frame starts and what it holds, so the next chunk may extend it.
    last_frame: Option<(usize, FrameKey)>,
    flushes: Vec<oneshot::Sender<()>>,
    closed: bool,
    writer_waiting: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameKey {
    service: ServiceId,
    stream: Stream,
    time_ms: u64,
}

/// What the writer takes in one go.
pub(crate) struct Batch {
    pub(crate) bytes: Vec<u8>,
    pub(crate) shared: Vec<Arc<StoredChunk>>,
    /// Answer these once everything in `bytes` is written.
    pub(crate) flushes: Vec<oneshot::Sender<()>>,
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

/// The bytes a line adds to its file: its text, and a newline unless it is partial.
pub(crate) fn line_bytes(line: &LogLine) -> usize {
    line.text.len() + usize::from(!line.partial)
}

impl Queue {
    /// Appends `line` (whose `credit` was taken) as its file will hold it.
    pub(crate) fn push_line(&self, line: &LogLine, time_ms: u64, credit: usize) {
        let key = FrameKey {
            service: line.service,
            stream: line.stream,
            time_ms,
        };
        self.append(key, credit, |bytes| {
            bytes.extend_from_slice(line.text.as_bytes());
            if !line.partial {
                bytes.push(b'\n');
            }
        });
    }

    /// Appends `output` of `service` (whose `credit` was taken), read from `stream` at
    /// `time_ms`.
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
        self.append(key, credit, |bytes| bytes.extend_from_slice(output));
    }

    /// Appends the output of `chunk` (whose `credit` was taken) in a frame of its own that
    /// refers to it: no copy.
    pub(crate) fn push_shared(&self, chunk: Arc<StoredChunk>, credit: usize) {
        let length = chunk.output().len();
        let (Ok(service), Ok(length), Ok(credit)) = (
            u32::try_from(chunk.service),
            u32::try_from(length),
            u32::try_from(credit),
        ) else {
            return;
        };
        let mut pending = lock(&self.pending);
        let Ok(index) = u32::try_from(pending.shared.len()) else {
            return;
        };
        let Pending {
            bytes,
            last_frame,
            shared,
            writer_waiting,
            ..
        } = &mut *pending;
        let start = bytes.len();
        bytes.extend_from_slice(&[0; FRAME_HEADER]);
        write_u32(bytes, start, service);
        write_u32(bytes, start + 4, length);
        write_u32(bytes, start + 8, credit);
        write_u32(bytes, start + 12, u32::from(chunk.stream == Stream::Stderr));
        if let Some(field) = bytes.get_mut(start + 16..start + 24) {
            field.copy_from_slice(&crate::logs::format::millis(chunk.time).to_le_bytes());
        }
        write_u32(bytes, start + 24, index);
        shared.push(chunk);
        // Nothing may be added to a shared frame.
        *last_frame = None;
        let wake = std::mem::take(writer_waiting);
        drop(pending);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Appends bytes made by `write`: into the open frame when it is the last one, of the same
    /// service, stream and millisecond, and not full, else into a new frame; then counts them
    /// in the frame header and wakes the writer if it waits.
    fn append(&self, key: FrameKey, credit: usize, write: impl FnOnce(&mut Vec<u8>)) {
        let (Ok(service_u32), Ok(credit)) = (u32::try_from(key.service), u32::try_from(credit))
        else {
            return;
        };
        let mut pending = lock(&self.pending);
        let Pending {
            bytes,
            last_frame,
            writer_waiting,
            ..
        } = &mut *pending;
        let frame = match *last_frame {
            Some((start, open)) if open == key && bytes.len() - start < FRAME_BYTES => start,
            _ => {
                let start = bytes.len();
                bytes.extend_from_slice(&[0; FRAME_HEADER]);
                write_u32(bytes, start, service_u32);
                write_u32(bytes, start + 12, u32::from(key.stream == Stream::Stderr));
                write_u32(bytes, start + 24, INLINE);
                if let Some(field) = bytes.get_mut(start + 16..start + 24) {
                    field.copy_from_slice(&key.time_ms.to_le_bytes());
                }
                *last_frame = Some((start, key));
                start
            }
        };
        let before = bytes.len();
        write(bytes);
        let added = bytes.len() - before;
        // A frame stays below FRAME_BYTES plus one chunk, which is far below u32::MAX.
        add_u32(bytes, frame + 4, u32::try_from(added).unwrap_or(u32::MAX));
        add_u32(bytes, frame + 8, credit);
        let wake = std::mem::take(writer_waiting);
        drop(pending);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Asks the writer to answer on `reply` once everything queued so far is written.
    pub(crate) fn request_flush(&self, reply: oneshot::Sender<()>) {
        let mut pending = lock(&self.pending);
        pending.flushes.push(reply);
        self.wake_writer(pending);
    }

    /// Tells the writer to finish what is queued and stop.
    pub(crate) fn close(&self) {
        let mut pending = lock(&self.pending);
        pending.closed = true;
        self.wake_writer(pending);
    }

    /// For the writer: waits until there is something to do, then takes it all, leaving
    /// `spare` (an empty buffer, reused to avoid allocating) in its place.
    pub(crate) fn take(&self, spare: Vec<u8>) -> Batch {
        let mut pending = lock(&self.pending);
        while pending.bytes.is_empty() && pending.flushes.is_empty() && !pending.closed {
            pending.writer_waiting = true;
            pending = self
                .wake
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        pending.writer_waiting = false;
        pending.last_frame = None;
        Batch {
            bytes: std::mem::replace(&mut pending.bytes, spare),
            shared: std::mem::take(&mut pending.shared),
            flushes: std::mem::take(&mut pending.flushes),
            closed: pending.closed,
        }
    }

    fn wake_writer(&self, mut pending: std::sync::MutexGuard<'_, Pending>) {
        let wake = std::mem::take(&mut pending.writer_waiting);
        drop(pending);
        if wake {
            self.wake.notify_one();
        }
    }
}

/// The frames of a batch, in order. Stops at anything malformed (which `append` never writes).
pub(crate) fn frames(batch: &Batch) -> impl Iterator<Item = Frame<'_>> {
    let mut rest = batch.bytes.as_slice();
    std::iter::from_fn(move || {
        let header = rest.get(..FRAME_HEADER)?;
        let field = |at: usize| read_u32(header, at) as usize;
        let length = field(4);
        let (bytes, used) = match read_u32(header, 24) {
            INLINE => (rest.get(FRAME_HEADER..FRAME_HEADER + length)?, length),
            index => (batch.shared.get(index as usize)?.output(), 0),
        };
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
        rest = &rest[FRAME_HEADER + used..];
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

    fn line(service: ServiceId, text: &str, partial: bool) -> LogLine {
        LogLine {
            time: std::time::UNIX_EPOCH,
            service,
            stream: Stream::Stdout,
            text: text.to_string(),
            partial,
        }
    }

    fn line_credit(line: &LogLine) -> usize {
        credit(line_bytes(line))
    }

    #[test]
    fn consecutive_output_of_a_service_stream_and_millisecond_shares_a_frame() {
        let queue = Queue::default();
        let lines = [
            line(0, "a", false),
            line(0, "b\nc", false),
            line(1, "d", false),
            line(0, "e", true),
        ];
        for line in &lines {
            queue.push_line(line, 7, line_credit(line));
        }
        queue.push_bytes(0, Stream::Stdout, 7, b"f\n", credit(2));
        queue.push_bytes(0, Stream::Stderr, 7, b"g\n", credit(2));
        queue.push_bytes(0, Stream::Stderr, 8, b"h", credit(1));
        let mut chunk = crate::logs::LogChunk::default();
        let start = chunk.push_text("shared\n");
        chunk.mark_output(start);
        let stored = StoredChunk::take(std::time::UNIX_EPOCH, 2, Stream::Stdout, &mut chunk);
        queue.push_shared(stored, credit(7));
        queue.push_bytes(2, Stream::Stdout, 0, b"i\n", credit(2));
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
                (2, Stream::Stdout, 0, b"shared\n"),
                (2, Stream::Stdout, 0, b"i\n"),
            ]
        );
        // The credit covers the bytes exactly, or more.
        let total: usize = frames.iter().map(|frame| frame.credit).sum();
        assert!(total >= batch.bytes.len());
        // Every frame's bytes follow its header, but the shared one's.
        assert_eq!(
            frames.iter().map(|frame| frame.bytes.len()).sum::<usize>() + 7 * FRAME_HEADER
                - "shared\n".len(),
            batch.bytes.len()
        );
    }

    #[test]
    fn malformed_batches_end_the_frames_quietly() {
        let batch = |bytes: Vec<u8>| Batch {
            bytes,
            shared: Vec::new(),
            flushes: Vec::new(),
            closed: false,
        };
        assert_eq!(frames(&batch(vec![1, 2, 3])).count(), 0);
        let mut bytes = vec![0u8; FRAME_HEADER];
        write_u32(&mut bytes, 4, 1000);
        write_u32(&mut bytes, 24, INLINE);
        assert_eq!(frames(&batch(bytes.clone())).count(), 0);
        // A shared frame that refers to no chunk.
        write_u32(&mut bytes, 24, 3);
        assert_eq!(frames(&batch(bytes)).count(), 0);
    }
}
