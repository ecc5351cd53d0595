//! Following services' log files as they grow (`logs -f`): a follower is a cursor into the files
//! (which file, how far into it), not a copy of the output. It reads what the writer has
//! completed (bytes together with their index records, see `writer::ServiceFiles`) and frames
//! it into lines as [`crate::logs::read`] does. A follower that is not read (a client that
//! stalls) costs its cursor and nothing else: no output is queued for it, so no number of slow
//! followers can grow the daemon.
//!
//! The writer keeps, per service, the files it wrote in order, where each one is now (renamed
//! by rotations, or removed) and where it starts in the service's output (`writer::FileSpan`):
//! a cursor names its file by identity (device and inode), finds its name there, and checks
//! after opening it that no rename or removal happened meanwhile (an inode number is reused once
//! its file is removed). A follower so far behind that the file it was reading has been removed
//! (`keep_files`, the budget) goes on with the oldest later file left and says how many bytes of
//! output it skipped (the lines in them were never counted).
//!
//! Reading is blocking file IO: [`Follow::next`] does it on tokio's blocking pool, never on the
//! caller's thread. This module only reads; the files are the writer's.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, watch};

use crate::logs::files::{FileId, rotated_name};
use crate::logs::format::FileLine;
use crate::logs::read::{self, Framer};
use crate::logs::writer::{ServiceFiles, Shared};
use crate::mutex::lock;
use crate::spec::ServiceId;

/// A line begun and not ended is given as it is (partial) after this long without its end:
/// a prompt, a progress bar (the supervisor waits as long before it shows one).
pub const PARTIAL_LINE_DELAY: Duration = Duration::from_millis(100);

/// The most bytes of one service read per round, and of all services together: what a round
/// holds in memory at most, besides lines begun and not ended (and what a follower that stops
/// reading keeps until it goes on).
const SERVICE_ROUND_BYTES: usize = 32 * 1024;
const ROUND_BYTES: usize = 64 * 1024;

/// What a follower gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowItem {
    Line {
        service: ServiceId,
        line: FileLine,
    },
    /// Output this follower did not read before it was removed (it fell `keep_files` whole
    /// files behind): how many bytes, when known.
    Skipped {
        service: ServiceId,
        bytes: Option<u64>,
    },
}

/// One client following some services. See the module docs.
pub struct Follow {
    shared: Arc<Shared>,
    dir: Arc<PathBuf>,
    cursors: Vec<Cursor>,
    changes: watch::Receiver<u64>,
    /// The cursor a round starts with, so that busy services take turns.
    turn: usize,
    /// A place among the store's followers, given back when this is dropped.
    _permit: OwnedSemaphorePermit,
    /// The tail's share of what followers' tails may hold (see `FOLLOWER_TAILS_BYTES`), until
    /// the tail is taken.
    tail_share: Option<OwnedSemaphorePermit>,
}

/// Where a follower is in one service's files.
pub(crate) struct Cursor {
    service: ServiceId,
    /// The writer's account of the service's files (see `writer::Shared::files`).
    files: Arc<Mutex<ServiceFiles>>,
    /// `<service>.log`.
    file_name: String,
    position: Position,
    framer: Framer,
    /// Since when a line has been begun and not ended.
    pending_since: Option<Instant>,
}

/// The file a cursor reads and how far it is into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Before the writer's first file: the tail ended at this offset of this file (read by its
    /// name before the writer opened it), or there was no file.
    Before(Option<(FileId, u64)>),
    /// In the file of this span (see `writer::FileSpan::serial`).
    At { serial: u64, offset: u64 },
}

impl Cursor {
    /// A cursor at `end` (a file and an offset in it, as the tail read gave it) of a service whose
    /// files are `files`.
    pub(crate) fn new(
        service: ServiceId,
        file_name: String,
        end: Option<(FileId, u64)>,
        shared_files: Arc<Mutex<ServiceFiles>>,
    ) -> Cursor {
        let files = lock(&shared_files).clone();
        let position = match end.and_then(|(id, offset)| Some((files.latest_of(id)?, offset))) {
            Some((span, offset)) => Position::At {
                serial: span.serial,
                offset,
            },
            None => Position::Before(end),
        };
        Cursor {
            service,
            files: shared_files,
            file_name,
            position,
            framer: Framer::default(),
            pending_since: None,
        }
    }

    /// Whether the files hold output this cursor has not read.
    fn behind(&self, files: &ServiceFiles) -> bool {
        match self.position {
            Position::Before(_) => files.current.is_some(),
            Position::At { serial, offset } => {
                files.current != Some(serial) || offset < files.committed
            }
        }
    }

    fn partial_due(&self, now: Instant) -> bool {
        self.pending_since
            .is_some_and(|since| now >= since + PARTIAL_LINE_DELAY)
    }

    /// Reads at most `budget` bytes of output after the cursor, as lines into `items`; returns
    /// the bytes read.
    fn read(&mut self, dir: &Path, mut budget: usize, items: &mut Vec<FollowItem>) -> usize {
        let mut files = lock(&self.files).clone();
        let mut lines = Vec::new();
        let mut read = 0;
        // Each step reads, moves on to the next file, or takes a fresh look at the files after
        // they moved: a few steps per round.
        for _ in 0..8 {
            if budget == 0 {
                break;
            }
            let (serial, offset) = match self.position {
                Position::At { serial, offset } => (serial, offset),
                Position::Before(end) => {
                    // The writer's first file, from where the tail ended if that is the file.
                    let Some(first) = files.spans.front() else {
                        break;
                    };
                    let offset = match end {
                        Some((id, offset)) if id == first.id => offset,
                        _ => 0,
                    };
                    self.position = Position::At {
                        serial: first.serial,
                        offset,
                    };
                    continue;
                }
            };
            let span = files.span(serial);
            let limit = match span.and_then(|span| span.generation) {
                Some(0) if files.current == Some(serial) => {
                    if offset >= files.committed {
                        break;
                    }
                    Some(files.committed)
                }
                // Under the current name, but the writer closed it (a failure): wait for it.
                Some(0) => break,
                Some(_) => None,
                None => {
                    // Removed before this cursor read it all (or so long ago that the writer no
                    // longer lists it): on to the oldest later file left.
                    let mut next = match span {
                        Some(_) => files.successor(serial),
                        None => files.spans.front().copied(),
                    };
                    while let Some(later) = next.filter(|later| later.generation.is_none()) {
                        next = files.successor(later.serial);
                    }
                    let Some(next) = next else {
                        break;
                    };
                    // The lines begun in the lost file end there: give what was read of them.
                    self.framer.flush(&mut lines);
                    let bytes = span.and_then(|span| {
                        u64::try_from(next.start - (span.start + offset as i64)).ok()
                    });
                    // A file read to its end before it was removed (`wrangle flush` removes
                    // the current one) skipped nothing.
                    if bytes != Some(0) {
                        items.push(FollowItem::Skipped {
                            service: self.service,
                            bytes,
                        });
                    }
                    self.position = Position::At {
                        serial: next.serial,
                        offset: 0,
                    };
                    continue;
                }
            };
            let Some(span) = span else {
                break;
            };
            let id = span.id;
            let path = match span.generation {
                Some(0) | None => dir.join(&self.file_name),
                Some(generation) => dir.join(rotated_name(&self.file_name, generation)),
            };
            let opened = open_identified(&path, id);
            let moved = {
                let now = lock(&self.files);
                (now.moves != files.moves).then(|| now.clone())
            };
            if let Some(now) = moved {
                // Renamed or removed meanwhile: what was opened may not be this file.
                files = now;
                continue;
            }
            let Some(file) = opened else {
                break;
            };
            // A rotated file is complete: all of it can be read.
            let end = match limit {
                Some(limit) => limit,
                None => file.metadata().map_or(0, |metadata| metadata.len()),
            };
            if offset < end {
                let to = end.min(offset + budget as u64);
                match self.read_window(&file, &path, offset, to, &mut lines) {
                    Ok(n) if n > 0 => {
                        read += n;
                        budget -= n.min(budget);
                        continue;
                    }
                    _ => break,
                }
            }
            if limit.is_some() {
                break;
            }
            // Read to its end: on to the file opened after it.
            match files.successor(serial) {
                Some(next) => {
                    self.position = Position::At {
                        serial: next.serial,
                        offset: 0,
                    }
                }
                // Not known yet (it rotated after `files` was taken): next round.
                None => break,
            }
        }
        self.track_pending();
        items.extend(lines.into_iter().map(|line| FollowItem::Line {
            service: self.service,
            line,
        }));
        read
    }

    /// Reads `[from, to)` of `file` (at `path`, its index beside it) as lines; returns the bytes
    /// read (fewer than asked when the file is shorter).
    fn read_window(
        &mut self,
        file: &File,
        path: &Path,
        from: u64,
        to: u64,
        lines: &mut Vec<FileLine>,
    ) -> io::Result<usize> {
        let mut data = vec![0u8; usize::try_from(to.saturating_sub(from)).unwrap_or(0)];
        let mut filled = 0;
        while filled < data.len() {
            match file.read_at(&mut data[filled..], from + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        data.truncate(filled);
        let mut index_path = path.as_os_str().to_owned();
        index_path.push(".idx");
        let records = read::open(Path::new(&index_path))
            .ok()
            .and_then(|index| read::records_between(&index, from, from + filled as u64).ok())
            .flatten()
            .unwrap_or_default();
        self.framer.feed(&data, from, &records, lines);
        if let Position::At { serial, .. } = self.position {
            self.position = Position::At {
                serial,
                offset: from + filled as u64,
            };
        }
        Ok(filled)
    }

    /// Notes when a line was begun and not ended (or forgets it when there is none).
    fn track_pending(&mut self) {
        match self.framer.pending_bytes() {
            0 => self.pending_since = None,
            _ => {
                self.pending_since.get_or_insert_with(Instant::now);
            }
        }
    }

    /// Gives the line begun and not ended, if it waited long enough for its end.
    fn flush_due(&mut self, now: Instant, items: &mut Vec<FollowItem>) {
        if !self.partial_due(now) {
            return;
        }
        let mut lines = Vec::new();
        self.framer.flush(&mut lines);
        self.pending_since = None;
        items.extend(lines.into_iter().map(|line| FollowItem::Line {
            service: self.service,
            line,
        }));
    }
}

impl Follow {
    pub(crate) fn new(
        shared: Arc<Shared>,
        dir: Arc<PathBuf>,
        cursors: Vec<Cursor>,
        permit: OwnedSemaphorePermit,
        tail_share: Option<OwnedSemaphorePermit>,
    ) -> Follow {
        let changes = shared.changes.subscribe();
        Follow {
            shared,
            dir,
            cursors,
            changes,
            turn: 0,
            _permit: permit,
            tail_share,
        }
    }

    /// The client has taken the tail this follower began with: its share of what followers'
    /// tails may hold is given back.
    pub fn tail_taken(&mut self) {
        self.tail_share = None;
    }

    /// The next lines (and skips) of the followed services, in the order they were completed
    /// (merged by time within a round), waiting for the writer when there are none. `None`
    /// once the store is gone.
    pub async fn next(&mut self) -> Option<Vec<FollowItem>> {
        loop {
            self.changes.borrow_and_update();
            let files: Vec<ServiceFiles> = self
                .cursors
                .iter()
                .map(|cursor| lock(&cursor.files).clone())
                .collect();
            let now = Instant::now();
            let due = self
                .cursors
                .iter()
                .zip(&files)
                .any(|(cursor, files)| cursor.behind(files) || cursor.partial_due(now));
            if due {
                let mut cursors = std::mem::take(&mut self.cursors);
                let dir = Arc::clone(&self.dir);
                let turn = self.turn;
                let _read = self.shared.reads.acquire().await;
                let round = tokio::task::spawn_blocking(move || {
                    let outcome = round(&dir, &mut cursors, &files, turn);
                    (cursors, outcome)
                });
                let (cursors, (items, more)) = round.await.ok()?;
                self.cursors = cursors;
                self.turn = self.turn.wrapping_add(1);
                if !items.is_empty() {
                    return Some(items);
                }
                if more {
                    continue;
                }
            }
            let deadline = self
                .cursors
                .iter()
                .filter_map(|cursor| cursor.pending_since)
                .min()
                .map(|since| since + PARTIAL_LINE_DELAY);
            tokio::select! {
                changed = self.changes.changed() => changed.ok()?,
                () = sleep_until(deadline), if deadline.is_some() => {}
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// One round of reads of `cursors` (`files` is what the writer has completed for each), starting
/// with cursor `turn`: the items, merged by time, and whether a cursor is still behind after
/// reading (its budget ran out).
fn round(
    dir: &Path,
    cursors: &mut [Cursor],
    files: &[ServiceFiles],
    turn: usize,
) -> (Vec<FollowItem>, bool) {
    let mut items = Vec::new();
    let mut budget = ROUND_BYTES;
    let mut more = false;
    let count = cursors.len();
    let now = Instant::now();
    for step in 0..count {
        let at = (turn + step) % count;
        let (cursor, files) = (&mut cursors[at], &files[at]);
        if cursor.behind(files) {
            if budget == 0 {
                more = true;
                continue;
            }
            let read = cursor.read(dir, budget.min(SERVICE_ROUND_BYTES), &mut items);
            budget -= read.min(budget);
            more |= read > 0 && cursor.behind(files);
        }
        cursor.flush_due(now, &mut items);
    }
    // Lines of different services by time; a service's own lines keep their order.
    items.sort_by_key(|item| match item {
        FollowItem::Line { line, .. } => line.time,
        FollowItem::Skipped { .. } => None,
    });
    (items, more)
}

/// Opens the log file at `path` if it is the file `id`.
fn open_identified(path: &Path, id: FileId) -> Option<File> {
    let file = read::open(path).ok()?;
    (FileId::of(&file) == Some(id)).then_some(file)
}
