//! Reading log files back: framing streams apart, odd and corrupt files and indexes, files of the
//! earlier format, and reads that race rotations.

use super::*;

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

/// What a test compares of lines read back: text, stream and time.
fn shown(lines: &[FileLine]) -> Vec<(&str, Stream, Option<SystemTime>)> {
    lines
        .iter()
        .map(|line| (line.text.as_str(), line.stream, line.time))
        .collect()
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
    assert_eq!(
        shown(&last),
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
    append(&store, line(0, 2, "new")).await;
    // api's index points far past the end of its log: it belongs to some other file.
    write_log(
        &dir.join("api.log"),
        b"x\n",
        &[(0, 1, Stream::Stdout), (900, 2, Stream::Stdout)],
    );
    append(&store, line(1, 3, "fresh")).await;
    store.flush().await;
    let lines = read_file_tail(&path, 10).unwrap();
    assert_eq!(
        shown(&lines),
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
    append(&store, after).await;
    store.flush().await;
    let lines = read_file_tail(&path, 10).unwrap();
    assert_eq!(
        shown(&lines),
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
    let store = rotating_store(temp.path(), &["web"], 1000, 3);
    for i in 0..30 {
        append(&store, line(0, i, &format!("{i:073}"))).await;
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

#[tokio::test]
async fn a_tail_that_keeps_racing_rotations_still_gives_the_lines() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    for i in 0..5 {
        append(&store, line(0, i, &format!("line {i}"))).await;
    }
    store.flush().await;
    // What is complete always names another file, as if the current one were replaced before
    // every read.
    let elsewhere = tempfile::tempfile().unwrap();
    let other = crate::logs::files::FileId::of(&elsewhere).unwrap();
    let (lines, end) = crate::logs::read::read_service_tail_at(
        &temp.path().join("logs"),
        "web",
        3,
        3,
        None,
        u64::MAX,
        || Some((other, 0)),
    )
    .unwrap();
    let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    assert_eq!(texts, ["line 2", "line 3", "line 4"]);
    assert!(end.is_some_and(|(id, _)| id != other));
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
        append(&store, line(0, i, &format!("{i:040}"))).await;
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
