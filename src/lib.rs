//! wrangle: a process supervisor.
//!
//! # Theory of operation
//!
//! A `wrangle.toml` is parsed and checked by [`config`] into a [`spec::ProjectSpec`]: plain data
//! that is valid by construction. [`preflight`] then refuses to go on when another instance runs
//! for the project or a declared port is held. The [`supervisor`] runs the project: its
//! [`supervisor::engine`] is a state machine without IO that decides what to do next (spawn,
//! probe, signal, wait), and its runtime carries those decisions out through [`sys`] (the only
//! module that deals with processes, signals, cgroups and `/proc`) and [`probe`] (readiness
//! checks). Everything that happens is published as a [`supervisor::event::Event`]; front-ends
//! such as the foreground printer in [`output`] only consume events. [`launch`] prepares a run
//! (config, lock, recovery, ports) for both the foreground [`cli`] and the daemon; [`cli`] parses
//! the command line and turns failures into messages and exit codes. Vocabulary several modules
//! share ([`exit`], [`human`], [`stream`], [`environment`], [`mutex`]) lives in leaf modules that
//! import nothing of the crate.
//!
//! The daemon ([`daemon`]) runs the same supervisor in the background and serves the control
//! API ([`api`]) on a private Unix socket, and optionally Prometheus metrics ([`metrics`]) on a
//! TCP address, and the web dashboard ([`dashboard`]: the same API and a web application,
//! behind a token) on another; service output goes to [`logs`]. `wrangle top` ([`top`]) is a
//! terminal UI over that API. [`export`] writes the same project as systemd units, Kubernetes
//! manifests or a Compose file.
//!
//! Modules are listed in reading order (blank lines keep rustfmt from sorting them).

// Vocabulary shared across the crate: leaves that import nothing of it.
pub mod exit;

pub mod human;

pub mod stream;

pub mod environment;

pub mod mutex;

pub mod stdout;

// What a project is.
pub mod spec;

pub mod config;

// Other tools' configs into a wrangle.toml (`wrangle import`, `wrangle init`).
pub mod import;

pub mod paths;

pub mod preflight;

// Running it.
#[allow(unsafe_code)]
pub mod sys;

pub mod probe;

pub mod supervisor;

pub mod logs;

// Front-ends.
pub mod output;

pub mod listener;

pub mod api;

pub mod metrics;

pub mod dashboard;

pub mod notify;

pub mod top;

// Launching a run (below both the daemon and the command line), the daemon, the command line.
pub mod launch;

pub mod daemon;

// Handing the project to another supervisor.
pub mod export;

pub mod cli;

#[cfg(test)]
mod test_support;
