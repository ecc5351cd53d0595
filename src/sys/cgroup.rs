//! cgroup v2, where the machine lets wrangle use it: one cgroup per service, which makes tree
//! membership and killing exact.
//!
//! # Theory of operation
//! At start, wrangle looks for the cgroup2 mount and its own cgroup (`/proc/self/cgroup`, line
//! `0::/path`) and tries to create `wrangle-<run>-ns<pid namespace>` below it. That works as root, or in a subtree
//! delegated to the user; anywhere else the `mkdir` fails and wrangle falls back to process groups
//! plus the subreaper (see [`crate::sys::tree`]), which must leave nothing behind on its own.
//!
//! Each service gets `wrangle-<run>/<service>`; the child joins it between fork and exec by
//! writing `0` to a `cgroup.procs` opened beforehand. No process can leave a cgroup without
//! privileges, so `cgroup.procs` lists the whole tree, including `setsid` escapees that cleared
//! their environment, and writing `1` to `cgroup.kill` (Linux ≥ 5.14) kills all of it at once,
//! atomically with respect to forks.
//!
//! # Caveats
//! - On a hybrid v1/v2 host the v2 hierarchy has no controllers, so it can track and kill but not
//!   limit memory: `max_memory` is then enforced by wrangle's own check alone.
//! - Directories are only removed with `rmdir`, which the kernel refuses for a cgroup that still
//!   has processes or children: nothing here can delete anything but an empty cgroup.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::sys::spawn::JoinCgroup;

/// The cgroup of one run of wrangle: `<own cgroup>/wrangle-<run>`.
#[derive(Debug)]
pub struct RunCgroup {
    path: PathBuf,
}

/// One service's cgroup.
#[derive(Debug)]
pub struct ServiceCgroup {
    path: PathBuf,
    /// The directory, for starting children right in it (`CLONE_INTO_CGROUP`).
    dir: OwnedFd,
    /// `cgroup.kill` was written (see [`ServiceCgroup::join`]).
    killed: std::cell::Cell<bool>,
    /// Opened before any spawn so the child can join with one `write` after fork (where `clone3`
    /// is not available).
    procs: File,
    /// `cgroup.procs` again, for reading: the resource monitor lists the members of every
    /// service at each sample, and `pread` on a kept descriptor costs one or two system calls
    /// where opening the file anew costs five.
    procs_read: Option<File>,
}

impl RunCgroup {
    /// Creates the run's cgroup, or explains why cgroups cannot be used here.
    pub fn create(run_name: &str) -> io::Result<RunCgroup> {
        let base = own_cgroup_dir()?;
        remove_abandoned(&base);
        let path = base.join(run_dir_name(run_name, pid_namespace()));
        fs::create_dir(&path)?;
        // A cgroup without cgroup.kill (Linux < 5.14) is not worth the complexity: fall back.
        if !path.join("cgroup.kill").exists() {
            let _ = fs::remove_dir(&path);
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "cgroup.kill is not available (Linux < 5.14)",
            ));
        }
        // Best effort: lets services' memory limits be enforced by the kernel too, where the
        // memory controller is available to us (not on a hybrid v1/v2 host, where v1 owns it).
        let _ = enable_controller(&path, "memory");
        Ok(RunCgroup { path })
    }

    /// The cgroup of a run a daemon that died left, for its successor: `path` must be a run's
    /// cgroup (`wrangle-...`) right below our own cgroup.
    pub fn adopt(path: &Path) -> io::Result<RunCgroup> {
        let base = own_cgroup_dir()?;
        let named_a_run = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("wrangle-"));
        if path.parent() != Some(base.as_path())
            || !named_a_run
            || !path.join("cgroup.kill").exists()
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a run's cgroup below ours", path.display()),
            ));
        }
        Ok(RunCgroup {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates (or reuses, after a restart) the cgroup of a service. The run's cgroup is
    /// created again if it is gone: another wrangle may have taken a successor's run, whose
    /// name carries the pid of the daemon that died, for abandoned while it was empty.
    pub fn service(&self, name: &str) -> io::Result<ServiceCgroup> {
        let path = self.path.join(sanitize(name));
        match fs::create_dir_all(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
        let dir = rustix::fs::open(
            &path,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        let procs = OpenOptions::new()
            .write(true)
            .open(path.join("cgroup.procs"))?;
        let procs_read = File::open(path.join("cgroup.procs")).ok();
        Ok(ServiceCgroup {
            path,
            dir,
            killed: std::cell::Cell::new(false),
            procs,
            procs_read,
        })
    }

    /// Enables the `cpu` controller for the services' cgroups (for `cpu_max`), when this
    /// cgroup has it available. Returns whether it is enabled.
    pub fn enable_cpu(&self) -> io::Result<bool> {
        enable_controller(&self.path, "cpu")
    }

    /// Kills every process of the run and removes the (then empty) cgroups.
    pub fn kill_and_remove(&self) {
        kill_and_remove(&self.path);
    }
}

impl ServiceCgroup {
    /// How a child starts in this cgroup (see [`crate::sys::spawn::SpawnRequest`]). Once
    /// `cgroup.kill` was written here, not by `CLONE_INTO_CGROUP`: some kernels (seen on 6.18)
    /// kill every child cloned into a cgroup whose kill count differs from the parent's cgroup's,
    /// so a service restarted after a SIGKILL escalation would die at birth. Joining by a write
    /// to `cgroup.procs` is not affected.
    pub fn join(&self) -> JoinCgroup {
        JoinCgroup {
            dir: (!self.killed.get()).then(|| self.dir.as_raw_fd()),
            procs: self.procs.as_raw_fd(),
        }
    }

    /// The cgroup's directory was removed (see [`RunCgroup::service`]): a child cannot join it,
    /// and it must be created again.
    pub fn is_gone(&self) -> bool {
        !self.path.exists()
    }

    /// Every process in the cgroup now.
    pub fn pids(&self) -> Vec<i32> {
        let Some(file) = &self.procs_read else {
            return read_pids(&self.path);
        };
        // cgroup.procs is generated anew for each read from offset 0.
        let mut text = Vec::with_capacity(256);
        let mut chunk = [0u8; 4096];
        loop {
            match rustix::io::pread(file, &mut chunk, text.len() as u64) {
                Ok(0) => break,
                Ok(read) => text.extend_from_slice(&chunk[..read]),
                Err(rustix::io::Errno::INTR) => continue,
                // The cgroup was removed under us: read it the slow way (which finds nothing).
                Err(_) => return read_pids(&self.path),
            }
        }
        parse_pids(&String::from_utf8_lossy(&text))
    }

    /// Sets the kernel's hard memory limit of the service (`memory.max`). Returns false when
    /// the memory controller is not enabled for this cgroup (nothing to set).
    pub fn set_memory_max(&self, bytes: u64) -> io::Result<bool> {
        set_memory_max(&self.path, bytes)
    }

    /// Sets the CPU time the service may use (`cpu.max`), in millionths of one CPU: that share
    /// of each 100 ms period. Returns false when the cpu controller is not enabled for this
    /// cgroup (nothing to set).
    pub fn set_cpu_max(&self, millionths: u64) -> io::Result<bool> {
        let file = self.path.join("cpu.max");
        if !file.exists() {
            return Ok(false);
        }
        OpenOptions::new()
            .write(true)
            .open(file)?
            .write_all(cpu_max_line(millionths).as_bytes())?;
        Ok(true)
    }

    /// SIGKILLs the whole cgroup at once.
    pub fn kill(&self) -> io::Result<()> {
        self.killed.set(true);
        OpenOptions::new()
            .write(true)
            .open(self.path.join("cgroup.kill"))?
            .write_all(b"1")
    }
}

/// The run cgroup's directory name: `wrangle-<run>-ns<pid namespace inode>`. The run name starts
/// with wrangle's pid, which only means something inside that pid namespace: the suffix lets
/// [`remove_abandoned`] leave alone the runs of wranglers in other pid namespaces (containers,
/// `unshare --pid`) that share our cgroup.
fn run_dir_name(run_name: &str, namespace: Option<u64>) -> String {
    match namespace {
        Some(inode) => format!("wrangle-{run_name}-ns{inode}"),
        None => format!("wrangle-{run_name}"),
    }
}

/// The inode of our pid namespace, which identifies it; `None` when it cannot be read.
fn pid_namespace() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self/ns/pid")
        .ok()
        .map(|meta| meta.ino())
}

/// The pid of the wrangle that made run directory `name`, if the run belongs to pid namespace
/// `namespace` (ours): `wrangle-<pid>-<anything>-ns<namespace>`.
fn run_owner(name: &str, namespace: u64) -> Option<u32> {
    let rest = name.strip_prefix("wrangle-")?;
    let (run, suffix) = rest.rsplit_once("-ns")?;
    if suffix.parse::<u64>().ok()? != namespace {
        return None;
    }
    run.split('-').next()?.parse().ok()
}

/// Enables `controller` for the children of `cgroup` if the cgroup has it available. Returns
/// whether it is enabled.
fn enable_controller(cgroup: &Path, controller: &str) -> io::Result<bool> {
    let available = fs::read_to_string(cgroup.join("cgroup.controllers"))?;
    if !available.split_whitespace().any(|name| name == controller) {
        return Ok(false);
    }
    OpenOptions::new()
        .write(true)
        .open(cgroup.join("cgroup.subtree_control"))?
        .write_all(format!("+{controller}").as_bytes())?;
    Ok(true)
}

/// The period of `cpu.max`, in microseconds (the kernel's default).
const CPU_PERIOD_MICROS: u64 = 100_000;

/// `cpu.max`'s line for a limit in millionths of one CPU: `"$QUOTA $PERIOD"`, the quota at
/// least the kernel's minimum of 1 ms.
fn cpu_max_line(millionths: u64) -> String {
    let quota = (millionths.saturating_mul(CPU_PERIOD_MICROS) / 1_000_000).max(1_000);
    format!("{quota} {CPU_PERIOD_MICROS}")
}

/// Writes `memory.max` of `cgroup`, when the file exists (the controller is enabled).
fn set_memory_max(cgroup: &Path, bytes: u64) -> io::Result<bool> {
    let file = cgroup.join("memory.max");
    if !file.exists() {
        return Ok(false);
    }
    OpenOptions::new()
        .write(true)
        .open(file)?
        .write_all(bytes.to_string().as_bytes())?;
    Ok(true)
}

/// Removes the empty cgroups of runs whose wrangle is gone (one killed together with its
/// sentinel leaves them behind). Only runs of our own pid namespace are considered, since a pid
/// means nothing across namespaces; of those, a run of a live pid is never touched, nor one with
/// a process in any of its cgroups (a successor daemon's run keeps the name, and so the pid, of
/// the daemon that died: its services that are between two runs have empty cgroups it still
/// uses), and `rmdir` itself refuses any cgroup that still has a process or a child, so no
/// running process can be affected.
fn remove_abandoned(base: &Path) {
    let Some(namespace) = pid_namespace() else {
        return;
    };
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|name| run_owner(name, namespace)) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let run_path = entry.path();
        let children: Vec<PathBuf> = fs::read_dir(&run_path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|child| child.path())
            .filter(|path| path.is_dir())
            .collect();
        if children.iter().any(|child| !read_pids(child).is_empty()) {
            continue;
        }
        for child in children {
            let _ = fs::remove_dir(child);
        }
        let _ = fs::remove_dir(run_path);
    }
}

/// Kills everything under `run_path` and removes the cgroups once empty (bounded wait). Used at
/// the end of a run and by the sentinel after wrangle died.
pub fn kill_and_remove(run_path: &Path) {
    let Ok(entries) = fs::read_dir(run_path) else {
        return;
    };
    // The entry's type comes with the listing (no `stat` per service).
    let children: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect();
    if let Ok(mut kill) = OpenOptions::new()
        .write(true)
        .open(run_path.join("cgroup.kill"))
    {
        let _ = kill.write_all(b"1");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    for path in children
        .iter()
        .chain(std::iter::once(&run_path.to_path_buf()))
    {
        // rmdir fails with EBUSY until the last process has fully exited.
        while fs::remove_dir(path).is_err() && path.exists() && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

/// Every process in any service cgroup of the run at `run_path` (of a live or dead wrangle).
pub fn run_pids(run_path: &Path) -> Vec<i32> {
    fs::read_dir(run_path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .flat_map(|path| read_pids(&path))
        .collect()
}

fn read_pids(path: &Path) -> Vec<i32> {
    fs::read_to_string(path.join("cgroup.procs"))
        .map(|text| parse_pids(&text))
        .unwrap_or_default()
}

fn parse_pids(text: &str) -> Vec<i32> {
    text.lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// `<cgroup2 mount><own cgroup path>`.
fn own_cgroup_dir() -> io::Result<PathBuf> {
    let mount = cgroup2_mount()?;
    let own = fs::read_to_string("/proc/self/cgroup")?;
    let relative = own
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no cgroup v2 entry in /proc/self/cgroup",
            )
        })?;
    Ok(mount.join(relative.trim_start_matches('/')))
}

/// The mount point of the cgroup2 filesystem, from /proc/self/mountinfo.
fn cgroup2_mount() -> io::Result<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    mountinfo
        .lines()
        .find_map(|line| {
            // Fields: id parent major:minor root mount-point options ... - fstype source options
            let (before, after) = line.split_once(" - ")?;
            let fstype = after.split_whitespace().next()?;
            (fstype == "cgroup2")
                .then(|| before.split_whitespace().nth(4).map(unescape_mount_path))?
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no cgroup2 filesystem is mounted"))
}

/// mountinfo escapes spaces and a few other bytes as `\ooo`.
fn unescape_mount_path(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\'
            && index + 3 < bytes.len()
            && bytes[index + 1..index + 4].iter().all(u8::is_ascii_digit)
        {
            let octal = std::str::from_utf8(&bytes[index + 1..index + 4])
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok());
            if let Some(byte) = octal {
                out.push(byte);
                index += 4;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// Service names are already restricted by the config, but a cgroup name must never contain a
/// path separator or be `.`/`..`, whatever produced it.
fn sanitize(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("svc-{cleaned}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_is_a_quota_of_a_100ms_period() {
        assert_eq!(cpu_max_line(500_000), "50000 100000");
        assert_eq!(cpu_max_line(1_500_000), "150000 100000");
        // 0.5% would be 500 µs, below the kernel's minimum.
        assert_eq!(cpu_max_line(5_000), "1000 100000");
    }

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(
            unescape_mount_path("/sys/fs/cgroup"),
            PathBuf::from("/sys/fs/cgroup")
        );
        assert_eq!(
            unescape_mount_path("/mnt/with\\040space"),
            PathBuf::from("/mnt/with space")
        );
    }

    #[test]
    fn cgroup_names_cannot_traverse() {
        assert_eq!(sanitize("api"), "svc-api");
        assert_eq!(sanitize("../etc"), "svc-___etc");
        assert_eq!(sanitize("web.v2"), "svc-web_v2");
    }

    #[test]
    fn empty_cgroups_of_dead_runs_are_removed_and_live_ones_kept() {
        // Needs a writable cgroup v2 (root here); elsewhere there is nothing to test.
        let Ok(base) = own_cgroup_dir() else { return };
        let Some(namespace) = pid_namespace() else {
            return;
        };
        let dead = base.join(run_dir_name(
            &format!("{}-test-dead", u32::MAX - 7),
            Some(namespace),
        ));
        let alive = base.join(run_dir_name(
            &format!("{}-test-alive", std::process::id()),
            Some(namespace),
        ));
        // A run of another pid namespace whose pid means nothing here: never ours to judge.
        let foreign = base.join(run_dir_name(
            &format!("{}-test-foreign", u32::MAX - 9),
            Some(namespace.wrapping_add(1)),
        ));
        if fs::create_dir(&dead).is_err() {
            return;
        }
        fs::create_dir(dead.join("svc-a")).expect("child cgroup");
        fs::create_dir(&alive).expect("live run cgroup");
        fs::create_dir(&foreign).expect("foreign run cgroup");
        remove_abandoned(&base);
        let dead_gone = !dead.exists();
        let alive_kept = alive.exists();
        let foreign_kept = foreign.exists();
        let _ = fs::remove_dir(&alive);
        let _ = fs::remove_dir(&foreign);
        assert!(dead_gone, "the dead run's empty cgroups were left");
        assert!(alive_kept, "a live run's cgroup was removed");
        assert!(foreign_kept, "another pid namespace's run was removed");
    }

    /// The kernel's side cannot be exercised on a host whose memory controller belongs to
    /// cgroup v1 (as here); the files wrangle reads and writes are checked in a plain directory.
    #[test]
    fn a_cgroup_once_killed_is_joined_by_writing_its_procs_not_by_clone() {
        // A stand-in directory: only the files that `service` and `kill` open.
        let dir = tempfile::tempdir().expect("tempdir");
        let run = RunCgroup {
            path: dir.path().to_path_buf(),
        };
        fs::create_dir(dir.path().join("svc-a")).expect("mkdir");
        for file in ["cgroup.procs", "cgroup.kill"] {
            fs::write(dir.path().join("svc-a").join(file), "").expect("write");
        }
        let cgroup = run.service("a").expect("service");
        assert!(cgroup.join().dir.is_some());
        cgroup.kill().expect("kill");
        let join = cgroup.join();
        assert_eq!(join.dir, None);
        assert_eq!(join.procs, cgroup.procs.as_raw_fd());
    }

    #[test]
    fn memory_controller_is_enabled_and_limited_only_where_available() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cgroup = dir.path();
        fs::write(cgroup.join("cgroup.controllers"), "cpu io pids\n").unwrap();
        fs::write(cgroup.join("cgroup.subtree_control"), "").unwrap();
        assert!(!enable_controller(cgroup, "memory").unwrap());
        assert_eq!(
            fs::read_to_string(cgroup.join("cgroup.subtree_control")).unwrap(),
            ""
        );
        fs::write(cgroup.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        assert!(enable_controller(cgroup, "memory").unwrap());
        assert_eq!(
            fs::read_to_string(cgroup.join("cgroup.subtree_control")).unwrap(),
            "+memory"
        );
        assert!(!set_memory_max(cgroup, 1 << 20).unwrap());
        fs::write(cgroup.join("memory.max"), "max\n").unwrap();
        assert!(set_memory_max(cgroup, 1 << 20).unwrap());
        assert_eq!(
            fs::read_to_string(cgroup.join("memory.max")).unwrap(),
            "1048576"
        );
    }

    #[test]
    fn run_owners_are_read_only_for_our_namespace() {
        assert_eq!(
            run_owner("wrangle-42-1f2e-ns4026531836", 4026531836),
            Some(42)
        );
        assert_eq!(run_owner("wrangle-42-1f2e-ns4026531836", 4026531837), None);
        assert_eq!(run_owner("wrangle-42-1f2e", 4026531836), None);
        assert_eq!(run_owner("other-42-ns1", 1), None);
        assert_eq!(run_owner("wrangle-x-ns1", 1), None);
    }
}
