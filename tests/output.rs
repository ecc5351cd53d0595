//! What reaches the terminal: the exact line format, stderr markers, partial and very long lines,
//! colour rules, and commands whose shell syntax must stay literal.

use crate::support::{Project, WAIT, assert_no_survivors, interrupt, python, toml_str};

#[test]
fn lines_are_prefixed_with_a_padded_name_column_and_a_marker() {
    let project = Project::new(
        r#"
[services.a]
command = ["sh", "-c", "echo to stdout; echo to stderr >&2; exec sleep 370"]

[services.long-name]
command = ["sh", "-c", "echo '  indented'; exec sleep 371"]
"#,
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 2 services up in");
    wrangle.expect_line("a | to stdout");
    wrangle.expect_line("a ! to stderr");
    wrangle.expect_line("long-name |   indented");
    let lines = wrangle.lines();
    for expected in [
        "a          | to stdout",
        "a          ! to stderr",
        "long-name  |   indented",
    ] {
        assert!(
            lines.iter().any(|line| line == expected),
            "no line {expected:?}\n{}",
            wrangle.transcript()
        );
    }
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("wrangle    * all 2 services up in ")),
        "{}",
        wrangle.transcript()
    );
    interrupt(&project, &mut wrangle);
}

#[test]
fn partial_line_without_newline_is_shown() {
    let project = Project::new(
        r#"
[services.prompt]
command = ["sh", "-c", "printf 'no newline'; exec sleep 372"]
"#,
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("prompt | no newline");
    interrupt(&project, &mut wrangle);
}

#[test]
fn a_100_kb_line_passes_whole_and_output_goes_on() {
    let python = python();
    let script = "import sys, time\n\
                  sys.stdout.write('x' * 100000 + '\\n')\n\
                  sys.stdout.write('after the long line\\n')\n\
                  sys.stdout.flush()\n\
                  time.sleep(300)\n";
    let project = Project::new(&format!(
        r#"
[services.big]
command = ["{python}", "-c", {}]
"#,
        toml_str(script)
    ));
    let mut wrangle = project.up(&[]);
    let after = wrangle.expect_line("big | after the long line");
    // The long line may be passed on in pieces, each on its own prefixed line; together they
    // hold every byte.
    let xs: String = wrangle.lines()[..after]
        .iter()
        .filter_map(|line| line.strip_prefix("big      | "))
        .filter(|text| text.chars().all(|ch| ch == 'x'))
        .collect();
    assert_eq!(xs.len(), 100_000, "x count");
    interrupt(&project, &mut wrangle);
}

fn colour_run(extra_env: &[(&str, &str)]) -> String {
    let project = Project::new(
        r#"
[services.web]
command = ["sh", "-c", "echo hello; exec sleep 373"]
ready = { log = "hello" }
"#,
    );
    let mut command = project.command(&["up"]);
    command.env("TERM", "xterm-256color");
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let mut wrangle = project.spawn_command(command);
    // Coloured lines carry escapes between the words: look for the plain text only.
    let up = wrangle.wait_line(0, WAIT, |line| line.contains("all 1 service up in"));
    assert!(up.is_some(), "{}", wrangle.transcript());
    // Not `interrupt`: its closing line is looked for without escapes.
    wrangle.signal("INT");
    assert_eq!(wrangle.wait_exit(WAIT), 0, "{}", wrangle.transcript());
    assert_no_survivors(&project.mark);
    format!("{}{}", wrangle.stdout_text(), wrangle.stderr_text())
}

#[test]
fn no_ansi_escapes_when_piped_even_with_term_set() {
    let output = colour_run(&[]);
    assert!(
        !output.contains('\x1b'),
        "escape in piped output:\n{output}"
    );
    assert!(
        !output.contains('\r'),
        "progress line in piped output:\n{output}"
    );
}

#[test]
fn no_color_wins_over_clicolor_force() {
    // Without NO_COLOR, CLICOLOR_FORCE does colour a pipe: the check below is not vacuous.
    let forced = colour_run(&[("CLICOLOR_FORCE", "1")]);
    assert!(
        forced.contains('\x1b'),
        "CLICOLOR_FORCE=1 gave no colour:\n{forced}"
    );
    let output = colour_run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!output.contains('\x1b'), "NO_COLOR ignored:\n{output}");
}

#[test]
fn shell_metacharacters_in_a_command_string_stay_literal() {
    // `sh` only prints its arguments ("$@" expands without being evaluated again) and stays up;
    // every other word must reach it exactly as written.
    let project = Project::new(
        r#"
[services.literal]
command = '''sh -c 'printf "%s\n" "$@"; exec sleep 375' sh a; $(touch PWNED) `touch PWNED3` * && | > out.txt $HOME'''
"#,
    );
    let mut wrangle = project.up(&[]);
    for word in [
        "a;", "$(touch", "PWNED)", "`touch", "PWNED3`", "*", "&&", "|", ">", "out.txt", "$HOME",
    ] {
        let expected = format!("literal  | {word}");
        let found = wrangle.wait_line(0, WAIT, |line| line == expected);
        assert!(
            found.is_some(),
            "{expected:?} missing\n{}",
            wrangle.transcript()
        );
    }
    for file in ["PWNED", "PWNED3", "out.txt"] {
        assert!(!project.exists(file), "{file} was created: a shell ran");
    }
    interrupt(&project, &mut wrangle);
}

#[test]
fn shell_metacharacters_in_an_argv_stay_literal() {
    let project = Project::new(
        r#"
[services.literal]
command = ["sh", "-c", "printf '%s\\n' \"$@\"; exec sleep 376", "sh", "; touch PWNED", "$(touch PWNED2)", "`touch PWNED3`", "*"]
"#,
    );
    let mut wrangle = project.up(&[]);
    for word in ["; touch PWNED", "$(touch PWNED2)", "`touch PWNED3`", "*"] {
        let expected = format!("literal  | {word}");
        let found = wrangle.wait_line(0, WAIT, |line| line == expected);
        assert!(
            found.is_some(),
            "{expected:?} missing\n{}",
            wrangle.transcript()
        );
    }
    for file in ["PWNED", "PWNED2", "PWNED3"] {
        assert!(!project.exists(file), "{file} was created: a shell ran");
    }
    interrupt(&project, &mut wrangle);
}

#[test]
fn shell_true_runs_through_sh() {
    let project = Project::new(
        r#"
[services.shelly]
command = "echo $((6 * 7)) > answer.txt && cat answer.txt | tr 4 X; exec sleep 374"
shell = true
"#,
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("shelly | X2");
    assert!(project.exists("answer.txt"));
    interrupt(&project, &mut wrangle);
}

// Known bugs: these tests fail until wrangle is fixed (see the commit message).

#[test]
fn output_of_a_one_shot_service_is_shown_before_its_exit() {
    // A one-shot service prints and exits at once: its output must be shown, and before the
    // "exited" line. Try several runs, since the loss depends on scheduling.
    let project = Project::new(
        r#"
[services.oneshot]
command = ["sh", "-c", "echo done-working"]
"#,
    );
    for _ in 0..10 {
        let finished = project.run(&["up"]);
        assert_eq!(finished.code, 0, "{finished:#?}");
        let output = finished.stdout.find("oneshot  | done-working");
        let exited = finished.stdout.find("oneshot  * exited with code 0");
        assert!(
            matches!((output, exited), (Some(output), Some(exited)) if output < exited),
            "output lost or shown after the exit: {finished:#?}"
        );
    }
    assert_no_survivors(&project.mark);
}

#[test]
fn hash_in_a_command_string_stays_literal() {
    // docs/config.md: "`;`, `|`, `&&`, `>`, `$VAR`, `$(...)`, backticks, globs and `#` are
    // passed to the program as ordinary words".
    let project = Project::new(
        r#"
[services.literal]
command = '''sh -c 'printf "%s\n" "$@"; exec sleep 377' sh before #hash after'''
"#,
    );
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("literal | before");
    for word in ["#hash", "after"] {
        let expected = format!("literal  | {word}");
        let found = wrangle.wait_line(0, std::time::Duration::from_secs(2), |line| {
            line == expected
        });
        assert!(
            found.is_some(),
            "{expected:?} missing: the words from `#` on were dropped\n{}",
            wrangle.transcript()
        );
    }
    interrupt(&project, &mut wrangle);
}

/// Runs `wrangle ARGS` in the project with its stdout and stderr on a pseudo-terminal (stdin
/// null) until it exits (bounded); everything it wrote, as the terminal received it.
fn on_a_terminal(project: &Project, args: &[&str]) -> Vec<u8> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::OpenptFlags;
    use std::io::Read;
    use std::os::fd::OwnedFd;
    use std::process::Stdio;

    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    rustix::pty::grantpt(&master).expect("grantpt");
    rustix::pty::unlockpt(&master).expect("unlockpt");
    let name = rustix::pty::ptsname(&master, Vec::new()).expect("ptsname");
    let slave: OwnedFd = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .expect("open the pty's slave");
    let mut command = project.command(args);
    command
        .stdout(Stdio::from(slave.try_clone().expect("dup the slave")))
        .stderr(Stdio::from(slave));
    let mut child = command.spawn().expect("spawn wrangle");
    // Only the child holds the slave now: the master reads EIO once it (and what it started
    // with the terminal) is gone.
    drop(command);
    let mut master = std::fs::File::from(master);
    let reader = std::thread::spawn(move || {
        let mut received = Vec::new();
        let mut buffer = [0u8; 65536];
        while let Ok(read) = master.read(&mut buffer) {
            if read == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..read]);
        }
        received
    });
    let mut status = None;
    let exited = crate::support::wait_until(WAIT, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    let received = reader.join().expect("the reader thread");
    assert!(
        exited && status.is_some_and(|status| status.success()),
        "wrangle {args:?} on a terminal: {status:?}\n{}",
        String::from_utf8_lossy(&received)
    );
    received
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn a_services_escape_sequences_are_shown_not_obeyed_on_a_terminal_unless_asked() {
    // OSC 52 (writes the clipboard), then `\r ESC[K` erasing the prefix to pose as wrangle,
    // then a colour; printed before the service is ready, so `up -d` relays it too.
    let project = Project::new(
        r#"
[services.evil]
command = ["sh", "-c", "printf '\\033]52;c;ZXZpbA==\\007\\r\\033[Kwrangle  * all fine \\033[31mred\\033[0m\\n'; sleep 0.3; echo ready; exec sleep 480"]
ready = { log = "ready" }
"#,
    );
    let _guard = crate::support::DaemonGuard::new(&project);
    let osc52 = "\x1b]52;c;ZXZpbA==\x07";
    let visible = "^[]52;c;ZXZpbA==^G^M^[[Kwrangle  * all fine";

    let started = on_a_terminal(&project, &["up", "-d"]);
    assert!(
        contains(&started, visible) && !contains(&started, osc52),
        "up -d relayed the escapes raw: {}",
        String::from_utf8_lossy(&started)
    );

    let plain = on_a_terminal(&project, &["logs", "evil"]);
    assert!(
        contains(&plain, &format!("{visible} ^[[31mred^[[0m")) && !contains(&plain, osc52),
        "{}",
        String::from_utf8_lossy(&plain)
    );
    let colours = on_a_terminal(&project, &["logs", "--service-colors", "evil"]);
    assert!(
        contains(&colours, &format!("{visible} \x1b[31mred\x1b[0m")) && !contains(&colours, osc52),
        "{}",
        String::from_utf8_lossy(&colours)
    );
    let raw = on_a_terminal(&project, &["logs", "--raw", "evil"]);
    assert!(contains(&raw, osc52), "{}", String::from_utf8_lossy(&raw));

    // Not a terminal: the bytes as written.
    let piped = project.run(&["logs", "evil"]);
    assert_eq!(piped.code, 0, "{piped:#?}");
    assert!(
        piped.stdout.contains(&format!("{osc52}\r\x1b[Kwrangle")),
        "{piped:#?}"
    );
}

#[test]
fn a_run_as_root_says_once_that_services_run_as_root() {
    let project = Project::new("[services.api]\ncommand = [\"sleep\", \"481\"]\n");
    let _guard = crate::support::DaemonGuard::new(&project);
    let is_root = rustix::process::geteuid().is_root();
    let notice = "wrangle * running as root: services without `user` run as root too (api)";

    let mut wrangle = project.up(&[]);
    let ready = wrangle.expect_line("wrangle * all 1 service");
    let said = wrangle.lines()[..=ready]
        .iter()
        .filter(|line| crate::support::normalize(line).contains(notice))
        .count();
    assert_eq!(said, usize::from(is_root), "{}", wrangle.transcript());
    interrupt(&project, &mut wrangle);

    let detached = project.run_unswept(&["up", "-d"]);
    assert_eq!(detached.code, 0, "{detached:#?}");
    let said = detached
        .stdout
        .lines()
        .filter(|line| crate::support::normalize(line).contains(notice))
        .count();
    assert_eq!(said, usize::from(is_root), "{detached:#?}");
}
