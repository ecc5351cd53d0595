//! The probes of a container: wrangle's `ready` and `live` checks as `startupProbe`,
//! `readinessProbe` and `livenessProbe`, or the reason a check has no equivalent.

use super::super::yaml::{MapBuilder, Node};
use super::super::{HttpUrl, attempt_timeout, is_loopback, whole_seconds};
use super::seconds_i64;
use crate::spec::{ReadyCheck, ReadyProbe};

pub(super) enum ProbeAction {
    /// The `httpGet`, `tcpSocket` or `exec` entry. A check of 127.0.0.1 is made against the
    /// pod's address (the kubelet probes from outside the pod; the header says so).
    Exported((String, Node)),
    /// Why the check has no equivalent.
    None(String),
}

pub(super) fn probe_action(check: &ReadyCheck) -> ProbeAction {
    match check {
        ReadyCheck::Http { url } => match HttpUrl::parse(url) {
            Some(target) => {
                let mut action = MapBuilder::new();
                if !is_loopback(&target.host) {
                    action.entry("host", Node::str(&target.host));
                }
                action
                    .entry("path", Node::str(&target.path))
                    .entry("port", Node::Int(i64::from(target.port)));
                ProbeAction::Exported(("httpGet".to_string(), action.build()))
            }
            None => ProbeAction::None(format!(
                "ready = {{ {} }}: the URL could not be taken apart for an httpGet probe.",
                check.describe()
            )),
        },
        ReadyCheck::Tcp { host, port } => {
            let mut action = MapBuilder::new();
            if !is_loopback(host) {
                action.entry("host", Node::str(host));
            }
            action.entry("port", Node::Int(i64::from(*port)));
            ProbeAction::Exported(("tcpSocket".to_string(), action.build()))
        }
        ReadyCheck::Exec { command } => {
            // The kubelet runs a probe's command as is: no `$(VAR)` expansion to escape.
            let mut action = MapBuilder::new();
            action.entry("command", Node::strings(&command.argv));
            ProbeAction::Exported(("exec".to_string(), action.build()))
        }
        ReadyCheck::Log { .. } => ProbeAction::None(format!(
            "ready = {{ {} }} has no Kubernetes equivalent (a probe cannot read the container's \
             output): no startup or readiness probe.",
            check.describe()
        )),
        ReadyCheck::Notify => ProbeAction::None(
            "ready = { notify = true } (sd_notify) has no Kubernetes equivalent: no startup or \
             readiness probe."
                .to_string(),
        ),
    }
}

/// The readiness deadline: probed every `interval`, failed after `timeout`.
pub(super) fn startup_probe(action: &(String, Node), probe: &ReadyProbe) -> Node {
    let period = whole_seconds(probe.interval, 1);
    let attempts = whole_seconds(probe.timeout, 1).div_ceil(period).max(1);
    let mut map = MapBuilder::new();
    map.entry(action.0.clone(), action.1.clone())
        .entry("periodSeconds", Node::Int(seconds_i64(period)))
        .entry(
            "timeoutSeconds",
            Node::Int(seconds_i64(whole_seconds(
                attempt_timeout(probe.interval),
                1,
            ))),
        )
        .entry("failureThreshold", Node::Int(seconds_i64(attempts)));
    map.build()
}

/// Readiness once started: every `recheck` (or `interval`), lost after three failures in a row.
pub(super) fn readiness_probe(action: (String, Node), probe: &ReadyProbe) -> Node {
    let period = whole_seconds(probe.recheck.unwrap_or(probe.interval), 1);
    let mut map = MapBuilder::new();
    map.entry(action.0, action.1)
        .entry("periodSeconds", Node::Int(seconds_i64(period)))
        .entry(
            "timeoutSeconds",
            Node::Int(seconds_i64(whole_seconds(
                attempt_timeout(probe.interval),
                1,
            ))),
        )
        .entry(
            "failureThreshold",
            Node::Int(i64::from(ReadyProbe::LOST_AFTER)),
        );
    map.build()
}

/// Liveness: every `interval`, each attempt within `timeout`, restarted after `failures` in a row.
pub(super) fn liveness_probe(action: (String, Node), live: &crate::spec::LiveProbe) -> Node {
    let mut map = MapBuilder::new();
    map.entry(action.0, action.1)
        .entry(
            "periodSeconds",
            Node::Int(seconds_i64(whole_seconds(live.interval, 1))),
        )
        .entry(
            "timeoutSeconds",
            Node::Int(seconds_i64(whole_seconds(live.timeout, 1))),
        )
        .entry("failureThreshold", Node::Int(i64::from(live.failures)));
    map.build()
}
