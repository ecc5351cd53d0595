//! The hand-over from the store to the writer thread: one buffer of records already encoded in
//! the file format, framed by service, behind one mutex.
//!
//! The caller encodes a line straight into the buffer (a cached timestamp and a copy of the
//! text), so nothing made per line crosses threads: the writer takes the whole buffer at once
//! in exchange for an empty one, and the bytes travel between cores in bulk. The writer is
//! woken only when it sleeps waiting for work, so a steady stream of lines costs no syscall
//! per line on either side. Consecutive lines of one service share a frame of up to
//! [`FRAME_BYTES`], which also sets how finely the writer gives credit back.
//!
//! This owns the buffer and its framing only; the credit that bounds it is the store's.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::SystemTime;

use tokio::sync::oneshot;

use crate::logs::format::{self, Clock};
use crate::logs::writer::lock;
use crate::logs::{LogLine, Stream};
use crate::spec::ServiceId;

/// `service, length, records, credit`, each a little-endian `u32`.
pub(crate) const FRAME_HEADER: usize = 16;

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
    /// Where the last frame starts and whose it is, so the next line may extend it.
    last_frame: Option<(usize, ServiceId)>,
    clock: Clock,
    flushes: Vec<oneshot::Sender<()>>,
    closed: bool,
    writer_waiting: bool,
}

/// What the writer takes in one go.
pub(crate) struct Batch {
    pub(crate) bytes: Vec<u8>,
    /// Answer these once everything in `bytes` is written.
    pub(crate) flushes: Vec<oneshot::Sender<()>>,
    /// The store is gone: write `bytes` and stop.
    pub(crate) closed: bool,
}

/// One service's run of records in a batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) service: ServiceId,
    pub(crate) records: &'a [u8],
    pub(crate) record_count: u64,
    pub(crate) credit: usize,
}

/// The credit a line takes in the queue: exactly its bytes there, counting a frame header as
/// if it started a frame of its own.
pub(crate) fn line_credit(line: &LogLine) -> usize {
    FRAME_HEADER + format::encoded_len(line)
}

impl Queue {
    /// Encodes `line` (whose `credit` was taken) at the end of the buffer.
    pub(crate) fn push(&self, line: &LogLine, credit: usize) {
        self.append(line.service, credit, |clock, bytes| {
            format::encode(clock, line, bytes)
        });
    }

    /// Encodes `lines` of `text` (see [`crate::logs::chunk::lines`], starting at `start`), all
    /// at `time`, at the end of the buffer; their `credit` was taken.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_lines(
        &self,
        service: ServiceId,
        stream: Stream,
        time: SystemTime,
        text: &str,
        lines: &[(usize, bool)],
        start: usize,
        credit: usize,
    ) {
        self.append(service, credit, |clock, bytes| {
            let timestamp = clock.timestamp(time);
            bytes.reserve(credit);
            format::encode_lines(&timestamp, stream, text, lines, start, bytes)
        });
    }

    /// Appends records of `service` made by `encode` (which returns how many it wrote): into
    /// the service's open frame when it is the last one and not full, else into a new frame;
    /// then counts them in the frame header and wakes the writer if it waits.
    fn append(
        &self,
        service: ServiceId,
        credit: usize,
        encode: impl FnOnce(&mut Clock, &mut Vec<u8>) -> usize,
    ) {
        let (Ok(service_u32), Ok(credit)) = (u32::try_from(service), u32::try_from(credit)) else {
            return;
        };
        let mut pending = lock(&self.pending);
        let Pending {
            bytes,
            last_frame,
            clock,
            writer_waiting,
            ..
        } = &mut *pending;
        let frame = match *last_frame {
            Some((start, owner)) if owner == service && bytes.len() - start < FRAME_BYTES => start,
            _ => {
                let start = bytes.len();
                bytes.extend_from_slice(&[0; FRAME_HEADER]);
                write_u32(bytes, start, service_u32);
                *last_frame = Some((start, service));
                start
            }
        };
        let before = bytes.len();
        let records = encode(clock, bytes);
        let added = bytes.len() - before;
        // A frame stays below FRAME_BYTES plus one read, which is far below u32::MAX.
        add_u32(bytes, frame + 4, u32::try_from(added).unwrap_or(u32::MAX));
        add_u32(bytes, frame + 8, u32::try_from(records).unwrap_or(u32::MAX));
        add_u32(bytes, frame + 12, credit);
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

/// The frames of a batch, in order. Stops at anything malformed (which `push` never writes).
pub(crate) fn frames(bytes: &[u8]) -> impl Iterator<Item = Frame<'_>> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let header = rest.get(..FRAME_HEADER)?;
        let field = |at: usize| read_u32(header, at) as usize;
        let length = field(4);
        let records = rest.get(FRAME_HEADER..FRAME_HEADER + length)?;
        let frame = Frame {
            service: field(0),
            records,
            record_count: field(8) as u64,
            credit: field(12),
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
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::logs::Stream;

    fn line(service: ServiceId, text: &str) -> LogLine {
        LogLine {
            time: UNIX_EPOCH,
            service,
            stream: Stream::Stdout,
            text: text.to_string(),
            partial: false,
        }
    }

    #[test]
    fn consecutive_lines_of_a_service_share_a_frame() {
        let queue = Queue::default();
        let lines = [line(0, "a"), line(0, "b\nc"), line(1, "d"), line(0, "e")];
        for line in &lines {
            queue.push(line, line_credit(line));
        }
        let batch = queue.take(Vec::new());
        let frames: Vec<Frame<'_>> = frames(&batch.bytes).collect();
        let summary: Vec<(ServiceId, u64, usize)> = frames
            .iter()
            .map(|frame| (frame.service, frame.record_count, frame.credit))
            .collect();
        let credit = |text: &str| line_credit(&line(0, text));
        assert_eq!(
            summary,
            [
                (0, 3, credit("a") + credit("b\nc")),
                (1, 1, credit("d")),
                (0, 1, credit("e")),
            ]
        );
        assert_eq!(
            String::from_utf8_lossy(frames[0].records),
            "1970-01-01T00:00:00.000Z o a\n1970-01-01T00:00:00.000Z o b\n\
             1970-01-01T00:00:00.000Z o c\n"
        );
        // The credit covers the bytes exactly, or more.
        let total: usize = frames.iter().map(|frame| frame.credit).sum();
        assert!(total >= batch.bytes.len());
        assert_eq!(
            frames
                .iter()
                .map(|frame| frame.records.len())
                .sum::<usize>()
                + 3 * FRAME_HEADER,
            batch.bytes.len()
        );
    }

    #[test]
    fn malformed_batches_end_the_frames_quietly() {
        assert_eq!(frames(&[1, 2, 3]).count(), 0);
        let mut bytes = vec![0u8; FRAME_HEADER];
        write_u32(&mut bytes, 4, 1000);
        assert_eq!(frames(&bytes).count(), 0);
    }
}
