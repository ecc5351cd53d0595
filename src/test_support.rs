//! Helpers shared by the crate's unit tests (compiled for tests only).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use crate::spec::{
    CommandSpec, Instances, ProjectSpec, RestartPolicy, RestartSpec, ServiceSpec, Signal, StopSpec,
};

/// Kills and reaps a child even when an assertion fails first, so no test leaves a process.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The same kind of runtime wrangle runs on: current-thread, with IO and timers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
}

/// Polls `condition` every 5 ms for up to 5 s; true once it holds.
pub fn wait_for(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    condition()
}

/// A service that runs `name` as its command, with no ports, dependencies or probe, never
/// restarted, stopped with SIGTERM and 10 s: change what a test is about with struct update
/// syntax (`ServiceSpec { ports, ..service_spec("api") }`).
pub fn service_spec(name: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.to_string(),
        command: CommandSpec {
            argv: vec![name.to_string()],
            shell: false,
        },
        cwd: PathBuf::from("/"),
        env: BTreeMap::new(),
        env_files: Vec::new(),
        ports: Vec::new(),
        depends_on: Vec::new(),
        ready: None,
        live: None,
        restart: RestartSpec {
            policy: RestartPolicy::Never,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            max_restarts: 5,
            window: Duration::from_secs(60),
            min_uptime: Duration::from_secs(300),
        },
        stop: StopSpec {
            signal: Signal::TERM,
            timeout: Duration::from_secs(10),
        },
        limits: Default::default(),
        sockets: Vec::new(),
        instances: Instances::Count(1),
        kubernetes: Default::default(),
        process: Default::default(),
        clean: Vec::new(),
        watch: None,
        schedule: None,
    }
}

/// A project of `services` in `/w`, with every project setting at its default.
pub fn project_spec(services: Vec<ServiceSpec>) -> Arc<ProjectSpec> {
    Arc::new(ProjectSpec {
        source: PathBuf::from("/w/wrangle.toml"),
        root: PathBuf::from("/w"),
        services,
        retired: Default::default(),
        sockets: Vec::new(),
        logs: Default::default(),
        notify: Vec::new(),
        monitor: Default::default(),
        metrics: None,
        dashboard: None,
        profiles: Vec::new(),
    })
}
