//! Giving back resident pages a waiting process does not need: those of the program and library
//! files it maps and never wrote.
//!
//! # Why
//! A process's resident set (RSS, what `ps` and `top` show) counts every page mapped into it,
//! including the pages of its executable and of the C library that it touched while starting.
//! Those are shared with every other process mapping the same files and cost the machine nothing
//! more, yet they make a process that only waits (the sentinel) look as large as a busy one:
//! about 2 MiB, nearly all of it the C library's and the program's code. Unmapping them, which is
//! what the kernel itself does to such pages under memory pressure, leaves only the process's own
//! memory resident; a page that is needed again is mapped back from the page cache on first use,
//! at the cost of a minor fault.
//!
//! # How
//! [`Releasable::find`] reads `/proc/self/smaps`: every private mapping of a file that is not
//! writable and holds no anonymous page (so no page of it was ever copied on write, as the
//! dynamic loader's relocations do to a read-only-after-relocation segment) qualifies.
//! [`Releasable::release`] then gives each of them `madvise(MADV_DONTNEED)`, which for such a
//! mapping only drops the page-table entries: a later access reads the same bytes from the file
//! again. Mappings with any private copy, writable ones, anonymous memory, the stack, the heap
//! and shared mappings are left alone. Finding and releasing are two steps so that a caller about
//! to block releases last, right before its blocking call: whatever code runs after the release
//! is mapped back at once (the kernel maps pages around a fault, 64 KiB by default). The file is
//! read through a buffer on the stack and the ranges kept in an array, so neither step leaves
//! anything on the heap.
//!
//! # Caveats
//! The pages released are shared with every process mapping the same files, so this makes the
//! process's resident set honest about what it holds of its own rather than freeing much memory;
//! unmapped page-cache pages are easier for the kernel to reclaim, though.

use std::ops::Range;

/// The most mappings [`Releasable`] holds: a process of wrangle's maps a few dozen files' worth.
const MAX_RANGES: usize = 128;

/// Mappings found releasable, held without the heap.
#[derive(Debug)]
pub struct Releasable {
    ranges: [Range<usize>; MAX_RANGES],
    count: usize,
    /// Bytes resident in them when they were found.
    pub resident: usize,
}

impl Releasable {
    /// Finds the unmodified, read-only, private file mappings of this process in
    /// `/proc/self/smaps`. Best effort: a failure to read it finds nothing.
    pub fn find() -> Releasable {
        use rustix::fs::{Mode, OFlags};
        let mut found = Releasable {
            ranges: [const { 0..0 }; MAX_RANGES],
            count: 0,
            resident: 0,
        };
        let Ok(smaps) = rustix::fs::open(
            "/proc/self/smaps",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            return found;
        };
        let mut scanner = Scanner::default();
        let mut buffer = [0u8; 4096];
        let mut filled = 0;
        // A line longer than the buffer (a very long path) is skipped up to its end.
        let mut skipping = false;
        loop {
            let read = match rustix::io::read(&smaps, &mut buffer[filled..]) {
                Ok(0) => break,
                Ok(read) => read,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            };
            filled += read;
            let mut start = 0;
            while let Some(end) = memchr::memchr(b'\n', &buffer[start..filled]) {
                if !std::mem::take(&mut skipping)
                    && let Some((range, resident)) = scanner.line(&buffer[start..start + end])
                    && found.count < MAX_RANGES
                {
                    found.ranges[found.count] = range;
                    found.count += 1;
                    found.resident += resident;
                }
                start += end + 1;
            }
            buffer.copy_within(start..filled, 0);
            filled -= start;
            if filled == buffer.len() {
                filled = 0;
                skipping = true;
                // The mapping whose header was cut is not judged on a later field.
                scanner.current = None;
            }
        }
        found
    }

    /// Drops the mappings' pages; returns the bytes that were resident in them. Inlined into the
    /// caller on purpose: the code that runs between the last release and the caller's blocking
    /// call is mapped back at once, so it should be as little, and as close, as can be.
    #[inline(always)]
    pub fn release(&self) -> usize {
        for range in &self.ranges[..self.count] {
            // SAFETY: each range is exactly one mapping of this process that `Scanner` found
            // read-only, private, backed by a file and holding no anonymous (copied-on-write)
            // page: dropping its page-table entries loses nothing, since every page reads back
            // the same from the file. Nothing can write to a mapping without write permission,
            // so no page became a private copy since smaps was read.
            let _ = unsafe {
                rustix::mm::madvise(
                    range.start as *mut std::ffi::c_void,
                    range.end - range.start,
                    rustix::mm::Advice::LinuxDontNeed,
                )
            };
        }
        self.resident
    }
}

/// [`Releasable::find`] then [`Releasable::release`]: for a caller that does not block next.
pub fn release_file_pages() -> usize {
    Releasable::find().release()
}

/// Reads `/proc/PID/smaps` line by line and says which mappings may be released.
#[derive(Debug, Default)]
struct Scanner {
    /// The mapping being read, while it still qualifies: its range and resident bytes.
    current: Option<(Range<usize>, usize)>,
}

impl Scanner {
    /// Takes one line (without its newline); returns a mapping to release, with its resident
    /// bytes, once its `Anonymous:` line says it holds no private copy.
    fn line(&mut self, line: &[u8]) -> Option<(Range<usize>, usize)> {
        let text = std::str::from_utf8(line).ok()?;
        let mut fields = text.split_ascii_whitespace();
        let first = fields.next()?;
        if let Some((start, end)) = first.split_once('-') {
            // A mapping's header: `start-end perms offset dev inode [path]`.
            self.current = None;
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                return None;
            };
            let perms = fields.next()?.as_bytes();
            let _offset = fields.next()?;
            let _device = fields.next()?;
            let inode = fields.next()?;
            let path = fields.next().unwrap_or("");
            let read_only_private = perms.len() == 4 && perms[1] != b'w' && perms[3] == b'p';
            if read_only_private && inode != "0" && path.starts_with('/') && start < end {
                self.current = Some((start..end, 0));
            }
            return None;
        }
        let kib = || -> Option<usize> { fields.clone().next()?.parse::<usize>().ok() };
        match first {
            "Rss:" => {
                if let Some((_, resident)) = &mut self.current {
                    *resident = kib()? * 1024;
                }
                None
            }
            "Anonymous:" => {
                let (range, resident) = self.current.take()?;
                (kib()? == 0 && resident > 0).then_some((range, resident))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn released(smaps: &str) -> Vec<(Range<usize>, usize)> {
        let mut scanner = Scanner::default();
        smaps
            .lines()
            .filter_map(|line| scanner.line(line.as_bytes()))
            .collect()
    }

    #[test]
    fn only_unmodified_read_only_private_file_mappings_are_released() {
        let smaps = "\
1000-3000 r--p 00000000 fd:01 42 /usr/bin/wrangle
Size:                  8 kB
Rss:                   8 kB
Anonymous:             0 kB
3000-5000 r-xp 00001000 fd:01 42 /usr/bin/wrangle
Rss:                   4 kB
Anonymous:             0 kB
5000-6000 r--p 00003000 fd:01 42 /usr/bin/wrangle
Rss:                   4 kB
Anonymous:             4 kB
6000-7000 rw-p 00004000 fd:01 42 /usr/bin/wrangle
Rss:                   4 kB
Anonymous:             0 kB
7000-8000 rw-p 00000000 00:00 0 [heap]
Rss:                   4 kB
Anonymous:             4 kB
8000-9000 r--s 00000000 fd:01 43 /tmp/shared
Rss:                   4 kB
Anonymous:             0 kB
9000-a000 r-xp 00000000 00:00 0 [vdso]
Rss:                   4 kB
Anonymous:             0 kB
a000-b000 r-xp 00000000 fd:01 44 /usr/lib/libc.so.6
Rss:                   0 kB
Anonymous:             0 kB
b000-c000 r-xp 00000000 fd:01 44 /usr/lib/libc.so.6 (deleted)
Rss:                   4 kB
AnonHugePages:         0 kB
Anonymous:             0 kB
";
        assert_eq!(
            released(smaps),
            vec![
                (0x1000..0x3000, 8192),
                (0x3000..0x5000, 4096),
                (0xb000..0xc000, 4096)
            ]
        );
    }

    #[test]
    fn a_waiting_process_gives_back_file_pages_and_runs_on() {
        fn rss_file_kib() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            status
                .lines()
                .find_map(|line| line.strip_prefix("RssFile:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("RssFile")
        }
        let before = rss_file_kib();
        let released = release_file_pages();
        let after = rss_file_kib();
        assert!(released > 0, "nothing released");
        assert!(after < before, "RssFile {before} -> {after} kB");
        // Code and data of the program and the C library read back as they were.
        let text = format!("{:?}", std::env::current_exe());
        assert!(text.contains("wrangle"), "{text}");
    }
}
