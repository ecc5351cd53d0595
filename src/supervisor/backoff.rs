//! Restart delays: exponential backoff with jitter, and the crash-loop window.
//!
//! Pure arithmetic: randomness and time come in as arguments so the rules can be tested exactly.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::spec::RestartSpec;

/// A run that lasted at least this long is considered stable: the next crash starts the backoff
/// from `backoff_initial` again instead of continuing to double.
pub const STABLE_UPTIME: Duration = Duration::from_secs(10);

/// The delay before restart number `attempt` (0 for the first restart after a stable run).
///
/// The nominal delay doubles from `backoff_initial` up to `backoff_max`; the actual delay is drawn
/// from the upper half of it ("equal jitter"), so services that crashed together do not restart in
/// lockstep while the delay still grows. `unit_random` is in `[0, 1)`.
pub fn delay(spec: &RestartSpec, attempt: u32, unit_random: f64) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(31));
    let nominal = spec
        .backoff_initial
        .saturating_mul(factor)
        .min(spec.backoff_max);
    let half = nominal / 2;
    half + half.mul_f64(unit_random.clamp(0.0, 1.0))
}

/// Restart times within the sliding window; decides when a service is crash-looping.
#[derive(Debug, Default, Clone)]
pub struct RestartWindow {
    times: VecDeque<Instant>,
}

impl RestartWindow {
    /// Records a restart at `now` unless that would make more than `max_restarts` within
    /// `window`; returns false (and records nothing) when the service must be marked failed.
    pub fn try_record(&mut self, now: Instant, spec: &RestartSpec) -> bool {
        while let Some(first) = self.times.front() {
            if now.saturating_duration_since(*first) >= spec.window {
                self.times.pop_front();
            } else {
                break;
            }
        }
        if self.times.len() >= spec.max_restarts as usize {
            return false;
        }
        self.times.push_back(now);
        true
    }

    pub fn count(&self) -> usize {
        self.times.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RestartPolicy;

    fn spec(initial_ms: u64, max_ms: u64) -> RestartSpec {
        RestartSpec {
            policy: RestartPolicy::OnFailure,
            backoff_initial: Duration::from_millis(initial_ms),
            backoff_max: Duration::from_millis(max_ms),
            max_restarts: 3,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn delay_doubles_within_jitter_and_is_capped() {
        let spec = spec(100, 1000);
        for attempt in 0..40 {
            let nominal = Duration::from_millis((100u64 << attempt.min(20)).min(1000));
            let low = delay(&spec, attempt, 0.0);
            let high = delay(&spec, attempt, 0.999_999);
            assert_eq!(low, nominal / 2, "attempt {attempt}");
            assert!(high <= nominal && high > low, "attempt {attempt}: {high:?}");
        }
    }

    #[test]
    fn zero_initial_delay_means_immediate_restarts() {
        assert_eq!(delay(&spec(0, 1000), 5, 0.7), Duration::ZERO);
    }

    #[test]
    fn window_refuses_the_restart_beyond_the_limit_and_forgets_old_ones() {
        let spec = spec(100, 1000);
        let start = Instant::now();
        let mut window = RestartWindow::default();
        assert!(window.try_record(start, &spec));
        assert!(window.try_record(start + Duration::from_secs(1), &spec));
        assert!(window.try_record(start + Duration::from_secs(2), &spec));
        assert!(!window.try_record(start + Duration::from_secs(3), &spec));
        // Once the first restart leaves the window, one more is allowed.
        assert!(window.try_record(start + Duration::from_secs(60), &spec));
        assert_eq!(window.count(), 3);
    }
}
