//! What readers of the files need to know from the writer: for each service, the files it
//! wrote in order, where each one is now (renamed by rotations, or removed), where each starts in
//! the service's output, and how much of the current one is complete (see
//! `crate::logs::follow`). The writer updates it under a lock per service as it opens, writes,
//! rotates and removes files; readers copy it.

use crate::logs::files::FileId;

/// Where a service's output is in its files, as the writer last completed it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceFiles {
    /// The file written now (its span's serial), once one was opened.
    pub(crate) current: Option<u64>,
    /// The bytes of `current` that are complete: written, and their index records too. Bytes
    /// beyond may still lack their record (their stream is not known yet).
    pub(crate) committed: u64,
    /// The files this store wrote to, oldest first (at most [`SPANS_KEPT`]), `current` last:
    /// what follows a file, where each one is now, and how far into the output it starts.
    pub(crate) spans: std::collections::VecDeque<FileSpan>,
    /// Counts renames and removals of the service's files: a reader that opened a file by the
    /// name a span gave, and finds this unchanged afterwards, opened that file.
    pub(crate) moves: u64,
    /// The serial of the next span.
    pub(super) next_serial: u64,
}

/// A file of a service: where it starts in the service's output (the bytes written to its files
/// by this store, counted from an arbitrary origin; a file found with output in it starts before
/// 0) and where it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileSpan {
    /// Names this file for readers: unlike `id`, never reused (an inode number is, once its file
    /// is removed).
    pub(crate) serial: u64,
    pub(crate) id: FileId,
    pub(crate) start: i64,
    /// `Some(0)`: `<service>.log`; `Some(n)`: `<service>.log.<n>`; `None`: removed (or moved
    /// away by something else).
    pub(crate) generation: Option<u32>,
}

/// [`ServiceFiles::spans`] kept: more than a follower can use, since rotated files beyond
/// `keep_files` are gone anyway; the list is only bounded for services that reopen often.
pub(crate) const SPANS_KEPT: usize = 64;

impl ServiceFiles {
    /// After a rotation of `existing` rotated files (see `files::rotate`) with `keep` kept.
    pub(super) fn rotated(&mut self, existing: u32, keep: u32) {
        for span in &mut self.spans {
            span.generation = match span.generation {
                Some(generation) if generation <= existing => {
                    (generation < keep).then_some(generation + 1)
                }
                other => other,
            };
        }
        self.moves += 1;
    }

    /// After `<service>.log.<generation>` was removed.
    pub(super) fn removed(&mut self, generation: u32) {
        for span in &mut self.spans {
            if span.generation == Some(generation) {
                span.generation = None;
            }
        }
        self.moves += 1;
    }

    /// The span after `serial`'s, if `serial` is known and not the last.
    pub(crate) fn successor(&self, serial: u64) -> Option<FileSpan> {
        let at = self.spans.iter().position(|span| span.serial == serial)?;
        self.spans.get(at + 1).copied()
    }

    pub(crate) fn span(&self, serial: u64) -> Option<FileSpan> {
        self.spans
            .iter()
            .find(|span| span.serial == serial)
            .copied()
    }

    /// The latest span of the file `id` (an earlier one of the same inode number is a removed
    /// file's).
    pub(crate) fn latest_of(&self, id: FileId) -> Option<FileSpan> {
        self.spans.iter().rev().find(|span| span.id == id).copied()
    }

    /// The current file and how much of it is complete.
    pub(crate) fn completed(&self) -> Option<(FileId, u64)> {
        let span = self.span(self.current?)?;
        Some((span.id, self.committed))
    }
}
