//! `iop authorize`: authorize a seller account from a terminal. Prints the authorization URL,
//! listens on the loopback redirect URI, checks the redirect's state, exchanges the code and
//! stores (or prints) the token set.
//!
//! The listener is hyper on a one-thread tokio runtime (the emulator's stack): connections are
//! served concurrently, each within a deadline of its own (its head within
//! [`HEAD_TIMEOUT`], the whole connection within [`CONNECTION_DEADLINE`]), so a slow or silent
//! client never holds up the real redirect. Every request to the redirect path is checked
//! state first ([`onboarding::parse_callback`]); anything that is not this authorization's
//! redirect (another path, another method, a missing, foreign or repeated state, a malformed
//! redirect) is answered 400 or 404 and the command keeps waiting. It ends with the first
//! redirect that carries this state and a code (exchanged once) or the platform's error, or
//! when `--timeout` has passed, whatever clients do (only an exchange already under way is
//! waited for).

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use iop_core::onboarding::{self, AuthorizationRequest, CallbackError, Platform};
use iop_core::{AuthCode, Client, Error, TokenManager, TokenSet};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::cli::{AppArgs, AuthorizeArgs, PlatformArg};
use crate::credentials::{App, Stdin};
use crate::failure::{Failure, Outcome, ok};
use crate::show;
use crate::token_cmd::{open_store, store_name};

/// The largest request head read from a browser.
const MAX_HEAD: usize = 16 * 1024;

/// How long a connection has to send its whole request head (not reset by each byte).
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a connection lives, answer included (an exchange that takes longer still
/// completes: only its browser tab misses the answer).
const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 64;

/// How long the browser's answer may take to go out once the command has its outcome.
const ANSWER_GRACE: Duration = Duration::from_secs(2);

/// `iop authorize --redirect-uri http://127.0.0.1:PORT/PATH [--store DIR [--seller KEY]]`.
pub(crate) fn run(app_args: &AppArgs, args: &AuthorizeArgs) -> Outcome {
    let app = App::resolve(app_args, &mut Stdin::default())?;
    let client = app.client()?;
    let (listen, path) = loopback_redirect(&args.redirect_uri)?;
    // Open the store and the port before the seller is sent anywhere: a failure must not waste
    // an authorization.
    let manager = match &args.store {
        Some(dir) => Some(TokenManager::new(
            Arc::clone(&client),
            open_store(dir, true)?,
        )),
        None => None,
    };
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| Failure::Failed(format!("cannot listen on {listen} for the redirect: {e}")))?;
    let state =
        onboarding::new_state().map_err(|e| Failure::from_core("cannot make a state", &e))?;
    let platform = match args.platform {
        Some(PlatformArg::Aliexpress) => Platform::AliExpress,
        Some(PlatformArg::Lazada) => Platform::Lazada,
        None if client
            .gateway()
            .token_gateway()
            .base_url()
            .contains("lazada") =>
        {
            Platform::Lazada
        }
        None => Platform::AliExpress,
    };
    let mut request = AuthorizationRequest::new(
        platform,
        app.app_key.clone(),
        args.redirect_uri.clone(),
        state.clone(),
    );
    request.country = args.country.clone();
    request.uuid = args.uuid.clone();
    // The emulator serves its own authorization page; the real gateway's is on the platform host.
    let url = if client.gateway().is_loopback() {
        onboarding::authorization_url_on(client.gateway(), &request)
    } else {
        onboarding::authorization_url(&request)
    }
    .map_err(|e| Failure::from_core("cannot build the authorization URL", &e))?;

    eprintln!(
        "Open this URL in a browser, as the seller, and authorize the app (it opens nothing by \
         itself):"
    );
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{url}")?;
        out.flush()?;
    }
    eprintln!(
        "Waiting up to {} for the redirect to {} …",
        show::span(args.timeout),
        args.redirect_uri
    );

    let deadline = Instant::now() + args.timeout;
    listener
        .set_nonblocking(true)
        .map_err(|e| Failure::Failed(format!("cannot wait for the redirect: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot wait for the redirect: {e}")))?;
    let (finished, outcomes) = mpsc::unbounded_channel();
    let waiter = Arc::new(Waiter {
        path,
        state,
        exchange: Arc::new(Exchange {
            client: Arc::clone(&client),
            manager: manager.map(Arc::new),
            seller: args.seller.clone(),
            uuid: args.uuid.clone(),
        }),
        claimed: AtomicBool::new(false),
        open: Arc::new(AtomicUsize::new(0)),
        finished,
        answered: Notify::new(),
    });
    let end = runtime.block_on(wait_for_redirect(listener, waiter, outcomes, deadline));
    // Every connection still open ends with the runtime.
    drop(runtime);
    match end {
        End::Exchanged(exchanged) => match *exchanged {
            Ok((key, token)) => emit(&client, &key, &token, args),
            Err(e) => Err(Failure::from_core("the code could not be exchanged", &e)),
        },
        End::Denied(e) => Err(Failure::Failed(e.to_string())),
        End::TimedOut => Err(Failure::Failed(format!(
            "no redirect arrived within {}; nothing was exchanged",
            show::span(args.timeout)
        ))),
        End::Failed(why) => Err(Failure::Failed(format!("waiting for the redirect: {why}"))),
    }
}

/// The address to listen on and the path to expect, from a loopback `http://` redirect URI.
fn loopback_redirect(uri: &str) -> Result<(std::net::SocketAddr, String), Failure> {
    let usage = |why: &str| {
        Failure::Usage(format!(
            "--redirect-uri {why}: give http://127.0.0.1:PORT/PATH (or [::1] / localhost), the \
             exact URI registered in the app console"
        ))
    };
    let url = url::Url::parse(uri).map_err(|_| usage("is not a URL"))?;
    if url.scheme() != "http" {
        return Err(usage("must be plain http on this machine"));
    }
    let ip: IpAddr = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.into(),
        Some(url::Host::Ipv6(ip)) => ip.into(),
        Some(url::Host::Domain("localhost")) => IpAddr::from([127, 0, 0, 1]),
        _ => return Err(usage("must be on a loopback address")),
    };
    if !ip.is_loopback() {
        return Err(usage("must be on a loopback address"));
    }
    let port = url.port().ok_or_else(|| usage("needs a port"))?;
    if port == 0 {
        return Err(usage("needs a fixed port"));
    }
    Ok(((ip, port).into(), url.path().to_owned()))
}

/// What the exchange of a code needs.
struct Exchange {
    client: Arc<Client>,
    manager: Option<Arc<TokenManager>>,
    seller: Option<String>,
    uuid: Option<String>,
}

impl Exchange {
    /// Exchanges the code of `query` (checked against `state` again by the manager) and stores
    /// the token set when there is a store. Blocking.
    fn run(&self, query: &str, state: &str, code: &AuthCode) -> Result<(String, TokenSet), Error> {
        match &self.manager {
            Some(manager) => manager.complete_authorization(query, state, self.seller.as_deref()),
            None => self
                .client
                .create_token(code, self.uuid.as_deref())
                .map(|token| (token.seller_id.clone().unwrap_or_default(), token)),
        }
    }
}

/// How the wait ended.
enum End {
    /// A redirect with this state and a code: the exchange's outcome.
    Exchanged(Box<Result<(String, TokenSet), Error>>),
    /// A redirect with this state and the platform's error (the seller declined).
    Denied(CallbackError),
    /// `--timeout` passed.
    TimedOut,
    /// The listener failed.
    Failed(String),
}

/// What every connection shares.
struct Waiter {
    /// The redirect URI's path.
    path: String,
    /// This authorization's state.
    state: String,
    exchange: Arc<Exchange>,
    /// Set once a redirect with this state was taken (to exchange, or as the platform's
    /// error): later ones are refused.
    claimed: AtomicBool,
    /// Connections open now.
    open: Arc<AtomicUsize>,
    /// Where the end of the wait is sent.
    finished: mpsc::UnboundedSender<End>,
    /// Signalled when the connection that ended the wait has written its answer (or gave up).
    answered: Notify,
}

/// Counts an open connection while alive.
struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves the redirect URI until the wait ends; see the module docs.
async fn wait_for_redirect(
    listener: std::net::TcpListener,
    waiter: Arc<Waiter>,
    mut outcomes: mpsc::UnboundedReceiver<End>,
    deadline: Instant,
) -> End {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => return End::Failed(e.to_string()),
    };
    let deadline = tokio::time::Instant::from_std(deadline);
    loop {
        tokio::select! {
            end = outcomes.recv() => {
                let Some(end) = end else {
                    return End::Failed("the listener stopped".to_owned());
                };
                // Let the browser have its answer before the runtime goes.
                let _ = tokio::time::timeout(ANSWER_GRACE, waiter.answered.notified()).await;
                return end;
            }
            () = tokio::time::sleep_until(deadline), if !waiter.claimed.load(Ordering::SeqCst) => {
                // An exchange that started meanwhile is waited for (the next turn has no
                // deadline branch); anything else ends here.
                if !waiter.claimed.load(Ordering::SeqCst) {
                    return End::TimedOut;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if waiter.open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                        waiter.open.fetch_sub(1, Ordering::SeqCst);
                        drop(stream);
                        continue;
                    }
                    let open = OpenConnection(Arc::clone(&waiter.open));
                    tokio::spawn(connection(stream, Arc::clone(&waiter), open));
                }
                Err(e) => {
                    // Out of file descriptors, or the like: wait a little rather than spin.
                    eprintln!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// One connection: its head within [`HEAD_TIMEOUT`], all of it within
/// [`CONNECTION_DEADLINE`], one request (no keep-alive).
async fn connection(stream: TcpStream, waiter: Arc<Waiter>, _open: OpenConnection) {
    let _ = stream.set_nodelay(true);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .keep_alive(false);
    // Set when this connection's request ended the wait.
    let ended = Arc::new(AtomicBool::new(false));
    let service = {
        let (waiter, ended) = (Arc::clone(&waiter), Arc::clone(&ended));
        service_fn(move |request| {
            let (waiter, ended) = (Arc::clone(&waiter), Arc::clone(&ended));
            async move { Ok::<_, std::convert::Infallible>(answer(&waiter, &request, &ended).await) }
        })
    };
    let serving = http.serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(CONNECTION_DEADLINE, serving).await;
    if ended.load(Ordering::SeqCst) {
        waiter.answered.notify_one();
    }
}

/// The answer to one request (see the module docs).
async fn answer(
    waiter: &Waiter,
    request: &Request<Incoming>,
    ended: &AtomicBool,
) -> Response<Full<Bytes>> {
    if request.uri().path() != waiter.path {
        return page(StatusCode::NOT_FOUND, "Not found.");
    }
    if request.method() != Method::GET {
        return page(StatusCode::BAD_REQUEST, "Bad request.");
    }
    let query = request.uri().query().unwrap_or("").to_owned();
    let code = match onboarding::parse_callback(&query, &waiter.state) {
        Ok(code) => code,
        Err(e @ CallbackError::Denied { .. }) => {
            if waiter.claimed.swap(true, Ordering::SeqCst) {
                return taken();
            }
            let text = format!("Authorization failed: {e}.");
            ended.store(true, Ordering::SeqCst);
            let _ = waiter.finished.send(End::Denied(e));
            return page(StatusCode::BAD_REQUEST, &text);
        }
        Err(e) => {
            // Not the redirect of the URL printed above (a stale tab, someone else's request,
            // a malformed one): refuse it, exchange nothing, and keep waiting for ours.
            eprintln!("ignored a request to the redirect URI: {e}");
            let text = match e {
                CallbackError::StateMissing | CallbackError::StateMismatch => {
                    "This redirect does not belong to the authorization in progress; nothing was \
                     exchanged."
                }
                _ => "This redirect is malformed; nothing was exchanged.",
            };
            return page(StatusCode::BAD_REQUEST, text);
        }
    };
    if waiter.claimed.swap(true, Ordering::SeqCst) {
        return taken();
    }
    ended.store(true, Ordering::SeqCst);
    // The exchange runs on a thread of its own and reports to the wait directly: neither this
    // connection's deadline nor its client going away can lose a code already sent.
    let (told, exchanged) = oneshot::channel();
    let exchange = Arc::clone(&waiter.exchange);
    let state = waiter.state.clone();
    let finished = waiter.finished.clone();
    tokio::spawn(async move {
        let outcome =
            tokio::task::spawn_blocking(move || exchange.run(&query, &state, &code)).await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::InvalidRequest(
                "the code exchange failed unexpectedly".to_owned(),
            )),
        };
        let _ = told.send(outcome.is_ok());
        let _ = finished.send(End::Exchanged(Box::new(outcome)));
    });
    match exchanged.await {
        Ok(true) => page(
            StatusCode::OK,
            "The app is authorized. You can close this tab and go back to the terminal.",
        ),
        _ => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The code could not be exchanged: see the terminal.",
        ),
    }
}

/// The answer to a redirect of this state after the one that was taken.
fn taken() -> Response<Full<Bytes>> {
    page(
        StatusCode::BAD_REQUEST,
        "This authorization was completed by an earlier request; nothing was exchanged.",
    )
}

/// A small HTML page saying `text`, not cached.
fn page(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>iop authorize</title><p>{}</p>\n",
        text.replace('&', "&amp;").replace('<', "&lt;")
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    response
}

/// Prints the stored token set masked, or the whole token set as JSON without a store.
fn emit(client: &Client, key: &str, token: &TokenSet, args: &AuthorizeArgs) -> Outcome {
    let mut out = std::io::stdout().lock();
    match &args.store {
        Some(dir) => {
            let line = format!(
                "authorized: the token of seller `{key}` is saved in {}",
                store_name(dir)
            );
            writeln!(out, "{}", show::escape_controls(&line))?;
            for line in show::token_lines(token, client.clock().now()) {
                writeln!(out, "  {line}")?;
            }
        }
        None => {
            let json = serde_json::to_string_pretty(token)
                .map_err(|e| Failure::Failed(format!("cannot serialize the token set: {e}")))?;
            writeln!(out, "{}", show::json_for_terminal(&json))?;
        }
    }
    ok()
}
