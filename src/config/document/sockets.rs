//! `[sockets.NAME]` tables: where each socket listens (`listen = "tcp://HOST:PORT"` or
//! `"unix:PATH"`) and, for a Unix socket, its file's permissions (`mode`). A service lists the
//! sockets it receives with `sockets = [...]` (read by `services`); names, addresses shared
//! with ports and Unix paths are resolved by `resolve`.

use std::net::SocketAddr;

use toml::Spanned;
use toml::de::DeValue;

use super::{Reader, Value};
use crate::config::diagnostic::Diagnostic;
use crate::config::document::service_name_problem;

pub(crate) const SOCKET_KEYS: &[&str] = &["listen", "mode"];
const LISTEN_HELP: &str =
    "write listen = \"tcp://127.0.0.1:8080\", \"tcp://[::]:8080\" or \"unix:app.sock\"";

/// One `[sockets.NAME]`, shape-checked.
#[derive(Debug)]
pub(crate) struct RawSocket {
    pub(crate) name: Spanned<String>,
    /// `None` when missing or malformed; the problem has been reported already.
    pub(crate) listen: Option<Spanned<RawListen>>,
    pub(crate) mode: Option<Spanned<u32>>,
}

/// A `listen` value, before a Unix path is resolved against the config's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawListen {
    Tcp(SocketAddr),
    Unix(String),
}

impl Reader<'_> {
    /// `[sockets]`: a table of socket tables.
    pub(super) fn sockets(&mut self, value: &Value<'_>) -> Vec<RawSocket> {
        let Some(table) = self.table(value, "sockets", "a table of sockets") else {
            return Vec::new();
        };
        table
            .iter()
            .map(|(name, socket)| self.socket(name, socket))
            .collect()
    }

    fn socket(
        &mut self,
        name: &Spanned<std::borrow::Cow<'_, str>>,
        value: &Value<'_>,
    ) -> RawSocket {
        let name_text = name.get_ref().to_string();
        if let Some(problem) = service_name_problem(&name_text) {
            self.push(
                Diagnostic::at(
                    self.file,
                    name.span(),
                    format!("invalid socket name \"{name_text}\""),
                    problem.replace("a service name", "a socket name"),
                )
                .with_note(
                    "the name reaches the service in LISTEN_FDNAMES, where ':' separates names",
                ),
            );
        }
        let mut socket = RawSocket {
            name: Spanned::new(name.span(), name_text.clone()),
            listen: None,
            mode: None,
        };
        let path = format!("sockets.{name_text}");
        let Some(table) = self.table(value, &path, "a table") else {
            return socket;
        };
        let mut listen_seen = false;
        for (key, item) in table.iter() {
            let key_name = key.get_ref().as_ref();
            let key_path = format!("{path}.{key_name}");
            match key_name {
                "listen" => {
                    listen_seen = true;
                    socket.listen = self.listen(item, &key_path);
                }
                "mode" => socket.mode = self.file_mode(item, &key_path),
                other => self.unknown_key(key, other, &format!("[{path}]"), SOCKET_KEYS),
            }
        }
        if !listen_seen {
            self.push(
                Diagnostic::at(
                    self.file,
                    name.span(),
                    format!("socket \"{name_text}\" has no `listen` address"),
                    "`listen` is required",
                )
                .with_help(LISTEN_HELP),
            );
        }
        if let (Some(mode), Some(listen)) = (&socket.mode, &socket.listen)
            && let RawListen::Tcp(_) = listen.get_ref()
        {
            self.push(
                Diagnostic::at(
                    self.file,
                    mode.span(),
                    format!("`{path}.mode` is only for a Unix socket"),
                    "a TCP socket has no file",
                )
                .with_context(listen.span(), "a TCP address"),
            );
        }
        socket
    }

    fn listen(&mut self, value: &Value<'_>, path: &str) -> Option<Spanned<RawListen>> {
        let text = self.string(value, path)?;
        let text = text.get_ref();
        let problem = if let Some(address) = text.strip_prefix("tcp://") {
            match address.parse::<SocketAddr>() {
                Ok(address) if address.port() != 0 => {
                    return Some(Spanned::new(value.span(), RawListen::Tcp(address)));
                }
                Ok(_) => "port 0 would be a different port on every run".to_string(),
                Err(_) => "not an IP address with a port; host names are not resolved".to_string(),
            }
        } else if let Some(file) = text.strip_prefix("unix:") {
            if file.is_empty() {
                "no path after unix:".to_string()
            } else if file.starts_with('@') {
                "abstract Unix sockets (unix:@name) are not supported; use a path".to_string()
            } else if file.contains('\0') {
                "a path cannot contain NUL".to_string()
            } else {
                return Some(Spanned::new(
                    value.span(),
                    RawListen::Unix(file.to_string()),
                ));
            }
        } else {
            "expected tcp://HOST:PORT or unix:PATH".to_string()
        };
        self.push(
            Diagnostic::at(
                self.file,
                value.span(),
                format!("invalid socket address \"{text}\" for `{path}`"),
                problem,
            )
            .with_help(LISTEN_HELP),
        );
        None
    }

    /// Permission bits written in octal: `"0660"`, `"660"` (a string, since TOML integers are
    /// decimal; `0o660` is accepted too).
    fn file_mode(&mut self, value: &Value<'_>, path: &str) -> Option<Spanned<u32>> {
        const EXPECTED: &str = "permission bits in octal, such as \"0660\"";
        let mode = match value.get_ref() {
            DeValue::String(text) => u32::from_str_radix(text.trim(), 8).ok(),
            // A decimal 660 would not be what was meant: only 0o660.
            DeValue::Integer(integer) if integer.radix() == 8 => {
                u32::from_str_radix(integer.as_str(), 8).ok()
            }
            _ => {
                self.wrong_type(value, path, EXPECTED);
                return None;
            }
        };
        match mode {
            Some(mode) if mode <= 0o777 && mode & 0o200 != 0 => {
                Some(Spanned::new(value.span(), mode))
            }
            Some(mode) if mode <= 0o777 => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("`{path}` leaves the owner unable to connect"),
                        format!("{mode:04o} has no write permission for the owner"),
                    )
                    .with_help("connecting to a Unix socket needs write permission; try \"0600\" or \"0660\""),
                );
                None
            }
            _ => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid file mode for `{path}`"),
                        EXPECTED,
                    )
                    .with_help("for example: mode = \"0660\" (owner and group may connect)"),
                );
                None
            }
        }
    }
}
