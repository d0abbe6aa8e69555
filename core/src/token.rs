//! The token set of `/auth/token/create` and `/auth/token/refresh`
//! (docs/src/concepts/tokens.md#the-token-set).
//!
//! The model mirrors the wire leniently (numbers or numeric strings, ids as strings or numbers,
//! `null`, both Lazada seller-list names and the keyed form) and keeps unknown fields, which are
//! written back on serialization. Typed accessors turn it into instants and decisions.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::error::{EnvelopeError, Error, Result, check_envelope};
use crate::secret::{AccessToken, RefreshToken};

/// One entry of Lazada's `country_user_info` / `country_user_info_list`.
///
/// Ids sent as numbers are kept as strings; fields this model does not name are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct CountryUserInfo {
    /// Country code (`sg`, `my`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Seller id in that country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<String>,
    /// User id in that country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Seller short code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_code: Option<String>,
    /// Every other field of the entry, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CountryUserInfo {
    /// Reads one entry leniently; `country` fills in the country when the entry has none (the
    /// form keyed by country).
    fn from_map(mut map: Map<String, Value>, country: Option<&str>) -> Self {
        let mut take = |key: &str| take_text(&mut map, key);
        let mut info = Self {
            country: take("country"),
            seller_id: take("seller_id"),
            user_id: take("user_id"),
            short_code: take("short_code"),
            extra: Map::new(),
        };
        if info.country.is_none() {
            info.country = country.map(str::to_owned);
        }
        info.extra = map;
        info
    }
}

impl<'de> serde::Deserialize<'de> for CountryUserInfo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let map = Map::deserialize(d)?;
        Ok(Self::from_map(map, None))
    }
}

/// A seller's token set as the gateway sent it, plus the time it was received.
///
/// Serializes back to the wire field names (the seller list as `country_user_info_list`), with
/// the receive time as `_iop_received_at_ms`, so a stored token set keeps every field.
/// Deserializing is as lenient as [`TokenSet::from_value`] (without the envelope check).
#[derive(Clone, Default)]
pub struct TokenSet {
    /// `access_token`; `None` when the gateway (or a documentation sample) sent `null`.
    pub access_token: Option<AccessToken>,
    /// `refresh_token`.
    pub refresh_token: Option<RefreshToken>,
    /// `expires_in`: seconds of access-token life left when the response was sent.
    pub expires_in: Option<i64>,
    /// `refresh_expires_in`: seconds of refresh-token life left; 0 means not refreshable (Lazada).
    pub refresh_expires_in: Option<i64>,
    /// `expire_time`: absolute access-token expiry in epoch ms (AliExpress).
    pub expire_time: Option<i64>,
    /// `refresh_token_valid_time`: absolute refresh-token expiry in epoch ms (AliExpress).
    pub refresh_token_valid_time: Option<i64>,
    /// `user_id`.
    pub user_id: Option<String>,
    /// `seller_id`.
    pub seller_id: Option<String>,
    /// `havana_id`.
    pub havana_id: Option<String>,
    /// `account_id`.
    pub account_id: Option<String>,
    /// `user_nick`.
    pub user_nick: Option<String>,
    /// `account`.
    pub account: Option<String>,
    /// `account_platform` (`seller_center`, `buyerApp`).
    pub account_platform: Option<String>,
    /// `sp` (`ae`).
    pub sp: Option<String>,
    /// `locale`.
    pub locale: Option<String>,
    /// `country` (Lazada).
    pub country: Option<String>,
    /// Lazada's seller list, from either wire name or the keyed-object form.
    pub country_user_info: Vec<CountryUserInfo>,
    /// `code` of the envelope (`"0"`).
    pub code: Option<String>,
    /// `request_id`.
    pub request_id: Option<String>,
    /// `_trace_id_`.
    pub trace_id: Option<String>,
    /// When the response was received, epoch ms; the base of `expires_in`.
    pub received_at_ms: Option<i64>,
    /// Every field this model does not name, kept as sent.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Secrets print as `[redacted]`; unknown fields show their names only, since a field this model
/// does not know may hold one.
impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extra: Vec<&str> = self.extra.keys().map(String::as_str).collect();
        f.debug_struct("TokenSet")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("expire_time", &self.expire_time)
            .field("refresh_token_valid_time", &self.refresh_token_valid_time)
            .field("user_id", &self.user_id)
            .field("seller_id", &self.seller_id)
            .field("havana_id", &self.havana_id)
            .field("account_id", &self.account_id)
            .field("user_nick", &self.user_nick)
            .field("account", &self.account)
            .field("account_platform", &self.account_platform)
            .field("sp", &self.sp)
            .field("locale", &self.locale)
            .field("country", &self.country)
            .field("country_user_info", &self.country_user_info)
            .field("code", &self.code)
            .field("request_id", &self.request_id)
            .field("trace_id", &self.trace_id)
            .field("received_at_ms", &self.received_at_ms)
            .field("extra_fields", &extra)
            .finish()
    }
}

/// The wire names of the fields [`TokenSet`] names; everything else goes to `extra`.
const NAMED: &[&str] = &[
    "access_token",
    "refresh_token",
    "expires_in",
    "refresh_expires_in",
    "expire_time",
    "refresh_token_valid_time",
    "user_id",
    "seller_id",
    "havana_id",
    "account_id",
    "user_nick",
    "account",
    "account_platform",
    "sp",
    "locale",
    "country",
    "code",
    "request_id",
    TRACE_ID,
    RECEIVED_AT,
];

/// The envelope's trace id field.
const TRACE_ID: &str = "_trace_id_";
/// Where the receive time is written when a token set is stored.
const RECEIVED_AT: &str = "_iop_received_at_ms";
/// Lazada's seller list on `/auth/token/refresh`, the name this model writes.
const LIST_NAME: &str = "country_user_info_list";
/// Lazada's seller list on `/auth/token/create`.
const INFO_NAME: &str = "country_user_info";

/// Removes `key` and returns it as text: strings as is, numbers and booleans as their text,
/// `null` (and an empty string) as `None`. Arrays and objects are left in the map.
fn take_text(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key)? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other @ (Value::Array(_) | Value::Object(_)) => {
            map.insert(key.to_owned(), other);
            None
        }
    }
}

/// Removes `key` and returns it as an integer: a JSON integer, an integral float or a numeric
/// string (surrounding whitespace ignored); `null` and `""` as `None`. A value that is no number
/// is left in the map, so it is kept and written back as sent.
fn take_i64(map: &mut Map<String, Value>, key: &str) -> Option<i64> {
    let number = match map.get(key)? {
        Value::Null => None,
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(i),
            None => Some(integral(n.as_f64())?),
        },
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => {
            let t = s.trim();
            match t.parse::<i64>() {
                Ok(i) => Some(i),
                Err(_) => Some(integral(t.parse::<f64>().ok())?),
            }
        }
        _ => return None,
    };
    map.remove(key);
    number
}

/// An `f64` with no fractional part that fits an `i64`.
fn integral(f: Option<f64>) -> Option<i64> {
    let f = f?;
    // 2^63 as f64; the cast below is exact for every integral value in range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

/// The seller list from an array of entries or an object keyed by country.
fn country_list(value: Value) -> std::result::Result<Vec<CountryUserInfo>, Value> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => {
            if items.iter().all(Value::is_object) {
                Ok(items
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::Object(m) => Some(CountryUserInfo::from_map(m, None)),
                        _ => None,
                    })
                    .collect())
            } else {
                Err(Value::Array(items))
            }
        }
        Value::Object(by_country) => {
            if by_country.values().all(Value::is_object) {
                Ok(by_country
                    .into_iter()
                    .filter_map(|(country, v)| match v {
                        Value::Object(m) => Some(CountryUserInfo::from_map(m, Some(&country))),
                        _ => None,
                    })
                    .collect())
            } else {
                Err(Value::Object(by_country))
            }
        }
        other => Err(other),
    }
}

// The one epoch-ms rule of the SDK (negative before 1970, rounded down, saturating).
use crate::time::{epoch_ms, from_epoch_ms};

impl TokenSet {
    /// Parses a token-set body received at `received_at`. Gateway error envelopes become
    /// [`crate::Error::Gateway`]; anything that is not a JSON object, [`crate::Error::Decode`].
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let body = br#"{"access_token":"a","refresh_token":"r","expires_in":"60","code":"0"}"#;
    /// let at = UNIX_EPOCH + Duration::from_secs(1_000);
    /// let t = iop_core::TokenSet::from_json(body, at).unwrap();
    /// assert_eq!(t.expires_at_ms(), Some(1_060_000));
    /// ```
    ///
    /// The input may be anything a user passed (a bare refresh token by mistake), so a decode
    /// error describes its shape and never echoes it.
    pub fn from_json(body: &[u8], received_at: SystemTime) -> Result<Self> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            Error::decode_local(format!(
                "the token set is not JSON ({} bytes; {:?} error at line {} column {})",
                body.len(),
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        Self::from_value(value, received_at)
    }

    /// Builds the model from an already parsed JSON value. Error envelopes become
    /// [`crate::Error::Gateway`], a value that is not an object [`crate::Error::Decode`]. A
    /// stored token set (one with `_iop_received_at_ms`) keeps its own receive time.
    pub fn from_value(value: Value, received_at: SystemTime) -> Result<Self> {
        let Value::Object(map) = value else {
            let shape = match value {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            };
            return Err(Error::decode_local(format!(
                "the token set is {shape}, not a JSON object"
            )));
        };
        match check_envelope(200, &map) {
            Ok(()) => {}
            Err(EnvelopeError::Gateway(g)) => return Err(Error::Gateway(g)),
            Err(EnvelopeError::Malformed) => {
                return Err(Error::decode_local(
                    "the token set's `error_response` is not an object",
                ));
            }
        }
        let mut token = Self::from_map(map);
        if token.received_at_ms.is_none() {
            token.received_at_ms = Some(epoch_ms(received_at));
        }
        Ok(token)
    }

    /// The lenient reading of a wire or stored object; never fails.
    fn from_map(mut map: Map<String, Value>) -> Self {
        let secret = |map: &mut Map<String, Value>, key: &str| take_text(map, key);
        let mut t = Self {
            access_token: secret(&mut map, "access_token").map(AccessToken::new),
            refresh_token: secret(&mut map, "refresh_token").map(RefreshToken::new),
            expires_in: take_i64(&mut map, "expires_in"),
            refresh_expires_in: take_i64(&mut map, "refresh_expires_in"),
            expire_time: take_i64(&mut map, "expire_time"),
            refresh_token_valid_time: take_i64(&mut map, "refresh_token_valid_time"),
            user_id: take_text(&mut map, "user_id"),
            seller_id: take_text(&mut map, "seller_id"),
            havana_id: take_text(&mut map, "havana_id"),
            account_id: take_text(&mut map, "account_id"),
            user_nick: take_text(&mut map, "user_nick"),
            account: take_text(&mut map, "account"),
            account_platform: take_text(&mut map, "account_platform"),
            sp: take_text(&mut map, "sp"),
            locale: take_text(&mut map, "locale"),
            country: take_text(&mut map, "country"),
            country_user_info: Vec::new(),
            code: take_text(&mut map, "code"),
            request_id: take_text(&mut map, "request_id"),
            trace_id: take_text(&mut map, TRACE_ID),
            received_at_ms: take_i64(&mut map, RECEIVED_AT),
            extra: Map::new(),
        };
        // The list name first; if both names are sent, the other stays in `extra`.
        for name in [LIST_NAME, INFO_NAME] {
            if !t.country_user_info.is_empty() {
                break;
            }
            if let Some(value) = map.remove(name) {
                match country_list(value) {
                    Ok(list) => t.country_user_info = list,
                    Err(raw) => {
                        map.insert(name.to_owned(), raw);
                    }
                }
            }
        }
        // `null` named fields carry nothing; drop them rather than keep them as unknown.
        map.retain(|k, v| !(v.is_null() && NAMED.contains(&k.as_str())));
        t.extra = map;
        t
    }

    /// The wire-shaped JSON object: named fields (absent ones omitted), the seller list as
    /// `country_user_info_list`, `_iop_received_at_ms`, and every unknown field.
    pub fn to_value(&self) -> Value {
        let mut map = self.extra.clone();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                map.insert(key.to_owned(), v);
            }
        };
        let text = |s: &Option<String>| s.clone().map(Value::String);
        let num = |n: Option<i64>| n.map(Value::from);
        put(
            "access_token",
            self.access_token
                .as_ref()
                .map(|t| Value::String(t.secret().to_owned())),
        );
        put(
            "refresh_token",
            self.refresh_token
                .as_ref()
                .map(|t| Value::String(t.secret().to_owned())),
        );
        put("expires_in", num(self.expires_in));
        put("refresh_expires_in", num(self.refresh_expires_in));
        put("expire_time", num(self.expire_time));
        put(
            "refresh_token_valid_time",
            num(self.refresh_token_valid_time),
        );
        put("user_id", text(&self.user_id));
        put("seller_id", text(&self.seller_id));
        put("havana_id", text(&self.havana_id));
        put("account_id", text(&self.account_id));
        put("user_nick", text(&self.user_nick));
        put("account", text(&self.account));
        put("account_platform", text(&self.account_platform));
        put("sp", text(&self.sp));
        put("locale", text(&self.locale));
        put("country", text(&self.country));
        if !self.country_user_info.is_empty() {
            put(
                LIST_NAME,
                serde_json::to_value(&self.country_user_info).ok(),
            );
        }
        put("code", text(&self.code));
        put("request_id", text(&self.request_id));
        put(TRACE_ID, text(&self.trace_id));
        put(RECEIVED_AT, num(self.received_at_ms));
        Value::Object(map)
    }

    /// Serializes to JSON (secrets included: the caller asked for them).
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// Absolute access-token expiry: `expire_time` when present, else receive time + `expires_in`.
    pub fn expires_at(&self) -> Option<SystemTime> {
        from_epoch_ms(self.expires_at_ms()?)
    }

    /// Absolute refresh-token expiry: `refresh_token_valid_time` when present, else receive time +
    /// `refresh_expires_in` (`None` when that is 0 or absent).
    pub fn refresh_expires_at(&self) -> Option<SystemTime> {
        from_epoch_ms(self.refresh_expires_at_ms()?)
    }

    /// [`Self::expires_at`] in epoch ms.
    pub fn expires_at_ms(&self) -> Option<i64> {
        self.expire_time
            .or_else(|| relative(self.received_at_ms, self.expires_in))
    }

    /// [`Self::refresh_expires_at`] in epoch ms.
    pub fn refresh_expires_at_ms(&self) -> Option<i64> {
        self.refresh_token_valid_time.or_else(|| {
            relative(
                self.received_at_ms,
                self.refresh_expires_in.filter(|s| *s != 0),
            )
        })
    }

    /// `expires_in` as a duration.
    pub fn expires_in_duration(&self) -> Option<Duration> {
        self.expires_in
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
    }

    /// `refresh_expires_in` as a duration.
    pub fn refresh_expires_in_duration(&self) -> Option<Duration> {
        self.refresh_expires_in
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
    }

    /// When the response was received.
    pub fn received_at(&self) -> Option<SystemTime> {
        from_epoch_ms(self.received_at_ms?)
    }

    /// True when the access token is absent, its expiry unknown, or it expires within `margin`
    /// of `now`.
    pub fn needs_refresh(&self, now: SystemTime, margin: Duration) -> bool {
        if self.access_token.is_none() {
            return true;
        }
        match (self.expires_at(), now.checked_add(margin)) {
            (Some(expiry), Some(deadline)) => deadline >= expiry,
            _ => true,
        }
    }

    /// True when a refresh token is present, `refresh_expires_in` is not 0 and the refresh token
    /// has not expired at `now`. An unknown refresh expiry counts as not expired.
    pub fn can_refresh(&self, now: SystemTime) -> bool {
        if self.refresh_token.is_none() || self.refresh_expires_in == Some(0) {
            return false;
        }
        match self.refresh_expires_at() {
            Some(expiry) => now < expiry,
            None => true,
        }
    }
}

/// `base_ms + seconds * 1000`, if both are known and it does not overflow.
fn relative(base_ms: Option<i64>, seconds: Option<i64>) -> Option<i64> {
    base_ms?.checked_add(seconds?.checked_mul(1000)?)
}

impl serde::Serialize for TokenSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for TokenSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Self::from_map(Map::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn parse(v: Value) -> TokenSet {
        TokenSet::from_value(v, at(1_000_000)).unwrap()
    }

    #[test]
    fn lenient_numbers() {
        let t = parse(json!({
            "expires_in": " 60 ", "refresh_expires_in": 120.0, "expire_time": null,
            "refresh_token_valid_time": "", "access_token": "a"
        }));
        assert_eq!(t.expires_in, Some(60));
        assert_eq!(t.refresh_expires_in, Some(120));
        assert_eq!(t.expire_time, None);
        assert_eq!(t.refresh_token_valid_time, None);
        assert!(t.extra.is_empty(), "{:?}", t.extra);
        assert_eq!(t.expires_at_ms(), Some(1_060_000));
        assert_eq!(t.refresh_expires_at_ms(), Some(1_120_000));
        assert_eq!(t.expires_in_duration(), Some(Duration::from_secs(60)));
        // Not a number: kept as sent, written back.
        let t = parse(json!({"expires_in": "soon", "refresh_expires_in": 1.5}));
        assert_eq!(t.expires_in, None);
        assert_eq!(t.extra.get("expires_in"), Some(&json!("soon")));
        assert_eq!(t.extra.get("refresh_expires_in"), Some(&json!(1.5)));
        assert!(t.to_json().contains("\"soon\""));
    }

    #[test]
    fn refresh_decisions() {
        let t = parse(json!({"access_token": "a", "refresh_token": "r", "expires_in": 60}));
        assert!(!t.needs_refresh(at(1_000_000), Duration::from_secs(59)));
        assert!(t.needs_refresh(at(1_000_000), Duration::from_secs(60)));
        assert!(t.needs_refresh(at(1_060_000), Duration::ZERO));
        // Unknown refresh expiry: refreshable.
        assert!(t.can_refresh(at(u64::MAX / 4)));
        let t = parse(json!({"refresh_token": "r", "refresh_expires_in": "0"}));
        assert!(!t.can_refresh(at(0)));
        assert!(t.needs_refresh(at(0), Duration::ZERO), "no access token");
        let t = parse(json!({"access_token": "a"}));
        assert!(t.needs_refresh(at(0), Duration::ZERO), "unknown expiry");
        assert!(!t.can_refresh(at(0)), "no refresh token");
    }

    #[test]
    fn seller_lists_and_both_names() {
        let t = parse(json!({
            "country_user_info_list": [{"country": "sg", "seller_id": 1, "extra_field": true}],
            "country_user_info": [{"country": "my"}]
        }));
        assert_eq!(t.country_user_info.len(), 1);
        assert_eq!(t.country_user_info[0].seller_id.as_deref(), Some("1"));
        assert_eq!(
            t.country_user_info[0].extra.get("extra_field"),
            Some(&json!(true))
        );
        assert_eq!(
            t.extra.get("country_user_info"),
            Some(&json!([{"country": "my"}]))
        );
        let back = TokenSet::from_json(t.to_json().as_bytes(), at(0)).unwrap();
        assert_eq!(back.country_user_info, t.country_user_info);
        assert_eq!(back.extra, t.extra);
        // A shape that is no seller list is kept as sent.
        let t = parse(json!({"country_user_info": "sg"}));
        assert!(t.country_user_info.is_empty());
        assert_eq!(t.extra.get("country_user_info"), Some(&json!("sg")));
        // The keyed form: an explicit country inside wins over the key.
        let t = parse(json!({"country_user_info_list": {"sg": {"country": "SG", "user_id": 5}}}));
        assert_eq!(t.country_user_info[0].country.as_deref(), Some("SG"));
        assert_eq!(t.country_user_info[0].user_id.as_deref(), Some("5"));
    }

    #[test]
    fn errors_and_non_objects() {
        let e = TokenSet::from_json(br#"{"code":"IllegalRefreshToken","type":"ISV"}"#, at(0));
        assert!(matches!(e, Err(Error::Gateway(g)) if g.code == "IllegalRefreshToken"));
        let e = TokenSet::from_value(json!([1]), at(0));
        assert!(matches!(e, Err(Error::Decode { .. })));
        let e = TokenSet::from_value(json!({"error_response": {"code": "7"}}), at(0));
        assert!(matches!(e, Err(Error::Gateway(g)) if g.code == "7"));
    }

    #[test]
    fn stored_receive_time_is_kept() {
        let t = parse(json!({"expires_in": 10, "_iop_received_at_ms": 5000}));
        assert_eq!(t.received_at_ms, Some(5000));
        assert_eq!(t.expires_at_ms(), Some(15_000));
        assert_eq!(t.received_at(), Some(at(5000)));
        let pre_epoch = parse(json!({"_iop_received_at_ms": -5}));
        assert_eq!(
            pre_epoch.received_at(),
            UNIX_EPOCH.checked_sub(Duration::from_millis(5))
        );
        assert_eq!(epoch_ms(at(42)), 42);
    }

    #[test]
    fn serde_traits_match_the_methods() {
        let t = parse(json!({"access_token": "a", "user_id": 7, "x": 1}));
        let via_serde = serde_json::to_value(&t).unwrap();
        assert_eq!(via_serde, t.to_value());
        let back: TokenSet = serde_json::from_value(via_serde).unwrap();
        assert_eq!(back.to_value(), t.to_value());
        let info: CountryUserInfo = serde_json::from_value(json!({"user_id": 3})).unwrap();
        assert_eq!(info.user_id.as_deref(), Some("3"));
    }
}
