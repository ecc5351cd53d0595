//! Variables of wrangle's own environment that must never reach a child.
//!
//! A service manager (systemd, or wrangle itself for a nested wrangle) describes the process it
//! starts through these: where to say `READY=1`, which sockets were passed, the watchdog. They
//! describe wrangle, not its services, so every child wrangle starts (services, exec probes,
//! notification commands) runs without them; wrangle sets its own where a service needs one.
//! Imports nothing of the crate.

/// Where a service manager listens for `READY=1` (sd_notify(3)).
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// The service-manager protocol variables dropped from every child's inherited environment.
pub const MANAGER_VARIABLES: [&str; 6] = [
    NOTIFY_SOCKET,
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
];
