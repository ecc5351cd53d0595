//! Framing a service's output stream into lines, with a hard bound on memory.
//!
//! A service that prints megabytes without a newline must not grow wrangle's memory (one chatty
//! or hostile service would take the supervisor down with it), so a line longer than the limit is
//! handed on in pieces. This owns the framing only:
//! the caller reads the pipe, decides when a pause is long enough to [`LineSplitter::flush`], and
//! decides what a piece means (printing, log matching).

/// Splits a byte stream into lines without unbounded memory: a line longer than `max_len` is
/// emitted in pieces of max_len (partial = true for all but the last); a trailing piece without
/// newline is emitted at end of stream (partial = true). `\r\n` → line without `\r`.
///
/// At most `max_len + 1` bytes are buffered: the extra byte is a `\r` that may yet turn out to be
/// half of a `\r\n`.
#[derive(Debug, Clone)]
pub struct LineSplitter {
    max_len: usize,
    pending: Vec<u8>,
    /// The pending bytes of the current line were already shown by `flush`, so a newline that
    /// arrives next only ends that line and must not produce an extra empty one (a prompt such
    /// as `Password: ` followed later by a newline).
    flushed_mid_line: bool,
}

impl LineSplitter {
    /// `max_len` is the longest piece ever emitted; 0 is treated as 1.
    pub fn new(max_len: usize) -> Self {
        LineSplitter {
            max_len: max_len.max(1),
            pending: Vec::new(),
            flushed_mid_line: false,
        }
    }

    /// Feeds bytes read from the stream; complete lines and over-long pieces go to `emit` as
    /// `(piece, partial)`.
    pub fn push(&mut self, bytes: &[u8], mut emit: impl FnMut(&[u8], bool)) {
        let mut rest = bytes;
        while let Some(newline) = memchr::memchr(b'\n', rest) {
            let line = &rest[..newline];
            rest = &rest[newline + 1..];
            if self.pending.is_empty() {
                // The common case, a whole line within the input: emitted from the input, not
                // copied through `pending` (the same pieces as the general path below).
                let content = line.strip_suffix(b"\r").unwrap_or(line);
                if line.is_empty() && self.flushed_mid_line {
                    self.flushed_mid_line = false;
                    continue;
                }
                if content.len() <= self.max_len {
                    self.flushed_mid_line = false;
                    emit(content, false);
                    continue;
                }
            }
            self.extend(line, &mut emit);
            self.end_line(&mut emit);
        }
        self.extend(rest, &mut emit);
    }

    /// Whether bytes of an unfinished line are waiting for a newline.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Emits the unfinished line, if any, as a partial piece: at end of stream, or when the
    /// stream has paused mid-line long enough that the user should see what is there.
    pub fn flush(&mut self, mut emit: impl FnMut(&[u8], bool)) {
        if self.pending.is_empty() {
            return;
        }
        // Pending can be one byte over `max_len` (a held-back `\r`); pieces never are.
        for piece in self.pending.chunks(self.max_len) {
            emit(piece, true);
        }
        self.pending.clear();
        self.flushed_mid_line = true;
    }

    /// Adds bytes of the current line (no newline among them), emitting `max_len` pieces while
    /// more than `max_len` bytes are known to belong to the line.
    fn extend(&mut self, mut data: &[u8], emit: &mut impl FnMut(&[u8], bool)) {
        if data.is_empty() {
            return;
        }
        self.flushed_mid_line = false;
        loop {
            // A trailing `\r` may be the start of `\r\n` and so not content; hold it back.
            let last = data.last().or(self.pending.last());
            let trailing_cr = usize::from(last == Some(&b'\r'));
            let content_len = self.pending.len() + data.len() - trailing_cr;
            if content_len <= self.max_len {
                self.pending.extend_from_slice(data);
                return;
            }
            if self.pending.len() >= self.max_len {
                // Only reachable with `max_len` bytes plus a held-back `\r` pending.
                emit(&self.pending[..self.max_len], true);
                self.pending.drain(..self.max_len);
                continue;
            }
            if self.pending.is_empty() {
                // Emit straight from the input: no copy for long output.
                emit(&data[..self.max_len], true);
                data = &data[self.max_len..];
                continue;
            }
            let take = self.max_len - self.pending.len();
            self.pending.extend_from_slice(&data[..take]);
            emit(&self.pending, true);
            self.pending.clear();
            data = &data[take..];
        }
    }

    /// A newline arrived: emit the line, without a `\r` of `\r\n`.
    fn end_line(&mut self, emit: &mut impl FnMut(&[u8], bool)) {
        if self.pending.is_empty() && self.flushed_mid_line {
            self.flushed_mid_line = false;
            return;
        }
        if self.pending.last() == Some(&b'\r') {
            self.pending.pop();
        }
        emit(&self.pending, false);
        self.pending.clear();
        self.flushed_mid_line = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces as `(text, partial)`, for readable assertions.
    type Pieces = Vec<(String, bool)>;

    fn split(max_len: usize, chunks: &[&[u8]], flush_at_end: bool) -> Pieces {
        let mut splitter = LineSplitter::new(max_len);
        let mut pieces = Vec::new();
        let mut collect = |piece: &[u8], partial: bool| {
            pieces.push((String::from_utf8_lossy(piece).into_owned(), partial))
        };
        for chunk in chunks {
            splitter.push(chunk, &mut collect);
        }
        if flush_at_end {
            splitter.flush(&mut collect);
        }
        pieces
    }

    fn piece(text: &str, partial: bool) -> (String, bool) {
        (text.to_string(), partial)
    }

    #[test]
    fn lines_split_across_pushes() {
        assert_eq!(
            split(100, &[b"hel", b"lo\nwor", b"ld\n"], false),
            vec![piece("hello", false), piece("world", false)]
        );
    }

    #[test]
    fn empty_lines_are_lines() {
        assert_eq!(
            split(100, &[b"\n\na\n\n"], false),
            vec![
                piece("", false),
                piece("", false),
                piece("a", false),
                piece("", false)
            ]
        );
    }

    #[test]
    fn crlf_loses_its_cr_even_across_pushes() {
        assert_eq!(
            split(100, &[b"one\r\ntwo\r", b"\nthree\rstill three\n"], false),
            vec![
                piece("one", false),
                piece("two", false),
                piece("three\rstill three", false)
            ]
        );
    }

    #[test]
    fn long_lines_come_in_pieces() {
        assert_eq!(
            split(4, &[b"abcdefghij\n"], false),
            vec![piece("abcd", true), piece("efgh", true), piece("ij", false)]
        );
        // Exactly max_len: one whole line, no empty tail.
        assert_eq!(split(4, &[b"abcd\n"], false), vec![piece("abcd", false)]);
        assert_eq!(
            split(4, &[b"ab", b"cd", b"\n"], false),
            vec![piece("abcd", false)]
        );
        // Exactly twice max_len.
        assert_eq!(
            split(4, &[b"abcdefgh\n"], false),
            vec![piece("abcd", true), piece("efgh", false)]
        );
        // A full line followed by `\r\n` across pushes does not make an empty extra line.
        assert_eq!(
            split(4, &[b"abcd\r", b"\n"], false),
            vec![piece("abcd", false)]
        );
        // A `\r` that is content after all.
        assert_eq!(
            split(4, &[b"abcd\r", b"x\n"], false),
            vec![piece("abcd", true), piece("\rx", false)]
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let mut splitter = LineSplitter::new(16);
        let mut n_pieces = 0;
        for _ in 0..1000 {
            splitter.push(&[b'x'; 1000], |piece, partial| {
                assert_eq!(piece.len(), 16);
                assert!(partial);
                n_pieces += 1;
            });
            assert!(splitter.pending.len() <= 17);
        }
        // The last full piece waits: the next byte may be the newline that makes it a whole line.
        assert_eq!(n_pieces, 1000 * 1000 / 16 - 1);
        assert_eq!(splitter.pending.len(), 16);
    }

    #[test]
    fn flush_emits_the_unfinished_line_once() {
        let mut splitter = LineSplitter::new(100);
        let mut pieces = Vec::new();
        splitter.push(b"done\nPassword: ", |p, partial| {
            pieces.push((p.to_vec(), partial))
        });
        assert!(splitter.has_pending());
        splitter.flush(|p, partial| pieces.push((p.to_vec(), partial)));
        assert!(!splitter.has_pending());
        splitter.flush(|p, partial| pieces.push((p.to_vec(), partial)));
        // The newline that ends the prompt does not add an empty line...
        splitter.push(b"\n", |p, partial| pieces.push((p.to_vec(), partial)));
        // ...but a real empty line after that still counts.
        splitter.push(b"\nnext\n", |p, partial| pieces.push((p.to_vec(), partial)));
        assert_eq!(
            pieces,
            vec![
                (b"done".to_vec(), false),
                (b"Password: ".to_vec(), true),
                (b"".to_vec(), false),
                (b"next".to_vec(), false),
            ]
        );
    }

    #[test]
    fn flush_then_more_text_continues_as_a_new_piece() {
        let mut splitter = LineSplitter::new(100);
        let mut pieces = Vec::new();
        splitter.push(b"50%", |p, partial| pieces.push((p.to_vec(), partial)));
        splitter.flush(|p, partial| pieces.push((p.to_vec(), partial)));
        splitter.push(b" 100%\n", |p, partial| pieces.push((p.to_vec(), partial)));
        assert_eq!(
            pieces,
            vec![(b"50%".to_vec(), true), (b" 100%".to_vec(), false)]
        );
    }

    #[test]
    fn end_of_stream_without_newline() {
        assert_eq!(
            split(100, &[b"a\nb"], true),
            vec![piece("a", false), piece("b", true)]
        );
        assert_eq!(split(100, &[b"a\n"], true), vec![piece("a", false)]);
        assert_eq!(split(100, &[], true), vec![]);
    }

    #[test]
    fn zero_max_len_is_one() {
        assert_eq!(
            split(0, &[b"ab\n"], false),
            vec![piece("a", true), piece("b", false)]
        );
    }

    /// xorshift64*: a small deterministic generator, so failures reproduce from the seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
    }

    /// Random input from an alphabet rich in newlines and `\r`, cut into random chunks.
    fn random_case(rng: &mut Rng, alphabet: &[u8]) -> (usize, Vec<u8>, Vec<usize>) {
        let max_len = 1 + rng.below(12);
        let len = rng.below(200);
        let input: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let mut cuts = Vec::new();
        let mut at = 0;
        while at < len {
            at += 1 + rng.below(20);
            cuts.push(at.min(len));
        }
        (max_len, input, cuts)
    }

    /// The input's lines, as a reader would see them: split on `\n`, `\r\n` counts as `\n`, and
    /// the unfinished tail (kept as is, `\r` and all) is a line when it is not empty.
    fn expected_lines(input: &[u8]) -> Vec<Vec<u8>> {
        let mut parts: Vec<&[u8]> = input.split(|&byte| byte == b'\n').collect();
        let tail = parts.pop().unwrap_or(&[]);
        let mut lines: Vec<Vec<u8>> = parts
            .iter()
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line).to_vec())
            .collect();
        if !tail.is_empty() {
            lines.push(tail.to_vec());
        }
        lines
    }

    #[test]
    fn property_pieces_reassemble_into_the_input_lines() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        for _ in 0..5000 {
            let (max_len, input, cuts) = random_case(&mut rng, b"ab\r\n\n");
            let mut splitter = LineSplitter::new(max_len);
            let mut lines: Vec<Vec<u8>> = Vec::new();
            let mut current: Vec<u8> = Vec::new();
            let mut all_bytes = Vec::new();
            let mut collect = |piece: &[u8], partial: bool| {
                assert!(
                    piece.len() <= max_len,
                    "piece longer than {max_len}: {piece:?}"
                );
                all_bytes.extend_from_slice(piece);
                current.extend_from_slice(piece);
                if !partial {
                    lines.push(std::mem::take(&mut current));
                }
            };
            let mut start = 0;
            for &end in &cuts {
                splitter.push(&input[start..end], &mut collect);
                start = end;
            }
            splitter.flush(&mut collect);
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            assert_eq!(
                lines,
                expected_lines(&input),
                "input {input:?} max_len {max_len}"
            );
            // Concatenated pieces are the input minus newlines (and the `\r` of each `\r\n`).
            let mut without_newlines = Vec::new();
            for (idx, &byte) in input.iter().enumerate() {
                let is_crlf_cr = byte == b'\r' && input.get(idx + 1) == Some(&b'\n');
                if byte != b'\n' && !is_crlf_cr {
                    without_newlines.push(byte);
                }
            }
            assert_eq!(all_bytes, without_newlines, "input {input:?}");
        }
    }

    #[test]
    fn property_flushes_lose_nothing() {
        // With random pauses (flushes) between chunks, pieces still carry every byte that is not
        // a newline, in order.
        let mut rng = Rng(0x00dd_ba11_cafe_f00d);
        for _ in 0..5000 {
            let (max_len, input, cuts) = random_case(&mut rng, b"abc\n");
            let mut splitter = LineSplitter::new(max_len);
            let mut all_bytes = Vec::new();
            let mut n_complete = 0;
            let mut start = 0;
            for &end in &cuts {
                splitter.push(&input[start..end], |piece, partial| {
                    all_bytes.extend_from_slice(piece);
                    n_complete += usize::from(!partial);
                });
                if rng.below(3) == 0 {
                    splitter.flush(|piece, _| all_bytes.extend_from_slice(piece));
                }
                start = end;
            }
            splitter.flush(|piece, _| all_bytes.extend_from_slice(piece));
            let expected: Vec<u8> = input
                .iter()
                .copied()
                .filter(|&byte| byte != b'\n')
                .collect();
            assert_eq!(all_bytes, expected, "input {input:?}");
            let n_newlines = input.iter().filter(|&&byte| byte == b'\n').count();
            assert!(n_complete <= n_newlines);
        }
    }

    #[test]
    fn whole_lines_from_the_input_frame_as_byte_by_byte() {
        // Pushing everything at once takes the no-copy path for most lines; one byte at a time
        // never does (the line is always pending): both must give the same pieces.
        let mut seed = 0x2545_f491_u32;
        let alphabet = [b'a', b'b', b'\r', b'\n', b'\n', b'x'];
        for max_len in [1, 2, 3, 5, 8] {
            for _ in 0..300 {
                let len = (seed % 40) as usize;
                let input: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        alphabet[seed as usize % alphabet.len()]
                    })
                    .collect();
                let bytes: Vec<&[u8]> = input.chunks(1).collect();
                // With a pause (flush) in the middle, too.
                let middle = len / 2;
                let paused = |chunks: &[&[u8]]| -> Pieces {
                    let mut splitter = LineSplitter::new(max_len);
                    let mut pieces = Vec::new();
                    let mut collect = |piece: &[u8], partial: bool| {
                        pieces.push((String::from_utf8_lossy(piece).into_owned(), partial))
                    };
                    let mut seen = 0;
                    for chunk in chunks {
                        if seen == middle {
                            splitter.flush(&mut collect);
                        }
                        splitter.push(chunk, &mut collect);
                        seen += chunk.len();
                    }
                    pieces
                };
                assert_eq!(
                    paused(&[&input[..middle], &input[middle..]]),
                    paused(&bytes),
                    "{input:?} max_len {max_len}, paused"
                );
                for flush in [false, true] {
                    assert_eq!(
                        split(max_len, &[&input], flush),
                        split(max_len, &bytes, flush),
                        "{input:?} max_len {max_len}"
                    );
                }
            }
        }
    }
}
