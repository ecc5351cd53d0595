//! The daemon's record of what services cost: the latest figures and a bounded history of
//! samples per service, filled by the supervisor's resource monitor and read by the API
//! (`GET /v1/resources`, the `resources` of `ps`), which runs on other threads.
//!
//! It also tracks whether someone is watching (a client read the history recently), which
//! makes the monitor sample at its fast interval: `wrangle top` then sees fresh figures each
//! second, and an idle daemon nobody looks at samples rarely.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::api::ResourceSource;
use crate::api::wire::{ResourceHistory, ResourcePoint, ServiceHistory};
use crate::mutex;
use crate::spec::{MonitorSpec, ProjectSpec};

/// How long a read of the history keeps the monitor at its fast interval.
pub const WATCH_LINGER: Duration = Duration::from_secs(10);

/// Shared between the supervisor's thread (writes) and the API's (reads).
#[derive(Clone)]
pub struct ResourceStore(Arc<Mutex<Inner>>);

struct Inner {
    names: Vec<String>,
    /// Not retired by `apply` (retired services have no history to show).
    current: Vec<bool>,
    /// The most points kept per series.
    capacity: usize,
    interval: Duration,
    daemon: VecDeque<ResourcePoint>,
    services: Vec<VecDeque<ResourcePoint>>,
    /// When a client last read the history.
    watched_at: Option<Instant>,
    /// Wakes the monitor when watching starts, so it switches to its fast interval at once.
    wakeup: Arc<Notify>,
}

impl ResourceStore {
    pub fn new(spec: &ProjectSpec) -> ResourceStore {
        let capacity = history_capacity(&spec.monitor);
        ResourceStore(Arc::new(Mutex::new(Inner {
            names: spec
                .services
                .iter()
                .map(|service| service.name.clone())
                .collect(),
            current: vec![true; spec.services.len()],
            capacity,
            interval: spec.monitor.interval,
            daemon: VecDeque::new(),
            services: vec![VecDeque::new(); spec.services.len()],
            watched_at: None,
            wakeup: Arc::new(Notify::new()),
        })))
    }

    /// The services of `spec` from now on (`wrangle apply`: ids kept, added ones after the
    /// others) and its `[monitor]` history; each service's points stay with its id.
    pub fn spec_changed(&self, spec: &ProjectSpec) {
        let mut inner = self.lock();
        inner.names = spec.services.iter().map(|s| s.name.clone()).collect();
        inner.current = (0..spec.services.len())
            .map(|service| spec.is_current(service))
            .collect();
        inner.services.resize(spec.services.len(), VecDeque::new());
        inner.capacity = history_capacity(&spec.monitor);
        let capacity = inner.capacity;
        let Inner {
            daemon, services, ..
        } = &mut *inner;
        for series in std::iter::once(daemon).chain(services.iter_mut()) {
            let excess = series.len().saturating_sub(capacity);
            series.drain(..excess);
        }
    }

    /// Records one sample: the daemon's point and each running service's (`None`: not running,
    /// nothing recorded). `interval` is the interval the monitor sampled at.
    pub fn record(
        &self,
        interval: Duration,
        daemon: Option<ResourcePoint>,
        services: &[Option<ResourcePoint>],
    ) {
        let mut inner = self.lock();
        inner.interval = interval;
        let capacity = inner.capacity;
        if let Some(point) = daemon {
            push_bounded(&mut inner.daemon, point, capacity);
        }
        for (series, point) in inner.services.iter_mut().zip(services) {
            if let Some(point) = point {
                push_bounded(series, *point, capacity);
            }
        }
    }

    /// Notified when a client starts watching.
    pub fn wakeup(&self) -> Arc<Notify> {
        Arc::clone(&self.lock().wakeup)
    }

    /// Whether a client read the history within [`WATCH_LINGER`].
    pub fn watched(&self) -> bool {
        self.lock()
            .watched_at
            .is_some_and(|at| at.elapsed() < WATCH_LINGER)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        mutex::lock(&self.0)
    }
}

impl Inner {
    /// Someone watches now: keep (or switch to) the fast interval.
    fn watched_now(&mut self) {
        let was_watched = self
            .watched_at
            .is_some_and(|at| at.elapsed() < WATCH_LINGER);
        self.watched_at = Some(Instant::now());
        if !was_watched {
            self.wakeup.notify_one();
        }
    }
}

impl ResourceSource for ResourceStore {
    fn watching(&self) {
        self.lock().watched_now();
    }

    fn history(&self, services: &[String]) -> ResourceHistory {
        let mut inner = self.lock();
        inner.watched_now();
        ResourceHistory {
            interval_ms: u64::try_from(inner.interval.as_millis()).unwrap_or(u64::MAX),
            daemon: inner.daemon.iter().copied().collect(),
            services: inner
                .names
                .iter()
                .zip(&inner.services)
                .zip(&inner.current)
                .filter(|(_, current)| **current)
                .map(|(entry, _)| entry)
                .filter(|(name, _)| services.is_empty() || services.contains(name))
                .map(|(name, series)| ServiceHistory {
                    name: name.clone(),
                    points: series.iter().copied().collect(),
                })
                .collect(),
        }
    }
}

/// Points kept per series: `history / interval`, at least 2 (a rate needs two), and for the
/// fast interval too, so watching does not shorten the window much.
fn history_capacity(monitor: &MonitorSpec) -> usize {
    let interval = monitor.interval.min(MonitorSpec::WATCHED_INTERVAL);
    let points = monitor.history.as_millis() / interval.as_millis().max(1);
    usize::try_from(points)
        .unwrap_or(usize::MAX)
        .clamp(2, 100_000)
}

fn push_bounded(series: &mut VecDeque<ResourcePoint>, point: ResourcePoint, capacity: usize) {
    while series.len() >= capacity {
        series.pop_front();
    }
    series.push_back(point);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(time_ms: u64) -> ResourcePoint {
        ResourcePoint {
            time_ms,
            cpu_percent: 1.0,
            memory_bytes: 10,
        }
    }

    #[test]
    fn capacity_follows_history_over_the_fast_interval() {
        let monitor = MonitorSpec {
            interval: Duration::from_secs(5),
            history: Duration::from_secs(600),
        };
        assert_eq!(history_capacity(&monitor), 600);
        let tiny = MonitorSpec {
            interval: Duration::from_secs(5),
            history: Duration::ZERO,
        };
        assert_eq!(history_capacity(&tiny), 2);
    }

    #[test]
    fn series_are_bounded_and_oldest_first() {
        let mut series = VecDeque::new();
        for time in 0..10 {
            push_bounded(&mut series, point(time), 3);
        }
        let times: Vec<u64> = series.iter().map(|point| point.time_ms).collect();
        assert_eq!(times, vec![7, 8, 9]);
    }
}
