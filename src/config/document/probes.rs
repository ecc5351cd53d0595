//! `ready` and `live`: a service's readiness and liveness probes, the one place that knows the
//! probe kinds (`http`, `tcp`, `exec`, `log`, `notify`), their values and their timings.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::DeValue;

use super::{Reader, Value};
use crate::config::diagnostic::Diagnostic;
use crate::spec::{CommandSpec, LiveProbe, ReadyCheck, ReadyProbe};

pub(crate) const READY_KINDS: &[&str] = &["http", "tcp", "exec", "log", "notify"];
pub(crate) const READY_KEYS: &[&str] = &[
    "http",
    "tcp",
    "exec",
    "log",
    "notify",
    "interval",
    "timeout",
    "recheck",
    "per_instance",
];
/// Built-in probe timings, used when `ready` does not set them.
const DEFAULT_READY_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The kinds a liveness probe may have: the ones wrangle can repeat.
pub(crate) const LIVE_KINDS: &[&str] = &["http", "tcp", "exec"];
pub(crate) const LIVE_KEYS: &[&str] = &[
    "http",
    "tcp",
    "exec",
    "interval",
    "timeout",
    "failures",
    "per_instance",
];
/// Built-in liveness timings, used when `live` does not set them.
const DEFAULT_LIVE_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_LIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// The most consecutive failures `live.failures` may ask for.
const MAX_LIVE_FAILURES: i64 = 1000;

/// What tells `ready` and `live` apart for their shared reader: the kinds each accepts, its
/// other keys, its default timings and the words its messages use.
struct ProbeRules {
    /// The kinds this probe accepts, and as the messages list them.
    kinds: &'static [&'static str],
    kinds_text: &'static str,
    /// Every key of its table (kinds included).
    keys: &'static [&'static str],
    interval: Duration,
    timeout: Duration,
    /// Why a probe kind of the other (`log`, `notify`) is refused here.
    refused_kind: &'static str,
    /// The example a table with no kind is shown.
    example: &'static str,
    /// Why `per_instance` is pointless for the kinds that have no address.
    per_instance_help: &'static str,
}

const READY_RULES: ProbeRules = ProbeRules {
    kinds: READY_KINDS,
    kinds_text: "http, tcp, exec, log or notify",
    keys: READY_KEYS,
    interval: DEFAULT_READY_INTERVAL,
    timeout: DEFAULT_READY_TIMEOUT,
    refused_kind: "",
    example: "for example: ready = { tcp = 5432 }",
    per_instance_help: "exec, log and notify probes already reach one instance each: remove `per_instance`",
};

const LIVE_RULES: ProbeRules = ProbeRules {
    kinds: LIVE_KINDS,
    kinds_text: "http, tcp or exec",
    keys: LIVE_KEYS,
    interval: DEFAULT_LIVE_INTERVAL,
    timeout: DEFAULT_LIVE_TIMEOUT,
    refused_kind: "a liveness probe must be repeatable",
    example: "for example: live = { http = \"http://127.0.0.1:8080/health\" }",
    per_instance_help: "an exec probe already reaches one instance each: remove `per_instance`",
};

/// A probe table as read: its check, and every other key with its default when absent.
struct ProbeTable {
    check: ReadyCheck,
    interval: Duration,
    timeout: Duration,
    recheck: Option<Duration>,
    failures: u32,
    per_instance: bool,
}

impl Reader<'_> {
    pub(super) fn ready(&mut self, value: &Value<'_>, path: &str) -> Option<ReadyProbe> {
        let table = self.probe(value, path, &READY_RULES)?;
        Some(ReadyProbe {
            check: table.check,
            interval: table.interval,
            timeout: table.timeout,
            recheck: table.recheck,
            per_instance: table.per_instance,
        })
    }

    /// `live = { http | tcp | exec, interval, timeout, failures, per_instance }`.
    pub(super) fn live(&mut self, value: &Value<'_>, path: &str) -> Option<LiveProbe> {
        let table = self.probe(value, path, &LIVE_RULES)?;
        Some(LiveProbe {
            check: table.check,
            interval: table.interval,
            timeout: table.timeout,
            failures: table.failures,
            per_instance: table.per_instance,
        })
    }

    /// The one reader of a probe table: exactly one kind of those `rules` accept, and the keys
    /// `rules` name (`recheck` and `failures` only where they are among them). Every problem is
    /// reported; None when there was one.
    fn probe(&mut self, value: &Value<'_>, path: &str, rules: &ProbeRules) -> Option<ProbeTable> {
        let kinds_text = rules.kinds_text;
        let table = self.table(value, path, &format!("a table with one of {kinds_text}"))?;
        let mut check: Option<(Range<usize>, Option<ReadyCheck>)> = None;
        let mut interval = rules.interval;
        let mut timeout = rules.timeout;
        let mut recheck: Option<Spanned<Duration>> = None;
        let mut failures = LiveProbe::DEFAULT_FAILURES;
        let mut per_instance: Option<Spanned<bool>> = None;
        let mut refused = false;
        let mut ok = true;
        for (key, item) in table.iter() {
            let kind = key.get_ref().as_ref();
            let key_path = format!("{path}.{kind}");
            match kind {
                "interval" => match self.duration(item, &key_path, true) {
                    Some(duration) => interval = duration.into_inner(),
                    None => ok = false,
                },
                "timeout" => match self.duration(item, &key_path, true) {
                    Some(duration) => timeout = duration.into_inner(),
                    None => ok = false,
                },
                "recheck" if rules.keys.contains(&"recheck") => {
                    match self.duration(item, &key_path, true) {
                        Some(duration) => recheck = Some(duration),
                        None => ok = false,
                    }
                }
                "failures" if rules.keys.contains(&"failures") => match self
                    .integer(item, &key_path, "a positive integer")
                    .and_then(|number| self.in_range(number, item, &key_path, 1, MAX_LIVE_FAILURES))
                    .and_then(|number| u32::try_from(number).ok())
                {
                    Some(number) => failures = number,
                    None => ok = false,
                },
                "per_instance" => match self.boolean(item, &key_path) {
                    Some(flag) => per_instance = Some(Spanned::new(item.span(), flag)),
                    None => ok = false,
                },
                kind if READY_KINDS.contains(&kind) && !rules.kinds.contains(&kind) => {
                    self.push(
                        Diagnostic::at(
                            self.file,
                            key.span(),
                            format!("`{path}` cannot be a {kind} probe"),
                            rules.refused_kind,
                        )
                        .with_help(format!("use one of {kinds_text}")),
                    );
                    refused = true;
                    ok = false;
                }
                kind if rules.kinds.contains(&kind) => {
                    if let Some((first_span, _)) = &check {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                key.span(),
                                format!("`{path}` sets more than one probe kind"),
                                "second probe kind",
                            )
                            .with_context(first_span.clone(), "first probe kind")
                            .with_help(format!("keep exactly one of {kinds_text}")),
                        );
                        ok = false;
                        continue;
                    }
                    let parsed = self.ready_check(kind, item, &key_path);
                    check = Some((key.span(), parsed));
                }
                other => self.unknown_key(key, other, &format!("`{path}`"), rules.keys),
            }
        }
        let Some((_, parsed)) = check else {
            // A refused kind was said already: that is why there is none.
            if !refused {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("`{path}` sets no probe kind"),
                        format!("expected exactly one of {kinds_text}"),
                    )
                    .with_help(rules.example),
                );
            }
            return None;
        };
        let check = parsed?;
        if let Some(recheck) = &recheck
            && matches!(check, ReadyCheck::Log { .. } | ReadyCheck::Notify)
        {
            self.push(
                Diagnostic::at(
                    self.file,
                    recheck.span(),
                    format!("`{path}.recheck` needs an http, tcp or exec probe"),
                    "this probe cannot be repeated",
                )
                .with_help("a log line or READY=1 happens once; remove `recheck`"),
            );
            ok = false;
        }
        if let Some(flag) = &per_instance
            && *flag.get_ref()
            && !matches!(check, ReadyCheck::Http { .. } | ReadyCheck::Tcp { .. })
        {
            self.push(
                Diagnostic::at(
                    self.file,
                    flag.span(),
                    format!("`{path}.per_instance` needs an http or tcp probe"),
                    "only an address has a port to move",
                )
                .with_help(rules.per_instance_help),
            );
            ok = false;
        }
        ok.then_some(ProbeTable {
            check,
            interval,
            timeout,
            recheck: recheck.map(Spanned::into_inner),
            failures,
            per_instance: per_instance.is_some_and(|flag| flag.into_inner()),
        })
    }

    fn ready_check(&mut self, kind: &str, value: &Value<'_>, path: &str) -> Option<ReadyCheck> {
        match kind {
            "http" => {
                let url = self.string(value, path)?;
                match check_http_url(url.get_ref()) {
                    Ok(()) => Some(ReadyCheck::Http {
                        url: url.into_inner(),
                    }),
                    Err((message, label)) => {
                        self.push(
                            Diagnostic::at(self.file, value.span(), message, label)
                                .with_help("for example: http = \"http://127.0.0.1:8080/health\""),
                        );
                        None
                    }
                }
            }
            "tcp" => self.tcp(value, path),
            "exec" => {
                let argv = self.command_argv(value, path)?;
                Some(ReadyCheck::Exec {
                    command: CommandSpec { argv, shell: false },
                })
            }
            "log" => {
                let pattern = self.string(value, path)?;
                match regex::Regex::new(pattern.get_ref()) {
                    Ok(regex) => Some(ReadyCheck::Log { pattern: regex }),
                    Err(error) => {
                        let detail = error.to_string();
                        self.push(
                            Diagnostic::at(
                                self.file,
                                value.span(),
                                format!("invalid regex in `{path}`"),
                                "this regex does not compile",
                            )
                            .with_note(detail),
                        );
                        None
                    }
                }
            }
            _ => {
                // notify: the only meaningful value is `true`; `false` would leave no probe
                // kind, which is better said outright than silently ignored.
                match self.boolean(value, path)? {
                    true => Some(ReadyCheck::Notify),
                    false => {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                value.span(),
                                format!("`{path}` must be true"),
                                "notify = false is not a probe",
                            )
                            .with_help("remove `ready` to start dependents without waiting"),
                        );
                        None
                    }
                }
            }
        }
    }

    fn tcp(&mut self, value: &Value<'_>, path: &str) -> Option<ReadyCheck> {
        if let DeValue::Integer(_) = value.get_ref() {
            let port = self.port(value, path)?;
            return Some(ReadyCheck::Tcp {
                host: "127.0.0.1".to_string(),
                port,
            });
        }
        let DeValue::String(text) = value.get_ref() else {
            self.wrong_type(value, path, "a port number or a \"host:port\" string");
            return None;
        };
        // `tcp = "${PORT}"`: a port alone, as a string once interpolated.
        if let Ok(port @ 1..) = text.parse::<u16>() {
            return Some(ReadyCheck::Tcp {
                host: "127.0.0.1".to_string(),
                port,
            });
        }
        let parsed = text.rsplit_once(':').and_then(|(host, port)| {
            let host = host
                .strip_prefix('[')
                .and_then(|inner| inner.strip_suffix(']'))
                .unwrap_or(host);
            let port = port.parse::<u16>().ok().filter(|port| *port != 0)?;
            let host_ok =
                !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || c == '/');
            host_ok.then(|| (host.to_string(), port))
        });
        match parsed {
            Some((host, port)) => Some(ReadyCheck::Tcp { host, port }),
            None => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid TCP address \"{text}\" for `{path}`"),
                        "expected \"host:port\" with a port from 1 to 65535",
                    )
                    .with_help("for example: tcp = \"127.0.0.1:5432\" or tcp = 5432"),
                );
                None
            }
        }
    }
}

/// Checks a probe URL: `http://` followed by a host, an optional port and an optional path.
pub(super) fn check_http_url(url: &str) -> Result<(), (String, &'static str)> {
    if url.to_ascii_lowercase().starts_with("https://") {
        return Err((
            format!("https probes are not supported: \"{url}\""),
            "https probes are not supported",
        ));
    }
    check_url(url, "http://", "expected an http:// URL")
}

/// A webhook's URL: `http://` or `https://` (a probe's rule, plus https).
pub(super) fn check_webhook_url(url: &str) -> Result<(), (String, &'static str)> {
    let scheme = if url.to_ascii_lowercase().starts_with("https://") {
        "https://"
    } else {
        "http://"
    };
    check_url(url, scheme, "expected an http:// or https:// URL")
}

/// `url` starts with `scheme` (any case) and has a host, no user part, no blank and a valid
/// port if any; `expected` is the message's wording.
fn check_url(
    url: &str,
    scheme: &str,
    expected: &'static str,
) -> Result<(), (String, &'static str)> {
    let malformed = || (format!("{expected}, found \"{url}\""), expected);
    if !url.to_ascii_lowercase().starts_with(scheme) {
        return Err(malformed());
    }
    let rest = &url[scheme.len()..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || url.contains(char::is_whitespace) || authority.contains('@') {
        return Err(malformed());
    }
    // A port, when present, must be a valid TCP port. `[::1]:80` keeps its colons in brackets.
    let port = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            if host.is_empty() {
                return Err(malformed());
            }
            Some(port)
        }
        _ => None,
    };
    if let Some(port) = port
        && port.parse::<u16>().ok().filter(|port| *port != 0).is_none()
    {
        return Err(malformed());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_are_checked() {
        assert!(check_http_url("http://127.0.0.1:8080/health").is_ok());
        assert!(check_http_url("http://localhost/").is_ok());
        assert!(check_http_url("http://[::1]:80/x").is_ok());
        assert!(check_http_url("https://x/").is_err());
        assert!(check_http_url("ftp://x/").is_err());
        assert!(check_http_url("http://").is_err());
        assert!(check_http_url("http://x:99999/").is_err());
        assert!(check_http_url("http://x:/").is_err());
        assert!(check_http_url("http://a b/").is_err());
    }

    #[test]
    fn webhook_urls_may_be_https() {
        assert!(check_webhook_url("https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(check_webhook_url("HTTPS://[::1]:8443/").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:9000/x").is_ok());
        assert!(check_webhook_url("https://").is_err());
        assert!(check_webhook_url("https://user@host/").is_err());
        assert!(check_webhook_url("https://x:0/").is_err());
        assert!(check_webhook_url("ftp://x/").is_err());
    }
}
