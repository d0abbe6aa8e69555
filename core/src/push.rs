//! Lazada push messages (docs/src/concepts/protocol.md#push-messages): verify the signature over
//! the raw body, parse the message, and name it for deduplication.
//!
//! Lazada POSTs JSON to the app's callback URL with the header
//! `Authorization: <hex>`, where `hex` is HMAC-SHA256 (key = app secret, message = app key + the
//! body bytes exactly as received). Verify **before** parsing, over the bytes you received:
//! parsing and re-serialising the JSON changes them. Acknowledge with HTTP 200 within 500 ms and
//! do the work on your own queue; delivery is at least once, so deduplicate with
//! [`Message::dedup_key`].
//!
//! ```
//! use iop_core::AppSecret;
//! use iop_core::push::{self, MessageType};
//!
//! let secret = AppSecret::new("app-secret");
//! let body = br#"{"seller_id":"1001","message_type":8,"data":{},"timestamp":1700000000000,"site":"lazada_sg"}"#;
//! let header = push::signature("app-key", &secret, body); // what Lazada sends
//! assert!(push::verify("app-key", &secret, body, Some(&header)));
//! assert!(!push::verify("app-key", &secret, b"{}", Some(&header)));
//!
//! let message = push::parse(body)?;
//! assert_eq!(message.message_type, MessageType::AuthorizationExpiring);
//! assert_eq!(message.seller_id.as_deref(), Some("1001"));
//! # Ok::<(), iop_core::push::PushError>(())
//! ```
//!
//! AliExpress push messages are not covered: their signature scheme is not documented.

use std::time::{Duration, SystemTime};

use hmac::Mac as _;
use serde_json::{Map, Value};

use crate::secret::AppSecret;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Why a push was refused or could not be read. Messages never contain the body or the header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError {
    /// No `Authorization` header (or an empty one).
    MissingSignature,
    /// The header is not 64 hexadecimal digits.
    MalformedSignature,
    /// The header is well formed but is not the signature of this body by this app.
    SignatureMismatch,
    /// The body is not a push message (not a JSON object, or a field has the wrong type).
    InvalidBody(&'static str),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingSignature => f.write_str("push without an Authorization header"),
            Self::MalformedSignature => {
                f.write_str("push Authorization header is not 64 hexadecimal digits")
            }
            Self::SignatureMismatch => f.write_str(
                "push signature does not match (wrong app key or secret, or the body was changed)",
            ),
            Self::InvalidBody(why) => write!(f, "push body is not a push message: {why}"),
        }
    }
}

impl std::error::Error for PushError {}

fn mac(app_key: &str, app_secret: &AppSecret, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(app_secret.secret().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(app_key.as_bytes());
    mac.update(body);
    mac
}

/// The signature Lazada puts in the `Authorization` header of a push of `body`: lowercase hex of
/// HMAC-SHA256(key = app secret, message = app key + body). Useful to test a receiver.
pub fn signature(app_key: &str, app_secret: &AppSecret, body: &[u8]) -> String {
    hex::encode(mac(app_key, app_secret, body).finalize().into_bytes())
}

/// Checks the `Authorization` header of a push against the raw body, in constant time; either
/// hex case is accepted, surrounding whitespace is ignored. The typed reason on failure.
pub fn check(
    app_key: &str,
    app_secret: &AppSecret,
    body: &[u8],
    authorization: Option<&str>,
) -> Result<(), PushError> {
    let header = authorization
        .map(|h| h.trim_matches(|c: char| c.is_ascii_whitespace()))
        .filter(|h| !h.is_empty())
        .ok_or(PushError::MissingSignature)?;
    let mut expected = [0u8; 32];
    if header.len() != 64 || hex::decode_to_slice(header, &mut expected).is_err() {
        return Err(PushError::MalformedSignature);
    }
    mac(app_key, app_secret, body)
        .verify_slice(&expected)
        .map_err(|_| PushError::SignatureMismatch)
}

/// `true` when `authorization` is the signature of `body` by this app ([`check`] without the
/// reason). A missing, short or non-hex header is `false`.
pub fn verify(
    app_key: &str,
    app_secret: &AppSecret,
    body: &[u8],
    authorization: Option<&str>,
) -> bool {
    check(app_key, app_secret, body, authorization).is_ok()
}

/// The `message_type` of a push. Unknown numbers are kept as [`MessageType::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// 0: a trade order's status changed (`trade_order_id`, `trade_order_line_id`, `order_status`).
    TradeOrder,
    /// 1: product quality control.
    ProductQc,
    /// 3: a product was created.
    ProductCreated,
    /// 4: a product was updated.
    ProductUpdated,
    /// 5: a product was deleted.
    ProductDeleted,
    /// 8: the seller's authorization expires within 48 hours (sent once a day).
    AuthorizationExpiring,
    /// 10: a reverse order (return, refund, cancellation).
    ReverseOrder,
    /// 12: the category tree changed (no seller).
    CategoryTree,
    /// 13: the seller's status changed (for example `close`).
    SellerStatus,
    /// 35: a JIT purchase order.
    JitPurchaseOrder,
    /// Any other number, kept as sent.
    Other(i64),
}

impl MessageType {
    /// The type of a `message_type` number.
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Self::TradeOrder,
            1 => Self::ProductQc,
            3 => Self::ProductCreated,
            4 => Self::ProductUpdated,
            5 => Self::ProductDeleted,
            8 => Self::AuthorizationExpiring,
            10 => Self::ReverseOrder,
            12 => Self::CategoryTree,
            13 => Self::SellerStatus,
            35 => Self::JitPurchaseOrder,
            other => Self::Other(other),
        }
    }

    /// The `message_type` number.
    pub fn code(self) -> i64 {
        match self {
            Self::TradeOrder => 0,
            Self::ProductQc => 1,
            Self::ProductCreated => 3,
            Self::ProductUpdated => 4,
            Self::ProductDeleted => 5,
            Self::AuthorizationExpiring => 8,
            Self::ReverseOrder => 10,
            Self::CategoryTree => 12,
            Self::SellerStatus => 13,
            Self::JitPurchaseOrder => 35,
            Self::Other(code) => code,
        }
    }

    /// A stable lowercase name (`"trade_order"`, …, `"other"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TradeOrder => "trade_order",
            Self::ProductQc => "product_qc",
            Self::ProductCreated => "product_created",
            Self::ProductUpdated => "product_updated",
            Self::ProductDeleted => "product_deleted",
            Self::AuthorizationExpiring => "authorization_expiring",
            Self::ReverseOrder => "reverse_order",
            Self::CategoryTree => "category_tree",
            Self::SellerStatus => "seller_status",
            Self::JitPurchaseOrder => "jit_purchase_order",
            Self::Other(_) => "other",
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Other(code) => write!(f, "other({code})"),
            known => f.write_str(known.as_str()),
        }
    }
}

/// A parsed push message. Fields mirror the body; `data` is kept as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The seller the message is about (`None` for messages with no seller, such as type 12).
    /// Numbers are kept as their decimal text.
    pub seller_id: Option<String>,
    /// The message type.
    pub message_type: MessageType,
    /// The type-specific payload, as sent (`Value::Null` when absent).
    pub data: Value,
    /// When Lazada created the message, epoch milliseconds.
    pub timestamp_ms: Option<i64>,
    /// The site, for example `lazada_vn`.
    pub site: Option<String>,
}

/// The largest body [`parse`] reads: a push is a few hundred bytes; this keeps hostile input cheap.
pub const MAX_BODY: usize = 1 << 20;

/// How far a message's `timestamp` may be from now for the message to be acted on, by default
/// ([`Message::is_within`], [`crate::TokenManager::handle_push`]): 15 minutes.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The widest window [`crate::TokenManager::handle_push`] accepts: 12 hours (Lazada retries an
/// unacknowledged push for 6 hours).
pub const MAX_WINDOW: Duration = Duration::from_secs(12 * 3600);

fn text_or_number(value: Option<&Value>, field: &'static str) -> Result<Option<String>, PushError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(PushError::InvalidBody(field)),
    }
}

fn integer(value: Option<&Value>, field: &'static str) -> Result<Option<i64>, PushError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(PushError::InvalidBody(field)),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| PushError::InvalidBody(field)),
        Some(_) => Err(PushError::InvalidBody(field)),
    }
}

/// Parses a push body (verify it first with [`check`] or [`verify`]). Numbers sent as strings and
/// ids sent as numbers are accepted; unknown fields are ignored; unknown types are kept.
pub fn parse(body: &[u8]) -> Result<Message, PushError> {
    if body.len() > MAX_BODY {
        return Err(PushError::InvalidBody("larger than 1 MiB"));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|_| PushError::InvalidBody("not JSON"))?;
    let Value::Object(mut object) = value else {
        return Err(PushError::InvalidBody("not a JSON object"));
    };
    let code = integer(object.get("message_type"), "message_type is not an integer")?
        .ok_or(PushError::InvalidBody("no message_type"))?;
    Ok(Message {
        seller_id: text_or_number(object.get("seller_id"), "seller_id is not text")?,
        message_type: MessageType::from_code(code),
        timestamp_ms: integer(object.get("timestamp"), "timestamp is not an integer")?,
        site: text_or_number(object.get("site"), "site is not text")?,
        data: object.remove("data").unwrap_or(Value::Null),
    })
}

impl Message {
    /// A key naming this event, the same for every delivery of it: store the keys you handled
    /// and drop a push whose key you have seen (delivery is at least once).
    ///
    /// Orders (types 0 and 10) are keyed by their line, status and status time, so that each
    /// status change of one order line is its own event; every other type by seller, timestamp
    /// and a digest of `data` (with object keys sorted, so the key does not depend on the
    /// order of fields in the body).
    pub fn dedup_key(&self) -> String {
        let seller = self.seller_id.as_deref().unwrap_or("-");
        let code = self.message_type.code();
        if matches!(
            self.message_type,
            MessageType::TradeOrder | MessageType::ReverseOrder
        ) {
            let field = |name: &str| match self.data.get(name) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            let line = [
                "reverse_order_line_id",
                "trade_order_line_id",
                "reverse_order_id",
                "trade_order_id",
            ]
            .iter()
            .map(|name| field(name))
            .find(|v| !v.is_empty());
            if let Some(line) = line {
                return format!(
                    "lazada:{code}:{seller}:{line}:{}:{}",
                    field("order_status"),
                    field("status_update_time")
                );
            }
        }
        let ts = self
            .timestamp_ms
            .map_or_else(|| "-".to_owned(), |t| t.to_string());
        format!(
            "lazada:{code}:{seller}:{ts}:{}",
            digest(&canonical(&self.data))
        )
    }

    /// Whether the message's `timestamp` is at most `window` away from `now` (before or after):
    /// a message outside it is an old one replayed (or the sender's clock is that far off) and
    /// is not acted on. A message without a timestamp is outside every window.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let message = iop_core::push::parse(br#"{"message_type":8,"timestamp":1700000000000}"#)?;
    /// let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
    /// let window = iop_core::push::DEFAULT_WINDOW;
    /// assert!(message.is_within(now + Duration::from_secs(60), window));
    /// assert!(!message.is_within(now + Duration::from_secs(3600), window));
    /// # Ok::<(), iop_core::push::PushError>(())
    /// ```
    pub fn is_within(&self, now: SystemTime, window: Duration) -> bool {
        let window = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        self.timestamp_ms
            .is_some_and(|sent| crate::time::epoch_ms(now).abs_diff(sent) <= window)
    }

    /// For a type 13 (seller status) message, the status it announces (for example `close`).
    pub fn seller_status(&self) -> Option<&str> {
        if self.message_type != MessageType::SellerStatus {
            return None;
        }
        ["status", "seller_status", "action"]
            .iter()
            .find_map(|name| self.data.get(*name).and_then(Value::as_str))
    }
}

/// `value` with every object's keys sorted, nested objects included.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn digest(value: &Value) -> String {
    use sha2::Digest as _;
    let text = value.to_string();
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> AppSecret {
        AppSecret::new("s3cret")
    }

    #[test]
    fn check_names_each_failure() {
        let body = br#"{"message_type":0}"#;
        let good = signature("k", &secret(), body);
        assert_eq!(good.len(), 64);
        assert_eq!(check("k", &secret(), body, Some(&good)), Ok(()));
        assert_eq!(
            check("k", &secret(), body, Some(&good.to_uppercase())),
            Ok(())
        );
        assert_eq!(
            check("k", &secret(), body, Some(&format!(" {good}\r\n"))),
            Ok(())
        );
        assert_eq!(
            check("k", &secret(), body, None),
            Err(PushError::MissingSignature)
        );
        assert_eq!(
            check("k", &secret(), body, Some("  ")),
            Err(PushError::MissingSignature)
        );
        for bad in [&good[..63], "zz", &format!("{good}00"), &"g".repeat(64)] {
            assert_eq!(
                check("k", &secret(), body, Some(bad)),
                Err(PushError::MalformedSignature),
                "{bad}"
            );
        }
        assert_eq!(
            check("other", &secret(), body, Some(&good)),
            Err(PushError::SignatureMismatch)
        );
        // Multi-byte text in a header never panics on slicing.
        assert!(!verify("k", &secret(), body, Some(&"é".repeat(32))));
    }

    #[test]
    fn parse_is_lenient_with_types_and_strict_with_shape() {
        let m = parse(br#"{"seller_id":1001,"message_type":"35","timestamp":"17","data":{"a":1}}"#)
            .expect("parses");
        assert_eq!(m.seller_id.as_deref(), Some("1001"));
        assert_eq!(m.message_type, MessageType::JitPurchaseOrder);
        assert_eq!(m.timestamp_ms, Some(17));
        assert_eq!(m.site, None);
        let m = parse(br#"{"message_type":99,"data":[1,2]}"#).expect("parses");
        assert_eq!(m.message_type, MessageType::Other(99));
        assert_eq!(m.data, serde_json::json!([1, 2]));
        for bad in [
            &b"[]"[..],
            b"",
            b"{}",
            b"{\"message_type\":1.5}",
            b"{\"message_type\":true}",
            b"{\"message_type\":0,\"seller_id\":{}}",
            b"\xff",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dedup_keys_name_events_not_deliveries() {
        let a = parse(br#"{"seller_id":"1","message_type":0,"timestamp":5,"data":{"trade_order_line_id":"77","order_status":"shipped","status_update_time":9}}"#).expect("a");
        let again = parse(br#"{"timestamp":6,"message_type":0,"seller_id":"1","data":{"status_update_time":9,"order_status":"shipped","trade_order_line_id":"77"}}"#).expect("again");
        let next = parse(br#"{"seller_id":"1","message_type":0,"timestamp":7,"data":{"trade_order_line_id":"77","order_status":"delivered","status_update_time":12}}"#).expect("next");
        assert_eq!(a.dedup_key(), again.dedup_key());
        assert_ne!(a.dedup_key(), next.dedup_key());
        let p = parse(br#"{"seller_id":"1","message_type":4,"timestamp":5,"data":{"x":1,"y":[{"b":1,"a":2}]}}"#).expect("p");
        let q = parse(br#"{"seller_id":"1","message_type":4,"timestamp":5,"data":{"y":[{"a":2,"b":1}],"x":1}}"#).expect("q");
        let r = parse(br#"{"seller_id":"1","message_type":4,"timestamp":5,"data":{"x":2}}"#)
            .expect("r");
        assert_eq!(p.dedup_key(), q.dedup_key());
        assert_ne!(p.dedup_key(), r.dedup_key());
    }

    #[test]
    fn the_window_holds_both_ways_and_needs_a_timestamp() {
        let at = |ms: u64| std::time::UNIX_EPOCH + Duration::from_millis(ms);
        let m = parse(br#"{"message_type":8,"timestamp":1000000}"#).expect("m");
        let w = Duration::from_secs(10);
        assert!(m.is_within(at(1_000_000), w));
        assert!(m.is_within(at(1_010_000), w));
        assert!(m.is_within(at(990_000), w));
        assert!(!m.is_within(at(1_010_001), w));
        assert!(!m.is_within(at(989_999), w));
        let none = parse(br#"{"message_type":8}"#).expect("none");
        assert!(!none.is_within(at(0), Duration::MAX));
        let far = parse(br#"{"message_type":8,"timestamp":-9223372036854775808}"#).expect("far");
        assert!(!far.is_within(at(1), w));
        assert!(far.is_within(at(1), Duration::MAX));
    }

    #[test]
    fn errors_never_echo_input() {
        let e = parse(b"50001qNsSecretToken").expect_err("not JSON");
        assert!(!format!("{e} {e:?}").contains("50001"));
    }
}
