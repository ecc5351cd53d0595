//! `ready` and `live`: probe kinds, their values and timings.

use std::time::Duration;

use super::{assert_error, load_toml};

#[test]
fn unknown_ready_key_is_an_error() {
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nready = { tcp = 1, intervall = \"1s\" }\n",
        "unknown key `intervall`",
        3,
        20,
    );
    assert!(
        rendered.contains("did you mean \"interval\"?"),
        "{rendered}"
    );
}

#[test]
fn bad_regex_shows_the_regex_error() {
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nready = { log = \"ready (\" }\n",
        "invalid regex in `services.a.ready.log`",
        3,
        17,
    );
    assert!(rendered.contains("unclosed group"), "{rendered}");
}

#[test]
fn probes_need_exactly_one_kind() {
    assert_error(
        "[services.a]\ncommand = \"x\"\nready = { interval = \"1s\" }\n",
        "`services.a.ready` sets no probe kind",
        3,
        9,
    );
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\n[services.a.ready]\ntcp = 80\nhttp = \"http://x/\"\n",
        "`services.a.ready` sets more than one probe kind",
        5,
        1,
    );
    assert!(rendered.contains("first probe kind"), "{rendered}");
}

#[test]
fn https_and_malformed_probe_urls_are_rejected() {
    assert_error(
        "[services.a]\ncommand = \"x\"\nready.http = \"https://localhost/health\"\n",
        "https probes are not supported",
        3,
        14,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nready.http = \"localhost:80/health\"\n",
        "expected an http:// URL",
        3,
        14,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nready.tcp = \"nohost\"\n",
        "invalid TCP address \"nohost\"",
        3,
        13,
    );
}

#[test]
fn recheck_is_only_for_probes_that_can_be_repeated() {
    let (_dir, result) =
        load_toml("[services.a]\ncommand = \"true\"\nready = { tcp = 5432, recheck = \"10s\" }\n");
    let probe = result.expect("valid").services[0].ready.clone().unwrap();
    assert_eq!(probe.recheck, Some(Duration::from_secs(10)));
    assert_error(
        "[services.a]\ncommand = \"true\"\nready = { log = \"up\", recheck = \"10s\" }\n",
        "needs an http, tcp or exec probe",
        3,
        33,
    );
}

#[test]
fn live_reads_a_repeatable_check_with_its_timings() {
    let (_dir, result) = load_toml(
        "[services.a]\ncommand = \"x\"\nlive = { http = \"http://127.0.0.1:8080/health\", interval = \"2s\", timeout = \"500ms\", failures = 5 }\n[services.b]\ncommand = \"x\"\nlive.tcp = 5432\n",
    );
    let spec = result.expect("valid");
    let live = spec.services[0].live.as_ref().expect("a live probe");
    assert_eq!(live.check.describe(), "http http://127.0.0.1:8080/health");
    assert_eq!(live.interval, Duration::from_secs(2));
    assert_eq!(live.timeout, Duration::from_millis(500));
    assert_eq!(live.failures, 5);
    let defaults = spec.services[1].live.as_ref().expect("a live probe");
    assert_eq!(defaults.check.describe(), "tcp 127.0.0.1:5432");
    assert_eq!(defaults.interval, Duration::from_secs(10));
    assert_eq!(defaults.timeout, Duration::from_secs(5));
    assert_eq!(defaults.failures, 3);
    assert!(spec.services[0].ready.is_none());
}

#[test]
fn live_refuses_checks_that_cannot_be_repeated_and_bad_counts() {
    assert_error(
        "[services.a]\ncommand = \"x\"\nlive = { log = \"up\" }\n",
        "`services.a.live` cannot be a log probe",
        3,
        10,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nlive = { tcp = 1, failures = 0 }\n",
        "0 is out of range for `services.a.live.failures`",
        3,
        30,
    );
    assert_error(
        "[services.a]\ncommand = \"x\"\nlive = { interval = \"1s\" }\n",
        "`services.a.live` sets no probe kind",
        3,
        8,
    );
    let rendered = assert_error(
        "[services.a]\ncommand = \"x\"\nlive = { tcp = 1, recheck = \"1s\" }\n",
        "unknown key `recheck`",
        3,
        19,
    );
    assert!(rendered.contains("failures"), "{rendered}");
}
