//! The in-memory tail of one service: its latest lines, bounded by count *and* bytes, so that
//! `wrangle logs` and `logs -f` start without touching the disk and a service printing huge
//! lines cannot grow the daemon (the supervisor must outlive any service's output).
//!
//! This owns the bounded buffer only; merging services and locking are the store's.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use crate::logs::LogLine;
use crate::logs::chunk::StoredChunk;

/// What a line costs beyond its text: the `LogLine` itself, its `Arc` and the slot.
const LINE_OVERHEAD: usize = 64;

#[derive(Debug)]
pub(crate) struct Ring {
    entries: VecDeque<Entry>,
    /// Lines in `entries` (a chunk counts its kept lines).
    lines: usize,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
}

/// One line, or the lines of a chunk from `first` on (the earlier ones were evicted).
#[derive(Debug)]
enum Entry {
    Line(Arc<LogLine>),
    Chunk {
        chunk: Arc<StoredChunk>,
        first: usize,
        /// The cost of the lines kept.
        left: usize,
    },
}

impl Ring {
    pub(crate) fn new(max_lines: usize, max_bytes: usize) -> Ring {
        Ring {
            entries: VecDeque::new(),
            lines: 0,
            bytes: 0,
            max_lines,
            max_bytes,
        }
    }

    /// Adds `line`, evicting the oldest lines until both bounds hold. A line that alone exceeds
    /// the byte bound is not kept (the store splits lines long before that).
    pub(crate) fn push(&mut self, line: Arc<LogLine>) {
        let line_cost = cost(line.text.len());
        if self.max_lines == 0 || line_cost > self.max_bytes {
            return;
        }
        self.lines += 1;
        self.bytes += line_cost;
        self.entries.push_back(Entry::Line(line));
        self.evict();
    }

    /// Adds the lines of `chunk`: the same as pushing them one by one, without a `LogLine` each.
    pub(crate) fn push_chunk(&mut self, chunk: Arc<StoredChunk>) {
        if self.max_lines == 0 || chunk.len() == 0 {
            return;
        }
        let mut bytes = 0;
        let mut used = 0;
        for index in 0..chunk.len() {
            let line_len = chunk.line_len(index);
            used += line_len;
            let line_cost = cost(line_len);
            if line_cost > self.max_bytes {
                // Rare (the store cuts lines far below the bound): skip it as `push` would.
                for index in 0..chunk.len() {
                    self.push(Arc::new(chunk.line(index)));
                }
                return;
            }
            bytes += line_cost;
        }
        // Text no line uses (newlines, the start of a line still unfinished, kept for the file)
        // lives as long as the chunk: it counts until the chunk's last line goes.
        bytes += chunk.text_len().saturating_sub(used);
        self.lines += chunk.len();
        self.bytes += bytes;
        self.entries.push_back(Entry::Chunk {
            chunk,
            first: 0,
            left: bytes,
        });
        self.evict();
    }

    /// Drops the oldest lines until both bounds hold. Evicting after adding keeps the same
    /// lines as evicting before each line: the longest run of latest lines within the bounds.
    fn evict(&mut self) {
        while self.lines > self.max_lines || self.bytes > self.max_bytes {
            let Some(front) = self.entries.front_mut() else {
                break;
            };
            let (evicted_cost, emptied) = match front {
                Entry::Line(line) => (cost(line.text.len()), true),
                Entry::Chunk { chunk, first, left }
                    if self.lines - (chunk.len() - *first) > self.max_lines
                        || self.bytes - *left > self.max_bytes =>
                {
                    // Even without all of it the bounds do not hold: drop it at once.
                    self.lines -= chunk.len() - *first;
                    self.bytes -= *left;
                    self.entries.pop_front();
                    continue;
                }
                Entry::Chunk {
                    chunk, first, left, ..
                } => {
                    let mut evicted_cost = cost(chunk.line_len(*first));
                    *first += 1;
                    *left -= evicted_cost;
                    let emptied = *first >= chunk.len();
                    if emptied {
                        // The unused text goes with the last line.
                        evicted_cost += std::mem::take(left);
                    }
                    (evicted_cost, emptied)
                }
            };
            self.lines -= 1;
            self.bytes -= self.bytes.min(evicted_cost);
            if emptied {
                self.entries.pop_front();
            }
        }
    }

    /// The last `n` lines at or after `since`, oldest first.
    pub(crate) fn latest(&self, n: usize, since: Option<SystemTime>) -> Vec<Arc<LogLine>> {
        let mut latest: Vec<Arc<LogLine>> = Vec::new();
        let wanted = |time: SystemTime| since.is_none_or(|since| time >= since);
        for entry in self.entries.iter().rev() {
            if latest.len() >= n {
                break;
            }
            match entry {
                Entry::Line(line) => {
                    if wanted(line.time) {
                        latest.push(Arc::clone(line));
                    }
                }
                Entry::Chunk { chunk, first, .. } => {
                    if !wanted(chunk.time) {
                        continue;
                    }
                    for index in (*first..chunk.len()).rev() {
                        if latest.len() >= n {
                            break;
                        }
                        latest.push(Arc::new(chunk.line(index)));
                    }
                }
            }
        }
        latest.reverse();
        latest
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lines
    }
}

fn cost(text_len: usize) -> usize {
    text_len + LINE_OVERHEAD
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::logs::{LogChunk, Stream};

    fn line(second: u64, text: &str) -> Arc<LogLine> {
        Arc::new(LogLine {
            time: UNIX_EPOCH + Duration::from_secs(second),
            service: 0,
            stream: Stream::Stdout,
            text: text.to_string(),
            partial: false,
        })
    }

    #[test]
    fn bounded_by_lines() {
        let mut ring = Ring::new(3, 1 << 20);
        for second in 0..10 {
            ring.push(line(second, "x"));
        }
        let texts: Vec<u64> = ring
            .latest(10, None)
            .iter()
            .map(|line| line.time.duration_since(UNIX_EPOCH).unwrap().as_secs())
            .collect();
        assert_eq!(texts, [7, 8, 9]);
    }

    #[test]
    fn bounded_by_bytes() {
        let mut ring = Ring::new(1000, 1000);
        for second in 0..100 {
            ring.push(line(second, &"y".repeat(200)));
        }
        assert!(ring.bytes() <= 1000);
        assert_eq!(ring.len(), 1000 / (200 + LINE_OVERHEAD));
        // A line larger than the whole budget is not kept, and evicts nothing.
        ring.push(line(100, &"z".repeat(5000)));
        assert_eq!(ring.len(), 1000 / (200 + LINE_OVERHEAD));
    }

    #[test]
    fn latest_respects_n_and_since() {
        let mut ring = Ring::new(100, 1 << 20);
        for second in 0..10 {
            ring.push(line(second, "x"));
        }
        assert_eq!(ring.latest(2, None).len(), 2);
        let since = Some(UNIX_EPOCH + Duration::from_secs(7));
        let seconds: Vec<u64> = ring
            .latest(100, since)
            .iter()
            .map(|line| line.time.duration_since(UNIX_EPOCH).unwrap().as_secs())
            .collect();
        assert_eq!(seconds, [7, 8, 9]);
        assert!(Ring::new(0, 100).latest(5, None).is_empty());
    }

    fn chunk(second: u64, texts: &[&str]) -> Arc<StoredChunk> {
        let mut chunk = LogChunk::default();
        for text in texts {
            chunk.push(text.as_bytes(), false);
        }
        StoredChunk::take(
            UNIX_EPOCH + Duration::from_secs(second),
            0,
            Stream::Stdout,
            &mut chunk,
        )
    }

    fn texts(ring: &Ring, n: usize) -> Vec<String> {
        ring.latest(n, None)
            .iter()
            .map(|line| line.text.clone())
            .collect()
    }

    #[test]
    fn text_no_line_uses_counts_against_the_byte_bound() {
        let mut ring = Ring::new(1000, 10_000);
        for second in 0..100 {
            // One line of 10 bytes, and 3000 bytes of a line still unfinished.
            let mut chunk = LogChunk::default();
            let start = chunk.push_text(&format!("{second:>9}\n{}", "u".repeat(3000)));
            chunk.mark_output(start);
            assert!(chunk.push_span(start, start + 9, false));
            let stored = StoredChunk::take(
                UNIX_EPOCH + Duration::from_secs(second),
                0,
                Stream::Stdout,
                &mut chunk,
            );
            ring.push_chunk(stored);
            assert!(ring.bytes() <= 10_000, "{}", ring.bytes());
        }
        // Three chunks fit: each costs its line and the 3001 bytes no line uses.
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.bytes(), 3 * (9 + LINE_OVERHEAD + 3001));
        assert_eq!(texts(&ring, 10), ["       97", "       98", "       99"]);
    }

    #[test]
    fn chunks_keep_the_same_lines_as_lines_one_by_one() {
        let texts_of =
            |count: usize| -> Vec<String> { (0..count).map(|i| format!("{i:0>3}")).collect() };
        let all = texts_of(50);
        for (max_lines, max_bytes) in [(7, 1 << 20), (1000, 10 * (3 + LINE_OVERHEAD)), (5, 300)] {
            let mut by_line = Ring::new(max_lines, max_bytes);
            let mut by_chunk = Ring::new(max_lines, max_bytes);
            for group in all.chunks(6) {
                let refs: Vec<&str> = group.iter().map(String::as_str).collect();
                by_chunk.push_chunk(chunk(1, &refs));
                for text in group {
                    by_line.push(line(1, text));
                }
                assert_eq!(texts(&by_chunk, 100), texts(&by_line, 100));
                assert_eq!(
                    (by_chunk.len(), by_chunk.bytes()),
                    (by_line.len(), by_line.bytes())
                );
            }
            assert!(by_chunk.len() <= max_lines && by_chunk.bytes() <= max_bytes);
        }
        // Mixed with single lines, and `n` / `since` across entries.
        let mut ring = Ring::new(100, 1 << 20);
        ring.push_chunk(chunk(1, &["a", "b"]));
        ring.push(line(2, "c"));
        ring.push_chunk(chunk(3, &["d", "e", "f"]));
        assert_eq!(texts(&ring, 4), ["c", "d", "e", "f"]);
        let since = Some(UNIX_EPOCH + Duration::from_secs(2));
        let seconds: Vec<String> = ring
            .latest(100, since)
            .iter()
            .map(|line| line.text.clone())
            .collect();
        assert_eq!(seconds, ["c", "d", "e", "f"]);
        // A line over the byte bound is skipped, the rest of its chunk kept (within bounds).
        let mut ring = Ring::new(100, 200);
        let big = "z".repeat(200);
        ring.push_chunk(chunk(1, &["a", &big, "b"]));
        assert_eq!(texts(&ring, 10), ["a", "b"]);
    }
}
