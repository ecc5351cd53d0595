//! The on-disk format, both ways: a log file and its index.
//!
//! A log file (`<service>.log`) holds the service's output exactly as it wrote it, stdout and
//! stderr in the order they were read: what `tail -f` and `grep` users expect, and no more
//! bytes to write than the service wrote. When and on which stream each part was written is
//! in the file's index beside it (`<service>.log.idx`, rotated with it):
//!
//! ```text
//! b"wrlidx1\n"                                      header, 8 bytes
//! offset: u64 LE | time_ms << 1 | stderr: u64 LE     one record, 16 bytes, per part written
//! ```
//!
//! A record says that the bytes of the log from `offset` up to the next record's offset (or
//! the end of the file) were read from the service's stdout or stderr at `time_ms`
//! (milliseconds since the Unix epoch). The writer adds one record per chunk (one read of a
//! pipe), not per line, and none when a chunk continues the previous record's stream within
//! the same millisecond. A line's time and stream are those of the record its last byte is in;
//! the bytes of one stream are joined across records into lines (see [`crate::logs::read`]).
//!
//! Records are fixed-size, so a torn or corrupt index is recognised and never breaks a read:
//! a torn last record is ignored, and records that do not move forward through the file make
//! the reader ignore the index (lines then come back without a time). Bytes of a file that no
//! record covers (a file of an earlier wrangle, whose lines each start with a 27-byte
//! `2026-11-23T16:21:38.123Z o ` header) are read line by line with [`decode`], which takes the
//! time and stream from such a header when there is one.
//!
//! This module owns the format only; it never opens a file (the index checks of
//! [`index_keep`] read through a file the caller opened).

use std::io;
use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::logs::Stream;

/// The first bytes of every index.
pub(crate) const INDEX_MAGIC: [u8; 8] = *b"wrlidx1\n";

/// The bytes of one index record.
pub(crate) const RECORD_LEN: usize = 16;

/// Bytes before the text of a line of the earlier format: timestamp, space, marker, space.
pub(crate) const LEGACY_HEADER_LEN: usize = TIMESTAMP_LEN + 3;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const TIMESTAMP_LEN: usize = 24;

/// The latest time a record holds (about 146 million years from 1970); later ones are
/// clamped to it, and times before 1970 to the epoch.
const MAX_MILLIS: u64 = u64::MAX >> 1;

/// One line read back from a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLine {
    /// `None` when no index record covers the line and it has no header of the earlier
    /// format either (a file written by something else, a lost or corrupt index).
    pub time: Option<SystemTime>,
    pub stream: Stream,
    /// The line has no newline: a piece of an over-long line, or the end of the file while
    /// the line is still being written.
    pub partial: bool,
    pub text: String,
}

/// One index record: the part of the log from `offset` on came from `stream` at `time_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) offset: u64,
    pub(crate) time_ms: u64,
    pub(crate) stream: Stream,
}

impl Record {
    pub(crate) fn encode(&self) -> [u8; RECORD_LEN] {
        let mut bytes = [0u8; RECORD_LEN];
        bytes[..8].copy_from_slice(&self.offset.to_le_bytes());
        let stderr = u64::from(self.stream == Stream::Stderr);
        let word = self.time_ms.min(MAX_MILLIS) << 1 | stderr;
        bytes[8..].copy_from_slice(&word.to_le_bytes());
        bytes
    }

    pub(crate) fn decode(bytes: &[u8; RECORD_LEN]) -> Record {
        let field = |range: std::ops::Range<usize>| {
            u64::from_le_bytes(bytes[range].try_into().unwrap_or([0; 8]))
        };
        let word = field(8..16);
        Record {
            offset: field(0..8),
            time_ms: word >> 1,
            stream: match word & 1 {
                0 => Stream::Stdout,
                _ => Stream::Stderr,
            },
        }
    }

    pub(crate) fn time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.time_ms)
    }
}

/// Milliseconds since the epoch of `time`, for a record (0 before 1970).
pub(crate) fn millis(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(since.as_millis())
        .unwrap_or(u64::MAX)
        .min(MAX_MILLIS)
}

/// How many leading bytes of an index of `size` bytes (read through `file`) to keep before
/// appending records for a log of `log_size` bytes: all of it when it is sound, up to its last
/// whole record when a record is torn, and 0 (write a fresh header) when it is not an index or
/// its last record points past the end of the log (the index of a file that is gone).
pub(crate) fn index_keep(file: &impl FileExt, size: u64, log_size: u64) -> io::Result<u64> {
    let header = INDEX_MAGIC.len() as u64;
    if size < header {
        return Ok(0);
    }
    let mut magic = [0u8; 8];
    file.read_exact_at(&mut magic, 0)?;
    if magic != INDEX_MAGIC {
        return Ok(0);
    }
    let whole = header + (size - header) / RECORD_LEN as u64 * RECORD_LEN as u64;
    if whole > header {
        let mut last = [0u8; RECORD_LEN];
        file.read_exact_at(&mut last, whole - RECORD_LEN as u64)?;
        if Record::decode(&last).offset > log_size {
            return Ok(0);
        }
    }
    Ok(whole)
}

/// Decodes one line of a file of the earlier format (or one no index covers), without its
/// newline.
pub(crate) fn decode(line: &[u8]) -> FileLine {
    match decode_header(line) {
        Some((time, stream, partial)) => FileLine {
            time: Some(time),
            stream,
            partial,
            text: String::from_utf8_lossy(&line[LEGACY_HEADER_LEN..]).into_owned(),
        },
        None => FileLine {
            time: None,
            stream: Stream::Stdout,
            partial: false,
            text: String::from_utf8_lossy(line).into_owned(),
        },
    }
}

/// The header of the earlier format at the start of `line`, if it has a valid one.
pub(crate) fn decode_header(line: &[u8]) -> Option<(SystemTime, Stream, bool)> {
    let header = line.get(..LEGACY_HEADER_LEN)?;
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

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar.
/// See: Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms",
/// https://howardhinnant.github.io/date_algorithms.html#days_from_civil
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

    #[test]
    fn records_round_trip_and_clamp() {
        for (offset, time_ms, stream) in [
            (0u64, 0u64, Stream::Stdout),
            (12_345, 1_795_451_298_123, Stream::Stderr),
            (u64::MAX, MAX_MILLIS, Stream::Stdout),
        ] {
            let record = Record {
                offset,
                time_ms,
                stream,
            };
            assert_eq!(Record::decode(&record.encode()), record);
        }
        let far = Record {
            offset: 1,
            time_ms: u64::MAX,
            stream: Stream::Stderr,
        };
        assert_eq!(Record::decode(&far.encode()).time_ms, MAX_MILLIS);
        assert_eq!(millis(UNIX_EPOCH - Duration::from_secs(5)), 0);
        let time = UNIX_EPOCH + Duration::from_millis(1_795_451_298_123);
        assert_eq!(
            Record::decode(
                &Record {
                    offset: 0,
                    time_ms: millis(time),
                    stream: Stream::Stdout
                }
                .encode()
            )
            .time(),
            time
        );
    }

    #[test]
    fn legacy_lines_decode_with_time_and_stream() {
        let time = UNIX_EPOCH + Duration::from_millis(1_795_451_298_123);
        let decoded = decode(b"2026-11-23T16:28:18.123Z E Password: ");
        assert_eq!(decoded.time, Some(time));
        assert_eq!((decoded.stream, decoded.partial), (Stream::Stderr, true));
        assert_eq!(decoded.text, "Password: ");
        let decoded = decode(b"2000-02-29T00:00:00.000Z o leap");
        assert_eq!(
            decoded.time,
            Some(UNIX_EPOCH + Duration::from_secs(951_782_400))
        );
        assert_eq!(decoded.text, "leap");
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
