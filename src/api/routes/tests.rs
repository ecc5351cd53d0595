use super::*;

#[test]
fn every_route_has_a_handler() {
    for &(method, path) in ROUTES {
        assert!(
            handler(method, path).is_some(),
            "{method} {path} is listed in ROUTES but has no handler"
        );
    }
}

#[test]
fn logs_query() {
    assert_eq!(
        parse_logs_query("").unwrap(),
        LogsQuery {
            services: vec![],
            n: DEFAULT_LOG_LINES,
            since: None,
            follow: false
        }
    );
    assert_eq!(
        parse_logs_query("service=a&service=b%20c&n=20000&since=1m+30s&follow=true").unwrap(),
        LogsQuery {
            services: vec!["a".into(), "b c".into()],
            n: MAX_LOG_LINES,
            since: Some(Duration::from_secs(90)),
            follow: true
        }
    );
    for bad in [
        "n=-1",
        "n=x",
        "since=yesterday",
        "follow=maybe",
        "lines=3",
        "service=%zz",
        "service=%ff",
        "service=%4",
    ] {
        let error = parse_logs_query(bad).unwrap_err();
        assert_eq!(error.code, crate::api::wire::ErrorCode::BadRequest, "{bad}");
    }
}

#[test]
fn sse_event_names_are_safe() {
    assert_eq!(sse_event_name("ready"), "ready");
    assert_eq!(sse_event_name("Spawn-Failed\n"), "spawn_failed_");
    assert_eq!(sse_event_name(""), "event");
}
