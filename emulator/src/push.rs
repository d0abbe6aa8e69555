//! Lazada push messages: signed POSTs to a loopback receiver, retried every 30 minutes of
//! virtual time (at most 12 attempts), and the automatic "authorization about to expire" push
//! (type 8) for sellers within 48 hours of their refresh token's expiry.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use sha2::Sha256;

use crate::clock::epoch_ms;

/// Time the receiver has to answer 200.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_millis(500);
/// Virtual time between two attempts.
pub(crate) const RETRY_EVERY: Duration = Duration::from_secs(30 * 60);
/// Attempts at most, the first included.
pub(crate) const MAX_ATTEMPTS: usize = 12;
/// Type 8 is sent for refresh tokens expiring within this.
pub(crate) const EXPIRY_NOTICE: Duration = Duration::from_secs(48 * 3600);

/// One delivery attempt of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAttempt {
    /// When it was made, on the virtual clock.
    pub at: SystemTime,
    /// The receiver's HTTP status, when it answered in time.
    pub status: Option<u16>,
    /// Why there is no status: `timeout`, or the connection error.
    pub error: Option<String>,
}

/// A push message and what became of it (see [`crate::Emulator::push`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushDelivery {
    /// Its number, from 1, in the order created.
    pub id: u64,
    /// Where it is sent.
    pub url: String,
    /// The seller it is about.
    pub seller_id: String,
    /// Lazada's message type (0 trade order, 8 authorization about to expire, …).
    pub message_type: i64,
    /// The exact body sent (JSON), which the `Authorization` header signs.
    pub body: String,
    /// Every attempt so far, oldest first.
    pub attempts: Vec<PushAttempt>,
    /// Whether an attempt got HTTP 200.
    pub delivered: bool,
    /// When the next attempt is due (virtual time); `None` once delivered or given up.
    pub next_attempt: Option<SystemTime>,
}

impl PushDelivery {
    /// The log entry as JSON.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "url": self.url,
            "seller_id": self.seller_id,
            "message_type": self.message_type,
            "body": self.body,
            "delivered": self.delivered,
            "next_attempt_ms": self.next_attempt.map(epoch_ms),
            "attempts": self.attempts.iter().map(|a| serde_json::json!({
                "at_ms": epoch_ms(a.at),
                "status": a.status,
                "error": a.error,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Pushes made so far and the automatic type-8 setting.
#[derive(Debug, Default)]
pub(crate) struct Pushes {
    pub(crate) log: Vec<PushDelivery>,
    /// Where type 8 goes by itself, when on.
    pub(crate) auto_expiring: Option<String>,
    /// Refresh tokens already announced by a type 8.
    pub(crate) announced: HashSet<String>,
}

/// Checks that `url` is `http://` to a loopback address; answers host:port and the request
/// target.
pub(crate) fn check_url(url: &str) -> Result<(String, String), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "url is not a valid URL".to_owned())?;
    if uri.scheme_str() != Some("http") {
        return Err("url must start with http:// (the emulator pushes to loopback only)".into());
    }
    let host = uri.host().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err("url must name a loopback address (127.0.0.1, [::1] or localhost)".into());
    }
    let port = uri.port_u16().unwrap_or(80);
    let authority = if bare.eq_ignore_ascii_case("localhost") {
        format!("127.0.0.1:{port}")
    } else if bare.contains(':') {
        format!("[{bare}]:{port}")
    } else {
        format!("{bare}:{port}")
    };
    let target = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    Ok((authority, target))
}

/// Lowercase hex of HMAC-SHA256(key = app secret, message = app key + body).
pub(crate) fn signature(app_key: &str, app_secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(app_key.as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// One POST to `url`: the status, or why there is none, within [`ANSWER_WITHIN`].
pub(crate) async fn attempt(url: &str, body: &str, authorization: &str) -> Result<u16, String> {
    let (authority, target) = check_url(url)?;
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| format!("http: {e}"))?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::post(target)
            .header(hyper::header::HOST, authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::AUTHORIZATION, authorization)
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .map_err(|e| format!("request: {e}"))?;
        let answer = sender.send_request(request).await;
        driver.abort();
        answer
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("http: {e}"))
    };
    match tokio::time::timeout(ANSWER_WITHIN, exchange).await {
        Ok(result) => result,
        Err(_) => Err("timeout".into()),
    }
}
