//! The rate limit of one `[[notify]]` entry: at most `limit` notifications in any `window`, and
//! a count of what was held back, to be reported once there is room again.
//!
//! Pure bookkeeping with time as an input, so it is tested without clocks. The notifier asks
//! [`RateLimiter::admit`] for every matching event, and sends a summary when
//! [`RateLimiter::summary_at`] says so.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A sliding-window limit: the instants of the notifications sent within the last `window`.
#[derive(Debug)]
pub struct RateLimiter {
    limit: usize,
    window: Duration,
    /// Oldest first; never longer than `limit`.
    sent: VecDeque<Instant>,
    /// Events held back since the last notification that reported them.
    suppressed: u64,
}

impl RateLimiter {
    /// At most `limit` (at least 1) notifications in any `window`.
    pub fn new(limit: u32, window: Duration) -> RateLimiter {
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        RateLimiter {
            limit,
            window,
            sent: VecDeque::with_capacity(limit.min(64)),
            suppressed: 0,
        }
    }

    /// An event wants to go out at `now`. `Some(n)`: send it, and report with it the `n` events
    /// held back before it (the count is then cleared). `None`: it is held back and counted.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        self.forget_old(now);
        if self.sent.len() >= self.limit {
            self.suppressed += 1;
            return None;
        }
        self.sent.push_back(now);
        Some(std::mem::take(&mut self.suppressed))
    }

    /// A notification that was admitted could not be queued after all: give its slot back and
    /// count `held_back` events again (the event itself plus what it would have reported).
    pub fn unadmit(&mut self, held_back: u64) {
        self.sent.pop_back();
        self.suppressed += held_back;
    }

    /// When a summary of held-back events should go out: `None` while nothing is held back,
    /// else the moment the window has room (`now` or later).
    pub fn summary_at(&mut self, now: Instant) -> Option<Instant> {
        if self.suppressed == 0 {
            return None;
        }
        self.forget_old(now);
        if self.sent.len() < self.limit {
            return Some(now);
        }
        // Full, so there is a front; a window too large to add means "never".
        self.sent
            .front()
            .and_then(|oldest| oldest.checked_add(self.window))
    }

    /// Takes a slot for the summary at `now`, if one is due: the number of events it reports.
    pub fn take_summary(&mut self, now: Instant) -> Option<u64> {
        match self.summary_at(now) {
            Some(at) if at <= now => self.admit(now),
            _ => None,
        }
    }

    /// Events held back and not reported yet.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    fn forget_old(&mut self, now: Instant) {
        while let Some(oldest) = self.sent.front() {
            if now.saturating_duration_since(*oldest) < self.window {
                break;
            }
            self.sent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn admits_up_to_the_limit_then_counts() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(3, WINDOW);
        for second in 0..3 {
            assert_eq!(limiter.admit(at(start, second)), Some(0));
        }
        for second in 3..10 {
            assert_eq!(limiter.admit(at(start, second)), None);
        }
        assert_eq!(limiter.suppressed(), 7);
    }

    #[test]
    fn the_summary_is_due_when_the_oldest_send_leaves_the_window() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(2, WINDOW);
        assert_eq!(limiter.summary_at(start), None, "nothing held back");
        limiter.admit(at(start, 0));
        limiter.admit(at(start, 10));
        assert_eq!(limiter.admit(at(start, 20)), None);
        assert_eq!(limiter.summary_at(at(start, 20)), Some(at(start, 60)));
        assert_eq!(limiter.take_summary(at(start, 59)), None, "not yet");
        assert_eq!(limiter.take_summary(at(start, 60)), Some(1));
        assert_eq!(limiter.suppressed(), 0);
        assert_eq!(limiter.summary_at(at(start, 61)), None);
        // The summary took a slot: the window holds the sends at 10 s and 60 s.
        assert_eq!(limiter.admit(at(start, 61)), None);
        assert_eq!(
            limiter.admit(at(start, 70)),
            Some(1),
            "the held-back count rides along"
        );
    }

    #[test]
    fn an_event_admitted_first_carries_the_count_instead_of_a_summary() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(1, WINDOW);
        assert_eq!(limiter.admit(start), Some(0));
        assert_eq!(limiter.admit(at(start, 1)), None);
        assert_eq!(limiter.admit(at(start, 2)), None);
        assert_eq!(limiter.admit(at(start, 60)), Some(2));
        assert_eq!(
            limiter.summary_at(at(start, 60)),
            None,
            "reported once only"
        );
    }

    #[test]
    fn a_crash_loop_sends_at_most_limit_per_window_and_loses_no_count() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10, WINDOW);
        let (mut admitted, mut summaries, mut reported) = (0u64, 0u64, 0u64);
        let events = 3600u64;
        // One event per second for an hour, summaries taken as soon as due.
        for second in 0..events {
            let now = at(start, second);
            if let Some(count) = limiter.take_summary(now) {
                summaries += 1;
                reported += count;
            }
            if let Some(count) = limiter.admit(now) {
                admitted += 1;
                reported += count;
            }
        }
        // 60 windows of an hour, plus the one still open.
        assert!(
            admitted + summaries <= 10 * 61,
            "sent {}",
            admitted + summaries
        );
        // Every event was sent, or reported as held back, or is still counted.
        assert_eq!(admitted + reported + limiter.suppressed(), events);
    }

    #[test]
    fn unadmit_gives_the_slot_back_and_counts_the_event() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(1, WINDOW);
        limiter.admit(start);
        limiter.admit(at(start, 1));
        let reported = limiter.admit(at(start, 60)).expect("room again");
        assert_eq!(reported, 1);
        limiter.unadmit(reported + 1);
        assert_eq!(limiter.suppressed(), 2);
        assert_eq!(limiter.admit(at(start, 61)), Some(2));
    }

    #[test]
    fn a_huge_window_never_overflows() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(1, Duration::MAX);
        limiter.admit(start);
        limiter.admit(start);
        assert_eq!(limiter.summary_at(start), None);
        assert_eq!(limiter.take_summary(start), None);
    }
}
