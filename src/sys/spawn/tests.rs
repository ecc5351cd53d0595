use std::io::Read;

use super::*;

fn request(argv: &[&str], output: Output) -> SpawnRequest {
    SpawnRequest {
        argv: argv.iter().map(|arg| arg.to_string()).collect(),
        cwd: PathBuf::from("/"),
        env: BTreeMap::new(),
        env_remove: Vec::new(),
        output,
        death_signal: None,
        cgroup: None,
        stdin: None,
        listen: None,
        limits: ChildLimits::default(),
        credentials: None,
    }
}

fn wait(pid: i32) -> rustix::process::WaitStatus {
    let pid = Pid::from_raw(pid).expect("pid");
    rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
        .expect("waitpid")
        .expect("a status")
        .1
}

fn read_all(fd: Option<OwnedFd>) -> String {
    let mut text = String::new();
    std::fs::File::from(fd.expect("a pipe"))
        .read_to_string(&mut text)
        .expect("read");
    text
}

/// Both ways of starting a child: the fast one where available (this machine), and the
/// portable one it falls back to.
fn each_way(test: impl Fn(bool)) {
    assert!(
        !vfork::available() || cfg!(target_arch = "x86_64"),
        "the fast way is x86_64 only"
    );
    test(false);
    vfork::force_fallback_for_tests(true);
    test(true);
    vfork::force_fallback_for_tests(false);
}

#[test]
fn a_child_gets_its_environment_directory_and_output_pipes() {
    each_way(|fallback| {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut request = request(
            &[
                "sh",
                "-c",
                "echo \"$FOO $KEPT\"; pwd; echo oops >&2; exit 3",
            ],
            Output::Capture,
        );
        request.cwd = dir.path().to_path_buf();
        request.env.insert("FOO".into(), "bar".into());
        request.env.insert("KEPT".into(), "set".into());
        request.env_remove.push("HOME".into());
        let child = spawn(&mut request).expect("spawn");
        let stdout = read_all(child.stdout);
        let cwd = dir.path().canonicalize().expect("canonical");
        assert_eq!(
            stdout,
            format!("bar set\n{}\n", cwd.display()),
            "fallback: {fallback}"
        );
        assert_eq!(read_all(child.stderr), "oops\n");
        assert_eq!(wait(child.pid).exit_status(), Some(3));
    });
}

#[test]
fn a_child_gets_the_descriptor_limit_wrangle_had_before_raising_its_own() {
    // The test process is its own (nextest): its limit is ours to change. Make sure there is
    // room between soft and hard, then raise, as the daemon does.
    let (soft, hard) = crate::sys::nofile::limits();
    let lowered = soft.min(hard / 2).min(1024);
    let low = rustix::process::Rlimit {
        current: Some(lowered),
        maximum: Some(hard),
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, low).expect("setrlimit");
    let raised = crate::sys::nofile::raise_soft_to_hard().expect("raise");
    assert_eq!(raised, hard);
    each_way(|fallback| {
        let mut request = request(&["sh", "-c", "ulimit -n"], Output::Capture);
        let child = spawn(&mut request).expect("spawn");
        assert_eq!(
            read_all(child.stdout).trim(),
            lowered.to_string(),
            "fallback: {fallback}"
        );
        assert_eq!(wait(child.pid).exit_status(), Some(0));
    });
}

#[test]
fn a_child_gets_its_nice_value_and_resource_limits() {
    // Values any user may set: lowering limits and raising the nice value need no privilege.
    let hard = |resource| {
        rustix::process::getrlimit(resource)
            .maximum
            .unwrap_or(u64::MAX)
    };
    let memlock = hard(rustix::process::Resource::Memlock).min(65536);
    let nproc = hard(rustix::process::Resource::Nproc).min(100_000);
    each_way(|fallback| {
        let mut request = request(
            &["sh", "-c", "cat /proc/$$/limits /proc/$$/stat"],
            Output::Capture,
        );
        request.limits = ChildLimits {
            nice: Some(6),
            nofile: Some(123),
            nproc: Some(nproc),
            core: Some(0),
            memlock: Some(memlock),
        };
        let child = spawn(&mut request).expect("spawn");
        let text = read_all(child.stdout);
        assert_eq!(wait(child.pid).exit_status(), Some(0));
        let row = |name: &str| -> Vec<String> {
            let line = text
                .lines()
                .find(|line| line.starts_with(name))
                .unwrap_or_else(|| panic!("no {name} in {text}"));
            line[name.len()..]
                .split_whitespace()
                .take(2)
                .map(String::from)
                .collect()
        };
        let both = |value: u64| vec![value.to_string(), value.to_string()];
        assert_eq!(row("Max open files"), both(123), "fallback: {fallback}");
        assert_eq!(row("Max processes"), both(nproc), "fallback: {fallback}");
        assert_eq!(row("Max core file size"), both(0), "fallback: {fallback}");
        assert_eq!(
            row("Max locked memory"),
            both(memlock),
            "fallback: {fallback}"
        );
        // The stat line follows the limits: its 19th field is the nice value.
        let stat = text.lines().last().expect("the stat line");
        let nice = stat
            .rsplit_once(") ")
            .expect("a stat line")
            .1
            .split(' ')
            .nth(16);
        assert_eq!(nice, Some("6"), "fallback: {fallback}: {stat}");
    });
}

#[test]
fn a_child_leads_a_new_session_with_default_signals_and_a_pidfd_of_its_own() {
    // The spawning thread blocks a signal, as the sentinel does: the child must not.
    // SAFETY: changes only this test thread's mask; a zeroed set is initialised by
    // sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    each_way(|fallback| {
        let child = spawn(&mut request(&["sleep", "30"], Output::Discard)).expect("spawn");
        // Its exec is done when spawn returns.
        let info = crate::sys::process_table::process(child.pid).expect("alive");
        assert_eq!((info.sid, info.pgid), (child.pid, child.pid), "{fallback}");
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", child.pid)).expect("status");
        let mask = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                .expect("a signal mask")
        };
        assert_eq!(mask("SigBlk:"), 0, "nothing blocked: {status}");
        // SIGPIPE (13), which Rust's runtime ignores, is back to its default.
        assert_eq!(
            mask("SigIgn:") & (1 << 12),
            0,
            "SIGPIPE not ignored: {status}"
        );
        pidfd_signal(&child.pidfd, Signal::KILL.as_raw()).expect("signal");
        assert_eq!(wait(child.pid).terminating_signal(), Some(9));
    });
}

#[test]
fn a_child_gets_its_sockets_at_3_and_up_with_its_own_pid_in_listen_pid() {
    // Two listening sockets, and a descriptor without close-on-exec that must not leak.
    let first = crate::sys::sockets::bind_tcp("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let second = crate::sys::sockets::bind_tcp("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let stray = OwnedFd::from(tempfile::tempfile().expect("tempfile"));
    let flags = rustix::io::fcntl_getfd(&stray).expect("getfd");
    rustix::io::fcntl_setfd(&stray, flags - rustix::io::FdFlags::CLOEXEC).expect("setfd");
    each_way(|fallback| {
        // `$$` is the shell's own pid: the process that exec'd from the spawn.
        let script = "echo \"$LISTEN_PID $$ $LISTEN_FDS $LISTEN_FDNAMES\"; ls /proc/self/fd | sort -n | tr '\\n' ' '; echo";
        let mut request = request(&["sh", "-c", script], Output::Capture);
        request.env_remove = vec!["LISTEN_PID".into(), "LISTEN_FDS".into()];
        request.listen = Some(ListenFds {
            fds: vec![second.as_raw_fd(), first.as_raw_fd()],
            names: vec!["admin".into(), "http".into()],
        });
        let child = spawn(&mut request).expect("spawn");
        let pid = child.pid;
        let output = read_all(child.stdout);
        assert_eq!(wait(pid).exit_status(), Some(0));
        let mut lines = output.lines();
        let listen = lines.next().expect("a first line");
        assert_eq!(
            listen,
            format!("{pid} {pid} 2 admin:http"),
            "fallback: {fallback}"
        );
        // 0, 1, 2, the two sockets, and `ls`'s own directory descriptor.
        let fds: Vec<&str> = lines.next().expect("fds").split_whitespace().collect();
        assert_eq!(
            fds[..5],
            ["0", "1", "2", "3", "4"],
            "fallback: {fallback}: {output}"
        );
        assert_eq!(fds.len(), 6, "fallback: {fallback}: {output}");
    });
    // The sockets at 3 and 4 are the ones asked for, in that order: the same sockets
    // (`socket:[INODE]`) as wrangle's.
    each_way(|fallback| {
        let script = "for fd in 3 4; do readlink /proc/self/fd/$fd; done";
        let mut request = request(&["sh", "-c", script], Output::Capture);
        request.listen = Some(ListenFds {
            fds: vec![second.as_raw_fd(), first.as_raw_fd()],
            names: vec!["admin".into(), "http".into()],
        });
        let child = spawn(&mut request).expect("spawn");
        let pid = child.pid;
        let output = read_all(child.stdout);
        assert_eq!(wait(pid).exit_status(), Some(0));
        let inode = |fd: &OwnedFd| {
            let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
            std::fs::read_link(path)
                .expect("link")
                .display()
                .to_string()
        };
        assert_eq!(
            output,
            format!("{}\n{}\n", inode(&second), inode(&first)),
            "fallback: {fallback}"
        );
    });
    // A program that cannot be run is still an error of the spawn, also when the fallback
    // execs it itself.
    each_way(|fallback| {
        let mut missing = request(&["no-such-program-wrangle"], Output::Discard);
        missing.listen = Some(ListenFds {
            fds: vec![first.as_raw_fd()],
            names: vec!["http".into()],
        });
        let error = spawn(&mut missing).expect_err("not found");
        assert_eq!(
            error.kind(),
            io::ErrorKind::NotFound,
            "fallback: {fallback}"
        );
    });
    drop(stray);
}

#[test]
fn a_child_gets_no_descriptor_but_its_stdio_whatever_wrangle_holds() {
    // One that wrangle itself was started with, without close-on-exec (a shell's lock).
    let inherited = OwnedFd::from(tempfile::tempfile().expect("tempfile"));
    let flags = rustix::io::fcntl_getfd(&inherited).expect("getfd");
    rustix::io::fcntl_setfd(&inherited, flags - rustix::io::FdFlags::CLOEXEC).expect("setfd");
    each_way(|fallback| {
        let mut request = request(&["sh", "-c", "echo up; sleep 30"], Output::Capture);
        request.stdin = Some(OwnedFd::from(tempfile::tempfile().expect("stdin")));
        let child = spawn(&mut request).expect("spawn");
        // The vfork parent resumes as the exec begins, before the kernel has closed the
        // close-on-exec descriptors: look once the program runs.
        let mut up = [0u8; 3];
        std::fs::File::from(child.stdout.expect("stdout"))
            .read_exact(&mut up)
            .expect("up");
        let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{}/fd", child.pid))
            .expect("fd dir")
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect();
        fds.sort_unstable();
        pidfd_signal(&child.pidfd, Signal::KILL.as_raw()).expect("signal");
        wait(child.pid);
        assert_eq!(fds, vec![0, 1, 2], "fallback: {fallback}");
    });
}

#[test]
fn a_missing_program_is_an_error_of_the_spawn_not_an_exit() {
    each_way(|fallback| {
        let error = spawn(&mut request(&["no-such-program-wrangle"], Output::Capture))
            .expect_err("not found");
        assert_eq!(error.kind(), io::ErrorKind::NotFound, "{fallback}");
        let mut missing_dir = request(&["true"], Output::Discard);
        missing_dir.cwd = PathBuf::from("/no/such/directory");
        let error = spawn(&mut missing_dir).expect_err("no directory");
        assert_eq!(error.kind(), io::ErrorKind::NotFound, "{fallback}");
    });
}

#[test]
fn an_exec_failure_is_never_taken_for_a_cgroup_refusal() {
    if !vfork::available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\n").expect("write");
    let error = spawn(&mut request(
        &[script.to_str().expect("utf-8")],
        Output::Discard,
    ))
    .expect_err("denied");
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    // The runtime retries without cgroups on a raw EACCES from joining one.
    assert_eq!(error.raw_os_error(), None);
}

#[test]
fn a_script_without_a_shebang_runs_with_the_shell() {
    each_way(|fallback| {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("plain");
        std::fs::write(&script, "echo \"plain $1\"\n").expect("write");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let mut request = request(&["./plain", "arg"], Output::Capture);
        request.cwd = dir.path().to_path_buf();
        let child = spawn(&mut request).expect("spawn");
        assert_eq!(read_all(child.stdout), "plain arg\n", "{fallback}");
        assert_eq!(wait(child.pid).exit_status(), Some(0));
    });
}
