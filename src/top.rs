//! `wrangle top`: a full-screen, live view of a project's daemon (services, their CPU and memory
//! with sparklines, the selected service's log tail) with keys to restart, stop, start and
//! follow logs. A client of the control API only (`api::client`), like every other verb.
//!
//! # Theory of operation
//!
//! [`app`] holds the state and decides (keys → [`app::Command`] → [`app::Effect`]; network
//! results → [`app::Update`]), [`view`] draws it, [`input`] maps keys. This module owns the two
//! things that touch the outside world: the terminal, and the event loop.
//!
//! The loop runs on the CLI's current-thread runtime and never waits on the network: every API
//! call is a task of its own (bounded by a timeout) that reports back through one channel, and
//! the loop `select!`s over that channel, the terminal's key and resize events, a one-second
//! tick and the termination signals. Each tick starts a poll of `GET /v1/status` and
//! `GET /v1/resources` (the latter also keeps the daemon sampling every second while top runs)
//! unless the previous one is still out. The selected service's log is followed over SSE by
//! one task, replaced when the selection changes.
//!
//! When nobody listens on the control socket any more, the daemon is gone: top says so for a
//! moment and ends with [`Outcome::Gone`].
//!
//! # Caveats
//!
//! The terminal is restored (cursor shown, alternate screen left, raw mode off) on every way
//! out: by `Screen`'s `Drop` on a return or an error, and by a panic hook on a panic. The
//! release profile aborts on panic, so `Drop` would not run there; the hook runs before the
//! abort. SIGKILL cannot be caught: `reset` fixes the terminal then.

pub mod app;
pub mod input;
pub mod view;

use std::cell::Cell;
use std::io::{self, BufWriter, Stdout};
use std::rc::Rc;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use crossterm::cursor::{Hide, Show};
use crossterm::event::{Event, EventStream};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::StreamExt;

use crate::api::client::{Client, ClientError};
use crate::api::wire::{LogLine, LogStream, ProjectStatus};
use crate::top::app::{App, Connection, Effect, LOG_TAIL, Update};

/// How often the screen is refreshed from the daemon.
const REFRESH: Duration = Duration::from_secs(1);
/// The bound on one poll (status and resources): a daemon slower than this is "not answering".
const POLL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long "daemon gone" stays on the screen before top ends.
const GONE_LINGER: Duration = Duration::from_millis(1500);
/// Updates waiting for the loop; a log line that finds the queue full is dropped (and counted).
const QUEUE: usize = 4096;
/// The most queued updates taken in before the screen is drawn again.
const BATCH: usize = 1024;

/// What top draws on: the terminal, through a buffer.
type Backend = CrosstermBackend<BufWriter<Stdout>>;

/// How `wrangle top` ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The user quit (`q`, Esc, Ctrl+C), or a termination signal came.
    Quit,
    /// The daemon went away.
    Gone,
    /// The terminal failed (it could not be set up, written or read).
    Failed(String),
}

/// Runs the UI until the user quits or the daemon goes away; `status` is the daemon's first
/// answer (the caller has checked that a daemon runs). The terminal is restored on return.
pub async fn run(client: Client, status: ProjectStatus, color: bool) -> Outcome {
    let screen = match Screen::enter() {
        Ok(screen) => screen,
        Err(error) => return Outcome::Failed(format!("cannot set up the terminal: {error}")),
    };
    // One write per frame (ratatui flushes after each): stdout's own buffer would send a frame in
    // many small pieces, which tears over a slow SSH link.
    let output = BufWriter::with_capacity(1 << 16, io::stdout());
    let mut terminal = match Terminal::new(CrosstermBackend::new(output)) {
        Ok(terminal) => terminal,
        Err(error) => return Outcome::Failed(format!("cannot set up the terminal: {error}")),
    };
    let app = App::new(status, color, SystemTime::now());
    let outcome = event_loop(&mut terminal, client, app).await;
    drop(terminal);
    drop(screen);
    outcome
}

async fn event_loop(terminal: &mut Terminal<Backend>, client: Client, mut app: App) -> Outcome {
    let (updates, mut received) = mpsc::channel::<Update>(QUEUE);
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let polling = Rc::new(Cell::new(false));
    let mut follower: Option<Follower> = None;
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    let mut gone_at: Option<Instant> = None;
    let mut poll_now = false;
    loop {
        if app.connection == Connection::Gone {
            // Nothing more to follow; leave after a moment to read the news.
            if let Some(follower) = follower.take() {
                follower.task.abort();
            }
            gone_at.get_or_insert_with(|| Instant::now() + GONE_LINGER);
        } else {
            follow_selected(&client, &mut app, &mut follower, &updates);
        }
        if poll_now && !polling.get() {
            poll(&client, &app, terminal, &updates, &polling);
        }
        poll_now = false;
        if let Err(error) = terminal.draw(|frame| view::render(&app, frame)) {
            return Outcome::Failed(format!("cannot draw on the terminal: {error}"));
        }
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    // Debug builds only: lets a test prove that a panic restores the terminal.
                    #[cfg(debug_assertions)]
                    if std::env::var_os("WRANGLE_TOP_TEST_PANIC").is_some() {
                        panic!("test panic requested by WRANGLE_TOP_TEST_PANIC");
                    }
                    let Some(command) = input::command(key) else { continue };
                    match app.apply(command) {
                        Some(Effect::Quit) => return Outcome::Quit,
                        Some(Effect::Send { request, label }) => {
                            send(&client, request, label, &updates);
                        }
                        None => {}
                    }
                }
                // `draw` notices the new size and redraws everything at it.
                Some(Ok(_resize_or_other)) => {}
                Some(Err(error)) => {
                    return Outcome::Failed(format!("cannot read the terminal: {error}"));
                }
                None => return Outcome::Failed("the terminal closed".to_string()),
            },
            Some(update) = received.recv() => {
                let mut update = update;
                for _ in 0..BATCH {
                    poll_now |= matches!(update, Update::Sent { result: Ok(_), .. });
                    app.update(update);
                    match received.try_recv() {
                        Ok(next) => update = next,
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => {
                app.now = SystemTime::now();
                poll_now = true;
                // A follow that ended (the daemon closed it, or it failed) is started again.
                if app.logs.ended.is_some()
                    && let Some(follower) = follower.take()
                {
                    follower.task.abort();
                }
            }
            Some(()) = recv(&mut terminate) => return Outcome::Quit,
            Some(()) = recv(&mut hangup) => return Outcome::Quit,
            Some(()) = recv(&mut interrupt) => return Outcome::Quit,
            () = sleep_until(gone_at) => return Outcome::Gone,
        }
    }
}

/// The log follow of one service.
struct Follower {
    service: String,
    task: JoinHandle<()>,
}

/// Makes sure the selected service's log is the one followed.
fn follow_selected(
    client: &Client,
    app: &mut App,
    follower: &mut Option<Follower>,
    updates: &mpsc::Sender<Update>,
) {
    let wanted = app.wanted_log_service().map(str::to_string);
    if wanted.as_deref() == follower.as_ref().map(|follower| follower.service.as_str()) {
        return;
    }
    if let Some(follower) = follower.take() {
        follower.task.abort();
    }
    let Some(service) = wanted else {
        return;
    };
    let generation = app.follow_logs(&service);
    let task = tokio::task::spawn_local(follow(
        client.clone(),
        service.clone(),
        generation,
        updates.clone(),
    ));
    *follower = Some(Follower { service, task });
}

/// Follows one service's log into the update queue until the stream ends or top does.
async fn follow(client: Client, service: String, generation: u64, updates: mpsc::Sender<Update>) {
    let mut skipped: u64 = 0;
    let result = client
        .follow_logs(std::slice::from_ref(&service), LOG_TAIL, |line| {
            // Lines that found the queue full are dropped; say how many once there is room.
            if skipped > 0 {
                let notice = LogLine {
                    time: line.time.clone(),
                    service: "wrangle".to_string(),
                    stream: LogStream::Stderr,
                    text: format!("{skipped} lines skipped: the screen could not keep up"),
                    partial: false,
                };
                match updates.try_send(Update::LogLine {
                    generation,
                    line: notice,
                }) {
                    Ok(()) => skipped = 0,
                    Err(TrySendError::Full(_)) => {
                        skipped += 1;
                        return true;
                    }
                    Err(TrySendError::Closed(_)) => return false,
                }
            }
            match updates.try_send(Update::LogLine { generation, line }) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    skipped += 1;
                    true
                }
                Err(TrySendError::Closed(_)) => false,
            }
        })
        .await;
    let error = result.err().map(|error| error.to_string());
    let _ = updates.send(Update::LogEnded { generation, error }).await;
}

/// Starts one poll of the status and of the resource history of the services on screen.
fn poll(
    client: &Client,
    app: &App,
    terminal: &Terminal<Backend>,
    updates: &mpsc::Sender<Update>,
    polling: &Rc<Cell<bool>>,
) {
    let area = terminal
        .size()
        .map(|size| ratatui::layout::Rect::new(0, 0, size.width, size.height))
        .unwrap_or_default();
    let services = view::history_wanted(app, area);
    let client = client.clone();
    let updates = updates.clone();
    let polling = Rc::clone(polling);
    polling.set(true);
    tokio::task::spawn_local(async move {
        let (status, resources) = tokio::join!(
            bounded(client.status()),
            // Asked even when no sparkline is on screen: the call keeps the daemon sampling
            // every second while top runs.
            bounded(client.resources(&services)),
        );
        let _ = updates.send(Update::Status(status)).await;
        let _ = updates.send(Update::Resources(resources)).await;
        polling.set(false);
    });
}

/// Sends an action's request; its outcome comes back as [`Update::Sent`].
fn send(
    client: &Client,
    request: crate::api::wire::Request,
    label: String,
    updates: &mpsc::Sender<Update>,
) {
    let client = client.clone();
    let updates = updates.clone();
    tokio::task::spawn_local(async move {
        let result = bounded(client.request(&request))
            .await
            .map_err(|error| error.to_string());
        let _ = updates.send(Update::Sent { label, result }).await;
    });
}

async fn bounded<T>(call: impl Future<Output = Result<T, ClientError>>) -> Result<T, ClientError> {
    match tokio::time::timeout(POLL_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_elapsed) => Err(ClientError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {}s", POLL_TIMEOUT.as_secs()),
        ))),
    }
}

/// The next delivery of a signal; never, when its handler could not be installed.
async fn recv(signal: &mut Option<Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Whether the terminal is in top's mode (raw, alternate screen, cursor hidden) and needs
/// restoring.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The terminal in top's mode for as long as this lives.
struct Screen;

impl Screen {
    fn enter() -> io::Result<Screen> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        if let Err(error) = execute!(io::stdout(), EnterAlternateScreen, Hide) {
            restore_terminal();
            return Err(error);
        }
        Ok(Screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Puts the terminal back as it was: cursor shown, alternate screen left, raw mode off. Does
/// nothing when it is not in top's mode, so running it twice is harmless.
pub fn restore_terminal() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    // Best effort: a terminal that is gone (a closed SSH session) cannot be restored.
    let _ = execute!(io::stdout(), Show, LeaveAlternateScreen);
    let _ = disable_raw_mode();
}

/// Restores the terminal before a panic's message is printed (so the message is readable and
/// the shell usable), then hands over to the previous hook. Installed once.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
    });
}
