//! Reading the files back: tails of several services, and followers across rotations and
//! removals.

use super::*;

/// The texts of `(service, line)`s.
fn tail_texts(lines: &[(ServiceId, FileLine)]) -> Vec<String> {
    lines.iter().map(|(_, line)| line.text.clone()).collect()
}

#[tokio::test]
async fn tail_merges_services_by_time_with_n_and_since() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["a", "b", "c"])).unwrap();
    append(&store, line(0, 10, "a10")).await;
    append(&store, line(1, 5, "b5")).await;
    append(&store, line(0, 20, "a20")).await;
    append(&store, line(1, 15, "b15")).await;
    append(&store, line(1, 25, "b25")).await;
    append(&store, line(2, 1, "c1")).await;
    // Out of range: ignored, not a panic.
    append(&store, line(7, 1, "nobody")).await;
    assert!(store.try_append_output(9, Stream::Stdout, at(1), b"nobody\n"));
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
    // 10 lines of 10 bytes per file: the follower reads across many rotations.
    let store = rotating_store(temp.path(), &["a", "b"], 100, 50);
    for line in numbered(0, 0..5) {
        append(&store, line).await;
    }
    store.flush().await;
    let (tail, mut follow) = store.follow(&[0], 3, None).await.unwrap();
    assert_eq!(tail_texts(&tail), ["s0      2", "s0      3", "s0      4"]);

    let mut seen = Vec::new();
    for chunk in [5..40, 40..41, 41..200] {
        for line in numbered(0, chunk.clone()) {
            append(&store, line).await;
        }
        // Another service's lines are not this follower's.
        append(&store, line(1, chunk.start, "other")).await;
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
    let store = rotating_store(temp.path(), &["web"], 100, 2);
    let (tail, mut follow) = store.follow(&[], 10, None).await.unwrap();
    assert!(tail.is_empty());
    for line in numbered(0, 0..5) {
        append(&store, line).await;
    }
    store.flush().await;
    assert_eq!(next_texts(&mut follow).await.len(), 5);
    // The follower stalls while 10 files' worth is written; 3 files are kept.
    for line in numbered(0, 5..105) {
        append(&store, line).await;
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
    let store = rotating_store(temp.path(), &["web"], 100, 1);
    let (_, mut follow) = store.follow(&[0], 0, None).await.unwrap();
    for line in numbered(0, 0..3) {
        append(&store, line).await;
    }
    store.flush().await;
    assert_eq!(next_texts(&mut follow).await.len(), 3);
    for line in numbered(0, 3..50) {
        append(&store, line).await;
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
    append(&store, line(0, 1, "whole")).await;
    append(&store, prompt).await;
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
    assert!(started.elapsed() >= crate::logs::follow::PARTIAL_LINE_DELAY / 2);
    // Its end comes as a line of its own.
    append(&store, line(0, 2, "answer")).await;
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
async fn tails_of_followers_that_keep_them_share_a_bound_and_give_it_back() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    // 2 MiB of 1 KiB lines: more than a whole tail.
    let text = "x".repeat(1023);
    for number in 0..2048 {
        append(&store, line(0, number, &text)).await;
    }
    store.flush().await;
    let whole = (TAIL_BYTES / 1024) as usize;
    let bytes = |tail: &[(ServiceId, FileLine)]| -> usize {
        tail.iter().map(|(_, line)| line.text.len() + 1).sum()
    };
    // Followers that keep their tails get whole ones until the bound is reached...
    let shares = (FOLLOWER_TAILS_BYTES / TAIL_BYTES) as usize;
    let mut followers = Vec::new();
    for _ in 0..shares {
        let (tail, follow) = store.follow(&[0], usize::MAX, None).await.unwrap();
        assert!(tail.len() + 1 >= whole, "{} lines", tail.len());
        followers.push(follow);
    }
    // ...then the smallest ones, however many more come.
    for _ in 0..4 {
        let (tail, follow) = store.follow(&[0], usize::MAX, None).await.unwrap();
        assert!(bytes(&tail) <= 16 * 1024, "{} bytes", bytes(&tail));
        assert!(!tail.is_empty());
        followers.push(follow);
    }
    // A tail taken by its client gives its share back.
    followers[0].tail_taken();
    let (tail, _follow) = store.follow(&[0], usize::MAX, None).await.unwrap();
    assert!(tail.len() + 1 >= whole, "{} lines", tail.len());
    store.close().unwrap();
}

#[tokio::test]
async fn short_lines_count_for_more_than_their_bytes_in_a_bounded_read() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(settings(temp.path()), &names(&["web"])).unwrap();
    // 200,000 empty lines: 200 KB of file, far more in memory as lines.
    let empty = vec![b'\n'; 200_000];
    assert!(store.try_append_output(0, Stream::Stdout, at(1), &empty));
    store.flush().await;
    let tail = store.read_tail(&[0], usize::MAX, None).await.unwrap();
    assert_eq!(tail.len() as u64, TAIL_BYTES / 64);
    store.close().unwrap();
}

#[tokio::test]
async fn clearing_empties_a_services_files_and_its_follower_goes_on_after_them() {
    let temp = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        LogSettings {
            // 10 lines of 10 bytes per file: several rotated files to remove.
            max_file_bytes: 100,
            keep_files: 5,
            ..settings(temp.path())
        },
        &names(&["a", "b"]),
    )
    .unwrap();
    for line in numbered(0, 0..35).into_iter().chain(numbered(1, 0..3)) {
        append(&store, line).await;
    }
    store.flush().await;
    let dir = temp.path().join("logs");
    assert!(dir.join("a.log.3").exists());
    let (tail, mut follow) = store.follow(&[0], 1, None).await.unwrap();
    assert_eq!(tail_texts(&tail), ["s0     34"]);

    let cleared = store.clear(&[0]).await.expect("the writer answers");
    assert_eq!(cleared.len(), 1);
    assert_eq!((cleared[0].service, cleared[0].files), (0, 4));
    assert!(cleared[0].bytes >= 350, "{cleared:?}");
    assert_eq!(cleared[0].error, None);
    // Only a fresh, empty file and its index are left of `a`; `b` is untouched.
    assert_eq!(std::fs::metadata(dir.join("a.log")).unwrap().len(), 0);
    for generation in 1..=5 {
        assert!(!dir.join(format!("a.log.{generation}")).exists());
        assert!(!dir.join(format!("a.log.{generation}.idx")).exists());
    }
    assert!(store.read_tail(&[0], 100, None).await.unwrap().is_empty());
    assert_eq!(texts(&dir.join("b.log")).len(), 3);

    // Later output is written, read back, and reaches the follower, which skipped nothing it
    // had not already been given.
    for line in numbered(0, 100..102) {
        append(&store, line).await;
    }
    store.flush().await;
    assert_eq!(
        tail_texts(&store.read_tail(&[0], 100, None).await.unwrap()),
        ["s0    100", "s0    101"]
    );
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.extend(next_texts(&mut follow).await);
    }
    assert_eq!(seen, ["s0    100", "s0    101"]);
    // Clearing everything (an empty list) and unknown services is fine too.
    let cleared = store.clear(&[]).await.expect("the writer answers");
    assert_eq!(
        cleared.iter().map(|c| c.service).collect::<Vec<_>>(),
        [0, 1]
    );
    assert_eq!(store.clear(&[7]).await.expect("answered"), []);
    store.close().unwrap();
}
