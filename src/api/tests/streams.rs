//! Streams: events, status and logs followed over SSE, lagging clients, the lazy broadcast, flushes.

use super::*;

#[test]
fn events_are_received_in_order() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let client = harness.client.clone();
        let follower = tokio::spawn(async move {
            let mut received = Vec::new();
            client
                .follow_events(|event| {
                    received.push(event);
                    received.len() < 5
                })
                .await
                .map(|()| received)
        });
        harness.wait_for_event_followers(1).await;
        let sent: Vec<Event> = ["started", "ready", "crashed", "restarting", "stopped"]
            .iter()
            .map(|kind| event(kind, &format!("{kind} happened")))
            .collect();
        for event in &sent {
            assert_eq!(harness.events.send(event.clone()), 1);
        }
        let received = tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(received, sent);
        harness.stop().await;
    });
}

#[test]
fn an_event_stream_can_start_with_the_recorded_past_without_gap_or_repeat() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let mut past = Vec::new();
        for (index, kind) in ["started", "ready", "crashed"].iter().enumerate() {
            let mut recorded = event(kind, &format!("past {index}"));
            if index == 1 {
                recorded.service = Some("db".to_string());
            }
            past.push(recorded);
        }
        *harness.records.events.lock().unwrap() = past.clone();
        let mut stream = UnixStream::connect(&harness.socket).await.unwrap();
        stream
            .write_all(b"GET /v1/events?n=5&service=web HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        harness.wait_for_event_followers(1).await;
        // Recorded and published while the stream was being opened: sent once, not twice.
        assert_eq!(harness.events.send(past[2].clone()), 1);
        let live = event("restarting", "live");
        let mut of_db = event("ready", "of db");
        of_db.service = Some("db".to_string());
        assert_eq!(
            harness.events.send(of_db),
            1,
            "filtered after the broadcast"
        );
        assert_eq!(harness.events.send(live.clone()), 1);
        let mut seen = String::new();
        let mut buffer = [0u8; 8192];
        while !seen.contains("\"live\"") {
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
                .await
                .expect("within 5 s")
                .unwrap();
            assert!(read > 0, "closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
        let messages: Vec<&str> = seen
            .split("\"message\":\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert_eq!(messages, ["past 0", "past 2", "live"], "{seen}");
        let (status, body) = raw(&harness.socket, "GET", "/v1/events?n=x", b"").await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = raw(&harness.socket, "GET", "/v1/events?service=nope", b"").await;
        assert_eq!(status, 404, "{body}");
        harness.stop().await;
    });
}

#[test]
fn details_and_graph_come_from_the_records() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let (status, body) = raw(&harness.socket, "GET", "/v1/services/web/details", b"").await;
        assert_eq!(status, 200, "{body}");
        let details: ServiceDetails = serde_json::from_str(&body).unwrap();
        assert_eq!(details.config.env[0].value, "••••••");
        let (status, body) = raw(&harness.socket, "GET", "/v1/services/nope/details", b"").await;
        assert_eq!(status, 404, "{body}");
        let (status, body) = raw(&harness.socket, "GET", "/v1/graph", b"").await;
        assert_eq!(status, 200, "{body}");
        let graph: ProjectGraph = serde_json::from_str(&body).unwrap();
        assert_eq!(graph.critical_path, ["db", "web"]);
        harness.stop().await;
    });
}

#[test]
fn sse_framing_uses_the_kind_as_event_name() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let mut stream = UnixStream::connect(&harness.socket).await.unwrap();
        stream
            .write_all(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        harness.wait_for_event_followers(1).await;
        assert_eq!(
            harness
                .events
                .send(event("restart_blocked", "port 8080 is held")),
            1
        );
        let mut received = Vec::new();
        let mut buffer = [0; 4096];
        let expected_name = "event: restart_blocked\ndata: {";
        tokio::time::timeout(Duration::from_secs(5), async {
            while !String::from_utf8_lossy(&received).contains(expected_name) {
                let n = stream.read(&mut buffer).await.unwrap();
                assert!(n > 0, "stream closed early");
                received.extend_from_slice(&buffer[..n]);
            }
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&received);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("content-type: text/event-stream"), "{text}");
        harness.stop().await;
    });
}

#[test]
fn a_lagging_client_is_told_and_the_server_goes_on() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 4);
        let client = harness.client.clone();
        let (sender, mut received) = mpsc::unbounded_channel();
        let follower = tokio::spawn(async move {
            client
                .follow_events(move |event| {
                    let last = event.kind == "last";
                    let _ = sender.send(event);
                    !last
                })
                .await
        });
        harness.wait_for_event_followers(1).await;
        // No await between sends: on this current-thread runtime the server cannot read any of
        // them before the channel (capacity 4) has overflowed.
        for i in 0..50 {
            assert_eq!(harness.events.send(event("tick", &format!("tick {i}"))), 1);
        }
        let first = tokio::time::timeout(Duration::from_secs(5), received.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.kind, "lagged");
        assert!(first.message.starts_with("46 events skipped"), "{first:?}");
        for i in 46..50 {
            let tick = received.recv().await.unwrap();
            assert_eq!(tick.message, format!("tick {i}"));
        }

        // The stream goes on, and so does the server.
        assert_eq!(harness.events.send(event("last", "done")), 1);
        assert_eq!(received.recv().await.unwrap().kind, "last");
        tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(harness.client.status().await.unwrap().name, "app");
        harness.stop().await;
    });
}

#[test]
fn logs_tail() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let hour = Duration::from_secs(3600);
        harness.logs.publish(line("web", "old", 2 * hour));
        harness.logs.publish(line("db", "db 1", Duration::ZERO));
        harness.logs.publish(line("web", "web 1", Duration::ZERO));
        harness.logs.publish(line("web", "web 2", Duration::ZERO));

        let texts = |lines: Vec<LogLine>| lines.into_iter().map(|l| l.text).collect::<Vec<_>>();
        let client = &harness.client;
        assert_eq!(
            texts(client.logs(&[], 100, None).await.unwrap()),
            ["old", "db 1", "web 1", "web 2"]
        );
        assert_eq!(
            texts(client.logs(&["web".into()], 2, None).await.unwrap()),
            ["web 1", "web 2"]
        );
        assert_eq!(
            texts(client.logs(&["web".into()], 100, Some("1h")).await.unwrap()),
            ["web 1", "web 2"]
        );
        match client.logs(&["nope".into()], 10, None).await {
            Err(ClientError::Api(error)) => assert_eq!(error.code, ErrorCode::NotFound),
            other => panic!("expected a 404, got {other:?}"),
        }
        match client.logs(&[], 10, Some("yesterday")).await {
            Err(ClientError::Api(error)) => assert_eq!(error.code, ErrorCode::BadRequest),
            other => panic!("expected a 400, got {other:?}"),
        }
        harness.stop().await;
    });
}

#[test]
fn logs_follow_sends_the_tail_then_live_lines() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        harness.logs.publish(line("web", "web 1", Duration::ZERO));
        harness.logs.publish(line("db", "db 1", Duration::ZERO));
        harness.logs.publish(line("web", "web 2", Duration::ZERO));
        harness.logs.publish(line("web", "web 3", Duration::ZERO));

        let client = harness.client.clone();
        let (sender, mut received) = mpsc::unbounded_channel();
        let follower = tokio::spawn(async move {
            client
                .follow_logs(&["web".into()], 2, move |line| {
                    let last = line.text == "live";
                    let _ = sender.send(line.text);
                    !last
                })
                .await
        });
        for expected in ["web 2", "web 3"] {
            let text = tokio::time::timeout(Duration::from_secs(5), received.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(text, expected);
        }
        // The client has the tail, so the server has subscribed: publish live lines, and a skip
        // (output removed before this client read it), which the client turns into a notice.
        harness
            .logs
            .publish(line("db", "not followed", Duration::ZERO));
        let _ = harness.logs.live.send(LogEvent::Skipped(Skipped {
            service: "web".to_string(),
            bytes: Some(4096),
        }));
        harness.logs.publish(line("web", "live", Duration::ZERO));
        tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let notice = received.recv().await.unwrap();
        assert!(
            notice.starts_with("web: 4096 bytes of output skipped"),
            "{notice}"
        );
        assert_eq!(received.recv().await.unwrap(), "live");
        assert!(received.recv().await.is_none());

        // No place left for a follower: a 503 with the source's reason.
        harness
            .logs
            .full
            .store(true, std::sync::atomic::Ordering::Relaxed);
        match harness.client.follow_logs(&[], 10, |_| true).await {
            Err(ClientError::Api(error)) => {
                assert_eq!(error.code, ErrorCode::Unavailable);
                assert!(error.error.contains("already follow"), "{error:?}");
            }
            other => panic!("expected a 503, got {other:?}"),
        }
        harness.stop().await;
    });
}

#[test]
fn shutdown_ends_streams_and_serve_returns() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let client = harness.client.clone();
        let follower = tokio::spawn(async move { client.follow_events(|_| true).await });
        harness.wait_for_event_followers(1).await;
        let socket = harness.socket.clone();
        let started = Instant::now();
        harness.stop().await;
        // Well within the drain timeout: the SSE stream ended instead of being waited for.
        assert!(started.elapsed() < server::DRAIN_TIMEOUT);
        tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        // Nobody accepts any more: the socket file is left, but connecting is refused.
        match Client::new(socket).status().await {
            Err(ClientError::NotRunning) => {}
            other => panic!("expected NotRunning, got {other:?}"),
        }
    });
}

#[test]
fn a_lazy_broadcast_is_empty_once_every_receiver_took_every_value() {
    let events: LazyBroadcast<u32> = LazyBroadcast::new(4);
    assert!(events.is_empty(), "no channel");
    let mut first = events.subscribe();
    let mut second = events.subscribe();
    events.send(1);
    assert!(!events.is_empty());
    assert_eq!(first.try_recv(), Ok(1));
    assert!(!events.is_empty(), "the second receiver has not taken it");
    assert_eq!(second.try_recv(), Ok(1));
    assert!(events.is_empty());
}

#[test]
fn a_lazy_broadcast_holds_a_channel_only_while_someone_listens() {
    let events: LazyBroadcast<u32> = LazyBroadcast::new(4);
    assert!(
        events.lock().is_none(),
        "no channel before the first subscriber"
    );
    assert_eq!(events.send(1), 0, "nobody listens: dropped");
    assert!(events.lock().is_none());

    let mut first = events.subscribe();
    let mut second = events.subscribe();
    assert_eq!(events.receiver_count(), 2);
    assert_eq!(events.send(2), 2);
    assert_eq!(first.try_recv(), Ok(2));
    assert_eq!(second.try_recv(), Ok(2));

    drop(first);
    drop(second);
    assert_eq!(events.receiver_count(), 0);
    assert_eq!(events.send(3), 0);
    assert!(
        events.lock().is_none(),
        "the last receiver gone: slots given back"
    );

    // A new subscriber sees only what is sent after it came, and still lags like any other.
    let mut third = events.subscribe();
    for value in 4..10 {
        assert_eq!(events.send(value), 1);
    }
    assert_eq!(
        third.try_recv(),
        Err(broadcast::error::TryRecvError::Lagged(2))
    );
    assert_eq!(third.try_recv(), Ok(6));
}

#[test]
fn flushing_logs_names_known_services_only_and_answers_what_was_removed() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let report = harness
            .client
            .flush_logs(&["web".to_string()])
            .await
            .unwrap();
        assert_eq!(report.services.len(), 1);
        assert_eq!(report.services[0].name, "web");
        assert_eq!(
            (report.services[0].files, report.services[0].bytes),
            (1, 10)
        );
        let (status, body) = raw(
            &harness.socket,
            "POST",
            "/v1/logs/flush",
            b"{\"services\":[\"nope\"]}",
        )
        .await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("no service named \\\"nope\\\""), "{body}");
        let (status, body) = raw(&harness.socket, "POST", "/v1/logs/flush", b"[1]").await;
        assert_eq!(status, 400, "{body}");
        harness.stop().await;
    });
}
