//! The token set of `/auth/token/create` and `/auth/token/refresh` (PROTOCOL.md §5).
//!
//! The model mirrors the wire leniently (numbers or numeric strings, ids as strings or numbers,
//! `null`, both Lazada seller-list names and the keyed form) and keeps unknown fields, which are
//! written back on serialization. Typed accessors turn it into instants and decisions.

use std::time::{Duration, SystemTime};

use crate::error::Result;
use crate::secret::{AccessToken, RefreshToken};

/// One entry of Lazada's `country_user_info` / `country_user_info_list`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CountryUserInfo {
    /// Country code (`sg`, `my`, …).
    pub country: Option<String>,
    /// Seller id in that country.
    pub seller_id: Option<String>,
    /// User id in that country.
    pub user_id: Option<String>,
    /// Seller short code.
    pub short_code: Option<String>,
}

/// A seller's token set as the gateway sent it, plus the time it was received.
///
/// Serializes back to the wire field names (the seller list as `country_user_info_list`), with
/// the receive time as `_iop_received_at_ms`, so a stored token set keeps every field.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
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

impl TokenSet {
    /// Parses a token-set body received at `received_at`. Gateway error envelopes become
    /// [`crate::Error::Gateway`]; anything that is not a JSON object, [`crate::Error::Decode`].
    pub fn from_json(body: &[u8], received_at: SystemTime) -> Result<Self> {
        todo!("{}{received_at:?}", body.len())
    }

    /// Builds the model from an already parsed JSON value.
    pub fn from_value(value: serde_json::Value, received_at: SystemTime) -> Result<Self> {
        todo!("{value}{received_at:?}")
    }

    /// Serializes to JSON (secrets included: the caller asked for them).
    pub fn to_json(&self) -> String {
        todo!()
    }

    /// Absolute access-token expiry: `expire_time` when present, else receive time + `expires_in`.
    pub fn expires_at(&self) -> Option<SystemTime> {
        todo!()
    }

    /// Absolute refresh-token expiry: `refresh_token_valid_time` when present, else receive time +
    /// `refresh_expires_in` (`None` when that is 0 or absent).
    pub fn refresh_expires_at(&self) -> Option<SystemTime> {
        todo!()
    }

    /// [`Self::expires_at`] in epoch ms.
    pub fn expires_at_ms(&self) -> Option<i64> {
        todo!()
    }

    /// [`Self::refresh_expires_at`] in epoch ms.
    pub fn refresh_expires_at_ms(&self) -> Option<i64> {
        todo!()
    }

    /// `expires_in` as a duration.
    pub fn expires_in_duration(&self) -> Option<Duration> {
        todo!()
    }

    /// True when the access token is absent, its expiry unknown, or it expires within `margin`
    /// of `now`.
    pub fn needs_refresh(&self, now: SystemTime, margin: Duration) -> bool {
        todo!("{now:?}{margin:?}")
    }

    /// True when a refresh token is present, `refresh_expires_in` is not 0 and the refresh token
    /// has not expired at `now`.
    pub fn can_refresh(&self, now: SystemTime) -> bool {
        todo!("{now:?}")
    }
}
