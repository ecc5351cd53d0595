//! The dependency graph, read from the spec: which services a selection pulls in, and who depends
//! on whom (for stopping in reverse order). The spec guarantees there is no cycle.

use crate::spec::{ProjectSpec, ServiceId};

/// The services to run for `roots` (or all when `roots` is empty), with everything they
/// depend on, transitively. Indexed by `ServiceId`.
pub fn selection(spec: &ProjectSpec, roots: &[ServiceId]) -> Vec<bool> {
    if roots.is_empty() {
        return vec![true; spec.services.len()];
    }
    let mut selected = vec![false; spec.services.len()];
    let mut stack: Vec<ServiceId> = roots.to_vec();
    while let Some(service) = stack.pop() {
        if std::mem::replace(&mut selected[service], true) {
            continue;
        }
        stack.extend(
            spec.services[service]
                .depends_on
                .iter()
                .map(|dependency| dependency.service),
        );
    }
    selected
}

/// `root` and every service that depends on it, directly or not (what must stop when it stops).
pub fn with_dependents(dependents: &[Vec<ServiceId>], root: ServiceId) -> Vec<bool> {
    let mut marked = vec![false; dependents.len()];
    let mut stack = vec![root];
    while let Some(service) = stack.pop() {
        if std::mem::replace(&mut marked[service], true) {
            continue;
        }
        stack.extend(dependents[service].iter().copied());
    }
    marked
}

/// For each service, the services that depend on it.
pub fn dependents(spec: &ProjectSpec) -> Vec<Vec<ServiceId>> {
    let mut dependents = vec![Vec::new(); spec.services.len()];
    for (service, service_spec) in spec.services.iter().enumerate() {
        for dependency in &service_spec.depends_on {
            dependents[dependency.service].push(service);
        }
    }
    dependents
}
