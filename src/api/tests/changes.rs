//! Reads, changes and errors: each route's answers and refusals.

use super::*;

#[test]
fn status_round_trip_and_snapshot_updates() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        assert_eq!(harness.client.status().await.unwrap(), project());

        let mut changed = project();
        changed.services[1].state = ServiceState::Backoff;
        changed.services[1].restarts = 3;
        harness.status.send_replace(Arc::new(changed.clone()));
        assert_eq!(harness.client.status().await.unwrap(), changed);
        // Reads never ask the daemon.
        assert!(harness.received().is_empty());
        harness.stop().await;
    });
}

#[test]
fn services_and_one_service() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let (status, body) = raw(&harness.socket, "GET", "/v1/services", b"").await;
        assert_eq!(status, 200);
        let services: Vec<ServiceStatus> = serde_json::from_str(&body).unwrap();
        assert_eq!(services, project().services);

        let (status, body) = raw(&harness.socket, "GET", "/v1/services/web", b"").await;
        assert_eq!(status, 200);
        let web: ServiceStatus = serde_json::from_str(&body).unwrap();
        assert_eq!(web.name, "web");

        let (status, error) = raw_error(&harness.socket, "GET", "/v1/services/wbe", b"").await;
        assert_eq!(status, 404);
        assert_eq!(error, ApiError::not_found("no service named \"wbe\""));
        harness.stop().await;
    });
}

#[test]
fn resources_all_or_some_services_and_refuses_unknown_ones() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let all = harness.client.resources(&[]).await.unwrap();
        assert_eq!(all.interval_ms, 1_000);
        assert_eq!(all.daemon.len(), 2);
        let names: Vec<&str> = all.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        assert_eq!(all.services[1].points[1].memory_bytes, 301);

        let web = harness.client.resources(&["web".into()]).await.unwrap();
        assert_eq!(web.services.len(), 1);
        assert_eq!(web.services[0].name, "web");

        let (status, error) =
            raw_error(&harness.socket, "GET", "/v1/resources?service=wbe", b"").await;
        assert_eq!(status, 404);
        assert_eq!(error, ApiError::not_found("no service named \"wbe\""));
        let (status, error) = raw_error(&harness.socket, "GET", "/v1/resources?n=3", b"").await;
        assert_eq!(status, 400);
        assert_eq!(error.code, ErrorCode::BadRequest);
        harness.stop().await;
    });
}

// ---------------------------------------------------------------------------------------------
// Changes.

#[test]
fn start_stop_restart_are_forwarded_to_the_daemon() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        for action in ["start", "stop", "restart"] {
            let path = format!("/v1/services/web/{action}");
            let (status, body) = raw(&harness.socket, "POST", &path, b"").await;
            assert_eq!(status, 202, "{action}: {body}");
            let reply: Reply = serde_json::from_str(&body).unwrap();
            assert_eq!(
                reply,
                Reply::Accepted {
                    services: vec!["web".into()]
                }
            );
        }
        let web = || vec!["web".to_string()];
        assert_eq!(
            harness.received(),
            vec![
                Request::Start { services: web() },
                Request::Stop { services: web() },
                Request::Restart { services: web() },
            ]
        );

        // `--all` through /v1/actions with the real client.
        let reply = harness
            .client
            .request(&Request::Restart { services: vec![] })
            .await
            .unwrap();
        assert_eq!(
            reply,
            Reply::Accepted {
                services: vec!["db".into(), "web".into()]
            }
        );

        let (status, body) = raw(&harness.socket, "POST", "/v1/shutdown", b"").await;
        assert_eq!(status, 202);
        assert_eq!(
            serde_json::from_str::<Reply>(&body).unwrap(),
            Reply::ShuttingDown
        );
        assert_eq!(harness.received().len(), 5);
        assert_eq!(harness.received()[4], Request::Shutdown);
        harness.stop().await;
    });
}

#[test]
fn unknown_services_are_refused_before_reaching_the_daemon() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let (status, error) =
            raw_error(&harness.socket, "POST", "/v1/services/nope/restart", b"").await;
        assert_eq!((status, error.code), (404, ErrorCode::NotFound));

        let error = harness
            .client
            .request(&Request::Stop {
                services: vec!["web".into(), "nope".into()],
            })
            .await
            .unwrap_err();
        match error {
            ClientError::Api(error) => {
                assert_eq!(error, ApiError::not_found("no service named \"nope\""))
            }
            other => panic!("expected a 404, got {other:?}"),
        }
        assert!(harness.received().is_empty());
        harness.stop().await;
    });
}

#[test]
fn a_daemon_that_cannot_answer_is_a_503() {
    runtime().block_on(async {
        for daemon in [Daemon::Gone, Daemon::Drops, Daemon::Silent] {
            let harness = Harness::start(daemon, 16);
            let started = Instant::now();
            let error = harness
                .client
                .request(&Request::Start { services: vec![] })
                .await
                .unwrap_err();
            match error {
                ClientError::Api(error) => assert_eq!(error.code, ErrorCode::Unavailable),
                other => panic!("expected a 503, got {other:?}"),
            }
            // The silent daemon is given the (shortened) reply timeout, the others none.
            assert!(started.elapsed() < Duration::from_secs(3));
            let (status, _) = raw_error(&harness.socket, "POST", "/v1/shutdown", b"").await;
            assert_eq!(status, 503);
            harness.stop().await;
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Errors: always ApiError JSON.

#[test]
fn unknown_route_wrong_method_bad_json_and_large_body_are_json_errors() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let socket = &harness.socket;

        let (status, error) = raw_error(socket, "GET", "/v1/nothing", b"").await;
        assert_eq!((status, error.code), (404, ErrorCode::NotFound));
        let (status, error) = raw_error(socket, "GET", "/status", b"").await;
        assert_eq!((status, error.code), (404, ErrorCode::NotFound));

        let (status, error) = raw_error(socket, "POST", "/v1/status", b"").await;
        assert_eq!((status, error.code), (405, ErrorCode::BadRequest));
        assert!(error.error.contains("POST"), "{error:?}");
        let (status, error) = raw_error(socket, "DELETE", "/v1/services/web", b"").await;
        assert_eq!((status, error.code), (405, ErrorCode::BadRequest));

        for body in [
            &b"{\"action\": \"start\""[..],
            b"",
            b"[]",
            b"{\"action\": \"explode\"}",
            b"{\"action\": \"stop\", \"services\": \"web\"}",
            b"\xff\xfe",
        ] {
            let (status, error) = raw_error(socket, "POST", "/v1/actions", body).await;
            assert_eq!(
                (status, error.code),
                (400, ErrorCode::BadRequest),
                "{body:?}"
            );
        }

        let mut large = b"{\"action\":\"start\",\"services\":[\"".to_vec();
        large.extend(std::iter::repeat_n(b'a', 70 * 1024));
        large.extend(b"\"]}");
        let (status, error) = raw_error(socket, "POST", "/v1/actions", &large).await;
        assert_eq!((status, error.code), (413, ErrorCode::BadRequest));

        let (status, error) = raw_error(socket, "GET", "/v1/logs?lines=3", b"").await;
        assert_eq!((status, error.code), (400, ErrorCode::BadRequest));

        // Nothing malformed reached the daemon, and the server still serves.
        assert!(harness.received().is_empty());
        assert_eq!(harness.client.status().await.unwrap().name, "app");
        harness.stop().await;
    });
}

#[test]
fn every_registered_route_is_served() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        for &(method, path) in ROUTES {
            let path = path.replace("{name}", "web");
            if path.ends_with("/events") {
                continue; // An endless stream; covered by its own tests.
            }
            let body: &[u8] = if path.ends_with("/actions") {
                b"{\"action\":\"start\"}"
            } else if path.ends_with("/flush") {
                b"{}"
            } else {
                b""
            };
            let (status, body) = raw(&harness.socket, method, &path, body).await;
            assert!(
                status == 200 || status == 202,
                "{method} {path}: {status} {body}"
            );
        }
        harness.stop().await;
    });
}

#[test]
fn the_dashboard_is_opened_and_its_token_rotated_through_the_socket() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let info = harness.client.dashboard().await.unwrap();
        assert_eq!(info.listen.as_deref(), Some("127.0.0.1:8421"));
        assert_eq!(info.token, format!("{:064x}", 0));
        let rotated = harness.client.rotate_dashboard_token().await.unwrap();
        assert_eq!(rotated.token, format!("{:064x}", 1));
        assert_eq!(
            rotated.url,
            Some(format!("http://127.0.0.1:8421/#token={}", rotated.token))
        );
        harness.stop().await;
    });
}

#[test]
fn the_status_can_be_followed_as_a_stream_of_snapshots() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let mut stream = UnixStream::connect(&harness.socket).await.unwrap();
        stream
            .write_all(b"GET /v1/status?follow=true HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut seen = String::new();
        let mut buffer = [0u8; 8192];
        let mut read_until = async |needle: &str, seen: &mut String| {
            while !seen.contains(needle) {
                let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
                    .await
                    .expect("within 5 s")
                    .unwrap();
                assert!(read > 0, "closed: {seen}");
                seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        };
        read_until("\"state\":\"running\"", &mut seen).await;
        assert!(seen.contains("event: status"), "{seen}");
        assert!(seen.contains("text/event-stream"), "{seen}");
        // A change is sent as a new snapshot.
        harness.status.send_modify(|status| {
            let mut updated = (**status).clone();
            updated.services[1].state = ServiceState::Crashed;
            *status = Arc::new(updated);
        });
        read_until("\"state\":\"crashed\"", &mut seen).await;
        let (status, body) = raw(&harness.socket, "GET", "/v1/status?follow=maybe", b"").await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = raw(&harness.socket, "GET", "/v1/status?n=3", b"").await;
        assert_eq!(status, 400, "{body}");
        harness.stop().await;
    });
}
