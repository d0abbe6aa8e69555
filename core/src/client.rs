//! The client: signs, sends, parses and retries what is safe to retry.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, ErrorClass, Result};
use crate::gateway::Gateway;
use crate::redact::Redactor;
use crate::request::{Credentials, Request};
use crate::response::parse_response_redacting;
use crate::secret::{AccessToken, AppSecret, AuthCode, RefreshToken};
use crate::sign::SignMethod;
use crate::token::TokenSet;
use crate::transport::{HttpConfig, HttpTransport, Transport};

/// A source of the current time; injectable for tests and the emulator's controlled clock.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Which failures are retried, how often and how long to wait. Retries use full jitter and only
/// happen where repeating is safe: connection failures before the request was sent, HTTP 5xx,
/// ISP/SYSTEM errors, and rate limits after their ban. Signature, reauthorization and client
/// errors are never retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 3; 1 disables retries).
    pub max_attempts: u32,
    /// Base of the exponential backoff (default 200 ms).
    pub base_delay: Duration,
    /// Cap of one backoff (default 5 s).
    pub max_delay: Duration,
    /// Longest rate-limit ban the client waits out before retrying (default 10 s); a longer ban
    /// is returned as the error.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_rate_limit_wait: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// Waits between retries; `std::thread::sleep` unless replaced with
/// [`ClientBuilder::retry_sleep`].
type Sleep = Arc<dyn Fn(Duration) + Send + Sync>;

/// Builds a [`Client`].
pub struct ClientBuilder {
    credentials: Credentials,
    gateway: Gateway,
    http: HttpConfig,
    transport: Option<Arc<dyn Transport>>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    sleep: Sleep,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("app_key", &self.credentials.app_key)
            .field("gateway", &self.gateway)
            .field("http", &self.http)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The `partner_id` sent with every call.
    pub fn partner_id(mut self, partner_id: impl Into<String>) -> Self {
        self.credentials.partner_id = Some(partner_id.into());
        self
    }

    /// The signing method (default `Sha256`).
    pub fn sign_method(mut self, method: SignMethod) -> Self {
        self.credentials.sign_method = method;
        self
    }

    /// Settings of the default HTTP transport (timeouts, proxy, roots).
    pub fn http_config(mut self, config: HttpConfig) -> Self {
        self.http = config;
        self
    }

    /// Connect and read timeouts of the default HTTP transport.
    pub fn timeouts(mut self, connect: Duration, read: Duration) -> Self {
        self.http.connect_timeout = connect;
        self.http.read_timeout = read;
        self
    }

    /// Overall deadline of one attempt with the default HTTP transport.
    pub fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.http.deadline = deadline;
        self
    }

    /// A transport to use instead of the default HTTP one.
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The clock that stamps requests (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How the client waits between attempts (default `std::thread::sleep`). Tests pass a
    /// function that records the delays instead of sleeping.
    pub fn retry_sleep(mut self, sleep: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.sleep = Arc::new(sleep);
        self
    }

    /// Builds the client (and the HTTP agent unless a transport was given).
    pub fn build(self) -> Result<Client> {
        let custom_transport = self.transport.is_some();
        let transport = match self.transport {
            Some(transport) => transport,
            None => Arc::new(HttpTransport::new(self.http.clone())?),
        };
        Ok(Client {
            credentials: self.credentials,
            gateway: self.gateway,
            http: self.http,
            transport,
            custom_transport,
            clock: self.clock,
            retry: self.retry,
            sleep: self.sleep,
        })
    }
}

/// A client for one app on one gateway. `Send + Sync`: one client serves every thread.
///
/// ```no_run
/// use iop_core::{AppSecret, Client, Gateway, RefreshToken};
///
/// let client = Client::builder("app-key", AppSecret::new("app-secret"), Gateway::aliexpress())
///     .build()?;
/// let tokens = client.refresh_token(&RefreshToken::new("refresh-token"))?;
/// println!("access token expires at {:?}", tokens.expires_at());
/// # Ok::<(), iop_core::Error>(())
/// ```
pub struct Client {
    credentials: Credentials,
    gateway: Gateway,
    /// The settings of the default transport (kept for [`Client::to_builder`]).
    http: HttpConfig,
    transport: Arc<dyn Transport>,
    /// Whether `transport` was given to the builder (kept by [`Client::to_builder`]).
    custom_transport: bool,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    sleep: Sleep,
}

// One client serves every thread.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
};

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("app_key", &self.credentials.app_key)
            .field("gateway", &self.gateway)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The outcome of all attempts of one call: the parsed result, and the last response received
/// (status and body), if any.
struct Exchange<T> {
    result: Result<T>,
    last_response: Option<(u16, Vec<u8>)>,
}

impl Client {
    /// Starts building a client for `app_key`/`app_secret` on `gateway`.
    pub fn builder(
        app_key: impl Into<String>,
        app_secret: AppSecret,
        gateway: Gateway,
    ) -> ClientBuilder {
        ClientBuilder {
            credentials: Credentials::new(app_key, app_secret),
            gateway,
            http: HttpConfig::default(),
            transport: None,
            clock: Arc::new(SystemClock),
            retry: RetryPolicy::default(),
            sleep: Arc::new(std::thread::sleep),
        }
    }

    /// A client with the default settings (HTTP transport, system clock, default retries).
    pub fn new(
        app_key: impl Into<String>,
        app_secret: AppSecret,
        gateway: Gateway,
    ) -> Result<Self> {
        Self::builder(app_key, app_secret, gateway).build()
    }

    /// A builder holding every setting of this client (credentials, gateway, HTTP settings,
    /// clock, retry policy, retry sleep, and the transport if one was given), to derive a new
    /// client with some of them changed. The new client has its own connection pool; this one
    /// is unchanged.
    ///
    /// With a transport given to the original builder, the new client shares it and the HTTP
    /// settings (timeouts, proxy…) have no effect, as on the original.
    ///
    /// ```
    /// use std::time::Duration;
    /// use iop_core::{AppSecret, Client, Gateway};
    /// let client = Client::new("app-key", AppSecret::new("app-secret"), Gateway::aliexpress())?;
    /// let patient = client
    ///     .to_builder()
    ///     .timeouts(Duration::from_secs(5), Duration::from_secs(120))
    ///     .build()?;
    /// assert_eq!(patient.http_config().read_timeout, Duration::from_secs(120));
    /// assert_eq!(client.http_config().read_timeout, Duration::from_secs(30));
    /// # Ok::<(), iop_core::Error>(())
    /// ```
    pub fn to_builder(&self) -> ClientBuilder {
        ClientBuilder {
            credentials: self.credentials.clone(),
            gateway: self.gateway.clone(),
            http: self.http.clone(),
            transport: self.custom_transport.then(|| Arc::clone(&self.transport)),
            clock: Arc::clone(&self.clock),
            retry: self.retry.clone(),
            sleep: Arc::clone(&self.sleep),
        }
    }

    /// The settings of the default HTTP transport (in effect unless a transport was given).
    pub fn http_config(&self) -> &HttpConfig {
        &self.http
    }

    /// The gateway.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// `/auth/token/create`: exchanges an authorization code (and the optional AliExpress `uuid`)
    /// for a token set. Token calls go to [`Gateway::token_gateway`]: Lazada's auth host when
    /// the client's gateway is a Lazada country host.
    pub fn create_token(&self, code: &AuthCode, uuid: Option<&str>) -> Result<TokenSet> {
        let request = Request::new("/auth/token/create")?
            .param("code", code.secret())
            .param_opt("uuid", uuid);
        self.token_call(&request)
    }

    /// `/auth/token/refresh`: a new token set for a refresh token, from
    /// [`Gateway::token_gateway`]. Store the new refresh token: the old one may be invalid from
    /// now on.
    ///
    /// A refresh is not idempotent when the gateway rotates refresh tokens, so it is repeated
    /// only when the request surely did not arrive (or the gateway said so with a transient
    /// error); a timeout after sending is returned, never repeated.
    pub fn refresh_token(&self, refresh_token: &RefreshToken) -> Result<TokenSet> {
        let request =
            Request::new("/auth/token/refresh")?.param("refresh_token", refresh_token.secret());
        self.token_call(&request)
    }

    /// Calls any API; gateway error envelopes become [`crate::Error::Gateway`].
    pub fn call(
        &self,
        request: &Request,
        access_token: Option<&AccessToken>,
    ) -> Result<serde_json::Value> {
        self.execute(
            &self.gateway,
            request,
            access_token,
            |status, body, _, redactor| parse_response_redacting(status, body, redactor),
        )
        .result
    }

    /// Calls any API and returns the body as JSON even when it is a gateway error envelope
    /// (what the vendor SDKs' `execute` does). Transport and decode failures are still errors;
    /// retries apply as in [`Self::call`].
    pub fn call_raw(
        &self,
        request: &Request,
        access_token: Option<&AccessToken>,
    ) -> Result<serde_json::Value> {
        let (result, body) = self.call_keeping_body(request, access_token);
        raw_answer(result, body)
    }

    /// [`Self::call`], and the body of the last answer when it was a gateway error envelope
    /// (for [`raw_answer`]).
    pub(crate) fn call_keeping_body(
        &self,
        request: &Request,
        access_token: Option<&AccessToken>,
    ) -> (Result<serde_json::Value>, Option<Vec<u8>>) {
        let exchange = self.execute(
            &self.gateway,
            request,
            access_token,
            |status, body, _, redactor| parse_response_redacting(status, body, redactor),
        );
        let body = match &exchange.result {
            Err(Error::Gateway(_)) => exchange.last_response.map(|(_, body)| body),
            _ => None,
        };
        (exchange.result, body)
    }

    /// Stops the client: its idle pooled connections are closed now, and every later call
    /// fails with [`Error::InvalidRequest`] ("the client is closed"), also through the token
    /// managers that share it. Calls under way finish first. Dropping the last reference to a
    /// client closes its connections too; this is for code that wants them closed at a known
    /// moment (a `with` block, a shutdown) while references remain.
    pub fn close(&self) {
        self.transport.close();
    }

    /// A token call, sent to [`Gateway::token_gateway`] (Lazada's auth host for a Lazada
    /// country host).
    fn token_call(&self, request: &Request) -> Result<TokenSet> {
        self.execute(
            &self.gateway,
            request,
            None,
            |status, body, received_at, redactor| {
                TokenSet::from_value(
                    parse_response_redacting(status, body, redactor)?,
                    received_at,
                )
            },
        )
        .result
    }

    /// Signs, sends and parses `request`, repeating what is safe to repeat.
    fn execute<T>(
        &self,
        gateway: &Gateway,
        request: &Request,
        access_token: Option<&AccessToken>,
        parse: impl Fn(u16, &[u8], SystemTime, &Redactor) -> Result<T>,
    ) -> Exchange<T> {
        let api = request.api();
        // Token calls go to the token gateway, whichever method sent them.
        let gateway = &*gateway.for_api(api);
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut last_response = None;
            let started = Instant::now();
            let result = self
                .signed(gateway, request, access_token)
                .and_then(|(http_request, redactor)| {
                    Ok((self.transport.send(http_request)?, redactor))
                })
                .and_then(|(response, redactor)| {
                    let status = response.status().as_u16();
                    let body = response.into_body();
                    let parsed = parse(status, &body, self.clock.now(), &redactor);
                    last_response = Some((status, body));
                    parsed
                });
            let elapsed_ms = started.elapsed().as_millis();
            let status = last_response.as_ref().map(|(status, _)| *status);
            match &result {
                Ok(_) => {
                    if log::log_enabled!(target: "iop::client", log::Level::Debug) {
                        let request_id = last_response
                            .as_ref()
                            .and_then(|(_, body)| request_id_of(body));
                        log::debug!(
                            target: "iop::client",
                            "api={} style={} status={} elapsed_ms={elapsed_ms} request_id={} attempt={attempt} ok",
                            api.as_str(),
                            api.style().name(),
                            status.unwrap_or(0),
                            request_id.as_deref().unwrap_or("none"),
                        );
                    }
                }
                Err(error) => {
                    let delay = if attempt < max_attempts {
                        self.retry_delay(error, attempt)
                    } else {
                        None
                    };
                    log::log!(
                        target: "iop::client",
                        if delay.is_some() { log::Level::Info } else { log::Level::Warn },
                        "api={} style={} status={} elapsed_ms={elapsed_ms} request_id={} attempt={attempt} error={error}{}",
                        api.as_str(),
                        api.style().name(),
                        status.map_or_else(|| "none".to_owned(), |s| s.to_string()),
                        error.request_id().unwrap_or("none"),
                        delay.map_or_else(String::new, |d| format!(
                            "; retrying in {} ms",
                            d.as_millis()
                        )),
                    );
                    if let Some(delay) = delay {
                        (self.sleep)(delay);
                        continue;
                    }
                }
            }
            return Exchange {
                result,
                last_response,
            };
        }
    }

    /// The signed HTTP request, stamped with the clock's time in ms, and the secrets it sends.
    fn signed(
        &self,
        gateway: &Gateway,
        request: &Request,
        access_token: Option<&AccessToken>,
    ) -> Result<(http::Request<Vec<u8>>, Redactor)> {
        let timestamp_ms = crate::time::request_timestamp_ms(self.clock.now())?;
        request.to_http_redacting(gateway, &self.credentials, access_token, timestamp_ms)
    }

    /// How long to wait before another attempt after `error`, or `None` when repeating it is not
    /// safe or not useful.
    fn retry_delay(&self, error: &Error, attempt: u32) -> Option<Duration> {
        match error {
            // Never reached the gateway: safe for every call.
            Error::Transport { sent: false, .. } | Error::Timeout { sent: false, .. } => {
                Some(self.retry.backoff(attempt))
            }
            // A proxy's or the gateway's 5xx page: the call was not processed.
            Error::Decode { status, .. } if *status >= 500 => Some(self.retry.backoff(attempt)),
            Error::Gateway(gateway) => match gateway.class() {
                ErrorClass::RateLimited => gateway
                    .retry_after()
                    .filter(|ban| *ban <= self.retry.max_rate_limit_wait)
                    .map(|ban| ban.saturating_add(self.retry.jitter(self.retry.base_delay))),
                ErrorClass::Retryable => Some(self.retry.backoff(attempt)),
                ErrorClass::Unknown if gateway.status >= 500 => Some(self.retry.backoff(attempt)),
                _ => None,
            },
            // Timeouts and failures after sending may have been processed (a refresh with
            // rotation would then have burnt its token); everything else will fail again.
            _ => None,
        }
    }
}

/// What [`Client::call_raw`] answers for the outcome of [`Client::call_keeping_body`]: a
/// gateway error envelope as its JSON, anything else as it is.
pub(crate) fn raw_answer(
    result: Result<serde_json::Value>,
    body: Option<Vec<u8>>,
) -> Result<serde_json::Value> {
    match (result, body) {
        (Err(Error::Gateway(gateway)), Some(body)) => {
            // parse_response read this body as an envelope, so it is JSON.
            serde_json::from_slice(&body).map_err(|_| Error::Gateway(gateway))
        }
        (result, _) => result,
    }
}

/// The `request_id` of a successful answer, for the log: top level (GOP), or inside the one
/// `…_response` object (TOP).
fn request_id_of(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    let found = object.get("request_id").or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.ends_with("_response"))
            .and_then(|(_, inner)| inner.get("request_id"))
    })?;
    found.as_str().map(str::to_owned)
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1`: full jitter, uniform in
    /// `[0, min(max_delay, base_delay * 2^(attempt-1))]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let cap = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        self.jitter(cap)
    }

    /// Uniform in `[0, cap]`.
    fn jitter(&self, cap: Duration) -> Duration {
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_cap() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
            ..RetryPolicy::default()
        };
        for _ in 0..200 {
            assert!(policy.backoff(1) <= Duration::from_millis(100));
            assert!(policy.backoff(2) <= Duration::from_millis(200));
            assert!(policy.backoff(3) <= Duration::from_millis(250));
            assert!(policy.backoff(40) <= Duration::from_millis(250));
        }
    }

    #[test]
    fn lazada_token_calls_go_to_the_auth_host() {
        let hosts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&hosts);
        let transport = move |req: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>> {
            seen.lock().unwrap().push(req.uri().to_string());
            Ok(http::Response::new(
                br#"{"code":"0","access_token":"a","refresh_token":"r"}"#.to_vec(),
            ))
        };
        let client = Client::builder(
            "k",
            AppSecret::new("s"),
            Gateway::lazada(crate::gateway::LazadaCountry::Sg),
        )
        .transport(Arc::new(transport))
        .build()
        .unwrap();
        client.refresh_token(&RefreshToken::new("r")).unwrap();
        client.create_token(&AuthCode::new("c"), None).unwrap();
        client
            .call(&Request::new("/seller/get").unwrap(), None)
            .unwrap();
        // A token call made through `call` goes where `refresh_token` sends it.
        client
            .call(
                &Request::new("/auth/token/refresh")
                    .unwrap()
                    .param("refresh_token", "r"),
                None,
            )
            .unwrap();
        assert_eq!(
            *hosts.lock().unwrap(),
            [
                "https://auth.lazada.com/rest/auth/token/refresh",
                "https://auth.lazada.com/rest/auth/token/create",
                "https://api.lazada.sg/rest/seller/get",
                "https://auth.lazada.com/rest/auth/token/refresh",
            ]
        );
    }

    #[test]
    fn a_huge_ban_within_a_huge_wait_limit_does_not_overflow() {
        let body = br#"{"type":"ISV","code":"ApiCallLimit","message":"this ban will last 18446744073709551615 seconds"}"#;
        let transport = move |_: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>> {
            Ok(http::Response::new(body.to_vec()))
        };
        let slept = Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorder = Arc::clone(&slept);
        let client = Client::builder("k", AppSecret::new("s"), Gateway::aliexpress())
            .transport(Arc::new(transport))
            .retry(RetryPolicy {
                max_attempts: 2,
                // Jitter of up to centuries on top of a ban of u64::MAX seconds.
                base_delay: Duration::MAX,
                max_rate_limit_wait: Duration::MAX,
                ..RetryPolicy::default()
            })
            .retry_sleep(move |d| recorder.lock().unwrap().push(d))
            .build()
            .unwrap();
        let err = client.refresh_token(&RefreshToken::new("r")).unwrap_err();
        assert_eq!(err.class(), ErrorClass::RateLimited);
        let slept = slept.lock().unwrap();
        assert_eq!(slept.len(), 1);
        assert!(slept[0] >= Duration::from_secs(u64::MAX), "{slept:?}");
    }

    #[test]
    fn backoff_is_jittered() {
        let policy = RetryPolicy::default();
        let delays: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| policy.backoff(3)).collect();
        assert!(delays.len() > 1, "full jitter should vary: {delays:?}");
    }
}
