//! A service's resolved config as the dashboard shows it (`wire::ServiceConfig`): the spec
//! turned back into the words of `wrangle.toml`, with every environment value that looks like a
//! secret masked before it leaves the daemon.
//!
//! Masked: values of variables whose name has a secret-sounding word in it (`PASSWORD`,
//! `TOKEN`, `SECRET`, `API_KEY`, ...), the password of a URL (`postgres://app:••••••@db/app`),
//! and long random-looking strings whatever their name. A false alarm costs a masked value; a
//! miss costs a leaked secret, so the rules lean towards masking.

use crate::api::wire::{self, EnvVar, Setting};
use crate::spec::{ProjectSpec, ReadyProbe, ServiceId};

/// What a masked value shows instead.
pub const MASK: &str = "••••••";

/// Words that make a variable's value a secret when they are a part of its name (split at `_`,
/// `-` and `.`), or end it (`DBPASSWORD`, `GITHUBTOKEN`).
const SECRET_WORDS: &[&str] = &[
    "SECRET",
    "SECRETS",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PASSPHRASE",
    "PWD_HASH",
    "TOKEN",
    "TOKENS",
    "KEY",
    "KEYS",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "CREDS",
    "AUTH",
    "PRIVATE",
    "DSN",
    "SALT",
    "COOKIE",
    "SESSION",
    "SIGNATURE",
    "CERT",
    "PEM",
];

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

/// One variable, masked when it looks secret.
pub fn env_var(name: &str, value: &str) -> EnvVar {
    if secret_name(name) || random_looking(value) {
        return EnvVar {
            name: name.to_string(),
            value: MASK.to_string(),
            masked: true,
        };
    }
    if let Some(shown) = url_without_password(value) {
        return EnvVar {
            name: name.to_string(),
            value: shown,
            masked: true,
        };
    }
    EnvVar {
        name: name.to_string(),
        value: value.to_string(),
        masked: false,
    }
}

fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper
        .split(['_', '-', '.'])
        .any(|word| SECRET_WORDS.contains(&word))
        || ["PASSWORD", "PASSWD", "TOKEN", "SECRET", "APIKEY", "API_KEY"]
            .iter()
            .any(|word| upper.ends_with(word) || upper.starts_with(word))
}

/// A long string of letters and digits (and the usual token punctuation) with both letters and
/// digits in it, such as an API key pasted into a variable with an innocent name.
fn random_looking(value: &str) -> bool {
    value.len() >= 24
        && !value.starts_with('/')
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"+/=_-.".contains(&byte))
        && value.bytes().any(|byte| byte.is_ascii_digit())
        && value.bytes().any(|byte| byte.is_ascii_alphabetic())
        && value.bytes().filter(|byte| byte.is_ascii_digit()).count() * 8 >= value.len()
}

/// `scheme://user:password@host...` with the password masked; `None` when the value is not such
/// a URL.
fn url_without_password(value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (userinfo, host) = authority.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    if password.is_empty() {
        return None;
    }
    Some(format!(
        "{scheme}://{user}:{MASK}@{host}{}",
        &rest[authority_end..]
    ))
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
    fn secret_names_and_values_are_masked() {
        for name in [
            "DB_PASSWORD",
            "password",
            "GITHUB_TOKEN",
            "STRIPE_SECRET_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "API_KEY",
            "apikey",
            "SENTRY_DSN",
            "SESSION_SECRET",
            "JWT-SIGNING-KEY",
            "MYTOKEN",
            "DBPASSWORD",
            "PRIVATE_KEY_PEM",
            "BASIC_AUTH",
        ] {
            let var = env_var(name, "hunter2");
            assert!(var.masked && var.value == MASK, "{name}: {var:?}");
        }
        for (name, value) in [
            ("PORT", "8080"),
            ("NODE_ENV", "production"),
            ("PATH_PREFIX", "/api"),
            ("MONKEY", "banana"),
            ("KEYBOARD_LAYOUT", "us"),
            ("DATA_DIR", "/var/lib/app/data/2024-06-01/shard-0001"),
            ("GREETING", "hello world, this is a long and friendly value"),
        ] {
            let var = env_var(name, value);
            assert!(!var.masked && var.value == value, "{name}: {var:?}");
        }
        // An innocent name does not save a key-looking value.
        let var = env_var("UPSTREAM", "sk_live_4eC39HqLyjWDarjtT1zdp7dc");
        assert!(var.masked && var.value == MASK, "{var:?}");
    }

    #[test]
    fn urls_keep_everything_but_their_password() {
        let var = env_var(
            "DATABASE_URL",
            "postgres://app:s3cret@db.internal:5432/app?ssl=1",
        );
        assert!(var.masked);
        assert_eq!(
            var.value,
            "postgres://app:••••••@db.internal:5432/app?ssl=1"
        );
        assert!(!var.value.contains("s3cret"));
        let plain = env_var("UPSTREAM_URL", "http://127.0.0.1:8080/health");
        assert!(!plain.masked);
        let user_only = env_var("MIRROR", "https://anonymous@mirror.example/repo");
        assert!(!user_only.masked);
    }

    #[test]
    fn sizes_and_settings_read_like_the_config() {
        assert_eq!(size(500 * 1024 * 1024), "500MiB");
        assert_eq!(size(1 << 30), "1GiB");
        assert_eq!(size(1000), "1000B");
    }
}
