//! Connection timeouts as `serve.*.timeout` configures them, which hyper alone cannot give.
//!
//! hyper's `header_read_timeout` starts whenever hyper waits for a request head, so it also
//! closes every kept-alive connection after `read` (5 s) of idleness, and it closes without a
//! word: a client that sent half a head sees a reset connection instead of an answer. Here the
//! stream under hyper tracks which phase its connection is in and applies the timeout of that
//! phase, as Go's `http.Server` (upstream) applies `ReadTimeout` and `IdleTimeout`:
//!
//! | Phase | Waiting for | Timeout | When it passes |
//! |---|---|---|---|
//! | fresh | the first byte after accept | `read` | close |
//! | head | the rest of a request head | `read` | `408 Request Timeout`, then close |
//! | busy | the handler (the head is complete) | none | — |
//! | answering | the client to take the answer (a write that cannot proceed) | `write` | close |
//! | idle | the first byte of the next request | `idle` | close |
//!
//! A zero duration means no limit, and a zero `idle` falls back to `read`, as in Go.
//! With pipelined requests (which no forward-auth proxy sends) hyper may take the next head
//! before the previous answer is flushed; that request's handler then runs under `idle`.
//! A kept-alive connection is closed silently, never with a `408`: a client may be sending its
//! next request at that moment and would take the `408` as the answer to it.
//!
//! Deadlines are computed lazily, when a read or write first has to wait within a phase, and one
//! `Sleep` per connection is reset, never reallocated: a request whose head arrives whole and
//! whose answer is written at once costs one clock read and one timer reset (the idle wait).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// What a client that stopped sending its request head receives before the connection closes.
const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n\
content-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\n\r\nrequest head timeout\n";

/// The three limits of a listener; `None` is no limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    read: Option<Duration>,
    write: Option<Duration>,
    idle: Option<Duration>,
}

impl Limits {
    /// Limits from `serve.*.timeout`: zero means none, and a zero `idle` is `read` (Go's rules).
    pub(crate) fn new(read: Duration, write: Duration, idle: Duration) -> Limits {
        let limit = |d: Duration| (!d.is_zero()).then_some(d);
        Limits {
            read: limit(read),
            write: limit(write),
            idle: limit(idle).or(limit(read)),
        }
    }

    /// How long a TLS handshake may take: the read timeout (Go's `http.Server` bounds it the
    /// same way), or 10 s when reads are unbounded.
    pub(crate) fn handshake(&self) -> Duration {
        self.read.unwrap_or(Duration::from_secs(10))
    }
}

/// Set by the service when hyper hands it a request, so the stream knows the head is complete
/// (hyper reads ahead, so the bytes alone do not tell).
#[derive(Debug, Clone, Default)]
pub(crate) struct HeadDone(Arc<AtomicBool>);

impl HeadDone {
    /// Marks the current request's head as complete.
    pub(crate) fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_marked(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn clear(&self) {
        self.0.store(false, Ordering::Release);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Fresh,
    Head,
    Busy,
    Answering,
    Idle,
    /// Writing [`REQUEST_TIMEOUT`]; this many bytes of it are written.
    TimingOut(usize),
}

/// A connection (TCP, or TLS over TCP) that enforces [`Limits`] on the HTTP hyper serves over
/// it. Over TLS it sits above the TLS stream: phases follow requests, not records, and the
/// `408` is written encrypted.
#[derive(Debug)]
pub(crate) struct TimedStream<S = TcpStream> {
    stream: S,
    limits: Limits,
    head_done: HeadDone,
    phase: Phase,
    /// The current phase's deadline, once a read or write had to wait in it.
    deadline: Option<Instant>,
    /// Allocated on the first wait, then reset.
    sleep: Option<Pin<Box<Sleep>>>,
    /// Bytes of a next request arrived while the current one was handled or answered.
    read_ahead: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> TimedStream<S> {
    /// Wraps an accepted stream; `head_done` is marked by the service of this connection.
    pub(crate) fn new(stream: S, limits: Limits, head_done: HeadDone) -> TimedStream<S> {
        TimedStream {
            stream,
            limits,
            head_done,
            phase: Phase::Fresh,
            deadline: None,
            sleep: None,
            read_ahead: false,
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.deadline = None;
    }

    /// Whether `limit` has passed since this phase first waited; registers a wake-up otherwise.
    fn expired(&mut self, cx: &mut Context<'_>, limit: Option<Duration>) -> bool {
        let Some(limit) = limit else { return false };
        let deadline = match self.deadline {
            Some(deadline) => deadline,
            None => match Instant::now().checked_add(limit) {
                Some(deadline) => *self.deadline.insert(deadline),
                None => return false,
            },
        };
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                sleep
            }
            None => self
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        sleep.as_mut().poll(cx).is_ready()
    }

    /// Writes the `408` (bounded by `write`), shuts the write side, then fails the read so
    /// hyper drops the connection without answering again.
    fn poll_request_timeout(
        &mut self,
        cx: &mut Context<'_>,
        mut written: usize,
    ) -> Poll<io::Result<()>> {
        let timed_out = || {
            Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head not received within the read timeout",
            )))
        };
        while written < REQUEST_TIMEOUT.len() {
            match Pin::new(&mut self.stream).poll_write(cx, &REQUEST_TIMEOUT[written..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return timed_out(),
                Poll::Ready(Ok(n)) => {
                    written += n;
                    self.phase = Phase::TimingOut(written);
                }
                Poll::Pending => {
                    if self.expired(cx, self.limits.write) {
                        return timed_out();
                    }
                    return Poll::Pending;
                }
            }
        }
        if Pin::new(&mut self.stream).poll_shutdown(cx).is_pending() {
            if self.expired(cx, self.limits.write) {
                return timed_out();
            }
            return Poll::Pending;
        }
        timed_out()
    }

    /// Starts or continues the answering phase before a write.
    fn answering(&mut self) -> io::Result<()> {
        match self.phase {
            Phase::Answering => Ok(()),
            Phase::TimingOut(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection timed out",
            )),
            _ => {
                self.head_done.clear();
                self.enter(Phase::Answering);
                Ok(())
            }
        }
    }

    /// A write that could not proceed: pending until `write` passes, then an error.
    fn write_pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if self.expired(cx, self.limits.write) {
            tracing::debug!("answer not taken within the write timeout; closing the connection");
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "answer not taken within the write timeout",
            )));
        }
        Poll::Pending
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Phase::TimingOut(written) = this.phase {
            return this.poll_request_timeout(cx, written);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    match this.phase {
                        Phase::Fresh | Phase::Idle => this.enter(Phase::Head),
                        Phase::Busy | Phase::Answering => this.read_ahead = true,
                        Phase::Head | Phase::TimingOut(_) => {}
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if matches!(this.phase, Phase::Fresh | Phase::Head | Phase::Idle)
                    && this.head_done.is_marked()
                {
                    // hyper has the whole head (perhaps read ahead with the previous request):
                    // the handler runs, and hyper only watches for the client going away.
                    this.enter(Phase::Busy);
                }
                let limit = match this.phase {
                    Phase::Fresh | Phase::Head => this.limits.read,
                    Phase::Idle => this.limits.idle,
                    Phase::Busy | Phase::Answering | Phase::TimingOut(_) => return Poll::Pending,
                };
                if !this.expired(cx, limit) {
                    return Poll::Pending;
                }
                if this.phase == Phase::Head {
                    tracing::debug!(
                        "request head not received within the read timeout; answering 408"
                    );
                    this.enter(Phase::TimingOut(0));
                    return this.poll_request_timeout(cx, 0);
                }
                // Nothing was asked: end of stream, and hyper closes the connection quietly.
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TimedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.answering()?;
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Pending => this.write_pending(cx),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.answering()?;
        match Pin::new(&mut this.stream).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.write_pending(cx),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                // hyper flushes once its buffered answer is written: the next wait is for a
                // new request, or for the rest of one whose first bytes came in meanwhile.
                if this.phase == Phase::Answering {
                    let (phase, limit) = if this.read_ahead {
                        (Phase::Head, this.limits.read)
                    } else {
                        (Phase::Idle, this.limits.idle)
                    };
                    this.read_ahead = false;
                    this.enter(phase);
                    // Arm the timer now: hyper's last read already returned pending, and it
                    // reads again only when woken.
                    if this.expired(cx, limit) {
                        cx.waker().wake_by_ref();
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.write_pending(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
        Poll::Ready(Ok(()))
    }
}
