//! Seller onboarding (docs/src/concepts/protocol.md#onboarding): the authorization URL a seller
//! opens, a random `state`, and the callback check that guards the code exchange.
//!
//! 1. Make a `state` with [`new_state`] and keep it with the seller's session.
//! 2. Send the seller to [`authorization_url`]; the platform redirects to your `redirect_uri`
//!    with `code` and `state` (or `error`).
//! 3. Give the redirect's URL or query string to [`parse_callback`] with the state you kept: it
//!    compares the states in constant time and gives the code only when they match, so a forged
//!    redirect (login CSRF) never gets a code exchanged. `TokenManager::complete_authorization`
//!    does this, exchanges the code and stores the token set.
//!
//! ```
//! use iop_core::onboarding::{authorization_url, parse_callback, AuthorizationRequest, Platform};
//!
//! let state = "rMzQJ2v0d3yY6N0gqLxq4w";
//! let url = authorization_url(&AuthorizationRequest::new(
//!     Platform::AliExpress, "123456", "https://app.example.com/callback", state,
//! ))?;
//! assert!(url.starts_with("https://api-sg.aliexpress.com/oauth/authorize?response_type=code&force_auth=true&"));
//!
//! let code = parse_callback("https://app.example.com/callback?code=3_500_abc&state=rMzQJ2v0d3yY6N0gqLxq4w", state)?;
//! assert_eq!(code.secret(), "3_500_abc");
//! assert!(parse_callback("?code=3_500_abc&state=forged", state).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::{Error, Result};
use crate::gateway::{ALIEXPRESS, Gateway, LAZADA_AUTH};
use crate::secret::{AuthCode, constant_time_eq};

/// The platform whose sellers authorize the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// AliExpress Open Platform (`api-sg.aliexpress.com`).
    AliExpress,
    /// Lazada Open Platform (`auth.lazada.com`).
    Lazada,
}

impl Platform {
    /// Parses `aliexpress` or `lazada`, ignoring ASCII case.
    pub fn parse(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("aliexpress") {
            Some(Self::AliExpress)
        } else if name.eq_ignore_ascii_case("lazada") {
            Some(Self::Lazada)
        } else {
            None
        }
    }

    /// `"aliexpress"` or `"lazada"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AliExpress => "aliexpress",
            Self::Lazada => "lazada",
        }
    }

    /// The host of the platform's authorization page.
    pub fn authorize_base(self) -> &'static str {
        match self {
            Self::AliExpress => ALIEXPRESS,
            Self::Lazada => LAZADA_AUTH,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Countries Lazada's authorization page takes as `country` (`cb`: cross-border).
pub const LAZADA_AUTHORIZE_COUNTRIES: [&str; 7] = ["sg", "my", "th", "vn", "ph", "id", "cb"];

/// What the authorization URL carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The platform.
    pub platform: Platform,
    /// The app key (`client_id`).
    pub app_key: String,
    /// Where the platform redirects the seller; it must be registered in the app console.
    pub redirect_uri: String,
    /// The value to find again in the redirect ([`new_state`]).
    pub state: String,
    /// Lazada only: preselect a country (`sg`, `my`, `th`, `vn`, `ph`, `id`, `cb`).
    pub country: Option<String>,
    /// AliExpress only: the optional `uuid`.
    pub uuid: Option<String>,
}

impl AuthorizationRequest {
    /// A request with no country and no uuid.
    pub fn new(
        platform: Platform,
        app_key: impl Into<String>,
        redirect_uri: impl Into<String>,
        state: impl Into<String>,
    ) -> Self {
        Self {
            platform,
            app_key: app_key.into(),
            redirect_uri: redirect_uri.into(),
            state: state.into(),
            country: None,
            uuid: None,
        }
    }
}

/// The authorization page URL on the platform's own host:
/// `…/oauth/authorize?response_type=code&force_auth=true&redirect_uri=…&client_id=…&state=…`
/// (plus `country` or `uuid`), every value percent-encoded.
pub fn authorization_url(request: &AuthorizationRequest) -> Result<String> {
    authorization_url_at(request.platform.authorize_base(), request)
}

/// Like [`authorization_url`], with the page on `gateway`'s token host instead (the emulator's
/// `/oauth/authorize`, or a platform host given explicitly).
pub fn authorization_url_on(gateway: &Gateway, request: &AuthorizationRequest) -> Result<String> {
    authorization_url_at(gateway.token_gateway().base_url(), request)
}

fn authorization_url_at(base: &str, request: &AuthorizationRequest) -> Result<String> {
    let invalid = |why: &str| Err(Error::InvalidRequest(format!("authorization URL: {why}")));
    if request.app_key.trim().is_empty() {
        return invalid("the app key is empty");
    }
    if request.state.trim().is_empty() {
        return invalid("the state is empty (make one with new_state and check it on return)");
    }
    match url::Url::parse(&request.redirect_uri) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {
            if u.fragment().is_some() {
                return invalid("redirect_uri must not have a #fragment");
            }
        }
        _ => return invalid("redirect_uri must be an absolute http(s) URL"),
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("force_auth", "true")
        .append_pair("redirect_uri", &request.redirect_uri)
        .append_pair("client_id", &request.app_key)
        .append_pair("state", &request.state);
    match (request.platform, &request.country, &request.uuid) {
        (Platform::AliExpress, Some(_), _) => return invalid("country is for Lazada only"),
        (Platform::Lazada, _, Some(_)) => return invalid("uuid is for AliExpress only"),
        (Platform::Lazada, Some(country), None) => {
            let code = country.trim().to_ascii_lowercase();
            if !LAZADA_AUTHORIZE_COUNTRIES.contains(&code.as_str()) {
                return invalid("country must be one of sg, my, th, vn, ph, id, cb");
            }
            query.append_pair("country", &code);
        }
        (Platform::AliExpress, None, Some(uuid)) if !uuid.trim().is_empty() => {
            query.append_pair("uuid", uuid);
        }
        _ => {}
    }
    Ok(format!("{base}/oauth/authorize?{}", query.finish()))
}

/// A fresh `state`: 192 bits from the operating system's random source, as 48 lowercase hex
/// digits (URL-safe). Fails only if the OS has no randomness to give. (Feature `client`: the
/// pure layer reads no outside source.)
#[cfg(feature = "client")]
pub fn new_state() -> Result<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::InvalidRequest(format!(
            "the operating system gave no random bytes for a state: {e}"
        ))
    })?;
    Ok(hex::encode(bytes))
}

/// Why a redirect back from the authorization page was refused. No variant holds the code or
/// either state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackError {
    /// The redirect has no `state`: it did not come from an authorization this app started.
    StateMissing,
    /// The redirect's `state` is not the expected one (a forged or stale redirect).
    StateMismatch,
    /// The platform reports an error (the seller declined, or the request was wrong).
    Denied {
        /// The `error` parameter (for example `access_denied`).
        error: String,
        /// The `error_description` parameter, if any (at most 300 characters kept).
        description: Option<String>,
    },
    /// The state matched but there is no `code`.
    CodeMissing,
    /// The callback is not a URL or query string this check can read (for example a parameter
    /// given twice).
    Malformed(&'static str),
}

impl std::fmt::Display for CallbackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::StateMissing => f.write_str(
                "authorization callback has no state: refused, the code was not exchanged",
            ),
            Self::StateMismatch => f.write_str(
                "authorization callback state does not match the expected state (forged or stale \
                 redirect): refused, the code was not exchanged",
            ),
            Self::Denied { error, description } => {
                write!(f, "authorization was not granted: {error}")?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            Self::CodeMissing => f.write_str("authorization callback has no code"),
            Self::Malformed(why) => write!(f, "authorization callback is malformed: {why}"),
        }
    }
}

impl std::error::Error for CallbackError {}

/// The query part of a callback given as a full URL, a path with a query, `?query` or a bare
/// query string.
fn query_of(callback: &str) -> &str {
    let callback = callback.trim();
    let without_fragment = callback.split('#').next().unwrap_or("");
    match without_fragment.split_once('?') {
        Some((_, query)) => query,
        // No `?`: a bare query string unless it looks like a URL or path without a query.
        None if without_fragment.contains("://") || without_fragment.starts_with('/') => "",
        None => without_fragment,
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// Checks a redirect back from the authorization page and gives its `code`.
///
/// `callback` is the redirect's full URL or its query string. The state is checked first, in
/// constant time, before anything else is read: a missing state, a different one, or a state
/// given more than once is an error whatever else the redirect says (also when it is malformed
/// otherwise), so an attacker's redirect can neither get a code exchanged, nor show its own error
/// text, nor be told apart from any other foreign redirect. Then a `code`, `error` or
/// `error_description` given twice is [`CallbackError::Malformed`]; then the platform's
/// `error`/`error_description` become [`CallbackError::Denied`]; then the code.
pub fn parse_callback(
    callback: &str,
    expected_state: &str,
) -> std::result::Result<AuthCode, CallbackError> {
    if expected_state.is_empty() {
        // An empty expected state would match a redirect that has `state=`.
        return Err(CallbackError::StateMismatch);
    }
    let pairs: Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> =
        form_urlencoded::parse(query_of(callback).as_bytes()).collect();
    let mut states = pairs.iter().filter(|(key, _)| key == "state");
    match (states.next(), states.next()) {
        (None, _) => return Err(CallbackError::StateMissing),
        (Some((_, state)), None)
            if constant_time_eq(state.as_bytes(), expected_state.as_bytes()) => {}
        // Another state, or more than one: not the platform's redirect for this state.
        _ => return Err(CallbackError::StateMismatch),
    }
    let mut code = None;
    let mut error = None;
    let mut description = None;
    for (key, value) in &pairs {
        let slot = match key.as_ref() {
            "code" => &mut code,
            "error" => &mut error,
            "error_description" => &mut description,
            _ => continue,
        };
        if slot.is_some() {
            return Err(CallbackError::Malformed("a parameter is given twice"));
        }
        *slot = Some(value.clone().into_owned());
    }
    if let Some(error) = error {
        return Err(CallbackError::Denied {
            error: truncate(&error, 100),
            description: description.map(|d| truncate(&d, 300)),
        });
    }
    match code {
        Some(code) if !code.trim().is_empty() => Ok(AuthCode::new(code)),
        _ => Err(CallbackError::CodeMissing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(platform: Platform) -> AuthorizationRequest {
        AuthorizationRequest::new(platform, "123456", "https://a.example/cb?x=1&y=2", "st ate")
    }

    #[test]
    fn urls_carry_every_parameter_encoded() {
        let url = authorization_url(&request(Platform::AliExpress)).expect("url");
        assert_eq!(
            url,
            "https://api-sg.aliexpress.com/oauth/authorize?response_type=code&force_auth=true\
             &redirect_uri=https%3A%2F%2Fa.example%2Fcb%3Fx%3D1%26y%3D2&client_id=123456&state=st+ate"
        );
        let mut lazada = request(Platform::Lazada);
        lazada.country = Some("TH".to_owned());
        let url = authorization_url(&lazada).expect("url");
        assert!(url.starts_with("https://auth.lazada.com/oauth/authorize?"));
        assert!(url.ends_with("&country=th"));
        let mut ae = request(Platform::AliExpress);
        ae.uuid = Some("u-1".to_owned());
        assert!(authorization_url(&ae).expect("url").ends_with("&uuid=u-1"));
    }

    #[test]
    fn bad_requests_are_refused() {
        let mut r = request(Platform::AliExpress);
        r.country = Some("sg".to_owned());
        assert!(authorization_url(&r).is_err());
        let mut r = request(Platform::Lazada);
        r.uuid = Some("u".to_owned());
        assert!(authorization_url(&r).is_err());
        let mut r = request(Platform::Lazada);
        r.country = Some("fr".to_owned());
        assert!(authorization_url(&r).is_err());
        for uri in ["", "/cb", "ftp://a/cb", "https://a/cb#frag", "not a url"] {
            let mut r = request(Platform::AliExpress);
            r.redirect_uri = uri.to_owned();
            assert!(authorization_url(&r).is_err(), "{uri}");
        }
        let mut r = request(Platform::AliExpress);
        r.state = " ".to_owned();
        assert!(authorization_url(&r).is_err());
    }

    #[cfg(feature = "client")]
    #[test]
    fn states_are_random_and_url_safe() {
        let a = new_state().expect("state");
        let b = new_state().expect("state");
        assert_eq!(a.len(), 48);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn callbacks_are_checked_state_first() {
        let ok = |cb: &str| parse_callback(cb, "s1").map(|c| c.secret().to_owned());
        assert_eq!(ok("https://a/cb?code=C&state=s1").as_deref(), Ok("C"));
        assert_eq!(ok("?state=s1&code=C%2B1").as_deref(), Ok("C+1"));
        assert_eq!(ok("code=C&state=s1#frag").as_deref(), Ok("C"));
        assert_eq!(ok("/cb?code=C&state=s1").as_deref(), Ok("C"));
        assert_eq!(ok("https://a/cb?code=C"), Err(CallbackError::StateMissing));
        assert_eq!(ok("https://a/cb"), Err(CallbackError::StateMissing));
        assert_eq!(
            ok("https://a/cb?code=C&state=s2"),
            Err(CallbackError::StateMismatch)
        );
        // A state given twice, even ours: refused as foreign, before anything else.
        for twice in ["?code=C&state=s1&state=s2", "?state=s1&state=s1&code=C"] {
            assert_eq!(ok(twice), Err(CallbackError::StateMismatch), "{twice}");
        }
        // Repeated parameters with a foreign state are foreign, not malformed.
        for foreign in [
            "?code=C&code=D&state=s2",
            "?error=a&error=b&state=s2",
            "?code=C&code=D",
        ] {
            assert!(
                matches!(
                    ok(foreign),
                    Err(CallbackError::StateMismatch | CallbackError::StateMissing)
                ),
                "{foreign}"
            );
        }
        // With our state: malformed.
        for repeated in [
            "?state=s1&code=C&code=D",
            "?state=s1&error=a&error=b",
            "?error_description=x&state=s1&error_description=y&error=e",
        ] {
            assert_eq!(
                ok(repeated),
                Err(CallbackError::Malformed("a parameter is given twice")),
                "{repeated}"
            );
        }
        assert_eq!(
            ok("?state=s2&error=access_denied"),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(
            ok("?state=s1&error=access_denied&error_description=no+thanks"),
            Err(CallbackError::Denied {
                error: "access_denied".to_owned(),
                description: Some("no thanks".to_owned())
            })
        );
        assert_eq!(ok("?state=s1&code="), Err(CallbackError::CodeMissing));
        assert_eq!(
            parse_callback("?state=&code=C", "").map(|_| ()),
            Err(CallbackError::StateMismatch)
        );
    }

    #[test]
    fn errors_hold_no_code() {
        let e = parse_callback("?code=SECRETCODE&state=bad", "good").expect_err("mismatch");
        assert!(!format!("{e} {e:?}").contains("SECRETCODE"));
    }
}
