//! Single values: types, durations, signals, and command strings split into argv words.

use std::time::Duration;

use super::{assert_error, load_toml};

#[test]
fn metacharacters_stay_literal_argv_words() {
    let (_dir, result) =
        load_toml("[services.x]\ncommand = \"echo a; rm -rf / $(whoami) `x` *\"\n");
    let spec = result.expect("valid");
    assert_eq!(
        spec.services[0].command.argv,
        ["echo", "a;", "rm", "-rf", "/", "$(whoami)", "`x`", "*"]
    );
    assert!(!spec.services[0].command.shell);
}

#[test]
fn wrong_types_say_what_was_expected() {
    let rendered = assert_error(
        "[services.a]\ncommand = 42\n",
        "expected a string or an array of strings for `services.a.command`, found an integer",
        2,
        11,
    );
    assert!(rendered.contains("^^"), "{rendered}");
    assert_error(
        "[services.a]\ncommand = \"x\"\ncwd = true\n",
        "expected a string for `services.a.cwd`, found a boolean",
        3,
        7,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nenv = { A = [1] }\n",
        "expected a string, number or boolean for `services.a.env.A`",
        3,
        13,
    );
    assert_error(
        "[services.a]\ncommand = [\"x\", 1]\n",
        "expected a string (every argv element is a string)",
        2,
        17,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nport = 70000\n",
        "70000 is out of range for `services.a.port`",
        3,
        8,
    );
    assert_error(
        "[services]\na = 1\n",
        "expected a table for `services.a`, found an integer",
        2,
        5,
    );
}

#[test]
fn bad_durations_are_located_with_an_example() {
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nstop_timeout = \"10 parsecs\"\n",
        "invalid duration \"10 parsecs\" for `services.a.stop_timeout`",
        3,
        16,
    );
    assert!(rendered.contains("\"500ms\""), "{rendered}");
    assert_error(
        "[services.a]\ncommand = \"x\"\nready = { tcp = 1, timeout = 0 }\n",
        "`services.a.ready.timeout` must be greater than zero",
        3,
        30,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nbackoff_max = -1\n",
        "must not be negative",
        3,
        15,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nbackoff_initial = \"1m\"\nbackoff_max = \"10s\"\n",
        "backoff_max (10s) must not be less than backoff_initial (1m)",
        4,
        15,
    );
    // Bare integers are seconds, and backoff_initial may be zero.
    let (_dir, result) =
        load_toml("[services.a]\ncommand = \"x\"\nbackoff_initial = 0\nstop_timeout = 3\n");
    let spec = result.expect("valid");
    assert_eq!(spec.services[0].stop.timeout, Duration::from_secs(3));
    assert_eq!(spec.services[0].restart.backoff_initial, Duration::ZERO);
}

#[test]
fn bad_signal_suggests_a_name() {
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nstop_signal = \"SIGTREM\"\n",
        "unknown signal \"SIGTREM\"",
        3,
        15,
    );
    assert!(rendered.contains("did you mean \"SIGTERM\"?"), "{rendered}");
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nstop_signal = \"INTT\"\n",
        "unknown signal",
        3,
        15,
    );
    assert!(rendered.contains("did you mean \"SIGINT\"?"), "{rendered}");
}

#[test]
fn unbalanced_quotes_are_located() {
    assert_error(
        "[services.a]\ncommand = \"echo 'open\"\n",
        "unbalanced quotes",
        2,
        11,
    );
}
