//! The project-wide tables: `[logs]`, `[monitor]`, `[metrics]`, and the service limits they go
//! with.

use std::time::Duration;

use super::{assert_error, load_error, load_toml};

#[test]
fn logs_table_sets_the_daemon_log_limits() {
    let (_dir, result) = load_toml(
        "[logs]\nmax_file_size = \"1MiB\"\nkeep_files = 2\nbudget = \"8MiB\"\n\n[services.a]\ncommand = \"true\"\n",
    );
    let spec = result.expect("valid");
    assert_eq!(spec.logs.max_file_bytes, 1024 * 1024);
    assert_eq!(spec.logs.keep_files, 2);
    assert_eq!(spec.logs.budget_bytes, 8 * 1024 * 1024);
    let (_dir, result) = load_toml("[services.a]\ncommand = \"true\"\n");
    assert_eq!(result.expect("valid").logs, crate::spec::LogSpec::default());
}

#[test]
fn logs_table_errors_are_located() {
    assert_error(
        "[logs]\nmax_file_size = \"ten megs\"\n\n[services.a]\ncommand = \"true\"\n",
        "invalid size",
        2,
        17,
    );
    assert_error(
        "[logs]\nkeep = 3\n\n[services.a]\ncommand = \"true\"\n",
        "unknown key `keep`",
        2,
        1,
    );
    assert_error(
        "[logs]\nmax_file_size = \"64MiB\"\nbudget = \"8MiB\"\n\n[services.a]\ncommand = \"true\"\n",
        "smaller than",
        2,
        17,
    );
}

#[test]
fn limits_monitor_and_metrics_resolve_with_defaults_underneath() {
    let (_dir, result) = load_toml(
        "[defaults]\nwarn_after = \"10s\"\nmemory_warn = \"1GiB\"\n\n[monitor]\ninterval = \"2s\"\nhistory = \"1h\"\n\n[metrics]\nlisten = \"127.0.0.1:9464\"\n\n[services.a]\ncommand = \"true\"\nmax_memory = \"500MiB\"\ncpu_warn = \"150%\"\n\n[services.b]\ncommand = \"true\"\ncpu_warn = 80.4\n",
    );
    let spec = result.expect("valid");
    let a = spec.services[0].limits;
    assert_eq!(a.max_memory, Some(500 * 1024 * 1024));
    assert_eq!(a.cpu_warn, Some(150));
    assert_eq!(a.memory_warn, Some(1024 * 1024 * 1024));
    assert_eq!(a.warn_after, Duration::from_secs(10));
    let b = spec.services[1].limits;
    assert_eq!((b.max_memory, b.cpu_warn), (None, Some(80)));
    assert_eq!(spec.monitor.interval, Duration::from_secs(2));
    assert_eq!(spec.monitor.history, Duration::from_secs(3600));
    assert_eq!(
        spec.metrics.map(|metrics| metrics.listen.to_string()),
        Some("127.0.0.1:9464".to_string())
    );

    let (_dir, result) =
        load_toml("[metrics]\nlisten = 9500\n\n[services.a]\ncommand = \"true\"\n");
    let spec = result.expect("valid");
    assert_eq!(spec.metrics.unwrap().listen.to_string(), "127.0.0.1:9500");
    assert_eq!(spec.monitor, crate::spec::MonitorSpec::default());
    assert!(!spec.services[0].limits.any());
}

#[test]
fn limit_monitor_and_metrics_errors_are_located() {
    let service = "\n\n[services.a]\ncommand = \"true\"\n";
    assert_error(
        "[services.a]\ncommand = \"true\"\ncpu_warn = \"lots\"\n",
        "invalid CPU percentage",
        3,
        12,
    );
    assert_error(
        "[services.a]\ncommand = \"true\"\nmax_memory = \"big\"\n",
        "invalid size for `services.a.max_memory`",
        3,
        14,
    );
    assert_error(
        "[services.a]\ncommand = \"true\"\nmax_memroy = \"1GiB\"\n",
        "unknown key `max_memroy`",
        3,
        1,
    );
    assert_error(
        &format!("[monitor]\ninterval = \"10ms\"{service}"),
        "at least 100ms",
        2,
        12,
    );
    let rendered = assert_error(
        &format!("[monitor]\nintervall = \"1s\"{service}"),
        "unknown key `intervall`",
        2,
        1,
    );
    assert!(rendered.contains("interval"), "{rendered}");
    assert_error(
        &format!("[metrics]\nlisten = \"localhost:9464\"{service}"),
        "invalid address",
        2,
        10,
    );
    assert_error(
        &format!("[metrics]\nlisten = 70000{service}"),
        "out of range",
        2,
        10,
    );
    let error = load_error(&format!("[metrics]{service}"));
    assert!(error.render(false).contains("no `listen` address"));
}

#[test]
fn dashboard_listen_resolves_and_its_errors_are_located() {
    let service = "\n\n[services.a]\ncommand = \"true\"\n";
    let (_dir, result) = load_toml(&format!("[dashboard]\nlisten = \"[::1]:8421\"{service}"));
    assert_eq!(
        result
            .expect("valid")
            .dashboard
            .map(|d| d.listen.to_string()),
        Some("[::1]:8421".to_string())
    );
    let (_dir, result) = load_toml(&format!("[dashboard]\nlisten = 8500{service}"));
    assert_eq!(
        result
            .expect("valid")
            .dashboard
            .map(|d| d.listen.to_string()),
        Some("127.0.0.1:8500".to_string())
    );
    let (_dir, result) = load_toml(service);
    assert_eq!(result.expect("valid").dashboard, None, "off by default");

    let rendered = assert_error(
        &format!("[dashboard]\nlisten = \"localhost:8421\"{service}"),
        "invalid address \"localhost:8421\" for `dashboard.listen`",
        2,
        10,
    );
    assert!(rendered.contains("127.0.0.1:8421"), "{rendered}");
    assert_error(
        &format!("[dashboard]\nlisten = 0{service}"),
        "out of range",
        2,
        10,
    );
    assert_error(
        &format!("[dashboard]\nlisten = true{service}"),
        "dashboard.listen",
        2,
        10,
    );
    let rendered = assert_error(
        &format!("[dashboard]\nlisen = 8421{service}"),
        "unknown key `lisen`",
        2,
        1,
    );
    assert!(rendered.contains("listen"), "{rendered}");
    let error = load_error(&format!("[dashboard]{service}"));
    assert!(
        error
            .render(false)
            .contains("`[dashboard]` has no `listen` address")
    );
    assert_error(&format!("dashboard = 8421{service}"), "`dashboard`", 1, 13);
}
