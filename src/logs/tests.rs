//! Tests of the store with real files in temporary directories: rotation, the budget, failing
//! disks, planted symlinks, the tail and subscribers, reading back, and throughput.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::*;

/// 2026-11-23T16:28:18Z, plus `millis`.
fn at(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_795_451_298_000 + millis)
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

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

fn settings(base: &Path) -> LogSettings {
    LogSettings {
        dir: base.join("logs"),
        ..LogSettings::default()
    }
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
    let store = LogStore::open(
        LogSettings {
            // Each record is 27 + 73 + 1 = 101 bytes: 9 per file.
            max_file_bytes: 1000,
            keep_files: 3,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    for i in 0..100 {
        store.append(line(0, i, &format!("{i:073}"))).await;
    }
    store.flush().await;
    let dir = temp.path().join("logs");
    let generations: Vec<Vec<String>> = ["web.log.3", "web.log.2", "web.log.1", "web.log"]
        .iter()
        .map(|name| texts(&dir.join(name)))
        .collect();
    assert!(!dir.join("web.log.4").exists());
    for (generation, file_texts) in generations.iter().enumerate() {
        assert!(!file_texts.is_empty(), "generation {generation} is empty");
        let size = std::fs::metadata(
            dir.join(["web.log.3", "web.log.2", "web.log.1", "web.log"][generation]),
        )
        .unwrap()
        .len();
        assert!(size <= 1000, "{size}");
    }
    // Oldest to newest, the files hold one unbroken run of lines ending with the last one.
    let all: Vec<u64> = generations
        .concat()
        .iter()
        .map(|text| text.parse().unwrap())
        .collect();
    assert_eq!(all.last(), Some(&99));
    assert!(all.windows(2).all(|pair| pair[1] == pair[0] + 1), "{all:?}");
    assert_eq!(
        all.len(),
        9 * 3 + 1,
        "three full rotated files plus the current one"
    );
    let stats = store.stats(0);
    assert_eq!(stats.rotations, 11);
    assert_eq!(stats.lines_written, 100);
    assert_eq!(stats.lines_dropped, 0);
    let mut entries: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["web.log", "web.log.1", "web.log.2", "web.log.3"]);
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
        "web.log.3",
        "other.log.9",
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
    // Only rotated files of a known service are ever removed.
    assert_eq!(
        entries,
        ["other.log.9", "web.log", "web.log.03", "web.log.1"]
    );
    assert_eq!(store.disk().files_removed, 2);
    store.close().unwrap();
}

#[tokio::test]
async fn a_fast_writer_loses_nothing_and_never_does_the_io_itself() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            max_file_bytes: 4 * 1024 * 1024,
            keep_files: 20,
            ..settings(temp.path())
        },
        &names(&["fast", "slow"]),
    )
    .unwrap();
    let shared = Arc::clone(&store.shared);
    const LINES: u64 = 200_000;
    for i in 0..LINES {
        store
            .append(line(
                0,
                i,
                &format!("line {i} of a service writing as fast as it can"),
            ))
            .await;
    }
    store.append(line(1, LINES, "one line")).await;
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
    assert_eq!((stats.lines_written, stats.lines_dropped), (LINES, 0));
    assert!(stats.rotations > 0);
    // Every file write happened on the writer thread, none on the caller's.
    let io_threads = writer::lock(&shared.io_threads).clone();
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
        let _gate = writer::lock(&shared.gate);
        locked_sender.send(()).unwrap();
        let _ = released.recv();
    });
    locked.recv().unwrap();

    let text = "x".repeat(1000);
    let started = Instant::now();
    let mut i = 0;
    while store.stats(0).lines_dropped == 0 {
        store.append(line(0, i, &text)).await;
        i += 1;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "append never gave up"
        );
    }
    // Stuck: further lines are dropped at once instead of waiting again.
    let before = Instant::now();
    for _ in 0..100 {
        store.append(line(0, i, &text)).await;
        i += 1;
    }
    assert!(before.elapsed() < STALL_TIMEOUT, "{:?}", before.elapsed());
    assert!(store.stats(0).lines_dropped >= 100);
    // The tail still has the latest lines.
    assert_eq!(store.tail(&[0], 1, None)[0].time, at(i - 1));

    release.send(()).unwrap();
    holder.join().unwrap();
    store.flush().await;
    let dropped = store.stats(0).lines_dropped;
    store.append(line(0, i, "after")).await;
    store.flush().await;
    let stats = store.stats(0);
    assert_eq!(stats.lines_dropped, dropped);
    assert_eq!(stats.lines_written + stats.lines_dropped, i + 1);
    let path = store.file_path(0).unwrap();
    assert_eq!(texts(&path).last().map(String::as_str), Some("after"));
    store.close().unwrap();
}

#[tokio::test]
async fn budget_removes_the_oldest_rotated_files_across_services() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            // 27 + 72 + 1 = 100-byte records: 10 per file.
            max_file_bytes: 1000,
            keep_files: 10,
            budget_bytes: 7500,
            ..settings(temp.path())
        },
        &names(&["a", "b"]),
    )
    .unwrap();
    let text = "z".repeat(72);
    for i in 0..50 {
        store.append(line(0, i, &text)).await;
    }
    store.flush().await;
    // Make b's files clearly newer than a's, whatever the filesystem's time granularity.
    std::thread::sleep(Duration::from_millis(20));
    for i in 0..50 {
        store.append(line(1, 50 + i, &text)).await;
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
    assert_eq!(
        entries,
        [
            "a.log", "a.log.1", "b.log", "b.log.1", "b.log.2", "b.log.3", "b.log.4"
        ],
        "{context}"
    );
    let disk = store.disk();
    assert_eq!(disk.total_bytes, 7000, "{context}");
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
        store.append(line(0, i, &"y".repeat(50))).await;
    }
    store.flush().await;
    past_retry_interval();
    store.append(line(0, 10, "one more")).await;
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
        store.append(line(0, i, "lost")).await;
    }
    store.flush().await;
    let stats = store.stats(0);
    assert_eq!((stats.lines_written, stats.lines_dropped), (0, 5));
    assert!(stats.failing);
    let error = stats.last_error.unwrap();
    assert!(error.contains("web.log"), "{error}");

    std::fs::remove_dir(&path).unwrap();
    past_retry_interval();
    store.append(line(0, 5, "kept")).await;
    store.flush().await;
    let stats = store.stats(0);
    assert_eq!((stats.lines_written, stats.lines_dropped), (1, 5));
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
    store.append(line(0, 0, "first")).await;
    store.flush().await;

    // The directory is removed and a plain file takes its place: nothing can be written.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "not a directory").unwrap();
    past_retry_interval();
    for i in 1..4 {
        store.append(line(0, i, "lost")).await;
    }
    store.flush().await;
    let stats = store.stats(0);
    assert_eq!(stats.lines_dropped, 3, "{stats:?}");
    assert!(stats.failing);
    assert!(stats.last_error.unwrap().contains("not a directory"));
    assert_eq!(std::fs::read_to_string(&dir).unwrap(), "not a directory");

    std::fs::remove_file(&dir).unwrap();
    past_retry_interval();
    store.append(line(0, 4, "back")).await;
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
    store.append(line(0, 0, "one")).await;
    store.flush().await;
    let moved = temp.path().join("moved.log");
    std::fs::rename(&path, &moved).unwrap();
    past_retry_interval();
    store.append(line(0, 1, "two")).await;
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
        matches!(error, LogError::Dir(crate::paths::PathsError::Io { .. })),
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
        store.append(line(0, i, "attack")).await;
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
async fn tail_merges_services_by_time_with_n_and_since() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            tail_lines: 3,
            ..settings(temp.path())
        },
        &names(&["a", "b", "c"]),
    )
    .unwrap();
    store.append(line(0, 10, "a10")).await;
    store.append(line(1, 5, "b5")).await;
    store.append(line(0, 20, "a20")).await;
    store.append(line(1, 15, "b15")).await;
    store.append(line(1, 25, "b25")).await;
    store.append(line(2, 1, "c1")).await;
    // Out of range: ignored, not a panic.
    store.append(line(7, 1, "nobody")).await;
    assert!(!store.try_append(line(9, 1, "nobody")));

    let text = |lines: Vec<Arc<LogLine>>| -> Vec<String> {
        lines.iter().map(|line| line.text.clone()).collect()
    };
    assert_eq!(
        text(store.tail(&[0, 1], 10, None)),
        ["b5", "a10", "b15", "a20", "b25"]
    );
    assert_eq!(text(store.tail(&[0, 1], 2, None)), ["a20", "b25"]);
    assert_eq!(text(store.tail(&[1, 1], 10, Some(at(15)))), ["b15", "b25"]);
    assert_eq!(text(store.tail(&[], 2, None)), ["a20", "b25"]);
    assert_eq!(text(store.tail(&[], 10, None)).len(), 6);
    assert!(store.tail(&[42], 10, None).is_empty());
    // Bounded by tail_lines.
    store.append(line(2, 2, "c2")).await;
    store.append(line(2, 3, "c3")).await;
    store.append(line(2, 4, "c4")).await;
    assert_eq!(text(store.tail(&[2], 10, None)), ["c2", "c3", "c4"]);

    let mut receiver = store.subscribe();
    store.append(line(2, 30, "live")).await;
    assert!(store.try_append(line(0, 31, "live too")));
    assert_eq!(receiver.recv().await.unwrap().text, "live");
    assert_eq!(receiver.recv().await.unwrap().text, "live too");
    store.close().unwrap();
}

#[tokio::test]
async fn a_lagging_subscriber_loses_lines_not_the_store() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let mut receiver = store.subscribe();
    for i in 0..(BROADCAST_LINES as u64 + 10) {
        store.append(line(0, i, "x")).await;
    }
    assert!(matches!(
        receiver.recv().await,
        Err(broadcast::error::RecvError::Lagged(_))
    ));
    store.flush().await;
    assert_eq!(store.stats(0).lines_written, BROADCAST_LINES as u64 + 10);
    store.close().unwrap();
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
    store.append(last).await;
    store.append(line(0, 1, "after")).await;

    let ring_bytes = writer::lock(&store.rings[0]).bytes();
    assert!(ring_bytes <= RING_BYTES, "{ring_bytes}");
    assert!(
        store
            .tail(&[0], 1000, None)
            .iter()
            .all(|line| line.text.len() <= MAX_PIECE_BYTES)
    );

    store.flush().await;
    let lines = read_file_tail(&store.file_path(0).unwrap(), usize::MAX).unwrap();
    let (pieces, after) = lines.split_at(lines.len() - 1);
    assert!(pieces.len() > 100);
    assert!(pieces.iter().all(|piece| piece.partial));
    let joined: String = pieces.iter().map(|piece| piece.text.as_str()).collect();
    assert!(joined == huge, "the pieces join to the original line");
    assert_eq!(after[0].text, "after");
    assert!(!after[0].partial);
    store.close().unwrap();
}

#[test]
fn read_file_tail_reads_the_end_of_a_big_file() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("big.log");
    let mut clock = format::Clock::default();
    let mut content = Vec::new();
    for i in 0..200_000u64 {
        let mut log_line = line(0, i, &format!("line {i}"));
        log_line.stream = if i % 2 == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        format::encode(&mut clock, &log_line, &mut content);
    }
    std::fs::write(&path, &content).unwrap();

    let last = read_file_tail(&path, 3).unwrap();
    let shown: Vec<(&str, Stream, Option<SystemTime>)> = last
        .iter()
        .map(|line| (line.text.as_str(), line.stream, line.time))
        .collect();
    assert_eq!(
        shown,
        [
            ("line 199997", Stream::Stderr, Some(at(199_997))),
            ("line 199998", Stream::Stdout, Some(at(199_998))),
            ("line 199999", Stream::Stderr, Some(at(199_999))),
        ]
    );
    assert_eq!(read_file_tail(&path, 5000).unwrap().len(), 5000);
    assert_eq!(read_file_tail(&path, 5000).unwrap()[0].text, "line 195000");
    assert_eq!(read_file_tail(&path, 10_000_000).unwrap().len(), 200_000);
    assert!(read_file_tail(&path, 0).unwrap().is_empty());

    // A torn last line with a whole header comes back partial; with half a header, not at all.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(b"2026-11-23T16:28:18.000Z o torn").unwrap();
    let last = read_file_tail(&path, 2).unwrap();
    assert_eq!(last[0].text, "line 199999");
    assert_eq!((last[1].text.as_str(), last[1].partial), ("torn", true));
    file.write_all(b"\n2026-11-2").unwrap();
    let last = read_file_tail(&path, 2).unwrap();
    assert_eq!(last[0].text, "line 199999");
    assert_eq!(last[1].text, "torn");
}

#[test]
fn read_file_tail_handles_odd_files() {
    let temp = tempfile::tempdir().unwrap();
    let empty = temp.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    assert!(read_file_tail(&empty, 10).unwrap().is_empty());

    let foreign = temp.path().join("foreign");
    std::fs::write(&foreign, "plain\n\nno header\n").unwrap();
    let lines = read_file_tail(&foreign, 10).unwrap();
    let shown: Vec<(&str, Option<SystemTime>)> = lines
        .iter()
        .map(|line| (line.text.as_str(), line.time))
        .collect();
    assert_eq!(shown, [("plain", None), ("", None), ("no header", None)]);

    // One enormous line without a newline: bounded reading, nothing returned, no panic.
    let long = temp.path().join("long");
    std::fs::write(&long, "q".repeat(3 * MAX_PIECE_BYTES)).unwrap();
    assert!(read_file_tail(&long, 1).unwrap().is_empty());

    let link = temp.path().join("link");
    std::os::unix::fs::symlink(&foreign, &link).unwrap();
    assert!(read_file_tail(&link, 10).is_err());
    assert!(read_file_tail(temp.path(), 10).is_err());
    assert_eq!(
        read_file_tail(&temp.path().join("absent"), 10)
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::NotFound
    );
}

#[tokio::test]
async fn read_service_tail_spans_rotated_files() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            max_file_bytes: 1000,
            keep_files: 3,
            tail_lines: 5,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    for i in 0..30 {
        store.append(line(0, i, &format!("{i:073}"))).await;
    }
    store.flush().await;
    let lines = store.read_file_lines(0, 20).unwrap();
    let numbers: Vec<u64> = lines
        .iter()
        .map(|line| line.text.parse().unwrap())
        .collect();
    assert_eq!(numbers, (10..30).collect::<Vec<u64>>());
    // More than the files hold: everything they hold.
    assert_eq!(store.read_file_lines(0, 1000).unwrap().len(), 30);
    assert!(store.read_file_lines(5, 10).unwrap().is_empty());
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
        store
            .append(LogLine {
                time: at(i as u64),
                service: 0,
                stream: Stream::Stdout,
                text,
                partial: false,
            })
            .await;
    }
    let queued = started.elapsed();
    store.flush().await;
    let stored = started.elapsed();
    assert_eq!(store.stats(0).lines_written, LINES);
    store.close().unwrap();

    println!(
        "{LINES} lines: BufWriter {direct:?}; LogStore {stored:?} ({queued:?} on the caller's \
         thread); throughput ratio store/direct = {:.2}",
        direct.as_secs_f64() / stored.as_secs_f64()
    );
}

/// The lines `append_chunk` is compared with `append` on: empty, partial, newlines inside,
/// invalid UTF-8, and long enough to be cut and to span queue parts.
fn mixed_lines() -> Vec<(Vec<u8>, bool)> {
    let mut lines: Vec<(Vec<u8>, bool)> = vec![
        (b"first".to_vec(), false),
        (Vec::new(), false),
        (b"a prompt: ".to_vec(), true),
        (b"two\nrecords".to_vec(), false),
        (b"bad \xff byte".to_vec(), false),
        ("\u{e9}".repeat(MAX_PIECE_BYTES).into_bytes(), true),
    ];
    for i in 0..5000 {
        lines.push((format!("line {i:>94}").into_bytes(), false));
    }
    lines.push((b"last".to_vec(), false));
    lines
}

#[tokio::test]
async fn a_chunk_is_stored_exactly_as_its_lines_one_by_one() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["lines", "chunks"])).unwrap();
    let lines = mixed_lines();
    let mut chunk = LogChunk::default();
    for (i, (text, partial)) in lines.iter().enumerate() {
        chunk.push(text, *partial);
        let mut line = line(0, 7, &String::from_utf8_lossy(text));
        line.stream = Stream::Stderr;
        line.partial = *partial;
        store.append(line).await;
        // Chunks of varying sizes, as reads would make them.
        if i % 700 == 3 || i + 1 == lines.len() {
            store
                .append_chunk(1, Stream::Stderr, at(7), &mut chunk)
                .await;
            chunk.clear();
        }
    }
    // Empty chunks and unknown services are ignored.
    store
        .append_chunk(1, Stream::Stdout, at(8), &mut chunk)
        .await;
    chunk.push(b"nobody", false);
    store
        .append_chunk(9, Stream::Stdout, at(8), &mut chunk)
        .await;
    assert!(chunk.is_empty());
    store.flush().await;

    let by_line = std::fs::read(store.file_path(0).unwrap()).unwrap();
    let by_chunk = std::fs::read(store.file_path(1).unwrap()).unwrap();
    assert!(by_line == by_chunk, "the same bytes in both files");
    assert!(String::from_utf8_lossy(&by_chunk).starts_with(
        "2026-11-23T16:28:18.007Z e first\n2026-11-23T16:28:18.007Z e \n\
         2026-11-23T16:28:18.007Z E a prompt: \n2026-11-23T16:28:18.007Z e two\n\
         2026-11-23T16:28:18.007Z e records\n2026-11-23T16:28:18.007Z e bad \u{fffd} byte\n"
    ));
    let (line_stats, chunk_stats) = (store.stats(0), store.stats(1));
    assert_eq!(line_stats, chunk_stats);
    assert_eq!(chunk_stats.lines_written, lines.len() as u64 + 2);
    assert_eq!(chunk_stats.lines_dropped, 0);

    let tail = |service| -> Vec<(String, bool, Stream, SystemTime)> {
        store
            .tail(&[service], 1000, None)
            .iter()
            .map(|line| (line.text.clone(), line.partial, line.stream, line.time))
            .collect()
    };
    assert_eq!(tail(0), tail(1));
    assert_eq!(tail(1).len(), 1000);
    assert_eq!(tail(1).last().unwrap().0, "last");
    assert!(store.tail(&[1], 10, Some(at(8))).is_empty());
    store.close().unwrap();
}

#[tokio::test]
async fn chunks_reach_subscribers_line_by_line() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let mut chunk = LogChunk::default();
    chunk.push(b"before", false);
    store
        .append_chunk(0, Stream::Stdout, at(1), &mut chunk)
        .await;
    let mut receiver = store.subscribe();
    chunk.clear();
    chunk.push(b"one", false);
    chunk.push(b"two", true);
    store
        .append_chunk(0, Stream::Stdout, at(2), &mut chunk)
        .await;
    let first = receiver.recv().await.unwrap();
    let second = receiver.recv().await.unwrap();
    assert_eq!((first.text.as_str(), first.partial), ("one", false));
    assert_eq!((second.text.as_str(), second.partial), ("two", true));
    assert_eq!(second.time, at(2));
    assert!(receiver.try_recv().is_err());
    store.close().unwrap();
}

#[tokio::test]
async fn a_fast_chunk_writer_loses_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            max_file_bytes: 1 << 30,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    let mut chunk = LogChunk::default();
    // Far more than the queue holds: append_chunk must wait for the writer, never drop.
    let chunks = 4 * QUEUE_BYTES / (640 * 100) + 10;
    for _ in 0..chunks {
        chunk.reserve(640 * 100);
        for _ in 0..640 {
            chunk.push(&[b'x'; 99], false);
        }
        store
            .append_chunk(0, Stream::Stdout, at(0), &mut chunk)
            .await;
        assert!(chunk.is_empty());
    }
    store.flush().await;
    let stats = store.stats(0);
    assert_eq!(stats.lines_written, chunks as u64 * 640);
    assert_eq!(stats.lines_dropped, 0);
    store.close().unwrap();
}

#[tokio::test]
async fn a_stuck_disk_stalls_append_chunk_only_for_a_bounded_time() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let shared = Arc::clone(&store.shared);
    let (locked_sender, locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _gate = writer::lock(&shared.gate);
        locked_sender.send(()).unwrap();
        let _ = released.recv();
    });
    locked.recv().unwrap();

    let text = "x".repeat(1000);
    let mut chunk = LogChunk::default();
    let mut appended = 0u64;
    let append = async |chunk: &mut LogChunk, text: &str| {
        for _ in 0..10 {
            chunk.push(text.as_bytes(), false);
        }
        store.append_chunk(0, Stream::Stdout, at(0), chunk).await;
    };
    let started = Instant::now();
    while store.stats(0).lines_dropped == 0 {
        append(&mut chunk, &text).await;
        appended += 10;
        assert!(started.elapsed() < Duration::from_secs(30), "never gave up");
    }
    let before = Instant::now();
    for _ in 0..100 {
        append(&mut chunk, &text).await;
        appended += 10;
    }
    assert!(before.elapsed() < STALL_TIMEOUT, "{:?}", before.elapsed());
    assert!(store.stats(0).lines_dropped >= 1000);

    release.send(()).unwrap();
    holder.join().unwrap();
    store.flush().await;
    append(&mut chunk, "after").await;
    appended += 10;
    store.flush().await;
    let stats = store.stats(0);
    assert_eq!(stats.lines_written + stats.lines_dropped, appended);
    let path = store.file_path(0).unwrap();
    assert_eq!(texts(&path).last().map(String::as_str), Some("after"));
    store.close().unwrap();
}
