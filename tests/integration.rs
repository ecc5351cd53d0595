//! Integration tests: each one runs the real `wrangle` binary on a temporary project with real
//! processes, and checks what a user would see (output lines, exit codes) and what must not be
//! left behind (processes, held ports). The harness is in `support.rs`.

mod support;

// Stopping: Ctrl+C, SIGTERM, SIGHUP, SIGKILL of wrangle; escapees; stop timeouts.
mod stop;
