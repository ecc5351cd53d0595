//! The dotenv (`.env`) format read by `env_file`.
//!
//! This module owns the line syntax only: it turns text into ordered `KEY=VALUE` pairs or a list
//! of bad lines. Reading the file, precedence between files and `env`, and locating errors in the
//! config are the resolver's job.
//!
//! The syntax is the common subset that docker compose, foreman and python-dotenv agree on:
//! `KEY=VALUE`, an optional `export ` prefix, `#` comment lines, blank lines, single quotes
//! (literal), double quotes (with `\n`, `\t`, `\r`, `\"` and `\\` escapes), and unquoted values
//! that are trimmed and may end with an inline comment introduced by whitespace and `#`. Quoted
//! values are single-line: a value spanning lines is almost always a missing quote, and saying so
//! beats silently swallowing the rest of the file. Nothing is interpolated: `$OTHER` stays
//! literal, because wrangle never runs a shell to read configuration.

use std::ops::Range;

/// A line that is not valid dotenv syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DotenvError {
    /// Byte range of the offending part of the line in the file text.
    pub(crate) span: Range<usize>,
    pub(crate) message: String,
}

/// Parses a whole file. Returns every bad line, not just the first.
pub(crate) fn parse(text: &str) -> Result<Vec<(String, String)>, Vec<DotenvError>> {
    let mut pairs = Vec::new();
    let mut errors = Vec::new();
    let mut line_start = 0;
    for raw_line in text.split_inclusive('\n') {
        let offset = line_start;
        line_start += raw_line.len();
        let line = raw_line.trim_end_matches(['\n', '\r']);
        // A byte-order mark at the start of the file is editor noise, not part of the first key.
        let (line, offset) = match (offset, line.strip_prefix('\u{feff}')) {
            (0, Some(rest)) => (rest, offset + '\u{feff}'.len_utf8()),
            _ => (line, offset),
        };
        match parse_line(line) {
            Ok(Some(pair)) => pairs.push(pair),
            Ok(None) => {}
            Err((relative, message)) => errors.push(DotenvError {
                span: offset + relative.start..offset + relative.end,
                message,
            }),
        }
    }
    if errors.is_empty() {
        Ok(pairs)
    } else {
        Err(errors)
    }
}

type LineError = (Range<usize>, String);

fn parse_line(line: &str) -> Result<Option<(String, String)>, LineError> {
    let content = line.trim_start();
    let indent = line.len() - content.len();
    if content.is_empty() || content.starts_with('#') {
        return Ok(None);
    }
    let (content, indent) = match content.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => {
            let trimmed = rest.trim_start();
            (trimmed, indent + (content.len() - trimmed.len()))
        }
        _ => (content, indent),
    };
    let whole = indent..line.len();
    let Some(equals) = content.find('=') else {
        return Err((whole, "expected KEY=VALUE".to_string()));
    };
    let key = content[..equals].trim_end();
    if !is_valid_key(key) {
        return Err((
            indent..indent + equals,
            format!(
                "invalid variable name \"{key}\": expected letters, digits and '_', not starting \
                 with a digit"
            ),
        ));
    }
    let value_offset = indent + equals + 1;
    let value = parse_value(&content[equals + 1..])
        .map_err(|(span, message)| (value_offset + span.start..value_offset + span.end, message))?;
    Ok(Some((key.to_string(), value)))
}

fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Parses what follows `=`. Spans in errors are relative to `raw`.
fn parse_value(raw: &str) -> Result<String, LineError> {
    let value = raw.trim_start();
    let start = raw.len() - value.len();
    match value.chars().next() {
        Some('\'') => {
            let body = &value[1..];
            let Some(close) = body.find('\'') else {
                return Err((start..raw.len(), "unterminated single quote".to_string()));
            };
            check_trailing(&body[close + 1..], start + 1 + close + 1)?;
            Ok(body[..close].to_string())
        }
        Some('"') => {
            let mut result = String::new();
            let mut chars = value.char_indices().skip(1);
            while let Some((index, c)) = chars.next() {
                match c {
                    '"' => {
                        check_trailing(&value[index + 1..], start + index + 1)?;
                        return Ok(result);
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => result.push('\n'),
                        Some((_, 't')) => result.push('\t'),
                        Some((_, 'r')) => result.push('\r'),
                        Some((_, '"')) => result.push('"'),
                        Some((_, '\\')) => result.push('\\'),
                        // Unknown escapes keep their backslash, as POSIX shells do in double
                        // quotes (`"\d"` is `\d`), so regexes and Windows paths survive.
                        Some((_, other)) => {
                            result.push('\\');
                            result.push(other);
                        }
                        None => break,
                    },
                    other => result.push(other),
                }
            }
            Err((start..raw.len(), "unterminated double quote".to_string()))
        }
        _ => {
            // An inline comment needs whitespace before `#`, so `URL=http://x/#anchor` keeps
            // its fragment.
            let mut end = value.len();
            let mut previous_is_space = start > 0;
            for (index, c) in value.char_indices() {
                if c == '#' && previous_is_space {
                    end = index;
                    break;
                }
                previous_is_space = c == ' ' || c == '\t';
            }
            Ok(value[..end].trim().to_string())
        }
    }
}

/// After a closing quote only whitespace and a comment may follow.
fn check_trailing(rest: &str, offset: usize) -> Result<(), LineError> {
    let trimmed = rest.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(());
    }
    let start = offset + (rest.len() - trimmed.len());
    Err((
        start..offset + rest.len(),
        "unexpected text after the closing quote".to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).expect("valid dotenv")
    }

    #[test]
    fn parses_every_supported_form() {
        let text = "\
# comment
export EXPORTED=yes

PLAIN = some value  
INLINE=value # comment
HASH=a#b
EMPTY=
SINGLE='lit $X \\n # not a comment'
DOUBLE=\"line\\nnext\\t\\\"q\\\" \\\\ \\d\" # trailing comment
URL=http://example.com/#frag
";
        assert_eq!(
            pairs(text),
            vec![
                ("EXPORTED".to_string(), "yes".to_string()),
                ("PLAIN".to_string(), "some value".to_string()),
                ("INLINE".to_string(), "value".to_string()),
                ("HASH".to_string(), "a#b".to_string()),
                ("EMPTY".to_string(), String::new()),
                (
                    "SINGLE".to_string(),
                    "lit $X \\n # not a comment".to_string()
                ),
                ("DOUBLE".to_string(), "line\nnext\t\"q\" \\ \\d".to_string()),
                ("URL".to_string(), "http://example.com/#frag".to_string()),
            ]
        );
    }

    #[test]
    fn crlf_and_bom_are_tolerated() {
        assert_eq!(
            pairs("\u{feff}A=1\r\nB='2'\r\n"),
            vec![
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "2".to_string())
            ]
        );
    }

    #[test]
    fn reports_every_bad_line_with_its_span() {
        let text = "OK=1\nnot a pair\n1BAD=x\nQ=\"open\nS='x' y\n";
        let errors = parse(text).expect_err("invalid dotenv");
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages[0], "expected KEY=VALUE");
        assert!(messages[1].starts_with("invalid variable name \"1BAD\""));
        assert_eq!(messages[2], "unterminated double quote");
        assert_eq!(messages[3], "unexpected text after the closing quote");
        assert_eq!(&text[errors[0].span.clone()], "not a pair");
        assert_eq!(&text[errors[1].span.clone()], "1BAD");
        assert_eq!(&text[errors[2].span.clone()], "\"open");
        assert_eq!(&text[errors[3].span.clone()], "y");
    }
}
