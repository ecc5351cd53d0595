//! Readiness probes of a spawned instance: HTTP, TCP and exec attempts until the probe passes or
//! times out, `READY=1` on the notify socket, then rechecks (`ready.recheck`) that only report.
//! Log probes pass from the output reader (`output.rs`); exec probes run through the [`System`].

use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::probe::{self, NotifySocket, ProbeSchedule};
use crate::spec::{ReadyCheck, ReadyProbe, ServiceId};
use crate::supervisor::engine::Input;
use crate::supervisor::event::Event;

use super::system::System;
use super::{Message, Observer};

pub(super) struct ProbeContext<S> {
    pub(super) service: ServiceId,
    pub(super) generation: u64,
    pub(super) sender: mpsc::UnboundedSender<Message>,
    pub(super) observer: Rc<dyn Observer>,
    pub(super) system: Rc<S>,
}

/// Runs a readiness probe until it passes or its timeout (counted from spawn) is over.
pub(super) async fn run_probe<S: System>(
    probe: ReadyProbe,
    context: ProbeContext<S>,
    notify_socket: Option<NotifySocket>,
) {
    let deadline = tokio::time::Instant::now() + probe.timeout;
    let service = context.service;
    let generation = context.generation;
    let passed = match &probe.check {
        // Log probes pass from the output reader; notify probes from the socket.
        ReadyCheck::Log { .. } => {
            tokio::time::sleep_until(deadline).await;
            Err(Some("no output line matched".to_string()))
        }
        ReadyCheck::Notify => match &notify_socket {
            Some(socket) => wait_for_notify_ready(socket, deadline).await,
            None => Err(Some("no notify socket".to_string())),
        },
        check => poll_check(check, &probe, &context, deadline).await,
    };
    let message = match passed {
        Ok(()) => Input::ProbePassed {
            service,
            generation,
        },
        Err(last_failure) => Input::ProbeTimedOut {
            service,
            generation,
            last_failure,
        },
    };
    let ready = matches!(message, Input::ProbePassed { .. });
    let _ = context.sender.send(Message::Engine(message));
    if let (true, Some(period)) = (ready, probe.recheck) {
        // Ends with the instance: the task is aborted when the instance ends.
        recheck(&probe, &context, period).await;
    }
    // Keep the notify socket open while the instance lives: services may keep sending STATUS=
    // or WATCHDOG=1, and a vanished socket would make their sd_notify calls fail.
    if let Some(socket) = notify_socket {
        while socket.recv().await.is_ok() {}
    }
}

/// After readiness: probes every `period` and reports readiness lost after
/// [`ReadyProbe::LOST_AFTER`] failures in a row, and back on the next pass.
async fn recheck<S: System>(probe: &ReadyProbe, context: &ProbeContext<S>, period: Duration) {
    let mut failures = 0;
    let mut lost = false;
    loop {
        tokio::time::sleep(period).await;
        let started = Instant::now();
        let attempt_timeout = period.clamp(Duration::from_millis(100), Duration::from_secs(10));
        let result = match &probe.check {
            ReadyCheck::Http { url } => probe::http_attempt(url, attempt_timeout).await,
            ReadyCheck::Tcp { host, port } => {
                probe::tcp_attempt(host, *port, attempt_timeout).await
            }
            ReadyCheck::Exec { command } => {
                context
                    .system
                    .exec_probe(context.service, command, attempt_timeout)
                    .await
            }
            // Refused by the config: these cannot be repeated.
            ReadyCheck::Log { .. } | ReadyCheck::Notify => return,
        };
        context
            .observer
            .probe_attempt(context.service, started.elapsed(), result.is_ok());
        match result {
            Ok(()) => {
                failures = 0;
                if std::mem::take(&mut lost) {
                    context.observer.event(&Event::ReadinessRestored {
                        service: context.service,
                    });
                }
            }
            Err(failure) => {
                failures += 1;
                if failures >= ReadyProbe::LOST_AFTER && !lost {
                    lost = true;
                    context.observer.event(&Event::ReadinessLost {
                        service: context.service,
                        failure: format!(
                            "{} checks in a row failed (last: {})",
                            failures, failure.0
                        ),
                    });
                }
            }
        }
    }
}

async fn wait_for_notify_ready(
    socket: &NotifySocket,
    deadline: tokio::time::Instant,
) -> Result<(), Option<String>> {
    loop {
        match tokio::time::timeout_at(deadline, socket.recv()).await {
            Ok(Ok(message)) if message.ready => return Ok(()),
            Ok(Ok(_)) => continue,
            Ok(Err(error)) => return Err(Some(format!("notify socket: {error}"))),
            Err(_) => return Err(Some("READY=1 was not received".to_string())),
        }
    }
}

async fn poll_check<S: System>(
    check: &ReadyCheck,
    probe: &ReadyProbe,
    context: &ProbeContext<S>,
    deadline: tokio::time::Instant,
) -> Result<(), Option<String>> {
    let mut schedule = ProbeSchedule::new(probe.interval);
    let mut last_failure = None;
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(last_failure);
        }
        // One attempt may take up to an interval (at least a second), never past the deadline.
        let attempt_timeout = probe
            .interval
            .max(Duration::from_secs(1))
            .min(deadline - now);
        let attempt_started = Instant::now();
        let result = match check {
            ReadyCheck::Http { url } => probe::http_attempt(url, attempt_timeout).await,
            ReadyCheck::Tcp { host, port } => {
                probe::tcp_attempt(host, *port, attempt_timeout).await
            }
            ReadyCheck::Exec { command } => {
                context
                    .system
                    .exec_probe(context.service, command, attempt_timeout)
                    .await
            }
            ReadyCheck::Log { .. } | ReadyCheck::Notify => return Err(None),
        };
        context
            .observer
            .probe_attempt(context.service, attempt_started.elapsed(), result.is_ok());
        match result {
            Ok(()) => return Ok(()),
            Err(failure) => {
                context.observer.probe_failed(context.service, &failure.0);
                last_failure = Some(failure.0);
            }
        }
        let wake = (tokio::time::Instant::now() + schedule.next_delay()).min(deadline);
        tokio::time::sleep_until(wake).await;
    }
}
