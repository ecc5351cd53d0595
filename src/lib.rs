//! wrangle: a process supervisor.
//!
//! # Theory of operation
//!
//! A `wrangle.toml` is parsed and checked by [`config`] into a [`spec::ProjectSpec`]: plain data
//! that is valid by construction. [`preflight`] then refuses to go on when another instance runs
//! for the project or a declared port is held. The [`supervisor`] runs the project: its
//! [`supervisor::engine`] is a state machine without IO that decides what to do next (spawn,
//! probe, signal, wait), and its runtime carries those decisions out through [`sys`] (the only
//! module that talks to the kernel) and [`probe`] (readiness checks). Everything that happens is
//! published as a [`supervisor::event::Event`]; front-ends such as the foreground printer in
//! [`output`] only consume events. [`cli`] parses the command line and wires it together.
//!
//! Modules are listed in reading order.

pub mod cli;
pub mod config;
pub mod exit;
pub mod output;
pub mod paths;
pub mod preflight;
pub mod probe;
pub mod spec;
pub mod supervisor;
#[allow(unsafe_code)]
pub mod sys;
#[cfg(test)]
mod test_support;
