//! Many lines of one stream at once: what the supervisor reads from a pipe in one go, appended
//! with [`crate::logs::LogStore::append_chunk`] for the cost of about one line, with no
//! allocation and no copy per line: a read that is valid UTF-8 is copied into the chunk once
//! ([`LogChunk::push_text`]) and its lines are only spans of it ([`LogChunk::push_span`]).
//!
//! This owns the layout only (one text, line spans); the store decides where lines go.

use std::sync::Arc;
use std::time::SystemTime;

use crate::logs::{MAX_PIECE_BYTES, Stream};
use crate::spec::ServiceId;

/// Lines of one stream, in order: one text (lossy UTF-8) and where each line is in it.
///
/// Reuse one between reads: [`LogChunk::clear`] keeps the capacity.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogChunk {
    text: String,
    lines: Vec<Span>,
    /// The part of `text` that is output exactly as read, for the file (see
    /// [`LogChunk::mark_output`]).
    output: std::ops::Range<usize>,
}

/// Where a line is in a chunk's text, and whether it ended without a newline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    end: usize,
    partial: bool,
}

impl LogChunk {
    /// Adds a line (without its newline; lossy UTF-8). A text longer than [`MAX_PIECE_BYTES`]
    /// becomes several lines, all but the last partial, cut at character boundaries, as
    /// [`crate::logs::LogStore::append`] would store it. A newline inside `line` is kept in
    /// the text, as with `append`.
    pub fn push(&mut self, line: &[u8], partial: bool) {
        match std::str::from_utf8(line) {
            Ok(text) => self.push_str(text, partial),
            Err(_) => self.push_str(&String::from_utf8_lossy(line), partial),
        }
    }

    fn push_str(&mut self, mut text: &str, partial: bool) {
        while text.len() > MAX_PIECE_BYTES {
            let mut cut = MAX_PIECE_BYTES;
            // A character is at most 4 bytes and MAX_PIECE_BYTES is larger: this stops above 0.
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            self.push_whole(&text[..cut], true);
            text = &text[cut..];
        }
        self.push_whole(text, partial);
    }

    fn push_whole(&mut self, text: &str, partial: bool) {
        let start = self.text.len();
        self.text.push_str(text);
        self.lines.push(Span {
            start,
            end: self.text.len(),
            partial,
        });
    }

    /// Appends `text` (a whole read, say) without making lines of it, and returns where it
    /// starts: lines in it are then added with [`LogChunk::push_span`], without a copy each.
    pub fn push_text(&mut self, text: &str) -> usize {
        let start = self.text.len();
        self.text.push_str(text);
        start
    }

    /// Says that the text from `start` (as returned by [`LogChunk::push_text`]) to its end is
    /// output exactly as read: [`crate::logs::LogStore::append_chunk`] then hands it to the
    /// file without a copy. Ignored if `start` is not in the text.
    pub fn mark_output(&mut self, start: usize) {
        if start <= self.text.len() {
            self.output = start..self.text.len();
        }
    }

    /// Adds the line `text[start..end]` of text added with [`LogChunk::push_text`]. Returns
    /// false, adding nothing, when that is not a line this can hold as it is (out of range, not
    /// at character boundaries, or longer than [`MAX_PIECE_BYTES`]): push it then.
    pub fn push_span(&mut self, start: usize, end: usize, partial: bool) -> bool {
        let fits = start <= end
            && end - start <= MAX_PIECE_BYTES
            && self.text.is_char_boundary(start)
            && self.text.is_char_boundary(end)
            && end <= self.text.len();
        if fits {
            self.lines.push(Span {
                start,
                end,
                partial,
            });
        }
        fits
    }

    /// Makes room for about `bytes` more bytes of text (lines of 100 bytes or so).
    pub fn reserve(&mut self, bytes: usize) {
        self.text.reserve(bytes);
        self.lines.reserve(bytes / 64);
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.lines.clear();
        self.output = 0..0;
    }

    /// No lines (there may still be output: see [`LogChunk::has_output`]).
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Output for the file was marked ([`LogChunk::mark_output`]).
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// The lines as `(text, partial)`.
    pub fn lines(&self) -> impl Iterator<Item = (&str, bool)> + '_ {
        self.lines.iter().map(|span| {
            let text = self.text.get(span.start..span.end).unwrap_or_default();
            (text, span.partial)
        })
    }
}

/// The output of a chunk as the writer takes it: shared with nobody now, but handed over by
/// reference (no copy), with its time and owner.
#[derive(Debug)]
pub(crate) struct StoredChunk {
    pub(crate) time: SystemTime,
    pub(crate) service: ServiceId,
    pub(crate) stream: Stream,
    text: String,
    output: std::ops::Range<usize>,
}

impl StoredChunk {
    /// Takes the text of `chunk` (leaving it empty, without capacity: no copy of the text).
    pub(crate) fn take(
        time: SystemTime,
        service: ServiceId,
        stream: Stream,
        chunk: &mut LogChunk,
    ) -> Arc<StoredChunk> {
        chunk.lines.clear();
        Arc::new(StoredChunk {
            time,
            service,
            stream,
            text: std::mem::take(&mut chunk.text),
            output: std::mem::replace(&mut chunk.output, 0..0),
        })
    }

    /// The output for the file (see [`LogChunk::mark_output`]).
    pub(crate) fn output(&self) -> &[u8] {
        self.text
            .as_bytes()
            .get(self.output.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_back_as_pushed_with_lossy_text_and_long_ones_cut() {
        let mut chunk = LogChunk::default();
        chunk.push(b"one", false);
        chunk.push(b"", false);
        chunk.push(b"bad \xff byte", true);
        let long = "\u{e9}".repeat(MAX_PIECE_BYTES); // 2 bytes each: cut at a boundary
        chunk.push(long.as_bytes(), false);
        let lines: Vec<(String, bool)> = chunk
            .lines()
            .map(|(text, partial)| (text.to_string(), partial))
            .collect();
        assert_eq!(
            lines[..3],
            [
                ("one".to_string(), false),
                (String::new(), false),
                ("bad \u{fffd} byte".to_string(), true),
            ]
        );
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[3].0.len(), MAX_PIECE_BYTES);
        assert!(lines[3].1);
        assert_eq!(lines[4].0.len(), MAX_PIECE_BYTES);
        assert!(!lines[4].1);
        assert_eq!(chunk.len(), 5);
        chunk.clear();
        assert!(chunk.is_empty());
        assert_eq!(chunk.lines().count(), 0);
    }

    #[test]
    fn spans_of_pushed_text_are_lines_without_a_copy_each() {
        let mut chunk = LogChunk::default();
        chunk.push(b"first", false);
        let start = chunk.push_text("ab\r\n\u{e9}t\u{e9}\nrest");
        assert!(chunk.push_span(start, start + 2, false));
        assert!(chunk.push_span(start + 4, start + 4 + 5, false));
        // Not at a character boundary, out of range, reversed: refused, nothing added.
        assert!(!chunk.push_span(start + 5, start + 7, false));
        assert!(!chunk.push_span(start, start + 100, false));
        assert!(!chunk.push_span(start + 2, start + 1, false));
        chunk.push(b"rest", true);
        let lines: Vec<(&str, bool)> = chunk.lines().collect();
        assert_eq!(
            lines,
            [
                ("first", false),
                ("ab", false),
                ("\u{e9}t\u{e9}", false),
                ("rest", true)
            ]
        );
        chunk.mark_output(start);
        let stored = StoredChunk::take(SystemTime::UNIX_EPOCH, 0, Stream::Stdout, &mut chunk);
        assert_eq!(stored.output(), "ab\r\n\u{e9}t\u{e9}\nrestrest".as_bytes());
        assert!(chunk.is_empty());
    }
}
