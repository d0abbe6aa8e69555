//! Requests: business parameters, file parts, system parameters and the signed
//! `http::Request` (docs/src/concepts/protocol.md#system-parameters to #on-the-wire).

use crate::api::{ApiName, Style};
use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::redact::Redactor;
use crate::secret::{AccessToken, AppSecret};
use crate::sign::{SignMethod, sign};

/// The application's credentials and signing options, shared by every call.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `app_key`.
    pub app_key: String,
    /// The HMAC key.
    pub app_secret: AppSecret,
    /// `sign_method` of TOP (`/sync`) calls; `Sha256` unless a TOP integration needs the legacy
    /// `Md5`. Path (GOP) calls, the token calls among them, are always signed with `Sha256`:
    /// the gateway accepts MD5 on `/sync` only, so one client can serve both styles.
    pub sign_method: SignMethod,
    /// Optional `partner_id` naming the SDK.
    pub partner_id: Option<String>,
}

impl Credentials {
    /// Credentials with HMAC-SHA256 and no `partner_id`.
    pub fn new(app_key: impl Into<String>, app_secret: AppSecret) -> Self {
        Self {
            app_key: app_key.into(),
            app_secret,
            sign_method: SignMethod::Sha256,
            partner_id: None,
        }
    }
}

/// GET or POST. POST (everything in a form body) is the default and keeps secrets out of URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HttpMethod {
    /// Every parameter in an `application/x-www-form-urlencoded` body (or multipart with files).
    #[default]
    Post,
    /// Every parameter in the query string. Offered because the gateway accepts it.
    Get,
}

impl HttpMethod {
    /// `"POST"` or `"GET"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Get => "GET",
        }
    }
}

impl std::fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for HttpMethod {
    type Err = Error;

    /// `POST` or `GET`, ASCII case ignored; anything else is [`Error::InvalidRequest`].
    fn from_str(s: &str) -> Result<Self> {
        if s.eq_ignore_ascii_case("POST") {
            Ok(Self::Post)
        } else if s.eq_ignore_ascii_case("GET") {
            Ok(Self::Get)
        } else {
            Err(Error::InvalidRequest(format!(
                "HTTP method must be POST or GET, not {s:?}"
            )))
        }
    }
}

/// A file sent as a multipart part. File parts are not signed.
#[derive(Clone)]
pub struct FilePart {
    /// The form field name.
    pub name: String,
    /// The file name sent in `Content-Disposition`.
    pub file_name: String,
    /// The part's `Content-Type`, e.g. `image/jpeg`.
    pub content_type: String,
    /// The file's bytes.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for FilePart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilePart")
            .field("name", &self.name)
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("len", &self.data.len())
            .finish()
    }
}

/// One API call: name, business parameters, file parts and options.
///
/// Parameters whose value is empty or whitespace-only are dropped from signature and wire alike;
/// `None` values (through [`Request::param_opt`]) are absent. Setting a key twice keeps the last
/// value. A business parameter named like a system parameter (`app_key`, `sign`, `timestamp`, …)
/// is refused when the request is built.
#[derive(Clone)]
pub struct Request {
    api: ApiName,
    params: Vec<(String, String)>,
    files: Vec<FilePart>,
    http_method: HttpMethod,
    simplify: bool,
}

/// Business parameters whose values are secrets: Debug output and [`crate::explain()`] show
/// `<redacted:KEY>` instead of their value. The table lives in [`crate::redact`].
pub use crate::redact::{SECRET_PARAMS, is_secret_param};

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Params<'a>(&'a [(String, String)]);
        impl std::fmt::Debug for Params<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut m = f.debug_map();
                for (k, v) in self.0 {
                    if is_secret_param(k) {
                        m.entry(k, &format_args!("<redacted:{k}>"));
                    } else {
                        m.entry(k, v);
                    }
                }
                m.finish()
            }
        }
        f.debug_struct("Request")
            .field("api", &self.api.as_str())
            .field("params", &Params(&self.params))
            .field("files", &self.files)
            .field("http_method", &self.http_method)
            .field("simplify", &self.simplify)
            .finish()
    }
}

impl Request {
    /// A request for `api` (validated by [`ApiName::parse`]).
    pub fn new(api: &str) -> Result<Self> {
        Ok(Self {
            api: ApiName::parse(api)?,
            params: Vec::new(),
            files: Vec::new(),
            http_method: HttpMethod::Post,
            simplify: false,
        })
    }

    /// Adds a business parameter (builder style).
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_param(key, value);
        self
    }

    /// Adds a business parameter when `value` is `Some` (builder style).
    pub fn param_opt(self, key: impl Into<String>, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.param(key, v),
            None => self,
        }
    }

    /// Adds or replaces a business parameter.
    pub fn set_param(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.params.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.params.push((key, value)),
        }
    }

    /// TOP's `simplify` option.
    pub fn is_simplify(&self) -> bool {
        self.simplify
    }

    /// The business parameters that are sent: those whose value is neither empty nor
    /// whitespace-only, in the order given.
    pub fn sent_params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params
            .iter()
            .filter(|(_, v)| !is_blank(v))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The keys of business parameters that are dropped because their value is empty or
    /// whitespace-only.
    pub fn dropped_params(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .filter(|(_, v)| is_blank(v))
            .map(|(k, _)| k.as_str())
    }

    /// Adds a file part (builder style); the request is then sent as multipart (POST only).
    pub fn file(mut self, part: FilePart) -> Self {
        self.files.push(part);
        self
    }

    /// Chooses GET or POST (builder style).
    pub fn http_method(mut self, method: HttpMethod) -> Self {
        self.http_method = method;
        self
    }

    /// TOP's `simplify` option (builder style); ignored for GOP.
    pub fn simplify(mut self, simplify: bool) -> Self {
        self.simplify = simplify;
        self
    }

    /// The API name.
    pub fn api(&self) -> &ApiName {
        &self.api
    }

    /// The business parameters as given (including empty values, which are dropped when sent).
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The file parts.
    pub fn files(&self) -> &[FilePart] {
        &self.files
    }

    /// GET or POST.
    pub fn method(&self) -> HttpMethod {
        self.http_method
    }

    /// Every pair that is sent, `sign` included, sorted by key bytes: business parameters minus
    /// empty values, system parameters (docs/src/concepts/protocol.md#system-parameters) and,
    /// for TOP, `method`, `format`, `v`, `simplify`.
    /// `timestamp_ms` is Unix epoch milliseconds.
    pub fn signed_pairs(
        &self,
        credentials: &Credentials,
        access_token: Option<&AccessToken>,
        timestamp_ms: i64,
    ) -> Result<Vec<(String, String)>> {
        let style = self.api.style();
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(self.params.len() + 10);
        for (k, v) in self.sent_params() {
            if k.is_empty() {
                return Err(Error::InvalidRequest(
                    "a business parameter has an empty name".to_owned(),
                ));
            }
            if is_system_param(style, k) {
                return Err(Error::InvalidRequest(format!(
                    "business parameter `{k}` collides with a system parameter the SDK sets \
                     (pass tokens as the access-token argument, not as parameters)"
                )));
            }
            pairs.push((k.to_owned(), v.to_owned()));
        }
        if let Some(name) = self
            .files
            .iter()
            .map(|f| f.name.as_str())
            .find(|n| is_system_param(style, n) || self.sent_params().any(|(k, _)| k == *n))
        {
            return Err(Error::InvalidRequest(format!(
                "file part `{name}` has the name of a parameter"
            )));
        }
        let system = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        pairs.push(system("app_key", &credentials.app_key));
        pairs.push(system("timestamp", &timestamp_ms.to_string()));
        // MD5 is valid on /sync only: path APIs (token calls included) always use HMAC-SHA256.
        let method = match style {
            Style::Gop => SignMethod::Sha256,
            Style::Top => credentials.sign_method,
        };
        pairs.push(system("sign_method", method.as_str()));
        if let Some(partner) = credentials.partner_id.as_deref().filter(|p| !is_blank(p)) {
            pairs.push(system("partner_id", partner));
        }
        if let Some(token) = access_token.filter(|t| !is_blank(t.secret())) {
            let key = match style {
                Style::Gop => "access_token",
                Style::Top => "session",
            };
            pairs.push(system(key, token.secret()));
        }
        if style == Style::Top {
            pairs.push(system("method", self.api.as_str()));
            pairs.push(system("format", "json"));
            pairs.push(system("v", "2.0"));
            pairs.push(system(
                "simplify",
                if self.simplify { "true" } else { "false" },
            ));
        }
        let signature = sign(
            method,
            &credentials.app_secret,
            self.api.sign_prefix(),
            &pairs,
        );
        pairs.push(("sign".to_owned(), signature));
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(pairs)
    }

    /// The complete signed HTTP request for `gateway`. POST: every parameter in a UTF-8 form
    /// body, nothing in the query; GET: every parameter in the query; with file parts:
    /// `multipart/form-data` (file parts unsigned).
    pub fn to_http(
        &self,
        gateway: &Gateway,
        credentials: &Credentials,
        access_token: Option<&AccessToken>,
        timestamp_ms: i64,
    ) -> Result<http::Request<Vec<u8>>> {
        let pairs = self.signed_pairs(credentials, access_token, timestamp_ms)?;
        self.http_of(gateway, &pairs)
    }

    /// [`Request::to_http`], and a [`Redactor`] holding the secret values it sends (app
    /// secret, access token, secret business parameters, signature): what must never appear
    /// in a message about its answer.
    pub fn to_http_redacting(
        &self,
        gateway: &Gateway,
        credentials: &Credentials,
        access_token: Option<&AccessToken>,
        timestamp_ms: i64,
    ) -> Result<(http::Request<Vec<u8>>, Redactor)> {
        let pairs = self.signed_pairs(credentials, access_token, timestamp_ms)?;
        let mut redactor = Redactor::new();
        redactor.add(credentials.app_secret.secret());
        redactor.add_secret_params(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok((self.http_of(gateway, &pairs)?, redactor))
    }

    /// The HTTP request carrying the signed `pairs`.
    fn http_of(
        &self,
        gateway: &Gateway,
        pairs: &[(String, String)],
    ) -> Result<http::Request<Vec<u8>>> {
        let endpoint = gateway.endpoint(&self.api);
        let builder = http::Request::builder();
        let built = if !self.files.is_empty() {
            if self.http_method == HttpMethod::Get {
                return Err(Error::InvalidRequest(
                    "file parts need POST (multipart/form-data)".to_owned(),
                ));
            }
            let (content_type, body) = multipart_body(pairs, &self.files)?;
            builder
                .method(http::Method::POST)
                .uri(endpoint)
                .header(http::header::CONTENT_TYPE, content_type)
                .body(body)
        } else {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            match self.http_method {
                HttpMethod::Post => builder
                    .method(http::Method::POST)
                    .uri(endpoint)
                    .header(http::header::CONTENT_TYPE, FORM_CONTENT_TYPE)
                    .body(encoded.into_bytes()),
                HttpMethod::Get => builder
                    .method(http::Method::GET)
                    .uri(format!("{endpoint}?{encoded}"))
                    .body(Vec::new()),
            }
        };
        // The URL may hold the token (GET): never echo it or the http error's detail.
        built.map_err(|_| Error::InvalidRequest("the request URL is not valid".to_owned()))
    }
}

/// `Content-Type` of a POST without files.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=UTF-8";

/// Parameters the SDK sets on every call (docs/src/concepts/protocol.md#system-parameters);
/// business parameters may not use these names. The one list: the emulator and the bindings use it.
pub const SYSTEM_PARAMS: &[&str] = &[
    "app_key",
    "timestamp",
    "sign_method",
    "sign",
    "partner_id",
    "access_token",
    "session",
];

/// Parameters the SDK also sets on every TOP (`/sync`) call.
pub const TOP_SYSTEM_PARAMS: &[&str] = &["method", "format", "v", "simplify"];

/// Whether `key` is a parameter the SDK sets itself on a call of `style`; a business parameter
/// of that name is refused.
pub fn is_system_param(style: Style, key: &str) -> bool {
    SYSTEM_PARAMS.contains(&key) || (style == Style::Top && TOP_SYSTEM_PARAMS.contains(&key))
}

/// Empty or whitespace-only: dropped from signature and wire alike
/// (docs/src/concepts/protocol.md#signing).
pub(crate) fn is_blank(value: &str) -> bool {
    value.trim().is_empty()
}

/// Escapes a name for a `Content-Disposition` quoted string (as browsers do: `"`, CR, LF).
fn disposition_quote(name: &str) -> String {
    name.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Whether `needle` occurs in `haystack`.
fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A `multipart/form-data` body: every signed pair as a text part, then the file parts. The
/// boundary is derived from the content and checked not to occur in any of it.
fn multipart_body(pairs: &[(String, String)], files: &[FilePart]) -> Result<(String, Vec<u8>)> {
    for f in files {
        if f.content_type.chars().any(char::is_control) || f.content_type.trim().is_empty() {
            return Err(Error::InvalidRequest(format!(
                "file part `{}` has an invalid content type",
                f.name
            )));
        }
    }
    // Deterministic (the pure layer has no randomness): a hash of the sizes, then counting up
    // until the boundary occurs in no value, name and file.
    let seed = pairs
        .iter()
        .map(|(k, v)| k.len() * 31 + v.len())
        .sum::<usize>()
        + files.iter().map(|f| f.data.len()).sum::<usize>();
    let mut boundary = String::new();
    let mut found = false;
    for n in 0..1024usize {
        boundary = format!(
            "iop-boundary-{:016x}",
            seed.wrapping_mul(0x9E37_79B9).wrapping_add(n)
        );
        let b = boundary.as_bytes();
        let clash = pairs
            .iter()
            .any(|(k, v)| contains_bytes(k.as_bytes(), b) || contains_bytes(v.as_bytes(), b))
            || files.iter().any(|f| {
                contains_bytes(&f.data, b)
                    || contains_bytes(f.name.as_bytes(), b)
                    || contains_bytes(f.file_name.as_bytes(), b)
            });
        if !clash {
            found = true;
            break;
        }
    }
    if !found {
        return Err(Error::InvalidRequest(
            "no multipart boundary fits this content".to_owned(),
        ));
    }
    let mut body = Vec::with_capacity(
        256 + pairs
            .iter()
            .map(|(k, v)| k.len() + v.len() + 96)
            .sum::<usize>()
            + files.iter().map(|f| f.data.len() + 192).sum::<usize>(),
    );
    for (k, v) in pairs {
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(disposition_quote(k).as_bytes());
        body.extend_from_slice(b"\"\r\n\r\n");
        body.extend_from_slice(v.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    for f in files {
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(disposition_quote(&f.name).as_bytes());
        body.extend_from_slice(b"\"; filename=\"");
        body.extend_from_slice(disposition_quote(&f.file_name).as_bytes());
        body.extend_from_slice(b"\"\r\nContent-Type: ");
        body.extend_from_slice(f.content_type.as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(&f.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--");
    body.extend_from_slice(boundary.as_bytes());
    body.extend_from_slice(b"--\r\n");
    Ok((format!("multipart/form-data; boundary={boundary}"), body))
}
