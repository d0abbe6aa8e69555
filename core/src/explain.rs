//! What a user needs when the gateway says `IncompleteSignature`: the URL, the style, the
//! string-to-sign with every secret replaced by a marker, and warnings for the classic mistakes.

use crate::api::Style;
use crate::error::Error;
use crate::gateway::Gateway;
use crate::request::{Credentials, HttpMethod, Request, is_blank, is_secret_param};
use crate::secret::AccessToken;
use crate::sign::SignMethod;

/// A classic signing mistake found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The API path ends in `/`; the gateway signs the path without it.
    TrailingSlash,
    /// These parameters had empty or whitespace-only values and are not sent or signed.
    DroppedEmpty(Vec<String>),
    /// MD5 asked for on a path (GOP) API; MD5 is valid on `/sync` only (iop signs path APIs with
    /// SHA-256 whatever the credentials say).
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
        match self {
            Self::TrailingSlash => f.write_str(
                "the API path ends in '/'; the gateway signs the path without it: remove the slash",
            ),
            Self::DroppedEmpty(keys) => write!(
                f,
                "parameters with empty or whitespace-only values are neither sent nor signed: {}",
                keys.join(", ")
            ),
            Self::Md5OnPathApi => f.write_str(
                "MD5 asked for on a path API: the gateway accepts MD5 on /sync (dotted APIs) only; iop signs path APIs with sha256, another SDK sending MD5 here is rejected",
            ),
            Self::PathApiOnSyncUrl => f.write_str(
                "a path API with a base URL ending in /sync: path APIs go to /rest{path}, signed with the path as prefix",
            ),
            Self::DottedApiOnRestUrl => f.write_str(
                "a dotted API with a base URL ending in /rest: dotted APIs go to /sync with method=<name>, signed without prefix",
            ),
            Self::Invalid(why) => f.write_str(why),
        }
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
///
/// ```
/// use iop_core::{AppSecret, Credentials, Warning, explain};
/// let creds = Credentials::new("123456", AppSecret::new("helloworld"));
/// let params = vec![("refresh_token".to_owned(), "r-secret".to_owned())];
/// let e = explain("https://api-sg.aliexpress.com/sync", "/auth/token/refresh", &params, &creds, None, 1);
/// assert_eq!(e.url, "https://api-sg.aliexpress.com/rest/auth/token/refresh");
/// assert!(e.string_to_sign_redacted.contains("refresh_token<redacted:refresh_token>"));
/// assert!(e.warnings.contains(&Warning::PathApiOnSyncUrl));
/// ```
pub fn explain(
    base_url: &str,
    api: &str,
    params: &[(String, String)],
    credentials: &Credentials,
    access_token: Option<&AccessToken>,
    timestamp_ms: i64,
) -> Explanation {
    let mut invalid = Vec::new();
    let mut warnings = Vec::new();

    let gateway = match Gateway::new(base_url) {
        Ok(g) => Some(g),
        Err(e) => {
            invalid.push(Warning::Invalid(reason(&e)));
            None
        }
    };

    // A trailing slash is the classic mistake: explain the request as it should be.
    let mut name = api;
    if name.starts_with('/') && name.len() > 1 && name.ends_with('/') {
        warnings.push(Warning::TrailingSlash);
        name = name.trim_end_matches('/');
    }
    let request = match Request::new(name) {
        Ok(mut r) => {
            for (k, v) in params {
                r.set_param(k.as_str(), v.as_str());
            }
            Some(r)
        }
        Err(e) => {
            invalid.push(Warning::Invalid(reason(&e)));
            None
        }
    };
    let style = request.as_ref().map(|r| r.api().style());

    if style == Some(Style::Gop) && credentials.sign_method == SignMethod::Md5 {
        warnings.push(Warning::Md5OnPathApi);
    }
    let suffix = gateway.as_ref().and_then(Gateway::stripped_suffix);
    match (style, suffix) {
        (Some(Style::Gop), Some("/sync")) => warnings.push(Warning::PathApiOnSyncUrl),
        (Some(Style::Top), Some("/rest")) => warnings.push(Warning::DottedApiOnRestUrl),
        _ => {}
    }
    let dropped: Vec<String> = params
        .iter()
        .filter(|(_, v)| is_blank(v))
        .map(|(k, _)| k.clone())
        .collect();
    if !dropped.is_empty() {
        warnings.push(Warning::DroppedEmpty(dropped));
    }

    let url = match (&gateway, &request) {
        // Where the client really sends it (a token call on a Lazada country host goes to
        // the auth host).
        (Some(g), Some(r)) => g.for_api(r.api()).endpoint(r.api()),
        (Some(g), None) => g.base_url().to_owned(),
        (None, _) => String::new(),
    };

    let mut string_to_sign_redacted = String::new();
    let mut signed_keys = Vec::new();
    if let Some(r) = &request {
        match r.signed_pairs(credentials, access_token, timestamp_ms) {
            Ok(pairs) => {
                string_to_sign_redacted.push_str(r.api().sign_prefix());
                for (k, v) in pairs.iter().filter(|(k, _)| k != "sign") {
                    string_to_sign_redacted.push_str(k);
                    if is_secret_param(k) {
                        string_to_sign_redacted.push_str(&format!("<redacted:{k}>"));
                    } else {
                        string_to_sign_redacted.push_str(v);
                    }
                    signed_keys.push(k.clone());
                }
            }
            Err(e) => invalid.push(Warning::Invalid(reason(&e))),
        }
    }
    // The secret is never part of the input, but a user may have passed it as a parameter.
    let secret = credentials.app_secret.secret();
    if !secret.is_empty() && string_to_sign_redacted.contains(secret) {
        string_to_sign_redacted = string_to_sign_redacted.replace(secret, "<redacted:app_secret>");
    }

    invalid.extend(warnings);
    Explanation {
        url,
        style,
        http_method: request.as_ref().map(Request::method).unwrap_or_default(),
        string_to_sign_redacted,
        signed_keys,
        warnings: invalid,
    }
}

/// The text of a refusal, without the "invalid request: " prefix.
fn reason(e: &Error) -> String {
    match e {
        Error::InvalidRequest(m) => m.clone(),
        other => other.to_string(),
    }
}
