//! The spacing of probe attempts: fast at first, then backing off to the configured interval.
//!
//! Most services become ready within a few hundred milliseconds, so probing only every
//! `interval` (seconds, usually) would add most of an interval to every start. Doubling from
//! 10 ms finds a quick service quickly and costs a handful of extra attempts for a slow one.
//! This owns the arithmetic only; the caller sleeps.

use std::time::Duration;

/// The first delay: short enough to be invisible, long enough not to spin.
const FIRST_DELAY: Duration = Duration::from_millis(10);

/// Delays between attempts: starts fast and backs off to `interval`: 10ms, 20ms, 40ms, ...
/// capped at interval (never above).
#[derive(Debug, Clone)]
pub struct ProbeSchedule {
    interval: Duration,
    next: Duration,
}

impl ProbeSchedule {
    pub fn new(interval: Duration) -> Self {
        ProbeSchedule {
            interval,
            next: FIRST_DELAY.min(interval),
        }
    }

    /// The delay before the next attempt; each call moves the schedule on.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = delay.saturating_mul(2).min(self.interval);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays(interval: Duration, count: usize) -> Vec<Duration> {
        let mut schedule = ProbeSchedule::new(interval);
        (0..count).map(|_| schedule.next_delay()).collect()
    }

    #[test]
    fn doubles_from_ten_ms_up_to_the_interval() {
        let ms = Duration::from_millis;
        assert_eq!(
            delays(ms(100), 6),
            vec![ms(10), ms(20), ms(40), ms(80), ms(100), ms(100)]
        );
    }

    #[test]
    fn monotonic_and_capped() {
        for interval_ms in [1, 7, 10, 11, 250, 1000, 30_000] {
            let interval = Duration::from_millis(interval_ms);
            let all = delays(interval, 40);
            assert!(all[0] <= Duration::from_millis(10));
            assert!(all.windows(2).all(|pair| pair[0] <= pair[1]), "{all:?}");
            assert!(all.iter().all(|delay| *delay <= interval), "{all:?}");
            assert_eq!(all.last(), Some(&interval));
        }
    }

    #[test]
    fn extreme_intervals_do_not_overflow() {
        assert_eq!(delays(Duration::ZERO, 3), vec![Duration::ZERO; 3]);
        let all = delays(Duration::MAX, 200);
        assert!(all.windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(all.last(), Some(&Duration::MAX));
    }
}
