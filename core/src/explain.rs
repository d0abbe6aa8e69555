//! What a user needs when the gateway says `IncompleteSignature`: the URL, the style, the
//! string-to-sign with every secret replaced by a marker, and warnings for the classic mistakes.

use crate::api::Style;
use crate::request::{Credentials, HttpMethod};
use crate::secret::AccessToken;

/// A classic signing mistake found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The API path ends in `/`; the gateway signs the path without it.
    TrailingSlash,
    /// These parameters had empty or whitespace-only values and are not sent or signed.
    DroppedEmpty(Vec<String>),
    /// MD5 signing on a path (GOP) API; MD5 is valid on `/sync` only.
    Md5OnPathApi,
    /// A path (GOP) API with a base URL ending in `/sync`; it goes to `/rest`.
    PathApiOnSyncUrl,
    /// A dotted (TOP) API with a base URL ending in `/rest`; it goes to `/sync`.
    DottedApiOnRestUrl,
    /// The API name or base URL is not valid at all; the text says why.
    Invalid(String),
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let _ = f;
        todo!()
    }
}

/// The diagnosis of one request.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The URL the request goes to (no parameters).
    pub url: String,
    /// GOP or TOP, when the API name could be read.
    pub style: Option<Style>,
    /// GET or POST.
    pub http_method: HttpMethod,
    /// The string-to-sign with every secret value replaced by `<redacted:KEY>`.
    pub string_to_sign_redacted: String,
    /// The keys that are signed, in signing order.
    pub signed_keys: Vec<String>,
    /// Warnings, most likely cause first.
    pub warnings: Vec<Warning>,
}

/// Explains how the request for `api` with `params`, sent to `base_url`, is signed. Never fails:
/// what cannot be built becomes a [`Warning::Invalid`].
pub fn explain(
    base_url: &str,
    api: &str,
    params: &[(String, String)],
    credentials: &Credentials,
    access_token: Option<&AccessToken>,
    timestamp_ms: i64,
) -> Explanation {
    todo!(
        "{base_url}{api}{}{credentials:?}{access_token:?}{timestamp_ms}",
        params.len()
    )
}
