//! Which output pipe of a service a piece of output came from.
//!
//! Vocabulary shared by the supervisor (which reads the pipes), the log store (which records the
//! stream of every read), the daemon and the foreground printer: it imports nothing of the crate.

/// A service's standard output or standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}
