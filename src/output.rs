//! What a human sees from `wrangle up` in the foreground: every service's output prefixed with
//! its name, wrangle's own messages, and a live progress line at the bottom of a terminal.
//!
//! This module owns rendering (the [`Printer`], its palette in `style`, what a service's control
//! characters may do to a terminal in `controls`) and the [`Reporter`] that
//! turns supervisor events into messages. It makes no decisions: it never
//! reads pipes, never looks at processes, and prints only what it is handed. A failure to write
//! (stdout piped into `head`) is never an error for the caller and never a panic: the printer
//! goes quiet, and the supervisor carries on shutting services down properly.

pub mod controls;
mod printer;
pub mod reporter;
mod style;

pub use controls::Controls;
pub use printer::{Printer, Tone, numbered};
pub use reporter::Reporter;
