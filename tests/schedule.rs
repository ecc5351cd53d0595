//! Runs by the clock (`schedule`, `every`, `on_schedule`) with real, short schedules and real
//! daemons: jobs run at their times and never twice at once (a time during a run is skipped and
//! said so), their runs and exit codes in `ps --json` and `describe`, a stop that holds until a
//! start, a service restarted at its times, a successor daemon that keeps the schedule after a
//! SIGKILL, a foreground run that waits for its jobs, and located config errors. Every wait is
//! bounded; no test asserts on the wall clock (the cron arithmetic is tested with fixed
//! instants in `spec::schedule`).

use serde_json::Value;

use crate::support::{
    Daemon, Project, WAIT, daemon_log, interrupt, pid, send_signal, service, state, status,
    successor_status, wait_daemon_log, wait_until,
};

fn lines(project: &Project, name: &str) -> usize {
    std::fs::read_to_string(project.path(name))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

/// `wrangle describe NAME --json`, which must succeed and parse.
fn describe(project: &Project, name: &str) -> Value {
    let run = project.run(&["describe", name, "--json"]);
    assert_eq!(run.code, 0, "{run:#?}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {run:#?}"))
}

/// The runs of `name` in `describe --json` that ended.
fn ended_runs(project: &Project, name: &str) -> Vec<Value> {
    describe(project, name)["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|run| !run["ended_at"].is_null())
        .collect()
}

#[test]
fn jobs_run_at_their_times_never_twice_at_once_with_their_exit_codes_in_ps_and_describe() {
    // Each run of `job` takes longer than the second between two times: the time in between is
    // skipped, and a run that found another one going would say so in overlap.txt. `failing`
    // exits with 3 every second.
    let project = Project::new(
        r#"
[services.web]
command = "sleep 300"

[services.job]
command = ["sh", "-c", "if [ -e running ]; then echo overlap >> overlap.txt; fi; touch running; sleep 1.5; rm running; echo ran >> runs.txt"]
schedule = "* * * * * *"
restart = "never"

[services.failing]
command = ["sh", "-c", "echo ran >> failed.txt; exit 3"]
every = "1s"
restart = "never"
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    assert!(
        wait_until(WAIT * 2, || lines(&project, "runs.txt") >= 2
            && lines(&project, "failed.txt") >= 2),
        "job ran {} times, failing {} times",
        lines(&project, "runs.txt"),
        lines(&project, "failed.txt")
    );
    wait_daemon_log(
        &project,
        &[
            "its scheduled time: starting",
            "its scheduled time was skipped: its previous run is still going",
        ],
    );
    assert!(!project.exists("overlap.txt"), "two runs overlapped");

    // Two runs each in `describe`, ended with their exit codes; a failed job fails nothing else.
    let mut runs = Vec::new();
    assert!(
        wait_until(WAIT, || {
            runs = ended_runs(&project, "job");
            runs.len() >= 2
        }),
        "{runs:#?}"
    );
    for run in &runs {
        assert_eq!(run["exit"]["code"], 0, "{runs:#?}");
        assert_eq!(run["stopped"], false, "{runs:#?}");
        let started = humantime::parse_rfc3339(run["started_at"].as_str().unwrap()).unwrap();
        let ended = humantime::parse_rfc3339(run["ended_at"].as_str().unwrap()).unwrap();
        assert!(ended > started, "{run:#}");
    }
    assert!(
        wait_until(WAIT, || {
            runs = ended_runs(&project, "failing");
            runs.len() >= 2
        }),
        "{runs:#?}"
    );
    assert!(runs.iter().all(|run| run["exit"]["code"] == 3), "{runs:#?}");

    let ps = status(&project);
    for name in ["job", "failing"] {
        let next = service(&ps, name)["next_run"].as_str().expect("next_run");
        assert!(humantime::parse_rfc3339(next).is_ok(), "{ps:#}");
    }
    assert_eq!(service(&ps, "web")["next_run"], Value::Null);
    assert_eq!(state(&ps, "web"), "running", "{ps:#}");
    assert!(
        wait_until(WAIT, || service(&status(&project), "failing")["last_exit"]
            ["code"]
            == 3),
        "{:#}",
        status(&project)
    );

    let table = project.run(&["ps"]);
    assert!(
        table.stdout.contains("job: next scheduled run at "),
        "{table:#?}"
    );
    let text = project.run(&["describe", "failing"]);
    assert!(
        text.stdout
            .lines()
            .any(|line| line.starts_with("schedule ") && line.ends_with(" every 1s")),
        "{text:#?}"
    );
    assert!(
        text.stdout
            .lines()
            .any(|line| line.starts_with("runs ") && line.contains(" exit code 3 after ")),
        "{text:#?}"
    );
}

#[test]
fn a_stopped_job_stays_stopped_until_it_is_started() {
    let project = Project::new(
        r#"
[services.job]
command = ["sh", "-c", "echo ran >> runs.txt; exec sleep 0.2"]
every = "1s"
restart = "never"
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    assert!(wait_until(WAIT, || lines(&project, "runs.txt") >= 1));
    let stop = project.run(&["stop", "job"]);
    assert_eq!(stop.code, 0, "{stop:#?}");
    let stopped = status(&project);
    assert_eq!(
        service(&stopped, "job")["next_run"],
        Value::Null,
        "{stopped:#}"
    );
    // A start runs it at once, and its times come again.
    let before = lines(&project, "runs.txt");
    let start = project.run(&["start", "job"]);
    assert_eq!(start.code, 0, "{start:#?}");
    assert!(
        wait_until(WAIT, || lines(&project, "runs.txt") >= before + 2),
        "{} runs",
        lines(&project, "runs.txt")
    );
    assert!(service(&status(&project), "job")["next_run"].is_string());
}

#[test]
fn on_schedule_restart_restarts_a_running_service_at_its_times() {
    let project = Project::new(
        r#"
[services.web]
command = ["sh", "-c", "echo started >> starts.txt; exec sleep 300"]
every = "1s"
on_schedule = "restart"
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    assert!(
        wait_until(WAIT * 2, || lines(&project, "starts.txt") >= 3),
        "web started {} times",
        lines(&project, "starts.txt")
    );
    wait_daemon_log(&project, &["its scheduled time: restarting"]);
    let ps = status(&project);
    assert!(
        service(&ps, "web")["restarts"].as_u64() >= Some(2),
        "{ps:#}"
    );
    assert!(service(&ps, "web")["next_run"].is_string(), "{ps:#}");
}

#[test]
fn a_successor_daemon_keeps_the_schedule_after_a_sigkill() {
    let project = Project::new(
        r#"
[services.web]
command = "sleep 300"

[services.job]
command = ["sh", "-c", "echo ran >> runs.txt"]
every = "1s"
restart = "never"
"#,
    );
    let daemon = Daemon::start(&project, &[]);
    assert!(wait_until(WAIT, || lines(&project, "runs.txt") >= 1));
    let web = pid(&status(&project), "web");
    assert!(send_signal(daemon.pid, "KILL"), "kill -KILL {}", daemon.pid);
    let json = successor_status(&project, daemon.pid, WAIT);
    assert_eq!(pid(&json, "web"), web, "{json:#}");
    let before = lines(&project, "runs.txt");
    assert!(
        wait_until(WAIT, || lines(&project, "runs.txt") >= before + 2),
        "the successor ran the job {} times\n{}\n{:#}",
        lines(&project, "runs.txt") - before,
        daemon_log(&project),
        status(&project)
    );
    assert!(service(&status(&project), "job")["next_run"].is_string());
}

#[test]
fn apply_follows_a_changed_schedule_without_restarting_the_service() {
    let project = Project::new(
        r#"
[services.web]
command = "sleep 300"
schedule = "0 4 * * *"
on_schedule = "restart"

[services.job]
command = ["sh", "-c", "echo ran >> runs.txt"]
every = "1h"
restart = "never"
"#,
    );
    let _daemon = Daemon::start(&project, &[]);
    let before = status(&project);
    assert!(
        service(&before, "job")["next_run"].is_string(),
        "{before:#}"
    );
    project.write(
        "wrangle.toml",
        r#"
[services.web]
command = "sleep 300"
schedule = "0 5 * * *"
on_schedule = "restart"

[services.job]
command = ["sh", "-c", "echo ran >> runs.txt"]
every = "1s"
restart = "never"
"#,
    );
    let apply = project.run(&["apply"]);
    assert_eq!(apply.code, 0, "{apply:#?}");
    for line in ["~ web: changed schedule", "~ job: changed schedule"] {
        assert!(
            apply.stdout.lines().any(|printed| printed == line),
            "{apply:#?}"
        );
    }
    // The job now runs every second, from the new spec.
    assert!(
        wait_until(WAIT, || lines(&project, "runs.txt") >= 2),
        "{} runs",
        lines(&project, "runs.txt")
    );
    let after = status(&project);
    assert_eq!(pid(&after, "web"), pid(&before, "web"), "{after:#}");
    assert_eq!(service(&after, "web")["restarts"], 0, "{after:#}");
}

#[test]
fn a_foreground_run_waits_for_its_jobs_until_interrupted() {
    let project = Project::new(
        r#"
[services.job]
command = ["sh", "-c", "echo ran"]
every = "1s"
restart = "never"
"#,
    );
    let mut wrangle = project.up(&[]);
    let first = wrangle
        .wait_line(0, WAIT, |line| line.ends_with("| ran"))
        .unwrap_or_else(|| panic!("{}", wrangle.transcript()));
    assert!(
        wrangle
            .wait_line(first + 1, WAIT, |line| line.ends_with("| ran"))
            .is_some(),
        "{}",
        wrangle.transcript()
    );
    interrupt(&project, &mut wrangle);
}

#[test]
fn schedule_mistakes_are_located_errors() {
    for (config, message) in [
        (
            "[services.job]\ncommand = \"true\"\nschedule = \"61 * * * *\"\n",
            "invalid cron expression \"61 * * * *\" for `services.job.schedule`",
        ),
        (
            "[services.job]\ncommand = \"true\"\nschedule = \"* * * * *\"\nevery = \"1m\"\n",
            "service \"job\" has both `schedule` and `every`",
        ),
        (
            "[services.job]\ncommand = \"true\"\non_schedule = \"restart\"\n",
            "service \"job\" has `on_schedule` but no `schedule` or `every`",
        ),
        (
            "[services.job]\ncommand = \"true\"\non_schedule = \"sometimes\"\nevery = \"1m\"\n",
            "invalid value \"sometimes\" for `services.job.on_schedule`",
        ),
        (
            "[services.job]\ncommand = \"true\"\nevery = \"10ms\"\n",
            "`services.job.every` must be at least 1s",
        ),
        (
            "[services.job]\ncommand = \"true\"\nevery = \"1h\"\nrestart = \"always\"\n",
            "service \"job\" is started by its schedule but has restart = \"always\"",
        ),
        (
            "[services.job]\ncommand = \"true\"\nevery = \"1h\"\n\n[services.web]\ncommand = \"true\"\ndepends_on = [\"job\"]\n",
            "service \"web\" depends on \"job\", which only runs at its scheduled times",
        ),
    ] {
        let project = Project::new(config);
        let run = project.run(&["up"]);
        assert_eq!(run.code, 2, "{config}\n{run:#?}");
        assert!(run.stderr.contains(message), "{config}\n{run:#?}");
        assert!(
            run.stderr.contains("wrangle.toml:"),
            "not located: {run:#?}"
        );
    }
}
