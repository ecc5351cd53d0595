//! The pieces [`serve`](super::serve) wraps around one connection to enforce its limits: the
//! request body (size and time), the response (is it a stream, is it written out), and the socket
//! (is a write waiting for a client that does not read). They report to one [`Progress`], which
//! the connection's task checks on a tick.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body as AxumBody;
use http_body_util::Limited;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::header::CONTENT_TYPE;
use hyper::{Request, Response};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::Limits;

use crate::mutex;

/// What the connection is doing, as far as its deadlines go.
#[derive(Debug, Default)]
pub(super) struct Progress {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the request being answered must be written out by: set when its headers are in,
    /// cleared when its response is written out or turns out to be a stream.
    deadline: Option<Instant>,
    /// The response's body was handed to hyper whole; the next completed flush means it is out.
    body_done: bool,
    /// The response being written is an event stream.
    streaming: bool,
    /// Since when a write has been waiting for the socket to take bytes.
    blocked_since: Option<Instant>,
}

impl Progress {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few plain fields, each write complete: a panic elsewhere leaves nothing
        // half-updated.
        mutex::lock(&self.state)
    }

    fn request_started(&self, deadline: Instant) {
        let mut state = self.lock();
        state.deadline = Some(deadline);
        state.body_done = false;
        state.streaming = false;
    }

    fn response_is_stream(&self) {
        let mut state = self.lock();
        state.deadline = None;
        state.streaming = true;
    }

    fn body_finished(&self) {
        let mut state = self.lock();
        if state.deadline.is_some() {
            state.body_done = true;
        }
        state.streaming = false;
    }

    fn flushed(&self) {
        let mut state = self.lock();
        if state.body_done {
            state.body_done = false;
            state.deadline = None;
        }
    }

    fn write_blocked(&self) {
        let mut state = self.lock();
        if state.blocked_since.is_none() {
            state.blocked_since = Some(Instant::now());
        }
    }

    fn wrote(&self) {
        self.lock().blocked_since = None;
    }

    /// Whether the connection is past a deadline: its request's, or (for a stream, with
    /// `stall_timeout`) the socket has stayed full that long.
    pub(super) fn overdue(&self, now: Instant, stall_timeout: Option<Duration>) -> bool {
        let state = self.lock();
        let late = state.deadline.is_some_and(|deadline| now >= deadline);
        let stalled = state.streaming
            && stall_timeout.is_some_and(|stall| {
                state
                    .blocked_since
                    .is_some_and(|since| now.duration_since(since) >= stall)
            });
        late || stalled
    }
}

/// The connection's socket, telling [`Progress`] when writes wait and when flushes complete.
pub(super) struct GuardedIo<I> {
    io: I,
    progress: Arc<Progress>,
}

impl<I> GuardedIo<I> {
    pub(super) fn new(io: I, progress: Arc<Progress>) -> GuardedIo<I> {
        GuardedIo { io, progress }
    }

    fn written(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match &polled {
            Poll::Pending => self.progress.write_blocked(),
            Poll::Ready(_) => self.progress.wrote(),
        }
        polled
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for GuardedIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(context, buffer)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for GuardedIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(context, buffer);
        self.written(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(context, buffers);
        self.written(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(context);
        if let Poll::Ready(Ok(())) = polled {
            // hyper flushes the socket after writing out all it buffered.
            self.progress.flushed();
        }
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(context)
    }
}

/// The router, with each request's body bounded and each response watched.
pub(super) struct GuardedService {
    router: TowerToHyperService<Router>,
    limits: Arc<Limits>,
    progress: Arc<Progress>,
}

impl GuardedService {
    pub(super) fn new(
        router: Router,
        limits: Arc<Limits>,
        progress: Arc<Progress>,
    ) -> GuardedService {
        GuardedService {
            router: TowerToHyperService::new(router),
            limits,
            progress,
        }
    }
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<WatchedBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for GuardedService {
    type Response = Response<WatchedBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<Incoming>) -> ResponseFuture {
        let now = Instant::now();
        self.progress
            .request_started(now + self.limits.request_timeout);
        let body_deadline = now + self.limits.body_timeout;
        let max_body_bytes = self.limits.max_body_bytes;
        let request = request.map(|body| {
            Limited::new(
                TimedBody {
                    body,
                    deadline: body_deadline,
                    sleep: None,
                },
                max_body_bytes,
            )
        });
        let answered = hyper::service::Service::call(&self.router, request);
        let progress = Arc::clone(&self.progress);
        Box::pin(async move {
            let response = answered.await?;
            let is_stream = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.starts_with("text/event-stream"));
            if is_stream {
                progress.response_is_stream();
            }
            Ok(response.map(|body| WatchedBody {
                body,
                progress: Some(progress),
            }))
        })
    }
}

/// A request body that fails once its deadline passes while it waits for the client.
pub(super) struct TimedBody {
    body: Incoming,
    deadline: Instant,
    /// Made the first time the body waits.
    sleep: Option<Pin<Box<Sleep>>>,
}

/// The error of a request body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

impl Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(context) {
            return Poll::Ready(frame.map(|frame| frame.map_err(axum::BoxError::from)));
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(sleep.as_mut().poll(context));
        Poll::Ready(Some(Err(Box::new(BodyTimeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A response body that tells [`Progress`] when it has been handed over whole (or dropped).
pub(super) struct WatchedBody {
    body: AxumBody,
    /// Taken when the end is reported, so it is reported once.
    progress: Option<Arc<Progress>>,
}

impl WatchedBody {
    fn finished(&mut self) {
        if let Some(progress) = self.progress.take() {
            progress.body_finished();
        }
    }
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(context);
        match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.finished(),
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.finished(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        self.finished();
    }
}
