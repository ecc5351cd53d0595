//! `wrangle test --junit FILE`: the run as a JUnit XML report, the format CI systems read (one
//! `<testcase>` per service instance's readiness, and one for the command).
//!
//! Everything here is a pure function of a [`Suite`]; the caller writes the file.

use std::fmt::Write;
use std::time::Duration;

/// The report of one `wrangle test` run.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// The project's name.
    pub name: String,
    /// When the run began, RFC 3339.
    pub timestamp: String,
    pub elapsed: Duration,
    pub cases: Vec<Case>,
}

/// One test case: `classname` groups them (`readiness`, `command`).
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub classname: String,
    pub name: String,
    pub elapsed: Option<Duration>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Passed,
    /// `kind` says what failed (`not_ready`, `exit_code`...), `message` why, in one line;
    /// `details` anything longer (the last output lines).
    Failed {
        kind: String,
        message: String,
        details: String,
    },
    Skipped {
        message: String,
    },
}

/// The report as a JUnit XML document.
pub fn render(suite: &Suite) -> String {
    let failures = suite
        .cases
        .iter()
        .filter(|case| matches!(case.verdict, Verdict::Failed { .. }))
        .count();
    let skipped = suite
        .cases
        .iter()
        .filter(|case| matches!(case.verdict, Verdict::Skipped { .. }))
        .count();
    let tests = suite.cases.len();
    let time = seconds(suite.elapsed);
    let name = escape(&suite.name);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"wrangle test\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\">"
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{}\">",
        escape(&suite.timestamp)
    );
    for case in &suite.cases {
        let time = case
            .elapsed
            .map(|elapsed| format!(" time=\"{}\"", seconds(elapsed)))
            .unwrap_or_default();
        let head = format!(
            "    <testcase classname=\"{}\" name=\"{}\"{time}",
            escape(&case.classname),
            escape(&case.name)
        );
        match &case.verdict {
            Verdict::Passed => {
                let _ = writeln!(xml, "{head}/>");
            }
            Verdict::Failed {
                kind,
                message,
                details,
            } => {
                let _ = writeln!(xml, "{head}>");
                let _ = writeln!(
                    xml,
                    "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                    escape(kind),
                    escape(message),
                    escape(details)
                );
                xml.push_str("    </testcase>\n");
            }
            Verdict::Skipped { message } => {
                let _ = writeln!(xml, "{head}>");
                let _ = writeln!(xml, "      <skipped message=\"{}\"/>", escape(message));
                xml.push_str("    </testcase>\n");
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// Text as XML 1.0 character data or an attribute value: the five special characters as
/// entities, and characters XML 1.0 cannot hold at all (control characters other than tab,
/// newline and carriage return; U+FFFE, U+FFFF) as U+FFFD, since even `&#1;` is not allowed.
/// Newlines and tabs in attributes are written as references, so parsers keep them.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\n' => escaped.push_str("&#10;"),
            '\r' => escaped.push_str("&#13;"),
            '\t' => escaped.push_str("&#9;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => escaped.push('\u{fffd}'),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_and_forbidden_characters_are_escaped() {
        assert_eq!(
            escape("a<b>&\"c\"'d'\u{1b}[31m\u{0}\ttab\nline"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;\u{fffd}[31m\u{fffd}&#9;tab&#10;line"
        );
        assert_eq!(escape("\u{fffe}\u{ffff}é"), "\u{fffd}\u{fffd}é");
    }

    #[test]
    fn counts_times_and_verdicts() {
        let suite = Suite {
            name: "shop & co".into(),
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            elapsed: Duration::from_millis(2500),
            cases: vec![
                Case {
                    classname: "readiness".into(),
                    name: "db".into(),
                    elapsed: Some(Duration::from_millis(120)),
                    verdict: Verdict::Passed,
                },
                Case {
                    classname: "readiness".into(),
                    name: "web".into(),
                    elapsed: None,
                    verdict: Verdict::Failed {
                        kind: "not_ready".into(),
                        message: "not ready after 5s: <refused>".into(),
                        details: "web ! boom".into(),
                    },
                },
                Case {
                    classname: "command".into(),
                    name: "npm test".into(),
                    elapsed: None,
                    verdict: Verdict::Skipped {
                        message: "start-up failed".into(),
                    },
                },
            ],
        };
        let xml = render(&suite);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <testsuites name=\"wrangle test\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"2.500\">\n  \
             <testsuite name=\"shop &amp; co\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"2.500\" timestamp=\"2026-01-01T00:00:00.000Z\">\n    \
             <testcase classname=\"readiness\" name=\"db\" time=\"0.120\"/>\n    \
             <testcase classname=\"readiness\" name=\"web\">\n      \
             <failure type=\"not_ready\" message=\"not ready after 5s: &lt;refused&gt;\">web ! boom</failure>\n    \
             </testcase>\n    \
             <testcase classname=\"command\" name=\"npm test\">\n      \
             <skipped message=\"start-up failed\"/>\n    \
             </testcase>\n  \
             </testsuite>\n\
             </testsuites>\n"
        );
    }
}
