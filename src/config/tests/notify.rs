//! `[[notify]]` entries: what they resolve to, and every problem located.

use std::time::Duration;

use super::{assert_error, load, load_toml, write};
use crate::spec::{CaFile, CommandSpec, NotifySpec, NotifyTarget, PayloadFormat, WebhookSpec};

const SERVICES: &str = "[services.api]\ncommand = \"x\"\n\n[services.web]\ncommand = \"y\"\n";

fn with_services(notify: &str) -> String {
    format!("{SERVICES}\n{notify}")
}

#[test]
fn entries_resolve_with_defaults_and_every_key() {
    let (_dir, result) = load_toml(&with_services(
        r#"
[[notify]]
on = ["crashed", "failed"]
webhook = "http://127.0.0.1:9000/hooks/wrangle"

[[notify]]
on = "memory_limit"
services = ["api"]
command = "notify-send 'wrangle says' --urgency=critical"
timeout = "2s"
rate_limit = 3
rate_window = "5m"

[[notify]]
on = ["crashed"]
webhook = "http://localhost/x"
retries = 0
timeout = 1
"#,
    ));
    let spec = result.unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        spec.notify,
        vec![
            NotifySpec {
                on: vec!["crashed".into(), "failed".into()],
                services: vec![],
                target: NotifyTarget::Webhook(WebhookSpec::json(
                    "http://127.0.0.1:9000/hooks/wrangle"
                )),
                timeout: Duration::from_secs(5),
                retries: 3,
                rate_limit: 10,
                rate_window: Duration::from_secs(60),
            },
            NotifySpec {
                on: vec!["memory_limit".into()],
                services: vec!["api".into()],
                target: NotifyTarget::Command(CommandSpec {
                    argv: vec![
                        "notify-send".into(),
                        "wrangle says".into(),
                        "--urgency=critical".into()
                    ],
                    shell: false,
                }),
                timeout: Duration::from_secs(2),
                retries: 0,
                rate_limit: 3,
                rate_window: Duration::from_secs(300),
            },
            NotifySpec {
                on: vec!["crashed".into()],
                services: vec![],
                target: NotifyTarget::Webhook(WebhookSpec::json("http://localhost/x")),
                timeout: Duration::from_secs(1),
                retries: 0,
                rate_limit: 10,
                rate_window: Duration::from_secs(60),
            },
        ]
    );
}

#[test]
fn no_notify_means_no_entries() {
    let (_dir, result) = load_toml(SERVICES);
    assert!(result.expect("loads").notify.is_empty());
}

#[test]
fn unknown_keys_kinds_and_services_suggest_the_closest() {
    let text = with_services(
        "[[notify]]\non = [\"crashed\", \"restartd\"]\nservices = [\"web\", \"apii\"]\nwebhook = \"http://127.0.0.1:1/\"\ntimout = \"1s\"\n",
    );
    let rendered = assert_error(&text, "unknown event kind \"restartd\"", 8, 18);
    assert!(
        rendered.contains("did you mean \"restarted\"?"),
        "{rendered}"
    );
    assert!(
        rendered.contains("known kinds: crashed, failed"),
        "{rendered}"
    );
    let rendered = assert_error(&text, "unknown key `timout` in [[notify]]", 11, 1);
    assert!(rendered.contains("did you mean \"timeout\"?"), "{rendered}");
    let rendered = assert_error(&text, "unknown service \"apii\"", 9, 20);
    assert!(rendered.contains("did you mean \"api\"?"), "{rendered}");
}

#[test]
fn an_entry_needs_on_and_exactly_one_target() {
    let text = with_services("[[notify]]\nwebhook = \"http://127.0.0.1:1/\"\n");
    assert_error(&text, "`notify[0]` has no `on`", 8, 1);

    let text = with_services("[[notify]]\non = [\"crashed\"]\n");
    let rendered = assert_error(&text, "`notify[0]` has no target", 8, 1);
    assert!(rendered.contains("help: add webhook ="), "{rendered}");

    let text = with_services(
        "[[notify]]\non = [\"crashed\"]\nwebhook = \"http://127.0.0.1:1/\"\ncommand = \"true\"\n",
    );
    let rendered = assert_error(&text, "sets both `webhook` and `command`", 10, 1);
    assert!(rendered.contains("first target"), "{rendered}");

    let text = with_services("[[notify]]\non = []\ncommand = \"true\"\n");
    assert_error(&text, "`notify[0].on` is empty", 8, 6);
}

#[test]
fn webhooks_are_http_or_https_and_some_keys_are_for_webhooks_only() {
    let (_dir, result) = load_toml(&with_services(
        "[[notify]]\non = [\"crashed\"]\nwebhook = \"https://hooks.example.com/x\"\nformat = \"slack\"\n",
    ));
    let spec = result.unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        spec.notify[0].target,
        NotifyTarget::Webhook(WebhookSpec {
            url: "https://hooks.example.com/x".into(),
            format: PayloadFormat::Slack,
            ca_file: None,
        })
    );

    let text = with_services("[[notify]]\non = [\"crashed\"]\nwebhook = \"ftp://x/\"\n");
    assert_error(&text, "expected an http:// or https:// URL", 9, 11);

    let text = with_services(
        "[[notify]]\non = [\"crashed\"]\nwebhook = \"https://x/\"\nformat = \"slak\"\n",
    );
    let rendered = assert_error(&text, "unknown webhook format \"slak\"", 10, 10);
    assert!(rendered.contains("did you mean \"slack\"?"), "{rendered}");

    for key in ["format = \"text\"", "ca_file = \"ca.pem\""] {
        let text = with_services(&format!(
            "[[notify]]\non = [\"crashed\"]\ncommand = \"true\"\n{key}\n"
        ));
        let name = key.split(' ').next().unwrap_or_default();
        assert_error(
            &text,
            &format!("`notify[0].{name}` only applies to a webhook"),
            10,
            1,
        );
    }
    let text = with_services(
        "[[notify]]\non = [\"crashed\"]\nwebhook = \"http://x/\"\nca_file = \"ca.pem\"\n",
    );
    assert_error(
        &text,
        "`notify[0].ca_file` only applies to an https:// webhook",
        10,
        1,
    );

    let text = with_services("[[notify]]\non = [\"crashed\"]\ncommand = \"true\"\nretries = 2\n");
    assert_error(
        &text,
        "`notify[0].retries` only applies to a webhook",
        10,
        1,
    );

    let text = with_services("[[notify]]\non = [\"crashed\"]\ncommand = \"say 'open\"\n");
    assert_error(&text, "invalid `notify[0].command`", 9, 11);
}

#[test]
fn limits_and_durations_are_checked() {
    let base = "[[notify]]\non = [\"crashed\"]\ncommand = [\"true\"]\n";
    let text = with_services(&format!("{base}rate_limit = 0\n"));
    assert_error(
        &text,
        "0 is out of range for `notify[0].rate_limit`",
        10,
        14,
    );
    let text = with_services(&format!("{base}rate_window = \"0s\"\n"));
    assert_error(
        &text,
        "`notify[0].rate_window` must be greater than zero",
        10,
        15,
    );
    let text = with_services(&format!("{base}rate_window = \"2d\"\n"));
    assert_error(&text, "`notify[0].rate_window` must be at most 24h", 10, 15);
    let text = with_services(&format!("{base}timeout = \"2h\"\n"));
    assert_error(&text, "`notify[0].timeout` must be at most 1h", 10, 11);
    let text = with_services(&format!("{base}timeout = \"soon\"\n"));
    assert_error(
        &text,
        "invalid duration \"soon\" for `notify[0].timeout`",
        10,
        11,
    );
    let text = with_services("[[notify]]\non = [\"crashed\", \"crashed\"]\ncommand = [\"true\"]\n");
    assert_error(&text, "`notify[0].on` lists \"crashed\" twice", 8, 18);
}

#[test]
fn notify_must_be_an_array_of_tables() {
    let text = with_services("[notify]\non = [\"crashed\"]\ncommand = \"true\"\n");
    let rendered = assert_error(&text, "expected an array of tables for `notify`", 7, 1);
    assert!(rendered.contains("[[notify]]"), "{rendered}");
    let text = format!("notify = 1\n{SERVICES}");
    assert_error(&text, "expected an array of tables for `notify`", 1, 10);
}

#[test]
fn problems_of_several_entries_are_reported_together() {
    let text = with_services(
        "[[notify]]\non = [\"crashd\"]\ncommand = \"true\"\n\n[[notify]]\non = [\"failed\"]\nservices = [\"nope\"]\nwebhook = \"http://127.0.0.1:1/\"\n",
    );
    assert_error(&text, "unknown event kind \"crashd\"", 8, 7);
    assert_error(
        &text,
        "unknown service \"nope\" in `notify[1].services`",
        13,
        13,
    );
}

#[test]
fn a_ca_file_is_read_relative_to_the_project_and_checked() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).expect("a CA certificate");
    write(dir.path(), "certs/ca.pem", &ca.pem());
    write(dir.path(), "empty.pem", "nothing here\n");
    let config = |ca_file: &str| {
        with_services(&format!(
            "[[notify]]\non = [\"crashed\"]\nwebhook = \"https://127.0.0.1:8443/\"\nca_file = \"{ca_file}\"\n"
        ))
    };
    let path = write(dir.path(), "wrangle.toml", &config("certs/ca.pem"));
    let spec = load(&path).unwrap_or_else(|error| panic!("{error}"));
    let NotifyTarget::Webhook(webhook) = &spec.notify[0].target else {
        panic!("not a webhook: {:?}", spec.notify[0].target);
    };
    assert_eq!(
        webhook.ca_file,
        Some(CaFile {
            path: dir.path().join("certs/ca.pem"),
            certificates: vec![ca.der().to_vec()],
        })
    );

    for (ca_file, message) in [
        ("empty.pem", "CA file \"{dir}/empty.pem\" cannot be used"),
        ("missing.pem", "cannot read CA file \"{dir}/missing.pem\""),
        ("certs", "cannot read CA file \"{dir}/certs\""),
    ] {
        let path = write(dir.path(), "wrangle.toml", &config(ca_file));
        let error = load(&path).expect_err(ca_file);
        let rendered = error.render(false);
        let expected = message.replace("{dir}", &dir.path().display().to_string());
        assert!(rendered.contains(&expected), "{rendered}");
        assert!(rendered.contains("wrangle.toml:10:11"), "{rendered}");
    }
}
