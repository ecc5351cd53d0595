//! Drawing `wrangle top`: a pure function of the [`App`] state onto a ratatui frame, so it can
//! be checked on an in-memory `TestBackend` without a terminal.
//!
//! What goes where is decided first, by [`plan`], from the size alone: a header line, the
//! service table (its columns chosen by [`columns`]: the CPU and memory sparklines go first
//! when the terminal narrows, then uptime, restarts and PID), the selected service's log pane
//! (dropped when the terminal is short), a status line and the key help. Below [`MIN_WIDTH`] x
//! [`MIN_HEIGHT`] only a one-line notice is drawn. No size, however small, panics.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use crate::api::wire::{LogLine, LogStream, ServiceState, ServiceStatus};
use crate::human;
use crate::top::app::{App, Connection, Mode, Scale, Tone, format_cpu, printable, sparkline};
use crate::top::input;

/// Below this many columns only a notice is drawn.
pub const MIN_WIDTH: u16 = 30;
/// Below this many rows only a notice is drawn.
pub const MIN_HEIGHT: u16 = 5;
/// The log pane needs this many rows (its title and at least a few lines) to be worth showing.
const MIN_LOG_ROWS: u16 = 4;
/// A sparkline narrower than this says nothing: both are dropped.
const MIN_SPARKLINE: u16 = 10;
/// Sparklines wider than this would only stretch the same samples.
const MAX_SPARKLINE: u16 = 60;

/// Where each part of the screen goes, for one terminal size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub header: Rect,
    /// The service table, or on the log screen the full-screen log.
    pub body: Rect,
    /// The log pane under the table (table screen only).
    pub logs: Option<Rect>,
    pub status: Rect,
    pub footer: Option<Rect>,
}

/// A column of the service table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Name,
    State,
    Pid,
    Cpu,
    Mem,
    Restarts,
    Uptime,
    CpuHistory,
    MemHistory,
}

/// The layout for `area`, or `None` when the terminal is too small for any.
pub fn plan(area: Rect, mode: Mode, services: usize) -> Option<Plan> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let row = |y: u16, height: u16| Rect::new(area.x, y, area.width, height);
    let footer_rows = u16::from(area.height >= 8);
    let top = area.y;
    let bottom = area.y + area.height;
    let header = row(top, 1);
    let footer = (footer_rows == 1).then(|| row(bottom - 1, 1));
    let status = row(bottom - 1 - footer_rows, 1);
    // Everything between the header and the status line.
    let middle = area.height - 2 - footer_rows;
    let body_top = top + 1;
    if mode == Mode::Logs {
        return Some(Plan {
            header,
            body: row(body_top, middle),
            logs: None,
            status,
            footer,
        });
    }
    let wanted = u16::try_from(services.saturating_add(1)).unwrap_or(u16::MAX);
    let (table, logs) = if middle < 2 * MIN_LOG_ROWS {
        (middle, 0)
    } else {
        // The table takes what it needs up to 3/5 of the space; the log pane the rest.
        let table = wanted.clamp(2, middle * 3 / 5);
        (table, middle - table)
    };
    Some(Plan {
        header,
        body: row(body_top, table),
        logs: (logs >= MIN_LOG_ROWS).then(|| row(body_top + table, logs)),
        status,
        footer,
    })
}

/// The table's columns and their widths for `width` columns of terminal, the names being up to
/// `name_width` wide.
pub fn columns(width: u16, name_width: u16) -> Vec<(Column, u16)> {
    let name = name_width.clamp(4, 24);
    let mut columns = vec![
        (Column::Name, name),
        (Column::State, 8),
        (Column::Pid, 7),
        (Column::Cpu, 6),
        (Column::Mem, 7),
        (Column::Restarts, 8),
        (Column::Uptime, 6),
    ];
    // Each column is followed by one space of spacing.
    let used = |columns: &[(Column, u16)]| columns.iter().map(|(_, w)| w + 1).sum::<u16>();
    let spare = width.saturating_sub(used(&columns));
    let sparkline = (spare / 2).saturating_sub(1).min(MAX_SPARKLINE);
    if sparkline >= MIN_SPARKLINE {
        columns.push((Column::CpuHistory, sparkline));
        columns.push((Column::MemHistory, sparkline));
        return columns;
    }
    for dropped in [Column::Uptime, Column::Restarts, Column::Pid] {
        if used(&columns) <= width {
            break;
        }
        columns.retain(|(column, _)| *column != dropped);
    }
    columns
}

/// The services whose resource history is worth fetching for a screen of `area`: those whose
/// row is visible when sparklines are shown, else only the selected one (asking for any keeps
/// the daemon sampling every second).
pub fn history_wanted(app: &App, area: Rect) -> Vec<String> {
    let services = &app.status.services;
    let selected = || {
        app.selected_service()
            .map(|service| vec![service.name.clone()])
            .unwrap_or_default()
    };
    let Some(plan) = plan(area, app.mode, services.len()) else {
        return selected();
    };
    let sparklines = columns(plan.body.width, name_width(app))
        .iter()
        .any(|(column, _)| *column == Column::CpuHistory);
    if app.mode != Mode::Table || !sparklines {
        return selected();
    }
    let (offset, visible) = visible_rows(app, plan.body);
    let mut names: Vec<String> = services
        .iter()
        .skip(offset)
        .take(visible)
        .map(|service| service.name.clone())
        .collect();
    // The history is per service: the instances of one share it.
    names.dedup();
    names
}

/// Draws the whole screen.
pub fn render(app: &App, frame: &mut Frame<'_>) {
    let area = frame.area();
    let Some(plan) = plan(area, app.mode, app.status.services.len()) else {
        let text = format!(
            "wrangle top: terminal too small ({}x{})",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text), area);
        return;
    };
    let theme = Theme { color: app.color };
    frame.render_widget(header(app, &theme), plan.header);
    match app.mode {
        Mode::Table => {
            render_table(app, &theme, frame, plan.body);
            if let Some(logs) = plan.logs {
                render_logs(app, &theme, frame, logs, 0);
            }
        }
        Mode::Logs => render_logs(app, &theme, frame, plan.body, app.log_scroll),
    }
    frame.render_widget(status_line(app, &theme), plan.status);
    if let Some(footer) = plan.footer {
        let help = Paragraph::new(input::help(app.mode)).style(theme.dim());
        frame.render_widget(help, footer);
    }
}

/// Styles, without colour when colour is not wanted (`NO_COLOR`): then only bold, dim and
/// reverse video tell things apart.
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(&self, color: Color) -> Style {
        match self.color {
            true => Style::new().fg(color),
            false => Style::new(),
        }
    }

    fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    fn state(&self, state: ServiceState) -> Style {
        match state {
            ServiceState::Ready | ServiceState::Running => self.fg(Color::Green),
            ServiceState::Waiting | ServiceState::Starting | ServiceState::Stopping => {
                self.fg(Color::Yellow)
            }
            ServiceState::Crashed | ServiceState::Backoff | ServiceState::Failed => {
                self.fg(Color::Red).add_modifier(Modifier::BOLD)
            }
            ServiceState::Stopped | ServiceState::Exited | ServiceState::Inactive => self.dim(),
        }
    }

    fn tone(&self, tone: Tone) -> Style {
        match tone {
            Tone::Info => Style::new(),
            Tone::Good => self.fg(Color::Green),
            Tone::Bad => self.fg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }
}

fn header(app: &App, theme: &Theme) -> Paragraph<'static> {
    let status = &app.status;
    let up = status
        .services
        .iter()
        .filter(|service| matches!(service.state, ServiceState::Ready | ServiceState::Running))
        .count();
    let (cpu, mem) = match &status.daemon_resources {
        Some(usage) => (
            format!("{}%", format_cpu(Some(usage.cpu_percent))),
            human::bytes(usage.memory_bytes),
        ),
        None => ("–".to_string(), "–".to_string()),
    };
    let line = Line::from(vec![
        Span::styled(
            "wrangle top",
            theme.fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("  {}", printable(&status.name))),
        Span::styled(
            format!("  daemon PID {}  cpu {cpu}  mem {mem}", status.daemon_pid),
            theme.dim(),
        ),
        Span::raw(format!("  {up}/{} up", status.services.len())),
    ]);
    Paragraph::new(line)
}

fn render_table(app: &App, theme: &Theme, frame: &mut Frame<'_>, area: Rect) {
    let services = &app.status.services;
    let columns = columns(area.width, name_width(app));
    let header = Row::new(columns.iter().map(|(column, _)| {
        let title = match column {
            Column::Name => "NAME",
            Column::State => "STATE",
            Column::Pid => "PID",
            Column::Cpu => "CPU%",
            Column::Mem => "MEM",
            Column::Restarts => "RESTARTS",
            Column::Uptime => "UPTIME",
            Column::CpuHistory => "CPU HISTORY",
            Column::MemHistory => "MEM HISTORY",
        };
        match right_aligned(*column) {
            true => Cell::from(Line::from(title).right_aligned()),
            false => Cell::from(title),
        }
    }))
    .style(Style::new().add_modifier(Modifier::BOLD));
    let (offset, visible) = visible_rows(app, area);
    let rows = services
        .iter()
        .enumerate()
        .skip(offset)
        .take(visible)
        .map(|(index, service)| {
            let row = Row::new(
                columns
                    .iter()
                    .map(|(column, width)| cell(app, theme, service, *column, *width)),
            );
            match index == app.selected() {
                true => row.style(Style::new().add_modifier(Modifier::REVERSED)),
                false => row,
            }
        });
    let widths = columns.iter().map(|(_, width)| Constraint::Length(*width));
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    frame.render_widget(table, area);
}

/// The widest service name, in columns.
fn name_width(app: &App) -> u16 {
    let widest = app
        .status
        .services
        .iter()
        .map(|service| service.label().chars().count())
        .max()
        .unwrap_or(0);
    u16::try_from(widest).unwrap_or(u16::MAX)
}

/// The first service row shown in a table of `area` and how many fit below its header: scrolled
/// just enough that the selected service is visible.
fn visible_rows(app: &App, area: Rect) -> (usize, usize) {
    let visible = usize::from(area.height.saturating_sub(1)).max(1);
    let offset = (app.selected() + 1).saturating_sub(visible);
    (offset, visible)
}

fn right_aligned(column: Column) -> bool {
    matches!(
        column,
        Column::Pid | Column::Cpu | Column::Mem | Column::Restarts | Column::Uptime
    )
}

fn cell(
    app: &App,
    theme: &Theme,
    service: &ServiceStatus,
    column: Column,
    width: u16,
) -> Cell<'static> {
    let usage = service.resources.as_ref();
    let text = match column {
        Column::Name => return Cell::from(printable(&service.label())),
        Column::State => {
            return Cell::from(Span::styled(
                service.state.to_string(),
                theme.state(service.state),
            ));
        }
        Column::Pid => service
            .pid
            .map_or_else(|| "–".to_string(), |pid| pid.to_string()),
        Column::Cpu => format_cpu(usage.map(|usage| usage.cpu_percent)),
        Column::Mem => {
            usage.map_or_else(|| "–".to_string(), |usage| human::bytes(usage.memory_bytes))
        }
        Column::Restarts => service.restarts.to_string(),
        Column::Uptime => service
            .uptime_at(app.now)
            .map_or_else(|| "–".to_string(), human::uptime),
        Column::CpuHistory | Column::MemHistory => {
            let points = app.points(&service.name);
            let (values, scale, color): (Vec<f64>, Scale, Color) = match column {
                Column::CpuHistory => (
                    points.iter().map(|point| point.cpu_percent).collect(),
                    Scale::Percent,
                    Color::Cyan,
                ),
                _ => (
                    // Precision past 2^53 bytes does not matter for a bar's height.
                    points
                        .iter()
                        .map(|point| point.memory_bytes as f64)
                        .collect(),
                    Scale::Growth,
                    Color::Magenta,
                ),
            };
            let line = sparkline(&values, usize::from(width), scale);
            return Cell::from(Span::styled(line, theme.fg(color)));
        }
    };
    Cell::from(Line::from(text).right_aligned())
}

fn render_logs(app: &App, theme: &Theme, frame: &mut Frame<'_>, area: Rect, scroll: usize) {
    let tail = &app.logs;
    let name = tail.service.as_deref().map(printable).unwrap_or_default();
    let mut title = format!(" logs: {name} ");
    if tail.ended.is_some() {
        title.push_str("(reconnecting) ");
    }
    if app.mode == Mode::Logs {
        match scroll {
            0 => title.push_str("(following) "),
            _ => title.push_str(&format!("(scrolled up {scroll}, End follows) ")),
        }
    }
    let block = Block::new()
        .borders(Borders::TOP)
        .title(title)
        .border_style(theme.dim());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height);
    let scroll = scroll.min(tail.lines.len().saturating_sub(rows));
    let end = tail.lines.len().saturating_sub(scroll);
    let start = end.saturating_sub(rows);
    let lines: Vec<Line<'static>> = tail
        .lines
        .range(start..end)
        .map(|line| log_line(line, theme))
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// One line of output, as `wrangle logs` shows it (without times, which the API gives in UTC):
/// stderr in red.
fn log_line(line: &LogLine, theme: &Theme) -> Line<'static> {
    let text = printable(&line.text);
    match line.stream {
        LogStream::Stdout => Line::raw(text),
        LogStream::Stderr => Line::styled(text, theme.fg(Color::Red)),
    }
}

fn status_line(app: &App, theme: &Theme) -> Paragraph<'static> {
    let (text, style) = match &app.connection {
        Connection::Gone => (
            "daemon gone: it stopped or was killed; leaving".to_string(),
            theme.tone(Tone::Bad),
        ),
        Connection::Trouble(error) => (
            format!("daemon not answering: {error}"),
            theme.fg(Color::Yellow),
        ),
        Connection::Ok => match app.notice() {
            Some(notice) => (notice.text.clone(), theme.tone(notice.tone)),
            // Otherwise, why the selected service is in a bad state, when the daemon knows.
            None => match app.selected_service() {
                Some(service) => match (&service.last_restart_reason, &service.reason) {
                    (_, Some(reason)) => (format!("{}: {reason}", service.label()), theme.dim()),
                    (Some(reason), None) => (
                        format!("{}: last restart: {reason}", service.label()),
                        theme.dim(),
                    ),
                    (None, None) => (String::new(), Style::new()),
                },
                None => ("this project has no services".to_string(), theme.dim()),
            },
        },
    };
    Paragraph::new(Span::styled(printable(&text), style))
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::api::wire::{
        ProjectStatus, ResourceHistory, ResourcePoint, ResourceUsage, ServiceHistory,
    };
    use crate::top::app::{Command, Update};

    fn service(
        name: &str,
        state: &str,
        pid: Option<i32>,
        usage: Option<ResourceUsage>,
    ) -> ServiceStatus {
        let mut service: ServiceStatus = serde_json::from_value(serde_json::json!({
            "name": name, "state": state, "pid": pid, "started_at": "2026-01-01T00:00:00.000Z",
            "restarts": 2, "last_exit": null, "ports": [], "readiness": null, "reason": null,
        }))
        .unwrap();
        service.resources = usage;
        service
    }

    fn usage(cpu: f64, memory: u64) -> ResourceUsage {
        ResourceUsage {
            cpu_percent: cpu,
            memory_bytes: memory,
            ..ResourceUsage::default()
        }
    }

    fn app(color: bool) -> App {
        let status = ProjectStatus {
            project: "/p/wrangle.toml".into(),
            name: "shop".into(),
            daemon_pid: 4242,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            services: vec![
                service(
                    "api",
                    "running",
                    Some(101),
                    Some(usage(12.5, 45 * 1024 * 1024)),
                ),
                service("db", "ready", Some(102), None),
                service("worker", "crashed", None, None),
            ],
            daemon_resources: Some(usage(0.3, 5 * 1024 * 1024)),
            sample_interval_ms: 1000,
            foreground: false,
            profiles: Vec::new(),
        };
        let now = humantime::parse_rfc3339("2026-01-01T00:03:07Z").unwrap();
        let mut app = App::new(status, color, now);
        app.update(Update::Resources(Ok(ResourceHistory {
            interval_ms: 1000,
            daemon: vec![],
            services: vec![ServiceHistory {
                name: "api".into(),
                points: (0..40)
                    .map(|index| ResourcePoint {
                        time_ms: index,
                        cpu_percent: (index * 2) as f64,
                        memory_bytes: index * 1024,
                    })
                    .collect(),
            }],
        })));
        let generation = app.follow_logs("api");
        app.update(Update::LogLine {
            generation,
            line: LogLine {
                time: "2026-01-01T00:03:06.000Z".into(),
                service: "api".into(),
                stream: LogStream::Stdout,
                text: "hello \u{1b}[31mfrom\u{1b}[0m api".into(),
                partial: false,
            },
        });
        app
    }

    /// The screen as text, one string per row (trailing spaces trimmed).
    fn draw(app: &App, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| render(app, frame)).unwrap();
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol().to_string())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect()
    }

    fn find<'s>(screen: &'s [String], needle: &str) -> &'s str {
        screen
            .iter()
            .find(|row| row.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} on screen:\n{}", screen.join("\n")))
    }

    #[test]
    fn a_large_screen_shows_everything() {
        let screen = draw(&app(true), 120, 30);
        let header = &screen[0];
        assert!(
            header.contains("wrangle top  shop  daemon PID 4242  cpu 0.3%  mem 5MiB  2/3 up"),
            "{header}"
        );
        assert!(find(&screen, "NAME").contains("CPU HISTORY"));
        let api = find(&screen, "api ");
        assert!(
            api.contains("running")
                && api.contains("101")
                && api.contains("12.5")
                && api.contains("45MiB")
                && api.contains("3m07s"),
            "{api}"
        );
        assert!(api.contains('█'), "a sparkline: {api}");
        let db = find(&screen, "db ");
        assert!(
            db.contains("ready") && db.contains('–'),
            "no sample yet: {db}"
        );
        assert!(find(&screen, "worker").contains("crashed"));
        assert!(find(&screen, "logs: api").contains('─'));
        assert!(
            screen.contains(&"hello from api".to_string()),
            "escapes dropped"
        );
        assert!(screen[29].contains("q quit"));
    }

    #[test]
    fn narrow_and_short_screens_drop_sparklines_then_columns_then_the_log_pane() {
        let app = app(false);
        let screen = draw(&app, 80, 24);
        assert!(find(&screen, "NAME").contains("HISTORY"));
        let screen = draw(&app, 66, 24);
        assert!(!find(&screen, "NAME").contains("HISTORY"));
        assert!(find(&screen, "NAME").contains("UPTIME"));
        assert!(find(&screen, "logs: api").contains('─'));
        let screen = draw(&app, 40, 24);
        let header = find(&screen, "NAME");
        assert!(
            header.contains("CPU%") && header.contains("MEM") && !header.contains("UPTIME"),
            "{header}"
        );
        let screen = draw(&app, 80, 9);
        assert!(
            !screen.iter().any(|row| row.contains("logs:")),
            "{screen:#?}"
        );
        assert!(find(&screen, "worker").contains("crashed"));
    }

    #[test]
    fn the_selected_row_stays_visible_when_the_table_scrolls() {
        let mut app = app(true);
        app.status.services = (0..50)
            .map(|index| service(&format!("svc{index:02}"), "running", Some(index), None))
            .collect();
        app.apply(Command::Last);
        let screen = draw(&app, 100, 12);
        find(&screen, "svc49");
        assert!(!screen.iter().any(|row| row.contains("svc00")));
    }

    #[test]
    fn the_log_screen_fills_the_terminal_and_scrolls() {
        let mut app = app(true);
        let generation = app.logs.generation;
        for index in 0..100 {
            app.update(Update::LogLine {
                generation,
                line: LogLine {
                    time: "2026-01-01T00:03:06.000Z".into(),
                    service: "api".into(),
                    stream: LogStream::Stderr,
                    text: format!("line {index}"),
                    partial: false,
                },
            });
        }
        app.apply(Command::OpenLogs);
        let screen = draw(&app, 80, 24);
        assert!(find(&screen, "logs: api").contains("(following)"));
        assert!(screen.iter().any(|row| row.ends_with("line 99")));
        assert!(!screen.iter().any(|row| row.contains("NAME")));
        app.apply(Command::PageUp);
        let screen = draw(&app, 80, 24);
        assert!(find(&screen, "logs: api").contains("scrolled up 20"));
        assert!(screen.iter().any(|row| row.ends_with("line 79")));
        assert!(!screen.iter().any(|row| row.ends_with("line 99")));
    }

    #[test]
    fn the_status_line_says_what_happened() {
        let mut app = app(true);
        app.apply(Command::Restart);
        find(&draw(&app, 80, 24), "restart api: sent");
        app.connection = Connection::Trouble("timed out".into());
        find(&draw(&app, 80, 24), "daemon not answering: timed out");
        app.connection = Connection::Gone;
        find(&draw(&app, 80, 24), "daemon gone");
    }

    #[test]
    fn no_size_panics() {
        let mut app = app(true);
        for mode in [Command::Back, Command::OpenLogs] {
            app.apply(mode);
            for width in [0, 1, 2, 10, 29, 30, 31, 45, 60, 79, 99, 100, 200, 500] {
                for height in [0, 1, 2, 4, 5, 6, 7, 8, 9, 12, 16, 40, 200] {
                    draw(&app, width, height);
                }
            }
        }
        let screen = draw(&app, 40, 3);
        assert_eq!(screen[0], "wrangle top: terminal too small (40x3)");
    }

    #[test]
    fn history_is_fetched_for_the_rows_on_screen_only() {
        let mut app = app(true);
        let large = Rect::new(0, 0, 120, 40);
        assert_eq!(history_wanted(&app, large), ["api", "db", "worker"]);
        assert_eq!(
            history_wanted(&app, Rect::new(0, 0, 66, 40)),
            ["api"],
            "no sparklines"
        );
        app.apply(Command::Down);
        assert_eq!(
            history_wanted(&app, Rect::new(0, 0, 10, 2)),
            ["db"],
            "too small"
        );
        app.apply(Command::OpenLogs);
        assert_eq!(history_wanted(&app, large), ["db"]);
        app.apply(Command::Back);
        app.status.services = (0..50)
            .map(|index| service(&format!("svc{index:02}"), "running", Some(index), None))
            .collect();
        app.apply(Command::Last);
        let wanted = history_wanted(&app, large);
        assert_eq!(wanted.len(), 21);
        assert_eq!(wanted.last().map(String::as_str), Some("svc49"));
    }

    #[test]
    fn plans_by_size() {
        assert_eq!(plan(Rect::new(0, 0, 29, 40), Mode::Table, 3), None);
        assert_eq!(plan(Rect::new(0, 0, 80, 4), Mode::Table, 3), None);
        let small = plan(Rect::new(0, 0, 80, 7), Mode::Table, 3).unwrap();
        assert_eq!(small.logs, None);
        assert_eq!(small.footer, None);
        assert_eq!(small.body.height, 5);
        let large = plan(Rect::new(0, 0, 120, 40), Mode::Table, 3).unwrap();
        assert_eq!(large.body, Rect::new(0, 1, 120, 4));
        assert_eq!(large.logs, Some(Rect::new(0, 5, 120, 33)));
        assert_eq!(large.status, Rect::new(0, 38, 120, 1));
        assert_eq!(large.footer, Some(Rect::new(0, 39, 120, 1)));
        let many = plan(Rect::new(0, 0, 120, 40), Mode::Table, 200).unwrap();
        assert_eq!(many.body.height, 22);
        let logs = plan(Rect::new(0, 0, 120, 40), Mode::Logs, 3).unwrap();
        assert_eq!(logs.body, Rect::new(0, 1, 120, 37));
        assert_eq!(logs.logs, None);
    }

    #[test]
    fn no_color_draws_no_colour() {
        let app = app(false);
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
        terminal.draw(|frame| render(&app, frame)).unwrap();
        let buffer = terminal.backend().buffer();
        for cell in buffer.content() {
            assert_eq!(cell.fg, Color::Reset, "{cell:?}");
            assert_eq!(cell.bg, Color::Reset, "{cell:?}");
        }
    }
}
