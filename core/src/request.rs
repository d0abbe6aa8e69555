//! Requests: business parameters, file parts, system parameters and the signed
//! `http::Request` (PROTOCOL.md §2–4).

use crate::api::ApiName;
use crate::error::Result;
use crate::gateway::Gateway;
use crate::secret::{AccessToken, AppSecret};
use crate::sign::SignMethod;

/// The application's credentials and signing options, shared by every call.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `app_key`.
    pub app_key: String,
    /// The HMAC key.
    pub app_secret: AppSecret,
    /// `sign_method`; `Sha256` unless a TOP integration needs the legacy `Md5`.
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
#[derive(Debug, Clone)]
pub struct Request {
    api: ApiName,
    params: Vec<(String, String)>,
    files: Vec<FilePart>,
    http_method: HttpMethod,
    simplify: bool,
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
        todo!("{}{}", key.into(), value.into())
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
    /// empty values, system parameters (§2) and, for TOP, `method`, `format`, `v`, `simplify`.
    /// `timestamp_ms` is Unix epoch milliseconds.
    pub fn signed_pairs(
        &self,
        credentials: &Credentials,
        access_token: Option<&AccessToken>,
        timestamp_ms: i64,
    ) -> Result<Vec<(String, String)>> {
        todo!("{credentials:?}{access_token:?}{timestamp_ms}")
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
        todo!("{gateway:?}{credentials:?}{access_token:?}{timestamp_ms}")
    }
}
