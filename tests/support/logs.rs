//! The daemon's log files read back as the tests assert on them, through wrangle's own reader.

use std::path::{Path, PathBuf};

use wrangle::logs::{FileLine, read_file_tail};
use wrangle::stream::Stream;

/// Every line of `service`'s log files in `logs` (oldest file first: `.log.N` … `.log.1`,
/// `.log`), read back through wrangle's own reader, which takes each line's time and stream
/// from the file's index; with the file each line is in.
pub fn log_file_lines_in(logs: &Path, service: &str) -> Vec<(PathBuf, FileLine)> {
    let mut rotated: Vec<(u32, PathBuf)> = std::fs::read_dir(logs)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let generation = name
                .strip_prefix(&format!("{service}.log."))?
                .parse()
                .ok()?;
            Some((generation, entry.path()))
        })
        .collect();
    rotated.sort_by_key(|(generation, _)| std::cmp::Reverse(*generation));
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, path)| path).collect();
    files.push(logs.join(format!("{service}.log")));
    let mut lines = Vec::new();
    for file in files {
        let Ok(read) = read_file_tail(&file, usize::MAX) else {
            continue;
        };
        lines.extend(read.into_iter().map(|line| (file.clone(), line)));
    }
    lines
}

/// The marker a line had in wrangle's earlier log format: `o`/`e` by stream, upper-case when
/// partial.
pub fn stream_marker(line: &FileLine) -> char {
    let marker = match line.stream {
        Stream::Stdout => 'o',
        Stream::Stderr => 'e',
    };
    match line.partial {
        true => marker.to_ascii_uppercase(),
        false => marker,
    }
}
