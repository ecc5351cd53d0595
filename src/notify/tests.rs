//! Unit tests of the notifier's pieces that need no daemon; the whole path (a daemon, a crashing
//! service, a real receiver) is tested in `tests/notify.rs`.

use std::time::Duration;

use super::*;
use crate::spec::{EVENT_KINDS, ServiceId, Signal};
use crate::supervisor::event::{Event, Exit, InstanceId, Resource};

#[test]
fn every_event_the_daemon_publishes_can_be_asked_for() {
    let service: ServiceId = 0;
    let instance = InstanceId::new(service, 0);
    let events = [
        Event::Waiting {
            service,
            dependencies: Vec::new(),
        },
        Event::Started {
            instance,
            pid: 1,
            restart: 0,
        },
        Event::Started {
            instance,
            pid: 1,
            restart: 1,
        },
        Event::Ready {
            instance,
            elapsed: Duration::ZERO,
        },
        Event::LeaderExited {
            instance,
            status: Exit::Code(0),
            survivors: 1,
        },
        Event::Exited {
            instance,
            status: Exit::Code(0),
            uptime: Duration::ZERO,
        },
        Event::Exited {
            instance,
            status: Exit::Code(1),
            uptime: Duration::ZERO,
        },
        Event::Restarting {
            instance,
            delay: Duration::ZERO,
            attempt: 1,
        },
        Event::RestartBlocked {
            instance,
            reason: String::new(),
        },
        Event::MemoryLimitExceeded {
            instance,
            reason: String::new(),
        },
        Event::LivenessFailed {
            instance,
            reason: String::new(),
        },
        Event::ResourceWarning {
            instance,
            resource: Resource::Cpu,
            active: true,
            message: String::new(),
        },
        Event::ResourceWarning {
            instance,
            resource: Resource::Cpu,
            active: false,
            message: String::new(),
        },
        Event::ResourceWarning {
            instance,
            resource: Resource::Memory,
            active: true,
            message: String::new(),
        },
        Event::ResourceWarning {
            instance,
            resource: Resource::Memory,
            active: false,
            message: String::new(),
        },
        Event::Failed {
            instance,
            reason: String::new(),
        },
        Event::SpawnFailed {
            instance,
            error: String::new(),
            retry: None,
        },
        Event::NotReady {
            instance,
            timeout: Duration::ZERO,
            last_failure: None,
        },
        Event::Stopping {
            instance,
            signal: Signal::TERM,
        },
        Event::Killing {
            instance,
            after: None,
        },
        Event::Stopped {
            instance,
            status: None,
        },
        Event::AllReady {
            count: 1,
            elapsed: Duration::ZERO,
        },
        Event::StartupFailed {
            instance,
            reason: String::new(),
        },
        Event::ShuttingDown { forced: false },
        Event::Scaled {
            service,
            from: 1,
            to: 2,
        },
        Event::Reloading {
            service,
            instances: 1,
            restart: None,
        },
        Event::Reloaded {
            service,
            elapsed: Duration::ZERO,
        },
        Event::ReloadFailed {
            service,
            reason: String::new(),
        },
        Event::ScheduleFired {
            service,
            action: crate::spec::schedule::ScheduleAction::Start,
        },
        Event::ScheduleSkipped {
            service,
            reason: String::new(),
        },
    ];
    let known: Vec<&str> = EVENT_KINDS.iter().map(|(kind, _)| *kind).collect();
    for event in &events {
        let kind = crate::output::reporter::kind(event);
        assert!(known.contains(&kind), "{kind} is missing from EVENT_KINDS");
    }
    // The daemon's own events.
    for kind in [
        "log_trouble",
        "log_recovered",
        "config_applied",
        "apply_failed",
        "shutdown_complete",
    ] {
        assert!(known.contains(&kind), "{kind} is missing from EVENT_KINDS");
    }
}

#[test]
fn commands_get_the_payload_as_variables() {
    let payload = NotificationPayload {
        version: 1,
        project: "shop".into(),
        project_path: "/p/shop/wrangle.toml".into(),
        host: "box".into(),
        event: wire::Event {
            time: "2026-01-01T00:00:00.000Z".into(),
            kind: "crashed".into(),
            service: Some("api".into()),
            instance: None,
            message: "exited with code 1\0 after 2s".into(),
            pid: Some(42),
        },
        suppressed: 3,
    };
    let env = command_env(&payload);
    let get = |key: &str| env.get(key).map(String::as_str);
    assert_eq!(get("WRANGLE_EVENT"), Some("crashed"));
    assert_eq!(get("WRANGLE_SERVICE"), Some("api"));
    assert_eq!(get("WRANGLE_MESSAGE"), Some("exited with code 1 after 2s"));
    assert_eq!(get("WRANGLE_PID"), Some("42"));
    assert_eq!(get("WRANGLE_PROJECT"), Some("shop"));
    assert_eq!(get("WRANGLE_PROJECT_PATH"), Some("/p/shop/wrangle.toml"));
    assert_eq!(get("WRANGLE_HOST"), Some("box"));
    assert_eq!(get("WRANGLE_SUPPRESSED"), Some("3"));
    assert_eq!(get("WRANGLE_TIME"), Some("2026-01-01T00:00:00.000Z"));
}

#[test]
fn the_payload_json_has_the_documented_fields() {
    let payload = NotificationPayload {
        version: 1,
        project: "shop".into(),
        project_path: "/p/shop/wrangle.toml".into(),
        host: String::new(),
        event: wire::Event {
            time: "t".into(),
            kind: "all_ready".into(),
            service: None,
            instance: None,
            message: "m".into(),
            pid: None,
        },
        suppressed: 0,
    };
    let json = serde_json::to_string(&payload).expect("serializes");
    assert_eq!(
        json,
        r#"{"version":1,"project":"shop","project_path":"/p/shop/wrangle.toml","host":"","event":{"time":"t","kind":"all_ready","service":null,"instance":null,"message":"m","pid":null},"suppressed":0}"#
    );
}
