//! `ready`: probe kinds, their values and timings.

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
