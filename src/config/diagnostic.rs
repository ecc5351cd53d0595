//! Located configuration errors and their rustc-style rendering.
//!
//! This module owns [`ConfigError`] (a non-empty list of [`Diagnostic`]s), the source text the
//! diagnostics point into, the rendering through `annotate-snippets`, and the "did you mean"
//! suggestions. It knows nothing about the shape of `wrangle.toml`: the parsers decide what to
//! say and where, this module decides how it looks.
//!
//! Spans are byte ranges into the source text. They come from the TOML parser or from our own
//! scanners, and a fuzzed input must never be able to make rendering panic, so every span is
//! clamped to the text and snapped to character boundaries before it reaches the renderer.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use annotate_snippets::renderer::DecorStyle;
use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};

/// A configuration file could not be turned into a [`crate::spec::ProjectSpec`].
///
/// Holds every problem found (at least one). Semantic checks run to completion so a user fixes
/// a file in one round trip; a TOML syntax error stops at the first problem because the parser
/// cannot say anything reliable after it.
#[derive(Debug, Clone)]
pub struct ConfigError {
    diagnostics: Vec<Diagnostic>,
}

/// One problem, optionally located in a file; or a warning about something used anyway.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Rendered as `warning:` rather than `error:`.
    warning: bool,
    message: String,
    location: Option<Location>,
    label: String,
    context: Vec<(Range<usize>, String)>,
    help: Vec<String>,
    notes: Vec<String>,
}

/// A file whose text diagnostics point into. Shared so that many diagnostics of one file do not
/// copy it.
///
/// It may be made of several files (`wrangle.toml` and `wrangle.local.toml`, see
/// [`SourceFile::combined`]): their texts follow each other, and a span is rendered in the file
/// it falls in, at that file's own line and column.
#[derive(Debug)]
pub(crate) struct SourceFile {
    path: PathBuf,
    text: String,
    /// The files it is made of, each with the offset its text starts at; empty for one file.
    parts: Vec<(usize, Arc<SourceFile>)>,
}

#[derive(Debug, Clone)]
struct Location {
    file: Arc<SourceFile>,
    /// `None` means "the file as a whole" (for example: it defines no service at all).
    span: Option<Range<usize>>,
}

impl ConfigError {
    /// All diagnostics, in the order they were found (roughly file order).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Renders every diagnostic the way rustc and cargo do: a title, `--> path:line:column`, the
    /// offending source line with a caret, then `help:` and `note:` lines.
    pub fn render(&self, color: bool) -> String {
        let renderer = renderer(color);
        let mut rendered: Vec<String> = self
            .diagnostics
            .iter()
            .map(|diagnostic| diagnostic.render_with(&renderer))
            .collect();
        if self.diagnostics.len() > 1 {
            let summary = format!(
                "aborting: {} problems in the configuration",
                self.diagnostics.len()
            );
            rendered
                .push(renderer.render(&[Group::with_title(Level::ERROR.primary_title(summary))]));
        }
        rendered.join("\n\n")
    }

    pub(crate) fn new(mut diagnostics: Vec<Diagnostic>) -> ConfigError {
        // The same problem can be found twice when one `[defaults]` value is inherited by many
        // services (a missing `cwd`, a broken env file). Report it once.
        let mut seen: HashSet<(String, Option<Range<usize>>, Option<PathBuf>)> = HashSet::new();
        diagnostics.retain(|diagnostic| {
            seen.insert((
                diagnostic.message.clone(),
                diagnostic.location.as_ref().and_then(|l| l.span.clone()),
                diagnostic.location.as_ref().map(|l| l.file.path.clone()),
            ))
        });
        if diagnostics.is_empty() {
            // Callers only build a ConfigError when something failed; keep the "at least one"
            // promise even if that ever stops being true.
            diagnostics.push(Diagnostic::unlocated("invalid configuration"));
        }
        ConfigError { diagnostics }
    }

    pub(crate) fn single(diagnostic: Diagnostic) -> ConfigError {
        ConfigError::new(vec![diagnostic])
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.render(false))
    }
}

impl std::error::Error for ConfigError {}

impl Diagnostic {
    /// The one-line summary (the `error:` title).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The file the diagnostic points into, if any.
    pub fn path(&self) -> Option<&Path> {
        let location = self.location.as_ref()?;
        Some(match &location.span {
            Some(span) => location.file.part(span.start).0.path.as_path(),
            None => location.file.path.as_path(),
        })
    }

    /// 1-based line and column (in characters) of the start of the primary span.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        let location = self.location.as_ref()?;
        let span = location.span.as_ref()?;
        let (file, start) = location.file.part(span.start);
        let offset = span.start.saturating_sub(start);
        let offset = file.clamp(offset..offset).start;
        Some(line_column(&file.text, offset))
    }

    /// `help:` lines, such as `did you mean "command"?`.
    pub fn help(&self) -> &[String] {
        &self.help
    }

    /// `note:` lines, such as the list of expected keys.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub(crate) fn unlocated(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            warning: false,
            message: message.into(),
            location: None,
            label: String::new(),
            context: Vec::new(),
            help: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A problem with a file as a whole: rendered with `--> path` but no source line.
    pub(crate) fn in_file(file: &Arc<SourceFile>, message: impl Into<String>) -> Diagnostic {
        let mut diagnostic = Diagnostic::unlocated(message);
        diagnostic.location = Some(Location {
            file: Arc::clone(file),
            span: None,
        });
        diagnostic
    }

    /// A problem at `span` of `file`; `label` is printed next to the caret.
    pub(crate) fn at(
        file: &Arc<SourceFile>,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        let mut diagnostic = Diagnostic::unlocated(message);
        diagnostic.label = label.into();
        diagnostic.location = Some(Location {
            file: Arc::clone(file),
            span: Some(span),
        });
        diagnostic
    }

    /// Makes this a warning: something wrangle used anyway, said once.
    pub(crate) fn into_warning(mut self) -> Diagnostic {
        self.warning = true;
        self
    }

    /// Whether this is a warning rather than an error.
    pub fn is_warning(&self) -> bool {
        self.warning
    }

    /// Renders this diagnostic alone, rustc-style (see [`ConfigError::render`]).
    pub fn render(&self, color: bool) -> String {
        self.render_with(&renderer(color))
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help.push(help.into());
        self
    }

    pub(crate) fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// A secondary annotation in the same file, such as "first declared here".
    pub(crate) fn with_context(
        mut self,
        span: Range<usize>,
        label: impl Into<String>,
    ) -> Diagnostic {
        self.context.push((span, label.into()));
        self
    }

    /// Adds `did you mean "x"?` when one of `candidates` is close to `typed`.
    pub(crate) fn with_suggestion<'c>(
        self,
        typed: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) -> Diagnostic {
        match did_you_mean(typed, candidates) {
            Some(suggestion) => self.with_help(format!("did you mean \"{suggestion}\"?")),
            None => self,
        }
    }

    fn render_with(&self, renderer: &Renderer) -> String {
        let level = if self.warning {
            Level::WARNING
        } else {
            Level::ERROR
        };
        let mut group = Group::with_title(level.primary_title(self.message.as_str()));
        if let Some(location) = &self.location {
            let path = location.file.path.display().to_string();
            match &location.span {
                Some(span) => {
                    // The part of a combined file the span falls in; context elsewhere is left
                    // out (a snippet shows one file).
                    let (file, start) = location.file.part(span.start);
                    let end = start + file.text.len();
                    let path = file.path.display().to_string();
                    let local = |span: &Range<usize>| {
                        span.start.saturating_sub(start)..span.end.saturating_sub(start)
                    };
                    let primary = file.clamp(local(span));
                    let context: Vec<(Range<usize>, &str)> = self
                        .context
                        .iter()
                        .filter(|(span, _)| span.start >= start && span.start <= end)
                        .map(|(span, label)| (file.clamp(local(span)), label.as_str()))
                        .collect();
                    // Hand the renderer only the lines the annotations touch: rendering the
                    // whole file for each of many diagnostics would be quadratic on big inputs.
                    let low = context
                        .iter()
                        .map(|(span, _)| span.start)
                        .fold(primary.start, usize::min);
                    let high = context
                        .iter()
                        .map(|(span, _)| span.end)
                        .fold(primary.end, usize::max);
                    let (excerpt, excerpt_start, first_line) = file.excerpt(low, high);
                    let shift =
                        |span: &Range<usize>| span.start - excerpt_start..span.end - excerpt_start;
                    let mut snippet = Snippet::source(excerpt)
                        .line_start(first_line)
                        .path(path)
                        .fold(true)
                        .annotation(
                            AnnotationKind::Primary
                                .span(shift(&primary))
                                .label(self.label.as_str()),
                        );
                    for (context_span, label) in &context {
                        snippet = snippet.annotation(
                            AnnotationKind::Context
                                .span(shift(context_span))
                                .label(*label),
                        );
                    }
                    group = group.element(snippet);
                }
                None => group = group.element(Origin::path(path)),
            }
        }
        for help in &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        for note in &self.notes {
            group = group.element(Level::NOTE.message(note.as_str()));
        }
        renderer.render(&[group])
    }
}

impl SourceFile {
    pub(crate) fn new(path: PathBuf, text: String) -> SourceFile {
        SourceFile {
            path,
            text,
            parts: Vec::new(),
        }
    }

    /// One source made of `first` and the files after it, their texts in that order; it is
    /// named after `first`.
    pub(crate) fn combined(first: SourceFile, rest: Vec<SourceFile>) -> SourceFile {
        let path = first.path.clone();
        let mut text = String::new();
        let mut parts = Vec::new();
        for file in std::iter::once(first).chain(rest) {
            if !parts.is_empty() {
                // Apart by one byte: a span at the very end of a file stays in it.
                text.push('\n');
            }
            parts.push((text.len(), Arc::new(file)));
            text.push_str(&parts[parts.len() - 1].1.text);
        }
        SourceFile { path, text, parts }
    }

    /// The files it is made of (itself alone for one file), each with the offset its text
    /// starts at.
    pub(crate) fn parts(&self) -> Vec<(usize, &SourceFile)> {
        match self.parts.is_empty() {
            true => vec![(0, self)],
            false => self
                .parts
                .iter()
                .map(|(start, file)| (*start, file.as_ref()))
                .collect(),
        }
    }

    /// The file `offset` falls in, with the offset its text starts at.
    fn part(&self, offset: usize) -> (&SourceFile, usize) {
        self.parts
            .iter()
            .rev()
            .find(|(start, _)| *start <= offset)
            .map_or((self, 0), |(start, file)| (file.as_ref(), *start))
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// `path:line:column` of a byte offset, for notes that point into another file.
    pub(crate) fn position(&self, offset: usize) -> String {
        let (file, start) = self.part(offset);
        let offset = offset.saturating_sub(start);
        let offset = file.clamp(offset..offset).start;
        let (line, column) = line_column(&file.text, offset);
        format!("{}:{line}:{column}", file.path.display())
    }

    /// Makes a span safe to slice and render: inside the text and on character boundaries.
    ///
    /// A span at the very end of a file that ends with a newline (the parser's "unexpected end
    /// of input") is moved onto that newline, so it points at the end of the last line rather
    /// than at a line that does not exist.
    fn clamp(&self, span: Range<usize>) -> Range<usize> {
        let text = &self.text;
        let mut start = span.start.min(text.len());
        let mut end = span.end.min(text.len()).max(start);
        if start == text.len() && text.ends_with('\n') {
            start = text.len() - 1;
        }
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        while !text.is_char_boundary(end) {
            end += 1;
        }
        start..end
    }

    /// The whole lines containing `low..high` (already clamped): the text, its byte offset and
    /// its 1-based first line number.
    fn excerpt(&self, low: usize, high: usize) -> (&str, usize, usize) {
        let text = &self.text;
        let start = text[..low].rfind('\n').map_or(0, |index| index + 1);
        let end = text[high..]
            .find('\n')
            .map_or(text.len(), |index| high + index);
        let first_line = text[..start].matches('\n').count() + 1;
        (&text[start..end], start, first_line)
    }
}

/// The renderer of every diagnostic: rustc's look, in ASCII, coloured when asked.
fn renderer(color: bool) -> Renderer {
    if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    }
    .decor_style(DecorStyle::Ascii)
}

/// The closest of `candidates` to `typed`, if it is close enough to be a plausible typo.
///
/// Optimal string alignment distance counts a swap of two letters as one edit ("restrat" is one
/// edit from "restart"), which is the most common typo. Short words get a tighter budget so that
/// "db" is never suggested for "web".
pub(crate) fn did_you_mean<'c>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let typed_lower = typed.to_lowercase();
    let budget = (typed.chars().count() / 3).clamp(1, 2);
    let mut best: Option<(usize, &'c str)> = None;
    for candidate in candidates {
        if candidate == typed {
            continue;
        }
        let distance = strsim::osa_distance(&typed_lower, &candidate.to_lowercase());
        if distance > budget {
            continue;
        }
        if best.is_none_or(|(best_distance, _)| distance < best_distance) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_but_not_unrelated_words() {
        let keys = ["command", "restart", "depends_on", "env_file"];
        assert_eq!(did_you_mean("comand", keys), Some("command"));
        assert_eq!(did_you_mean("restrat", keys), Some("restart"));
        assert_eq!(did_you_mean("depend_on", keys), Some("depends_on"));
        assert_eq!(did_you_mean("Command", keys), Some("command"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(did_you_mean("web", ["db", "api"]), None);
    }

    #[test]
    fn rendering_shows_path_line_column_label_and_help() {
        let file = Arc::new(SourceFile::new(
            PathBuf::from("wrangle.toml"),
            "[services.api]\ncomand = \"x\"\n".to_string(),
        ));
        let error = ConfigError::single(
            Diagnostic::at(&file, 15..21, "unknown key `comand`", "unknown key")
                .with_help("did you mean \"command\"?"),
        );
        let rendered = error.render(false);
        assert!(rendered.contains("--> wrangle.toml:2:1"), "{rendered}");
        assert!(
            rendered.contains("help: did you mean \"command\"?"),
            "{rendered}"
        );
        assert_eq!(error.diagnostics()[0].line_column(), Some((2, 1)));
        assert_eq!(error.to_string(), rendered);
    }

    #[test]
    fn spans_out_of_range_or_inside_a_character_do_not_panic() {
        let file = Arc::new(SourceFile::new(PathBuf::from("f"), "é\nü".to_string()));
        // The last pair is a reversed range, which a buggy caller could produce.
        for (start, end) in [(0, 1), (1, 2), (3, 100), (100, 200), (2, 1)] {
            let error = ConfigError::single(Diagnostic::at(&file, start..end, "m", "l"));
            let _ = error.render(true);
            let _ = error.diagnostics()[0].line_column();
        }
    }
}
