//! The HTTP/1.1 server: hyper on a tokio runtime owned by one thread of the emulator.
//!
//! Connections are accepted here (not by a hyper helper) so that the `reset` fault can close
//! one of them with an RST. A request is handled on the task that read it: no hop to a pool.
//! Waiting (the `delay` fault, held requests) is a timer or a channel, never a blocked thread,
//! so a slow request cannot stall another connection or the control API.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};

use crate::gateway::State;
use crate::message::{HttpRequest, Reply};

/// Largest request head: the request line and the header lines together (and so each of them),
/// checked exactly on every request ([`head_refusal`]). hyper's read buffer is capped at it too,
/// which bounds what it reads before it finds the end of a head (also blank lines sent before
/// a request line), though it may take a little more.
const MAX_HEAD: usize = 64 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;
/// Connections beyond `max_connections` kept for the control API (`/_emulator/…`): gateway
/// traffic, busy or idle, never makes the control API answer 503.
const CONTROL_CONNECTIONS: usize = 64;

/// Which budget a connection was accepted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    /// One of `max_connections`: any request.
    Gateway,
    /// Over `max_connections`, one of [`CONTROL_CONNECTIONS`]: control requests only; anything
    /// else is answered 503 and the connection closed.
    ControlOnly,
}

/// The server's limits (see [`crate::Config`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Open connections at most; more are answered 503 and closed.
    pub(crate) max_connections: usize,
    /// From the moment a connection waits for a request (first, or next on keep-alive) to its
    /// last header byte; not reset by each byte that arrives.
    pub(crate) header_timeout: Duration,
    /// Time to read a whole body.
    pub(crate) body_timeout: Duration,
    /// Largest body accepted (413 above).
    pub(crate) max_body: usize,
}

/// A running server; drop stops it: no connection, task or thread survives.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Binds `addr` and serves on a runtime of at most `threads` worker threads (one thread in
    /// all when `threads` is 1; never more than the machine's CPUs).
    pub(crate) fn start(
        addr: SocketAddr,
        threads: usize,
        limits: Limits,
        state: Arc<State>,
    ) -> io::Result<Server> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let workers = threads.clamp(1, cpus.max(1));
        let mut builder = if workers == 1 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(workers);
            b
        };
        let runtime = builder
            .enable_io()
            .enable_time()
            .thread_name("iop-emulator-worker")
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("iop-emulator".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => accept_loop(listener, stopped, state, limits).await,
                        Err(e) => log::error!(target: "iop_emulator::server", "cannot listen: {e}"),
                    }
                });
                // Dropping the runtime drops every connection task (closing its socket) and
                // joins the worker threads.
                drop(runtime);
            })?;
        Ok(Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
            handle,
        })
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `work` on the server's runtime and waits for it (from a thread outside it).
    pub(crate) fn run(&self, work: impl Future<Output = ()> + Send + 'static) {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        self.handle.spawn(async move {
            work.await;
            let _ = done.send(());
        });
        // Err: the runtime is gone (the task was dropped); nothing to wait for.
        let _ = wait.recv();
    }

    /// Stops accepting, closes every connection (pending delays and holds included) and waits
    /// for every thread of the server to end.
    pub(crate) fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counts an open connection while alive.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn accept_loop(
    listener: TcpListener,
    mut stopped: oneshot::Receiver<()>,
    state: Arc<State>,
    limits: Limits,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let control_open = Arc::new(AtomicUsize::new(0));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, or the like: wait a little rather than spin.
                log::warn!(target: "iop_emulator::server", "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some((guard, budget)) = take_budget(&open, &control_open, limits.max_connections)
        else {
            tokio::spawn(refuse(stream));
            continue;
        };
        tokio::spawn(serve(
            stream,
            http.clone(),
            Arc::clone(&state),
            limits,
            (guard, budget),
        ));
    }
}

/// A place for a new connection: among the `max` gateway connections, else among the
/// [`CONTROL_CONNECTIONS`] kept for the control API; `None` when both are full.
fn take_budget(
    open: &Arc<AtomicUsize>,
    control_open: &Arc<AtomicUsize>,
    max: usize,
) -> Option<(Open, Budget)> {
    if open.fetch_add(1, Ordering::SeqCst) < max {
        return Some((Open(Arc::clone(open)), Budget::Gateway));
    }
    open.fetch_sub(1, Ordering::SeqCst);
    if control_open.fetch_add(1, Ordering::SeqCst) < CONTROL_CONNECTIONS {
        return Some((Open(Arc::clone(control_open)), Budget::ControlOnly));
    }
    control_open.fetch_sub(1, Ordering::SeqCst);
    None
}

/// Answers 503 to a connection over the cap, without reading it.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = r#"{"error":"too many connections"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
}

/// Set by the `reset` fault: the connection is dropped with an RST.
#[derive(Default)]
struct ResetSignal {
    requested: AtomicBool,
    notify: Notify,
}

/// The accepted socket; closes with an RST once a reset was requested.
struct Conn {
    stream: TcpStream,
    reset: Arc<ResetSignal>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.reset.requested.load(Ordering::SeqCst) {
            // SO_LINGER 0: close() sends RST instead of FIN.
            let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reset.requested.load(Ordering::SeqCst) {
            // No FIN before the RST.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

async fn serve(
    stream: TcpStream,
    http: http1::Builder,
    state: Arc<State>,
    limits: Limits,
    (_open, budget): (Open, Budget),
) {
    let _ = stream.set_nodelay(true);
    let reset = Arc::new(ResetSignal::default());
    let io = TokioIo::new(Conn {
        stream,
        reset: Arc::clone(&reset),
    });
    let service = {
        let reset = Arc::clone(&reset);
        service_fn(move |request| {
            let state = Arc::clone(&state);
            let reset = Arc::clone(&reset);
            async move { Ok::<_, Infallible>(handle(state, request, &reset, limits, budget).await) }
        })
    };
    let connection = http.serve_connection(io, service);
    tokio::select! {
        _ = connection => {}
        () = reset.notify.notified() => {}
    }
}

fn plain(status: u16, why: &str, close: bool) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(
        serde_json::json!({ "error": why }).to_string(),
    )));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if close {
        headers.insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
    }
    response
}

/// The answer to a request whose head is over [`MAX_HEAD`]: 414 for a request line over it,
/// 431 for a header line over it or for all of them together. Sizes are those of the lines as
/// sent, less any blank space around header values (which hyper drops).
fn head_refusal(parts: &hyper::http::request::Parts) -> Option<Response<Full<Bytes>>> {
    const CRLF: usize = 2;
    // METHOD SP target SP HTTP/1.1 CRLF
    let request_line = parts.method.as_str().len() + 1 + parts.uri.to_string().len() + 1 + 8;
    if request_line + CRLF > MAX_HEAD {
        return Some(plain(414, "request line larger than 64 KiB", true));
    }
    let mut total = request_line + CRLF;
    for (name, value) in &parts.headers {
        // name ": " value CRLF
        let line = name.as_str().len() + 2 + value.len() + CRLF;
        if line > MAX_HEAD {
            return Some(plain(431, "a header line larger than 64 KiB", true));
        }
        total += line;
    }
    // The empty line that ends the head.
    total += CRLF;
    (total > MAX_HEAD).then(|| plain(431, "request head larger than 64 KiB", true))
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
    reset: &ResetSignal,
    limits: Limits,
    budget: Budget,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    if let Some(refusal) = head_refusal(&parts) {
        return refusal;
    }
    if budget == Budget::ControlOnly && !parts.uri.path().starts_with("/_emulator/") {
        return plain(503, "too many connections", true);
    }
    let read = tokio::time::timeout(
        limits.body_timeout,
        Limited::new(body, limits.max_body).collect(),
    );
    let body = match read.await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<LengthLimitError>() => return plain(413, "body too large", true),
        Ok(Err(_)) => return plain(400, "malformed request body", true),
        Err(_) => return plain(408, "request body not received in time", true),
    };
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let request = HttpRequest {
        method: parts.method,
        target,
        headers: parts.headers,
        body,
    };
    // A request read in full is processed to the end even if its client goes away meanwhile
    // (a timeout during a `delay`), as the gateway does: a refresh whose answer was never read
    // still rotated the token. So the gateway work runs as a task of its own.
    let routed = tokio::spawn(async move {
        CatchUnwind(Box::pin(
            async move { crate::route(&state, &request).await },
        ))
        .await
    });
    let reply = match routed.await {
        Ok(Ok(reply)) => reply,
        Ok(Err(())) | Err(_) => Reply::json(
            500,
            &serde_json::json!({"type": "SYSTEM", "code": "EmulatorPanic",
                "message": "the emulator failed on this request"}),
        ),
    };
    match reply {
        Reply::Response {
            status,
            content_type,
            body,
        } => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = hyper::StatusCode::from_u16(status)
                .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
            let headers = response.headers_mut();
            headers.insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(content_type),
            );
            headers.insert(
                hyper::header::SERVER,
                hyper::header::HeaderValue::from_static("iop-emulator"),
            );
            response
        }
        Reply::Redirect(location) => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = hyper::StatusCode::FOUND;
            match hyper::header::HeaderValue::from_str(&location) {
                Ok(v) => {
                    response.headers_mut().insert(hyper::header::LOCATION, v);
                    response
                }
                Err(_) => plain(400, "redirect_uri cannot be sent in a header", false),
            }
        }
        Reply::Reset => {
            reset.requested.store(true, Ordering::SeqCst);
            reset.notify.notify_one();
            // The connection task drops this connection (and this future) now.
            std::future::pending().await
        }
    }
}

/// Turns a panic while polling the handler into an error answer (the task, and the other
/// requests of its thread, go on).
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}
