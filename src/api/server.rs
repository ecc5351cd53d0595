//! The control socket: binding it safely and serving the router on it.
//!
//! The socket lives in the project's private state directory. [`bind`] refuses a directory that
//! is not ours or not 0700 (the directory's mode is what keeps other users out), replaces a stale
//! socket but never anything else, and leaves the socket 0600. [`serve`] hands only connections
//! from our own user to the router (see `peer`), within the [`LIMITS`] every listener has (see
//! [`crate::listener`]), and on shutdown ends the SSE streams, lets in-flight requests finish for
//! up to [`DRAIN_TIMEOUT`], and returns.
//!
//! # Caveats
//!
//! - [`bind`] removes whatever socket is at the path: the caller must hold the project lock, so
//!   that no live daemon can own it.
//! - Connection tasks are spawned on the current runtime (`tokio::spawn`); every future involved
//!   is `Send`, so a current-thread runtime (with or without a `LocalSet`) serves them.

use std::fs;
use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use tokio::net::UnixListener;
use tokio::sync::watch;

use crate::api::ApiContext;
use crate::api::peer::{PeerCheckedListener, REFUSED_CONNECTIONS};
use crate::api::routes;
use crate::listener::{self, Limits};

/// How long [`serve`] lets open connections finish after `shutdown` completes.
pub const DRAIN_TIMEOUT: Duration = listener::DRAIN_TIMEOUT;

/// How long a connection may take to deliver a request's headers, from the moment the server
/// waits for them (on accept, and after each response on a kept-alive connection); then it is
/// closed. The CLI writes its request at once, so this only ever ends connections that stalled
/// (idle, or sending a byte at a time), which would otherwise pile up in the daemon.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the control socket allows its clients (see [`listener`]). Clients are our own user's (the
/// socket is private and peers are checked), so the cap is generous; `logs -f` and `events`
/// streams may stay open as long as the client reads, and longer: how far a follower may fall
/// behind is the routes' business.
pub const LIMITS: Limits = Limits {
    name: "control socket",
    max_connections: 512,
    header_timeout: HEADER_READ_TIMEOUT,
    body_timeout: routes::BODY_READ_TIMEOUT,
    max_body_bytes: routes::BODY_LIMIT,
    // A handler waits up to `REPLY_TIMEOUT` for the daemon; the answer (at most
    // `MAX_LOG_LINES` lines) then has the rest to be read.
    request_timeout: Duration::from_secs(30),
    stall_timeout: None,
};

/// Binds the control socket: parent dir must exist and be 0700 and ours (check, refuse
/// otherwise); remove a stale socket file at the exact path only if it IS a socket
/// (symlink_metadata; never follow symlinks) — the caller holds the project lock, so a live
/// daemon cannot own it; bind; chmod 0600.
///
/// Must be called within a tokio runtime (the listener registers with its reactor).
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    check_private_dir(parent)?;
    remove_stale_socket(path)?;
    let listener = UnixListener::bind(path).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot bind the control socket {}: {error}", path.display()),
        )
    })?;
    // Between bind and chmod the socket has the umask's mode, but nobody else can reach it: the
    // directory is 0700 and ours (checked above).
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves until `shutdown` completes, within `limits` (normally [`LIMITS`], with a cap fitted to
/// the descriptor limit). Every accepted connection's peer uid (SO_PEERCRED) must equal our own
/// euid, else the connection is closed immediately and counted (see [`refused_connections`]).
/// Works on a current-thread runtime.
///
/// After `shutdown` completes no connection is accepted, SSE streams end, and requests in
/// flight get up to [`DRAIN_TIMEOUT`] to finish; connections still open then are left to end on
/// their own (within their limits).
pub async fn serve(
    listener: UnixListener,
    context: ApiContext,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_router(
        listener,
        |stop| routes::router(context, stop),
        limits,
        shutdown,
    )
    .await
}

/// [`serve`] with the router made by `make_router` from the stop signal of SSE streams.
pub(crate) async fn serve_router(
    listener: UnixListener,
    make_router: impl FnOnce(watch::Receiver<bool>) -> Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop_sender, stop) = watch::channel(false);
    let router = make_router(stop);
    let shutdown = async move {
        shutdown.await;
        // SSE streams end, so that their connections can close.
        stop_sender.send_replace(true);
    };
    listener::serve(PeerCheckedListener::new(listener), router, limits, shutdown).await;
    Ok(())
}

/// Connections refused by [`serve`] because their peer was another user, since the process
/// started.
pub fn refused_connections() -> u64 {
    REFUSED_CONNECTIONS.load(Ordering::Relaxed)
}

fn check_private_dir(dir: &Path) -> io::Result<()> {
    let metadata = fs::symlink_metadata(dir).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("control socket directory {}: {error}", dir.display()),
        )
    })?;
    let refuse = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing control socket directory {}: {why}", dir.display()),
        ))
    };
    if !metadata.file_type().is_dir() {
        return refuse("not a directory (symlinks are not followed)".to_string());
    }
    let euid = rustix::process::geteuid().as_raw();
    if metadata.uid() != euid {
        return refuse(format!("owned by uid {}, not {euid}", metadata.uid()));
    }
    let mode = metadata.mode() & 0o7777;
    if mode != 0o700 {
        return refuse(format!("mode {mode:04o}, must be 0700"));
    }
    Ok(())
}

fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_socket() => fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "refusing to replace {}: it exists and is not a socket",
                path.display()
            ),
        )),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}
