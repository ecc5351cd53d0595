use super::*;

#[test]
fn request_json_is_tagged_by_action_and_services_default_to_all() {
    let request: Request = serde_json::from_str(r#"{"action":"start"}"#).unwrap();
    assert_eq!(request, Request::Start { services: vec![] });
    let json = serde_json::to_string(&Request::Restart {
        services: vec!["web".into()],
    })
    .unwrap();
    assert_eq!(json, r#"{"action":"restart","services":["web"]}"#);
    assert_eq!(
        serde_json::to_string(&Request::Shutdown).unwrap(),
        r#"{"action":"shutdown"}"#
    );
}

#[test]
fn reply_and_error_json() {
    assert_eq!(
        serde_json::to_string(&Reply::ShuttingDown).unwrap(),
        r#"{"status":"shutting_down"}"#
    );
    assert_eq!(
        serde_json::to_string(&ApiError::not_found("no service named \"x\"")).unwrap(),
        r#"{"error":"no service named \"x\"","code":"not_found"}"#
    );
}

#[test]
fn states_serialize_as_their_display_names() {
    use ServiceState::*;
    for state in [
        Waiting, Starting, Ready, Running, Stopping, Stopped, Exited, Crashed, Backoff, Failed,
        Inactive,
    ] {
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            format!("\"{state}\"")
        );
    }
}

#[test]
fn missing_optional_fields_and_unknown_fields_are_accepted() {
    let service: ServiceStatus = serde_json::from_str(
        r#"{"name":"web","state":"backoff","restarts":2,"ports":[8080],"new_field":1}"#,
    )
    .unwrap();
    assert_eq!(service.state, ServiceState::Backoff);
    assert_eq!(service.pid, None);
    assert_eq!(service.last_exit, None);
}

#[test]
fn uptime_is_read_from_started_at_and_never_negative() {
    let mut service: ServiceStatus =
        serde_json::from_str(r#"{"name":"web","state":"running","restarts":0,"ports":[]}"#)
            .unwrap();
    let now = human::parse_time("2026-01-01T00:01:05Z").unwrap();
    assert_eq!(service.uptime_at(now), None);
    service.started_at = Some("2026-01-01T00:00:00.000Z".into());
    assert_eq!(service.uptime_at(now), Some(Duration::from_secs(65)));
    service.started_at = Some("2027-01-01T00:00:00Z".into());
    assert_eq!(service.uptime_at(now), Some(Duration::ZERO));
    service.started_at = Some("not a time".into());
    assert_eq!(service.uptime_at(now), None);
}
