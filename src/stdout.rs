//! Writing a command's answer to standard output. A reader that went away (`wrangle ps | head`)
//! ends the command quietly with exit 0, as it ends `cat`; any other failure to write (a full
//! disk behind a redirect) is said on standard error and ends it with exit 1. Never a panic,
//! which is what `println!` does on both: `clippy.toml` therefore refuses `print!` and
//! `println!` in this crate.
//!
//! Only for commands (and the daemon's first words, relayed to `up -d` before anything runs),
//! which have nothing left to do once nobody reads their answer: a foreground `up` prints
//! through `crate::output`, which goes quiet instead and carries on.

use std::fmt::Display;
use std::io::{self, Write};

use crate::exit;

/// Writes `text` and a newline.
pub fn line(text: impl Display) {
    write(format_args!("{text}\n"));
}

/// Writes `text` as it is.
pub fn text(text: impl Display) {
    write(format_args!("{text}"));
}

fn write(arguments: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let Err(error) = out.write_fmt(arguments).and_then(|()| out.flush()) else {
        return;
    };
    if error.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(exit::SUCCESS.into());
    }
    // The standard error may be gone too: nothing more can be said then.
    let _ = writeln!(
        io::stderr(),
        "wrangle: cannot write to standard output: {error}"
    );
    std::process::exit(exit::SERVICE_FAILED.into());
}
