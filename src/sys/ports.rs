//! Who holds a TCP port: listening sockets from `/proc/net/tcp{,6}`, mapped to processes through
//! the `socket:[INODE]` links in `/proc/PID/fd`, plus a bind test for what `/proc` cannot show.
//!
//! This module owns finding port holders and telling whether a port is free. It only observes:
//! it never signals a holder, and its bind test closes the socket at once. It does not run `ss`,
//! `lsof` or a shell.
//!
//! # Caveats
//!
//! - `/proc/net/tcp` lists the sockets of *our* network namespace only; a port published by a
//!   container runtime shows up as its proxy process, if any.
//! - The fds of another user's processes are unreadable without privileges. Their sockets are
//!   still listed (with the uid from `/proc/net/tcp`) but with no pid.
//! - Processes and sockets come and go while we read; anything that vanishes is skipped.
//! - Reading `/proc/net/tcp{,6}` walks the kernel's whole socket hash tables, however few
//!   sockets there are: about 10 ms per file on a 2-vCPU VM, so a `listeners_of` call costs
//!   ~20 ms plus the fd scan when a port is held. Fine for pre-flight and restarts; if it ever
//!   is not, `NETLINK_SOCK_DIAG` with a LISTEN + port filter (what `ss` uses) is the fast path.
//! - Only the fd table of each thread-group leader is read. A thread that unshared its fd table
//!   (rare: `clone` without `CLONE_FILES`) and holds a socket alone is reported without a pid.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use crate::sys::process_table;

/// One holder of a listening socket on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortHolder {
    /// The holding process, or `None` when its fds could not be read (another user's process).
    pub pid: Option<i32>,
    /// The owner of the socket, from `/proc/net/tcp`: known even when the pid is not.
    pub uid: u32,
    /// `uid` as a login name, or the number when it has no `/etc/passwd` entry.
    pub user: String,
    /// The holder's command line, when the pid is known and still running.
    pub command: Option<String>,
}

/// Listening TCP sockets (IPv4 and IPv6) on `port`, one entry per holding process.
pub fn listeners(port: u16) -> Vec<PortHolder> {
    listeners_of(&[port]).remove(&port).unwrap_or_default()
}

/// Listening TCP sockets on each of `ports`, with one scan of `/proc/*/fd` for the whole batch.
///
/// Every requested port is a key of the result; a free port maps to an empty list. Each process
/// appears once per port, however many fds or sockets (IPv4 and IPv6, forked workers sharing
/// one socket) it holds there. Holders are sorted by pid; those without a pid come last.
pub fn listeners_of(ports: &[u16]) -> BTreeMap<u16, Vec<PortHolder>> {
    let mut result: BTreeMap<u16, Vec<PortHolder>> =
        ports.iter().map(|&port| (port, Vec::new())).collect();
    let wanted: BTreeSet<u16> = ports.iter().copied().collect();
    let sockets: Vec<ListeningSocket> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| parse_tcp_table(&table))
        .filter(|socket| wanted.contains(&socket.port))
        .collect();
    if sockets.is_empty() {
        // The common case at start-up: nothing to map, so skip the expensive fd scan.
        return result;
    }
    let inodes: BTreeSet<u64> = sockets.iter().map(|socket| socket.inode).collect();
    let owners = socket_owners(&inodes);
    let mut user_names: HashMap<u32, String> = HashMap::new();
    let mut user_name = |uid: u32| {
        user_names
            .entry(uid)
            .or_insert_with(|| process_table::user_name(uid))
            .clone()
    };

    for (&port, holders) in &mut result {
        // Keyed by pid (None last by the ordering below) so each process is listed once.
        let mut by_pid: BTreeMap<i32, u32> = BTreeMap::new();
        let mut unknown_uids: BTreeSet<u32> = BTreeSet::new();
        for socket in sockets.iter().filter(|socket| socket.port == port) {
            match owners.get(&socket.inode) {
                Some(pids) => {
                    for &pid in pids {
                        by_pid.entry(pid).or_insert(socket.uid);
                    }
                }
                None => {
                    unknown_uids.insert(socket.uid);
                }
            }
        }
        for (pid, uid) in by_pid {
            holders.push(PortHolder {
                pid: Some(pid),
                uid,
                user: user_name(uid),
                command: process_table::cmdline(pid),
            });
        }
        for uid in unknown_uids {
            holders.push(PortHolder {
                pid: None,
                uid,
                user: user_name(uid),
                command: None,
            });
        }
    }
    result
}

/// The processes holding a listening Unix socket bound to `path` (from `/proc/net/unix`), each
/// once. `uid` is the socket file's owner (`/proc/net/unix` has none); holders whose fds are
/// unreadable are not found.
pub fn unix_listeners(path: &std::path::Path) -> Vec<PortHolder> {
    let Some(wanted) = path.to_str() else {
        return Vec::new();
    };
    let inodes: BTreeSet<u64> = std::fs::read_to_string("/proc/net/unix")
        .map(|table| parse_unix_table(&table, wanted))
        .unwrap_or_default();
    if inodes.is_empty() {
        return Vec::new();
    }
    let uid = std::fs::symlink_metadata(path)
        .map_or(0, |metadata| std::os::unix::fs::MetadataExt::uid(&metadata));
    let pids: BTreeSet<i32> = socket_owners(&inodes).into_values().flatten().collect();
    pids.into_iter()
        .map(|pid| PortHolder {
            pid: Some(pid),
            uid,
            user: process_table::user_name(uid),
            command: process_table::cmdline(pid),
        })
        .collect()
}

/// `__SO_ACCEPTCON` in the `Flags` column of `/proc/net/unix`: the socket listens.
const UNIX_ACCEPTCON: u32 = 0x0001_0000;

/// The inodes of listening sockets bound to `path` in a `/proc/net/unix` table.
///
/// Columns: `Num RefCount Protocol Flags Type St Inode Path` (hexadecimal but `Inode`).
fn parse_unix_table(table: &str, path: &str) -> BTreeSet<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            if fields.len() < 8 || fields[7] != path {
                return None;
            }
            let flags = u32::from_str_radix(fields[3], 16).ok()?;
            (flags & UNIX_ACCEPTCON != 0)
                .then(|| fields[6].parse().ok())
                .flatten()
        })
        .collect()
}

/// True when nothing listens on `port` and binding it works (see [`can_bind`]).
pub fn is_free(port: u16) -> bool {
    listeners(port).is_empty() && can_bind(port)
}

/// A port free now for `port = "auto"` (`range` `None`: one the kernel offers, as for a bind to
/// port 0) or a range (the first free one in order), not one of `taken`; `None` when there is
/// none. Free means [`is_free`]: nothing listens and a bind works. Nothing holds it after: a
/// process may take it before the service binds it (the service then fails to start, as with
/// a fixed port taken at that moment).
pub fn pick_free(range: Option<std::ops::RangeInclusive<u16>>, taken: &[u16]) -> Option<u16> {
    let usable = |port: u16| !taken.contains(&port) && can_bind(port) && listeners(port).is_empty();
    match range {
        Some(range) => range.into_iter().find(|port| usable(*port)),
        // The kernel's choice may repeat a taken port now and then: a few tries.
        None => (0..16).find_map(|_| {
            let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).ok()?;
            let port = listener.local_addr().ok()?.port();
            drop(listener);
            usable(port).then_some(port)
        }),
    }
}

/// Bind test: listen on `0.0.0.0:port` and, when the machine has IPv6, on `[::]:port`, closing
/// each socket at once. False only when a bind fails with "address in use".
///
/// This catches holders `/proc` does not show us. Other failures do not mean the port is taken
/// and are not reported as such: `EACCES` for a port below 1024 when we lack the privilege (the
/// service may well have it), `EADDRNOTAVAIL`/`EAFNOSUPPORT` when IPv6 is disabled.
/// std sets `SO_REUSEADDR`, as servers do, so connections lingering in `TIME_WAIT` after their
/// server exited do not count as holding the port.
pub fn can_bind(port: u16) -> bool {
    let addresses = [
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
    ];
    addresses
        .into_iter()
        .all(|address| match TcpListener::bind(address) {
            Ok(listener) => {
                drop(listener);
                true
            }
            Err(error) => error.kind() != ErrorKind::AddrInUse,
        })
}

/// A socket in state LISTEN, from one line of `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListeningSocket {
    port: u16,
    uid: u32,
    inode: u64,
}

/// TCP_LISTEN in the kernel's `enum tcp_state`, as printed (hex) in the `st` column.
const TCP_LISTEN: &str = "0A";

/// Parses the listening sockets of a `/proc/net/tcp{,6}` table; malformed lines are skipped.
///
/// Columns (see: Documentation/networking/proc_net_tcp.rst):
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …`,
/// where `local_address` is `HEXADDR:HEXPORT`.
fn parse_tcp_table(table: &str) -> Vec<ListeningSocket> {
    table
        .lines()
        .skip(1) // header
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            if fields.len() < 10 || fields[3] != TCP_LISTEN {
                return None;
            }
            let (_, port) = fields[1].rsplit_once(':')?;
            Some(ListeningSocket {
                port: u16::from_str_radix(port, 16).ok()?,
                uid: fields[7].parse().ok()?,
                inode: fields[9].parse().ok()?,
            })
        })
        .collect()
}

/// Maps each of `inodes` to the pids that have it open, by reading every `/proc/PID/fd/*` link.
/// Inodes no readable process holds are absent from the result.
fn socket_owners(inodes: &BTreeSet<u64>) -> HashMap<u64, BTreeSet<i32>> {
    let mut owners: HashMap<u64, BTreeSet<i32>> = HashMap::new();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return owners;
    };
    for process in processes.flatten() {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        // EACCES for other users' processes, ENOENT for vanished ones: skip either way.
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = target.to_str().and_then(parse_socket_link) else {
                continue;
            };
            if inodes.contains(&inode) {
                owners.entry(inode).or_default().insert(pid);
            }
        }
    }
    owners
}

/// The inode of an fd link target such as `socket:[12345]`.
fn parse_socket_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::test_support::ChildGuard;

    fn own_pid() -> i32 {
        rustix::process::getpid().as_raw_pid()
    }

    fn own_uid() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    #[test]
    fn parse_unix_table_finds_listening_sockets_by_path() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path\n\
0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/app.sock\n\
0000000000000000: 00000002 00000000 00000000 0001 03 4243 /run/app.sock\n\
0000000000000000: 00000002 00000000 00010000 0001 01 4244 /run/other.sock\n\
0000000000000000: 00000002 00000000 00000000 0002 01 4245\n";
        assert_eq!(
            parse_unix_table(table, "/run/app.sock"),
            BTreeSet::from([4242])
        );
    }

    #[test]
    fn the_holder_of_a_unix_socket_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("held.sock");
        let _held = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let holders = unix_listeners(&path);
        assert_eq!(holders.len(), 1, "{holders:?}");
        assert_eq!(holders[0].pid, Some(own_pid()));
        assert_eq!(holders[0].uid, own_uid());
    }

    #[test]
    fn parse_tcp_table_keeps_listening_sockets_only() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0000000000000000 20 4 30 10 -1\n\
   2: garbage\n";
        assert_eq!(
            parse_tcp_table(table),
            vec![ListeningSocket {
                port: 8080,
                uid: 1000,
                inode: 4242
            }]
        );
        let table6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(
            parse_tcp_table(table6),
            vec![ListeningSocket {
                port: 80,
                uid: 0,
                inode: 99
            }]
        );
    }

    #[test]
    fn parse_socket_link_reads_the_inode() {
        assert_eq!(parse_socket_link("socket:[12345]"), Some(12345));
        assert_eq!(parse_socket_link("pipe:[12345]"), None);
        assert_eq!(parse_socket_link("/dev/null"), None);
        assert_eq!(parse_socket_link("socket:[]"), None);
    }

    #[test]
    fn own_ipv4_listener_is_named_and_the_port_is_free_after_drop() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        // A second fd on the same socket must not list us twice.
        let duplicate = listener.try_clone().expect("dup");

        let holders = listeners(port);
        assert_eq!(holders.len(), 1, "{holders:?}");
        assert_eq!(holders[0].pid, Some(own_pid()));
        assert_eq!(holders[0].uid, own_uid());
        assert_eq!(holders[0].user, process_table::user_name(own_uid()));
        let expected_command = process_table::cmdline(own_pid());
        assert!(expected_command.is_some());
        assert_eq!(holders[0].command, expected_command);
        assert!(!is_free(port));

        drop(duplicate);
        drop(listener);
        assert!(listeners(port).is_empty());
        assert!(is_free(port));
    }

    #[test]
    fn own_ipv6_listener_is_named() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            eprintln!("no IPv6 loopback on this machine; skipping");
            return;
        };
        let port = listener.local_addr().expect("local addr").port();
        let holders = listeners(port);
        assert_eq!(holders.len(), 1, "{holders:?}");
        assert_eq!(holders[0].pid, Some(own_pid()));
        assert!(!is_free(port));
        drop(listener);
        assert!(is_free(port));
    }

    #[test]
    fn listeners_of_reports_every_requested_port() {
        let held = TcpListener::bind("127.0.0.1:0").expect("bind");
        let held_port = held.local_addr().expect("local addr").port();
        let free_port = {
            let probe = TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("local addr").port()
        };
        let result = listeners_of(&[held_port, free_port, held_port]);
        assert_eq!(result.len(), 2);
        assert_eq!(result[&held_port].len(), 1);
        assert!(result[&free_port].is_empty());
    }

    #[test]
    fn listener_of_a_child_process_is_named_with_its_pid() {
        let script = "import socket, sys, time\n\
                      s = socket.socket()\n\
                      s.bind(('127.0.0.1', 0))\n\
                      s.listen()\n\
                      print(s.getsockname()[1], flush=True)\n\
                      time.sleep(30)\n";
        let mut child = ChildGuard(
            Command::new("python3")
                .args(["-c", script])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn python3"),
        );
        let mut line = String::new();
        BufReader::new(child.0.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read port");
        let port: u16 = line.trim().parse().expect("port number");

        let holders = listeners(port);
        assert_eq!(holders.len(), 1, "{holders:?}");
        assert_eq!(holders[0].pid, Some(child.0.id() as i32));
        let command = holders[0].command.as_deref().unwrap_or_default();
        // pyenv and friends rewrite argv[0] to a full path, so match from the arguments on.
        assert!(command.contains("python3 -c import socket"), "{command}");
        assert!(!is_free(port));

        drop(child);
        assert!(listeners(port).is_empty());
    }
}
