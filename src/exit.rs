//! The process exit codes wrangle promises, in one place so every front-end maps outcomes the same
//! way. Documented in README.md; scripts depend on them.

/// Everything went as asked (including a clean stop after Ctrl+C).
pub const SUCCESS: u8 = 0;
/// A service failed: it exited during start-up, or crash-looped and was marked failed. Also: a
/// command's answer could not be written to standard output (other than to a reader that left).
pub const SERVICE_FAILED: u8 = 1;
/// Invalid usage or configuration; nothing was started.
pub const INVALID: u8 = 2;
/// A readiness probe did not pass within its timeout; what was started has been stopped.
pub const NOT_READY: u8 = 3;
/// Pre-flight refused: another instance runs for this project, a declared port is held, or the
/// `[metrics]` or `[dashboard]` address cannot be bound.
pub const PREFLIGHT_REFUSED: u8 = 4;
