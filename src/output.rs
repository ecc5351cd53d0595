//! What a human sees from `wrangle up` in the foreground: every service's output prefixed with
//! its name, wrangle's own messages, and a live progress line at the bottom of a terminal.
//!
//! This module owns rendering (the [`Printer`], its palette in `style`) and the framing of a
//! service's byte stream into bounded lines ([`LineSplitter`]). It makes no decisions: it never
//! reads pipes, never looks at processes, and prints only what it is handed. A failure to write
//! (stdout piped into `head`) is never an error for the caller and never a panic: the printer
//! goes quiet, and the supervisor carries on shutting services down properly.

mod lines;
mod printer;
mod style;

pub use lines::LineSplitter;
pub use printer::{Printer, Stream, Tone};
