//! The client: signs, sends, parses and retries what is safe to retry.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::Result;
use crate::gateway::Gateway;
use crate::request::{Credentials, Request};
use crate::secret::{AccessToken, AppSecret, AuthCode, RefreshToken};
use crate::sign::SignMethod;
use crate::token::TokenSet;
use crate::transport::{HttpConfig, Transport};

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

/// Builds a [`Client`].
pub struct ClientBuilder {
    credentials: Credentials,
    gateway: Gateway,
    http: HttpConfig,
    transport: Option<Arc<dyn Transport>>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
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

    /// Builds the client (and the HTTP agent unless a transport was given).
    pub fn build(self) -> Result<Client> {
        todo!("{:?}{:?}", self.gateway, self.retry)
    }
}

/// A client for one app on one gateway. `Send + Sync`: one client serves every thread.
pub struct Client {
    credentials: Credentials,
    gateway: Gateway,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("app_key", &self.credentials.app_key)
            .field("gateway", &self.gateway)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
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
        }
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

    /// `/auth/token/create`: exchanges an authorization code (and the optional AliExpress `uuid`)
    /// for a token set.
    pub fn create_token(&self, code: &AuthCode, uuid: Option<&str>) -> Result<TokenSet> {
        todo!(
            "{code:?}{uuid:?}{:?}",
            self.transport.send(http::Request::default()).is_ok()
        )
    }

    /// `/auth/token/refresh`: a new token set for a refresh token. Store the new refresh token:
    /// the old one may be invalid from now on.
    pub fn refresh_token(&self, refresh_token: &RefreshToken) -> Result<TokenSet> {
        todo!("{refresh_token:?}{:?}", self.clock.now())
    }

    /// Calls any API; gateway error envelopes become [`crate::Error::Gateway`].
    pub fn call(
        &self,
        request: &Request,
        access_token: Option<&AccessToken>,
    ) -> Result<serde_json::Value> {
        todo!("{request:?}{access_token:?}")
    }

    /// Calls any API and returns the body as JSON even when it is a gateway error envelope
    /// (what the vendor SDKs' `execute` does). Transport and decode failures are still errors;
    /// retries apply as in [`Self::call`].
    pub fn call_raw(
        &self,
        request: &Request,
        access_token: Option<&AccessToken>,
    ) -> Result<serde_json::Value> {
        todo!("{request:?}{access_token:?}")
    }
}
