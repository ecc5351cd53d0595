//! Evaluating a PM2 ecosystem file written in JavaScript: `node` requires it and prints its
//! exports as JSON.
//!
//! This runs the file's code, as `pm2 start ecosystem.config.js` would: the user is told so in
//! the output's header and in `wrangle import --help`. `node` is run directly (no shell), in the
//! file's directory (so its `require`s and `__dirname` work), with its standard input closed,
//! for at most [`TIMEOUT`]; at the deadline its whole process group is killed. What the file
//! prints with `console.log` goes to standard error, so only the exports reach standard output.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::import::ImportError;
use crate::spec::Signal;
use crate::sys::spawn::{exited_unreaped, signal_group};

/// How long the file may take to evaluate.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The most JSON read back.
const MAX_OUTPUT: u64 = 4 << 20;

/// The script `node -e` runs: argv[1] is the file.
const SCRIPT: &str = r#"
const log = (...a) => process.stderr.write(a.map(String).join(" ") + "\n");
console.log = console.info = console.debug = console.warn = log;
let m = require(process.argv[1]);
if (m && m.__esModule && m.default) m = m.default;
process.stdout.write(JSON.stringify(m === undefined ? null : m));
"#;

/// The file's exports as JSON text.
pub fn evaluate(path: &Path) -> Result<String, ImportError> {
    let absolute = std::path::absolute(path)
        .map_err(|error| ImportError::new(format!("cannot resolve {}: {error}", path.display())))?;
    if !absolute.is_file() {
        return Err(ImportError::new(format!(
            "cannot read {}: not a regular file",
            path.display()
        )));
    }
    let directory = absolute.parent().unwrap_or(Path::new("/"));
    let mut child = Command::new("node")
        .arg("-e")
        .arg(SCRIPT)
        .arg(&absolute)
        .current_dir(directory)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|error| {
            let reason = match error.kind() {
                std::io::ErrorKind::NotFound => "node is not installed (or not on PATH)".to_string(),
                _ => format!("cannot run node: {error}"),
            };
            ImportError::new(format!(
                "{}: a JavaScript ecosystem file is read by evaluating it with node, and {reason}; \
                 install Node.js, or export the config as JSON (`node -e \
                 \"console.log(JSON.stringify(require('./{}')))\" > ecosystem.json`) and import that",
                path.display(),
                absolute
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ))
        })?;
    // Both pipes are read on threads so a chatty file cannot fill one and stall.
    let stdout = child.stdout.take().map(|pipe| reader(pipe, MAX_OUTPUT));
    let stderr = child.stderr.take().map(|pipe| reader(pipe, 64 << 10));
    let deadline = Instant::now() + TIMEOUT;
    let pid = child.id() as i32;
    // Polled without reaping: node's pid, and so its process group, stays ours until the group
    // is killed below.
    let finished = loop {
        match exited_unreaped(pid) {
            Ok(true) => break true,
            Ok(false) if Instant::now() >= deadline => break false,
            Ok(false) => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => {
                let _ = signal_group(pid, Signal::KILL.0);
                let _ = child.wait();
                return Err(ImportError::new(format!("waiting for node: {error}")));
            }
        }
    };
    // Whatever the file started in node's group goes too, finished or not.
    let _ = signal_group(pid, Signal::KILL.0);
    let status = match child.wait() {
        Ok(status) => finished.then_some(status),
        Err(error) => return Err(ImportError::new(format!("waiting for node: {error}"))),
    };
    let Some(status) = status else {
        let _ = child.wait();
        return Err(ImportError::new(format!(
            "{}: node did not finish evaluating it within {}s",
            path.display(),
            TIMEOUT.as_secs()
        )));
    };
    let (Some(output), Some(errors)) = (
        stdout.and_then(|handle| join(handle, deadline)),
        stderr.and_then(|handle| join(handle, deadline)),
    ) else {
        return Err(ImportError::new(format!(
            "{}: a process the file started keeps node's output open",
            path.display()
        )));
    };
    if !status.success() {
        let errors = String::from_utf8_lossy(&errors);
        // Node's report: where, the line, the error; then a stack of node's own frames.
        let report: Vec<&str> = errors
            .lines()
            .take_while(|line| !line.trim_start().starts_with("at "))
            .take(20)
            .collect();
        let last_lines = report;
        return Err(ImportError::new(format!(
            "{}: node could not evaluate it ({status}):\n{}",
            path.display(),
            last_lines.join("\n")
        )));
    }
    String::from_utf8(output)
        .map_err(|_| ImportError::new(format!("{}: node's output is not UTF-8", path.display())))
}

fn reader(pipe: impl Read + Send + 'static, limit: u64) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut pipe = pipe;
        let _ = pipe.by_ref().take(limit).read_to_end(&mut bytes);
        // Drain the rest so the writer is never blocked on a full pipe.
        let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        bytes
    })
}

/// What a reader read, once its pipe closed; `None` when it is still open a second past the
/// deadline (a process outside node's group holds it).
fn join(handle: std::thread::JoinHandle<Vec<u8>>, deadline: Instant) -> Option<Vec<u8>> {
    let last = deadline + Duration::from_secs(1);
    while !handle.is_finished() {
        if Instant::now() >= last {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    handle.join().ok()
}
