//! One error type for the crate, and the parser that turns any gateway body into a value or an
//! error (PROTOCOL.md §6). No message ever contains a secret.

use std::time::Duration;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The signature was rejected (`IncompleteSignature`): wrong secret or a signing mistake.
    Signature,
    /// The seller must authorize the app again (`InvalidCode`, `IllegalRefreshToken`,
    /// `AUTH_TYPE_UNSUPPORTED`, or a refresh token known to be dead).
    Reauthorize,
    /// The access token is invalid or expired (`IllegalAccessToken`): refresh it.
    Refresh,
    /// Rate limited; wait [`Error::retry_after`] before trying again.
    RateLimited,
    /// A transient failure (ISP/SYSTEM errors, HTTP 5xx, connection failures, timeouts).
    Retryable,
    /// The request or the app's set-up is wrong; fix it, do not retry.
    Client,
    /// A gateway code this SDK does not know, or a body it could not decode.
    Unknown,
}

/// An error envelope from the gateway, GOP or TOP style, kept intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    /// HTTP status of the response.
    pub status: u16,
    /// `type`: `ISV`, `ISP` or `SYSTEM`.
    pub error_type: Option<String>,
    /// `code`, e.g. `IllegalRefreshToken`; open set, kept as text.
    pub code: String,
    /// `message` (GOP) or `msg` (TOP).
    pub message: Option<String>,
    /// `sub_code` (TOP).
    pub sub_code: Option<String>,
    /// `sub_msg` (TOP).
    pub sub_msg: Option<String>,
    /// `request_id`.
    pub request_id: Option<String>,
}

impl GatewayError {
    /// The class of PROTOCOL.md §6.
    pub fn class(&self) -> ErrorClass {
        todo!()
    }

    /// For a rate limit, the ban read from "this ban will last N seconds".
    pub fn retry_after(&self) -> Option<Duration> {
        todo!()
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let _ = f;
        todo!()
    }
}

/// Every error of this crate. Messages never contain a secret.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The gateway answered with an error envelope.
    Gateway(GatewayError),
    /// The body was not the gateway's JSON (an HTML page, empty, truncated, not an object).
    Decode {
        /// HTTP status.
        status: u16,
        /// The first bytes of the body, lossily decoded, at most 200 characters.
        snippet: String,
    },
    /// The request could not be delivered or its answer could not be read.
    Transport {
        /// What failed (no URL parameters, no secret).
        message: String,
        /// Whether the request may have reached the gateway (false: safe to repeat).
        sent: bool,
        /// The underlying error.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A connect, read or overall deadline passed.
    Timeout {
        /// The limit that passed.
        after: Duration,
    },
    /// The request was refused before anything was signed or sent (bad API name, bad URL, …).
    InvalidRequest(String),
    /// A token store failed to load or save the token of `key`.
    Store {
        /// The seller key.
        key: String,
        /// What went wrong.
        message: String,
        /// The underlying error.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The seller of `key` must authorize the app again (refresh token dead or missing).
    ReauthorizationRequired {
        /// The seller key.
        key: String,
        /// Why, in words (no secret).
        reason: String,
        /// The gateway error that said so, if any.
        gateway: Option<GatewayError>,
    },
}

impl Error {
    /// The class: what the caller should do.
    pub fn class(&self) -> ErrorClass {
        todo!()
    }

    /// The gateway error, if this is one.
    pub fn gateway(&self) -> Option<&GatewayError> {
        todo!()
    }

    /// The gateway's `request_id`, if known.
    pub fn request_id(&self) -> Option<&str> {
        todo!()
    }

    /// How long to wait before retrying, for rate limits.
    pub fn retry_after(&self) -> Option<Duration> {
        todo!()
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let _ = f;
        todo!()
    }
}

impl std::error::Error for Error {}

/// Turns a response (status and body, whatever the status) into the JSON value of a success, or
/// the typed error: a GOP or TOP error envelope into [`Error::Gateway`]; a body that is not a
/// JSON object into [`Error::Decode`] with the status and a short snippet. Never panics.
pub fn parse_response(status: u16, body: &[u8]) -> Result<serde_json::Value> {
    todo!("{status}{}", body.len())
}
