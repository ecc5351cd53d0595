//! The restart rule: how long to wait before a restart, and when to stop restarting (the
//! crash-loop rule). docs/config.md ("The crash-loop rule") tells users the same thing.
//!
//! A run *stays up* when it lasts at least `min_uptime`. A crash of a run that did not stay up is a
//! *quick crash*. Quick crashes in a row make the backoff grow (from `backoff_initial`, doubling
//! up to `backoff_max`), and more than `max_restarts` of them in a row mark the service failed,
//! however slowly they come: the window cannot slide past them. A run that stays up, or ends with
//! status 0, ends the streak. Independently, more than `max_restarts` restarts of any kind within
//! `restart_window` also mark it failed, however long each run lasted.
//!
//! Pure arithmetic: randomness and time come in as arguments so the rules can be tested exactly.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::human;
use crate::spec::RestartSpec;

/// The first delay before retrying a spawn that failed because wrangle itself was short of
/// resources (file descriptors, memory, processes). The service's own backoff settings are about
/// its crashes, so these retries have their own schedule, which never spins: a delay of zero
/// would retry in a loop while the shortage lasts.
pub const SHORTAGE_RETRY_INITIAL: Duration = Duration::from_millis(250);
/// The longest delay between such retries.
pub const SHORTAGE_RETRY_MAX: Duration = Duration::from_secs(10);

/// The delay before restart number `attempt` (0 for the first restart after a run that stayed up).
///
/// The nominal delay doubles from `initial` up to `max`; the actual delay is drawn from the upper
/// half of it ("equal jitter"), so services that crashed together do not restart in lockstep while
/// the delay still grows. `unit_random` is in `[0, 1)`.
pub fn delay(initial: Duration, max: Duration, attempt: u32, unit_random: f64) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(31));
    let nominal = initial.saturating_mul(factor).min(max);
    let half = nominal / 2;
    half + half.mul_f64(unit_random.clamp(0.0, 1.0))
}

/// The delay before the restart that follows `attempt` quick crashes in a row.
pub fn restart_delay(spec: &RestartSpec, attempt: u32, unit_random: f64) -> Duration {
    delay(spec.backoff_initial, spec.backoff_max, attempt, unit_random)
}

/// The delay before the spawn retried after `shortages` spawns that failed for lack of wrangle's
/// own resources.
pub fn shortage_delay(shortages: u32, unit_random: f64) -> Duration {
    delay(
        SHORTAGE_RETRY_INITIAL,
        SHORTAGE_RETRY_MAX,
        shortages.saturating_sub(1),
        unit_random,
    )
}

/// How a run that the restart policy restarts ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// It ended without being asked to, unsuccessfully (a status other than 0, a signal, an
    /// unknown status, no readiness after start-up), or could not even be started (its command
    /// failed to spawn, or its ports stayed held): a run of zero length.
    Crashed { uptime: Duration },
    /// It exited with status 0 (and `restart = "always"` restarts it).
    Clean,
    /// wrangle restarted it for exceeding `max_memory`: not a crash, but a restart all the same.
    MemoryLimit { uptime: Duration },
}

/// What the crash-loop rule decides about a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Restart it; `attempt` is the backoff exponent (quick crashes in a row before this one).
    Restart { attempt: u32 },
    /// Do not: mark it failed, for this reason (shown in `ps`).
    GiveUp(String),
}

/// One service's restart history: the quick crashes in a row, and the restarts within the
/// window.
#[derive(Debug, Default, Clone)]
pub struct CrashLoop {
    quick_crashes: u32,
    window: RestartWindow,
}

impl CrashLoop {
    /// Records the end of a run its restart policy restarts (at `now`), and decides.
    pub fn run_ended(&mut self, now: Instant, spec: &RestartSpec, end: RunEnd) -> Verdict {
        match end {
            RunEnd::Crashed { uptime } if uptime < spec.min_uptime => self.quick_crashes += 1,
            RunEnd::Crashed { .. } | RunEnd::Clean => self.quick_crashes = 0,
            // A restart for memory is no crash; a run that stayed up still ends the streak.
            RunEnd::MemoryLimit { uptime } if uptime >= spec.min_uptime => self.quick_crashes = 0,
            RunEnd::MemoryLimit { .. } => {}
        }
        if self.quick_crashes > spec.max_restarts {
            return Verdict::GiveUp(format!(
                "crash loop: crashed {} times in a row within {} of starting (min_uptime), \
                 more than max_restarts = {}; not restarting again",
                self.quick_crashes,
                human::duration(spec.min_uptime),
                spec.max_restarts
            ));
        }
        if !self.window.try_record(now, spec) {
            return Verdict::GiveUp(format!(
                "crash loop: more than {} restarts within {} (restart_window); not restarting \
                 again",
                spec.max_restarts,
                human::duration(spec.window)
            ));
        }
        Verdict::Restart {
            attempt: self.quick_crashes.saturating_sub(1),
        }
    }

    /// Quick crashes in a row so far.
    #[cfg(test)]
    pub fn quick_crashes(&self) -> u32 {
        self.quick_crashes
    }
}

/// Restart times within the sliding window.
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

    #[cfg(test)]
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
            min_uptime: Duration::from_secs(300),
        }
    }

    #[test]
    fn delay_doubles_within_jitter_and_is_capped() {
        let spec = spec(100, 1000);
        for attempt in 0..40 {
            let nominal = Duration::from_millis((100u64 << attempt.min(20)).min(1000));
            let low = restart_delay(&spec, attempt, 0.0);
            let high = restart_delay(&spec, attempt, 0.999_999);
            assert_eq!(low, nominal / 2, "attempt {attempt}");
            assert!(high <= nominal && high > low, "attempt {attempt}: {high:?}");
        }
    }

    #[test]
    fn zero_initial_delay_means_immediate_restarts() {
        assert_eq!(restart_delay(&spec(0, 1000), 5, 0.7), Duration::ZERO);
    }

    #[test]
    fn shortage_retries_never_spin_and_are_capped() {
        assert!(shortage_delay(1, 0.0) >= SHORTAGE_RETRY_INITIAL / 2);
        assert!(shortage_delay(1, 0.0) > Duration::ZERO);
        assert!(shortage_delay(2, 0.0) > shortage_delay(1, 0.0));
        assert!(shortage_delay(1000, 0.999) <= SHORTAGE_RETRY_MAX);
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

    /// Feeds crashes `every` apart (each run lasting `every`) until the rule gives up; returns
    /// how many restarts it allowed (None: it never gave up within 100 crashes).
    fn restarts_before_giving_up(spec: &RestartSpec, every: Duration) -> Option<u32> {
        let mut crash_loop = CrashLoop::default();
        let mut now = Instant::now();
        for restarts in 0..100 {
            now += every;
            let end = RunEnd::Crashed { uptime: every };
            if let Verdict::GiveUp(_) = crash_loop.run_ended(now, spec, end) {
                return Some(restarts);
            }
        }
        None
    }

    #[test]
    fn a_slow_crash_loop_past_the_default_window_is_caught() {
        // Issue 9: the defaults (5 restarts, 60 s window, 5 min uptime); a crash every 61 s.
        let defaults = RestartSpec {
            policy: RestartPolicy::OnFailure,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            max_restarts: 5,
            window: Duration::from_secs(60),
            min_uptime: Duration::from_secs(300),
        };
        assert_eq!(
            restarts_before_giving_up(&defaults, Duration::from_secs(61)),
            Some(5)
        );
    }

    #[test]
    fn a_crash_loop_slower_than_a_short_window_is_caught() {
        // Issue 10: `restart_window = "2s"`, `max_restarts = 1`, a crash every 2.2 s.
        let mut spec = spec(200, 30_000);
        spec.window = Duration::from_secs(2);
        spec.max_restarts = 1;
        let mut window_only = RestartWindow::default();
        let start = Instant::now();
        assert!(
            (1..100)
                .all(|n| window_only.try_record(start + Duration::from_millis(2200) * n, &spec)),
            "the window alone never catches it"
        );
        assert_eq!(
            restarts_before_giving_up(&spec, Duration::from_millis(2200)),
            Some(1)
        );
        let mut crash_loop = CrashLoop::default();
        let reason = match crash_loop.run_ended(
            start,
            &spec,
            RunEnd::Crashed {
                uptime: spec.window,
            },
        ) {
            Verdict::Restart { attempt } => {
                assert_eq!(attempt, 0);
                match crash_loop.run_ended(
                    start + Duration::from_secs(3),
                    &spec,
                    RunEnd::Crashed {
                        uptime: spec.window,
                    },
                ) {
                    Verdict::GiveUp(reason) => reason,
                    verdict => panic!("not given up: {verdict:?}"),
                }
            }
            verdict => panic!("not restarted: {verdict:?}"),
        };
        assert_eq!(
            reason,
            "crash loop: crashed 2 times in a row within 5m of starting (min_uptime), more than \
             max_restarts = 1; not restarting again"
        );
    }

    #[test]
    fn a_run_that_stays_up_or_exits_cleanly_ends_the_streak_and_resets_the_backoff() {
        let spec = spec(100, 1000);
        let mut crash_loop = CrashLoop::default();
        let mut now = Instant::now();
        let quick = RunEnd::Crashed {
            uptime: Duration::from_secs(1),
        };
        let mut attempts = Vec::new();
        for end in [
            quick,
            quick,
            quick,
            RunEnd::Crashed {
                uptime: spec.min_uptime,
            },
            quick,
            quick,
            RunEnd::Clean,
            quick,
        ] {
            // Far apart, so the window never decides here.
            now += Duration::from_secs(3600);
            match crash_loop.run_ended(now, &spec, end) {
                Verdict::Restart { attempt } => attempts.push(attempt),
                Verdict::GiveUp(reason) => panic!("gave up: {reason}"),
            }
        }
        assert_eq!(attempts, vec![0, 1, 2, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn memory_restarts_count_in_the_window_but_are_not_crashes() {
        let spec = spec(100, 1000);
        let mut crash_loop = CrashLoop::default();
        let now = Instant::now();
        let memory = RunEnd::MemoryLimit {
            uptime: Duration::from_secs(1),
        };
        for offset in 0..3 {
            let verdict = crash_loop.run_ended(now + Duration::from_secs(offset), &spec, memory);
            assert_eq!(verdict, Verdict::Restart { attempt: 0 });
        }
        assert_eq!(crash_loop.quick_crashes(), 0);
        match crash_loop.run_ended(now + Duration::from_secs(3), &spec, memory) {
            Verdict::GiveUp(reason) => assert!(reason.contains("within 1m"), "{reason}"),
            verdict => panic!("not given up: {verdict:?}"),
        }
    }

    #[test]
    fn a_zero_min_uptime_leaves_only_the_window() {
        let mut spec = spec(100, 1000);
        spec.min_uptime = Duration::ZERO;
        assert_eq!(
            restarts_before_giving_up(&spec, Duration::from_secs(61)),
            None
        );
        assert_eq!(
            restarts_before_giving_up(&spec, Duration::from_secs(1)),
            Some(3)
        );
    }
}
