//! The daemon's record of what it runs (`state.json`), and recovery when a daemon died without
//! cleaning up.
//!
//! # Theory of operation
//! While it runs, the daemon keeps `state.json` up to date: its own pid and start time, the run
//! token its services carry in their environment, its cgroup, and for each live service the
//! leader's pid, start time and process group. It is rewritten whenever a leader appears; a
//! change that only removes leaders keeps the older record, a superset that recovery handles the
//! same way (a leader that is gone matches no live process). Writes are atomic (temporary file, rename) and 0600,
//! done on a background thread so a slow disk never delays supervision; they are not synced,
//! since the record is for a dead daemon on a live machine (a crash of the machine ends the
//! services too). A clean shutdown
//! removes the file. So a `state.json` found while nobody holds the project lock means a daemon
//! died without stopping its services.
//!
//! Recovery first lets the dead daemon's sentinel finish, if it still runs (it is stopping the
//! run, and as the subreaper above the daemon it sees every process of it; see `sys::sentinel`),
//! and reads the report it leaves (`sentinel.report`). Then it proves which processes are still
//! ours — a recorded leader counts only if its pid, start time *and* process group all match (a
//! reused pid matches none of the three), and any other process only if it carries the recorded
//! run token or sits in the recorded cgroup — and stops them cleanly: SIGTERM through a verified
//! pidfd, SIGKILL after a grace period. It says "none of its processes is left" only when that
//! is known: the sentinel finished its work, or the run had a cgroup (which holds every member);
//! otherwise it says what it looked for. The record is kept as `state.json.previous` for
//! inspection. A corrupt or truncated record is set aside as `state.json.corrupt-<time>` with a
//! warning, never a crash.
//!
//! A daemon that dies while its sentinel lives is replaced by a successor that reads this record
//! to take the services over ([`read`]; see `sys::sentinel`); the sentinel holds the project
//! lock meanwhile, so recovery never runs then. Survivors for recovery only exist when the
//! sentinel died too (or stopped the run and something escaped it): a clean stop then restores a
//! known state, which a fresh `up -d` builds on. Nothing is lost on the way: the record says what
//! ran, the log files hold the output, and the next command reports what it found and did.
//!
//! **Invariant:** recovery only ever runs while holding the project lock, so it can never mistake
//! a live daemon's record for a dead one's.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::mutex::lock;
use crate::paths::{Durability, write_private_file};
use crate::sys::process_table::{self, ProcessInfo};
use crate::sys::sentinel::report::Report;
use crate::sys::tree::{self, RUN_VAR};

/// One live service instance as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// How `ps` names it (`web`, `web:2`).
    pub name: String,
    /// For a successor taking it over: the service, the instance's number and its tree's
    /// generation (which names the output pipes the sentinel holds), and whether it was ready.
    pub service: String,
    pub instance: u32,
    pub generation: u64,
    pub ready: bool,
    pub pid: i32,
    pub start_time: u64,
    pub pgid: i32,
    pub restarts: u32,
    pub ports: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonRecord {
    pub daemon_pid: i32,
    pub daemon_start_time: u64,
    pub run_token: String,
    pub cgroup: Option<PathBuf>,
    /// The sentinel above the daemon (pid, start time), when there is one.
    pub sentinel: Option<(i32, u64)>,
    pub services: Vec<ServiceRecord>,
}

impl DaemonRecord {
    fn to_json(&self) -> Value {
        json!({
            "version": 1,
            "daemon_pid": self.daemon_pid,
            "daemon_start_time": self.daemon_start_time,
            "run_token": self.run_token,
            "cgroup": self.cgroup.as_ref().map(|path| path.display().to_string()),
            "sentinel_pid": self.sentinel.map(|(pid, _)| pid),
            "sentinel_start_time": self.sentinel.map(|(_, start_time)| start_time),
            "services": self.services.iter().map(|service| json!({
                "name": service.name,
                "service": service.service,
                "instance": service.instance,
                "generation": service.generation,
                "ready": service.ready,
                "pid": service.pid,
                "start_time": service.start_time,
                "pgid": service.pgid,
                "restarts": service.restarts,
                "ports": service.ports,
            })).collect::<Vec<_>>(),
        })
    }

    /// Parses a record; `None` for anything that is not a complete version-1 record.
    fn from_json(value: &Value) -> Option<DaemonRecord> {
        if value.get("version")?.as_u64()? != 1 {
            return None;
        }
        let services = value
            .get("services")?
            .as_array()?
            .iter()
            .map(|service| {
                let name = service.get("name")?.as_str()?.to_string();
                Some(ServiceRecord {
                    // Absent from records of daemons before successors existed.
                    service: service
                        .get("service")
                        .and_then(Value::as_str)
                        .map_or_else(|| name.clone(), str::to_string),
                    instance: service
                        .get("instance")
                        .and_then(Value::as_u64)
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(1),
                    generation: service
                        .get("generation")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    ready: service
                        .get("ready")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    name,
                    pid: i32::try_from(service.get("pid")?.as_i64()?).ok()?,
                    start_time: service.get("start_time")?.as_u64()?,
                    pgid: i32::try_from(service.get("pgid")?.as_i64()?).ok()?,
                    restarts: service
                        .get("restarts")
                        .and_then(Value::as_u64)
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(0),
                    ports: service
                        .get("ports")
                        .and_then(Value::as_array)
                        .map(|ports| {
                            ports
                                .iter()
                                .filter_map(|port| u16::try_from(port.as_u64()?).ok())
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(DaemonRecord {
            daemon_pid: i32::try_from(value.get("daemon_pid")?.as_i64()?).ok()?,
            daemon_start_time: value.get("daemon_start_time")?.as_u64()?,
            run_token: value.get("run_token")?.as_str()?.to_string(),
            cgroup: value.get("cgroup")?.as_str().map(PathBuf::from),
            // Absent from records of daemons that had their sentinel beside them.
            sentinel: value
                .get("sentinel_pid")
                .and_then(Value::as_i64)
                .and_then(|pid| i32::try_from(pid).ok())
                .zip(value.get("sentinel_start_time").and_then(Value::as_u64)),
            services,
        })
    }
}

/// Writes records on a background thread; when records come faster than the disk, only the
/// latest is written.
pub struct StateWriter {
    /// `None` asks the thread to remove the record and end.
    sender: Mutex<Option<mpsc::Sender<Option<DaemonRecord>>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    path: PathBuf,
}

impl StateWriter {
    pub fn start(path: PathBuf) -> std::io::Result<StateWriter> {
        let (sender, receiver) = mpsc::channel::<Option<DaemonRecord>>();
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("wrangle-state".into())
            .spawn(move || {
                while let Ok(mut message) = receiver.recv() {
                    // Skip to the newest record: older ones are already out of date.
                    while let Ok(newer) = receiver.try_recv() {
                        message = newer;
                    }
                    let Some(record) = message else {
                        // `finish`: after every pending write, since messages come in order.
                        let _ = std::fs::remove_file(&thread_path);
                        return;
                    };
                    let text = record.to_json().to_string();
                    // Not synced: the record serves the next command after this daemon dies,
                    // and a process's death keeps what it wrote (the page cache is the
                    // kernel's). Only a crash of the machine loses it, and that ends every
                    // service too: a record left half-written then is set aside as corrupt.
                    // An fsync per restart of a crash-looping service cost disk writes and CPU.
                    let written =
                        write_private_file(&thread_path, text.as_bytes(), Durability::Unsynced);
                    if let Err(error) = written {
                        eprintln!("warning: cannot record the daemon's state: {error}");
                    }
                }
            })?;
        Ok(StateWriter {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            path,
        })
    }

    pub fn record(&self, record: DaemonRecord) {
        if let Some(sender) = lock(&self.sender).as_ref() {
            let _ = sender.send(Some(record));
        }
    }

    /// Has the record removed once the pending writes are done: the daemon stopped everything
    /// itself. Later records are ignored. Returns at once; [`StateWriter::finished`] waits.
    pub fn finish(&self) {
        if let Some(sender) = lock(&self.sender).take() {
            let _ = sender.send(None);
        }
    }

    /// [`StateWriter::finish`], and waits until the record is gone.
    pub fn finished(&self) {
        self.finish();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
        // The thread removes it; this covers a thread that died (a write that panicked).
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `record` names a leader (pid, start time and process group) that `written` does not,
/// or one that has become ready since: only then must the state file be rewritten. A record that
/// only lacks leaders of `written` is covered by it, since recovery ignores recorded leaders
/// that no longer live, and so does a successor (see `sys::sentinel`).
pub fn names_new_leader(written: &[ServiceRecord], record: &[ServiceRecord]) -> bool {
    record.iter().any(|service| {
        !written.iter().any(|old| {
            old.pid == service.pid
                && old.start_time == service.start_time
                && old.pgid == service.pgid
                && old.ready == service.ready
        })
    })
}

/// Where the sentinel above the daemon recorded `state_file` writes its report.
pub fn sentinel_report_path(state_file: &Path) -> PathBuf {
    state_file.with_file_name("sentinel.report")
}

/// How long recovery waits for a dead daemon's sentinel to finish stopping the run: its longest
/// grace, its SIGKILL rounds, and a margin.
const SENTINEL_WAIT: Duration = Duration::from_secs(25);

/// What recovery found and did, for the user.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The dead daemon's pid, when there was a record.
    pub daemon_pid: Option<i32>,
    /// What the daemon's sentinel stopped, when it finished and said so.
    pub sentinel_stopped: Option<Vec<(i32, String)>>,
    /// Leftover processes that were proven ours and stopped.
    pub stopped: Vec<(i32, String)>,
    /// Whether every process of the run could be found: the sentinel finished, or the run had a
    /// cgroup. Otherwise only recorded leaders and processes carrying the run token could.
    pub complete: bool,
    /// Where a corrupt record was set aside.
    pub corrupt_kept_as: Option<PathBuf>,
}

impl Recovery {
    /// The message to show, if anything happened.
    pub fn message(&self) -> Option<String> {
        if let Some(kept) = &self.corrupt_kept_as {
            return Some(format!(
                "warning: the daemon's state file was unreadable; it was kept as {} for inspection",
                kept.display()
            ));
        }
        let pid = self.daemon_pid?;
        let mut text =
            format!("warning: the previous daemon (PID {pid}) ended without stopping its services");
        if !self.stopped.is_empty() {
            text.push_str(&format!(
                "; stopped {} leftover process(es):",
                self.stopped.len()
            ));
            for (pid, command) in &self.stopped {
                text.push_str(&format!("\n  PID {pid}: {command}"));
            }
            if !self.complete {
                text.push_str(
                    "\n  (with neither a cgroup nor its sentinel, a process that cleared its environment and left its session cannot be found)",
                );
            }
        } else if self.complete {
            text.push_str("; none of its processes is left");
        } else {
            text.push_str(
                "; no process carrying its run token is left (with neither a cgroup nor its sentinel, a process that cleared its environment and left its session cannot be found)",
            );
        }
        for (pid, command) in self.sentinel_stopped.iter().flatten() {
            text.push_str(&format!("\n  its sentinel stopped PID {pid}: {command}"));
        }
        Some(text)
    }
}

/// The record in `state_file`, if it holds a valid one (for a daemon taking over the run).
pub fn read(state_file: &Path) -> Option<DaemonRecord> {
    let text = std::fs::read(state_file).ok()?;
    serde_json::from_slice::<Value>(&text)
        .ok()
        .as_ref()
        .and_then(DaemonRecord::from_json)
}

/// Recovers from a daemon that died, if `state_file` says one did. The caller must hold the
/// project lock (see the module's invariant).
pub fn recover(state_file: &Path) -> Recovery {
    let text = match std::fs::read(state_file) {
        Ok(text) => text,
        Err(_) => return Recovery::default(),
    };
    let record = serde_json::from_slice::<Value>(&text)
        .ok()
        .as_ref()
        .and_then(DaemonRecord::from_json);
    let report_path = sentinel_report_path(state_file);
    let Some(record) = record else {
        let kept = state_file.with_extension(format!("json.corrupt-{}", unix_seconds()));
        let _ = std::fs::rename(state_file, &kept);
        let _ = std::fs::remove_file(&report_path);
        return Recovery {
            corrupt_kept_as: Some(kept),
            ..Recovery::default()
        };
    };
    // The daemon's sentinel may still be stopping the run: it sees all of it, so let it finish.
    if let Some((pid, start_time)) = record.sentinel {
        tree::wait_gone(tree::ProcessId { pid, start_time }, SENTINEL_WAIT);
    }
    let report = Report::read(&report_path).filter(|report| {
        report.daemon_pid == record.daemon_pid
            && report.daemon_start_time == record.daemon_start_time
    });
    let _ = std::fs::remove_file(&report_path);
    let leftovers = leftovers(&record);
    let stopped = stop(&leftovers);
    if let Some(cgroup) = &record.cgroup {
        crate::sys::cgroup::kill_and_remove(cgroup);
    }
    let _ = std::fs::rename(state_file, state_file.with_extension("json.previous"));
    Recovery {
        daemon_pid: Some(record.daemon_pid),
        complete: report.is_some() || record.cgroup.is_some(),
        sentinel_stopped: report.map(|report| report.stopped),
        stopped,
        corrupt_kept_as: None,
    }
}

/// Every live process proven to belong to the dead daemon's run.
fn leftovers(record: &DaemonRecord) -> Vec<ProcessInfo> {
    let table = process_table::scan();
    let cgroup_pids: Vec<i32> = record
        .cgroup
        .iter()
        .flat_map(|path| crate::sys::cgroup::run_pids(path))
        .collect();
    let own_pid = std::process::id() as i32;
    table
        .into_iter()
        .filter(|info| info.state != 'Z' && info.pid != own_pid)
        .filter(|info| {
            let recorded_leader = record.services.iter().any(|service| {
                service.pid == info.pid
                    && service.start_time == info.start_time
                    && service.pgid == info.pgid
            });
            recorded_leader
                || cgroup_pids.contains(&info.pid)
                || process_table::environ_var(info.pid, RUN_VAR).as_deref()
                    == Some(record.run_token.as_str())
        })
        .collect()
}

/// SIGTERM, a grace period, then SIGKILL; returns what was stopped.
fn stop(leftovers: &[ProcessInfo]) -> Vec<(i32, String)> {
    let described: Vec<(i32, String)> = leftovers
        .iter()
        .map(|info| {
            (
                info.pid,
                process_table::cmdline(info.pid).unwrap_or_else(|| info.comm.clone()),
            )
        })
        .collect();
    tree::signal_all(leftovers, crate::spec::Signal::TERM.0);
    let deadline = Instant::now() + Duration::from_secs(5);
    let alive = |info: &ProcessInfo| {
        process_table::process(info.pid)
            .is_some_and(|now| now.start_time == info.start_time && now.state != 'Z')
    };
    while Instant::now() < deadline && leftovers.iter().any(alive) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let remaining: Vec<ProcessInfo> = leftovers
        .iter()
        .filter(|info| alive(info))
        .cloned()
        .collect();
    tree::signal_all(&remaining, crate::spec::Signal::KILL.0);
    described
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;
    use crate::test_support::ChildGuard;

    fn record(services: Vec<ServiceRecord>, token: &str) -> DaemonRecord {
        DaemonRecord {
            daemon_pid: 999_999,
            daemon_start_time: 1,
            run_token: token.into(),
            cgroup: None,
            sentinel: None,
            services,
        }
    }

    #[test]
    fn records_round_trip_and_garbage_is_rejected() {
        let original = record(
            vec![ServiceRecord {
                name: "api".into(),
                service: "api".into(),
                instance: 1,
                generation: 1,
                ready: true,
                pid: 42,
                start_time: 7,
                pgid: 42,
                restarts: 3,
                ports: vec![8080],
            }],
            "t",
        );
        assert_eq!(DaemonRecord::from_json(&original.to_json()), Some(original));
        for garbage in [
            "{}",
            "[]",
            "{\"version\":2}",
            "{\"version\":1,\"services\":[{}]}",
        ] {
            let value: Value = serde_json::from_str(garbage).expect("json");
            assert_eq!(DaemonRecord::from_json(&value), None, "{garbage}");
        }
    }

    #[test]
    fn a_corrupt_record_is_set_aside_not_trusted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{\"version\": 1, \"daemon_pid\": ").expect("write");
        let recovery = recover(&path);
        let kept = recovery.corrupt_kept_as.clone().expect("set aside");
        assert!(kept.exists() && !path.exists());
        assert!(recovery.message().expect("message").contains("kept as"));
    }

    #[test]
    fn survivors_are_proven_by_identity_and_stopped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let token = format!("test-{}", std::process::id());
        // A survivor carrying the run token, and an unrelated process with a pid we record
        // under a wrong start time (as if the pid had been reused): only the first is ours.
        let mut survivor = ChildGuard(
            Command::new("sleep")
                .arg("60")
                .env(RUN_VAR, &token)
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn"),
        );
        let mut stranger = ChildGuard(
            Command::new("sleep")
                .arg("60")
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn"),
        );
        let stranger_pid = stranger.0.id() as i32;
        let stranger_info = process_table::process(stranger_pid).expect("stranger");
        let reused = ServiceRecord {
            name: "old".into(),
            service: "old".into(),
            instance: 1,
            generation: 1,
            ready: true,
            pid: stranger_pid,
            start_time: stranger_info.start_time + 1,
            pgid: stranger_info.pgid,
            restarts: 0,
            ports: Vec::new(),
        };
        // Let the survivor finish exec so its environment is readable.
        assert!(crate::test_support::wait_for(|| {
            process_table::environ_var(survivor.0.id() as i32, RUN_VAR).is_some()
        }));
        write_private_file_for_test(&path, &record(vec![reused], &token));
        let recovery = recover(&path);
        assert_eq!(recovery.daemon_pid, Some(999_999));
        assert_eq!(
            recovery
                .stopped
                .iter()
                .map(|(pid, _)| *pid)
                .collect::<Vec<_>>(),
            vec![survivor.0.id() as i32]
        );
        assert!(
            survivor.0.wait().expect("wait").code().is_none(),
            "the survivor was signalled"
        );
        assert!(
            stranger.0.try_wait().expect("try_wait").is_none(),
            "the stranger was not touched"
        );
        assert!(path.with_extension("json.previous").exists());
        assert!(
            recovery
                .message()
                .expect("message")
                .contains("stopped 1 leftover")
        );
    }

    #[test]
    fn only_a_new_leader_makes_a_new_record() {
        let leader = |name: &str, pid: i32, start_time: u64| ServiceRecord {
            name: name.into(),
            service: name.into(),
            instance: 1,
            generation: 1,
            ready: true,
            pid,
            start_time,
            pgid: pid,
            restarts: 0,
            ports: Vec::new(),
        };
        let written = vec![leader("a", 10, 1), leader("b", 11, 1)];
        // Leaders that exited: the written record still covers every live one.
        assert!(!names_new_leader(&written, &[leader("b", 11, 1)]));
        assert!(!names_new_leader(&written, &[]));
        // A restart (new pid), or the same pid reused by a new process (new start time).
        assert!(names_new_leader(&written, &[leader("a", 12, 5)]));
        assert!(names_new_leader(&written, &[leader("a", 10, 9)]));
        assert!(names_new_leader(&[], &[leader("a", 10, 1)]));
    }

    #[test]
    fn finish_writes_what_is_pending_then_removes_the_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let writer = StateWriter::start(path.clone()).expect("start");
        writer.record(record(Vec::new(), "t"));
        writer.finish();
        // Ignored: the run is over.
        writer.record(record(Vec::new(), "late"));
        writer.finished();
        assert!(!path.exists());
        assert!(
            std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
            "no temporary file left"
        );
    }

    fn write_private_file_for_test(path: &Path, record: &DaemonRecord) {
        std::fs::write(path, record.to_json().to_string()).expect("write");
    }
}
