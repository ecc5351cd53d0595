//! The resource monitor: what each running service's whole process tree costs, sampled at an
//! interval, and what follows from it: a graceful restart when a tree exceeds `max_memory`, a
//! warning when CPU or memory stays above `cpu_warn`/`memory_warn` for `warn_after`.
//!
//! The runtime decides when to sample and which pids make up each running instance (its cgroup,
//! or the process-table attribution); this module measures them through `sys::sampler` and
//! returns figures and verdicts. It never signals anything: a restart is an engine input, so it
//! follows the same stop rules (stop signal, timeout, SIGKILL) and crash-loop limits as any
//! other.
//!
//! CPU use is a rate between two samples of the same instance. The first sample of an instance
//! is compared with its spawn (zero CPU time then), so even the first figure is meaningful.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use crate::human;
use crate::spec::ProjectSpec;
use crate::supervisor::event::{InstanceId, Resource};
use crate::sys::sampler::{self, Rates, Sample, Sampler, Usage};

/// One running instance to sample.
#[derive(Debug, Clone)]
pub struct Running {
    pub instance: InstanceId,
    pub generation: u64,
    /// When the instance was spawned: the baseline of its first CPU rate.
    pub spawned: Instant,
    /// Every live process of its tree.
    pub pids: Vec<i32>,
}

/// What a sample found about one set of processes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub usage: Usage,
    /// CPU use since the previous sample (or since spawn, for an instance's first).
    pub rates: Rates,
    pub cpu_seconds: f64,
    /// Warnings in force after this sample.
    pub cpu_warning: bool,
    pub memory_warning: bool,
}

/// The result of one sample of everything.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceReport {
    pub at: SystemTime,
    /// The interval this sample was taken at.
    pub interval: Duration,
    /// Per running instance, in the order they were given.
    pub instances: Vec<(InstanceId, Figures)>,
    /// wrangle itself and its helpers (the sentinel).
    pub own: Option<Figures>,
}

/// A decision the runtime must carry out.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Restart the instance gracefully.
    MemoryLimit {
        instance: InstanceId,
        generation: u64,
        reason: String,
    },
    /// A warning started (`active`) or ended.
    Warning {
        instance: InstanceId,
        resource: Resource,
        active: bool,
        message: String,
    },
}

/// Samples services and remembers what it needs between samples.
pub struct Monitor {
    /// `None` when `/proc` cannot be opened: then nothing is measured and nothing is decided.
    sampler: Option<Sampler>,
    cores: usize,
    instances: HashMap<InstanceId, Watch>,
    own_previous: Option<Sample>,
}

/// What the monitor remembers of one instance's current tree.
#[derive(Debug, Default)]
struct Watch {
    generation: u64,
    previous: Option<Sample>,
    cpu: Sustained,
    memory: Sustained,
    /// A restart was already asked for this instance (stopping takes a moment).
    limit_reported: bool,
}

impl Default for Monitor {
    fn default() -> Monitor {
        Monitor::new()
    }
}

impl Monitor {
    pub fn new() -> Monitor {
        Monitor {
            sampler: Sampler::new().ok(),
            cores: sampler::cores(),
            instances: HashMap::new(),
            own_previous: None,
        }
    }

    /// Samples `running` instances and wrangle's own processes (`own_pids`), and decides.
    pub fn sample(
        &mut self,
        spec: &ProjectSpec,
        interval: Duration,
        running: &[Running],
        own_pids: &[i32],
    ) -> (ResourceReport, Vec<Verdict>) {
        let now = Instant::now();
        let mut report = ResourceReport {
            at: SystemTime::now(),
            interval,
            instances: Vec::with_capacity(running.len()),
            own: None,
        };
        let mut verdicts = Vec::new();
        let Some(sampler) = self.sampler.as_mut() else {
            return (report, verdicts);
        };
        // An instance with no running tree keeps no warning: its next tree starts afresh.
        self.instances
            .retain(|id, _| running.iter().any(|instance| instance.instance == *id));
        for instance in running {
            let watch = self.instances.entry(instance.instance).or_default();
            if watch.generation != instance.generation {
                *watch = Watch {
                    generation: instance.generation,
                    ..Watch::default()
                };
            }
            let current = Sample {
                at: now,
                usage: sampler.sum(&instance.pids),
            };
            let baseline = watch.previous.unwrap_or(Sample {
                at: instance.spawned,
                usage: Usage::default(),
            });
            let rates = sampler::rates(&baseline, &current, self.cores);
            watch.previous = Some(current);
            let limits = &spec.services[instance.instance.service].limits;
            let name = instance.instance.label(spec);
            let memory = current.usage.rss_bytes;
            if let Some(max) = limits.max_memory
                && memory > max
                && !watch.limit_reported
            {
                watch.limit_reported = true;
                verdicts.push(Verdict::MemoryLimit {
                    instance: instance.instance,
                    generation: instance.generation,
                    reason: format!(
                        "memory limit: {} > {} (max_memory)",
                        human::bytes(memory),
                        human::bytes(max)
                    ),
                });
            }
            if let Some(threshold) = limits.cpu_warn {
                let above = rates.cpu_percent_of_core > f64::from(threshold);
                if let Some(active) = watch.cpu.update(now, above, limits.warn_after) {
                    let message = if active {
                        format!(
                            "{name} has used over {threshold}% CPU for {} ({:.0}% now)",
                            human::duration(limits.warn_after),
                            rates.cpu_percent_of_core
                        )
                    } else {
                        format!("{name} is back under {threshold}% CPU")
                    };
                    verdicts.push(Verdict::Warning {
                        instance: instance.instance,
                        resource: Resource::Cpu,
                        active,
                        message,
                    });
                }
            }
            if let Some(threshold) = limits.memory_warn {
                let above = memory > threshold;
                if let Some(active) = watch.memory.update(now, above, limits.warn_after) {
                    let message = if active {
                        format!(
                            "{name} has used over {} of memory for {} ({} now)",
                            human::bytes(threshold),
                            human::duration(limits.warn_after),
                            human::bytes(memory)
                        )
                    } else {
                        format!("{name} is back under {} of memory", human::bytes(threshold))
                    };
                    verdicts.push(Verdict::Warning {
                        instance: instance.instance,
                        resource: Resource::Memory,
                        active,
                        message,
                    });
                }
            }
            report.instances.push((
                instance.instance,
                Figures {
                    usage: current.usage,
                    rates,
                    cpu_seconds: cpu_seconds(&current.usage),
                    cpu_warning: watch.cpu.active,
                    memory_warning: watch.memory.active,
                },
            ));
        }

        let mut own = Usage::default();
        for &pid in own_pids {
            if let Some(usage) = sampler.process_without_children(pid) {
                own = add(own, usage);
            }
        }
        let current = Sample {
            at: now,
            usage: own,
        };
        if own.processes > 0 {
            let rates = self
                .own_previous
                .map(|previous| sampler::rates(&previous, &current, self.cores))
                .unwrap_or_default();
            report.own = Some(Figures {
                usage: own,
                rates,
                cpu_seconds: cpu_seconds(&own),
                cpu_warning: false,
                memory_warning: false,
            });
            self.own_previous = Some(current);
        }
        (report, verdicts)
    }
}

fn add(total: Usage, usage: Usage) -> Usage {
    Usage {
        processes: total.processes.saturating_add(usage.processes),
        threads: total.threads.saturating_add(usage.threads),
        rss_bytes: total.rss_bytes.saturating_add(usage.rss_bytes),
        open_fds: total.open_fds.saturating_add(usage.open_fds),
        cpu_ticks: total.cpu_ticks.saturating_add(usage.cpu_ticks),
    }
}

fn cpu_seconds(usage: &Usage) -> f64 {
    usage.cpu_ticks as f64 / sampler::clock_ticks_per_second() as f64
}

/// A threshold condition that must hold for a while before it counts, and must stop holding
/// for as long before it stops counting: one spike neither raises nor clears a warning.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sustained {
    pub active: bool,
    /// Since when the condition has disagreed with `active`.
    since: Option<Instant>,
}

impl Sustained {
    /// Feeds the condition as of `now`; returns the new state when it changes.
    pub fn update(&mut self, now: Instant, above: bool, after: Duration) -> Option<bool> {
        if above == self.active {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(now);
        if now.saturating_duration_since(since) >= after {
            self.active = above;
            self.since = None;
            return Some(above);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_needs_the_sustained_period_and_ignores_spikes() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let after = Duration::from_secs(10);
        let mut warning = Sustained::default();
        // A spike shorter than the period: nothing.
        assert_eq!(warning.update(at(0), true, after), None);
        assert_eq!(warning.update(at(5), true, after), None);
        assert_eq!(warning.update(at(6), false, after), None);
        // Above again: the period starts over.
        assert_eq!(warning.update(at(7), true, after), None);
        assert_eq!(warning.update(at(16), true, after), None);
        assert_eq!(warning.update(at(17), true, after), Some(true));
        assert!(warning.active);
        assert_eq!(warning.update(at(18), true, after), None);
        // A dip does not clear it; staying below for the period does.
        assert_eq!(warning.update(at(20), false, after), None);
        assert_eq!(warning.update(at(21), true, after), None);
        assert_eq!(warning.update(at(22), false, after), None);
        assert_eq!(warning.update(at(32), false, after), Some(false));
        assert!(!warning.active);
    }

    #[test]
    fn zero_period_warns_at_once() {
        let mut warning = Sustained::default();
        assert_eq!(
            warning.update(Instant::now(), true, Duration::ZERO),
            Some(true)
        );
    }
}
