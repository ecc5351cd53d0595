//! A service's resolved config as the dashboard and `wrangle describe` show it
//! (`wire::ServiceConfig`): the spec turned back into the words of `wrangle.toml`, with every
//! environment value that looks like a secret masked by the one rule (`spec::secret`) before it
//! leaves the daemon.

use crate::api::wire::{self, EnvVar, Setting};
use crate::spec::{ProjectSpec, ReadyProbe, ServiceId, secret};

/// The resolved config of `service`.
pub fn service_config(spec: &ProjectSpec, service: ServiceId) -> wire::ServiceConfig {
    let service_spec = &spec.services[service];
    let mut settings = Vec::new();
    let mut set = |key: &str, value: String| {
        settings.push(Setting {
            key: key.to_string(),
            value,
        })
    };
    if !service_spec.ports.is_empty() {
        let ports: Vec<String> = service_spec.ports.iter().map(u16::to_string).collect();
        set("port", ports.join(", "));
    }
    if let Some(probe) = &service_spec.ready {
        set("ready", describe_probe(probe));
    }
    let restart = &service_spec.restart;
    set("restart", restart.policy.as_str().to_string());
    set(
        "backoff",
        format!(
            "{} doubling up to {}",
            duration(restart.backoff_initial),
            duration(restart.backoff_max)
        ),
    );
    set(
        "max_restarts",
        format!(
            "{} within {}",
            restart.max_restarts,
            duration(restart.window)
        ),
    );
    if let Some(schedule) = &service_spec.schedule {
        set("schedule", schedule.describe());
        set("on_schedule", schedule.action.as_str().to_string());
    }
    set("stop_signal", service_spec.stop.signal.name());
    set("stop_timeout", duration(service_spec.stop.timeout));
    let limits = &service_spec.limits;
    if let Some(bytes) = limits.max_memory {
        set("max_memory", size(bytes));
    }
    if let Some(percent) = limits.cpu_warn {
        set("cpu_warn", format!("{percent}%"));
    }
    if let Some(bytes) = limits.memory_warn {
        set("memory_warn", size(bytes));
    }
    if limits.cpu_warn.is_some() || limits.memory_warn.is_some() {
        set("warn_after", duration(limits.warn_after));
    }
    wire::ServiceConfig {
        command: service_spec.command.argv.clone(),
        shell: service_spec.command.shell,
        cwd: service_spec.cwd.display().to_string(),
        env: service_spec
            .env
            .iter()
            .map(|(name, value)| env_var(name, value))
            .collect(),
        depends_on: service_spec
            .depends_on
            .iter()
            .map(|dependency| wire::Dependency {
                service: spec.services[dependency.service].name.clone(),
                condition: dependency.condition.as_str().to_string(),
                restart: dependency.restart,
            })
            .collect(),
        settings,
    }
}

/// One variable, masked when it looks secret (`spec::secret`).
pub fn env_var(name: &str, value: &str) -> EnvVar {
    let shown = secret::shown_value(name, value);
    EnvVar {
        name: name.to_string(),
        masked: shown != value,
        value: shown.into_owned(),
    }
}

fn describe_probe(probe: &ReadyProbe) -> String {
    let mut text = format!(
        "{} (every {}, timeout {})",
        probe.check.describe(),
        duration(probe.interval),
        duration(probe.timeout)
    );
    if let Some(recheck) = probe.recheck {
        text.push_str(&format!(", recheck every {}", duration(recheck)));
    }
    text
}

fn duration(value: std::time::Duration) -> String {
    humantime::format_duration(value).to_string()
}

fn size(bytes: u64) -> String {
    const UNITS: &[(&str, u64)] = &[("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for &(unit, scale) in UNITS {
        if bytes >= scale && bytes.is_multiple_of(scale) {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_masked_by_the_one_rule() {
        let var = env_var("DB_PASSWORD", "hunter2");
        assert!(var.masked && var.value == secret::MASK, "{var:?}");
        let var = env_var("DATABASE_URL", "postgres://app:s3cret@db/app");
        assert!(var.masked && !var.value.contains("s3cret"), "{var:?}");
        let var = env_var("PORT", "8080");
        assert!(!var.masked && var.value == "8080", "{var:?}");
    }

    #[test]
    fn sizes_and_settings_read_like_the_config() {
        assert_eq!(size(500 * 1024 * 1024), "500MiB");
        assert_eq!(size(1 << 30), "1GiB");
        assert_eq!(size(1000), "1000B");
    }
}
