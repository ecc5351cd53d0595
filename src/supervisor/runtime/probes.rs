//! Readiness probes of a spawned instance: HTTP, TCP and exec attempts until the probe passes or
//! times out, `READY=1` on the notify socket, then rechecks (`ready.recheck`) that only report.
//! Log probes pass from the output reader (`output.rs`); exec probes run through the [`System`].

use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::probe::{self, NotifySocket, ProbeSchedule};
use crate::spec::{ReadyCheck, ReadyProbe};
use crate::supervisor::engine::Input;
use crate::supervisor::event::{Event, InstanceId};

use super::system::System;
use super::{Message, Observer};

pub(super) struct ProbeContext<S> {
    pub(super) instance: InstanceId,
    pub(super) generation: u64,
    pub(super) sender: mpsc::UnboundedSender<Message>,
    pub(super) observer: Rc<dyn Observer>,
    pub(super) system: Rc<S>,
}

/// Runs a readiness probe until it passes or its timeout (counted from spawn) is over. A
/// `per_instance` probe looks at the address of this instance (its port moved up by the
/// instance's number).
pub(super) async fn run_probe<S: System>(
    mut probe: ReadyProbe,
    context: ProbeContext<S>,
    notify_socket: Option<NotifySocket>,
) {
    let deadline = tokio::time::Instant::now() + probe.timeout;
    let own_check = match probe.per_instance {
        true => probe.check.for_instance(context.instance.number),
        false => Some(probe.check.clone()),
    };
    let passed = match own_check {
        Some(check) => {
            probe.check = check;
            probe_until(&probe, &context, notify_socket.as_ref(), deadline).await
        }
        None => Err(Some(format!(
            "the probe's port plus instance number {} is beyond 65535",
            context.instance.number
        ))),
    };
    report(&probe, &context, notify_socket, passed).await;
}

/// Attempts until the probe passes, or `deadline`.
async fn probe_until<S: System>(
    probe: &ReadyProbe,
    context: &ProbeContext<S>,
    notify_socket: Option<&NotifySocket>,
    deadline: tokio::time::Instant,
) -> Result<(), Option<String>> {
    match &probe.check {
        // Log probes pass from the output reader; notify probes from the socket.
        ReadyCheck::Log { .. } => {
            tokio::time::sleep_until(deadline).await;
            Err(Some("no output line matched".to_string()))
        }
        ReadyCheck::Notify => match notify_socket {
            Some(socket) => wait_for_notify_ready(socket, deadline).await,
            None => Err(Some("no notify socket".to_string())),
        },
        check => poll_check(check, probe, context, deadline).await,
    }
}

/// Sends the probe's verdict, rechecks when asked, and keeps the notify socket while the tree
/// lives.
async fn report<S: System>(
    probe: &ReadyProbe,
    context: &ProbeContext<S>,
    notify_socket: Option<NotifySocket>,
    passed: Result<(), Option<String>>,
) {
    let service = context.instance.service;
    let generation = context.generation;
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
        // Ends with the tree: the task is aborted when the tree ends.
        recheck(probe, context, period).await;
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
        // Log and notify checks are refused by the config: they cannot be repeated.
        let Some(result) = attempt(&probe.check, context, attempt_timeout).await else {
            return;
        };
        context
            .observer
            .probe_attempt(context.instance, started.elapsed(), result.is_ok());
        match result {
            Ok(()) => {
                failures = 0;
                if std::mem::take(&mut lost) {
                    context.observer.event(&Event::ReadinessRestored {
                        instance: context.instance,
                    });
                }
            }
            Err(failure) => {
                failures += 1;
                if failures >= ReadyProbe::LOST_AFTER && !lost {
                    lost = true;
                    context.observer.event(&Event::ReadinessLost {
                        instance: context.instance,
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
        let Some(result) = attempt(check, context, attempt_timeout).await else {
            return Err(None);
        };
        context
            .observer
            .probe_attempt(context.instance, attempt_started.elapsed(), result.is_ok());
        match result {
            Ok(()) => return Ok(()),
            Err(failure) => {
                context.observer.probe_failed(context.instance, &failure.0);
                last_failure = Some(failure.0);
            }
        }
        let wake = (tokio::time::Instant::now() + schedule.next_delay()).min(deadline);
        tokio::time::sleep_until(wake).await;
    }
}

/// One attempt of a check wrangle can repeat (http, tcp, exec), within `timeout`; `None` for a
/// log or notify check, which cannot be attempted.
pub(super) async fn attempt<S: System>(
    check: &ReadyCheck,
    context: &ProbeContext<S>,
    timeout: Duration,
) -> Option<Result<(), probe::ProbeFailure>> {
    Some(match check {
        ReadyCheck::Http { url } => probe::http_attempt(url, timeout).await,
        ReadyCheck::Tcp { host, port } => probe::tcp_attempt(host, *port, timeout).await,
        ReadyCheck::Exec { command } => {
            context
                .system
                .exec_probe(context.instance, command, timeout)
                .await
        }
        ReadyCheck::Log { .. } | ReadyCheck::Notify => return None,
    })
}
