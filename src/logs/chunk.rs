//! Many lines of one stream at once: what the supervisor reads from a pipe in one go, appended
//! with [`crate::logs::LogStore::append_chunk`] for the cost of about one line, with no
//! allocation per line.
//!
//! This owns the layout only (one text, line ends); the store decides where lines go.

use std::sync::Arc;
use std::time::SystemTime;

use crate::logs::{LogLine, MAX_PIECE_BYTES, Stream};
use crate::spec::ServiceId;

/// Lines of one stream, in order: one text (lossy UTF-8) and where each line ends in it.
///
/// Reuse one between reads: [`LogChunk::clear`] keeps the capacity.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogChunk {
    text: String,
    /// The end of each line in `text` and whether it ended without a newline.
    ends: Vec<(usize, bool)>,
}

impl LogChunk {
    /// Adds a line (without its newline; lossy UTF-8). A text longer than [`MAX_PIECE_BYTES`]
    /// becomes several lines, all but the last partial, cut at character boundaries, as
    /// [`crate::logs::LogStore::append`] would store it. A newline inside `line` is kept in
    /// the text: the file then shows several records, the tail one line, as with `append`.
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
            self.text.push_str(&text[..cut]);
            self.ends.push((self.text.len(), true));
            text = &text[cut..];
        }
        self.text.push_str(text);
        self.ends.push((self.text.len(), partial));
    }

    /// Makes room for about `bytes` more bytes of text (lines of 100 bytes or so).
    pub fn reserve(&mut self, bytes: usize) {
        self.text.reserve(bytes);
        self.ends.reserve(bytes / 64);
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The lines as `(text, partial)`.
    pub fn lines(&self) -> impl Iterator<Item = (&str, bool)> + '_ {
        lines(&self.text, &self.ends)
    }
}

/// The lines of `text` as `(text, partial)` given their ends.
pub(crate) fn lines<'a>(
    text: &'a str,
    ends: &'a [(usize, bool)],
) -> impl Iterator<Item = (&'a str, bool)> + 'a {
    let mut start = 0;
    ends.iter().map(move |&(end, partial)| {
        let line = text.get(start..end).unwrap_or_default();
        start = end;
        (line, partial)
    })
}

/// A chunk as the tail keeps it: shared, with its time and owner.
#[derive(Debug)]
pub(crate) struct StoredChunk {
    pub(crate) time: SystemTime,
    pub(crate) service: ServiceId,
    pub(crate) stream: Stream,
    pub(crate) text: String,
    /// Line `i` is `text[ends[i - 1].0..ends[i].0]` (from 0 for the first).
    pub(crate) ends: Vec<(usize, bool)>,
}

impl StoredChunk {
    /// Takes the lines of `chunk` (leaving it empty, without capacity: no copy of the text).
    pub(crate) fn take(
        time: SystemTime,
        service: ServiceId,
        stream: Stream,
        chunk: &mut LogChunk,
    ) -> Arc<StoredChunk> {
        Arc::new(StoredChunk {
            time,
            service,
            stream,
            text: std::mem::take(&mut chunk.text),
            ends: std::mem::take(&mut chunk.ends),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The length of line `index`'s text.
    pub(crate) fn line_len(&self, index: usize) -> usize {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before].0);
        self.ends[index].0 - start
    }

    /// Line `index` as a [`LogLine`].
    pub(crate) fn line(&self, index: usize) -> LogLine {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before].0);
        let (end, partial) = self.ends[index];
        LogLine {
            time: self.time,
            service: self.service,
            stream: self.stream,
            text: self.text.get(start..end).unwrap_or_default().to_string(),
            partial,
        }
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
        let stored = StoredChunk::take(
            SystemTime::UNIX_EPOCH,
            2,
            Stream::Stderr,
            &mut chunk.clone(),
        );
        assert_eq!(stored.line_len(2), "bad \u{fffd} byte".len());
        let line = stored.line(2);
        assert_eq!(
            (line.service, line.stream, line.partial),
            (2, Stream::Stderr, true)
        );
        assert_eq!(line.text, "bad \u{fffd} byte");
        chunk.clear();
        assert!(chunk.is_empty());
        assert_eq!(chunk.lines().count(), 0);
    }
}
