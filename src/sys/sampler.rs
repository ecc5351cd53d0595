//! Resource sampling for `ps`, `top` and metrics: what a set of processes costs right now (CPU
//! time, resident memory, processes, threads, open file descriptors), CPU rates between two
//! samples, and a bounded history of samples per service.
//!
//! This module owns reading `/proc/PID/stat` for usage figures, counting `/proc/PID/fd`, and the
//! two machine constants that turn those figures into units (clock ticks per second and the page
//! size, from `/proc/self/auxv`). Which pids make up a service is not decided here: callers pass
//! the pids (from `tree` or `cgroup`), so this module only measures. Like `process_table`, it only
//! observes and never signals or waits.
//!
//! # Cost
//!
//! Sampling is linear in the number of processes: per process one `openat` and one `read` of
//! `stat` into a reused buffer, plus one `statx` of `/proc/PID/fd` (Linux 6.2 and later report the
//! number of open descriptors as the size of that directory). Older kernels report 0 there; then
//! the directory is counted with `getdents64` into a reused buffer, no allocation per entry.
//! Keep one [`Sampler`] per sampling loop to reuse its buffers and its `/proc` descriptor.
//! Measured on a 2-vCPU VM (release build, ~80 processes): about 11 µs per process, 13 µs when
//! counting descriptors with `getdents64`; most of it is the kernel formatting `stat`.
//!
//! # Caveats
//!
//! `/proc` moves while it is read. A process that vanished is skipped, and malformed content is
//! treated as "gone", never as an error or a panic. The `stat` read and the fd count are two
//! reads, so the pid could in theory be recycled in between; the fd count is then another
//! process's, for one sample. That is accepted: these are monitoring figures, not decisions.
//!
//! CPU time of a process disappears from a sum once it exits. To keep short-lived children
//! visible, [`Usage::cpu_ticks`] also counts the CPU time of children the processes reaped
//! (`cutime` + `cstime`), so a shell that runs many short commands between two samples is still
//! charged for them. A child reaped by someone outside the set (wrangle reaps orphans as the
//! subreaper) takes its time with it; [`rates`] then sees the sum fall and reports 0 for that
//! interval instead of a negative rate.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;
use std::time::Instant;

use rustix::fs::{AtFlags, Mode, OFlags, RawDir};

/// Figures of a set of processes at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub processes: u32,
    /// Threads, summed (a single-threaded process counts 1).
    pub threads: u32,
    /// Resident set size, summed. Pages shared between processes (copy-on-write after `fork`,
    /// shared libraries) are counted once per process, as `ps` and `top` do.
    pub rss_bytes: u64,
    /// Open file descriptors, summed. 0 for processes whose descriptors we may not see.
    pub open_fds: u32,
    /// CPU time in clock ticks (see [`clock_ticks_per_second`]): user + system time of the
    /// processes (`utime` + `stime`) plus that of the children they reaped (`cutime` +
    /// `cstime`). Only differences between two samples mean anything.
    pub cpu_ticks: u64,
}

impl Usage {
    fn add(&mut self, other: &Usage) {
        self.processes = self.processes.saturating_add(other.processes);
        self.threads = self.threads.saturating_add(other.threads);
        self.rss_bytes = self.rss_bytes.saturating_add(other.rss_bytes);
        self.open_fds = self.open_fds.saturating_add(other.open_fds);
        self.cpu_ticks = self.cpu_ticks.saturating_add(other.cpu_ticks);
    }
}

/// Usage of a set of processes and when it was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: Instant,
    pub usage: Usage,
}

impl Sample {
    /// A sample of `usage` taken now.
    pub fn now(usage: Usage) -> Self {
        Self {
            at: Instant::now(),
            usage,
        }
    }
}

/// CPU use between two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    /// 100 means one core fully busy; a multi-threaded set can exceed 100.
    pub cpu_percent_of_core: f64,
    /// 100 means every core of the machine fully busy.
    pub cpu_percent_of_machine: f64,
}

/// Reads `/proc` with reused buffers and one open descriptor on `/proc`.
///
/// Keep one per sampling loop: the buffers then make a sample allocation-free.
#[derive(Debug)]
pub struct Sampler {
    proc_dir: OwnedFd,
    /// Holds "PID/stat" and "PID/fd", relative to `proc_dir`.
    path: String,
    stat: Vec<u8>,
    dirents: Vec<u8>,
}

/// `/proc/PID/stat` is one line of about 52 numbers and a command name of at most 64 bytes
/// (kernel threads), well under 1 KiB; 4 KiB leaves room for any future fields, and the fields
/// read here all sit near the start anyway.
const STAT_BUFFER: usize = 4096;
/// Enough for about 200 fd entries per `getdents64` call.
const DIRENT_BUFFER: usize = 8192;

impl Sampler {
    /// Fails only when `/proc` cannot be opened (not mounted).
    pub fn new() -> std::io::Result<Self> {
        let proc_dir = rustix::fs::open(
            "/proc",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            proc_dir,
            path: String::with_capacity(32),
            stat: vec![0; STAT_BUFFER],
            dirents: Vec::with_capacity(DIRENT_BUFFER),
        })
    }

    /// The figures of one process, or `None` when it does not exist (or vanished mid-read).
    pub fn process(&mut self, pid: i32) -> Option<Usage> {
        self.process_with_stat(pid).map(|(usage, _)| usage)
    }

    fn process_with_stat(&mut self, pid: i32) -> Option<(Usage, StatUsage)> {
        if pid <= 0 {
            return None;
        }
        let stat = self.read_stat(pid)?;
        let open_fds = self.count_fds(pid);
        let usage = Usage {
            processes: 1,
            threads: stat.threads,
            rss_bytes: stat.rss_pages.saturating_mul(page_size()),
            open_fds,
            cpu_ticks: stat.cpu_ticks,
        };
        Some((usage, stat))
    }

    /// Like [`Sampler::process`], but the CPU time leaves out the children the process reaped
    /// (see [`own_usage`]): for wrangle itself and its helpers.
    pub fn process_without_children(&mut self, pid: i32) -> Option<Usage> {
        let (usage, stat) = self.process_with_stat(pid)?;
        Some(Usage {
            cpu_ticks: stat.own_cpu_ticks,
            ..usage
        })
    }

    /// The figures of `pids` summed; pids that do not exist are skipped.
    pub fn sum(&mut self, pids: &[i32]) -> Usage {
        let mut total = Usage::default();
        for &pid in pids {
            if let Some(usage) = self.process(pid) {
                total.add(&usage);
            }
        }
        total
    }

    fn set_path(&mut self, pid: i32, file: &str) {
        self.path.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.path, "{pid}/{file}");
    }

    fn read_stat(&mut self, pid: i32) -> Option<StatUsage> {
        self.set_path(pid, "stat");
        let fd = rustix::fs::openat(
            &self.proc_dir,
            self.path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        // One read: the kernel produces the whole line on the first read when the buffer holds
        // it. A truncated line still carries the fields we parse, or fails to parse (None).
        let length = rustix::io::read(&fd, &mut self.stat[..]).ok()?;
        parse_stat(&self.stat[..length])
    }

    fn count_fds(&mut self, pid: i32) -> u32 {
        self.set_path(pid, "fd");
        // Since Linux 6.2 the size of /proc/PID/fd is the number of open descriptors: one
        // syscall, no directory read. It is 0 on older kernels (and for a process with no
        // descriptors, where counting is cheap), so 0 falls through to counting.
        if let Ok(stat) = rustix::fs::statat(&self.proc_dir, self.path.as_str(), AtFlags::empty())
            && stat.st_size > 0
        {
            return u32::try_from(stat.st_size).unwrap_or(u32::MAX);
        }
        self.count_fd_entries(pid)
    }

    /// Counts `/proc/PID/fd` with `getdents64`. 0 when it cannot be read: another user's
    /// process (EACCES), a zombie, or a process that just exited.
    fn count_fd_entries(&mut self, pid: i32) -> u32 {
        self.set_path(pid, "fd");
        let Ok(fd) = rustix::fs::openat(
            &self.proc_dir,
            self.path.as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            return 0;
        };
        let mut count = 0u32;
        let mut entries = RawDir::new(&fd, self.dirents.spare_capacity_mut());
        while let Some(entry) = entries.next() {
            match entry {
                Ok(entry) => {
                    let name = entry.file_name().to_bytes();
                    if name != b"." && name != b".." {
                        count = count.saturating_add(1);
                    }
                }
                // EINVAL means the buffer is too small for one entry, which cannot happen with
                // fd names (at most 10 digits); any error ends the count with what we have.
                Err(_) => break,
            }
        }
        count
    }
}

/// The figures of one process: `/proc/PID/stat` (CPU time, threads, resident pages) and the
/// number of its open descriptors (0 when we may not see them). `None` when it is gone.
///
/// Opens `/proc` for this one call; keep a [`Sampler`] for repeated sampling.
pub fn process_usage(pid: i32) -> Option<Usage> {
    Sampler::new().ok()?.process(pid)
}

/// The figures of `pids` summed; vanished pids are skipped. All zero when `/proc` is missing.
pub fn usage_of(pids: &[i32]) -> Usage {
    Sampler::new()
        .map(|mut sampler| sampler.sum(pids))
        .unwrap_or_default()
}

/// The daemon's own figures.
///
/// Unlike [`process_usage`], the CPU time leaves out reaped children: wrangle reaps every
/// service's main process and every orphan as the subreaper, and their CPU time is the
/// services', not the daemon's.
pub fn own_usage() -> Option<Usage> {
    Sampler::new()
        .ok()?
        .process_without_children(rustix::process::getpid().as_raw_pid())
}

/// CPU use between two samples of the same set of processes, given the number of `cores` of
/// the machine (see [`cores`]).
///
/// Zero when no time passed, when the samples are out of order, or when the CPU time fell
/// (a process left the set, or was reaped by someone outside it, taking its time along).
pub fn rates(previous: &Sample, current: &Sample, cores: usize) -> Rates {
    let elapsed = current
        .at
        .saturating_duration_since(previous.at)
        .as_secs_f64();
    if elapsed <= 0.0 {
        return Rates::default();
    }
    let ticks = current
        .usage
        .cpu_ticks
        .saturating_sub(previous.usage.cpu_ticks);
    let cpu_seconds = ticks as f64 / clock_ticks_per_second() as f64;
    let of_core = cpu_seconds / elapsed * 100.0;
    Rates {
        cpu_percent_of_core: of_core,
        cpu_percent_of_machine: of_core / cores.max(1) as f64,
    }
}

/// The number of cores this process may run on (its CPU affinity and cgroup quota included),
/// at least 1.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A bounded history of samples for one service, oldest first.
///
/// A ring buffer with a fixed capacity, allocated once: 300 entries are 10 minutes at a 2 s
/// interval and take about 15 KiB.
#[derive(Debug, Clone)]
pub struct History {
    samples: VecDeque<Sample>,
    capacity: usize,
}

impl History {
    /// Keeps the last `capacity` samples (at least 1; [`History::rates`] needs 2).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            samples: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds `sample` as the latest, dropping the oldest when full.
    pub fn push(&mut self, sample: Sample) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    pub fn latest(&self) -> Option<&Sample> {
        self.samples.back()
    }

    /// CPU use between the last two samples; `None` before there are two.
    pub fn rates(&self, cores: usize) -> Option<Rates> {
        let mut newest = self.samples.iter().rev();
        let current = newest.next()?;
        let previous = newest.next()?;
        Some(rates(previous, current, cores))
    }

    /// The samples, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Clock ticks per second, the unit of CPU times in `/proc` (`sysconf(_SC_CLK_TCK)`).
///
/// Read from the auxiliary vector (`AT_CLKTCK`) because rustix's `param` feature, which wraps
/// it, is not enabled in this crate. 100 when unreadable: the value on every Linux architecture
/// since the kernel stopped exporting HZ to user space (`USER_HZ`).
pub fn clock_ticks_per_second() -> u64 {
    machine().clock_ticks_per_second
}

/// The page size, the unit of `rss` in `/proc/PID/stat`. From `AT_PAGESZ`, 4096 when unreadable.
pub fn page_size() -> u64 {
    machine().page_size
}

#[derive(Debug, Clone, Copy)]
struct Machine {
    clock_ticks_per_second: u64,
    page_size: u64,
}

fn machine() -> Machine {
    static MACHINE: OnceLock<Machine> = OnceLock::new();
    *MACHINE.get_or_init(|| {
        let auxv = std::fs::read("/proc/self/auxv").unwrap_or_default();
        Machine {
            clock_ticks_per_second: auxv_value(&auxv, AT_CLKTCK)
                .filter(|&ticks| ticks > 0)
                .unwrap_or(100),
            page_size: auxv_value(&auxv, AT_PAGESZ)
                .filter(|&size| size > 0)
                .unwrap_or(4096),
        }
    })
}

const AT_PAGESZ: u64 = 6;
const AT_CLKTCK: u64 = 17;

/// Looks `key` up in an auxiliary vector: pairs of native-endian words (`unsigned long` type,
/// value), ended by type 0 (`AT_NULL`). See: man 3 getauxval.
fn auxv_value(auxv: &[u8], key: u64) -> Option<u64> {
    const WORD: usize = size_of::<usize>();
    let word = |bytes: &[u8]| -> Option<u64> {
        let array: [u8; WORD] = bytes.try_into().ok()?;
        u64::try_from(usize::from_ne_bytes(array)).ok()
    };
    for pair in auxv.chunks_exact(2 * WORD) {
        let kind = word(&pair[..WORD])?;
        if kind == 0 {
            break;
        }
        if kind == key {
            return word(&pair[WORD..]);
        }
    }
    None
}

/// The fields of `/proc/PID/stat` this module uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatUsage {
    /// utime + stime + cutime + cstime.
    cpu_ticks: u64,
    /// utime + stime only.
    own_cpu_ticks: u64,
    threads: u32,
    rss_pages: u64,
}

/// Parses the usage fields of a `/proc/PID/stat` line.
///
/// As in `process_table`, the fields are counted from the *last* `)`: the command name may
/// contain spaces and parentheses. See: man 5 proc.
fn parse_stat(line: &[u8]) -> Option<StatUsage> {
    let (_, _, rest) = crate::sys::process_table::split_stat(line)?;
    // `rest` starts at field 3 (state); field N is at index N - 3.
    let mut fields = rest.split_ascii_whitespace();
    let number = |field: Option<&str>| field?.parse::<u64>().ok();
    // Fields 14-17: utime, stime, cutime, cstime. cutime and cstime are signed in the kernel's
    // format but never negative in practice; a negative one fails to parse and the line is
    // treated as malformed.
    let utime = number(fields.nth(14 - 3))?;
    let stime = number(fields.next())?;
    let cutime = number(fields.next())?;
    let cstime = number(fields.next())?;
    // Field 20: num_threads.
    let threads = u32::try_from(number(fields.nth(20 - 18))?).unwrap_or(u32::MAX);
    // Field 24: rss in pages.
    let rss_pages = number(fields.nth(24 - 21))?;
    let own_cpu_ticks = utime.saturating_add(stime);
    Some(StatUsage {
        cpu_ticks: own_cpu_ticks.saturating_add(cutime).saturating_add(cstime),
        own_cpu_ticks,
        threads,
        rss_pages,
    })
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use super::*;
    use crate::test_support::{ChildGuard, wait_for};

    #[test]
    fn parse_stat_reads_the_usage_fields() {
        // Fields: utime 100, stime 20, cutime 3, cstime 4, num_threads 7, rss 2500.
        let line = b"4242 (a) (b) c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 100 20 3 4 20 0 7 0 \
                     987654 1000 2500 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(
            parse_stat(line),
            Some(StatUsage {
                cpu_ticks: 127,
                own_cpu_ticks: 120,
                threads: 7,
                rss_pages: 2500,
            })
        );
    }

    #[test]
    fn parse_stat_rejects_garbage_without_panicking() {
        for line in [
            &b""[..],
            b"12",
            b"12 (x",
            b"12 x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22",
            b") 12 (",
            b"12 (x) S 1 2 3",
            b"12 (x) S 1 2 3 4 5 6 7 8 9 10 -11 12 13 14 15 16 17 18 19 20 21 22",
            b"12 (x) S 1 2 3 4 5 6 7 8 9 \xff 11 12 13 14 15 16 17 18 19 20 21",
        ] {
            assert_eq!(
                parse_stat(line),
                None,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn auxv_lookup_stops_at_the_end_marker() {
        let words = |pairs: &[(usize, usize)]| -> Vec<u8> {
            pairs
                .iter()
                .flat_map(|&(kind, value)| [kind.to_ne_bytes(), value.to_ne_bytes()])
                .flatten()
                .collect()
        };
        let auxv = words(&[(6, 16384), (17, 250), (0, 0), (17, 1)]);
        assert_eq!(auxv_value(&auxv, AT_PAGESZ), Some(16384));
        assert_eq!(auxv_value(&auxv, AT_CLKTCK), Some(250));
        assert_eq!(auxv_value(&words(&[(0, 0), (17, 1)]), AT_CLKTCK), None);
        assert_eq!(auxv_value(&auxv[..5], AT_PAGESZ), None);
        // The real vector of this process has both.
        assert!(clock_ticks_per_second() > 0);
        assert!(page_size() >= 4096);
    }

    fn sample(at: Instant, cpu_ticks: u64) -> Sample {
        Sample {
            at,
            usage: Usage {
                cpu_ticks,
                ..Usage::default()
            },
        }
    }

    #[test]
    fn rates_from_two_samples() {
        let hz = clock_ticks_per_second();
        let start = Instant::now();
        let later = start + Duration::from_secs(2);
        // One core busy for half of 2 s.
        let half = rates(&sample(start, 1000), &sample(later, 1000 + hz), 4);
        assert!((half.cpu_percent_of_core - 50.0).abs() < 1e-9, "{half:?}");
        assert!(
            (half.cpu_percent_of_machine - 12.5).abs() < 1e-9,
            "{half:?}"
        );
        // Two threads busy the whole time: 200% of a core, 100% of a 2-core machine.
        let two = rates(&sample(start, 0), &sample(later, 4 * hz), 2);
        assert!((two.cpu_percent_of_core - 200.0).abs() < 1e-9, "{two:?}");
        assert!((two.cpu_percent_of_machine - 100.0).abs() < 1e-9, "{two:?}");
        // No time, time backwards, CPU time falling, zero cores: zero or finite, never NaN.
        assert_eq!(
            rates(&sample(start, 0), &sample(start, 50), 2),
            Rates::default()
        );
        assert_eq!(
            rates(&sample(later, 0), &sample(start, 50), 2),
            Rates::default()
        );
        assert_eq!(
            rates(&sample(start, 500), &sample(later, 100), 2),
            Rates::default()
        );
        let no_cores = rates(&sample(start, 0), &sample(later, 2 * hz), 0);
        assert!((no_cores.cpu_percent_of_machine - 100.0).abs() < 1e-9);
    }

    #[test]
    fn history_keeps_the_latest_samples_in_order() {
        let start = Instant::now();
        let mut history = History::new(3);
        assert!(history.is_empty());
        assert_eq!(history.latest(), None);
        assert_eq!(history.rates(1), None);
        history.push(sample(start, 0));
        assert_eq!(history.rates(1), None);
        for second in 1..=5u64 {
            history.push(sample(
                start + Duration::from_secs(second),
                second * clock_ticks_per_second(),
            ));
        }
        assert_eq!(history.len(), 3);
        assert_eq!(history.capacity(), 3);
        let ticks: Vec<u64> = history.iter().map(|s| s.usage.cpu_ticks).collect();
        let hz = clock_ticks_per_second();
        assert_eq!(ticks, [3 * hz, 4 * hz, 5 * hz]);
        assert_eq!(history.latest().map(|s| s.usage.cpu_ticks), Some(5 * hz));
        let rates = history.rates(2).expect("two samples");
        assert!(
            (rates.cpu_percent_of_core - 100.0).abs() < 1e-9,
            "{rates:?}"
        );
        assert!((rates.cpu_percent_of_machine - 50.0).abs() < 1e-9);
        // A zero capacity still keeps the latest sample.
        let mut tiny = History::new(0);
        tiny.push(sample(start, 1));
        tiny.push(sample(start, 2));
        assert_eq!(tiny.len(), 1);
        assert_eq!(tiny.latest().map(|s| s.usage.cpu_ticks), Some(2));
    }

    /// Spawns `python3 -c script` and waits for its first line, `ready`.
    fn spawn_python(script: &str) -> (ChildGuard, BufReader<std::process::ChildStdout>) {
        let mut child = ChildGuard(
            Command::new("python3")
                .args(["-c", script])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn python3"),
        );
        let mut stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read ready line");
        assert_eq!(line, "ready\n");
        (child, stdout)
    }

    #[test]
    fn usage_of_a_child_and_none_once_reaped() {
        let (mut child, _stdout) =
            spawn_python("print('ready', flush=True)\nimport sys\nsys.stdin.read()");
        let pid = child.0.id() as i32;
        let usage = process_usage(pid).expect("child is running");
        assert_eq!(usage.processes, 1);
        assert!(usage.threads >= 1, "{usage:?}");
        assert!(usage.open_fds >= 3, "{usage:?}");
        assert!(usage.rss_bytes > 0, "{usage:?}");
        // Both ways of counting descriptors agree on a process that is not changing.
        let mut sampler = Sampler::new().expect("/proc");
        assert_eq!(sampler.count_fd_entries(pid), sampler.count_fds(pid));

        drop(child.0.stdin.take());
        child.0.wait().expect("wait");
        assert_eq!(process_usage(pid), None);
        assert_eq!(usage_of(&[pid, -1, 0, 5_000_000]), Usage::default());
    }

    /// A python parent whose three children each touch 20 MiB. Closing its stdin ends all four:
    /// the children exit, the parent reaps them and exits, so the guard leaves nothing behind
    /// even when an assertion fails (and the grandchildren are never orphaned).
    const TREE: &str = r#"
import os, sys
kids = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        block = bytearray(20 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        os.write(1, b"ready\n")
        sys.stdin.read()
        os._exit(0)
    kids.append(pid)
sys.stdin.read()
for kid in kids:
    os.waitpid(kid, 0)
"#;

    struct TreeGuard(Child);

    impl Drop for TreeGuard {
        fn drop(&mut self) {
            drop(self.0.stdin.take());
            let exited = wait_for(|| matches!(self.0.try_wait(), Ok(Some(_))));
            if !exited {
                let _ = self.0.kill();
            }
            let _ = self.0.wait();
        }
    }

    #[test]
    fn usage_of_a_tree_sums_its_memory() {
        let mut tree = TreeGuard(
            Command::new("python3")
                .args(["-c", TREE])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn python3"),
        );
        let mut stdout = BufReader::new(tree.0.stdout.take().expect("stdout"));
        for _ in 0..3 {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read ready line");
            assert_eq!(line, "ready\n");
        }
        let parent = tree.0.id() as i32;
        let mut pids: Vec<i32> = super::super::process_table::scan()
            .iter()
            .filter(|info| info.ppid == parent)
            .map(|info| info.pid)
            .collect();
        assert_eq!(pids.len(), 3, "children of {parent}: {pids:?}");
        pids.push(parent);
        let usage = usage_of(&pids);
        eprintln!("tree of 4: {usage:?}");
        assert_eq!(usage.processes, 4);
        assert!(usage.threads >= 4);
        assert!(usage.rss_bytes >= 60 << 20, "{usage:?}");
        assert!(usage.open_fds >= 12, "{usage:?}");
    }

    #[test]
    fn cpu_rate_of_a_spinning_child() {
        let (child, _stdout) = spawn_python("print('ready', flush=True)\nwhile True: pass");
        let pid = child.0.id() as i32;
        let mut sampler = Sampler::new().expect("/proc");
        let first = Sample::now(sampler.sum(&[pid]));
        // How much CPU the child gets depends on the load of a shared machine, so the test waits
        // (bounded) until it has used a fair amount, then checks the rate against the CPU time
        // and the elapsed time, and against what one thread can use at most.
        let deadline = Instant::now() + Duration::from_secs(20);
        let wanted = clock_ticks_per_second() / 3;
        let last = loop {
            std::thread::sleep(Duration::from_millis(50));
            let sample = Sample::now(sampler.sum(&[pid]));
            if sample.usage.cpu_ticks >= first.usage.cpu_ticks + wanted || Instant::now() > deadline
            {
                break sample;
            }
        };
        let rates = rates(&first, &last, cores());
        eprintln!("spinning child: {rates:?} on {} cores", cores());
        let ticks = last.usage.cpu_ticks - first.usage.cpu_ticks;
        assert!(ticks >= wanted, "the child never ran: {ticks} ticks");
        let elapsed = last.at.duration_since(first.at).as_secs_f64();
        let expected = ticks as f64 / clock_ticks_per_second() as f64 / elapsed * 100.0;
        assert!(
            (rates.cpu_percent_of_core - expected).abs() < 1e-6,
            "{rates:?}"
        );
        // One thread cannot use more than one core; the margin covers tick granularity.
        assert!(rates.cpu_percent_of_core > 0.0, "{rates:?}");
        assert!(rates.cpu_percent_of_core <= 110.0, "{rates:?}");
        assert!(rates.cpu_percent_of_machine <= rates.cpu_percent_of_core);
    }

    #[test]
    fn own_usage_is_this_process() {
        let usage = own_usage().expect("own figures");
        assert_eq!(usage.processes, 1);
        assert!(usage.threads >= 1);
        assert!(usage.rss_bytes > 0);
        assert!(usage.open_fds >= 3);
    }

    #[test]
    fn cost_of_sampling_every_process() {
        // Printed, not asserted: the machine is shared. The best of a few rounds is the figure
        // that matters (the first one warms the dentry cache).
        let pids: Vec<i32> = std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect();
        let mut sampler = Sampler::new().expect("/proc");
        let mut best = Duration::MAX;
        let mut usage = Usage::default();
        for _ in 0..10 {
            let started = Instant::now();
            usage = sampler.sum(&pids);
            best = best.min(started.elapsed());
        }
        let mut best_counting = Duration::MAX;
        for _ in 0..10 {
            let started = Instant::now();
            for &pid in &pids {
                let _ = sampler.read_stat(pid);
                let _ = sampler.count_fd_entries(pid);
            }
            best_counting = best_counting.min(started.elapsed());
        }
        let per = |total: Duration| total.as_secs_f64() * 1e6 / pids.len().max(1) as f64;
        eprintln!(
            "sampled {} pids ({} alive): best of 10 {best:?}, {:.1} µs per process \
             (fds by statx size); {:.1} µs per process counting fds with getdents64",
            pids.len(),
            usage.processes,
            per(best),
            per(best_counting),
        );
        assert!(usage.processes >= 1);
    }
}
