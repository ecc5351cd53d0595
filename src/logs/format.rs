//! The on-disk line format, both ways: encoding a [`LogLine`] for the writer thread and decoding
//! a line read back from a file.
//!
//! ```text
//! 2026-11-23T16:21:38.123Z o listening on :8080
//! 2026-11-23T16:21:38.124Z E Password:
//! ```
//!
//! Every line starts with a fixed 27-byte header: a UTC timestamp with milliseconds (RFC 3339,
//! always 24 bytes), a space, a stream marker and a space. The marker is `o` (stdout) or `e`
//! (stderr), upper-case when the piece ended without a newline (a prompt, or a piece of an
//! over-long line), so a reader can join pieces again. The text follows as it came (already
//! lossy UTF-8); a newline inside the text starts a new line with the same header, so the file
//! stays one record per line whatever a caller passes in.
//!
//! This module owns the format only; it never does IO.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::logs::LogLine;
use crate::logs::Stream;

/// Bytes before the text of every line: timestamp, space, marker, space.
pub(crate) const HEADER_LEN: usize = TIMESTAMP_LEN + 3;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const TIMESTAMP_LEN: usize = 24;

/// The last second the format can show (9999-12-31T23:59:59Z); later times are clamped to it,
/// and times before 1970 to the epoch, so that no clock value can break a line.
const MAX_SECOND: u64 = 253_402_300_799;

/// One line read back from a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLine {
    /// `None` when the line does not start with a valid header (a file written by something
    /// else, or a line torn by a crash); `text` then holds the whole line.
    pub time: Option<SystemTime>,
    pub stream: Stream,
    /// The piece ended without a newline (upper-case marker).
    pub partial: bool,
    pub text: String,
}

/// Formats timestamps, remembering the last second: lines come in bursts within one second,
/// so most lines only rewrite the three millisecond digits.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    second: Option<u64>,
    text: [u8; TIMESTAMP_LEN],
}

impl Clock {
    pub(crate) fn timestamp(&mut self, time: SystemTime) -> [u8; TIMESTAMP_LEN] {
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let (second, millis) = match since_epoch.as_secs() {
            second if second > MAX_SECOND => (MAX_SECOND, 999),
            second => (second, since_epoch.subsec_millis()),
        };
        if self.second != Some(second) {
            self.text = format_second(second);
            self.second = Some(second);
        }
        write_digits(&mut self.text[20..23], millis);
        self.text
    }
}

/// Appends the encoded `line` to `out`; returns the number of records written (more than one
/// when the text holds newlines).
pub(crate) fn encode(clock: &mut Clock, line: &LogLine, out: &mut Vec<u8>) -> usize {
    let timestamp = clock.timestamp(line.time);
    let mut records = 0;
    let mut pieces = line.text.split('\n').peekable();
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        out.extend_from_slice(&timestamp);
        out.push(b' ');
        out.push(marker(line.stream, last && line.partial));
        out.push(b' ');
        out.extend_from_slice(piece.as_bytes());
        out.push(b'\n');
        records += 1;
    }
    records
}

/// Appends `lines` (of `text`, see [`crate::logs::chunk::lines`]) encoded with one timestamp;
/// returns the number of records written. The same bytes as [`encode`] of each line.
pub(crate) fn encode_lines(
    timestamp: &[u8; TIMESTAMP_LEN],
    stream: Stream,
    text: &str,
    lines: &[(usize, bool)],
    start: usize,
    out: &mut Vec<u8>,
) -> usize {
    let mut header = [0u8; HEADER_LEN];
    header[..TIMESTAMP_LEN].copy_from_slice(timestamp);
    header[TIMESTAMP_LEN] = b' ';
    header[TIMESTAMP_LEN + 2] = b' ';
    let whole = text.get(start..lines.last().map_or(start, |&(end, _)| end));
    let newlines = whole.is_some_and(|whole| memchr::memchr(b'\n', whole.as_bytes()).is_some());
    let mut records = 0;
    let mut from = start;
    for &(end, partial) in lines {
        let line = text.get(from..end).unwrap_or_default().as_bytes();
        from = end;
        if newlines && memchr::memchr(b'\n', line).is_some() {
            let mut pieces = line.split(|&byte| byte == b'\n').peekable();
            while let Some(piece) = pieces.next() {
                let last = pieces.peek().is_none();
                header[TIMESTAMP_LEN + 1] = marker(stream, last && partial);
                out.extend_from_slice(&header);
                out.extend_from_slice(piece);
                out.push(b'\n');
                records += 1;
            }
            continue;
        }
        header[TIMESTAMP_LEN + 1] = marker(stream, partial);
        out.extend_from_slice(&header);
        out.extend_from_slice(line);
        out.push(b'\n');
        records += 1;
    }
    records
}

/// How many bytes [`encode_lines`] appends for a line of `text`, and in how many records.
pub(crate) fn encoded_text_len(text: &str) -> (usize, usize) {
    let newlines = memchr::memchr_iter(b'\n', text.as_bytes()).count();
    (
        (newlines + 1) * (HEADER_LEN + 1) + text.len() - newlines,
        newlines + 1,
    )
}

/// How many bytes [`encode`] appends for `line`, and in how many records.
pub(crate) fn encoded_len(line: &LogLine) -> usize {
    let newlines = line.text.bytes().filter(|&byte| byte == b'\n').count();
    (newlines + 1) * (HEADER_LEN + 1) + line.text.len() - newlines
}

/// Decodes one line of a file, without its newline.
pub(crate) fn decode(line: &[u8]) -> FileLine {
    match decode_header(line) {
        Some((time, stream, partial)) => FileLine {
            time: Some(time),
            stream,
            partial,
            text: String::from_utf8_lossy(&line[HEADER_LEN..]).into_owned(),
        },
        None => FileLine {
            time: None,
            stream: Stream::Stdout,
            partial: false,
            text: String::from_utf8_lossy(line).into_owned(),
        },
    }
}

/// The header of `line` if it has a valid one.
pub(crate) fn decode_header(line: &[u8]) -> Option<(SystemTime, Stream, bool)> {
    let header = line.get(..HEADER_LEN)?;
    let (stream, partial) = match header[TIMESTAMP_LEN + 1] {
        b'o' => (Stream::Stdout, false),
        b'O' => (Stream::Stdout, true),
        b'e' => (Stream::Stderr, false),
        b'E' => (Stream::Stderr, true),
        _ => return None,
    };
    if header[TIMESTAMP_LEN] != b' ' || header[TIMESTAMP_LEN + 2] != b' ' {
        return None;
    }
    Some((parse_timestamp(&header[..TIMESTAMP_LEN])?, stream, partial))
}

fn marker(stream: Stream, partial: bool) -> u8 {
    match (stream, partial) {
        (Stream::Stdout, false) => b'o',
        (Stream::Stdout, true) => b'O',
        (Stream::Stderr, false) => b'e',
        (Stream::Stderr, true) => b'E',
    }
}

/// `YYYY-MM-DDTHH:MM:SS.000Z` for a second since the epoch (at most [`MAX_SECOND`]).
fn format_second(second: u64) -> [u8; TIMESTAMP_LEN] {
    let days = second / 86_400;
    let of_day = second % 86_400;
    // `days` is at most ~2.9 million: no overflow converting or computing below.
    let (year, month, day) = civil_from_days(days as i64);
    let mut text = *b"0000-00-00T00:00:00.000Z";
    write_digits(&mut text[0..4], year.clamp(0, 9999) as u32);
    write_digits(&mut text[5..7], month);
    write_digits(&mut text[8..10], day);
    write_digits(&mut text[11..13], (of_day / 3600) as u32);
    write_digits(&mut text[14..16], (of_day / 60 % 60) as u32);
    write_digits(&mut text[17..19], (of_day % 60) as u32);
    text
}

/// Writes `value` as decimal, zero-padded to the width of `out` (extra high digits are cut).
fn write_digits(out: &mut [u8], mut value: u32) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn parse_timestamp(text: &[u8]) -> Option<SystemTime> {
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = text.get(range)?;
        digits.iter().try_fold(0u32, |value, &byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ];
    if text.len() != TIMESTAMP_LEN
        || text[23] != b'Z'
        || separators.iter().any(|&(at, byte)| text[at] != byte)
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let millis = number(20..23)?;
    if year < 1970 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(i64::from(year), month, day)).ok()?;
    let seconds = days * 86_400 + u64::from(hour * 3600 + minute * 60 + second);
    UNIX_EPOCH.checked_add(Duration::from_millis(seconds * 1000 + u64::from(millis)))
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
/// See: Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms",
/// https://howardhinnant.github.io/date_algorithms.html#civil_from_days
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`] (same source, `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(time: SystemTime, stream: Stream, text: &str, partial: bool) -> LogLine {
        LogLine {
            time,
            service: 0,
            stream,
            text: text.to_string(),
            partial,
        }
    }

    #[test]
    fn timestamps_match_humantime() {
        let mut clock = Clock::default();
        for seconds in [
            0u64,
            59,
            86_399,
            951_782_400,   // 2000-02-29
            1_795_451_298, // 2026-11-23
            4_107_542_399, // 2100-02-28T23:59:59
            MAX_SECOND,
        ] {
            for millis in [0u64, 7, 123, 999] {
                let time = UNIX_EPOCH + Duration::from_millis(seconds * 1000 + millis);
                let ours = clock.timestamp(time);
                let theirs = humantime::format_rfc3339_millis(time).to_string();
                assert_eq!(std::str::from_utf8(&ours).unwrap(), theirs);
                assert_eq!(parse_timestamp(&ours), Some(time), "{theirs}");
            }
        }
    }

    #[test]
    fn out_of_range_times_are_clamped_not_panics() {
        let mut clock = Clock::default();
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(&clock.timestamp(before), b"1970-01-01T00:00:00.000Z");
        let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
        assert_eq!(&clock.timestamp(far), b"9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let mut clock = Clock::default();
        let time = UNIX_EPOCH + Duration::from_millis(1_795_451_298_123);
        let mut out = Vec::new();
        assert_eq!(
            encode(
                &mut clock,
                &line(time, Stream::Stdout, "hello", false),
                &mut out
            ),
            1
        );
        assert_eq!(
            encode(
                &mut clock,
                &line(time, Stream::Stderr, "Password: ", true),
                &mut out
            ),
            1
        );
        assert_eq!(
            encode(&mut clock, &line(time, Stream::Stdout, "", false), &mut out),
            1
        );
        assert_eq!(out.len(), 3 * (HEADER_LEN + 1) + "helloPassword: ".len());
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "2026-11-23T16:28:18.123Z o hello\n\
             2026-11-23T16:28:18.123Z E Password: \n\
             2026-11-23T16:28:18.123Z o \n"
        );
        let decoded: Vec<FileLine> = out
            .split(|&byte| byte == b'\n')
            .filter(|line| !line.is_empty())
            .map(decode)
            .collect();
        assert_eq!(decoded[0].time, Some(time));
        assert_eq!(decoded[0].text, "hello");
        assert_eq!(
            (decoded[1].stream, decoded[1].partial),
            (Stream::Stderr, true)
        );
        assert_eq!(decoded[1].text, "Password: ");
        assert_eq!(decoded[2].text, "");
    }

    #[test]
    fn newlines_inside_text_become_records() {
        let mut clock = Clock::default();
        let mut out = Vec::new();
        let records = encode(
            &mut clock,
            &line(UNIX_EPOCH, Stream::Stdout, "a\nb", true),
            &mut out,
        );
        assert_eq!(records, 2);
        assert_eq!(
            encoded_len(&line(UNIX_EPOCH, Stream::Stdout, "a\nb", true)),
            out.len()
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1970-01-01T00:00:00.000Z o a\n1970-01-01T00:00:00.000Z O b\n"
        );
    }

    #[test]
    fn garbage_decodes_as_text_without_time() {
        for garbage in [
            &b""[..],
            b"short",
            b"2026-11-23T16:21:38.123Z x bad marker",
            b"2026-13-23T16:21:38.123Z o bad month",
            b"2026-11-23T16:21:38.12",
            b"\xff\xfe2026-11-23T16:21:38.123Z o",
        ] {
            let decoded = decode(garbage);
            assert_eq!(decoded.time, None);
            assert_eq!(decoded.text, String::from_utf8_lossy(garbage));
        }
    }
}
