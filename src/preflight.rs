//! Checks made before anything is started, each refusing with a message that says what is in the
//! way and how to clear it: another wrangle already running the project, a declared port already
//! held by some process, or the address of a `[sockets.NAME]` that cannot be bound (it is bound
//! here, for the whole run, before any service starts).
//!
//! This module owns those checks and their messages. It never stops, signals or otherwise
//! touches what it finds in the way: freeing a port or stopping another instance is the user's
//! decision, so it only prints the command that would do it. It does not choose paths (see
//! `paths`), does not read `/proc` itself (see `sys::ports`), and creates or removes socket
//! files only through `sys::sockets` (which removes nothing but a stale socket of this user's).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::paths::{PathsError, ProjectPaths};
use crate::spec::{ListenAddress, ProjectSpec, ServiceId};
use crate::sys::lock::{self, LockError, ProjectLock};
use crate::sys::ports::{self, PortHolder};
use crate::sys::sockets::{self, BoundSockets, Listener, UnixSocket, UnixSocketError};

/// A declared port that is already in use when its service is about to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConflict {
    /// The service that declares the port.
    pub service: String,
    pub port: u16,
    /// Who listens on it. Empty when only the bind test failed: the holder is invisible to us.
    pub holders: Vec<PortHolder>,
}

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The project's lock is held: another wrangle runs this project.
    #[error("{}", already_running_message(*pid))]
    AlreadyRunning { pid: Option<i32>, config: PathBuf },
    /// Declared ports are in use, one entry per (service, port).
    #[error("{}", ports_held_message(.0))]
    PortsHeld(Vec<PortConflict>),
    #[error(transparent)]
    Paths(#[from] PathsError),
    #[error("cannot lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A socket's address is held by another process.
    #[error(
        "{}\n  or choose another address for `listen` in [sockets.{name}]",
        socket_held_message(.name, .listen, .holders)
    )]
    SocketHeld {
        name: String,
        listen: ListenAddress,
        holders: Vec<PortHolder>,
    },
    /// A socket cannot be bound for another reason (an address not on this machine, a
    /// privileged port, a Unix path wrangle must not touch).
    #[error("cannot listen on {} ([sockets.{name}]): {problem}", .listen.describe())]
    SocketBind {
        name: String,
        listen: ListenAddress,
        problem: String,
    },
}

impl PreflightError {
    /// Whether this is a refusal because something else is in the way (exit 4), rather than an
    /// error of wrangle's own.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            PreflightError::AlreadyRunning { .. }
                | PreflightError::PortsHeld(_)
                | PreflightError::SocketHeld { .. }
                | PreflightError::SocketBind { .. }
        )
    }
}

/// Binds every `[sockets.NAME]` of the project, before any service starts; they stay open (and
/// their Unix files in place) until the result is dropped at the end of the run. A held address
/// is refused naming its holder.
pub fn bind_sockets(spec: &ProjectSpec) -> Result<BoundSockets, PreflightError> {
    let mut bound = Vec::with_capacity(spec.sockets.len());
    for socket in &spec.sockets {
        let failed = |problem: String| PreflightError::SocketBind {
            name: socket.name.clone(),
            listen: socket.listen.clone(),
            problem,
        };
        let held = |holders: Vec<PortHolder>| PreflightError::SocketHeld {
            name: socket.name.clone(),
            listen: socket.listen.clone(),
            holders,
        };
        let listener = match &socket.listen {
            ListenAddress::Tcp(address) => match sockets::bind_tcp(*address) {
                Ok(fd) => Listener::Tcp(fd),
                Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(held(ports::listeners(address.port())));
                }
                Err(error) => return Err(failed(error.to_string())),
            },
            ListenAddress::Unix(unix) => match UnixSocket::bind(&unix.path, unix.mode) {
                Ok(socket) => Listener::Unix(socket),
                Err(UnixSocketError::InUse(path)) => {
                    return Err(held(ports::unix_listeners(&path)));
                }
                Err(error) => return Err(failed(error.to_string())),
            },
        };
        bound.push((socket.name.clone(), listener));
    }
    Ok(BoundSockets::new(bound))
}

/// Takes the project's single-instance lock, or explains who holds it.
///
/// Hold the returned lock for as long as the project runs: dropping it lets another wrangle in.
pub fn acquire_lock(paths: &ProjectPaths, config: &Path) -> Result<ProjectLock, PreflightError> {
    lock::try_lock(&paths.lock_file).map_err(|error| match error {
        LockError::Held { pid } => PreflightError::AlreadyRunning {
            pid,
            config: config.to_path_buf(),
        },
        LockError::Io { path, source } => PreflightError::Lock { path, source },
    })
}

/// Checks that every port declared by `services` is free, with one batched scan of `/proc`.
///
/// A port conflicts when something listens on it, or when nothing visible does but binding it
/// fails with "address in use" (see [`ports::can_bind`]). Ids not in `spec` are ignored.
pub fn check_ports(spec: &ProjectSpec, services: &[ServiceId]) -> Result<(), PreflightError> {
    let mut declared: Vec<(&str, u16)> = Vec::new();
    for service in services.iter().filter_map(|&id| spec.services.get(id)) {
        for &port in &service.ports {
            if !declared.contains(&(service.name.as_str(), port)) {
                declared.push((service.name.as_str(), port));
            }
        }
    }
    if declared.is_empty() {
        return Ok(());
    }
    let ports: Vec<u16> = declared.iter().map(|&(_, port)| port).collect();
    let holders = ports::listeners_of(&ports);
    // Bind tests are only needed where /proc showed nobody; remember them per port.
    let mut bindable: BTreeMap<u16, bool> = BTreeMap::new();

    let mut conflicts = Vec::new();
    for (service, port) in declared {
        let port_holders = holders.get(&port).cloned().unwrap_or_default();
        let in_use = !port_holders.is_empty()
            || !*bindable
                .entry(port)
                .or_insert_with(|| ports::can_bind(port));
        if in_use {
            conflicts.push(PortConflict {
                service: service.to_string(),
                port,
                holders: port_holders,
            });
        }
    }
    match conflicts.is_empty() {
        true => Ok(()),
        false => Err(PreflightError::PortsHeld(conflicts)),
    }
}

fn already_running_message(pid: Option<i32>) -> String {
    match pid {
        Some(pid) => format!(
            "another wrangle is already running this project (PID {pid})\n  \
             see it with `wrangle ps` or `wrangle logs -f` (when it is a daemon)\n  \
             stop it with `wrangle down` (or Ctrl+C in its terminal)"
        ),
        // The holder is between taking the lock and writing its pid.
        None => "another wrangle is already running this project\n  \
                 stop it with `wrangle down` (or Ctrl+C in its terminal)"
            .to_string(),
    }
}

/// One paragraph per conflict: a line per holder, then how to free the port.
fn ports_held_message(conflicts: &[PortConflict]) -> String {
    let mut message = String::new();
    for conflict in conflicts {
        if !message.is_empty() {
            message.push('\n');
        }
        let subject = format!("port {} (service {})", conflict.port, conflict.service);
        message.push_str(&address_held_message(
            &subject,
            conflict.port,
            &conflict.holders,
        ));
    }
    message
}

/// The paragraph that says who holds `port`, named `subject` ("port 8080 (service api)",
/// "metrics address 127.0.0.1:9464"): a line per holder, then how to free it. `holders` empty:
/// only a bind test failed, and the holder is invisible to us.
pub fn address_held_message(subject: &str, port: u16, holders: &[PortHolder]) -> String {
    let mut message = String::new();
    if holders.is_empty() {
        // Only the bind test failed: the holder is in another network namespace, or its
        // socket is bound but not listening, neither of which /proc/net/tcp LISTEN shows.
        let _ = write!(
            message,
            "{subject} is in use, but wrangle cannot see by which process\n  \
             look for it with: sudo ss -tanp 'sport = :{port}'"
        );
        return message;
    }
    let mut pids = Vec::new();
    let mut hidden = false;
    for holder in holders {
        match holder.pid {
            Some(pid) => {
                pids.push(pid.to_string());
                let _ = write!(
                    message,
                    "{subject} is in use by PID {pid} ({})",
                    user_label(holder)
                );
                if let Some(command) = &holder.command {
                    let _ = write!(message, ": {}", printable_command(command));
                }
            }
            None => {
                hidden = true;
                let _ = write!(
                    message,
                    "{subject} is in use by a process of {} that wrangle cannot inspect",
                    owner_label(holder)
                );
            }
        }
        message.push('\n');
    }
    if !pids.is_empty() {
        let _ = write!(message, "  free it with: kill {}", pids.join(" "));
    }
    if hidden {
        if !pids.is_empty() {
            message.push('\n');
        }
        let _ = write!(
            message,
            "  look for it with: sudo ss -ltnp 'sport = :{port}'"
        );
    }
    message
}

/// Who holds a socket's address: as for a port, or for a Unix socket the path.
fn socket_held_message(name: &str, listen: &ListenAddress, holders: &[PortHolder]) -> String {
    let subject = format!("socket {name} ({})", listen.describe());
    match listen {
        ListenAddress::Tcp(address) => address_held_message(&subject, address.port(), holders),
        ListenAddress::Unix(unix) if holders.is_empty() => format!(
            "{subject} is in use, but wrangle cannot see by which process\n  \
             look for it with: sudo ss -xlp 'src = {}'",
            unix.path.display()
        ),
        ListenAddress::Unix(_) => address_held_message(&subject, 0, holders),
    }
}

/// `user alice`, or `uid 1001` for a uid without a name.
fn user_label(holder: &PortHolder) -> String {
    match holder.user == holder.uid.to_string() {
        true => format!("uid {}", holder.uid),
        false => format!("user {}", holder.user),
    }
}

/// `user bob (uid 1001)`, or `uid 1001` for a uid without a name.
fn owner_label(holder: &PortHolder) -> String {
    match holder.user == holder.uid.to_string() {
        true => format!("uid {}", holder.uid),
        false => format!("user {} (uid {})", holder.user, holder.uid),
    }
}

/// A command line made safe for a one-line message: control characters (a newline in a
/// `python -c` script, an escape sequence) are escaped, and very long ones (Java class paths)
/// are cut.
fn printable_command(command: &str) -> String {
    const MAX_CHARS: usize = 160;
    let mut printable = String::new();
    for (count, c) in command.chars().enumerate() {
        if count == MAX_CHARS {
            printable.push('…');
            break;
        }
        match c.is_control() {
            true => printable.extend(c.escape_default()),
            false => printable.push(c),
        }
    }
    printable
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::Arc;

    use super::*;
    use crate::paths::Home;
    use crate::spec::ServiceSpec;
    use crate::test_support::{project_spec, service_spec};

    fn service(name: &str, ports: Vec<u16>) -> ServiceSpec {
        ServiceSpec {
            ports,
            ..service_spec(name)
        }
    }

    fn spec(services: Vec<ServiceSpec>) -> ProjectSpec {
        Arc::unwrap_or_clone(project_spec(services))
    }

    fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("local addr").port()
    }

    fn holder(pid: Option<i32>, uid: u32, user: &str, command: Option<&str>) -> PortHolder {
        PortHolder {
            pid,
            uid,
            user: user.to_string(),
            command: command.map(str::to_string),
        }
    }

    #[test]
    fn ports_held_message_names_pid_user_command_and_kill() {
        let error = PreflightError::PortsHeld(vec![
            PortConflict {
                service: "api".to_string(),
                port: 8080,
                holders: vec![holder(
                    Some(4242),
                    1000,
                    "alice",
                    Some("python3 -m http.server 8080"),
                )],
            },
            PortConflict {
                service: "web".to_string(),
                port: 3000,
                holders: vec![
                    holder(Some(10), 1000, "alice", Some("node\nserver.js")),
                    holder(Some(11), 1001, "1001", None),
                ],
            },
            PortConflict {
                service: "db".to_string(),
                port: 5432,
                holders: vec![holder(None, 1001, "bob", None)],
            },
            PortConflict {
                service: "cache".to_string(),
                port: 6379,
                holders: Vec::new(),
            },
        ]);
        let expected = "\
port 8080 (service api) is in use by PID 4242 (user alice): python3 -m http.server 8080
  free it with: kill 4242
port 3000 (service web) is in use by PID 10 (user alice): node\\nserver.js
port 3000 (service web) is in use by PID 11 (uid 1001)
  free it with: kill 10 11
port 5432 (service db) is in use by a process of user bob (uid 1001) that wrangle cannot inspect
  look for it with: sudo ss -ltnp 'sport = :5432'
port 6379 (service cache) is in use, but wrangle cannot see by which process
  look for it with: sudo ss -tanp 'sport = :6379'";
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn printable_command_escapes_and_cuts() {
        assert_eq!(printable_command("a\tb\u{1b}[31m"), "a\\tb\\u{1b}[31m");
        let long = printable_command(&"x".repeat(500));
        assert_eq!(long.chars().count(), 161);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn check_ports_reports_a_held_port_with_our_pid() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let held = listener.local_addr().expect("local addr").port();
        let free = free_port();
        let spec = spec(vec![service("api", vec![held]), service("web", vec![free])]);

        assert!(check_ports(&spec, &[1]).is_ok());
        let error = check_ports(&spec, &[0, 1]).expect_err("port held");
        let PreflightError::PortsHeld(conflicts) = &error else {
            panic!("expected PortsHeld, got {error:?}");
        };
        assert_eq!(conflicts.len(), 1);
        assert_eq!(
            (conflicts[0].service.as_str(), conflicts[0].port),
            ("api", held)
        );
        let pid = rustix::process::getpid().as_raw_pid();
        assert_eq!(
            conflicts[0].holders.first().and_then(|holder| holder.pid),
            Some(pid)
        );
        let message = error.to_string();
        assert!(
            message.contains(&format!("port {held} (service api) is in use by PID {pid}")),
            "{message}"
        );
        assert!(
            message.contains(&format!("free it with: kill {pid}")),
            "{message}"
        );
        drop(listener);
        assert!(check_ports(&spec, &[0, 1]).is_ok());
    }

    #[test]
    fn check_ports_ignores_services_without_ports_and_unknown_ids() {
        let spec = spec(vec![service("worker", Vec::new())]);
        assert!(check_ports(&spec, &[0, 7]).is_ok());
    }

    #[test]
    fn acquire_lock_twice_reports_already_running_with_pid_and_kill() {
        let temp = tempfile::tempdir().expect("tempdir");
        let home_dir = temp.path().join("home");
        let home = Home::resolve(|key| {
            (key == "WRANGLE_HOME").then(|| home_dir.to_string_lossy().into_owned())
        })
        .expect("home");
        let config = temp.path().join("wrangle.toml");
        std::fs::write(&config, "").expect("write config");
        let paths = home.project(&config).expect("project");

        let lock = acquire_lock(&paths, &config).expect("first lock");
        let error = acquire_lock(&paths, &config).expect_err("second lock");
        let pid = rustix::process::getpid().as_raw_pid();
        assert!(
            matches!(&error, PreflightError::AlreadyRunning { pid: Some(held), config: c } if *held == pid && *c == config),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "another wrangle is already running this project (PID {pid})\n  \
                 see it with `wrangle ps` or `wrangle logs -f` (when it is a daemon)\n  \
                 stop it with `wrangle down` (or Ctrl+C in its terminal)"
            )
        );
        drop(lock);
        assert!(acquire_lock(&paths, &config).is_ok());
    }
}
