//! Running a project: the lifecycle engine, and the runtime that carries out its decisions with
//! real processes, probes and timers.

pub mod engine;
pub mod event;
pub mod graph;
pub mod lines;
pub mod monitor;
pub mod runtime;
pub mod schedule;
pub mod session;
pub mod watch;
