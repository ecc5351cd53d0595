//! Tests of the store with real files in temporary directories: rotation, the budget, failing
//! disks, planted symlinks, pipes handed over, reading back, followers, and throughput.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::*;
use crate::mutex;

mod follow;
mod pipes;
mod read;

/// 2026-11-23T16:28:18Z, plus `millis`.
fn at(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_795_451_298_000 + millis)
}

/// A line as a service prints it: its text, then a newline unless it is partial.
#[derive(Debug, Clone)]
struct LogLine {
    time: SystemTime,
    service: ServiceId,
    stream: Stream,
    text: String,
    partial: bool,
}

fn line(service: ServiceId, millis: u64, text: &str) -> LogLine {
    LogLine {
        time: at(millis),
        service,
        stream: Stream::Stdout,
        text: text.to_string(),
        partial: false,
    }
}

/// The output of `line` as the service wrote it.
fn output(line: &LogLine) -> Vec<u8> {
    let mut bytes = line.text.clone().into_bytes();
    if !line.partial {
        bytes.push(b'\n');
    }
    bytes
}

/// Appends `line` as the supervisor appends a read of a pipe it reads itself.
async fn append(store: &LogStore, line: LogLine) {
    store
        .append_output(line.service, line.stream, line.time, &output(&line))
        .await;
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

fn settings(base: &Path) -> LogSettings {
    LogSettings {
        dir: base.join("logs"),
        ..LogSettings::default()
    }
}

/// A store in `base/logs` for `services` that rotates a file before it passes
/// `max_file_bytes` and keeps `keep_files` rotated files.
fn rotating_store(
    base: &Path,
    services: &[&str],
    max_file_bytes: u64,
    keep_files: u32,
) -> LogStore {
    LogStore::open(
        LogSettings {
            max_file_bytes,
            keep_files,
            ..settings(base)
        },
        &names(services),
    )
    .unwrap()
}

/// Every text in the file at `path`, in order.
fn texts(path: &Path) -> Vec<String> {
    read_file_tail(path, usize::MAX)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
        .into_iter()
        .map(|line| line.text)
        .collect()
}

/// Sleeps past the writer's retry interval, so that its next line retries and rechecks.
fn past_retry_interval() {
    std::thread::sleep(writer::RETRY_INTERVAL + Duration::from_millis(30));
}

#[tokio::test]
async fn rotation_keeps_exactly_keep_files_in_order() {
    let temp = tempfile::tempdir().unwrap();
    // Each line is 99 + 1 = 100 bytes: 10 per file.
    let store = rotating_store(temp.path(), &["web"], 1000, 3);
    for i in 0..100 {
        let mut line = line(0, i, &format!("{i:099}"));
        line.stream = if i.is_multiple_of(3) {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        append(&store, line).await;
    }
    store.flush().await;
    let dir = temp.path().join("logs");
    let names = ["web.log.3", "web.log.2", "web.log.1", "web.log"];
    let generations: Vec<Vec<FileLine>> = names
        .iter()
        .map(|name| read_file_tail(&dir.join(name), usize::MAX).unwrap())
        .collect();
    assert!(!dir.join("web.log.4").exists());
    for (generation, lines) in generations.iter().enumerate() {
        assert_eq!(lines.len(), 10, "generation {generation}");
        let size = std::fs::metadata(dir.join(names[generation]))
            .unwrap()
            .len();
        assert_eq!(size, 1000);
    }
    // Oldest to newest, the files hold one unbroken run of lines ending with the last one,
    // each with its own time and stream: every file kept its index through the rotations.
    let all: Vec<&FileLine> = generations.iter().flatten().collect();
    for line in &all {
        let i: u64 = line.text.parse().unwrap();
        assert_eq!(line.time, Some(at(i)), "{i}");
        assert_eq!(line.stream == Stream::Stderr, i.is_multiple_of(3), "{i}");
        assert!(!line.partial);
    }
    let numbers: Vec<u64> = all.iter().map(|line| line.text.parse().unwrap()).collect();
    assert_eq!(numbers, (60..100).collect::<Vec<u64>>());
    let stats = store.stats(0);
    assert_eq!(stats.rotations, 9);
    assert_eq!(stats.bytes_written, 100 * 100);
    assert_eq!(stats.lines_dropped, 0);
    let mut entries: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            "web.log",
            "web.log.1",
            "web.log.1.idx",
            "web.log.2",
            "web.log.2.idx",
            "web.log.3",
            "web.log.3.idx",
            "web.log.idx"
        ]
    );
    store.close().unwrap();
}

#[tokio::test]
async fn fewer_kept_files_remove_the_extra_ones_at_start() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    for name in [
        "web.log",
        "web.log.1",
        "web.log.2",
        "web.log.2.idx",
        "web.log.3.idx",
        "other.log.9",
        "other.log.9.idx",
        "web.log.03",
    ] {
        std::fs::write(dir.join(name), "x\n").unwrap();
    }
    let store = LogStore::open(
        LogSettings {
            keep_files: 1,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    store.flush().await;
    let mut entries: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    // Only rotated files of a known service (and their indexes) are ever removed.
    assert_eq!(
        entries,
        [
            "other.log.9",
            "other.log.9.idx",
            "web.log",
            "web.log.03",
            "web.log.1"
        ]
    );
    assert_eq!(store.disk().files_removed, 1);
    store.close().unwrap();
}

#[tokio::test]
async fn a_fast_writer_loses_nothing_and_never_does_the_io_itself() {
    let temp = tempfile::tempdir().unwrap();
    let store = rotating_store(temp.path(), &["fast", "slow"], 4 * 1024 * 1024, 20);
    let shared = Arc::clone(&store.shared);
    const LINES: u64 = 200_000;
    for i in 0..LINES {
        append(
            &store,
            line(
                0,
                i,
                &format!("line {i} of a service writing as fast as it can"),
            ),
        )
        .await;
    }
    append(&store, line(1, LINES, "one line")).await;
    store.close().unwrap();

    let dir = temp.path().join("logs");
    let mut count = 0;
    let mut last = None;
    for generation in (1..=20).rev() {
        let path = dir.join(format!("fast.log.{generation}"));
        if path.exists() {
            for text in texts(&path) {
                count += 1;
                last = Some(text);
            }
        }
    }
    for text in texts(&dir.join("fast.log")) {
        count += 1;
        last = Some(text);
    }
    assert_eq!(count, LINES);
    assert_eq!(
        last.as_deref(),
        Some("line 199999 of a service writing as fast as it can")
    );
    assert_eq!(texts(&dir.join("slow.log")), ["one line"]);
    let stats = shared.stats(0);
    assert_eq!(stats.lines_dropped, 0);
    assert!(stats.rotations > 0);
    // Every file write happened on the writer thread, none on the caller's.
    let io_threads = mutex::lock(&shared.io_threads).clone();
    assert!(!io_threads.is_empty());
    assert!(!io_threads.contains(&std::thread::current().id()));
}

#[tokio::test]
async fn a_stuck_disk_stalls_append_only_for_a_bounded_time() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let shared = Arc::clone(&store.shared);

    // A thread holds the writer's gate: its next flush hangs like a write to a hung disk.
    let (locked_sender, locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _gate = mutex::lock(&shared.gate);
        locked_sender.send(()).unwrap();
        let _ = released.recv();
    });
    locked.recv().unwrap();

    let text = "x".repeat(1000);
    let started = Instant::now();
    let mut i = 0;
    while store.stats(0).lines_dropped == 0 {
        append(&store, line(0, i, &text)).await;
        i += 1;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "append never gave up"
        );
    }
    // Stuck: further lines are dropped at once instead of waiting again.
    let before = Instant::now();
    for _ in 0..100 {
        append(&store, line(0, i, &text)).await;
        i += 1;
    }
    assert!(before.elapsed() < STALL_TIMEOUT, "{:?}", before.elapsed());
    assert!(store.stats(0).lines_dropped >= 100);

    release.send(()).unwrap();
    holder.join().unwrap();
    store.flush().await;
    let dropped = store.stats(0).lines_dropped;
    append(&store, line(0, i, "after")).await;
    store.flush().await;
    let stats = store.stats(0);
    assert_eq!(stats.lines_dropped, dropped);
    let path = store.file_path(0).unwrap();
    assert_eq!(texts(&path).len() as u64 + stats.lines_dropped, i + 1);
    assert_eq!(texts(&path).last().map(String::as_str), Some("after"));
    store.close().unwrap();
}

#[tokio::test]
async fn budget_removes_the_oldest_rotated_files_across_services() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            // 99 + 1 = 100-byte lines: 10 per file, and all at one time: one index record per
            // file, 8 + 16 = 24 bytes.
            max_file_bytes: 1000,
            keep_files: 10,
            budget_bytes: 7500,
            ..settings(temp.path())
        },
        &names(&["a", "b"]),
    )
    .unwrap();
    let text = "z".repeat(99);
    for _ in 0..50 {
        append(&store, line(0, 0, &text)).await;
    }
    store.flush().await;
    // Make b's files clearly newer than a's, whatever the filesystem's time granularity.
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..50 {
        append(&store, line(1, 50, &text)).await;
    }
    store.flush().await;
    // The last lines grew b.log after the last rotation; the next check measures again.
    past_retry_interval();
    store.flush().await;

    let dir = temp.path().join("logs");
    let mut entries: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    // Seen failing once in a full parallel run (not reproduced since): say everything then.
    let context = format!(
        "disk {:?}; a {:?}; b {:?}",
        store.disk(),
        store.stats(0),
        store.stats(1)
    );
    let logs: Vec<&String> = entries
        .iter()
        .filter(|name| !name.ends_with(".idx"))
        .collect();
    assert_eq!(
        logs,
        [
            "a.log", "a.log.1", "b.log", "b.log.1", "b.log.2", "b.log.3", "b.log.4"
        ],
        "{context}"
    );
    // Each file has its index, and no index outlives its file.
    for name in &logs {
        assert!(entries.contains(&format!("{name}.idx")), "{context}");
    }
    assert_eq!(entries.len(), 2 * logs.len(), "{entries:?}");
    let disk = store.disk();
    assert_eq!(disk.total_bytes, 7 * 1024, "{context}");
    assert_eq!(disk.files_removed, 3);
    assert!(!disk.over_budget);
    store.close().unwrap();
}

#[tokio::test]
async fn over_budget_with_nothing_to_remove_is_reported_not_truncated() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            budget_bytes: 100,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    for i in 0..10 {
        append(&store, line(0, i, &"y".repeat(50))).await;
    }
    store.flush().await;
    past_retry_interval();
    append(&store, line(0, 10, "one more")).await;
    store.flush().await;
    let disk = store.disk();
    assert!(disk.over_budget, "{disk:?}");
    assert!(disk.last_error.unwrap().contains("over its budget"));
    assert_eq!(texts(&store.file_path(0).unwrap()).len(), 11);
    store.close().unwrap();
}

#[tokio::test]
async fn a_directory_where_the_file_goes_drops_lines_until_it_is_gone() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let path = store.file_path(0).unwrap();
    std::fs::create_dir(&path).unwrap();
    for i in 0..5 {
        append(&store, line(0, i, "lost")).await;
    }
    store.flush().await;
    let stats = store.stats(0);
    assert_eq!((stats.bytes_written, stats.lines_dropped), (0, 5));
    assert!(stats.failing);
    let error = stats.last_error.unwrap();
    assert!(error.contains("web.log"), "{error}");

    std::fs::remove_dir(&path).unwrap();
    past_retry_interval();
    append(&store, line(0, 5, "kept")).await;
    store.flush().await;
    let stats = store.stats(0);
    assert_eq!((stats.bytes_written, stats.lines_dropped), (5, 5));
    assert!(!stats.failing);
    assert!(
        stats.last_error.is_some(),
        "the last error is kept after recovery"
    );
    assert_eq!(texts(&path), ["kept"]);
    store.close().unwrap();
}

#[tokio::test]
async fn a_removed_directory_is_noticed_and_recreated() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let dir = temp.path().join("logs");
    append(&store, line(0, 0, "first")).await;
    store.flush().await;

    // The directory is removed and a plain file takes its place: nothing can be written.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "not a directory").unwrap();
    past_retry_interval();
    for i in 1..4 {
        append(&store, line(0, i, "lost")).await;
    }
    store.flush().await;
    let stats = store.stats(0);
    assert_eq!(stats.lines_dropped, 3, "{stats:?}");
    assert!(stats.failing);
    assert!(stats.last_error.unwrap().contains("not a directory"));
    assert_eq!(std::fs::read_to_string(&dir).unwrap(), "not a directory");

    std::fs::remove_file(&dir).unwrap();
    past_retry_interval();
    append(&store, line(0, 4, "back")).await;
    store.flush().await;
    let stats = store.stats(0);
    assert!(!stats.failing, "{stats:?}");
    assert_eq!(texts(&dir.join("web.log")), ["back"]);
    store.close().unwrap();
}

#[tokio::test]
async fn a_file_moved_away_is_reopened() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let path = store.file_path(0).unwrap();
    append(&store, line(0, 0, "one")).await;
    store.flush().await;
    let moved = temp.path().join("moved.log");
    std::fs::rename(&path, &moved).unwrap();
    past_retry_interval();
    append(&store, line(0, 1, "two")).await;
    store.flush().await;
    assert_eq!(texts(&moved), ["one"]);
    assert_eq!(texts(&path), ["two"]);
    store.close().unwrap();
}

#[test]
fn an_unwritable_directory_is_an_error_at_open() {
    let error = LogStore::open(
        LogSettings {
            dir: PathBuf::from("/proc/self/wrangle-logs"),
            ..LogSettings::default()
        },
        &names(&["web"]),
    )
    .unwrap_err();
    assert!(
        matches!(error, LogError::Dir(crate::paths::PathsError::Io(_))),
        "{error:?}"
    );
    assert!(LogStore::open(LogSettings::default(), &names(&["web"])).is_err());
}

#[test]
fn bad_service_names_are_refused() {
    let temp = tempfile::tempdir().unwrap();
    for bad in ["", "../x", "a/b", ".hidden", "x\0y", &"n".repeat(201)] {
        let error = LogStore::open(settings(temp.path()), &names(&[bad])).unwrap_err();
        assert!(
            matches!(error, LogError::ServiceName { .. }),
            "{bad:?}: {error}"
        );
    }
    let error = LogStore::open(settings(temp.path()), &names(&["a", "a"])).unwrap_err();
    assert!(matches!(error, LogError::DuplicateService { .. }));
}

#[tokio::test]
async fn a_planted_symlink_is_not_followed() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    let target = temp.path().join("precious");
    std::fs::write(&target, "precious\n").unwrap();
    std::os::unix::fs::symlink(&target, dir.join("web.log")).unwrap();

    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    for i in 0..3 {
        append(&store, line(0, i, "attack")).await;
    }
    store.flush().await;
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    let stats = store.stats(0);
    assert_eq!(stats.lines_dropped, 3);
    let error = stats.last_error.unwrap();
    assert!(error.contains("symbolic link"), "{error}");
    store.close().unwrap();
}

#[test]
fn a_symlinked_directory_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let real = temp.path().join("elsewhere");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, temp.path().join("logs")).unwrap();
    let error = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap_err();
    assert!(
        matches!(
            error,
            LogError::Dir(crate::paths::PathsError::Symlink { .. })
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_huge_line_is_stored_in_pieces_and_bounded_in_memory() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            max_file_bytes: 64 * 1024 * 1024,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    // 10 MB with multi-byte characters, so that pieces must be cut at character boundaries.
    let huge: String = "abcdefghé".repeat(1_000_000);
    let mut last = line(0, 0, &huge);
    last.partial = true;
    append(&store, last).await;
    append(&store, line(0, 1, "after")).await;

    store.flush().await;
    // The file holds the text as written: the partial line runs on into "after". Read back,
    // it comes in pieces, cut at character boundaries.
    let lines = read_file_tail(&store.file_path(0).unwrap(), usize::MAX).unwrap();
    let (pieces, last) = lines.split_at(lines.len() - 1);
    assert!(pieces.len() > 100);
    assert!(pieces.iter().all(|piece| piece.partial));
    assert!(
        lines
            .iter()
            .all(|piece| piece.text.len() <= MAX_PIECE_BYTES)
    );
    let joined: String = lines.iter().map(|piece| piece.text.as_str()).collect();
    assert!(
        joined == huge + "after",
        "the pieces join to the original line"
    );
    assert!(!last[0].partial);
    assert_eq!(last[0].time, Some(at(1)));
    store.close().unwrap();
}

/// Not a benchmark with a verdict: it prints how the store's throughput compares with a
/// program writing the same lines straight to a file, and checks nothing about time.
#[tokio::test]
async fn throughput_compared_with_a_plain_buffered_file() {
    const LINES: u64 = 100_000;
    let temp = tempfile::tempdir().unwrap();
    let texts: Vec<String> = (0..LINES)
        .map(|i| format!("GET /api/items/{i} 200 1.2ms user-agent=curl/8.5 bytes=512"))
        .collect();

    let direct_path = temp.path().join("direct.log");
    let started = Instant::now();
    {
        let file = std::fs::File::create(&direct_path).unwrap();
        let mut writer = std::io::BufWriter::new(file);
        for text in &texts {
            writer.write_all(text.as_bytes()).unwrap();
            writer.write_all(b"\n").unwrap();
        }
        writer.flush().unwrap();
    }
    let direct = started.elapsed();

    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let started = Instant::now();
    for (i, text) in texts.into_iter().enumerate() {
        append(
            &store,
            LogLine {
                time: at(i as u64),
                service: 0,
                stream: Stream::Stdout,
                text,
                partial: false,
            },
        )
        .await;
    }
    let queued = started.elapsed();
    store.flush().await;
    let stored = started.elapsed();
    assert_eq!(store.stats(0).lines_dropped, 0);
    store.close().unwrap();

    eprintln!(
        "{LINES} lines: BufWriter {direct:?}; LogStore {stored:?} ({queued:?} on the caller's \
         thread); throughput ratio store/direct = {:.2}",
        direct.as_secs_f64() / stored.as_secs_f64()
    );
}
