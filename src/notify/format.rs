//! A webhook's body in the shape its receiver expects (`format`): wrangle's JSON payload, or
//! one line of text for chat services (Slack, Discord) and plain-text receivers (ntfy).

use crate::api::wire::NotificationPayload;
use crate::notify::webhook::Body;
use crate::spec::PayloadFormat;

/// The body of one notification in `format`.
pub fn body(format: PayloadFormat, payload: &NotificationPayload) -> Result<Body, String> {
    let encode = |value: &serde_json::Value| {
        serde_json::to_vec(value).map_err(|error| format!("cannot encode the payload: {error}"))
    };
    match format {
        PayloadFormat::Json => serde_json::to_vec(payload)
            .map(Body::json)
            .map_err(|error| format!("cannot encode the payload: {error}")),
        PayloadFormat::Slack => {
            encode(&serde_json::json!({ "text": line(payload) })).map(Body::json)
        }
        PayloadFormat::Discord => {
            encode(&serde_json::json!({ "content": line(payload) })).map(Body::json)
        }
        PayloadFormat::Text => Ok(Body {
            bytes: line(payload).into(),
            content_type: "text/plain; charset=utf-8",
        }),
    }
}

/// The notification in one line: `[shop on host1] api:2 crashed: exited with code 3 after 0.3s`,
/// and how many earlier events went unsent, if any.
pub fn line(payload: &NotificationPayload) -> String {
    let event = &payload.event;
    let place = match payload.host.is_empty() {
        true => payload.project.clone(),
        false => format!("{} on {}", payload.project, payload.host),
    };
    let about = match (&event.service, event.instance) {
        (Some(service), Some(instance)) => format!("{service}:{instance} "),
        (Some(service), None) => format!("{service} "),
        (None, _) => String::new(),
    };
    let mut line = format!(
        "[{place}] {about}{}: {}",
        event.kind.replace('_', " "),
        event.message
    );
    if payload.suppressed > 0 && event.kind != crate::spec::SUPPRESSED_KIND {
        line.push_str(&format!(
            " ({} earlier event(s) not sent: rate limit)",
            payload.suppressed
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::wire::Event;

    fn payload(
        service: Option<&str>,
        instance: Option<u32>,
        suppressed: u64,
    ) -> NotificationPayload {
        NotificationPayload {
            version: 1,
            project: "shop".into(),
            project_path: "/srv/shop/wrangle.toml".into(),
            host: "box".into(),
            event: Event {
                time: "2026-12-07T20:00:00.000Z".into(),
                kind: "spawn_failed".into(),
                service: service.map(str::to_string),
                instance,
                message: "no such file: ./api".into(),
                pid: None,
            },
            suppressed,
        }
    }

    #[test]
    fn lines_name_the_project_service_and_event() {
        assert_eq!(
            line(&payload(Some("api"), None, 0)),
            "[shop on box] api spawn failed: no such file: ./api"
        );
        assert_eq!(
            line(&payload(Some("api"), Some(2), 3)),
            "[shop on box] api:2 spawn failed: no such file: ./api (3 earlier event(s) not sent: rate limit)"
        );
        let mut project_wide = payload(None, None, 0);
        project_wide.host.clear();
        assert_eq!(
            line(&project_wide),
            "[shop] spawn failed: no such file: ./api"
        );
    }

    #[test]
    fn each_format_has_its_shape_and_json_is_the_payload() {
        let payload = payload(Some("api"), None, 0);
        let json = body(PayloadFormat::Json, &payload).expect("json");
        assert_eq!(json.content_type, "application/json");
        let decoded: NotificationPayload = serde_json::from_slice(&json.bytes).expect("decodes");
        assert_eq!(decoded, payload);
        for (format, key) in [
            (PayloadFormat::Slack, "text"),
            (PayloadFormat::Discord, "content"),
        ] {
            let body = body(format, &payload).expect("encodes");
            assert_eq!(body.content_type, "application/json");
            let value: serde_json::Value = serde_json::from_slice(&body.bytes).expect("json");
            assert_eq!(value, serde_json::json!({ key: line(&payload) }));
        }
        let text = body(PayloadFormat::Text, &payload).expect("text");
        assert_eq!(text.content_type, "text/plain; charset=utf-8");
        assert_eq!(&text.bytes[..], line(&payload).as_bytes());
    }
}
