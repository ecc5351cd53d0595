//! The operating-system layer: the only module that spawns, waits for, signals or inspects
//! processes, or touches cgroups and `/proc`, and the only one allowed `unsafe`. Linux only
//! (pidfd, subreaper, /proc, cgroup v2); a port to another platform replaces this module and the
//! few file, socket and terminal calls that ARCHITECTURE.md's dependency table lets other modules
//! make through rustix.

pub mod accounts;
pub mod cgroup;
pub mod child;
pub mod clean;
pub mod file;
pub mod inherit;
pub mod lock;
pub mod memory;
pub mod nofile;
pub mod pipes;
pub mod ports;
pub mod process_table;
pub mod reaper;
pub mod sampler;
pub mod sentinel;
pub mod sockets;
pub mod spawn;
pub mod stdio;
pub mod tree;
