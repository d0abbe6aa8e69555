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

    /// Reads a GOP envelope or the inside of TOP's `error_response`. `outer` is the whole body,
    /// where a TOP `request_id` may sit instead.
    fn from_envelope(
        status: u16,
        fields: &serde_json::Map<String, serde_json::Value>,
        outer: &serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        let text = |key: &str| fields.get(key).and_then(json_text);
        Self {
            status,
            error_type: text("type"),
            code: text("code").unwrap_or_default(),
            message: text("message").or_else(|| text("msg")),
            sub_code: text("sub_code"),
            sub_msg: text("sub_msg"),
            request_id: text("request_id").or_else(|| outer.get("request_id").and_then(json_text)),
        }
    }
}

/// A JSON string as is, a number or boolean as its text; `null`, arrays and objects: `None`.
fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
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
        match self {
            Self::Gateway(g) => g.class(),
            Self::Decode { status, .. } if *status >= 500 => ErrorClass::Retryable,
            Self::Decode { .. } | Self::Store { .. } => ErrorClass::Unknown,
            Self::Transport { .. } | Self::Timeout { .. } => ErrorClass::Retryable,
            Self::InvalidRequest(_) => ErrorClass::Client,
            Self::ReauthorizationRequired { .. } => ErrorClass::Reauthorize,
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
        Self::Decode {
            status,
            snippet: snippet(body),
        }
    }
}

/// The most characters [`Error::Decode`] keeps of a body.
pub const SNIPPET_CHARS: usize = 200;

/// JSON keys whose string values are secrets, masked in snippets.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "session",
    "app_secret",
    "sign",
];

/// Form parameters whose values are secrets, masked in snippets: an error page of a proxy or
/// firewall may echo the request's URL (a GET call's query) or its form body.
const SECRET_FORM_KEYS: &[&str] = &["access_token", "refresh_token", "session", "sign", "code"];

/// The first [`SNIPPET_CHARS`] characters of `body` with secret values masked.
fn snippet(body: &[u8]) -> String {
    // Mask over a longer prefix than is kept, so a value cut at the end is masked too.
    let head = &body[..body.len().min(4 * SNIPPET_CHARS)];
    let mut text = String::from_utf8_lossy(head).into_owned();
    for key in SECRET_KEYS {
        text = mask_json_string_values(&text, key);
    }
    for key in SECRET_FORM_KEYS {
        text = mask_form_values(&text, key);
    }
    text.chars().take(SNIPPET_CHARS).collect()
}

/// Replaces the value after every `key=` that starts a form parameter (at the start, or after
/// a character that cannot be part of a parameter name) with `[redacted]`, up to the next `&`,
/// quote, `<`, whitespace or the end.
fn mask_form_values(text: &str, key: &str) -> String {
    let needle = format!("{key}=");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        let starts_name = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.'));
        let after = at + needle.len();
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        if !starts_name {
            continue;
        }
        let end = rest
            .find(|c: char| matches!(c, '&' | '"' | '\'' | '<') || c.is_whitespace())
            .unwrap_or(rest.len());
        if end > 0 {
            out.push_str("[redacted]");
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Replaces the string value after every `"key"` followed by `:` with `[redacted]`.
fn mask_json_string_values(text: &str, key: &str) -> String {
    let quoted = format!("\"{key}\"");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&quoted) {
        let after_key = at + quoted.len();
        out.push_str(&rest[..after_key]);
        rest = &rest[after_key..];
        let trimmed = rest.trim_start();
        let Some(after_colon) = trimmed.strip_prefix(':') else {
            continue;
        };
        let value = after_colon.trim_start();
        let Some(inner) = value.strip_prefix('"') else {
            continue;
        };
        out.push_str(&rest[..rest.len() - value.len()]);
        out.push_str("\"[redacted]");
        // Skip the string, honouring escapes; an unterminated string runs to the end.
        let mut end = inner.len();
        let mut escaped = false;
        for (i, c) in inner.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = i;
                break;
            }
        }
        rest = &inner[end..];
    }
    out.push_str(rest);
    out
}

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
            Self::Store { key, message, .. } => write!(f, "token store, seller {key:?}: {message}"),
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
            _ => None,
        }
    }
}

impl From<GatewayError> for Error {
    fn from(value: GatewayError) -> Self {
        Self::Gateway(value)
    }
}

/// Turns a response (status and body, whatever the status) into the JSON value of a success, or
/// the typed error: a GOP or TOP error envelope into [`Error::Gateway`]; a body that is not a
/// JSON object into [`Error::Decode`] with the status and a short snippet. Never panics.
///
/// Success is a JSON object with no `error_response` whose `code` is absent, `null`, empty,
/// `"0"` or `0`.
///
/// ```
/// use iop_core::{ErrorClass, parse_response};
/// let err = parse_response(200, br#"{"type":"ISV","code":"IllegalAccessToken","request_id":"r1"}"#)
///     .unwrap_err();
/// assert_eq!(err.class(), ErrorClass::Refresh);
/// assert_eq!(err.request_id(), Some("r1"));
/// assert!(parse_response(200, br#"{"code":"0","data":1}"#).is_ok());
/// ```
pub fn parse_response(status: u16, body: &[u8]) -> Result<serde_json::Value> {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return Err(Error::decode(status, body)),
    };
    let serde_json::Value::Object(map) = &value else {
        return Err(Error::decode(status, body));
    };
    match check_envelope(status, map) {
        Ok(()) => Ok(value),
        Err(EnvelopeError::Gateway(g)) => Err(Error::Gateway(g)),
        Err(EnvelopeError::Malformed) => Err(Error::decode(status, body)),
    }
}

/// Why a JSON object is not a success.
pub(crate) enum EnvelopeError {
    /// A GOP or TOP error envelope.
    Gateway(GatewayError),
    /// `error_response` that is not an object.
    Malformed,
}

/// Checks the envelope of a JSON object: success when there is no `error_response` and `code`
/// is absent, `null`, empty, `"0"` or `0`.
pub(crate) fn check_envelope(
    status: u16,
    map: &serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<(), EnvelopeError> {
    if let Some(inner) = map.get("error_response") {
        return match inner {
            serde_json::Value::Object(fields) => Err(EnvelopeError::Gateway(
                GatewayError::from_envelope(status, fields, map),
            )),
            _ => Err(EnvelopeError::Malformed),
        };
    }
    let failed = match map.get("code") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::String(s)) => !(s.is_empty() || s == "0"),
        Some(serde_json::Value::Number(n)) => n.as_i64() != Some(0) && n.as_u64() != Some(0),
        Some(_) => true,
    };
    if failed {
        return Err(EnvelopeError::Gateway(GatewayError::from_envelope(
            status, map, map,
        )));
    }
    Ok(())
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

    #[test]
    fn success_and_failure_envelopes() {
        for ok in [
            r#"{}"#,
            r#"{"code":"0"}"#,
            r#"{"code":0,"data":{}}"#,
            r#"{"code":null}"#,
            r#"{"code":""}"#,
        ] {
            assert!(parse_response(200, ok.as_bytes()).is_ok(), "{ok}");
        }
        let e = parse_response(400, br#"{"code":"InvalidApi","type":"ISV","message":"m"}"#)
            .unwrap_err();
        let g = e.gateway().unwrap();
        assert_eq!((g.status, g.code.as_str()), (400, "InvalidApi"));
        let e = parse_response(200, br#"{"code":7}"#).unwrap_err();
        assert_eq!(e.class(), ErrorClass::RateLimited);
        // TOP request_id outside error_response.
        let e = parse_response(
            200,
            br#"{"error_response":{"code":"15","msg":"x"},"request_id":"r9"}"#,
        )
        .unwrap_err();
        assert_eq!(e.request_id(), Some("r9"));
        for bad in [
            "",
            "   ",
            "[1,2]",
            "\"x\"",
            "42",
            "null",
            "{\"a\":",
            r#"{"error_response":"x"}"#,
        ] {
            match parse_response(502, bad.as_bytes()) {
                Err(Error::Decode { status: 502, .. }) => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn snippets_are_short_and_mask_secrets() {
        let long = "x".repeat(1000);
        assert_eq!(snippet(long.as_bytes()).len(), SNIPPET_CHARS);
        let s =
            snippet(br#"{"access_token" : "abc\"def","refresh_token":"ghi","x":"y","sign":"S"}"#);
        assert_eq!(
            s,
            r#"{"access_token" : "[redacted]","refresh_token":"[redacted]","x":"y","sign":"[redacted]"}"#
        );
        assert_eq!(
            snippet(br#"{"access_token":"abc"#),
            r#"{"access_token":"[redacted]"#
        );
        assert_eq!(
            snippet(br#"{"access_token":null}"#),
            r#"{"access_token":null}"#
        );
        assert_eq!(snippet(b"\xff\xfe<html>"), "\u{fffd}\u{fffd}<html>");
        // A proxy page echoing the URL of a GET call or a form body.
        let page = "<p>Blocked: /rest/order/get?app_key=k&access_token=AT1&sign=S1&design=ok \
                    body refresh_token=RT1\ncode=C1</p>";
        let s = snippet(page.as_bytes());
        for secret in ["AT1", "S1", "RT1", "C1"] {
            assert!(!s.contains(secret), "{s}");
        }
        assert!(
            s.contains("app_key=k&access_token=[redacted]&sign=[redacted]&design=ok"),
            "{s}"
        );
        // JSON is left to the JSON masking: `"code":"0"` stays readable.
        assert_eq!(
            snippet(br#"{"code":"IllegalRefreshToken"}"#),
            r#"{"code":"IllegalRefreshToken"}"#
        );
    }
}
