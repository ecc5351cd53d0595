//! Telling the service manager that started wrangle how the daemon is doing: systemd's
//! `sd_notify` protocol, without libsystemd. A notification is one datagram of `KEY=VALUE` lines
//! sent to the Unix socket named by `NOTIFY_SOCKET` (a path, or an abstract name written with a
//! leading `@`); see sd_notify(3).
//!
//! `wrangle startup` installs a `Type=notify` unit whose `ExecStart=` is `wrangle up -d`: that
//! process exits once the daemon is up, so the daemon names its sentinel (the process at the top
//! of the run, which outlives a daemon that dies) as the unit's main process with `MAINPID=` in
//! the same datagram as `READY=1`, before it lets `up -d` go. systemd handles notifications before
//! the exit of the process that started them, so the unit never looks dead in between.
//!
//! Services never see `NOTIFY_SOCKET` (`environment::MANAGER_VARIABLES`); each gets its own when
//! its probe is `notify` (`probe::notify`).

use std::io;
use std::os::unix::net::UnixDatagram;

use crate::environment::NOTIFY_SOCKET as NOTIFY_SOCKET_VAR;

/// The longest notification we send; the protocol has no limit of its own, datagrams do.
const MAX_MESSAGE: usize = 4096;

/// Where notifications go, when a service manager asked for them (`NOTIFY_SOCKET` set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceManager {
    address: Address,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Address {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

impl ServiceManager {
    /// From `NOTIFY_SOCKET`'s value: `None` when unset or empty (no service manager is
    /// listening), an error for a value that cannot name a Unix socket.
    pub fn from_value(value: Option<&str>) -> io::Result<Option<ServiceManager>> {
        let Some(value) = value.filter(|value| !value.is_empty()) else {
            return Ok(None);
        };
        let address = match value.strip_prefix('@') {
            Some(name) => Address::Abstract(name.as_bytes().to_vec()),
            None if value.starts_with('/') => Address::Path(value.into()),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{NOTIFY_SOCKET_VAR}={value:?} is neither an absolute path nor @name"),
                ));
            }
        };
        Ok(Some(ServiceManager { address }))
    }

    /// From this process's environment.
    pub fn from_env() -> io::Result<Option<ServiceManager>> {
        Self::from_value(std::env::var(NOTIFY_SOCKET_VAR).ok().as_deref())
    }

    /// Every service is ready: `READY=1`, with `main_pid` as the unit's main process.
    pub fn ready(&self, main_pid: u32, status: &str) -> io::Result<()> {
        self.send(&format!(
            "READY=1\nMAINPID={main_pid}\nSTATUS={}\n",
            one_line(status)
        ))
    }

    /// The run is being stopped: `STOPPING=1`.
    pub fn stopping(&self, status: &str) -> io::Result<()> {
        self.send(&format!("STOPPING=1\nSTATUS={}\n", one_line(status)))
    }

    fn send(&self, message: &str) -> io::Result<()> {
        if message.len() > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "notification too long",
            ));
        }
        let socket = UnixDatagram::unbound()?;
        let sent = match &self.address {
            Address::Path(path) => socket.send_to(message.as_bytes(), path)?,
            Address::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(message.as_bytes(), &address)?
            }
        };
        match sent == message.len() {
            true => Ok(()),
            false => Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "notification sent in part",
            )),
        }
    }
}

/// A status is one line of the protocol: newlines would start new assignments.
fn one_line(status: &str) -> String {
    status.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(socket: &UnixDatagram) -> String {
        let mut buffer = [0u8; MAX_MESSAGE];
        let read = socket.recv(&mut buffer).expect("a datagram");
        String::from_utf8_lossy(&buffer[..read]).into_owned()
    }

    #[test]
    fn no_socket_means_no_manager_and_a_relative_path_is_refused() {
        assert_eq!(ServiceManager::from_value(None).unwrap(), None);
        assert_eq!(ServiceManager::from_value(Some("")).unwrap(), None);
        assert!(ServiceManager::from_value(Some("relative/socket")).is_err());
    }

    #[test]
    fn ready_and_stopping_reach_a_socket_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        let manager = ServiceManager::from_value(path.to_str()).unwrap().unwrap();
        manager.ready(4242, "2 services\nready").unwrap();
        assert_eq!(
            received(&socket),
            "READY=1\nMAINPID=4242\nSTATUS=2 services ready\n"
        );
        manager.stopping("stopping").unwrap();
        assert_eq!(received(&socket), "STOPPING=1\nSTATUS=stopping\n");
    }

    #[test]
    fn an_abstract_name_is_written_with_an_at_sign() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("wrangle-test-notify-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&address).unwrap();
        let manager = ServiceManager::from_value(Some(&format!("@{name}")))
            .unwrap()
            .unwrap();
        manager.ready(1, "up").unwrap();
        assert_eq!(received(&socket), "READY=1\nMAINPID=1\nSTATUS=up\n");
    }
}
