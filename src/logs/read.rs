//! Reading log files back for `wrangle logs -n N` when the in-memory tail is not enough: the
//! last lines of one file, read backwards from the end in chunks so that a large file costs
//! only what is shown, and the last lines of a service across its current and rotated files.
//!
//! This is a reader only: blocking file IO for a CLI command or a thread of its own, never for
//! the supervisor's thread. It never writes.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

use crate::logs::MAX_PIECE_BYTES;
use crate::logs::files::rotated_name;
use crate::logs::format::{self, FileLine, HEADER_LEN};

/// Bytes read from the end of a file per step.
const CHUNK: u64 = 64 * 1024;

/// The longest line the writer produces (header, the longest piece, newline). A file of
/// longer lines (not written by wrangle) is read only this far back per requested line.
const MAX_RECORD: usize = HEADER_LEN + MAX_PIECE_BYTES + 1;

/// The last `n` lines of the log file at `path`, oldest first.
///
/// A last line without a newline (torn by a crash, or being written right now) is returned
/// marked partial if its header is complete, and left out otherwise. Lines without a valid
/// header come back with `time: None` and the raw text. Refuses a symlink or anything but a
/// regular file.
pub fn read_file_tail(path: &Path, n: usize) -> io::Result<Vec<FileLine>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let file = open(path)?;
    let length = file.metadata()?.len();
    let floor = length.saturating_sub(n.saturating_mul(MAX_RECORD) as u64);
    let mut chunks = Vec::new();
    let mut position = length;
    let mut newlines = 0;
    // n + 1 newlines: the first one found last ends a line that may have begun before the
    // window.
    while position > floor && newlines <= n {
        let start = position.saturating_sub(CHUNK).max(floor);
        let mut chunk = vec![0u8; (position - start) as usize];
        file.read_exact_at(&mut chunk, start)?;
        newlines += chunk.iter().filter(|&&byte| byte == b'\n').count();
        chunks.push(chunk);
        position = start;
    }
    let mut data = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
    for chunk in chunks.iter().rev() {
        data.extend_from_slice(chunk);
    }

    let mut records: Vec<&[u8]> = data.split(|&byte| byte == b'\n').collect();
    // `split` always yields a last piece: empty if the file ends with a newline, else torn.
    let mut torn = records.pop().filter(|last| !last.is_empty());
    if position > 0 {
        // The window began inside a line: its first piece is the end of a line, not a line.
        match records.is_empty() {
            true => torn = None,
            false => {
                records.remove(0);
            }
        }
    }
    let torn = torn.and_then(|last| {
        format::decode_header(last)?;
        let mut line = format::decode(last);
        line.partial = true;
        Some(line)
    });
    let wanted = n - usize::from(torn.is_some());
    let skip = records.len().saturating_sub(wanted);
    let mut lines: Vec<FileLine> = records[skip..]
        .iter()
        .map(|record| format::decode(record))
        .collect();
    lines.extend(torn);
    Ok(lines)
}

/// The last `n` lines of a service from `<dir>/<service>.log` and then its rotated files
/// `.1`, `.2` … (at most `keep_files` of them, stopping at the first missing one), oldest
/// first. A rotation while this reads may repeat or skip some lines.
pub fn read_service_tail(
    dir: &Path,
    service: &str,
    keep_files: u32,
    n: usize,
) -> io::Result<Vec<FileLine>> {
    let current = format!("{service}.log");
    let mut lines: Vec<FileLine> = Vec::new();
    for generation in 0..=keep_files {
        if lines.len() >= n {
            break;
        }
        let name = match generation {
            0 => current.clone(),
            _ => rotated_name(&current, generation),
        };
        match read_file_tail(&dir.join(name), n - lines.len()) {
            Ok(mut older) => {
                older.append(&mut lines);
                lines = older;
            }
            // A current file may be missing (not written yet); a missing rotated one means
            // there are no older ones (the budget removes the oldest first).
            Err(error) if error.kind() == io::ErrorKind::NotFound && generation == 0 => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => break,
            Err(error) => return Err(error),
        }
    }
    Ok(lines)
}

fn open(path: &Path) -> io::Result<File> {
    // O_NONBLOCK: a FIFO planted at the path must not block the reader.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = File::from(rustix::fs::open(path, flags, Mode::empty())?);
    let stat = rustix::fs::fstat(&file)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(file)
}
