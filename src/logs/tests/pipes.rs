//! Pipes handed over to the writer: spliced after the queued output, rotated at line
//! boundaries, drained while the file cannot be written, let go at their end or the store's.

use std::os::fd::AsFd;

use super::*;

/// A pipe whose read end the store adopts for `service`'s `stream`; the write end is the test's
/// (blocking), and `ended` says when the store dropped the pipe's guard.
struct TestPipe {
    writer: std::fs::File,
    ended: std::sync::mpsc::Receiver<()>,
}

fn adopt(store: &LogStore, service: ServiceId, stream: Stream) -> TestPipe {
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    let (guard, ended) = std::sync::mpsc::channel::<()>();
    store.adopt_pipe(service, stream, reader, Box::new(guard));
    TestPipe {
        writer: std::fs::File::from(writer),
        ended,
    }
}

impl TestPipe {
    fn write(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Closes the write end and waits (bounded) until the store has let the pipe go.
    fn end(self) {
        drop(self.writer);
        let ended = self.ended.recv_timeout(Duration::from_secs(10));
        assert!(
            matches!(ended, Err(std::sync::mpsc::RecvTimeoutError::Disconnected)),
            "the store kept the pipe after its end"
        );
    }
}

#[tokio::test]
async fn adopted_pipes_reach_the_file_after_the_queued_output_with_their_streams() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web", "db"])).unwrap();
    // Read by the supervisor until the hand-over: its bytes come first.
    append(&store, line(0, 0, "before the hand-over")).await;
    let mut out = adopt(&store, 0, Stream::Stdout);
    let mut err = adopt(&store, 0, Stream::Stderr);
    let mut other = adopt(&store, 1, Stream::Stdout);
    let started = SystemTime::now();
    out.write(b"out one\nout ");
    store.flush().await;
    err.write(b"err one\n");
    store.flush().await;
    out.write(b"two\n");
    other.write(b"db line\n");
    store.flush().await;

    let lines = read_file_tail(&store.file_path(0).unwrap(), usize::MAX).unwrap();
    let seen: Vec<(Stream, &str)> = lines
        .iter()
        .map(|line| (line.stream, line.text.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (Stream::Stdout, "before the hand-over"),
            (Stream::Stdout, "out one"),
            (Stream::Stderr, "err one"),
            (Stream::Stdout, "out two"),
        ]
    );
    // Times of the reads, from the index.
    assert_eq!(lines[0].time, Some(at(0)));
    for line in &lines[1..] {
        let time = line.time.expect("a time from the index");
        assert!(time + Duration::from_millis(1) >= started, "{line:?}");
    }
    assert_eq!(texts(&store.file_path(1).unwrap()), ["db line"]);
    assert_eq!(
        store.stats(0).bytes_written,
        "before the hand-over\nout one\nout err one\ntwo\n".len() as u64
    );
    // The pipes' bytes were spliced (the files are far from their limit).
    assert_eq!(
        store.shared.spliced.load(Ordering::Relaxed),
        "out one\nout err one\ntwo\ndb line\n".len() as u64
    );
    // At end of file the store lets each pipe go.
    out.end();
    err.end();
    other.end();
    store.close().unwrap();
}

#[tokio::test]
async fn spliced_bytes_that_continue_the_last_record_are_complete_for_readers() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let mut out = adopt(&store, 0, Stream::Stdout);
    // Many writes, each flushed: most fall in the millisecond of the one before, so they need
    // no index record of their own, and readers must still be told that they are complete.
    for round in 0..300 {
        out.write(b"line\n");
        store.flush().await;
        let files = store.shared.files.get(0).expect("service 0");
        let committed = mutex::lock(&files).committed;
        assert_eq!(
            committed,
            store.stats(0).bytes_written,
            "round {round}: readers are told of fewer bytes than the file holds"
        );
    }
    out.end();
    store.close().unwrap();
}

#[tokio::test]
async fn a_pipe_is_rotated_at_line_boundaries_and_loses_nothing() {
    let temp = tempfile::tempdir().unwrap();
    // Files well above the window read before the limit, so that most bytes are spliced.
    let max = 16 * writer::pipes::CUT_WINDOW as u64;
    let store = LogStore::open(
        LogSettings {
            max_file_bytes: max,
            keep_files: 100,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    let pipe = adopt(&store, 0, Stream::Stdout);
    const LINES: usize = 120_000;
    // Lines of varied lengths, written in writes that do not follow them, from a thread (the
    // pipe is blocking on the test's side).
    let writer = std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut text = Vec::new();
        for i in 0..LINES {
            text.extend_from_slice(format!("{i:>7} {}\n", "z".repeat(i % 97)).as_bytes());
        }
        for part in text.chunks(7_919) {
            pipe.write(part);
        }
        (pipe, text.len())
    });
    let (pipe, total) = writer.join().unwrap();
    pipe.end();
    store.flush().await;

    let dir = temp.path().join("logs");
    let stats = store.stats(0);
    assert!(stats.rotations >= 5, "{stats:?}");
    assert_eq!(stats.bytes_written, total as u64);
    // All but the window around each limit went from the pipe to the file in the kernel.
    let spliced = store.shared.spliced.load(Ordering::Relaxed);
    assert!(
        spliced > total as u64 / 4 * 3,
        "{spliced} of {total} bytes spliced"
    );
    let mut numbers = Vec::new();
    for generation in (0..=stats.rotations).rev() {
        let path = match generation {
            0 => dir.join("web.log"),
            n => dir.join(format!("web.log.{n}")),
        };
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.len() as u64 <= max,
            "{}: {} bytes",
            path.display(),
            bytes.len()
        );
        assert!(bytes.ends_with(b"\n"), "{} ends mid-line", path.display());
        for line in read_file_tail(&path, usize::MAX).unwrap() {
            assert!(!line.partial && line.time.is_some(), "{line:?}");
            let (number, rest) = line
                .text
                .trim_start()
                .split_once(' ')
                .unwrap_or((&line.text, ""));
            let number: usize = number.parse().unwrap();
            assert_eq!(rest, "z".repeat(number % 97));
            numbers.push(number);
        }
    }
    assert_eq!(numbers, (0..LINES).collect::<Vec<usize>>());
    store.close().unwrap();
}

#[tokio::test]
async fn a_pipe_is_drained_and_counted_while_its_file_cannot_be_written() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let path = store.file_path(0).unwrap();
    std::fs::create_dir(&path).unwrap();
    let pipe = adopt(&store, 0, Stream::Stdout);
    // Far more than a pipe holds: the writer must keep taking it, or this thread never ends.
    let writer = std::thread::spawn(move || {
        let mut pipe = pipe;
        for i in 0..10_000 {
            pipe.write(format!("{i:>99}\n").as_bytes());
        }
        pipe
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !writer.is_finished() {
        assert!(Instant::now() < deadline, "the pipe was not drained");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut pipe = writer.join().unwrap();
    store.flush().await;
    let stats = store.stats(0);
    assert_eq!((stats.bytes_written, stats.lines_dropped), (0, 10_000));
    assert!(stats.failing);

    std::fs::remove_dir(&path).unwrap();
    past_retry_interval();
    pipe.write(b"kept\n");
    store.flush().await;
    assert_eq!(texts(&path), ["kept"]);
    assert!(!store.stats(0).failing);
    pipe.end();
    store.close().unwrap();
}

#[tokio::test]
async fn closing_the_store_lets_its_pipes_go() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let mut pipe = adopt(&store, 0, Stream::Stdout);
    pipe.write(b"last words\n");
    let path = store.file_path(0).unwrap();
    store.close().unwrap();
    // The write end is still open: the store let the pipe go because it closed.
    let ended = pipe.ended.recv_timeout(Duration::from_secs(10));
    assert!(matches!(
        ended,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
    ));
    assert_eq!(texts(&path), ["last words"]);
    // An unknown service's pipe is closed at once.
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    let pipe = adopt(&store, 7, Stream::Stdout);
    pipe.end();
    store.close().unwrap();
}

/// Waits (bounded) until the writer has taken everything written to `pipe`.
async fn taken(pipe: &TestPipe) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while crate::sys::pipes::bytes_waiting(pipe.writer.as_fd()).unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "the writer does not take the pipe's bytes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_line_begun_near_the_limit_waits_for_its_end_and_moves_whole_to_the_next_file() {
    let temp = tempfile::tempdir().unwrap();
    let max = 2 * writer::pipes::CUT_WINDOW;
    let store = LogStore::open(
        LogSettings {
            max_file_bytes: max as u64,
            keep_files: 3,
            ..settings(temp.path())
        },
        &names(&["web"]),
    )
    .unwrap();
    let path = store.file_path(0).unwrap();
    let mut pipe = adopt(&store, 0, Stream::Stdout);
    // Whole lines up to 1000 bytes short of the limit, then a line in two writes that does not
    // fit: its start is held back, not written, and it goes whole to the next file.
    let line = format!("{}\n", "w".repeat(99));
    pipe.write(line.repeat((max - 1000) / 100).as_bytes());
    pipe.write(b"the long line begins");
    taken(&pipe).await;
    pipe.write(format!(" {} and ends\n", "l".repeat(2000)).as_bytes());
    pipe.write(b"after\n");
    taken(&pipe).await;
    store.flush().await;
    let rotated = std::fs::read(path.with_extension("log.1")).unwrap();
    assert!(rotated.ends_with(b"w\n"), "the rotated file ends mid-line");
    let current = texts(&path);
    assert!(
        current[0].starts_with("the long line begins ll") && current[0].ends_with("l and ends"),
        "{:?}",
        &current[0][..40]
    );
    assert_eq!(current[1..], ["after"]);

    // A line begun near the limit that does not end soon is written as it is, without a flush.
    let used = std::fs::metadata(&path).unwrap().len() as usize;
    pipe.write(line.repeat((max - used - 500) / 100).as_bytes());
    pipe.write(b"a prompt: ");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read(&path).unwrap().ends_with(b"a prompt: ") {
        assert!(
            Instant::now() < deadline,
            "the line held back was never written"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pipe.end();
    store.close().unwrap();
}
