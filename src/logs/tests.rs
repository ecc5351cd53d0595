//! Tests of the store with real files in temporary directories: rotation, the budget, failing
//! disks, planted symlinks, the tail and subscribers, reading back, and throughput.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::*;
use crate::mutex;

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
            // Each line is 99 + 1 = 100 bytes: 10 per file.
            max_file_bytes: 1000,
            keep_files: 3,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    for i in 0..100 {
        let mut line = line(0, i, &format!("{i:099}"));
        line.stream = if i.is_multiple_of(3) {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        store.append(line).await;
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
    assert_eq!(stats.lines_written, 100);
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
        store.append(line(0, 0, &text)).await;
    }
    store.flush().await;
    // Make b's files clearly newer than a's, whatever the filesystem's time granularity.
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..50 {
        store.append(line(1, 50, &text)).await;
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

/// The texts of `(service, line)`s.
fn tail_texts(lines: &[(ServiceId, FileLine)]) -> Vec<String> {
    lines.iter().map(|(_, line)| line.text.clone()).collect()
}

#[tokio::test]
async fn tail_merges_services_by_time_with_n_and_since() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["a", "b", "c"])).unwrap();
    store.append(line(0, 10, "a10")).await;
    store.append(line(1, 5, "b5")).await;
    store.append(line(0, 20, "a20")).await;
    store.append(line(1, 15, "b15")).await;
    store.append(line(1, 25, "b25")).await;
    store.append(line(2, 1, "c1")).await;
    // Out of range: ignored, not a panic.
    store.append(line(7, 1, "nobody")).await;
    assert!(!store.try_append(line(9, 1, "nobody")));
    store.flush().await;

    let tail = async |services: &[ServiceId], n, since| {
        tail_texts(&store.read_tail(services, n, since).await.unwrap())
    };
    assert_eq!(
        tail(&[0, 1], 10, None).await,
        ["b5", "a10", "b15", "a20", "b25"]
    );
    assert_eq!(tail(&[0, 1], 2, None).await, ["a20", "b25"]);
    assert_eq!(tail(&[1, 1], 10, Some(at(15))).await, ["b15", "b25"]);
    assert_eq!(tail(&[], 2, None).await, ["a20", "b25"]);
    assert_eq!(tail(&[], 10, None).await.len(), 6);
    assert!(tail(&[42], 10, None).await.is_empty());
    let lines = store.read_tail(&[1], 1, None).await.unwrap();
    assert_eq!(lines[0].0, 1);
    assert_eq!(
        (lines[0].1.time, lines[0].1.stream, lines[0].1.partial),
        (Some(at(25)), Stream::Stdout, false)
    );
    store.close().unwrap();
}

/// Lines `first..last` of `service`, as a test appends them: `s{service} {number}`.
fn numbered(service: ServiceId, numbers: std::ops::Range<u64>) -> Vec<LogLine> {
    numbers
        .map(|number| line(service, number, &format!("s{service} {number:>6}")))
        .collect()
}

/// The texts a follower gives next (skips as `skipped`), within a bound.
async fn next_texts(follow: &mut Follow) -> Vec<String> {
    let items = tokio::time::timeout(Duration::from_secs(10), follow.next())
        .await
        .expect("the follower gave nothing within 10 s")
        .expect("the follower ended");
    items
        .into_iter()
        .map(|item| match item {
            FollowItem::Line { line, .. } => line.text,
            FollowItem::Skipped { .. } => "skipped".to_string(),
        })
        .collect()
}

#[tokio::test]
async fn a_follower_gets_the_tail_then_every_later_line_once_across_rotations() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            // 10 lines of 10 bytes per file: the follower reads across many rotations.
            max_file_bytes: 100,
            keep_files: 50,
            ..settings(temp.path())
        },
        &names(&["a", "b"]),
    )
    .unwrap();
    for line in numbered(0, 0..5) {
        store.append(line).await;
    }
    store.flush().await;
    let (tail, mut follow) = store.follow(&[0], 3, None).await.unwrap();
    assert_eq!(tail_texts(&tail), ["s0      2", "s0      3", "s0      4"]);

    let mut seen = Vec::new();
    for chunk in [5..40, 40..41, 41..200] {
        for line in numbered(0, chunk.clone()) {
            store.append(line).await;
        }
        // Another service's lines are not this follower's.
        store.append(line(1, chunk.start, "other")).await;
        store.flush().await;
        while seen.len() < chunk.end as usize - 5 {
            seen.extend(next_texts(&mut follow).await);
        }
    }
    let wanted: Vec<String> = numbered(0, 5..200)
        .into_iter()
        .map(|line| line.text)
        .collect();
    assert_eq!(seen, wanted);
    assert!(store.stats(0).rotations > 10);
    store.close().unwrap();
}

#[tokio::test]
async fn a_follower_left_behind_by_rotation_skips_what_was_removed_and_says_how_much() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            max_file_bytes: 100,
            keep_files: 2,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    let (tail, mut follow) = store.follow(&[], 10, None).await.unwrap();
    assert!(tail.is_empty());
    for line in numbered(0, 0..5) {
        store.append(line).await;
    }
    store.flush().await;
    assert_eq!(next_texts(&mut follow).await.len(), 5);
    // The follower stalls while 10 files' worth is written; 3 files are kept.
    for line in numbered(0, 5..105) {
        store.append(line).await;
    }
    store.flush().await;
    let mut seen = next_texts(&mut follow).await;
    while !seen.last().is_some_and(|text| text.ends_with(" 104")) {
        seen.extend(next_texts(&mut follow).await);
    }
    assert_eq!(seen[0], "skipped");
    // What is left: the current file and 2 rotated ones, whole (rotation is at lines).
    let wanted: Vec<String> = numbered(0, 80..105)
        .into_iter()
        .map(|line| line.text)
        .collect();
    assert_eq!(seen[1..], wanted);
    store.close().unwrap();
}

#[tokio::test]
async fn a_skip_counts_the_bytes_removed_before_the_follower_read_them() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            max_file_bytes: 100,
            keep_files: 1,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    let (_, mut follow) = store.follow(&[0], 0, None).await.unwrap();
    for line in numbered(0, 0..3) {
        store.append(line).await;
    }
    store.flush().await;
    assert_eq!(next_texts(&mut follow).await.len(), 3);
    for line in numbered(0, 3..50) {
        store.append(line).await;
    }
    store.flush().await;
    let items = follow.next().await.unwrap();
    // Lines 3..30 were in files removed before the follower came back: 27 lines of 10 bytes.
    assert_eq!(
        items[0],
        FollowItem::Skipped {
            service: 0,
            bytes: Some(270)
        }
    );
    store.close().unwrap();
}

#[tokio::test]
async fn a_line_without_its_end_is_given_partial_after_a_while() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let (_, mut follow) = store.follow(&[0], 0, None).await.unwrap();
    let mut prompt = line(0, 1, "a prompt: ");
    prompt.partial = true;
    store.append(line(0, 1, "whole")).await;
    store.append(prompt).await;
    store.flush().await;
    let started = Instant::now();
    let mut items = follow.next().await.unwrap();
    if items.len() == 1 {
        items.extend(follow.next().await.unwrap());
    }
    let lines: Vec<(String, bool)> = items
        .into_iter()
        .map(|item| match item {
            FollowItem::Line { line, .. } => (line.text, line.partial),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("whole".to_string(), false),
            ("a prompt: ".to_string(), true)
        ]
    );
    assert!(started.elapsed() >= follow::PARTIAL_LINE_DELAY / 2);
    // Its end comes as a line of its own.
    store.append(line(0, 2, "answer")).await;
    store.flush().await;
    assert_eq!(next_texts(&mut follow).await, ["answer"]);
    store.close().unwrap();
}

#[tokio::test]
async fn followers_are_capped_and_give_their_places_back() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let mut followers = Vec::new();
    for _ in 0..MAX_FOLLOWERS {
        followers.push(store.follow(&[], 10, None).await.unwrap().1);
    }
    assert!(matches!(
        store.follow(&[], 10, None).await,
        Err(LogError::TooManyFollowers)
    ));
    followers.pop();
    assert!(store.follow(&[], 10, None).await.is_ok());
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

/// Writes `log` and its index of `records` (offset, millis after [`at`], stream).
fn write_log(path: &Path, log: &[u8], records: &[(u64, u64, Stream)]) {
    std::fs::write(path, log).unwrap();
    let mut index = format::INDEX_MAGIC.to_vec();
    for &(offset, millis, stream) in records {
        let record = format::Record {
            offset,
            time_ms: format::millis(at(millis)),
            stream,
        };
        index.extend_from_slice(&record.encode());
    }
    std::fs::write(index_path(path), index).unwrap();
}

fn index_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".idx");
    PathBuf::from(name)
}

#[test]
fn read_file_tail_reads_the_end_of_a_big_file() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("big.log");
    let mut content = Vec::new();
    let mut records = Vec::new();
    for i in 0..200_000u64 {
        let stream = if i % 2 == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        records.push((content.len() as u64, i, stream));
        content.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    write_log(&path, &content, &records);

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

    // Bytes after the last record (written before their record) belong to the last record; a
    // last line without its newline comes back partial.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(b"torn").unwrap();
    let last = read_file_tail(&path, 2).unwrap();
    assert_eq!(last[0].text, "line 199999");
    assert_eq!((last[1].text.as_str(), last[1].partial), ("torn", true));
    assert_eq!(
        (last[1].stream, last[1].time),
        (Stream::Stderr, Some(at(199_999)))
    );
    file.write_all(b"\r\nnext").unwrap();
    let last = read_file_tail(&path, 2).unwrap();
    assert_eq!((last[0].text.as_str(), last[0].partial), ("torn", false));
    assert_eq!((last[1].text.as_str(), last[1].partial), ("next", true));
}

#[test]
fn streams_are_framed_apart_and_lines_take_the_time_they_ended() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("web.log");
    // stdout's "hello world" is split by a stderr line in the middle; "é" is cut across two
    // records; the file ends in a stdout line still being written.
    let log = [
        &b"hello "[..],
        b"Password: ",
        b"wor\xc3",
        b"\xa9ld\n",
        b"err 1\n",
        b"tail",
    ]
    .concat();
    let records = [
        (0, 1, Stream::Stdout),
        (6, 2, Stream::Stderr),
        (16, 3, Stream::Stdout),
        (20, 4, Stream::Stdout),
        (24, 5, Stream::Stderr),
        (30, 6, Stream::Stdout),
    ];
    write_log(&path, &log, &records);
    let lines = read_file_tail(&path, 10).unwrap();
    let shown: Vec<(&str, Stream, Option<SystemTime>, bool)> = lines
        .iter()
        .map(|line| (line.text.as_str(), line.stream, line.time, line.partial))
        .collect();
    assert_eq!(
        shown,
        [
            ("hello wor\u{e9}ld", Stream::Stdout, Some(at(4)), false),
            ("Password: err 1", Stream::Stderr, Some(at(5)), false),
            ("tail", Stream::Stdout, Some(at(6)), true),
        ]
    );
    // The last line alone.
    let last = read_file_tail(&path, 1).unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].text, "tail");
}

#[test]
fn a_corrupt_or_torn_index_is_read_around_never_a_panic() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("web.log");
    let log = b"one\ntwo\nthree\n";
    let good = [
        (0, 1, Stream::Stdout),
        (4, 2, Stream::Stderr),
        (8, 3, Stream::Stdout),
    ];
    write_log(&path, log, &good);
    let read = |n| -> Vec<(String, Option<SystemTime>)> {
        read_file_tail(&path, n)
            .unwrap()
            .into_iter()
            .map(|line| (line.text, line.time))
            .collect()
    };
    let timed = vec![
        ("one".to_string(), Some(at(1))),
        ("two".to_string(), Some(at(2))),
        ("three".to_string(), Some(at(3))),
    ];
    assert_eq!(read(10), timed);
    // A torn last record is ignored: "three" belongs to the record before.
    let index = std::fs::read(index_path(&path)).unwrap();
    std::fs::write(index_path(&path), &index[..index.len() - 5]).unwrap();
    assert_eq!(read(10)[2], ("three".to_string(), Some(at(2))));
    // Offsets that go backwards: the index is not trusted, and the lines come without time.
    write_log(
        &path,
        log,
        &[(8, 1, Stream::Stdout), (4, 2, Stream::Stdout)],
    );
    let untimed: Vec<(String, Option<SystemTime>)> = ["one", "two", "three"]
        .iter()
        .map(|text| (text.to_string(), None))
        .collect();
    assert_eq!(read(10), untimed);
    // Records past the end of the file describe nothing here.
    write_log(
        &path,
        log,
        &[(0, 1, Stream::Stdout), (500, 2, Stream::Stderr)],
    );
    assert!(read(10).iter().all(|(_, time)| *time == Some(at(1))));
    // Not an index at all, an empty one, garbage, a directory: lines without time.
    for garbage in [
        &b""[..],
        b"wrlidx1\n",
        b"nonsense nonsense nonsense",
        &[0xff; 40],
    ] {
        std::fs::write(index_path(&path), garbage).unwrap();
        assert_eq!(read(10), untimed, "{garbage:?}");
    }
    std::fs::remove_file(index_path(&path)).unwrap();
    std::fs::create_dir(index_path(&path)).unwrap();
    assert_eq!(read(2), untimed[1..]);
}

#[tokio::test]
async fn the_writer_repairs_a_torn_index_and_restarts_a_stale_one() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("web.log");
    // A torn record at the end of an index that is otherwise sound.
    write_log(&path, b"old\n", &[(0, 1, Stream::Stderr)]);
    let mut index = std::fs::read(index_path(&path)).unwrap();
    index.extend_from_slice(&[7; 5]);
    std::fs::write(index_path(&path), &index).unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web", "api"])).unwrap();
    store.append(line(0, 2, "new")).await;
    // api's index points far past the end of its log: it belongs to some other file.
    write_log(
        &dir.join("api.log"),
        b"x\n",
        &[(0, 1, Stream::Stdout), (900, 2, Stream::Stdout)],
    );
    store.append(line(1, 3, "fresh")).await;
    store.flush().await;
    let lines = read_file_tail(&path, 10).unwrap();
    let shown: Vec<(&str, Stream, Option<SystemTime>)> = lines
        .iter()
        .map(|line| (line.text.as_str(), line.stream, line.time))
        .collect();
    assert_eq!(
        shown,
        [
            ("old", Stream::Stderr, Some(at(1))),
            ("new", Stream::Stdout, Some(at(2)))
        ]
    );
    let api: Vec<(String, Option<SystemTime>)> = read_file_tail(&dir.join("api.log"), 10)
        .unwrap()
        .into_iter()
        .map(|line| (line.text, line.time))
        .collect();
    // The stale index was restarted at the end of what the log held: "x" has no record now.
    assert_eq!(
        api,
        [("x".to_string(), None), ("fresh".to_string(), Some(at(3)))]
    );
    store.close().unwrap();
}

#[tokio::test]
async fn a_file_of_the_earlier_format_is_read_and_appended_to() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("web.log");
    std::fs::write(
        &path,
        "2026-11-23T16:28:18.001Z o before\n2026-11-23T16:28:18.002Z e warned\n",
    )
    .unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let mut after = line(0, 3, "after");
    after.stream = Stream::Stderr;
    store.append(after).await;
    store.flush().await;
    let lines = read_file_tail(&path, 10).unwrap();
    let shown: Vec<(&str, Stream, Option<SystemTime>)> = lines
        .iter()
        .map(|line| (line.text.as_str(), line.stream, line.time))
        .collect();
    assert_eq!(
        shown,
        [
            ("before", Stream::Stdout, Some(at(1))),
            ("warned", Stream::Stderr, Some(at(2))),
            ("after", Stream::Stderr, Some(at(3))),
        ]
    );
    assert_eq!(read_file_tail(&path, 1).unwrap()[0].text, "after");
    store.close().unwrap();
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
    std::fs::write(&long, "q".repeat(30 * MAX_PIECE_BYTES)).unwrap();
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
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    for i in 0..30 {
        store.append(line(0, i, &format!("{i:073}"))).await;
    }
    store.flush().await;
    let numbers = |lines: Vec<(ServiceId, FileLine)>| -> Vec<u64> {
        lines
            .iter()
            .map(|(_, line)| line.text.parse().unwrap())
            .collect()
    };
    let read = async |service, n, since| store.read_tail(&[service], n, since).await.unwrap();
    assert_eq!(
        numbers(read(0, 20, None).await),
        (10..30).collect::<Vec<u64>>()
    );
    // More than the files hold: everything they hold.
    assert_eq!(read(0, 1000, None).await.len(), 30);
    assert!(read(5, 10, None).await.is_empty());
    // `since`, by the times in the indexes, across files: line i was written at(i).
    let since = read(0, 1000, Some(at(7))).await;
    assert_eq!(numbers(since), (7..30).collect::<Vec<u64>>());
    let since = read(0, 5, Some(at(7))).await;
    assert_eq!(numbers(since), (25..30).collect::<Vec<u64>>());
    assert!(read(0, 10, Some(at(30))).await.is_empty());
    // The same from outside the store.
    let lines = read_service_tail(&temp.path().join("logs"), "web", 3, 20, None).unwrap();
    assert_eq!(lines.len(), 20);
    store.close().unwrap();
}

/// Reads racing rotations: while the writer rotates small files many times, every read of the
/// service's files gives consecutive lines, none repeated and none skipped in the middle (a read
/// that raced a rotation is repeated; see `read_service_tail`).
#[tokio::test]
async fn read_service_tail_is_consistent_while_files_rotate() {
    const LINES: u64 = 6_400;
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("logs");
    let store = LogStore::open(
        LogSettings {
            max_file_bytes: 4096,
            keep_files: 20,
            budget_bytes: u64::MAX,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (dir, done) = (dir.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads < 10 {
                let lines = read_service_tail(&dir, "web", 20, 200, None).expect("read");
                let numbers: Vec<u64> = lines.iter().map(|l| l.text.parse().unwrap()).collect();
                if let Some(pair) = numbers.windows(2).find(|pair| pair[1] != pair[0] + 1) {
                    return Err(format!("read {reads}: {} then {}", pair[0], pair[1]));
                }
                reads += 1;
            }
            Ok(reads)
        })
    };
    for i in 0..LINES {
        store.append(line(0, i, &format!("{i:040}"))).await;
        if i % 64 == 0 {
            store.flush().await;
            // Pacing, not synchronisation: a rotation every 6 ms or so, so that a read (about a
            // millisecond in a debug build) races one now and then, but not eight times in a
            // row, the most `read_service_tail` retries.
            tokio::time::sleep(Duration::from_millis(4)).await;
        }
    }
    store.flush().await;
    done.store(true, Ordering::Relaxed);
    let reads = reader
        .join()
        .expect("reader thread")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(reads >= 10, "{reads} reads");
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

/// The output a service printing `lines` wrote: each text, with a newline unless partial.
fn output_of(lines: &[(Vec<u8>, bool)]) -> Vec<u8> {
    let mut output = Vec::new();
    for (text, partial) in lines {
        output.extend_from_slice(text);
        if !partial {
            output.push(b'\n');
        }
    }
    output
}

#[tokio::test]
async fn a_chunk_is_stored_as_written_and_read_back_as_its_lines_one_by_one() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["lines", "chunks"])).unwrap();
    let lines = mixed_lines();
    let mut chunk = LogChunk::default();
    let mut from = 0;
    for (i, (text, partial)) in lines.iter().enumerate() {
        chunk.push(text, *partial);
        let mut line = line(0, 7, &String::from_utf8_lossy(text));
        line.stream = Stream::Stderr;
        line.partial = *partial;
        store.append(line).await;
        // Chunks of varying sizes, as reads would make them.
        if i % 700 == 3 || i + 1 == lines.len() {
            let output = output_of(&lines[from..=i]);
            from = i + 1;
            store
                .append_chunk(1, Stream::Stderr, at(7), &output, &mut chunk)
                .await;
            assert!(chunk.is_empty());
        }
    }
    // Empty chunks and unknown services are ignored.
    store
        .append_chunk(1, Stream::Stdout, at(8), &[], &mut chunk)
        .await;
    chunk.push(b"nobody", false);
    store
        .append_chunk(9, Stream::Stdout, at(8), b"nobody\n", &mut chunk)
        .await;
    assert!(chunk.is_empty());
    store.flush().await;

    // The file holds the output exactly as written (lines given one by one hold their lossy
    // text), and reads back as the same lines, each with its time and stream.
    let output = output_of(&lines);
    let by_line = std::fs::read(store.file_path(0).unwrap()).unwrap();
    let by_chunk = std::fs::read(store.file_path(1).unwrap()).unwrap();
    assert!(
        by_chunk == output,
        "the chunks' file holds what was written"
    );
    assert!(by_line == String::from_utf8_lossy(&output).as_bytes());
    let read = |service| -> Vec<FileLine> {
        read_file_tail(&store.file_path(service).unwrap(), usize::MAX).unwrap()
    };
    assert_eq!(read(0), read(1));
    assert!(
        read(1)
            .iter()
            .all(|line| line.time == Some(at(7)) && line.stream == Stream::Stderr)
    );
    // The prompt ran on into the next line in the file; in the tail it stays a line of its own.
    assert_eq!(read(1)[2].text, "a prompt: two");
    let (line_stats, chunk_stats) = (store.stats(0), store.stats(1));
    assert_eq!(
        (line_stats.lines_written, line_stats.lines_dropped),
        (chunk_stats.lines_written, chunk_stats.lines_dropped)
    );
    let newlines = output.iter().filter(|&&byte| byte == b'\n').count();
    assert_eq!(chunk_stats.lines_written, newlines as u64);
    assert_eq!(chunk_stats.bytes_written, output.len() as u64);
    assert_eq!(chunk_stats.lines_dropped, 0);

    let tail = async |service| -> Vec<FileLine> {
        let lines = store.read_tail(&[service], 1000, None).await.unwrap();
        lines.into_iter().map(|(_, line)| line).collect()
    };
    assert_eq!(tail(0).await, tail(1).await);
    assert_eq!(tail(1).await.len(), 1000);
    assert_eq!(tail(1).await.last().unwrap().text, "last");
    assert!(
        store
            .read_tail(&[1], 10, Some(at(8)))
            .await
            .unwrap()
            .is_empty()
    );
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
    let output = [[b'x'; 99].as_slice(), b"\n"].concat().repeat(640);
    // Far more than the queue holds: append_chunk must wait for the writer, never drop.
    let chunks = 4 * QUEUE_BYTES / (640 * 100) + 10;
    for _ in 0..chunks {
        chunk.reserve(640 * 100);
        for _ in 0..640 {
            chunk.push(&[b'x'; 99], false);
        }
        store
            .append_chunk(0, Stream::Stdout, at(0), &output, &mut chunk)
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
        let _gate = mutex::lock(&shared.gate);
        locked_sender.send(()).unwrap();
        let _ = released.recv();
    });
    locked.recv().unwrap();

    let text = "x".repeat(1000);
    let mut chunk = LogChunk::default();
    let mut appended = 0u64;
    let append = async |chunk: &mut LogChunk, text: &str| {
        let mut output = Vec::new();
        for _ in 0..10 {
            chunk.push(text.as_bytes(), false);
            output.extend_from_slice(text.as_bytes());
            output.push(b'\n');
        }
        store
            .append_chunk(0, Stream::Stdout, at(0), &output, chunk)
            .await;
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

#[tokio::test]
async fn output_marked_in_a_chunk_reaches_the_file_without_a_copy() {
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
    let start = chunk.push_text("a\nb\npart");
    chunk.mark_output(start);
    assert!(chunk.push_span(start, start + 1, false));
    assert!(chunk.push_span(start + 2, start + 3, false));
    store
        .append_chunk(0, Stream::Stdout, at(1), &[], &mut chunk)
        .await;
    assert!(chunk.is_empty() && !chunk.has_output());
    // Output whose line is left to the tail's next chunk: nothing for the tail, all for the
    // file.
    let start = chunk.push_text("ial\n");
    chunk.mark_output(start);
    store
        .append_chunk(0, Stream::Stdout, at(2), &[], &mut chunk)
        .await;
    // Far more than the queue holds, in shared chunks: waits for the writer, drops nothing.
    let line = format!("{}\n", "s".repeat(99));
    let rounds = 4 * QUEUE_BYTES / (640 * 100) + 10;
    for _ in 0..rounds {
        let start = chunk.push_text(&line.repeat(640));
        chunk.mark_output(start);
        for index in 0..640 {
            let at = start + index * 100;
            assert!(chunk.push_span(at, at + 99, false));
        }
        store
            .append_chunk(0, Stream::Stderr, at(3), &[], &mut chunk)
            .await;
    }
    store.flush().await;
    let bytes = std::fs::read(store.file_path(0).unwrap()).unwrap();
    assert!(bytes.starts_with(b"a\nb\npartial\n"));
    assert_eq!(bytes.len(), "a\nb\npartial\n".len() + rounds * 640 * 100);
    let lines = read_file_tail(&store.file_path(0).unwrap(), usize::MAX).unwrap();
    assert_eq!(lines.len(), 3 + rounds * 640);
    assert_eq!(lines[0].time, Some(at(1)));
    assert_eq!(lines[2].text, "partial");
    assert_eq!(
        (lines[2].stream, lines[2].time, lines[2].partial),
        (Stream::Stdout, Some(at(2)), false)
    );
    assert!(lines[3..].iter().all(|line| line.stream == Stream::Stderr));
    let stats = store.stats(0);
    assert_eq!(stats.lines_dropped, 0);
    assert_eq!(stats.lines_written, 3 + rounds as u64 * 640);
    store.close().unwrap();
}
