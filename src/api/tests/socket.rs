//! The socket: its mode, its directory, stale sockets, other users.

use super::*;

#[test]
fn socket_is_0600_and_the_directory_must_be_private_and_ours() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let mode = std::fs::symlink_metadata(&harness.socket).unwrap().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(harness.dir.path()).unwrap().mode() & 0o777,
            0o700
        );
        harness.stop().await;

        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let error = bind(&dir.path().join("api.sock")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::PermissionDenied);
        assert!(error.to_string().contains("0755"), "{error}");

        // A symlink to a private directory is not followed.
        let private = private_dir();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(private.path(), &link).unwrap();
        let error = bind(&link.join("api.sock")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error}");

        let error = bind(&dir.path().join("missing").join("api.sock")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    });
}

#[test]
fn a_stale_socket_is_replaced_but_nothing_else() {
    runtime().block_on(async {
        let dir = private_dir();
        let socket = dir.path().join("api.sock");
        drop(bind(&socket).unwrap());
        assert!(socket.exists(), "the stale socket file is left behind");
        let listener = bind(&socket).unwrap();
        drop(listener);

        let file = dir.path().join("file");
        std::fs::write(&file, "keep me").unwrap();
        let error = bind(&file).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

        // A symlink to a socket is not a socket: refused, and neither it nor its target goes.
        let link = dir.path().join("link.sock");
        std::os::unix::fs::symlink(&socket, &link).unwrap();
        let error = bind(&link).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AlreadyExists);
        assert!(std::fs::symlink_metadata(&link).is_ok());
        assert!(std::fs::symlink_metadata(&socket).is_ok());
    });
}

/// Connects to `socket` as uid/gid 65534 (or as ourselves with `--same-user`), sends a GET, and
/// prints `closed` or `response ...`.
const PEER_SCRIPT: &str = r#"
import os, socket, sys
if sys.argv[2] != "--same-user":
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = s.recv(65536)
except (ConnectionResetError, BrokenPipeError):
    data = b""
print("closed" if not data else "response " + data.split(b"\r\n")[0].decode())
"#;

#[test]
fn a_connection_from_another_user_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to connect as another user");
        return;
    }
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        // Open the socket to everyone, so that only the peer check can refuse.
        std::fs::set_permissions(harness.dir.path(), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        std::fs::set_permissions(&harness.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        let run_as = |who: &'static str| {
            let socket = harness.socket.clone();
            tokio::task::spawn_blocking(move || {
                let output = std::process::Command::new("python3")
                    .args(["-c", PEER_SCRIPT])
                    .arg(&socket)
                    .arg(who)
                    .output()
                    .expect("python3 runs");
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                String::from_utf8_lossy(&output.stdout).trim().to_string()
            })
        };
        // The control: the same script as ourselves gets an answer.
        assert_eq!(
            run_as("--same-user").await.unwrap(),
            "response HTTP/1.1 200 OK"
        );

        let refused_before = server::refused_connections();
        assert_eq!(run_as("--nobody").await.unwrap(), "closed");
        assert!(server::refused_connections() > refused_before);

        // And the server goes on serving its own user.
        assert_eq!(harness.client.status().await.unwrap().name, "app");
        harness.stop().await;
    });
}

#[test]
fn the_client_fails_fast_when_no_daemon_runs() {
    runtime().block_on(async {
        let dir = private_dir();
        let started = Instant::now();
        let client = Client::new(dir.path().join("api.sock"));
        assert!(matches!(
            client.status().await,
            Err(ClientError::NotRunning)
        ));
        assert!(matches!(
            client.follow_events(|_| true).await,
            Err(ClientError::NotRunning)
        ));

        // A socket file nobody listens on (a daemon that died).
        drop(bind(&dir.path().join("api.sock")).unwrap());
        assert!(matches!(
            client.request(&Request::Shutdown).await,
            Err(ClientError::NotRunning)
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
    });
}
