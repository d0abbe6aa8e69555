//! A small HTTP/1.1 server on `std::net`: one thread per connection does the I/O (keep-alive,
//! `Content-Length` and chunked bodies, `Expect: 100-continue`), a pool of worker threads turns
//! requests into replies. Written by hand rather than on tiny_http because the emulator must be
//! able to drop a connection without answering (the connection-reset fault).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request head accepted (request line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;
/// A keep-alive connection idle this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Open connections at most; more are answered 503 and closed.
const MAX_CONNECTIONS: usize = 1024;

/// A request as read from the wire.
#[derive(Debug)]
pub(crate) struct HttpRequest {
    /// `GET`, `POST`, …
    pub(crate) method: String,
    /// The request target: path and query.
    pub(crate) target: String,
    /// Headers, names lowercased; the last of repeated headers wins.
    pub(crate) headers: HashMap<String, String>,
    /// The body, de-chunked.
    pub(crate) body: Vec<u8>,
}

impl HttpRequest {
    /// The path part of the target.
    pub(crate) fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The query part of the target (without `?`), empty when absent.
    pub(crate) fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// A header by lowercase name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What the server does with a request.
#[derive(Debug)]
pub(crate) enum Reply {
    /// An HTTP response.
    Response {
        /// Status code.
        status: u16,
        /// `Content-Type`.
        content_type: &'static str,
        /// Body.
        body: Vec<u8>,
    },
    /// Close the connection at once, without a response (RST where the OS allows it).
    Reset,
}

impl Reply {
    /// A JSON response.
    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Self {
        Reply::Response {
            status,
            content_type: "application/json;charset=UTF-8",
            body: value.to_string().into_bytes(),
        }
    }
}

/// The request handler, shared by the workers.
pub(crate) type Handler = Arc<dyn Fn(HttpRequest) -> Reply + Send + Sync>;

type Job = (HttpRequest, SyncSender<Reply>);

/// A running server; [`Server::stop`] (or drop) stops it.
pub(crate) struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    connections: Arc<Mutex<HashMap<u64, TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Binds `addr` and starts the acceptor and `workers` worker threads.
    pub(crate) fn start(addr: SocketAddr, workers: usize, handler: Handler) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();

        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        for i in 0..workers.max(1) {
            let rx = Arc::clone(&jobs_rx);
            let handler = Arc::clone(&handler);
            std::thread::Builder::new()
                .name(format!("iop-emulator-worker-{i}"))
                .spawn(move || worker(&rx, &handler))?;
        }

        let acceptor = {
            let stopping = Arc::clone(&stopping);
            let connections = Arc::clone(&connections);
            std::thread::Builder::new()
                .name("iop-emulator-accept".into())
                .spawn(move || accept_loop(&listener, &stopping, &connections, &jobs_tx))?
        };
        Ok(Server {
            addr,
            stopping,
            connections,
            acceptor: Some(acceptor),
        })
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every open connection and waits for the acceptor to finish.
    /// Workers end by themselves once the connections holding their queue are gone.
    pub(crate) fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor, blocked in accept(), with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let woke = TcpStream::connect_timeout(&wake, Duration::from_secs(2)).is_ok();
        for (_, stream) in self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if woke {
            let _ = acceptor.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn worker(rx: &Mutex<Receiver<Job>>, handler: &Handler) {
    loop {
        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((request, reply_to)) = job else {
            return;
        };
        // A bug in a handler answers 500 instead of killing the worker.
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(request)))
            .unwrap_or_else(|_| {
                Reply::json(
                    500,
                    &serde_json::json!({"type": "SYSTEM", "code": "EmulatorPanic",
                        "message": "the emulator failed on this request"}),
                )
            });
        let _ = reply_to.send(reply);
    }
}

fn accept_loop(
    listener: &TcpListener,
    stopping: &AtomicBool,
    connections: &Arc<Mutex<HashMap<u64, TcpStream>>>,
    jobs: &Sender<Job>,
) {
    let next_id = AtomicU64::new(0);
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else {
            continue;
        };
        let open = connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        if open >= MAX_CONNECTIONS {
            let body = br#"{"error":"too many connections"}"#;
            let _ = write_response(&mut stream, 503, "application/json", body, false);
            continue;
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, clone);
        }
        let jobs = jobs.clone();
        let registry = Arc::clone(connections);
        let spawned = std::thread::Builder::new()
            .name("iop-emulator-conn".into())
            .spawn(move || {
                serve_connection(stream, &jobs);
                registry
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
            });
        if spawned.is_err() {
            // Out of threads: the stream was moved into the failed closure and is closed.
            connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        }
    }
}

/// Why a connection stops being served.
enum ReadOutcome {
    Request(HttpRequest, bool),
    Closed,
    Bad(&'static str),
}

fn serve_connection(stream: TcpStream, jobs: &Sender<Job>) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let (request, keep_alive) = match read_request(&mut reader, &mut writer) {
            ReadOutcome::Request(r, k) => (r, k),
            ReadOutcome::Closed => return,
            ReadOutcome::Bad(why) => {
                let body = serde_json::json!({"error": why}).to_string();
                let _ =
                    write_response(&mut writer, 400, "application/json", body.as_bytes(), false);
                return;
            }
        };
        let (tx, rx) = mpsc::sync_channel(1);
        if jobs.send((request, tx)).is_err() {
            return;
        }
        match rx.recv() {
            Ok(Reply::Response {
                status,
                content_type,
                body,
            }) => {
                if write_response(&mut writer, status, content_type, &body, keep_alive).is_err()
                    || !keep_alive
                {
                    let _ = writer.shutdown(Shutdown::Both);
                    return;
                }
            }
            Ok(Reply::Reset) | Err(_) => {
                // SO_LINGER 0 makes close() send RST instead of FIN.
                let _ = socket2::SockRef::from(&writer).set_linger(Some(Duration::ZERO));
                return;
            }
        }
    }
}

fn write_response(
    w: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {}\r\nDate: {}\r\nServer: iop-emulator\r\n\r\n",
        reason(status),
        body.len(),
        if keep_alive { "keep-alive" } else { "close" },
        // Real time, as the gateway sends it: `iop doctor` measures clock skew against it.
        httpdate::fmt_http_date(std::time::SystemTime::now()),
    );
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Reads one request: `Closed` at a clean end of stream between requests.
fn read_request(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) -> ReadOutcome {
    let mut head = Vec::with_capacity(1024);
    // Read lines until the empty line that ends the head.
    loop {
        let before = head.len();
        let mut limited = reader.by_ref().take((MAX_HEAD + 1 - before) as u64);
        match limited.read_until(b'\n', &mut head) {
            Ok(0) => {
                return if head.is_empty() {
                    ReadOutcome::Closed
                } else {
                    ReadOutcome::Bad("incomplete request head")
                };
            }
            Ok(_) => {}
            Err(_) => return ReadOutcome::Closed,
        }
        if head.len() > MAX_HEAD {
            return ReadOutcome::Bad("request head too large");
        }
        // Tolerate blank lines before a request line (RFC 9112 §2.2).
        if before == 0 && (head == b"\r\n" || head == b"\n") {
            head.clear();
            continue;
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return ReadOutcome::Bad("malformed request head"),
    }
    let method = parsed.method.unwrap_or("GET").to_owned();
    let target = parsed.path.unwrap_or("/").to_owned();
    let version = parsed.version.unwrap_or(1);
    let mut map = HashMap::new();
    for h in parsed.headers.iter() {
        map.insert(
            h.name.to_ascii_lowercase(),
            String::from_utf8_lossy(h.value).trim().to_owned(),
        );
    }
    let connection = map
        .get("connection")
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    let keep_alive = if version == 0 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };

    if map
        .get("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        && writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
    {
        return ReadOutcome::Closed;
    }

    let chunked = map
        .get("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        match read_chunked(reader) {
            Ok(b) => b,
            Err(why) => return ReadOutcome::Bad(why),
        }
    } else {
        let len = match map.get("content-length").map(|v| v.parse::<usize>()) {
            None => 0,
            Some(Ok(n)) if n <= MAX_BODY => n,
            Some(Ok(_)) => return ReadOutcome::Bad("body too large"),
            Some(Err(_)) => return ReadOutcome::Bad("bad Content-Length"),
        };
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return ReadOutcome::Closed;
        }
        body
    };
    ReadOutcome::Request(
        HttpRequest {
            method,
            target,
            headers: map,
            body,
        },
        keep_alive,
    )
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, &'static str> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader
            .by_ref()
            .take(1024)
            .read_line(&mut line)
            .map_err(|_| "bad chunk size")?;
        let size_text = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut trailer = String::new();
                let n = reader
                    .by_ref()
                    .take(8192)
                    .read_line(&mut trailer)
                    .map_err(|_| "bad trailer")?;
                if n == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        // `body.len() <= MAX_BODY` here; a hostile size near usize::MAX must not overflow.
        if size > MAX_BODY - body.len() {
            return Err("body too large");
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|_| "incomplete chunk")?;
        let mut crlf = [0u8; 2];
        reader
            .read_exact(&mut crlf)
            .map_err(|_| "incomplete chunk")?;
        if &crlf != b"\r\n" {
            return Err("chunk not followed by CRLF");
        }
    }
}
