//! Reading log files back for `wrangle logs -n N` when the in-memory tail is not enough: the
//! last lines of one file, read backwards from the end in chunks so that a large file costs
//! only what is shown, with their time and stream from the file's index; and the last lines of
//! a service across its current and rotated files.
//!
//! Lines are framed as the supervisor frames them: the bytes of each stream are joined across
//! index records and split at newlines (a `\r` before the newline dropped), lines longer than
//! [`MAX_PIECE_BYTES`] come back in pieces marked partial, and so does a last line still
//! without its newline. A line takes the time of the record its newline is in. Bytes no record
//! covers (a file of an earlier wrangle, a lost index) are read as lines of the earlier format
//! (see [`crate::logs::format`]); an index that does not move forward through its file is not
//! trusted at all. Nothing here panics on any file content.
//!
//! This is a reader only: blocking file IO for a CLI command or a thread of its own, never for
//! the supervisor's thread. It never writes.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::SystemTime;

use rustix::fs::{FileType, Mode, OFlags};

use crate::logs::files::{FileId, path_identity, rotated_name};
use crate::logs::format::{self, FileLine, INDEX_MAGIC, LEGACY_HEADER_LEN, RECORD_LEN, Record};
use crate::logs::{MAX_PIECE_BYTES, Stream};

/// Bytes read from the end of a file per step.
const CHUNK: u64 = 64 * 1024;

/// The most bytes read per requested line: the longest piece with its newline, or a line of
/// the earlier format. A file of longer lines is read only this far back per requested line.
const MAX_RECORD: usize = LEGACY_HEADER_LEN + MAX_PIECE_BYTES + 1;

/// The last `n` lines of the log file at `path`, oldest first, with time and stream from its
/// index (`<path>.idx`) where it has one.
///
/// Refuses a symlink or anything but a regular file (for the index too: an index that cannot
/// be read is treated as absent).
pub fn read_file_tail(path: &Path, n: usize) -> io::Result<Vec<FileLine>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let file = open(path)?;
    let length = file.metadata()?.len();
    tail_of(&file, path, length, n, u64::MAX).map(|(lines, _)| lines)
}

/// What a line read back holds in memory besides its text (its time, stream, and the strings of
/// its answer), counted against a read's budget so that short lines cannot make a bounded read
/// large.
const LINE_COST: u64 = 64;

/// The last `n` lines of the first `length` bytes of `file` (at `path`, whose index is beside
/// it), reading at most `budget` bytes of it; and how many bytes were read.
fn tail_of(
    file: &File,
    path: &Path,
    length: u64,
    n: usize,
    budget: u64,
) -> io::Result<(Vec<FileLine>, u64)> {
    if n == 0 || budget == 0 {
        return Ok((Vec::new(), 0));
    }
    // Each line costs at least LINE_COST of the budget: a tail of a million empty lines would
    // take far more memory than their bytes.
    let n = n.min(
        usize::try_from(budget / LINE_COST)
            .unwrap_or(usize::MAX)
            .max(1),
    );
    // Two streams: one more newline each, as the first piece of each stream in the window may
    // be the end of a line that began before it.
    let wanted_newlines = n.saturating_add(2);
    let floor = length
        .saturating_sub(wanted_newlines.saturating_mul(MAX_RECORD) as u64)
        .max(length.saturating_sub(budget));
    // Backwards a chunk at a time to where the lines begin, then those bytes in one read: only
    // one copy of them is ever held.
    let mut chunk = vec![0u8; CHUNK.min(length - floor) as usize];
    let mut position = length;
    let mut newlines = 0;
    while position > floor && newlines < wanted_newlines {
        let start = position.saturating_sub(CHUNK).max(floor);
        let part = &mut chunk[..(position - start) as usize];
        file.read_exact_at(part, start)?;
        newlines += memchr::memchr_iter(b'\n', part).count();
        position = start;
    }
    drop(chunk);
    let mut data = vec![0u8; (length - position) as usize];
    file.read_exact_at(&mut data, position)?;
    let mut index_path = path.as_os_str().to_owned();
    index_path.push(".idx");
    let records = open(Path::new(&index_path))
        .ok()
        .and_then(|index| records_between(&index, position, length).ok())
        .flatten()
        .unwrap_or_default();
    let mut lines = frame(&data, position, &records);
    let excess = lines.len().saturating_sub(n);
    lines.drain(..excess);
    Ok((lines, length - position))
}

/// The records of an index that describe the log from `from` up to `to`: the last one starting
/// at or before `from` and those after it that start before `to` (records beyond are not read,
/// so a small window of a large file costs a few reads). `None` when the file is not an index
/// or its records do not move forward through the log.
pub(crate) fn records_between(index: &File, from: u64, to: u64) -> io::Result<Option<Vec<Record>>> {
    let size = index.metadata()?.len();
    let header = INDEX_MAGIC.len() as u64;
    let mut magic = [0u8; 8];
    if size < header || index.read_exact_at(&mut magic, 0).is_err() || magic != INDEX_MAGIC {
        return Ok(None);
    }
    // A torn last record is ignored.
    let count = (size - header) / RECORD_LEN as u64;
    let read = |at: u64| -> io::Result<Record> {
        let mut bytes = [0u8; RECORD_LEN];
        index.read_exact_at(&mut bytes, header + at * RECORD_LEN as u64)?;
        Ok(Record::decode(&bytes))
    };
    // The first record after those starting at or before `from` (offsets never decrease in a
    // sound index; a corrupt one is caught below).
    let (mut low, mut high) = (0, count);
    while low < high {
        let middle = low + (high - low) / 2;
        match read(middle)?.offset <= from {
            true => low = middle + 1,
            false => high = middle,
        }
    }
    let mut next = low.saturating_sub(1);
    let mut records: Vec<Record> = Vec::new();
    let mut buffer = vec![0u8; RECORDS_PER_READ * RECORD_LEN];
    while next < count {
        let batch = (count - next).min(RECORDS_PER_READ as u64) as usize;
        let bytes = &mut buffer[..batch * RECORD_LEN];
        index.read_exact_at(bytes, header + next * RECORD_LEN as u64)?;
        next += batch as u64;
        for bytes in bytes.chunks_exact(RECORD_LEN) {
            let Ok(bytes) = <&[u8; RECORD_LEN]>::try_from(bytes) else {
                continue;
            };
            let record = Record::decode(bytes);
            if records
                .last()
                .is_some_and(|last: &Record| last.offset > record.offset)
            {
                return Ok(None);
            }
            // Written before the log's bytes reached the disk, or for a longer file, or past
            // the window: the rest describes nothing wanted here.
            if record.offset >= to && !records.is_empty() || record.offset > to {
                return Ok(Some(records));
            }
            records.push(record);
        }
    }
    Ok(Some(records))
}

/// Index records read at once by [`records_between`].
const RECORDS_PER_READ: usize = 256;

/// A stream's bytes of a line not yet ended.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// The time of the record its last bytes came from.
    time: Option<SystemTime>,
    /// Its first bytes may be the end of a line that began before the window.
    clipped: bool,
}

/// The lines of `data` (the log from `start` on), described by `records`.
fn frame(data: &[u8], start: u64, records: &[Record]) -> Vec<FileLine> {
    let mut lines = Vec::new();
    let end = start + data.len() as u64;
    // Before the first record: lines of the earlier format, or of a file without index.
    let covered = records
        .first()
        .map_or(end, |first| first.offset.clamp(start, end));
    let legacy = &data[..(covered - start) as usize];
    legacy_lines(legacy, start > 0, covered == end, &mut lines);
    let mut pending = [Pending::default(), Pending::default()];
    for stream in &mut pending {
        stream.clipped = covered == start && start > 0;
    }
    for (at, record) in records.iter().enumerate() {
        let from = record.offset.clamp(start, end);
        let to = records
            .get(at + 1)
            .map_or(end, |next| next.offset.clamp(start, end));
        if from >= to {
            continue;
        }
        let part = &data[(from - start) as usize..(to - start) as usize];
        let slot = &mut pending[usize::from(record.stream == Stream::Stderr)];
        split(part, record.stream, Some(record.time()), slot, &mut lines);
    }
    for (slot, stream) in pending.iter().zip([Stream::Stdout, Stream::Stderr]) {
        if !slot.bytes.is_empty() && !slot.clipped {
            lines.push(piece(&slot.bytes, stream, slot.time, true));
        }
    }
    lines
}

/// The lines of successive windows of one log (what a follower reads as the log grows): the
/// bytes of each stream are joined across windows, so a line cut by the end of a window comes
/// whole with the next one.
#[derive(Default)]
pub(crate) struct Framer {
    pending: [Pending; 2],
}

impl Framer {
    /// Adds the lines of `data`, the log from `start` on, described by `records` (as
    /// [`records_between`] gives them). Bytes no record covers are read as stdout without a
    /// time.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        start: u64,
        records: &[Record],
        lines: &mut Vec<FileLine>,
    ) {
        let end = start + data.len() as u64;
        let covered = records
            .first()
            .map_or(end, |first| first.offset.clamp(start, end));
        let uncovered = &data[..(covered - start) as usize];
        split(uncovered, Stream::Stdout, None, &mut self.pending[0], lines);
        for (at, record) in records.iter().enumerate() {
            let from = record.offset.clamp(start, end);
            let to = records
                .get(at + 1)
                .map_or(end, |next| next.offset.clamp(start, end));
            if from >= to {
                continue;
            }
            let part = &data[(from - start) as usize..(to - start) as usize];
            let slot = &mut self.pending[usize::from(record.stream == Stream::Stderr)];
            split(part, record.stream, Some(record.time()), slot, lines);
        }
    }

    /// The bytes of lines begun and not yet ended.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.pending.iter().map(|slot| slot.bytes.len()).sum()
    }

    /// Gives the lines begun and not yet ended as they are, marked partial (their rest, if it
    /// comes, is a line of its own).
    pub(crate) fn flush(&mut self, lines: &mut Vec<FileLine>) {
        for (slot, stream) in self
            .pending
            .iter_mut()
            .zip([Stream::Stdout, Stream::Stderr])
        {
            if !slot.bytes.is_empty() {
                lines.push(piece(&slot.bytes, stream, slot.time, true));
                slot.bytes = Vec::new();
            }
        }
    }
}

/// Adds the lines of `part` (of `stream`, at `time`) to those of its stream so far.
fn split(
    mut part: &[u8],
    stream: Stream,
    time: Option<SystemTime>,
    pending: &mut Pending,
    lines: &mut Vec<FileLine>,
) {
    while !part.is_empty() {
        let (line, ended) = match memchr::memchr(b'\n', part) {
            Some(at) => (&part[..at], true),
            None => (part, false),
        };
        part = &part[line.len() + usize::from(ended)..];
        let mut line = line;
        // Over-long lines come in pieces, never held whole.
        while pending.bytes.len() + line.len() > MAX_PIECE_BYTES {
            let room = MAX_PIECE_BYTES - pending.bytes.len();
            // Cut before a character that would not fit whole, as the store cuts pieces.
            let continues = |at: usize| line.get(at).is_some_and(|&byte| byte & 0xc0 == 0x80);
            let mut take = room;
            while take > 0 && room - take < 3 && continues(take) {
                take -= 1;
            }
            if continues(take) {
                take = room;
            }
            pending.bytes.extend_from_slice(&line[..take]);
            line = &line[take..];
            if !std::mem::take(&mut pending.clipped) {
                lines.push(piece(&pending.bytes, stream, time, true));
            }
            pending.bytes.clear();
        }
        if !ended {
            pending.bytes.extend_from_slice(line);
            pending.time = time;
            return;
        }
        let whole = match pending.bytes.is_empty() {
            true => line,
            false => {
                pending.bytes.extend_from_slice(line);
                &pending.bytes[..]
            }
        };
        let whole = whole.strip_suffix(b"\r").unwrap_or(whole);
        if !std::mem::take(&mut pending.clipped) {
            lines.push(piece(whole, stream, time, false));
        }
        pending.bytes.clear();
    }
}

fn piece(text: &[u8], stream: Stream, time: Option<SystemTime>, partial: bool) -> FileLine {
    FileLine {
        time,
        stream,
        partial,
        text: String::from_utf8_lossy(text).into_owned(),
    }
}

/// Lines of the earlier format (or of no known format) in `data`: the first is dropped when
/// `clipped` (it may have begun before `data`), and a last one without newline is kept,
/// partial, only when `at_end` (else the rest of it follows under a record).
fn legacy_lines(data: &[u8], clipped: bool, at_end: bool, lines: &mut Vec<FileLine>) {
    if data.is_empty() {
        return;
    }
    let mut records: Vec<&[u8]> = data.split(|&byte| byte == b'\n').collect();
    // `split` always yields a last piece: empty if `data` ends with a newline, else torn.
    let mut torn = records.pop().filter(|last| !last.is_empty() && at_end);
    if clipped {
        match records.is_empty() {
            true => torn = None,
            false => {
                records.remove(0);
            }
        }
    }
    for record in records {
        let record = record.get(..MAX_RECORD).unwrap_or(record);
        lines.push(format::decode(record));
    }
    if let Some(last) = torn {
        let mut line = format::decode(last.get(..MAX_RECORD).unwrap_or(last));
        line.partial = true;
        lines.push(line);
    }
}

/// The last `n` lines of a service from `<dir>/<service>.log` and then its rotated files
/// `.1`, `.2` … (at most `keep_files` of them, stopping at the first missing one), oldest
/// first; with `since`, only lines at or after it (by the index: a line without a time is left
/// out), and no older file is read once one holds an earlier line.
///
/// The files are read one after another, so a rotation in between would shift the names under
/// the reader (a file just read is renamed to the next generation and read again, or one it
/// would have read next moves on and is skipped). Every step of a rotation renames at least one
/// of these names, so the read is repeated when the files behind the names changed while it
/// ran; after [`READ_ATTEMPTS`] reads that all raced rotations (a service writing a whole file
/// per read) the last one is returned as it is.
pub fn read_service_tail(
    dir: &Path,
    service: &str,
    keep_files: u32,
    n: usize,
    since: Option<SystemTime>,
) -> io::Result<Vec<FileLine>> {
    let read = read_service_tail_at(dir, service, keep_files, n, since, u64::MAX, || None)?;
    Ok(read.0)
}

/// The file a writer writes now and how much of it is complete (see
/// `writer::ServiceFiles`).
pub(crate) type Completed = Option<(FileId, u64)>;

/// [`read_service_tail`] up to what `completed` says is complete: the current file is read only
/// that far, and only if it is that file (when a rotation replaced it meanwhile, the read is
/// repeated with a fresh `completed`); reading at most `budget` bytes of the files (fewer lines
/// then). Returns the lines and where they end (the current file and how much of it was read;
/// `None` when there is no current file): a follower goes on from exactly there.
pub(crate) fn read_service_tail_at(
    dir: &Path,
    service: &str,
    keep_files: u32,
    n: usize,
    since: Option<SystemTime>,
    budget: u64,
    completed: impl Fn() -> Completed,
) -> io::Result<(Vec<FileLine>, Completed)> {
    let current = format!("{service}.log");
    let identities = || -> Vec<Option<FileId>> {
        (0..=keep_files)
            .map(|generation| match generation {
                0 => path_identity(&dir.join(&current)),
                _ => path_identity(&dir.join(rotated_name(&current, generation))),
            })
            .collect()
    };
    let mut attempt = 1;
    loop {
        let before = identities();
        let snapshot = completed();
        let read = read_service_tail_once(dir, service, keep_files, n, since, budget, snapshot)?;
        let settled = identities() == before;
        match read {
            Some(read) if settled || attempt >= READ_ATTEMPTS => return Ok(read),
            // Rotations keep replacing the current file between the look at what is complete
            // and the read (a service writing hundreds of MB/s): the current file as it is,
            // rather than no lines at all (its last bytes may lack their time yet).
            None if attempt >= READ_ATTEMPTS => {
                let read =
                    read_service_tail_once(dir, service, keep_files, n, since, budget, None)?;
                return Ok(read.unwrap_or_default());
            }
            _ => attempt += 1,
        }
    }
}

/// How many times [`read_service_tail`] reads when rotations keep racing it.
const READ_ATTEMPTS: u32 = 8;

/// One read of [`read_service_tail_at`]; `None` when the current file is not the one
/// `completed` names.
fn read_service_tail_once(
    dir: &Path,
    service: &str,
    keep_files: u32,
    n: usize,
    since: Option<SystemTime>,
    mut budget: u64,
    completed: Completed,
) -> io::Result<Option<(Vec<FileLine>, Completed)>> {
    let current = format!("{service}.log");
    let mut lines: Vec<FileLine> = Vec::new();
    let mut end = None;
    for generation in 0..=keep_files {
        if lines.len() >= n && generation > 0 {
            break;
        }
        let name = match generation {
            0 => current.clone(),
            _ => rotated_name(&current, generation),
        };
        let path = dir.join(name);
        let read = open(&path).and_then(|file| {
            let length = file.metadata()?.len();
            let length = match (generation, completed) {
                (0, Some((id, complete))) => match FileId::of(&file) == Some(id) {
                    true => complete.min(length),
                    false => return Ok(None),
                },
                _ => length,
            };
            if generation == 0 {
                end = FileId::of(&file).map(|id| (id, length));
            }
            tail_of(&file, &path, length, n - lines.len(), budget).map(Some)
        });
        match read {
            Ok(None) => return Ok(None),
            Ok(Some((mut older, used))) => {
                budget -= used.min(budget);
                let before = older.len();
                if let Some(since) = since {
                    older.retain(|line| line.time.is_some_and(|time| time >= since));
                }
                let reached = older.len() < before;
                older.append(&mut lines);
                lines = older;
                if reached || budget == 0 {
                    break;
                }
            }
            // A current file may be missing (not written yet); a missing rotated one means
            // there are no older ones (the budget removes the oldest first).
            Err(error) if error.kind() == io::ErrorKind::NotFound && generation == 0 => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => break,
            Err(error) => return Err(error),
        }
    }
    Ok(Some((lines, end)))
}

pub(crate) fn open(path: &Path) -> io::Result<File> {
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
