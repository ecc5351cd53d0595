//! Resource sampling of whole process trees, `max_memory` restarts and `cpu_warn`/`memory_warn`
//! warnings, with real processes that allocate real memory and burn real CPU.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    Daemon, Project, WAIT, python, service, status, status_kb, survivors, toml_str,
    wait_daemon_log, wait_until,
};

/// Resident memory of one process from `/proc/PID/status` (`VmRSS`), in bytes.
fn vm_rss(pid: i32) -> Option<u64> {
    status_kb(pid, "VmRSS").map(|kib| kib * 1024)
}

fn resources(status: &Value, name: &str) -> Value {
    service(status, name)["resources"].clone()
}

/// A service whose main process forks three children, one of which double-forks a grandchild
/// that is re-parented to wrangle; each of the four children allocates and touches 24 MiB.
const TREE_SCRIPT: &str = r#"
import os, sys, time
CHUNK = 24 * 1024 * 1024
def hold():
    block = bytearray(CHUNK)
    for i in range(0, CHUNK, 4096):
        block[i] = 1
    open(os.environ["READY_DIR"] + "/" + str(os.getpid()), "w").close()
    while True:
        time.sleep(1)
for _ in range(3):
    if os.fork() == 0:
        hold()
if os.fork() == 0:
    if os.fork() == 0:
        hold()
    os._exit(0)
while True:
    time.sleep(1)
"#;

#[test]
fn sampling_sums_the_whole_tree_including_double_forked_children() {
    let project = Project::empty();
    project.write("tree.py", TREE_SCRIPT);
    let ready_dir = project.path("ready");
    std::fs::create_dir(&ready_dir).unwrap();
    project.write(
        "wrangle.toml",
        &format!(
            "[monitor]\ninterval = \"200ms\"\n\n[services.tree]\ncommand = [{}, \"tree.py\"]\nenv = {{ READY_DIR = {} }}\n\n[services.idle]\ncommand = \"sleep 60\"\n",
            toml_str(python()),
            toml_str(&ready_dir.to_string_lossy())
        ),
    );
    let _daemon = Daemon::start(&project, &[]);
    // Every child has touched its memory.
    assert!(
        wait_until(WAIT, || std::fs::read_dir(&ready_dir)
            .map(|dir| dir.count() == 4)
            .unwrap_or(false)),
        "the children did not all allocate"
    );
    // The tree: the main process, three children, the grandchild (its parent has exited).
    let members: Vec<i32> = survivors(&project.mark)
        .into_iter()
        .filter(|(_, command)| command.contains("tree.py"))
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(members.len(), 5, "tree members: {members:?}");
    // Wait for a sample taken after every child allocated. The snapshot can be one interval
    // older than the ready files (a sample of a child still touching its memory can already
    // pass the threshold), so the sample must also come to agree with /proc: the same pages,
    // read moments apart, within 10% of each other.
    let mut last = Value::Null;
    let mut compared = (0, 0);
    let sampled = wait_until(WAIT, || {
        last = status(&project);
        let memory = resources(&last, "tree")["memory_bytes"]
            .as_u64()
            .unwrap_or(0);
        let expected: u64 = members.iter().filter_map(|pid| vm_rss(*pid)).sum();
        compared = (memory, expected);
        resources(&last, "tree")["processes"] == 5
            && memory > (4 * 24) << 20
            && (memory.abs_diff(expected) as f64 / expected as f64) < 0.10
    });
    let (memory, expected) = compared;
    assert!(
        sampled,
        "no sample of the whole tree agreeing with /proc: sampled {memory} bytes, /proc says \
         {expected}: {last:#}"
    );
    let sampled = resources(&last, "tree");
    assert!(sampled["threads"].as_u64().unwrap() >= 5, "{last:#}");
    assert!(sampled["open_fds"].as_u64().unwrap() >= 5, "{last:#}");
    assert!(sampled["cpu_seconds"].as_f64().is_some(), "{last:#}");
    // The other service is sampled alone, and the daemon reports itself.
    assert_eq!(resources(&last, "idle")["processes"], 1, "{last:#}");
    assert!(
        last["daemon_resources"]["memory_bytes"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{last:#}"
    );
    // `ps` shows the columns, and the history holds the samples.
    let ps = project.run(&["ps"]);
    let tree_row = ps
        .stdout
        .lines()
        .find(|line| line.starts_with("tree"))
        .unwrap_or_else(|| panic!("{ps:#?}"));
    assert!(tree_row.contains("MiB"), "{ps:#?}");
}

#[test]
fn max_memory_restarts_a_leaking_service_and_records_why() {
    let project = Project::empty();
    // Grows by 4 MiB every 20 ms (touched, so resident) until the limit stops it.
    project.write(
        "leak.py",
        "import time\nblocks = []\nwhile True:\n    block = bytearray(4 << 20)\n    for i in range(0, len(block), 4096):\n        block[i] = 1\n    blocks.append(block)\n    time.sleep(0.02)\n",
    );
    project.write(
        "wrangle.toml",
        &format!(
            "[services.leak]\ncommand = [{}, \"leak.py\"]\nmax_memory = \"64MiB\"\nstop_timeout = \"2s\"\nmax_restarts = 100\n\n[services.steady]\ncommand = \"sleep 60\"\n",
            toml_str(python())
        ),
    );
    let daemon = Daemon::start(&project, &[]);
    let steady_pid = service(&status(&project), "steady")["pid"].as_i64();
    let mut last = Value::Null;
    let restarted = wait_until(Duration::from_secs(20), || {
        last = status(&project);
        service(&last, "leak")["restarts_by_cause"]["memory_limit"]
            .as_u64()
            .unwrap_or(0)
            >= 2
    });
    assert!(restarted, "no memory-limit restarts: {last:#}");
    let leak = service(&last, "leak");
    let reason = leak["last_restart_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("memory limit: ") && reason.contains("> 64MiB"),
        "{last:#}"
    );
    assert!(leak["restarts_by_cause"].get("crash").is_none(), "{last:#}");
    // Only the leaking service was touched.
    assert_eq!(service(&last, "steady")["pid"].as_i64(), steady_pid);
    assert_eq!(service(&last, "steady")["restarts"], 0);
    // The daemon's log says it too.
    wait_daemon_log(&project, &["memory limit: "]);
    drop(daemon);
}

#[test]
fn max_memory_restarts_in_the_foreground_too() {
    let project = Project::empty();
    project.write(
        "leak.py",
        "import time\nblocks = []\nwhile True:\n    block = bytearray(4 << 20)\n    for i in range(0, len(block), 4096):\n        block[i] = 1\n    blocks.append(block)\n    time.sleep(0.02)\n",
    );
    project.write(
        "wrangle.toml",
        &format!(
            "[services.leak]\ncommand = [{}, \"leak.py\"]\nmax_memory = \"48MiB\"\n",
            toml_str(python())
        ),
    );
    let mut wrangle = project.up(&[]);
    let limit = wrangle.expect_line_from(0, "leak * memory limit: ", WAIT * 2);
    wrangle.expect_line_from(limit, "leak * restarted (pid ", WAIT);
    wrangle.signal("INT");
    assert_eq!(wrangle.wait_exit(WAIT), 0, "{}", wrangle.transcript());
}

#[test]
fn cpu_warning_fires_only_after_the_sustained_period_and_memory_warning_too() {
    let project = Project::empty();
    project.write("spin.py", "while True:\n    pass\n");
    project.write(
        "wrangle.toml",
        &format!(
            "[monitor]\ninterval = \"200ms\"\n\n[services.spin]\ncommand = [{}, \"spin.py\"]\ncpu_warn = 1\nmemory_warn = \"1MiB\"\nwarn_after = \"2s\"\n\n[services.calm]\ncommand = \"sleep 60\"\ncpu_warn = 1\nwarn_after = \"1s\"\n",
            toml_str(python())
        ),
    );
    // A threshold of 1 %: a spinning process stays above it even when the shared machine gives
    // it a small slice of a core, while a sleeping one never reaches it.
    let started = Instant::now();
    let _daemon = Daemon::start(&project, &[]);
    let mut last = Value::Null;
    let warned = wait_until(WAIT * 2, || {
        last = status(&project);
        service(&last, "spin")["warnings"]
            .as_array()
            .is_some_and(|warnings| warnings.len() == 2)
    });
    assert!(warned, "no warnings: {last:#}");
    // Not before the sustained period: the process had to be above the threshold for 2 s.
    assert!(started.elapsed() >= Duration::from_secs(2));
    wait_daemon_log(
        &project,
        &["spin has used over 1% CPU for 2s", "of memory for 2s"],
    );
    // The calm service never warns.
    assert_eq!(service(&last, "calm")["warnings"], serde_json::json!([]));
}
