//! The state of `wrangle top` and everything that changes it: what the daemon last said (status,
//! resource history, the selected service's log tail), which service is selected, which screen
//! is shown, and the status line. Keys arrive here already translated into [`Command`]s (by
//! `top::input`); network results arrive as [`Update`]s. What the loop must do in return (send a
//! request, quit) comes back as an [`Effect`].
//!
//! No terminal, no IO, no clock: time is a field the loop sets ([`App::now`]), so every rule
//! here is unit-tested as data. The formatting helpers at the end (CPU, sparklines, log
//! text made safe for a terminal) are shared with `top::view`; sizes and uptimes are `human`'s.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use crate::api::client::ClientError;
use crate::api::wire::{
    LogLine, ProjectStatus, Reply, Request, ResourceHistory, ResourcePoint, ServiceStatus,
};

/// The most log lines kept for the selected service (the SSE follow starts with this many).
pub const LOG_TAIL: usize = 500;
/// How long an action's outcome stays in the status line.
const NOTICE_FOR: Duration = Duration::from_secs(10);

/// What the user asked for, independent of the key that said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    Restart,
    Stop,
    Start,
    /// Open the selected service's logs full-screen.
    OpenLogs,
    /// Leave the log screen (back to the table).
    Back,
    Quit,
}

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The service table, with the selected service's log tail below it.
    Table,
    /// The selected service's logs on the whole screen.
    Logs,
}

/// What the event loop must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send this request to the daemon; `label` names it in the status line (`restart api`).
    Send { request: Request, label: String },
    /// End `wrangle top` (exit code 0).
    Quit,
}

/// Something the network side learned.
#[derive(Debug)]
pub enum Update {
    Status(Result<ProjectStatus, ClientError>),
    Resources(Result<ResourceHistory, ClientError>),
    /// A line of the follow started as `generation` (lines of an older follow are stale).
    LogLine {
        generation: u64,
        line: LogLine,
    },
    /// The follow `generation` ended: the daemon closed it, or it failed.
    LogEnded {
        generation: u64,
        error: Option<String>,
    },
    /// The daemon's answer to an [`Effect::Send`].
    Sent {
        label: String,
        result: Result<Reply, String>,
    },
}

/// How the conversation with the daemon goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// The last call worked.
    Ok,
    /// The last call failed, but the daemon may still be there (a timeout, a busy daemon).
    Trouble(String),
    /// Nobody listens on the socket any more: the daemon stopped or was killed.
    Gone,
}

/// The tone of the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Good,
    Bad,
}

/// A message in the status line, kept for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub tone: Tone,
    pub at: SystemTime,
}

/// The selected service's recent output, from one follow of `/v1/logs`.
#[derive(Debug, Default)]
pub struct LogTail {
    /// The service followed; `None` before the first status.
    pub service: Option<String>,
    /// Identifies the follow the lines come from.
    pub generation: u64,
    pub lines: VecDeque<LogLine>,
    /// Why the follow ended, when it did (the loop starts a new one on the next tick).
    pub ended: Option<Option<String>>,
}

/// The whole state of the UI.
#[derive(Debug)]
pub struct App {
    /// The daemon's latest status; the one `top` started with until a newer one arrives.
    pub status: ProjectStatus,
    /// Recent samples per service, as last fetched.
    pub history: HashMap<String, Vec<ResourcePoint>>,
    pub connection: Connection,
    pub mode: Mode,
    pub logs: LogTail,
    /// In the log screen: how many lines the view is scrolled up from the newest (0 = follow).
    pub log_scroll: usize,
    pub notice: Option<Notice>,
    /// Whether to use colour (not with `NO_COLOR`).
    pub color: bool,
    /// The wall clock, set by the loop: uptimes and notices are relative to it.
    pub now: SystemTime,
    selected: usize,
}

impl App {
    pub fn new(status: ProjectStatus, color: bool, now: SystemTime) -> App {
        App {
            status,
            history: HashMap::new(),
            connection: Connection::Ok,
            mode: Mode::Table,
            logs: LogTail::default(),
            log_scroll: 0,
            notice: None,
            color,
            now,
            selected: 0,
        }
    }

    /// The index of the selected service in `status.services` (0 when there is none).
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// The selected service, if the project has any.
    pub fn selected_service(&self) -> Option<&ServiceStatus> {
        self.status.services.get(self.selected)
    }

    /// The service whose logs should be followed now.
    pub fn wanted_log_service(&self) -> Option<&str> {
        self.selected_service().map(|service| service.name.as_str())
    }

    /// The status line's message, while it is fresh.
    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref().filter(|notice| {
            self.now
                .duration_since(notice.at)
                .map_or(true, |age| age < NOTICE_FOR)
        })
    }

    /// Applies a command; returns what the loop must do, if anything.
    pub fn apply(&mut self, command: Command) -> Option<Effect> {
        let count = self.status.services.len();
        match (self.mode, command) {
            (_, Command::Quit) => return Some(Effect::Quit),
            (Mode::Logs, Command::Back) => {
                self.mode = Mode::Table;
                self.log_scroll = 0;
            }
            (Mode::Table, Command::Back) => return Some(Effect::Quit),
            (Mode::Table, Command::OpenLogs) => {
                if count > 0 {
                    self.mode = Mode::Logs;
                    self.log_scroll = 0;
                }
            }
            (Mode::Logs, Command::OpenLogs) => {}
            (Mode::Table, Command::Up) => self.select(self.selected.saturating_sub(1)),
            (Mode::Table, Command::Down) => self.select(self.selected.saturating_add(1)),
            (Mode::Table, Command::PageUp) => self.select(self.selected.saturating_sub(10)),
            (Mode::Table, Command::PageDown) => self.select(self.selected.saturating_add(10)),
            (Mode::Table, Command::First) => self.select(0),
            (Mode::Table, Command::Last) => self.select(count.saturating_sub(1)),
            // In the log screen the same keys scroll the log instead (clamped when drawn).
            (Mode::Logs, Command::Up) => self.scroll_logs(1, true),
            (Mode::Logs, Command::Down) => self.scroll_logs(1, false),
            (Mode::Logs, Command::PageUp) => self.scroll_logs(20, true),
            (Mode::Logs, Command::PageDown) => self.scroll_logs(20, false),
            (Mode::Logs, Command::First) => self.log_scroll = self.logs.lines.len(),
            (Mode::Logs, Command::Last) => self.log_scroll = 0,
            (_, Command::Restart) => {
                return self.act("restart", |services| Request::Restart { services });
            }
            (_, Command::Stop) => return self.act("stop", |services| Request::Stop { services }),
            (_, Command::Start) => {
                return self.act("start", |services| Request::Start { services });
            }
        }
        None
    }

    /// Takes in what the network side learned.
    pub fn update(&mut self, update: Update) {
        match update {
            Update::Status(Ok(status)) => {
                let selected = self.selected_service().map(ServiceStatus::label);
                self.status = status;
                self.connection = Connection::Ok;
                // Keep the same row (service, or instance) selected if the list changed around it.
                let index = selected.and_then(|label| {
                    self.status
                        .services
                        .iter()
                        .position(|service| service.label() == label)
                });
                self.select(index.unwrap_or(self.selected));
            }
            Update::Status(Err(error)) | Update::Resources(Err(error)) => self.failed(&error),
            Update::Resources(Ok(history)) => {
                for series in history.services {
                    self.history.insert(series.name, series.points);
                }
            }
            Update::LogLine { generation, line } => {
                if generation != self.logs.generation {
                    return;
                }
                while self.logs.lines.len() >= LOG_TAIL {
                    self.logs.lines.pop_front();
                }
                self.logs.lines.push_back(line);
                // A reader scrolled up keeps looking at the same lines while new ones arrive.
                if self.log_scroll > 0 {
                    self.log_scroll = self.log_scroll.saturating_add(1);
                }
            }
            Update::LogEnded { generation, error } => {
                if generation == self.logs.generation {
                    self.logs.ended = Some(error);
                }
            }
            Update::Sent { label, result } => {
                let (text, tone) = match result {
                    Ok(Reply::Accepted { services }) => {
                        let also: Vec<&String> = services
                            .iter()
                            .filter(|name| !label.ends_with(&format!(" {name}")))
                            .collect();
                        let also = match also.is_empty() {
                            true => String::new(),
                            false => format!(
                                " (with {})",
                                also.iter()
                                    .map(|name| name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        };
                        (format!("{label}: accepted{also}"), Tone::Good)
                    }
                    Ok(Reply::ShuttingDown) => {
                        (format!("{label}: the daemon is shutting down"), Tone::Bad)
                    }
                    // `top` sends no `apply`.
                    Ok(Reply::Plan { .. } | Reply::Applied { .. }) => {
                        (format!("{label}: accepted"), Tone::Good)
                    }
                    Err(error) => (format!("{label}: error: {error}"), Tone::Bad),
                };
                self.say(text, tone);
            }
        }
    }

    /// Starts a new log follow for `service`: lines of earlier follows are ignored from now on.
    /// Returns the follow's generation.
    pub fn follow_logs(&mut self, service: &str) -> u64 {
        self.logs.generation = self.logs.generation.wrapping_add(1);
        self.logs.service = Some(service.to_string());
        self.logs.lines.clear();
        self.logs.ended = None;
        self.log_scroll = 0;
        self.logs.generation
    }

    /// The latest samples of `service` (oldest first; empty when none were fetched).
    pub fn points(&self, service: &str) -> &[ResourcePoint] {
        self.history.get(service).map_or(&[], Vec::as_slice)
    }

    fn select(&mut self, index: usize) {
        self.selected = index.min(self.status.services.len().saturating_sub(1));
    }

    fn scroll_logs(&mut self, lines: usize, up: bool) {
        self.log_scroll = match up {
            true => self
                .log_scroll
                .saturating_add(lines)
                .min(self.logs.lines.len()),
            false => self.log_scroll.saturating_sub(lines),
        };
    }

    /// The request `make` builds for the selected row, named `verb` in the status line: the
    /// service, or the instance (`web:2`) of a service that has several.
    fn act(&mut self, verb: &str, make: fn(Vec<String>) -> Request) -> Option<Effect> {
        if self.connection == Connection::Gone {
            return None;
        }
        let name = self.selected_service()?.label();
        let request = make(vec![name.clone()]);
        let label = format!("{verb} {name}");
        self.say(format!("{label}: sent"), Tone::Info);
        Some(Effect::Send { request, label })
    }

    fn failed(&mut self, error: &ClientError) {
        self.connection = match error {
            ClientError::NotRunning => Connection::Gone,
            other => Connection::Trouble(other.to_string()),
        };
    }

    fn say(&mut self, text: String, tone: Tone) {
        self.notice = Some(Notice {
            text,
            tone,
            at: self.now,
        });
    }
}

/// CPU in percent of one core, one decimal (`12.3`), or `–` when not sampled.
pub fn format_cpu(cpu_percent: Option<f64>) -> String {
    match cpu_percent {
        Some(value) if value.is_finite() && value >= 0.0 => match value < 1000.0 {
            true => format!("{value:.1}"),
            false => format!("{value:.0}"),
        },
        _ => "–".to_string(),
    }
}

/// The levels of a sparkline, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// How a sparkline maps values to bar heights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// CPU: from 0 to 100 % of one core, or to the peak when higher (several cores).
    Percent,
    /// Memory: from the lowest value shown (or 90 % of the peak, when that is lower) to the
    /// peak, so that growth shows while a few kilobytes of noise do not.
    Growth,
}

/// The last `width` values as a one-line bar chart. Fewer values than `width` are
/// right-aligned, so the newest is always at the right edge.
pub fn sparkline(values: &[f64], width: usize, scale: Scale) -> String {
    let shown = &values[values.len().saturating_sub(width)..];
    let finite = || shown.iter().copied().filter(|value| value.is_finite());
    let peak = finite().fold(0.0, f64::max);
    let (low, high) = match scale {
        Scale::Percent => (0.0, peak.max(100.0)),
        Scale::Growth => (finite().fold(peak * 0.9, f64::min).max(0.0), peak),
    };
    let mut line = " ".repeat(width - shown.len());
    for value in shown {
        let level = match high > low && value.is_finite() && *value > low {
            true => ((value - low) / (high - low) * (BARS.len() - 1) as f64).round() as usize,
            // At the bottom (or nothing to scale to: all zeros): the lowest bar.
            false => 0,
        };
        line.push(BARS[level.min(BARS.len() - 1)]);
    }
    line
}

/// A service's output made safe to put on the screen: escape sequences (colours, cursor moves)
/// are dropped, tabs become spaces, and other control characters become `?`. A line of a
/// service must never move the cursor or change the screen's mode.
pub fn printable(text: &str) -> String {
    let mut clean = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\u{1b}' => match chars.peek() {
                // CSI: parameters and intermediates, then one final byte in @..~.
                Some('[') => {
                    chars.next();
                    for next in chars.by_ref() {
                        if ('@'..='~').contains(&next) {
                            break;
                        }
                    }
                }
                // OSC (window titles, hyperlinks): up to BEL or ST (ESC \).
                Some(']') => {
                    chars.next();
                    while let Some(next) = chars.next() {
                        if next == '\u{7}' {
                            break;
                        }
                        if next == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                // Any other escape: ESC and the one character after it.
                _ => {
                    chars.next();
                }
            },
            '\t' => clean.push_str("    "),
            ch if ch.is_control() => clean.push('?'),
            ch => clean.push(ch),
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::wire::{LogStream, ServiceState};

    fn service(name: &str) -> ServiceStatus {
        serde_json::from_value(serde_json::json!({
            "name": name, "state": "running", "pid": 100, "started_at": null, "restarts": 0,
            "last_exit": null, "ports": [], "readiness": null, "reason": null,
        }))
        .unwrap()
    }

    fn status(names: &[&str]) -> ProjectStatus {
        ProjectStatus {
            project: "/p/wrangle.toml".into(),
            name: "p".into(),
            daemon_pid: 7,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            services: names.iter().map(|name| service(name)).collect(),
            daemon_resources: None,
            sample_interval_ms: 1000,
            foreground: false,
            profiles: Vec::new(),
        }
    }

    fn app(names: &[&str]) -> App {
        App::new(status(names), true, SystemTime::UNIX_EPOCH)
    }

    fn line(text: &str) -> LogLine {
        LogLine {
            time: "2026-01-01T00:00:00.000Z".into(),
            service: "a".into(),
            stream: LogStream::Stdout,
            text: text.into(),
            partial: false,
        }
    }

    #[test]
    fn selection_moves_and_stays_in_bounds() {
        let mut app = app(&["a", "b", "c"]);
        assert_eq!(app.apply(Command::Up), None);
        assert_eq!(app.selected(), 0);
        app.apply(Command::Down);
        app.apply(Command::Down);
        app.apply(Command::Down);
        assert_eq!(app.selected(), 2);
        app.apply(Command::First);
        assert_eq!(app.wanted_log_service(), Some("a"));
        app.apply(Command::PageDown);
        assert_eq!(app.wanted_log_service(), Some("c"));
        app.apply(Command::PageUp);
        assert_eq!(app.selected(), 0);
        app.apply(Command::Last);
        assert_eq!(app.selected(), 2);
    }

    #[test]
    fn an_empty_project_selects_nothing_and_sends_nothing() {
        let mut app = app(&[]);
        for command in [
            Command::Down,
            Command::Up,
            Command::Last,
            Command::Restart,
            Command::Stop,
            Command::Start,
            Command::OpenLogs,
        ] {
            assert_eq!(app.apply(command), None, "{command:?}");
        }
        assert_eq!(app.mode, Mode::Table);
        assert_eq!(app.selected_service(), None);
        assert_eq!(app.wanted_log_service(), None);
    }

    #[test]
    fn action_keys_ask_the_daemon_about_the_selected_service() {
        let mut app = app(&["a", "b"]);
        app.apply(Command::Down);
        assert_eq!(
            app.apply(Command::Restart),
            Some(Effect::Send {
                request: Request::Restart {
                    services: vec!["b".into()]
                },
                label: "restart b".into()
            })
        );
        assert_eq!(
            app.notice().map(|n| n.text.as_str()),
            Some("restart b: sent")
        );
        assert!(matches!(
            app.apply(Command::Stop),
            Some(Effect::Send { request: Request::Stop { ref services }, .. }) if services == &["b"]
        ));
        assert!(matches!(
            app.apply(Command::Start),
            Some(Effect::Send { request: Request::Start { ref services }, .. }) if services == &["b"]
        ));
    }

    #[test]
    fn the_rows_of_a_service_with_instances_act_on_their_instance() {
        let mut app = app(&["web", "web"]);
        for (number, entry) in app.status.services.iter_mut().enumerate() {
            entry.instance = number as u32;
            entry.instances = 2;
        }
        app.apply(Command::Down);
        assert!(matches!(
            app.apply(Command::Restart),
            Some(Effect::Send { request: Request::Restart { ref services }, ref label })
                if services == &["web:1"] && label == "restart web:1"
        ));
    }

    #[test]
    fn the_outcome_of_an_action_goes_to_the_status_line_and_fades() {
        let mut app = app(&["a", "db"]);
        app.update(Update::Sent {
            label: "start a".into(),
            result: Ok(Reply::Accepted {
                services: vec!["db".into(), "a".into()],
            }),
        });
        let notice = app.notice().unwrap();
        assert_eq!(notice.text, "start a: accepted (with db)");
        assert_eq!(notice.tone, Tone::Good);
        app.update(Update::Sent {
            label: "stop a".into(),
            result: Err("no service named \"a\"".into()),
        });
        assert_eq!(app.notice().unwrap().tone, Tone::Bad);
        assert_eq!(
            app.notice().unwrap().text,
            "stop a: error: no service named \"a\""
        );
        app.now += NOTICE_FOR;
        assert_eq!(app.notice(), None);
    }

    #[test]
    fn quit_and_escape() {
        let mut app = app(&["a"]);
        assert_eq!(app.apply(Command::Quit), Some(Effect::Quit));
        assert_eq!(app.apply(Command::OpenLogs), None);
        assert_eq!(app.mode, Mode::Logs);
        // Esc in the log screen goes back; in the table it quits.
        assert_eq!(app.apply(Command::Back), None);
        assert_eq!(app.mode, Mode::Table);
        assert_eq!(app.apply(Command::Back), Some(Effect::Quit));
        app.apply(Command::OpenLogs);
        assert_eq!(app.apply(Command::Quit), Some(Effect::Quit));
    }

    #[test]
    fn the_log_screen_scrolls_instead_of_selecting() {
        let mut app = app(&["a", "b"]);
        let generation = app.follow_logs("a");
        for index in 0..30 {
            app.update(Update::LogLine {
                generation,
                line: line(&format!("line {index}")),
            });
        }
        app.apply(Command::OpenLogs);
        app.apply(Command::Up);
        app.apply(Command::Up);
        assert_eq!(app.log_scroll, 2);
        assert_eq!(app.selected(), 0);
        // New lines keep a scrolled view on the same lines.
        app.update(Update::LogLine {
            generation,
            line: line("new"),
        });
        assert_eq!(app.log_scroll, 3);
        app.apply(Command::PageUp);
        app.apply(Command::PageUp);
        assert_eq!(app.log_scroll, 31, "clamped to the lines there are");
        app.apply(Command::Last);
        assert_eq!(app.log_scroll, 0);
        app.apply(Command::Back);
        app.apply(Command::Down);
        assert_eq!(app.selected(), 1);
    }

    #[test]
    fn log_lines_of_an_older_follow_are_ignored_and_the_tail_is_bounded() {
        let mut app = app(&["a", "b"]);
        let old = app.follow_logs("a");
        let new = app.follow_logs("b");
        app.update(Update::LogLine {
            generation: old,
            line: line("stale"),
        });
        assert!(app.logs.lines.is_empty());
        for index in 0..LOG_TAIL + 10 {
            app.update(Update::LogLine {
                generation: new,
                line: line(&index.to_string()),
            });
        }
        assert_eq!(app.logs.lines.len(), LOG_TAIL);
        assert_eq!(app.logs.lines.front().unwrap().text, "10");
        app.update(Update::LogEnded {
            generation: old,
            error: None,
        });
        assert_eq!(app.logs.ended, None);
        app.update(Update::LogEnded {
            generation: new,
            error: Some("reset".into()),
        });
        assert_eq!(app.logs.ended, Some(Some("reset".into())));
    }

    #[test]
    fn a_new_status_keeps_the_selected_service_and_errors_set_the_connection() {
        let mut app = app(&["a", "b", "c"]);
        app.apply(Command::Down);
        app.update(Update::Status(Ok(status(&["z", "a", "b", "c"]))));
        assert_eq!(app.wanted_log_service(), Some("b"));
        app.update(Update::Status(Ok(status(&["a"]))));
        assert_eq!(app.wanted_log_service(), Some("a"));
        app.update(Update::Status(Err(ClientError::Protocol("bad".into()))));
        assert!(matches!(app.connection, Connection::Trouble(ref text) if text.contains("bad")));
        app.update(Update::Status(Ok(status(&["a"]))));
        assert_eq!(app.connection, Connection::Ok);
        app.update(Update::Resources(Err(ClientError::NotRunning)));
        assert_eq!(app.connection, Connection::Gone);
        assert_eq!(app.apply(Command::Restart), None, "nobody to send it to");
    }

    #[test]
    fn resources_fill_the_history_by_service() {
        let mut app = app(&["a"]);
        let point = ResourcePoint {
            time_ms: 1,
            cpu_percent: 50.0,
            memory_bytes: 1024,
        };
        app.update(Update::Resources(Ok(ResourceHistory {
            interval_ms: 1000,
            daemon: vec![],
            services: vec![crate::api::wire::ServiceHistory {
                name: "a".into(),
                points: vec![point],
            }],
        })));
        assert_eq!(app.points("a"), &[point]);
        assert_eq!(app.points("missing"), &[]);
        assert_eq!(app.status.services[0].state, ServiceState::Running);
    }

    #[test]
    fn cpu_formats() {
        assert_eq!(format_cpu(None), "–");
        assert_eq!(format_cpu(Some(0.0)), "0.0");
        assert_eq!(format_cpu(Some(12.345)), "12.3");
        assert_eq!(format_cpu(Some(1234.5)), "1234");
        assert_eq!(format_cpu(Some(f64::NAN)), "–");
        assert_eq!(format_cpu(Some(-1.0)), "–");
    }

    #[test]
    fn sparklines_scale_pad_and_keep_the_newest() {
        assert_eq!(sparkline(&[], 4, Scale::Percent), "    ");
        assert_eq!(sparkline(&[0.0, 50.0, 100.0], 4, Scale::Percent), " ▁▅█");
        // Above one core, the peak is the top; the oldest value is not shown.
        assert_eq!(sparkline(&[900.0, 1.0, 200.0], 2, Scale::Percent), "▁█");
        assert_eq!(sparkline(&[f64::NAN, -1.0, 0.0], 3, Scale::Percent), "▁▁▁");
        assert_eq!(sparkline(&[1.0], 0, Scale::Percent), "");
        // Memory growing from 100 to 120 shows as a ramp...
        assert_eq!(
            sparkline(&[100.0, 105.0, 110.0, 115.0, 120.0], 5, Scale::Growth),
            "▁▃▅▆█"
        );
        // ... a flat series as full bars, and noise of 0.1 % as nothing.
        assert_eq!(sparkline(&[3e6, 3e6], 2, Scale::Growth), "██");
        assert_eq!(sparkline(&[3e6, 3.003e6, 3e6], 3, Scale::Growth), "███");
        assert_eq!(sparkline(&[0.0, 0.0], 2, Scale::Growth), "▁▁");
        assert_eq!(sparkline(&[0.0, 1024.0], 2, Scale::Growth), "▁█");
    }

    #[test]
    fn printable_drops_escapes_and_control_characters() {
        assert_eq!(printable("plain"), "plain");
        assert_eq!(printable("\u{1b}[31mred\u{1b}[0m"), "red");
        assert_eq!(printable("\u{1b}[2J\u{1b}[?1049lx"), "x");
        assert_eq!(printable("\u{1b}]0;title\u{7}y"), "y");
        assert_eq!(printable("\u{1b}]8;;http://x\u{1b}\\link"), "link");
        assert_eq!(printable("a\tb\rc\u{0}"), "a    b?c?");
        assert_eq!(printable("\u{1b}"), "");
        assert_eq!(printable("\u{1b}["), "");
        assert_eq!(printable("é ✓"), "é ✓");
    }
}
