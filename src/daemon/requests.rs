//! The API's requests turned into supervisor controls: selectors (`web`, `web:2`) resolved
//! against the spec and the current status, each control answered once applied; `apply` (see
//! `daemon::apply`), which replaces the spec requests are resolved against.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use crate::api::RequestEnvelope;
use crate::api::wire::{ApiError, ProjectStatus, Reply, Request};
use crate::launch;
use crate::spec::{MAX_INSTANCES, ProjectSpec, ServiceId};
use crate::supervisor::engine::ServiceAction;
use crate::supervisor::event::InstanceId;
use crate::supervisor::runtime::{Control, ControlRequest};

/// Turns API requests into supervisor controls, and answers once they have been applied (so a
/// client that then reads the status sees their effect). `status` says which instances exist,
/// for requests that name one (`web:2`).
pub(super) async fn answer_requests(
    mut requests: mpsc::UnboundedReceiver<RequestEnvelope>,
    controls: mpsc::UnboundedSender<ControlRequest>,
    mut spec: Arc<ProjectSpec>,
    origin: launch::Origin,
    status: watch::Receiver<Arc<ProjectStatus>>,
) {
    while let Some((request, reply)) = requests.recv().await {
        let resolved = match request {
            Request::Shutdown => {
                let _ = controls.send(ControlRequest::new(Control::Shutdown));
                let _ = reply.send(Ok(Reply::ShuttingDown));
                continue;
            }
            Request::Apply { dry_run } => {
                let reply_to = reply;
                let outcome = crate::daemon::apply::apply(&mut spec, origin, dry_run, &controls);
                let _ = reply_to.send(outcome.await);
                continue;
            }
            Request::Start { services } => {
                controls_for(&spec, &status.borrow(), &services, ServiceAction::Start)
            }
            Request::Stop { services } => {
                controls_for(&spec, &status.borrow(), &services, ServiceAction::Stop)
            }
            Request::Restart { services } => {
                controls_for(&spec, &status.borrow(), &services, ServiceAction::Restart)
            }
            Request::Reload { services } => service_ids(&spec, &services).map(|ids| {
                ids.into_iter()
                    .map(|service| {
                        (
                            Control::Reload { service },
                            spec.services[service].name.clone(),
                        )
                    })
                    .collect()
            }),
            Request::Scale { service, instances } => scale(&spec, &service, instances),
        };
        let resolved = match resolved {
            Ok(resolved) => resolved,
            Err(error) => {
                let _ = reply.send(Err(error));
                continue;
            }
        };
        let mut applied = Vec::new();
        let mut names = Vec::new();
        for (control, name) in resolved {
            let (done, applied_receiver) = oneshot::channel();
            if controls
                .send(ControlRequest {
                    control,
                    done: Some(done),
                })
                .is_err()
            {
                break;
            }
            applied.push(applied_receiver);
            names.push(name);
        }
        for receiver in applied {
            let _ = receiver.await;
        }
        let _ = reply.send(Ok(Reply::Accepted { services: names }));
    }
}

/// The controls of a start, stop or restart of `selectors` (all services when empty): a service
/// by name, or one instance as `NAME:NUMBER`; each with the name the reply gives it back.
fn controls_for(
    spec: &ProjectSpec,
    status: &ProjectStatus,
    selectors: &[String],
    action: ServiceAction,
) -> Result<Vec<(Control, String)>, ApiError> {
    if selectors.is_empty() {
        let all: Vec<String> = spec.current().map(|(_, s)| s.name.clone()).collect();
        return controls_for(spec, status, &all, action);
    }
    selectors
        .iter()
        .map(|selector| {
            let Some((name, number)) = selector.split_once(':') else {
                let service = service_id(spec, selector)?;
                return Ok((Control::Service { service, action }, selector.clone()));
            };
            let service = service_id(spec, name)?;
            let number: u32 = number.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "\"{selector}\" is not SERVICE or SERVICE:INSTANCE (an instance is a number)"
                ))
            })?;
            let exists = status
                .services
                .iter()
                .any(|entry| entry.name == name && entry.instance == number);
            if !exists {
                let numbers: Vec<String> = status
                    .services
                    .iter()
                    .filter(|entry| entry.name == name)
                    .map(|entry| format!("{name}:{}", entry.instance))
                    .collect();
                return Err(ApiError::not_found(format!(
                    "no instance {selector} (instances: {})",
                    numbers.join(", ")
                )));
            }
            let instance = InstanceId::new(service, number);
            Ok((Control::Instance { instance, action }, selector.clone()))
        })
        .collect()
}

fn service_id(spec: &ProjectSpec, name: &str) -> Result<ServiceId, ApiError> {
    spec.service_id(name)
        .ok_or_else(|| ApiError::not_found(format!("no service named \"{name}\"")))
}

/// The services named (all of them when none is).
fn service_ids(spec: &ProjectSpec, names: &[String]) -> Result<Vec<ServiceId>, ApiError> {
    if names.is_empty() {
        return Ok(spec.current().map(|(id, _)| id).collect());
    }
    names.iter().map(|name| service_id(spec, name)).collect()
}

fn scale(spec: &ProjectSpec, name: &str, count: u32) -> Result<Vec<(Control, String)>, ApiError> {
    let service = service_id(spec, name)?;
    if !(1..=MAX_INSTANCES).contains(&count) {
        return Err(ApiError::bad_request(format!(
            "a service runs 1 to {MAX_INSTANCES} instances, not {count} (stop it with `wrangle stop {name}`)"
        )));
    }
    Ok(vec![(Control::Scale { service, count }, name.to_string())])
}
