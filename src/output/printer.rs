//! The foreground printer: one place that writes to the terminal, one line at a time.
//!
//! Every service's output and every message of wrangle's own goes through one [`Printer`], whose
//! mutex makes each line a single write, so two services' bytes never mix inside a line. The
//! printer also keeps an optional progress line pinned under the output: every print first
//! erases it and then draws it again below the new text.
//!
//! It does not decide what to say (the event consumer does), does not read service pipes (see
//! [`crate::output::LineSplitter`]), and never fails: the first write error (EPIPE from `| head`)
//! silences it for good, because a reader that went away will not come back and the supervisor
//! must still stop its services cleanly.
//!
//! # Caveats
//!
//! Writes are blocking and happen under the lock. A terminal that stops reading (XOFF, a paused
//! `less`) therefore blocks every caller, including a current-thread runtime that prints from a
//! task. Callers that must stay responsive should print from a dedicated thread fed by a bounded
//! channel.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Mutex, PoisonError};

use anstyle::Style;

use crate::mutex;
use crate::output::controls::Controls;
use crate::output::style;
use crate::spec::ServiceId;
use crate::stream::Stream;
use crate::supervisor::event::InstanceId;

/// The colour of wrangle's own messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Good,
    Warn,
    Error,
}

/// Writes prefixed lines to the user's terminal or pipe. `Send + Sync`: share it by reference or
/// `Arc` between the tasks that read service pipes.
pub struct Printer {
    /// Service names, indexed by `ServiceId`.
    names: Vec<String>,
    /// Services whose lines name the instance (`web:2`): those with several instances.
    numbered: Vec<bool>,
    /// The services' names and numbering after `wrangle apply` changed them (ids kept, added
    /// services after the others); they supersede `names` and `numbered`. The name column
    /// keeps its width.
    applied: std::sync::RwLock<Option<(Vec<String>, Vec<bool>)>>,
    /// Width of the name column, in characters.
    name_width: usize,
    color: bool,
    status_line: bool,
    /// What service output's control characters may do (as written unless set).
    controls: Controls,
    state: Mutex<State>,
}

/// What the mutex guards: the writer, and what is drawn at the bottom of the terminal.
struct State {
    out: Box<dyn Write + Send>,
    /// The progress line currently drawn (already rendered), if any.
    status: Option<Vec<u8>>,
    /// A write failed; nothing more is written.
    broken: bool,
}

/// Which services' lines name their instance (`web:2`): those that may have several.
pub fn numbered(spec: &crate::spec::ProjectSpec) -> Vec<bool> {
    spec.services
        .iter()
        .map(|service| service.instances != crate::spec::Instances::Count(1))
        .collect()
}

/// The name under which wrangle's own messages appear.
const WRANGLE: &str = "wrangle";

/// Back to column 0, then erase the whole line. See: ECMA-48 EL (`CSI 2 K`).
const CLEAR_LINE: &[u8] = b"\r\x1b[2K";

impl Printer {
    /// names: service names (index = ServiceId). color: whether to use ANSI styles. status_line:
    /// whether a live progress line may be drawn (only when output is a terminal).
    pub fn new(
        names: &[String],
        color: bool,
        status_line: bool,
        out: Box<dyn Write + Send>,
    ) -> Printer {
        let name_width = names
            .iter()
            .map(|name| name.chars().count())
            .chain([WRANGLE.len()])
            .max()
            .unwrap_or(WRANGLE.len());
        Printer {
            names: names.to_vec(),
            numbered: vec![false; names.len()],
            applied: std::sync::RwLock::new(None),
            name_width,
            color,
            status_line,
            controls: Controls::Raw,
            state: Mutex::new(State {
                out,
                status: None,
                broken: false,
            }),
        }
    }

    /// Lines of the services marked here name their instance (`web:2`), not only the service:
    /// those that may have several instances. The name column is widened for two digits.
    pub fn numbered(mut self, numbered: Vec<bool>) -> Printer {
        let widest = self
            .names
            .iter()
            .zip(&numbered)
            .filter(|(_, numbered)| **numbered)
            .map(|(name, _)| name.chars().count() + ":00".len())
            .max()
            .unwrap_or(0);
        self.name_width = self.name_width.max(widest);
        self.numbered = numbered;
        self
    }

    /// The services from now on (`wrangle apply`): `names` and `numbered` by id, as
    /// [`Printer::new`] and [`Printer::numbered`] take them.
    pub fn services_changed(&self, names: &[String], numbered: Vec<bool>) {
        *self.applied.write().unwrap_or_else(PoisonError::into_inner) =
            Some((names.to_vec(), numbered));
    }

    /// Service output written with `controls` (see [`Controls`]); as written by default.
    pub fn with_controls(mut self, controls: Controls) -> Printer {
        self.controls = controls;
        self
    }

    /// Decide colour like users expect: off when NO_COLOR is set (non-empty), or when stdout is
    /// not a terminal (unless CLICOLOR_FORCE=1); takes the env lookup as a closure for tests.
    ///
    /// The full order, as in the `anstream` crate and the CLICOLOR convention: `NO_COLOR`
    /// (non-empty) wins; then `CLICOLOR_FORCE` (non-empty, not `0`) forces colour; then
    /// `CLICOLOR=0` or `TERM=dumb` turn it off; otherwise colour follows `is_terminal`.
    /// See: <https://no-color.org>, <https://bixense.com/clicolors/>.
    pub fn color_wanted(is_terminal: bool, env: impl Fn(&str) -> Option<String>) -> bool {
        let set = |name: &str| env(name).filter(|value| !value.is_empty());
        if set("NO_COLOR").is_some() {
            return false;
        }
        if set("CLICOLOR_FORCE").is_some_and(|value| value != "0") {
            return true;
        }
        if set("CLICOLOR").is_some_and(|value| value == "0") {
            return false;
        }
        if set("TERM").is_some_and(|value| value == "dumb") {
            return false;
        }
        is_terminal
    }

    /// A line of service output. `partial` = the line had no newline (flushed because it was too
    /// long or the stream paused/ended). Invalid UTF-8 is written as lossy UTF-8; control
    /// characters as the printer's [`Controls`] say.
    ///
    /// A partial line is still ended here: the next piece starts on a fresh, prefixed line, so
    /// the name column stays intact; the text itself is exact.
    pub fn service_line(&self, instance: InstanceId, stream: Stream, line: &[u8], partial: bool) {
        // Ending every piece the same way is the point; `partial` only says why it ended.
        let _ = partial;
        let (marker, marker_style) = match stream {
            Stream::Stdout => ("|", style::stdout_marker()),
            Stream::Stderr => ("!", style::stderr_marker()),
        };
        let text = String::from_utf8_lossy(line);
        let text = self.controls.apply(&text);
        let mut rendered = Vec::with_capacity(self.name_width + text.len() + 8);
        self.push_prefix(
            &mut rendered,
            &self.instance_name(instance),
            style::service_name(instance.service),
            marker,
            marker_style,
        );
        if !text.is_empty() {
            rendered.push(b' ');
            rendered.extend_from_slice(text.as_bytes());
        }
        // A service's own colour codes are passed through; if it left a style switched on, reset
        // it so it does not bleed into the next line's prefix.
        if self.color && text.contains('\x1b') {
            rendered.extend_from_slice(b"\x1b[0m");
        }
        rendered.push(b'\n');
        self.write(&rendered);
    }

    /// wrangle's own message about a service (starting, ready in 412 ms, crashed with code 1,
    /// restarting in 800 ms, stopped).
    pub fn service_message(&self, service: ServiceId, tone: Tone, text: &str) {
        let name = self.service_name(service);
        let rendered = self.render_message(&name, style::service_name(service), tone, text);
        self.write(&rendered);
    }

    /// wrangle's own message about one instance (named like its output lines).
    pub fn instance_message(&self, instance: InstanceId, tone: Tone, text: &str) {
        let name = self.instance_name(instance);
        let rendered =
            self.render_message(&name, style::service_name(instance.service), tone, text);
        self.write(&rendered);
    }

    /// wrangle's own message about the whole project ("all 3 services ready in 1.2 s",
    /// "stopping…").
    pub fn message(&self, tone: Tone, text: &str) {
        let rendered = self.render_message(WRANGLE, style::wrangle_name(), tone, text);
        self.write(&rendered);
    }

    /// Live progress line drawn under the output on a terminal ("waiting for api
    /// (http://…/health) 1.4s"); None clears it. Ignored when status_line is false. Every other
    /// print first clears the status line (\r + ESC[2K) then redraws it after, so it always stays
    /// at the bottom.
    ///
    /// The line is cut to the terminal's width, because a line that wraps can no longer be
    /// erased with one `ESC[2K`. Line breaks in it become spaces for the same reason.
    pub fn set_status(&self, status: Option<String>) {
        if !self.status_line {
            return;
        }
        let rendered = status.map(|text| self.render_status(&text));
        let mut state = self.lock();
        let mut bytes = Vec::new();
        if state.status.is_some() {
            bytes.extend_from_slice(CLEAR_LINE);
        }
        if let Some(rendered) = &rendered {
            bytes.extend_from_slice(rendered);
        }
        state.status = rendered;
        write_out(&mut state, &bytes);
    }

    /// Whether a write failed (the reader went away, e.g. `| head` exited): nothing more is
    /// written, so a command that only prints may as well stop.
    pub fn is_broken(&self) -> bool {
        self.lock().broken
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves nothing half-updated that matters here:
        // at worst one line is missing. Keep printing.
        mutex::lock(&self.state)
    }

    /// Writes whole rendered lines, keeping the progress line below them.
    fn write(&self, lines: &[u8]) {
        let mut state = self.lock();
        if state.broken {
            return;
        }
        let bytes = match &state.status {
            None => Cow::Borrowed(lines),
            Some(status) => {
                let mut bytes = Vec::with_capacity(CLEAR_LINE.len() + lines.len() + status.len());
                bytes.extend_from_slice(CLEAR_LINE);
                bytes.extend_from_slice(lines);
                bytes.extend_from_slice(status);
                Cow::Owned(bytes)
            }
        };
        write_out(&mut state, &bytes);
    }

    /// `web`, or `web:2` for a numbered service's instance (or any instance but 0).
    fn instance_name(&self, instance: InstanceId) -> Cow<'_, str> {
        let applied = self.applied.read().unwrap_or_else(PoisonError::into_inner);
        let numbered = applied
            .as_ref()
            .map_or(&self.numbered, |(_, numbered)| numbered)
            .get(instance.service)
            .copied()
            .unwrap_or(false);
        drop(applied);
        if !numbered && instance.number == 0 {
            return self.service_name(instance.service);
        }
        Cow::Owned(format!(
            "{}:{}",
            self.service_name(instance.service),
            instance.number
        ))
    }

    fn service_name(&self, service: ServiceId) -> Cow<'_, str> {
        let applied = self.applied.read().unwrap_or_else(PoisonError::into_inner);
        if let Some((names, _)) = applied.as_ref() {
            return match names.get(service) {
                Some(name) => Cow::Owned(name.clone()),
                None => Cow::Owned(format!("#{service}")),
            };
        }
        drop(applied);
        match self.names.get(service) {
            Some(name) => Cow::Borrowed(name),
            // Ids come from the same spec as the names; a stray one is still shown, not a panic.
            None => Cow::Owned(format!("#{service}")),
        }
    }

    /// `name  marker` padded to the name column, in colour when wanted.
    fn push_prefix(
        &self,
        rendered: &mut Vec<u8>,
        name: &str,
        name_style: Style,
        marker: &str,
        marker_style: Style,
    ) {
        self.push_styled(rendered, name_style, name);
        let padding = self.name_width.saturating_sub(name.chars().count()) + 2;
        rendered.extend(std::iter::repeat_n(b' ', padding));
        self.push_styled(rendered, marker_style, marker);
    }

    /// One `name  * text` line per line of `text`.
    ///
    /// Messages can quote a service (the last lines of its output when it failed): their control
    /// characters are treated like the service's own output.
    fn render_message(&self, name: &str, name_style: Style, tone: Tone, text: &str) -> Vec<u8> {
        let tone_style = style::tone(tone);
        let mut rendered = Vec::new();
        for line in text.split('\n') {
            self.push_prefix(&mut rendered, name, name_style, "*", tone_style);
            if !line.is_empty() {
                rendered.push(b' ');
                self.push_styled(&mut rendered, tone_style, &self.controls.apply(line));
            }
            rendered.push(b'\n');
        }
        rendered
    }

    fn render_status(&self, text: &str) -> Vec<u8> {
        let one_line: String = text
            .chars()
            .map(|ch| if ch.is_control() { ' ' } else { ch })
            .collect();
        // One column short of the width: writing the last column leaves some terminals in a
        // pending-wrap state where the next `\r` goes to the wrong line.
        let fitted: String = match terminal_columns() {
            Some(columns) => one_line.chars().take(columns.saturating_sub(1)).collect(),
            None => one_line,
        };
        let mut rendered = Vec::new();
        self.push_styled(&mut rendered, style::status_line(), &fitted);
        rendered
    }

    fn push_styled(&self, rendered: &mut Vec<u8>, text_style: Style, text: &str) {
        if !self.color || text_style.is_plain() {
            rendered.extend_from_slice(text.as_bytes());
            return;
        }
        rendered.extend_from_slice(format!("{}", text_style.render()).as_bytes());
        rendered.extend_from_slice(text.as_bytes());
        rendered.extend_from_slice(format!("{}", text_style.render_reset()).as_bytes());
    }
}

impl Drop for Printer {
    /// Leaves the terminal clean: a progress line still drawn would otherwise stay on screen next
    /// to the shell prompt.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if state.status.take().is_some() {
            write_out(state, CLEAR_LINE);
        }
    }
}

/// One write of whole lines, then a flush (stdout is line-buffered, and the progress line has no
/// newline). The first error silences the printer.
fn write_out(state: &mut State, bytes: &[u8]) {
    if state.broken || bytes.is_empty() {
        return;
    }
    let result = state.out.write_all(bytes).and_then(|()| state.out.flush());
    if result.is_err() {
        state.broken = true;
    }
}

/// The width of the terminal on stdout, where the progress line is drawn (a progress line is
/// only enabled when stdout is a terminal). `None` when unknown.
fn terminal_columns() -> Option<usize> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    match size.ws_col {
        0 => None,
        columns => Some(usize::from(columns)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;
    use std::io;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A writer into a shared buffer that accepts at most `max_write` bytes per call, so that a
    /// line written in several calls would show up interleaved if the printer did not hold its
    /// lock across the whole line.
    #[derive(Clone)]
    struct SharedBuffer {
        bytes: Arc<Mutex<Vec<u8>>>,
        max_write: usize,
    }

    impl SharedBuffer {
        fn new() -> SharedBuffer {
            SharedBuffer {
                bytes: Arc::default(),
                max_write: usize::MAX,
            }
        }

        fn text(&self) -> String {
            String::from_utf8(self.bytes.lock().expect("lock").clone()).expect("utf-8 output")
        }
    }

    impl Write for SharedBuffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.max_write);
            self.bytes
                .lock()
                .expect("lock")
                .extend_from_slice(&buf[..n]);
            // Give other threads a chance to get in between two parts of one write_all.
            std::thread::yield_now();
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    fn plain_printer(list: &[&str]) -> (Printer, SharedBuffer) {
        let buffer = SharedBuffer::new();
        let printer = Printer::new(&names(list), false, false, Box::new(buffer.clone()));
        (printer, buffer)
    }

    #[test]
    fn plain_format_aligns_names() {
        let (printer, buffer) = plain_printer(&["api", "db"]);
        printer.service_line(
            InstanceId::new(0, 0),
            Stream::Stdout,
            b"listening on :8080",
            false,
        );
        printer.service_line(
            InstanceId::new(1, 0),
            Stream::Stderr,
            b"warning: slow",
            false,
        );
        printer.service_message(0, Tone::Good, "ready in 412 ms");
        printer.message(Tone::Info, "all 2 services ready");
        assert_eq!(
            buffer.text(),
            "api      | listening on :8080\n\
             db       ! warning: slow\n\
             api      * ready in 412 ms\n\
             wrangle  * all 2 services ready\n"
        );
    }

    #[test]
    fn long_names_widen_the_column() {
        let (printer, buffer) = plain_printer(&["web", "background-worker"]);
        printer.service_line(InstanceId::new(0, 0), Stream::Stdout, b"a", false);
        printer.service_line(InstanceId::new(1, 0), Stream::Stdout, b"b", false);
        printer.message(Tone::Warn, "c");
        assert_eq!(
            buffer.text(),
            "web                | a\n\
             background-worker  | b\n\
             wrangle            * c\n"
        );
    }

    #[test]
    fn non_ascii_names_align_by_character() {
        let (printer, buffer) = plain_printer(&["café-backend", "db"]);
        printer.service_line(InstanceId::new(0, 0), Stream::Stdout, b"x", false);
        printer.service_line(InstanceId::new(1, 0), Stream::Stdout, b"y", false);
        let text = buffer.text();
        let columns: Vec<usize> = text
            .lines()
            .map(|line| line.chars().position(|ch| ch == '|').expect("marker"))
            .collect();
        assert_eq!(columns, vec![14, 14]);
    }

    #[test]
    fn empty_partial_and_odd_lines() {
        let (printer, buffer) = plain_printer(&["api"]);
        printer.service_line(InstanceId::new(0, 0), Stream::Stdout, b"", false);
        printer.service_line(InstanceId::new(0, 0), Stream::Stdout, b"Password: ", true);
        printer.service_line(
            InstanceId::new(0, 0),
            Stream::Stdout,
            b"bad \xff\xfe utf8",
            false,
        );
        printer.service_line(
            InstanceId::new(0, 0),
            Stream::Stdout,
            b"tab\there \x1b[1mbold",
            false,
        );
        printer.service_line(InstanceId::new(7, 0), Stream::Stderr, b"stray id", false);
        printer.message(Tone::Error, "two\nlines");
        assert_eq!(
            buffer.text(),
            "api      |\n\
             api      | Password: \n\
             api      | bad \u{fffd}\u{fffd} utf8\n\
             api      | tab\there \x1b[1mbold\n\
             #7       ! stray id\n\
             wrangle  * two\n\
             wrangle  * lines\n"
        );
    }

    #[test]
    fn colour_format() {
        let buffer = SharedBuffer::new();
        let printer = Printer::new(
            &names(&["api", "db"]),
            true,
            false,
            Box::new(buffer.clone()),
        );
        printer.service_line(InstanceId::new(0, 0), Stream::Stdout, b"out", false);
        printer.service_line(
            InstanceId::new(1, 0),
            Stream::Stderr,
            b"err \x1b[31mred",
            false,
        );
        printer.service_message(1, Tone::Error, "crashed with code 1");
        printer.message(Tone::Good, "ready");
        assert_eq!(
            buffer.text(),
            "\x1b[36mapi\x1b[0m      \x1b[2m|\x1b[0m out\n\
             \x1b[32mdb\x1b[0m       \x1b[33m!\x1b[0m err \x1b[31mred\x1b[0m\n\
             \x1b[32mdb\x1b[0m       \x1b[1m\x1b[31m*\x1b[0m \x1b[1m\x1b[31mcrashed with code 1\x1b[0m\n\
             \x1b[1mwrangle\x1b[0m  \x1b[1m\x1b[32m*\x1b[0m \x1b[1m\x1b[32mready\x1b[0m\n"
        );
    }

    #[test]
    fn status_line_stays_at_the_bottom() {
        let buffer = SharedBuffer::new();
        let printer = Printer::new(&names(&["api"]), false, true, Box::new(buffer.clone()));
        printer.service_line(InstanceId::new(0, 0), Stream::Stdout, b"before", false);
        printer.set_status(Some("waiting for api 0.1s".to_string()));
        printer.set_status(Some("waiting for api 0.2s\n".to_string()));
        printer.service_line(InstanceId::new(0, 0), Stream::Stdout, b"hello", false);
        printer.set_status(None);
        printer.set_status(None);
        printer.message(Tone::Good, "ready");
        assert_eq!(
            buffer.text(),
            "api      | before\n\
             waiting for api 0.1s\
             \r\x1b[2Kwaiting for api 0.2s \
             \r\x1b[2Kapi      | hello\nwaiting for api 0.2s \
             \r\x1b[2K\
             wrangle  * ready\n"
        );
    }

    #[test]
    fn drop_clears_a_drawn_status_line() {
        let buffer = SharedBuffer::new();
        let printer = Printer::new(&names(&["api"]), false, true, Box::new(buffer.clone()));
        printer.set_status(Some("waiting".to_string()));
        drop(printer);
        assert_eq!(buffer.text(), "waiting\r\x1b[2K");
    }

    #[test]
    fn status_line_is_ignored_when_disabled() {
        let (printer, buffer) = plain_printer(&["api"]);
        printer.set_status(Some("waiting".to_string()));
        printer.service_line(InstanceId::new(0, 0), Stream::Stdout, b"x", false);
        drop(printer);
        assert_eq!(buffer.text(), "api      | x\n");
    }

    #[test]
    fn concurrent_lines_never_interleave() {
        let mut buffer = SharedBuffer::new();
        buffer.max_write = 5;
        let service_names: Vec<String> = (0..8).map(|idx| format!("service-{idx}")).collect();
        let printer = Arc::new(Printer::new(
            &service_names,
            false,
            false,
            Box::new(buffer.clone()),
        ));
        let threads: Vec<_> = (0..8)
            .map(|service| {
                let printer = Arc::clone(&printer);
                std::thread::spawn(move || {
                    for line_idx in 0..1000 {
                        let text = format!(
                            "line {line_idx} of service {service} {}",
                            "x".repeat(line_idx % 50)
                        );
                        let stream = if line_idx % 2 == 0 {
                            Stream::Stdout
                        } else {
                            Stream::Stderr
                        };
                        printer.service_line(
                            InstanceId::new(service, 0),
                            stream,
                            text.as_bytes(),
                            false,
                        );
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("printing thread");
        }
        let text = buffer.text();
        let mut next_line_of: HashMap<usize, usize> = HashMap::new();
        let mut n_lines = 0;
        for line in text.lines() {
            let (name, rest) = line.split_once("  ").expect("name column");
            let service: usize = name
                .strip_prefix("service-")
                .expect("name")
                .parse()
                .expect("id");
            let expected_idx = next_line_of.entry(service).or_insert(0);
            let marker = if expected_idx.is_multiple_of(2) {
                '|'
            } else {
                '!'
            };
            let expected = format!(
                "{marker} line {expected_idx} of service {service} {}",
                "x".repeat(*expected_idx % 50)
            );
            assert_eq!(rest.trim_start(), expected, "line {line:?}");
            *expected_idx += 1;
            n_lines += 1;
        }
        assert_eq!(n_lines, 8000);
        assert!(next_line_of.values().all(|&count| count == 1000));
    }

    /// A writer that fails every call, counting the calls.
    struct BrokenPipe(Arc<AtomicUsize>);

    impl Write for BrokenPipe {
        fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }

        fn flush(&mut self) -> io::Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn broken_pipe_silences_the_printer() {
        let calls = Arc::new(AtomicUsize::new(0));
        let printer = Printer::new(
            &names(&["api"]),
            true,
            true,
            Box::new(BrokenPipe(Arc::clone(&calls))),
        );
        printer.service_line(InstanceId::new(0, 0), Stream::Stdout, b"one", false);
        printer.set_status(Some("status".to_string()));
        printer.message(Tone::Error, "two");
        printer.service_message(0, Tone::Warn, "three");
        drop(printer);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// Environment variables of one truth-table row.
    type Env = [(&'static str, &'static str)];

    #[test]
    fn color_wanted_truth_table() {
        let env_of = |pairs: &'static Env| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            }
        };
        let cases: &[(bool, &'static Env, bool)] = &[
            (true, &[], true),
            (false, &[], false),
            (true, &[("NO_COLOR", "1")], false),
            (true, &[("NO_COLOR", "")], true),
            (false, &[("CLICOLOR_FORCE", "1")], true),
            (false, &[("CLICOLOR_FORCE", "0")], false),
            (false, &[("CLICOLOR_FORCE", "")], false),
            (false, &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")], false),
            (true, &[("CLICOLOR", "0")], false),
            (true, &[("CLICOLOR", "1")], true),
            (false, &[("CLICOLOR", "1")], false),
            (true, &[("TERM", "dumb")], false),
            (false, &[("TERM", "dumb"), ("CLICOLOR_FORCE", "1")], true),
            (true, &[("TERM", "xterm-256color")], true),
        ];
        for &(is_terminal, env, expected) in cases {
            assert_eq!(
                Printer::color_wanted(is_terminal, env_of(env)),
                expected,
                "tty={is_terminal} env={env:?}"
            );
        }
    }

    #[test]
    fn printer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Printer>();
    }
}
