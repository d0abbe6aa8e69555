//! The error types of the crate. No message ever contains a secret.
//!
//! Reading the gateway's answers lives in [`crate::response`], masking secrets in
//! [`crate::redact`]; the names below are kept here too for existing users.

use std::time::Duration;

use crate::redact::Redactor;
pub(crate) use crate::response::{EnvelopeError, check_envelope};
pub use crate::response::{parse_response, parse_response_redacting};

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

impl ErrorClass {
    /// Every class, in declaration order.
    pub const ALL: [ErrorClass; 7] = [
        Self::Signature,
        Self::Reauthorize,
        Self::Refresh,
        Self::RateLimited,
        Self::Retryable,
        Self::Client,
        Self::Unknown,
    ];

    /// The class's name, stable for bindings, reports and logs: `signature`, `reauthorize`,
    /// `refresh`, `rate_limited`, `retryable`, `client`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signature => "signature",
            Self::Reauthorize => "reauthorize",
            Self::Refresh => "refresh",
            Self::RateLimited => "rate_limited",
            Self::Retryable => "retryable",
            Self::Client => "client",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// The class of the gateway error (`docs/src/concepts/protocol.md#errors`).
    ///
    /// Known codes decide first; then an `ISP`/`SYSTEM` type or an HTTP 5xx status means a
    /// transient platform failure; a message announcing a ban means a rate limit; anything else
    /// is [`ErrorClass::Unknown`].
    pub fn class(&self) -> ErrorClass {
        match self.code.as_str() {
            "IncompleteSignature" => return ErrorClass::Signature,
            "InvalidCode" | "IllegalRefreshToken" | "AUTH_TYPE_UNSUPPORTED" => {
                return ErrorClass::Reauthorize;
            }
            "IllegalAccessToken" => return ErrorClass::Refresh,
            "ApiCallLimit" | "AppCallLimit" | "901" | "7" => return ErrorClass::RateLimited,
            "MissingParameter"
            | "InsufficientPermission"
            | "InvalidApiPath"
            | "InvalidApi"
            | "AppNotSubscribed"
            | "InvalidAppKey"
            | "AppWhiteIpLimit"
            | "InvalidTimestamp"
            | "InvalidSignMethod"
            | "InvalidParameter"
            | "InvalidFormat"
            | "InvalidVersion"
            | "MethodNotAllowed" => {
                return ErrorClass::Client;
            }
            _ => {}
        }
        let platform = self
            .error_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("ISP") || t.eq_ignore_ascii_case("SYSTEM"));
        if platform || self.status >= 500 {
            ErrorClass::Retryable
        } else if self.ban_seconds().is_some() {
            ErrorClass::RateLimited
        } else {
            ErrorClass::Unknown
        }
    }

    /// For a rate limit, the ban read from "this ban will last N seconds".
    pub fn retry_after(&self) -> Option<Duration> {
        self.ban_seconds().map(Duration::from_secs)
    }

    /// N of "this ban will last N seconds" in `message` or `sub_msg`.
    fn ban_seconds(&self) -> Option<u64> {
        [self.message.as_deref(), self.sub_msg.as_deref()]
            .into_iter()
            .flatten()
            .find_map(ban_seconds_in)
    }
}

/// Finds "ban will last N second(s)" (ASCII case ignored) and returns N.
fn ban_seconds_in(text: &str) -> Option<u64> {
    const NEEDLE: &str = "ban will last";
    let lower = text.to_ascii_lowercase();
    let start = lower.find(NEEDLE)? + NEEDLE.len();
    let rest = lower[start..].trim_start();
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let n: u64 = rest[..digits_end].parse().ok()?;
    rest[digits_end..]
        .trim_start()
        .starts_with("second")
        .then_some(n)
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gateway error {}", self.code)?;
        if let Some(t) = &self.error_type {
            write!(f, " ({t})")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        if let Some(c) = &self.sub_code {
            write!(f, "; sub_code {c}")?;
        }
        if let Some(m) = &self.sub_msg {
            write!(f, ": {m}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request_id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for GatewayError {}

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
        /// Whether the request may have reached the gateway (false for a connect or name-lookup
        /// timeout: safe to repeat).
        sent: bool,
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
    /// No token set is stored for the seller `key`: the seller never authorized the app here,
    /// or was removed. Authorize the seller and store the token set first
    /// ([`crate::TokenManager::put`], [`crate::TokenManager::complete_authorization`]).
    UnknownSeller {
        /// The seller key asked for.
        key: String,
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
    /// A redirect back from the authorization page was refused before any code was exchanged:
    /// a missing or different `state`, the platform's `error`, no `code`.
    Authorization(crate::onboarding::CallbackError),
}

impl Error {
    /// The class: what the caller should do.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Gateway(g) => g.class(),
            Self::Decode { status, .. } if *status >= 500 => ErrorClass::Retryable,
            Self::Decode { .. } | Self::Store { .. } => ErrorClass::Unknown,
            Self::Transport { .. } | Self::Timeout { .. } => ErrorClass::Retryable,
            Self::InvalidRequest(_) | Self::UnknownSeller { .. } => ErrorClass::Client,
            Self::ReauthorizationRequired { .. } => ErrorClass::Reauthorize,
            Self::Authorization(_) => ErrorClass::Client,
        }
    }

    /// A store error like this one about `key` (one failure that hit several keys): the
    /// message is kept, the source is not.
    #[cfg(any(feature = "redis", feature = "postgres"))]
    pub(crate) fn for_key(&self, key: &str) -> Self {
        let message = match self {
            Self::Store { message, .. } => message.clone(),
            other => other.to_string(),
        };
        Self::Store {
            key: key.to_owned(),
            message,
            source: None,
        }
    }

    /// The gateway error, if this is one (or a reauthorization the gateway asked for).
    pub fn gateway(&self) -> Option<&GatewayError> {
        match self {
            Self::Gateway(g) => Some(g),
            Self::ReauthorizationRequired { gateway, .. } => gateway.as_ref(),
            _ => None,
        }
    }

    /// The gateway's `request_id`, if known.
    pub fn request_id(&self) -> Option<&str> {
        self.gateway().and_then(|g| g.request_id.as_deref())
    }

    /// How long to wait before retrying, for rate limits.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Gateway(g) if g.class() == ErrorClass::RateLimited => g.retry_after(),
            _ => None,
        }
    }

    /// A [`Error::Decode`] for `body`: the first characters, lossily decoded, with the values of
    /// secret fields (a truncated token set) and secret form parameters (a proxy page echoing
    /// the request) masked, at most [`SNIPPET_CHARS`] characters.
    pub fn decode(status: u16, body: &[u8]) -> Self {
        Self::decode_redacting(status, body, &Redactor::new())
    }

    /// [`Error::decode`], with every value of `redactor` (the secrets the request sent) removed
    /// too, whatever its shape in the body.
    pub fn decode_redacting(status: u16, body: &[u8], redactor: &Redactor) -> Self {
        Self::Decode {
            status,
            snippet: crate::redact::snippet(body, redactor),
        }
    }

    /// A [`Error::Decode`] for local input (a stored or user-given token set) that is not what
    /// was expected: `what` describes its shape, and nothing of the input is echoed (it may be
    /// a bare token).
    pub fn decode_local(what: impl Into<String>) -> Self {
        Self::Decode {
            status: 200,
            snippet: what.into(),
        }
    }
}

pub use crate::redact::SNIPPET_CHARS;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gateway(g) => g.fmt(f),
            Self::Decode { status, snippet } => write!(
                f,
                "HTTP {status}: the response is not the gateway's JSON: {snippet:?}"
            ),
            Self::Transport { message, sent, .. } => {
                write!(f, "transport error: {message}")?;
                if *sent {
                    f.write_str(" (the request may have reached the gateway)")?;
                }
                Ok(())
            }
            Self::Timeout { after, sent } => {
                let phase = if *sent { "" } else { " (connecting)" };
                write!(f, "timed out after {after:?}{phase}")
            }
            Self::InvalidRequest(m) => write!(f, "invalid request: {m}"),
            Self::Store { key, message, .. } if key.is_empty() => {
                write!(f, "token store: {message}")
            }
            Self::Store { key, message, .. } => write!(f, "token store, seller {key:?}: {message}"),
            Self::UnknownSeller { key } => write!(
                f,
                "unknown seller {key:?}: no token set is stored for it (authorize the seller and \
                 store its token set first)"
            ),
            Self::ReauthorizationRequired {
                key,
                reason,
                gateway,
            } => {
                write!(f, "seller {key:?} must authorize the app again: {reason}")?;
                if let Some(g) = gateway {
                    write!(f, " ({g})")?;
                }
                Ok(())
            }
            Self::Authorization(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport { source, .. } | Self::Store { source, .. } => source
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            Self::ReauthorizationRequired {
                gateway: Some(g), ..
            } => Some(g),
            Self::Authorization(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::onboarding::CallbackError> for Error {
    fn from(value: crate::onboarding::CallbackError) -> Self {
        Self::Authorization(value)
    }
}

impl From<GatewayError> for Error {
    fn from(value: GatewayError) -> Self {
        Self::Gateway(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gop(code: &str, ty: &str, message: &str) -> GatewayError {
        GatewayError {
            status: 200,
            error_type: Some(ty.to_owned()),
            code: code.to_owned(),
            message: Some(message.to_owned()),
            sub_code: None,
            sub_msg: None,
            request_id: Some("rid-1".to_owned()),
        }
    }

    #[test]
    fn a_store_error_names_its_seller_only_when_there_is_one() {
        let store = |key: &str| Error::Store {
            key: key.to_owned(),
            message: "server unreachable".to_owned(),
            source: None,
        };
        assert_eq!(store("").to_string(), "token store: server unreachable");
        assert_eq!(
            store("s-1").to_string(),
            "token store, seller \"s-1\": server unreachable"
        );
    }

    #[test]
    fn classes_follow_the_protocol_table() {
        let cases = [
            ("IncompleteSignature", "ISV", ErrorClass::Signature),
            ("MissingParameter", "ISV", ErrorClass::Client),
            ("InvalidCode", "ISV", ErrorClass::Reauthorize),
            ("IllegalRefreshToken", "ISV", ErrorClass::Reauthorize),
            ("AUTH_TYPE_UNSUPPORTED", "ISV", ErrorClass::Reauthorize),
            ("IllegalAccessToken", "ISV", ErrorClass::Refresh),
            ("InsufficientPermission", "ISV", ErrorClass::Client),
            ("InvalidApiPath", "ISV", ErrorClass::Client),
            ("InvalidApi", "ISV", ErrorClass::Client),
            ("AppNotSubscribed", "ISV", ErrorClass::Client),
            ("InvalidAppKey", "ISV", ErrorClass::Client),
            ("AppWhiteIpLimit", "ISV", ErrorClass::Client),
            ("InvalidTimestamp", "ISV", ErrorClass::Client),
            ("InvalidSignMethod", "ISV", ErrorClass::Client),
            ("InvalidParameter", "ISV", ErrorClass::Client),
            ("MethodNotAllowed", "ISV", ErrorClass::Client),
            ("ApiCallLimit", "ISV", ErrorClass::RateLimited),
            ("AppCallLimit", "ISV", ErrorClass::RateLimited),
            ("901", "ISV", ErrorClass::RateLimited),
            ("7", "ISP", ErrorClass::RateLimited),
            ("15", "ISP", ErrorClass::Retryable),
            ("Whatever", "SYSTEM", ErrorClass::Retryable),
            ("Whatever", "isp", ErrorClass::Retryable),
            ("SomethingNew", "ISV", ErrorClass::Unknown),
        ];
        for (code, ty, class) in cases {
            assert_eq!(gop(code, ty, "m").class(), class, "{code} {ty}");
        }
        let mut five_hundred = gop("SomethingNew", "ISV", "m");
        five_hundred.status = 503;
        assert_eq!(five_hundred.class(), ErrorClass::Retryable);
        // An unknown code announcing a ban is a rate limit.
        let ban = gop("NewLimit", "ISV", "slow down, this ban will last 3 seconds");
        assert_eq!(ban.class(), ErrorClass::RateLimited);
        assert_eq!(ban.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn errors_cross_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_send_sync::<GatewayError>();
    }

    #[test]
    fn ban_durations() {
        assert_eq!(ban_seconds_in("This ban will last 1 second."), Some(1));
        assert_eq!(
            ban_seconds_in("... THIS BAN WILL LAST 120 SECONDS"),
            Some(120)
        );
        assert_eq!(ban_seconds_in("this ban will last seconds"), None);
        assert_eq!(ban_seconds_in("this ban will last 5 minutes"), None);
        assert_eq!(
            ban_seconds_in("this ban will last 99999999999999999999999 seconds"),
            None
        );
        assert_eq!(ban_seconds_in("no ban"), None);
        let mut g = gop("ApiCallLimit", "ISV", "limit");
        assert_eq!(g.retry_after(), None);
        g.sub_msg = Some("this ban will last 4 seconds".to_owned());
        assert_eq!(g.retry_after(), Some(Duration::from_secs(4)));
    }

    #[test]
    fn error_accessors_and_display() {
        let e = Error::Gateway(gop("ApiCallLimit", "ISV", "this ban will last 2 seconds"));
        assert_eq!(e.class(), ErrorClass::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(e.request_id(), Some("rid-1"));
        let text = e.to_string();
        assert!(
            text.contains("ApiCallLimit") && text.contains("rid-1"),
            "{text}"
        );
        // A ban mentioned outside a rate limit gives no retry_after.
        let e = Error::Gateway(gop(
            "IllegalAccessToken",
            "ISV",
            "this ban will last 2 seconds",
        ));
        assert_eq!(e.retry_after(), None);

        let e = Error::ReauthorizationRequired {
            key: "seller-1".to_owned(),
            reason: "refresh token rejected".to_owned(),
            gateway: Some(gop("IllegalRefreshToken", "ISV", "m")),
        };
        assert_eq!(e.class(), ErrorClass::Reauthorize);
        assert_eq!(e.request_id(), Some("rid-1"));
        let source = std::error::Error::source(&e).expect("gateway error as source");
        assert!(source.to_string().contains("IllegalRefreshToken"));

        let io = std::io::Error::other("connection reset");
        let e = Error::Transport {
            message: "POST failed".to_owned(),
            sent: false,
            source: Some(Box::new(io)),
        };
        assert_eq!(e.class(), ErrorClass::Retryable);
        let source = std::error::Error::source(&e).expect("source");
        assert_eq!(source.to_string(), "connection reset");
        assert_eq!(
            Error::InvalidRequest("x".into()).class(),
            ErrorClass::Client
        );
        assert_eq!(
            Error::Timeout {
                after: Duration::from_secs(1),
                sent: true,
            }
            .class(),
            ErrorClass::Retryable
        );
        assert!(std::error::Error::source(&Error::InvalidRequest("x".into())).is_none());
    }
}
