//! Integration tests: each one runs the real `wrangle` binary on a temporary project with real
//! processes, and checks what a user would see (output lines, exit codes) and what must not be
//! left behind (processes, held ports). The harness is in `support.rs`.

mod support;

// ARCHITECTURE.md's dependency rule and code map, checked against every file under src/.
mod architecture;

// Stopping: Ctrl+C, SIGTERM, SIGHUP, SIGKILL of wrangle; escapees; stop timeouts.
mod stop;
// Pre-flight refusals: a held port, a second instance.
mod preflight;
// Start order, dependency conditions, service selection, Procfile, environment.
mod lifecycle;
// Readiness probes (http, tcp, exec, log, notify) and their timeout.
mod readiness;
// Restarts after start-up: backoff, crash loops, ports held by strangers.
mod restart;
// Liveness probes (`live`): a hung service that keeps its port is restarted.
mod liveness;
// `apply`: the config read again and compared with what the daemon runs.
mod apply;
// `port = "auto"`: picked, exported, referenced, shown and kept.
mod auto_port;
// Each class of configuration error, with its exact location.
mod config_errors;
// Config and env files another user could have written; env files that are not regular files.
mod config_trust;
// What reaches the terminal: markers, partial and long lines, colour, shell metacharacters.
mod output;
// The background daemon (`up -d`) and the verbs that control it from other processes.
mod daemon;
// A foreground `up` controlled from a second terminal like a daemon.
mod foreground;
// `wrangle test`: a smoke test for CI, its exit codes and its JUnit report.
mod smoke_test;
// `wrangle graph` and `wrangle ports [--free]`.
mod see;
// What services cost: sampling whole trees, memory-limit restarts, sustained warnings.
mod resources;
// Fault injection: the daemon killed mid-way, misbehaving services and clients, a full disk,
// PID reuse, crowds, hostile socket input, random configs.
mod faults;
// Notifications ([[notify]]): webhooks and commands fired by a daemon's events, rate limits.
mod notify;
// https webhooks against TLS servers with certificates made in the test.
mod notify_https;
// `wrangle top` in a pseudo-terminal: the screen, its keys, resizes, restoring the terminal.
mod top;
// The Prometheus endpoint of the daemon (`[metrics]`), scraped and parsed.
mod metrics;
// Sockets wrangle passes to services, instances, `scale`, and the rolling `reload` under load.
mod sockets;
// Completion scripts loaded by real shells, man pages, the JSON Schema.
mod generated;
// `wrangle export`: golden files, schemas, systemd-analyze, the Compose round trip, writing files.
mod export;
// `nice` and `limits` of services, read back from /proc.
mod limits;
// `user` and `group`: services run as another user (as root), config errors (as anyone else).
mod run_as;
// Boot: `startup`/`unstartup` units, READY=1 on a real NOTIFY_SOCKET, `save` and `resurrect`.
mod startup;
// The web dashboard's listener (`[dashboard]`, `wrangle dashboard`): the API behind the token.
mod dashboard;
// The dashboard in a real browser (Chromium driven by Playwright): live views, actions, safety.
mod browser;
// `wrangle import` (pm2, compose, process-compose, Procfile) against golden files, and `init`.
mod import;
// `clean` paths: `wrangle clean`, `up --clean`, and the symlink attack.
mod clean;
// Restart on change (`watch`): edits, ignored files, new directories.
mod watch;

// Profiles and wrangle.local.toml laid over the config.
mod profiles;
// `wrangle run SERVICE -- CMD`: one-off commands in a service's environment.
mod one_off;
// `wrangle flush`: log files emptied through the daemon and without one.
mod flush;
// `wrangle describe`: a service's config, state, tree, ports, history and log files.
mod describe;
// Runs by the clock (`schedule`, `every`): real one-second schedules, skips, restarts.
mod schedule;
