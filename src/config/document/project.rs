//! The top level of the file and the project-wide tables: which tables exist, `[logs]` (the
//! daemon's log files), `[monitor]` (resource sampling), `[metrics]` (the Prometheus
//! endpoint) and `[dashboard]` (the web dashboard). Services and `[defaults]` are read by
//! `services`, `[[notify]]` by `notify`, `[sockets]` by `sockets`.
//!
//! A new top-level table is a key in `TOP_LEVEL_KEYS`, an arm in `project` and, when it holds
//! more than a few keys, a file of its own beside this one.

use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::{RawNotify, RawService, RawSettings, RawSocket, Reader};
use crate::config::diagnostic::Diagnostic;
use crate::spec::{DashboardSpec, LogSpec, MetricsSpec, MonitorSpec};

/// Keys allowed at the top level.
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "services",
    "defaults",
    "sockets",
    "logs",
    "monitor",
    "metrics",
    "dashboard",
    "notify",
    "profiles",
];
pub(crate) const LOGS_KEYS: &[&str] = &["max_file_size", "keep_files", "budget"];
pub(crate) const MONITOR_KEYS: &[&str] = &["interval", "history"];
pub(crate) const METRICS_KEYS: &[&str] = &["listen"];
pub(crate) const DASHBOARD_KEYS: &[&str] = &["listen"];
/// The shortest sampling interval accepted: sampling costs CPU in proportion to its rate.
const MIN_MONITOR_INTERVAL: Duration = Duration::from_millis(100);
/// The most samples kept per service (history / interval): bounds the monitor's memory.
const MAX_HISTORY_SAMPLES: u128 = 100_000;

/// The whole file, shape-checked.
#[derive(Debug, Default)]
pub(crate) struct RawProject {
    pub(crate) defaults: RawSettings,
    pub(crate) services: Vec<RawService>,
    pub(crate) sockets: Vec<RawSocket>,
    pub(crate) logs: LogSpec,
    pub(crate) notify: Vec<RawNotify>,
    pub(crate) monitor: MonitorSpec,
    pub(crate) metrics: Option<MetricsSpec>,
    pub(crate) dashboard: Option<DashboardSpec>,
    /// Services left out by `enabled = false`, by name.
    pub(crate) disabled: Vec<String>,
}

impl Reader<'_> {
    pub(super) fn project(&mut self, document: &DeTable<'_>) -> RawProject {
        let mut project = RawProject::default();
        let mut services_seen = false;
        for (key, value) in document.iter() {
            match key.get_ref().as_ref() {
                "services" => {
                    services_seen = true;
                    let Some(services) = self.table(value, "services", "a table of services")
                    else {
                        continue;
                    };
                    if services.is_empty() {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                key.span(),
                                "no service is defined",
                                "`services` is empty",
                            )
                            .with_help("add a service: [services.web] with command = \"...\""),
                        );
                    }
                    for (name, service) in services.iter() {
                        project.services.push(self.service(name, service));
                    }
                }
                "defaults" => {
                    if let Some(defaults) = self.table(value, "defaults", "a table") {
                        project.defaults = self.defaults(defaults);
                    }
                }
                "sockets" => project.sockets = self.sockets(value),
                "logs" => {
                    if let Some(logs) = self.table(value, "logs", "a table") {
                        project.logs = self.logs(logs);
                    }
                }
                "notify" => project.notify = self.notify_entries(value),
                "monitor" => {
                    if let Some(monitor) = self.table(value, "monitor", "a table") {
                        project.monitor = self.monitor(monitor);
                    }
                }
                "metrics" => {
                    if let Some(metrics) = self.table(value, "metrics", "a table") {
                        project.metrics = self
                            .listener(metrics, "metrics", 9464)
                            .map(|listen| MetricsSpec { listen });
                    }
                }
                "dashboard" => {
                    if let Some(dashboard) = self.table(value, "dashboard", "a table") {
                        project.dashboard = self
                            .listener(dashboard, "dashboard", 8421)
                            .map(|listen| DashboardSpec { listen });
                    }
                }
                // Taken out and laid over the document before (`profiles`).
                "profiles" => {}
                other => self.unknown_key(key, other, "the top level", TOP_LEVEL_KEYS),
            }
        }
        if !services_seen {
            self.push(
                Diagnostic::in_file(self.file, "no service is defined: `[services]` is missing")
                    .with_help(
                        "add a service, for example:\n[services.web]\ncommand = \"python -m http.server 8000\"",
                    ),
            );
        }
        project
    }

    /// `[logs]`: the daemon's log file limits.
    fn logs(&mut self, table: &DeTable<'_>) -> LogSpec {
        let mut logs = LogSpec::default();
        let mut max_file_span = None;
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "max_file_size" => {
                    if let Some(size) = self.size(value, "logs.max_file_size") {
                        logs.max_file_bytes = size;
                        max_file_span = Some(value.span());
                    }
                }
                "budget" => {
                    if let Some(size) = self.size(value, "logs.budget") {
                        logs.budget_bytes = size;
                    }
                }
                "keep_files" => {
                    if let Some(count) = self.integer(value, "logs.keep_files", "a number of files")
                    {
                        match u32::try_from(count) {
                            Ok(count) if count <= 1000 => logs.keep_files = count,
                            _ => self.push(Diagnostic::at(
                                self.file,
                                value.span(),
                                "`logs.keep_files` must be between 0 and 1000",
                                "out of range",
                            )),
                        }
                    }
                }
                other => self.unknown_key(key, other, "[logs]", LOGS_KEYS),
            }
        }
        if logs.budget_bytes < logs.max_file_bytes {
            let span = max_file_span.unwrap_or_else(|| {
                table
                    .iter()
                    .next()
                    .map(|(key, _)| key.span())
                    .unwrap_or(0..0)
            });
            self.push(
                Diagnostic::at(
                    self.file,
                    span,
                    "`logs.budget` is smaller than `logs.max_file_size`",
                    "one file would not fit in the budget",
                )
                .with_help("raise `budget` or lower `max_file_size`"),
            );
        }
        logs
    }

    /// `[monitor]`: how often resources are sampled and how long samples are kept.
    fn monitor(&mut self, table: &DeTable<'_>) -> MonitorSpec {
        let mut monitor = MonitorSpec::default();
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "interval" => {
                    let Some(interval) = self.duration(value, "monitor.interval", true) else {
                        continue;
                    };
                    if *interval.get_ref() < MIN_MONITOR_INTERVAL {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                value.span(),
                                "`monitor.interval` must be at least 100ms",
                                "too short",
                            )
                            .with_help("sampling costs CPU at every tick; 1s to 10s is usual"),
                        );
                        continue;
                    }
                    monitor.interval = interval.into_inner();
                }
                "history" => {
                    if let Some(history) = self.duration(value, "monitor.history", false) {
                        monitor.history = history.into_inner();
                    }
                }
                other => self.unknown_key(key, other, "[monitor]", MONITOR_KEYS),
            }
        }
        if monitor.history.as_millis() / monitor.interval.as_millis().max(1) > MAX_HISTORY_SAMPLES {
            self.push(
                Diagnostic::in_file(
                    self.file,
                    format!(
                        "`monitor.history` keeps more than {MAX_HISTORY_SAMPLES} samples per service"
                    ),
                )
                .with_help("shorten `history` or lengthen `interval`"),
            );
        }
        monitor
    }

    /// A table whose one key is `listen`, the TCP address of one of the daemon's listeners
    /// (`[metrics]`, `[dashboard]`): `"127.0.0.1:9464"`, `"[::1]:9464"`, or a bare port number
    /// (on 127.0.0.1). Host names are not resolved.
    fn listener(
        &mut self,
        table: &DeTable<'_>,
        section: &str,
        example_port: u16,
    ) -> Option<std::net::SocketAddr> {
        let path = format!("{section}.listen");
        let expected = format!("an address such as \"127.0.0.1:{example_port}\" or a port number");
        let mut address = None;
        let mut listen_seen = false;
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "listen" => {
                    listen_seen = true;
                    address = match value.get_ref() {
                        DeValue::Integer(_) => self
                            .integer(value, &path, &expected)
                            .and_then(|port| self.in_range(port, value, &path, 1, 65535))
                            .map(|port| std::net::SocketAddr::from(([127, 0, 0, 1], port as u16))),
                        DeValue::String(text) => match text.parse::<std::net::SocketAddr>() {
                            Ok(address) => Some(address),
                            Err(_) => {
                                self.push(
                                    Diagnostic::at(
                                        self.file,
                                        value.span(),
                                        format!("invalid address \"{text}\" for `{path}`"),
                                        "not an IP address with a port",
                                    )
                                    .with_help(format!(
                                        "write \"127.0.0.1:{example_port}\" (or \"[::1]:{example_port}\"); host names are not resolved"
                                    )),
                                );
                                None
                            }
                        },
                        _ => {
                            self.wrong_type(value, &path, &expected);
                            None
                        }
                    };
                }
                other => {
                    let keys = if section == "metrics" {
                        METRICS_KEYS
                    } else {
                        DASHBOARD_KEYS
                    };
                    self.unknown_key(key, other, &format!("[{section}]"), keys)
                }
            }
        }
        if !listen_seen {
            let help = match section {
                "dashboard" => "add listen = \"127.0.0.1:8421\", or remove [dashboard] (then \
                                `wrangle dashboard` serves it on a free loopback port when asked)"
                    .to_string(),
                _ => format!(
                    "add listen = \"127.0.0.1:{example_port}\", or remove [{section}] to serve none"
                ),
            };
            self.push(
                Diagnostic::in_file(self.file, format!("`[{section}]` has no `listen` address"))
                    .with_help(help),
            );
        }
        address
    }
}
