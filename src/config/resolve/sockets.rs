//! Resolving sockets and instances: Unix paths against the config's directory, addresses that
//! two sockets (or a socket and a port) would both hold, the sockets a service lists, and what
//! `instances` rules out.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::Resolver;
use crate::config::diagnostic::Diagnostic;
use crate::config::document::{RawListen, RawService};
use crate::spec::{Instances, ListenAddress, SocketId, SocketSpec, UnixSocketSpec};

/// `sun_path` holds 108 bytes with its terminating NUL.
const MAX_UNIX_PATH_BYTES: usize = 107;

impl Resolver<'_, '_, '_> {
    /// Every `[sockets.NAME]`, resolved; `None` if any is invalid (each problem reported).
    pub(super) fn sockets(&mut self) -> Option<Vec<SocketSpec>> {
        let raw = self.raw;
        let mut sockets = Vec::new();
        let mut ok = true;
        // Addresses seen so far, with the socket's name and the span of its `listen`.
        let mut seen: Vec<(ListenAddress, String, std::ops::Range<usize>)> = Vec::new();
        for socket in &raw.sockets {
            let Some(listen) = &socket.listen else {
                ok = false;
                continue;
            };
            let name = socket.name.get_ref();
            let address = match listen.get_ref() {
                RawListen::Tcp(address) => {
                    if !self.tcp_socket_port_is_free(name, *address, listen.span()) {
                        ok = false;
                    }
                    ListenAddress::Tcp(*address)
                }
                RawListen::Unix(path) => match self.unix_path(path, listen) {
                    Some(path) => ListenAddress::Unix(UnixSocketSpec {
                        path,
                        mode: socket
                            .mode
                            .as_ref()
                            .map_or(UnixSocketSpec::DEFAULT_MODE, |mode| *mode.get_ref()),
                    }),
                    None => {
                        ok = false;
                        continue;
                    }
                },
            };
            if let Some((_, other, first)) = seen
                .iter()
                .find(|(earlier, _, _)| addresses_overlap(earlier, &address))
            {
                self.diagnostics.push(
                    Diagnostic::at(
                        self.file,
                        listen.span(),
                        format!("socket \"{name}\" listens where socket \"{other}\" already does"),
                        "the same address (or the same port of an overlapping one)",
                    )
                    .with_context(first.clone(), format!("socket \"{other}\" listens here"))
                    .with_help(
                        "give each socket its own address; a service may receive several sockets",
                    ),
                );
                ok = false;
                continue;
            }
            seen.push((address.clone(), name.clone(), listen.span()));
            sockets.push(SocketSpec {
                name: name.clone(),
                listen: address,
            });
        }
        ok.then_some(sockets)
    }

    /// A TCP socket's port may be neither a service's `port` (one of the two could never
    /// bind it) nor the metrics endpoint's.
    fn tcp_socket_port_is_free(
        &mut self,
        name: &str,
        address: SocketAddr,
        span: std::ops::Range<usize>,
    ) -> bool {
        let port = address.port();
        let mut free = true;
        for service in &self.raw.services {
            if let Some(declared) = service.ports.iter().find(|p| *p.get_ref() == port) {
                self.diagnostics.push(
                    Diagnostic::at(
                        self.file,
                        span.clone(),
                        format!(
                            "socket \"{name}\" uses port {port}, which service \"{}\" declares",
                            service.name.get_ref()
                        ),
                        "wrangle binds this port itself",
                    )
                    .with_context(declared.span(), "declared here")
                    .with_help(format!(
                        "remove the port from service \"{}\" and give it the socket instead: sockets = [\"{name}\"]",
                        service.name.get_ref()
                    )),
                );
                free = false;
            }
        }
        if let Some(metrics) = &self.raw.metrics
            && metrics.listen.port() == port
        {
            self.diagnostics.push(
                Diagnostic::at(
                    self.file,
                    span,
                    format!("socket \"{name}\" uses port {port}, which [metrics] listens on"),
                    "the same port",
                )
                .with_help("choose another port for the socket or for [metrics]"),
            );
            free = false;
        }
        free
    }

    /// A Unix socket's path: absolute (relative ones against the config's directory), short
    /// enough for `sun_path`, in a directory that exists.
    fn unix_path(&mut self, path: &str, listen: &Spanned<RawListen>) -> Option<PathBuf> {
        let joined = self.root.join(path);
        let bytes = joined.as_os_str().len();
        if bytes > MAX_UNIX_PATH_BYTES {
            self.diagnostics.push(
                Diagnostic::at(
                    self.file,
                    listen.span(),
                    format!("the Unix socket path {} is too long", joined.display()),
                    format!("{bytes} bytes; a socket path holds at most {MAX_UNIX_PATH_BYTES}"),
                )
                .with_note(format!(
                    "a relative path is resolved against {}",
                    self.root.display()
                )),
            );
            return None;
        }
        let parent = joined.parent().unwrap_or(Path::new("/"));
        match std::fs::metadata(parent) {
            Ok(metadata) if metadata.is_dir() => Some(joined),
            found => {
                let problem = match found {
                    Ok(_) => "not a directory".to_string(),
                    Err(error) => error.to_string(),
                };
                self.diagnostics.push(
                    Diagnostic::at(
                        self.file,
                        listen.span(),
                        format!(
                            "the directory of Unix socket {} does not exist",
                            joined.display()
                        ),
                        problem,
                    )
                    .with_note(format!(
                        "a relative path is resolved against {}",
                        self.root.display()
                    )),
                );
                None
            }
        }
    }

    /// The ids of the sockets a service lists, each known and listed once.
    pub(super) fn service_sockets(&mut self, service: &RawService) -> Option<Vec<SocketId>> {
        let raw = self.raw;
        let mut ids = Vec::new();
        let mut ok = true;
        for (index, listed) in service.sockets.iter().enumerate() {
            let name = listed.get_ref();
            if let Some(first) = service.sockets[..index]
                .iter()
                .find(|s| s.get_ref() == name)
            {
                self.diagnostics.push(
                    Diagnostic::at(
                        self.file,
                        listed.span(),
                        format!(
                            "service \"{}\" lists socket \"{name}\" twice",
                            service.name.get_ref()
                        ),
                        "listed again here",
                    )
                    .with_context(first.span(), "first listed here"),
                );
                ok = false;
                continue;
            }
            match raw
                .sockets
                .iter()
                .position(|socket| socket.name.get_ref() == name)
            {
                Some(id) => ids.push(id),
                None => {
                    let known: Vec<&str> = raw
                        .sockets
                        .iter()
                        .map(|socket| socket.name.get_ref().as_str())
                        .collect();
                    let mut diagnostic = Diagnostic::at(
                        self.file,
                        listed.span(),
                        format!(
                            "service \"{}\" lists unknown socket \"{name}\"",
                            service.name.get_ref()
                        ),
                        "no [sockets.NAME] with this name",
                    )
                    .with_suggestion(name, known.iter().copied());
                    diagnostic = if known.is_empty() {
                        diagnostic.with_help(format!(
                            "declare it: [sockets.{name}] with listen = \"tcp://127.0.0.1:8080\""
                        ))
                    } else {
                        diagnostic.with_note(format!("sockets: {}", known.join(", ")))
                    };
                    self.diagnostics.push(diagnostic);
                    ok = false;
                }
            }
        }
        ok.then_some(ids)
    }

    /// `instances` (1 when not set), with what it rules out: a declared `port`, which several
    /// instances cannot all bind, and a `per_instance` probe whose ports would leave the range.
    pub(super) fn instances(&mut self, service: &RawService) -> Option<Instances> {
        let Some(instances) = &service.instances else {
            return Some(Instances::Count(1));
        };
        let count = *instances.get_ref();
        if count == Instances::Count(1) {
            return Some(count);
        }
        let mut ok = true;
        if let Some(port) = service.ports.first() {
            self.diagnostics.push(
                Diagnostic::at(
                    self.file,
                    instances.span(),
                    format!(
                        "service \"{}\" has several instances and a `port`",
                        service.name.get_ref()
                    ),
                    "every instance would bind the same port",
                )
                .with_context(port.span(), "declared here")
                .with_help(
                    "declare a socket ([sockets.NAME] listen = \"tcp://...\") and list it in `sockets`: wrangle binds it once and every instance receives it",
                ),
            );
            ok = false;
        }
        let per_instance_checks = [
            service
                .ready
                .as_ref()
                .filter(|probe| probe.per_instance)
                .map(|probe| &probe.check),
            service
                .live
                .as_ref()
                .filter(|probe| probe.per_instance)
                .map(|probe| &probe.check),
        ];
        for check in per_instance_checks.into_iter().flatten() {
            // During a reload one more instance runs, numbered `count`.
            if let Instances::Count(count) = count
                && check.for_instance(count).is_none()
            {
                self.diagnostics.push(Diagnostic::at(
                    self.file,
                    instances.span(),
                    format!(
                        "the per-instance probe of service \"{}\" runs out of ports",
                        service.name.get_ref()
                    ),
                    format!(
                        "instance {count} (the extra one of a reload) would be probed beyond port 65535"
                    ),
                ));
                ok = false;
                break;
            }
        }
        ok.then_some(count)
    }
}

/// Two addresses that cannot both be bound: the same Unix path, or TCP addresses with the same
/// port whose IPs are equal or one of them the wildcard of its family (or of both, `[::]`).
fn addresses_overlap(a: &ListenAddress, b: &ListenAddress) -> bool {
    match (a, b) {
        (ListenAddress::Unix(a), ListenAddress::Unix(b)) => a.path == b.path,
        (ListenAddress::Tcp(a), ListenAddress::Tcp(b)) => {
            a.port() == b.port()
                && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
        }
        _ => false,
    }
}
