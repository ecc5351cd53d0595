//! `wrangle up -d`: start the project's daemon and stay with it until it is up.
//!
//! We start the daemon's sentinel (`wrangle __sentinel --daemon`, see `sys::sentinel`) in its
//! own session, with its stdout and stderr on pipes to us and no other descriptor of ours (a lock
//! the caller holds must not be held by the daemon and every service until `down`). The sentinel
//! starts the daemon (`wrangle __daemon`) below it, with the same stdout and stderr. The daemon
//! does everything a foreground `up` does (config, lock, ports, start-up) and prints the same
//! output, which we relay. When every service is up it prints [`DETACHED_MARKER`] and points its
//! output at its log file, and the sentinel lets go of the pipes: we see end-of-file and return
//! 0. When start-up fails the daemon stops everything and exits with the same code a foreground
//! `up` would (1, 2, 3 or 4); the sentinel exits with that code, which we return.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use crate::exit;
use crate::launch::DETACHED_MARKER;
use crate::sys::spawn::spawn_detached;

pub fn start_daemon(
    file: Option<PathBuf>,
    services: &[String],
    clean: bool,
    output: &crate::cli::OutputArgs,
) -> u8 {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("error: cannot find wrangle's own executable: {error}");
            return exit::SERVICE_FAILED;
        }
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut argv = vec![
        exe.to_string_lossy().into_owned(),
        crate::sys::sentinel::COMMAND.to_string(),
        crate::sys::sentinel::DAEMON_OPTION.to_string(),
    ];
    if let Some(file) = file {
        argv.push("-f".to_string());
        argv.push(cwd.join(file).to_string_lossy().into_owned());
    }
    // Service output reaches our terminal through us: the daemon renders it as we would.
    argv.extend(output.relayed(std::io::IsTerminal::is_terminal(&std::io::stdout())));
    if clean {
        argv.push("--clean".to_string());
    }
    argv.push("--".to_string());
    argv.extend(services.iter().cloned());
    // The daemon's output is a pipe, so it would choose no colour; decide for it as we would.
    let color = crate::output::Printer::color_wanted(
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
        |key| std::env::var(key).ok(),
    );
    let env = if color {
        vec![("CLICOLOR_FORCE".to_string(), "1".to_string())]
    } else {
        Vec::new()
    };
    let (mut child, output, errors) = match spawn_detached(&argv, &cwd, &env) {
        Ok(spawned) => spawned,
        Err(error) => {
            eprintln!("error: cannot start the daemon: {error}");
            return exit::SERVICE_FAILED;
        }
    };
    // Errors go to our stderr as they would from a foreground `up`; a thread relays them while
    // this one relays the output.
    let relay_errors = std::thread::spawn(move || {
        let _ = std::io::copy(&mut BufReader::new(errors), &mut std::io::stderr());
    });
    let mut detached_pid = None;
    let stdout = std::io::stdout();
    for line in BufReader::new(output).split(b'\n') {
        let Ok(line) = line else { break };
        if let Some(pid) = line.strip_prefix(DETACHED_MARKER.as_bytes()) {
            detached_pid = String::from_utf8_lossy(pid).trim().parse::<u32>().ok();
            continue;
        }
        let mut out = stdout.lock();
        let _ = out.write_all(&line);
        let _ = out.write_all(b"\n");
    }
    // After detaching, the daemon's stderr is its log file and the sentinel's /dev/null: our end
    // is at end-of-file too.
    let _ = relay_errors.join();
    match detached_pid {
        Some(pid) => {
            println!(
                "wrangle  * running in the background (daemon PID {pid}): `wrangle ps` to see it, `wrangle logs -f` to follow, `wrangle down` to stop"
            );
            exit::SUCCESS
        }
        None => match child.wait() {
            Ok(status) => status
                .code()
                .and_then(|code| u8::try_from(code).ok())
                .unwrap_or(exit::SERVICE_FAILED),
            Err(error) => {
                eprintln!("error: lost track of the daemon's sentinel: {error}");
                exit::SERVICE_FAILED
            }
        },
    }
}
