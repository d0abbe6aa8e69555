//! # iop-emulator: the IOP gateway, offline
//!
//! A real HTTP/1.1 server on loopback that behaves like the IOP gateway of AliExpress and Lazada
//! Open Platform, so tests in every language run without the internet:
//!
//! - serves `/rest/<path>`, bare `/rest` with `method=<path>`, and `/sync` (TOP, `method`);
//!   GET and POST, form and multipart bodies, parameters from the query and the body together;
//! - checks in the gateway's order: required parameters (`MissingParameter`), app key
//!   (`InvalidAppKey`), sign method (`InvalidSignMethod`; `md5` only on `/sync`), timestamp within
//!   7200 s of the virtual **or** the real clock (`InvalidTimestamp`), signature recomputed over
//!   what arrived (`IncompleteSignature`);
//! - `/auth/token/create` and `/auth/token/security/create` take single-use authorization codes
//!   (30 minutes of virtual time; `InvalidCode`), `/auth/token/refresh` and
//!   `/auth/token/security/refresh` take refresh tokens (`IllegalRefreshToken`), rotated or not;
//! - any other call answers what a test registered for it ([`Emulator::answer`], in the
//!   gateway's real envelope), or else echoes its business parameters. A token (`access_token` for GOP, `session`
//!   for TOP) is checked whenever one is sent (`IllegalAccessToken`); without one, the call is
//!   answered with no seller, as the gateway answers its app-level APIs (affiliate, category,
//!   brand …), unless a test made that API require a token ([`Emulator::require_token`]);
//! - `timestamp` is epoch milliseconds or ISO-8601 UTC (`2017-11-11T12:00:00Z`);
//! - a virtual clock, counters per API, and faults on demand; all of it also through the control
//!   API under `/_emulator/` (docs/src/operations/emulator.md in the repository).
//!
//! ```no_run
//! use iop_emulator::{Config, Emulator, Fault};
//!
//! let emulator = Emulator::start(Config::default())?;
//! let code = emulator.authorize("seller-1");
//! // … a client on emulator.url() with emulator.app_key() / emulator.app_secret()
//! //   creates a token from `code` …
//! emulator.inject(Fault::Http500, Some("/auth/token/refresh"), 1);
//! emulator.advance(std::time::Duration::from_secs(31 * 86_400)); // access tokens now expired
//! assert_eq!(emulator.stats().get("/auth/token/create"), None);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Answers
//! Errors are HTTP 200 with the gateway's envelopes: GOP
//! `{"type":"ISV","code":…,"message":…,"request_id":…,"_trace_id_":…}`, TOP
//! `{"error_response":{"type":…,"code":…,"msg":…,"request_id":…,"_trace_id_":…}}`.
//! Token calls answer an AliExpress-shaped token set with `code` `"0"`. Echo answers: GOP
//! `{"code":"0","api":…,"seller_id":…,"params":{…},"files":{name:{"filename","size"}},"request_id":…}`;
//! TOP `{"<method, dots as underscores>_response":{"result":{"api","seller_id","params","files"},"request_id":…}}`,
//! or the inner object alone when `simplify=true`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

mod answers;
mod clock;
mod control;
mod gateway;
mod message;
mod params;
mod push;
mod server;

pub use answers::{COMMON_ANSWERS, CannedAnswer};
pub use clock::VirtualClock;
pub use push::{PushAttempt, PushDelivery};

use gateway::State;
use message::Reply;
use server::{Limits, Server};

/// The longest token lifetime [`Emulator::start`] accepts: 1000 years.
pub const MAX_TTL: Duration = Duration::from_secs(1000 * 365 * 86_400);

/// The longest [`Fault::Delay`]: 10 minutes (the control API refuses more; the library API
/// shortens it to this).
pub const MAX_DELAY: Duration = Duration::from_secs(600);

/// Largest request body accepted (413 above).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// How the emulator behaves. `Config::default()` listens on `127.0.0.1:0` with app key
/// `test-app-key` and secret `test-app-secret`.
#[derive(Clone)]
pub struct Config {
    /// The app key the emulator accepts (default `test-app-key`).
    pub app_key: String,
    /// The app secret requests must be signed with (default `test-app-secret`).
    pub app_secret: String,
    /// Where to listen (default `127.0.0.1:0`, a free port). Loopback only unless
    /// [`Config::allow_remote`] is set.
    pub listen: SocketAddr,
    /// Most threads serving requests (default 8); never more than the machine's CPUs. With 1,
    /// the server runs on a single thread. Connections have no threads of their own: a delayed
    /// or held request occupies no thread.
    pub threads: usize,
    /// Lifetime of access tokens (default 30 days; at most [`MAX_TTL`]).
    pub access_ttl: Duration,
    /// Lifetime of refresh tokens (default 60 days; at most [`MAX_TTL`]).
    pub refresh_ttl: Duration,
    /// A refresh invalidates the refresh token it used (default true). When false, a refresh
    /// answers the same refresh token with its original expiry.
    pub rotate_refresh_tokens: bool,
    /// Start of the virtual clock (default: now).
    pub start_time: Option<SystemTime>,
    /// Allows a listen address other than loopback (default false).
    pub allow_remote: bool,
    /// Open connections at most (default 1024); a connection over the cap is answered 503 and
    /// closed, except for the control API (`/_emulator/…`), which has 64 more connections of
    /// its own: gateway traffic, busy or idle, never makes it answer 503.
    pub max_connections: usize,
    /// How long a client has to send a request head, counted from when the connection starts
    /// waiting for it (so it also ends idle keep-alive connections), and then again to send its
    /// body (default 60 s; kept between 10 ms and a day). Not reset by each byte that arrives.
    pub read_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            app_key: "test-app-key".into(),
            app_secret: "test-app-secret".into(),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            threads: 8,
            access_ttl: Duration::from_secs(30 * 86_400),
            refresh_ttl: Duration::from_secs(60 * 86_400),
            rotate_refresh_tokens: true,
            start_time: None,
            allow_remote: false,
            max_connections: 1024,
            read_timeout: Duration::from_secs(60),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("app_key", &self.app_key)
            .field("app_secret", &"[redacted]")
            .field("listen", &self.listen)
            .field("threads", &self.threads)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .field("start_time", &self.start_time)
            .field("allow_remote", &self.allow_remote)
            .field("max_connections", &self.max_connections)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

/// A failure the emulator produces on demand (see [`Emulator::inject`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Waits this long (at most [`MAX_DELAY`]), then answers normally. The wait holds no
    /// thread; [`Emulator::clear_faults`] ends it early.
    Delay(Duration),
    /// Closes the connection without an answer (RST: `SO_LINGER` 0).
    ConnectionReset,
    /// HTTP 500 with a `SYSTEM` error envelope.
    Http500,
    /// HTTP 502 with the HTML page a proxy in front of the gateway sends (`text/html`).
    Html502,
    /// HTTP 200 whose body is the first half of a token set's JSON.
    TruncatedJson,
    /// `ApiCallLimit` ("… this ban will last N seconds"); every matching request during the ban
    /// (real time) gets it too, the first one after the ban goes through.
    RateLimit {
        /// How long the ban lasts.
        ban: Duration,
    },
    /// Holds the request, counted but not processed, until [`Emulator::release`] (or
    /// [`Emulator::clear_faults`]); then processes and answers it. For staging "the client
    /// died before the gateway saw its request".
    HoldBefore,
    /// Processes the request (a refresh rotates its token), then holds the answer until
    /// [`Emulator::release`] (or [`Emulator::clear_faults`]). For staging "the gateway
    /// answered, the client never saw it".
    HoldAfter,
}

/// A running emulator. `Send + Sync`; stops its server when dropped.
#[derive(Debug)]
pub struct Emulator {
    state: Arc<State>,
    server: Server,
}

impl Emulator {
    /// Starts the server. Fails when the address cannot be bound, or is not loopback and
    /// [`Config::allow_remote`] is off.
    pub fn start(config: Config) -> std::io::Result<Emulator> {
        // Issuing a token adds the lifetime to the clock: refuse what `SystemTime` cannot hold.
        if config.access_ttl > MAX_TTL || config.refresh_ttl > MAX_TTL {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "access_ttl and refresh_ttl may be at most 1000 years",
            ));
        }
        if !config.listen.ip().is_loopback() && !config.allow_remote {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "refusing to listen on {}: not a loopback address (allow_remote is off)",
                    config.listen
                ),
            ));
        }
        let clock = Arc::new(VirtualClock::new(
            config.start_time.unwrap_or_else(SystemTime::now),
        ));
        let state = Arc::new(State::new(
            config.app_key,
            iop_core::AppSecret::new(config.app_secret),
            config.access_ttl,
            config.refresh_ttl,
            config.rotate_refresh_tokens,
            clock,
        ));
        // A timer deadline must fit the clock: at least 10 ms, at most a day.
        let read_timeout = config
            .read_timeout
            .clamp(Duration::from_millis(10), Duration::from_secs(86_400));
        let limits = Limits {
            max_connections: config.max_connections.max(1),
            header_timeout: read_timeout,
            body_timeout: read_timeout,
            max_body: MAX_BODY,
        };
        let server = Server::start(config.listen, config.threads, limits, Arc::clone(&state))?;
        Ok(Emulator { state, server })
    }

    /// The base URL, `http://127.0.0.1:PORT`, without `/rest` or `/sync`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The app key it accepts.
    pub fn app_key(&self) -> &str {
        &self.state.app_key
    }

    /// The app secret it checks signatures with.
    pub fn app_secret(&self) -> &str {
        self.state.app_secret.secret()
    }

    /// A fresh authorization code for `seller_id`: single use, valid 30 minutes of virtual time.
    pub fn authorize(&self, seller_id: &str) -> String {
        self.state.authorize(seller_id)
    }

    /// A token set for `seller_id` issued directly, as `/auth/token/create` would answer it
    /// (no request is counted). Handy to seed stores in tests.
    pub fn issue_token(&self, seller_id: &str) -> serde_json::Value {
        self.state.issue_token(seller_id)
    }

    /// Moves the virtual clock forward, then makes the push attempts that fell due (retries,
    /// automatic type 8) and returns once they are done.
    pub fn advance(&self, by: Duration) {
        self.state.clock.advance(by);
        if self.state.pushes_pending() {
            let state = Arc::clone(&self.state);
            self.server.run(async move { state.run_due_pushes().await });
        }
    }

    /// The virtual now.
    pub fn now(&self) -> SystemTime {
        self.state.clock.now()
    }

    /// The virtual clock, to inject into `iop_core::Client`.
    pub fn clock(&self) -> Arc<dyn iop_core::Clock> {
        Arc::clone(&self.state.clock) as Arc<dyn iop_core::Clock>
    }

    /// Requests received per API name (`/auth/token/refresh`, a TOP method name, …), counted for
    /// every request that names an API, faulted or rejected or not.
    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.state.stats()
    }

    /// Sets every counter back to zero.
    pub fn reset_stats(&self) {
        self.state.reset_stats();
    }

    /// The next `times` requests for `api` (any API when `None`) get `fault`. Faults queue up in
    /// the order injected; the first one that matches a request applies.
    pub fn inject(&self, fault: Fault, api: Option<&str>, times: u32) {
        self.state.inject(fault, api, times);
    }

    /// Removes every pending fault and ends every rate-limit ban; requests waiting in a delay
    /// or a hold go on at once.
    pub fn clear_faults(&self) {
        self.state.clear_faults();
    }

    /// Registers what an API answers instead of the echo (see [`CannedAnswer`]): the body in the
    /// gateway's real envelope, optionally only for one seller or for given parameter values.
    /// The access token, when one is sent, is still checked first. Fails (`InvalidInput`) for
    /// an empty API name or a body that is not a JSON object.
    ///
    /// ```no_run
    /// use iop_emulator::{CannedAnswer, Config, Emulator};
    /// use serde_json::json;
    ///
    /// let emulator = Emulator::start(Config::default())?;
    /// emulator.answer(CannedAnswer::new(
    ///     "aliexpress.affiliate.category.get",
    ///     json!({"resp_result": {"resp_code": 200, "resp_msg": "Call succeeds",
    ///            "result": {"total_result_count": 1,
    ///                       "categories": {"category": [{"category_id": 3, "category_name": "Apparel"}]}}}}),
    /// ))?;
    /// emulator.answer(CannedAnswer::new("/seller/get", json!({"data": {"name": "Shop 1"}})).seller("seller-1"))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn answer(&self, answer: CannedAnswer) -> std::io::Result<()> {
        self.state
            .add_answer(answer)
            .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))
    }

    /// Registers every answer of a JSON text: a list of `{"api", "body", "seller", "params"}`
    /// (as `--answers FILE` reads), or [`COMMON_ANSWERS`]. Nothing is registered when any of
    /// them is malformed (`InvalidInput`, saying what is wrong).
    pub fn load_answers(&self, json: &str) -> std::io::Result<usize> {
        let answers = answers::parse_answers(json)
            .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
        let count = answers.len();
        for answer in answers {
            self.answer(answer)?;
        }
        Ok(count)
    }

    /// Forgets every registered answer: calls are echoed again.
    pub fn clear_answers(&self) {
        self.state.clear_answers();
    }

    /// Every registered answer, in the order registered.
    pub fn answers(&self) -> Vec<CannedAnswer> {
        self.state.answers()
    }

    /// Lets requests held by [`Fault::HoldBefore`] / [`Fault::HoldAfter`] go on: those for
    /// `api`, or all when `None`. Answers how many were released.
    pub fn release(&self, api: Option<&str>) -> usize {
        self.state.release(api)
    }

    /// How many requests are held now, per API.
    pub fn held(&self) -> BTreeMap<String, usize> {
        self.state.held()
    }

    /// Makes `api` (a GOP path such as `/order/get`, a TOP method name, or `*` for every API)
    /// answer `MissingParameter` when called without a token, or, with `required` false, no
    /// longer. By default no API requires one: app-level APIs are called without a token, and a
    /// token is checked whenever one is sent.
    pub fn require_token(&self, api: &str, required: bool) {
        self.state.require_token(api, required);
    }

    /// Whether `refresh_token` is a current refresh token of `seller_id`: issued to that
    /// seller, unexpired, not rotated away or revoked.
    pub fn is_current_refresh_token(&self, seller_id: &str, refresh_token: &str) -> bool {
        self.state
            .is_current_refresh_token(seller_id, refresh_token)
    }

    /// Sends a Lazada push to `url` (loopback `http://` only): body
    /// `{"seller_id","message_type","data","timestamp","site":"lazada_sg"}`, header
    /// `Authorization` = lowercase hex of HMAC-SHA256(key = app secret, message = app key + body).
    /// Makes the first attempt before returning; a non-200 answer, or none within 500 ms, is
    /// retried every 30 minutes of virtual time as [`Emulator::advance`] moves the clock, at most
    /// 12 attempts in all. Fails (`InvalidInput`) for a URL that is not loopback.
    pub fn push(
        &self,
        url: &str,
        seller_id: &str,
        message_type: i64,
        data: serde_json::Value,
    ) -> std::io::Result<PushDelivery> {
        let id = self
            .state
            .create_push(url, seller_id, message_type, data, "lazada_sg")
            .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
        let state = Arc::clone(&self.state);
        self.server.run(async move { state.run_due_pushes().await });
        self.state
            .push_entry(id)
            .ok_or_else(|| std::io::Error::other("the push was lost"))
    }

    /// Every push so far, oldest first, with its attempts.
    pub fn push_log(&self) -> Vec<PushDelivery> {
        self.state.push_log()
    }

    /// Sends a type 8 push ("authorization about to expire", `data` `{"expire_time": ms}`) to
    /// `url` by itself, once per refresh token, for sellers whose refresh token expires within
    /// 48 hours, as [`Emulator::advance`] moves the clock. `None` stops it. Fails
    /// (`InvalidInput`) for a URL that is not loopback.
    pub fn auto_push_expiring(&self, url: Option<&str>) -> std::io::Result<()> {
        self.state
            .auto_push_expiring(url)
            .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
        if url.is_some() {
            let state = Arc::clone(&self.state);
            self.server.run(async move { state.run_due_pushes().await });
        }
        Ok(())
    }

    /// Whether `access_token` is a current (issued to `seller_id`, unexpired) access token.
    pub fn is_current_access_token(&self, seller_id: &str, access_token: &str) -> bool {
        self.state.is_current_access_token(seller_id, access_token)
    }

    /// Invalidates every refresh token of `seller_id` (they answer `IllegalRefreshToken`).
    pub fn revoke_refresh_tokens(&self, seller_id: &str) {
        self.state.revoke_refresh_tokens(seller_id);
    }

    /// Stops the server (as dropping it does): every connection is closed, pending delays and
    /// holds included, and every thread of the emulator has ended when this returns.
    pub fn shutdown(self) {
        drop(self);
    }
}

async fn route(state: &State, request: &message::HttpRequest) -> Reply {
    let reply = dispatch(state, request).await;
    // The path only: the query may carry tokens and signatures.
    match &reply {
        Reply::Response { status, .. } => log::debug!(
            target: "iop_emulator::server",
            "{} {} -> {status}",
            request.method,
            request.path()
        ),
        Reply::Reset => log::debug!(
            target: "iop_emulator::server",
            "{} {} -> connection reset",
            request.method,
            request.path()
        ),
        Reply::Redirect(_) => log::debug!(
            target: "iop_emulator::server",
            "{} {} -> 302",
            request.method,
            request.path()
        ),
    }
    reply
}

async fn dispatch(state: &State, request: &message::HttpRequest) -> Reply {
    let path = request.path();
    if let Some(route) = path.strip_prefix("/_emulator/") {
        return match route {
            "push" => control::push(state, request).await,
            "advance" => {
                let reply = control::handle(state, route, request);
                if state.pushes_pending() {
                    state.run_due_pushes().await;
                }
                reply
            }
            _ => control::handle(state, route, request),
        };
    }
    if path == "/oauth/authorize" {
        return control::oauth_authorize(state, request);
    }
    if path == "/sync" || path == "/rest" || path.starts_with("/rest/") {
        return state.handle_gateway(request).await;
    }
    Reply::json(
        404,
        &serde_json::json!({
            "type": "ISV", "code": "InvalidApiPath",
            "message": "The specified API path does not exist: use /rest/<api>, /rest or /sync",
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_redacts_the_secret() {
        let c = Config {
            app_secret: "very-secret-value".into(),
            ..Config::default()
        };
        let text = format!("{c:?}");
        assert!(!text.contains("very-secret-value"));
        assert!(text.contains("[redacted]"));
    }

    #[test]
    fn refuses_non_loopback_unless_allowed() {
        let c = Config {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            ..Config::default()
        };
        let err = Emulator::start(c).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }

    #[test]
    fn emulator_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Emulator>();
    }
}
