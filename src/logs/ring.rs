//! The in-memory tail of one service: its latest lines, bounded by count *and* bytes, so that
//! `wrangle logs` and `logs -f` start without touching the disk and a service printing huge
//! lines cannot grow the daemon (STACK.md hazard 7).
//!
//! This owns the bounded buffer only; merging services and locking are the store's.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use crate::logs::LogLine;

/// What a line costs beyond its text: the `LogLine` itself, its `Arc` and the slot.
const LINE_OVERHEAD: usize = 64;

#[derive(Debug)]
pub(crate) struct Ring {
    lines: VecDeque<Arc<LogLine>>,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
}

impl Ring {
    pub(crate) fn new(max_lines: usize, max_bytes: usize) -> Ring {
        Ring {
            lines: VecDeque::new(),
            bytes: 0,
            max_lines,
            max_bytes,
        }
    }

    /// Adds `line`, evicting the oldest lines until both bounds hold. A line that alone exceeds
    /// the byte bound is not kept (the store splits lines long before that).
    pub(crate) fn push(&mut self, line: Arc<LogLine>) {
        let line_cost = cost(&line);
        if self.max_lines == 0 || line_cost > self.max_bytes {
            return;
        }
        while self.lines.len() >= self.max_lines || self.bytes + line_cost > self.max_bytes {
            match self.lines.pop_front() {
                Some(evicted) => self.bytes -= self.bytes.min(cost(&evicted)),
                None => break,
            }
        }
        self.bytes += line_cost;
        self.lines.push_back(line);
    }

    /// The last `n` lines at or after `since`, oldest first.
    pub(crate) fn latest(&self, n: usize, since: Option<SystemTime>) -> Vec<Arc<LogLine>> {
        let mut latest: Vec<Arc<LogLine>> = self
            .lines
            .iter()
            .rev()
            .filter(|line| since.is_none_or(|since| line.time >= since))
            .take(n)
            .cloned()
            .collect();
        latest.reverse();
        latest
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }
}

fn cost(line: &LogLine) -> usize {
    line.text.len() + LINE_OVERHEAD
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::logs::Stream;

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
}
