//! `iop_client`: create and refresh tokens, call any API.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use iop_core::{
    AccessToken, AppSecret, AuthCode, Client, ClientBuilder, Gateway, RefreshToken, Request,
};

use crate::boundary::{boundary, guard};
use crate::error::iop_error;
use crate::ffi::{
    BoxCastable, free, into_raw, opt_str, to_c_string, try_mut, try_out, try_pairs, try_ref,
    try_str,
};
use crate::result::{Failure, iop_result};
use crate::token::TokenHandle;
use crate::token::iop_token;

/// A client for one app on one gateway: app key, app secret, base URL, HTTP settings, a pool of
/// connections.
///
/// Create with `iop_client_new`, free with `iop_client_free`. A `const iop_client *` may be used
/// by any number of threads at once (the type is `Send + Sync`): one client serves a whole
/// program. Only the `iop_client_set_*` functions and `iop_client_free` need the client to
/// yourself.
pub struct iop_client {
    _private: [u8; 0],
}

impl BoxCastable for iop_client {
    type Rust = ClientHandle;
}

/// What an `iop_client` holds: the built client. A setting changes by deriving a new client
/// from it (`Client::to_builder`), so every other setting carries over.
pub(crate) struct ClientHandle {
    pub(crate) client: Arc<Client>,
}

impl ClientHandle {
    /// Derives a client with `change` applied and puts it in place; on failure nothing changes.
    fn reconfigure(
        &mut self,
        change: impl FnOnce(ClientBuilder) -> ClientBuilder,
    ) -> Result<(), Failure> {
        self.client = Arc::new(change(self.client.to_builder()).build()?);
        Ok(())
    }
}

/// Creates a client for one app on one gateway and writes it to `*out`.
///
/// - `base_url`: the gateway, e.g. `"https://api-sg.aliexpress.com"` (a vendor-style `/rest` or
///   `/sync` suffix is accepted and stripped); NULL means AliExpress
///   (`https://api-sg.aliexpress.com`). Only `https` is accepted, except plain `http` to a
///   loopback address (the emulator).
/// - `app_key`, `app_secret`: the app's credentials (not NULL). The secret is copied; it never
///   appears in errors or logs.
///
/// Free the client with `iop_client_free`. The client may be shared by any number of threads
/// (see `iop_client`).
///
/// On failure, when `err` is not NULL, `*err` receives an `iop_error` saying what is wrong with
/// which argument (free with `iop_error_free`); on success `*err` is not touched.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_INVALID_ARGUMENT` (malformed URL, plain `http` to a host that is not loopback);
/// `IOP_RESULT_TRANSPORT` (the HTTP stack could not be set up); `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_client_new(
    base_url: *const c_char,
    app_key: *const c_char,
    app_secret: *const c_char,
    out: *mut *mut iop_client,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let base_url = opt_str(base_url, "base_url")?;
        let app_key = try_str(app_key, "app_key")?;
        let app_secret = AppSecret::new(try_str(app_secret, "app_secret")?);
        let out = try_out(out, "out")?;
        let gateway = match base_url {
            Some(url) => Gateway::new(url)?,
            None => Gateway::aliexpress(),
        };
        let client = Arc::new(Client::new(app_key, app_secret, gateway)?);
        out.write(into_raw::<iop_client>(ClientHandle { client }));
        Ok(())
    })
}

/// Sets the connect and read timeouts of the client's HTTP connections, in milliseconds (both
/// greater than 0; the defaults are 10 s connect, 30 s read).
///
/// Needs the client to yourself: no other thread may use `c` during this call. Token managers
/// made from `c` before keep the old settings. `err` as for `iop_client_new`.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT` (a zero
/// timeout; the CA file given earlier can no longer be read); `IOP_RESULT_TRANSPORT`;
/// `IOP_RESULT_PANIC`. On failure the client is unchanged.
#[unsafe(no_mangle)]
pub extern "C" fn iop_client_set_timeout_ms(
    c: *mut iop_client,
    connect_ms: u32,
    read_ms: u32,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_mut(c, "c")?;
        if connect_ms == 0 || read_ms == 0 {
            return Err(Failure::new(
                iop_result::IOP_RESULT_INVALID_ARGUMENT,
                "timeouts must be greater than 0 ms",
            ));
        }
        let timeouts = (
            Duration::from_millis(connect_ms.into()),
            Duration::from_millis(read_ms.into()),
        );
        handle.reconfigure(|b| b.timeouts(timeouts.0, timeouts.1))
    })
}

/// Sets how many attempts a call may make in all (default 3; 1 disables retries). Retries
/// happen only where repeating is safe: connection failures before sending, HTTP 5xx, ISP and
/// SYSTEM errors, and short rate-limit bans; never for signature, authorization or client
/// errors.
///
/// Needs the client to yourself, like `iop_client_set_timeout_ms`. `err` as for
/// `iop_client_new`.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT`
/// (`max_attempts` 0); `IOP_RESULT_TRANSPORT`; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_client_set_max_attempts(
    c: *mut iop_client,
    max_attempts: u32,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_mut(c, "c")?;
        if max_attempts == 0 {
            return Err(Failure::new(
                iop_result::IOP_RESULT_INVALID_ARGUMENT,
                "max_attempts must be at least 1",
            ));
        }
        let mut retry = handle.client.retry_policy().clone();
        retry.max_attempts = max_attempts;
        handle.reconfigure(|b| b.retry(retry))
    })
}

/// Sends every call through an HTTP `CONNECT` proxy: `proxy_url` is
/// `http://[user:password@]host:port` (or `https://…` for TLS to the proxy itself, checked like
/// any server); NULL removes the proxy. The URL is copied; its credentials never appear in
/// errors or logs.
///
/// Needs the client to yourself, like `iop_client_set_timeout_ms`. `err` as for
/// `iop_client_new`.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT` (`c`); `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_INVALID_ARGUMENT` (not an http or https proxy URL); `IOP_RESULT_PANIC`. On
/// failure the client is unchanged.
#[unsafe(no_mangle)]
pub extern "C" fn iop_client_set_proxy(
    c: *mut iop_client,
    proxy_url: *const c_char,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_mut(c, "c")?;
        let proxy = opt_str(proxy_url, "proxy_url")?.map(str::to_owned);
        let mut config = handle.client.http_config().clone();
        config.proxy = proxy;
        handle.reconfigure(|b| b.http_config(config))
    })
}

/// Trusts the certificates of the PEM file at `pem_path` beside the bundled roots (a private or
/// TLS-inspecting CA, for the gateway or for an `https://` proxy); NULL goes back to the
/// bundled roots alone. The file is read now (and again by later `iop_client_set_*` calls).
/// Certificate checks themselves cannot be turned off.
///
/// Needs the client to yourself, like `iop_client_set_timeout_ms`. `err` as for
/// `iop_client_new`.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT` (`c`); `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_INVALID_ARGUMENT` (the file cannot be read or holds no certificate: the message
/// says which); `IOP_RESULT_PANIC`. On failure the client is unchanged.
#[unsafe(no_mangle)]
pub extern "C" fn iop_client_set_ca_file(
    c: *mut iop_client,
    pem_path: *const c_char,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_mut(c, "c")?;
        let path = opt_str(pem_path, "pem_path")?.map(std::path::PathBuf::from);
        let mut config = handle.client.http_config().clone();
        config.extra_root_certificates = path;
        handle.reconfigure(|b| b.http_config(config))
    })
}

/// With `trust_env` true, also reads the environment when settings are applied (now, and at
/// each later `iop_client_set_*` call): `HTTPS_PROXY` (else `https_proxy`, `ALL_PROXY`,
/// `all_proxy`) when no proxy was set, `NO_PROXY` (hosts reached directly) and `SSL_CERT_FILE`
/// (trusted beside the bundled roots) when no CA file was set. Off by default: the environment
/// is not read.
///
/// Needs the client to yourself, like `iop_client_set_timeout_ms`. `err` as for
/// `iop_client_new`.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_ARGUMENT` (the
/// environment names a malformed proxy or an unreadable CA file); `IOP_RESULT_PANIC`. On
/// failure the client is unchanged.
#[unsafe(no_mangle)]
pub extern "C" fn iop_client_set_trust_env(
    c: *mut iop_client,
    trust_env: bool,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_mut(c, "c")?;
        let mut config = handle.client.http_config().clone();
        config.trust_env = trust_env;
        handle.reconfigure(|b| b.http_config(config))
    })
}

/// Frees a client. NULL is a no-op. No other thread may be using it.
#[unsafe(no_mangle)]
pub extern "C" fn iop_client_free(c: *mut iop_client) {
    guard((), || free(c));
}

/// `/auth/token/create`: exchanges an authorization code from the seller's OAuth redirect
/// (single use, valid 30 minutes) for a token set, written to `*out` (free with
/// `iop_token_free`).
///
/// On failure, when `err` is not NULL, `*err` receives an `iop_error` (free with
/// `iop_error_free`); on success `*err` is not touched. Thread safety: `c` may be shared.
///
/// Returns `IOP_RESULT_OK`; argument results (`IOP_RESULT_NULL_ARGUMENT`,
/// `IOP_RESULT_INVALID_UTF8`, `IOP_RESULT_INVALID_ARGUMENT` for an empty or blank code, refused
/// before anything is sent); gateway results (`IOP_RESULT_REAUTHORIZE` for a used, unknown
/// or expired code, `IOP_RESULT_SIGNATURE`, `IOP_RESULT_RATE_LIMITED`,
/// `IOP_RESULT_GATEWAY_RETRYABLE`, `IOP_RESULT_GATEWAY_CLIENT`, `IOP_RESULT_GATEWAY_UNKNOWN`);
/// `IOP_RESULT_DECODE`; `IOP_RESULT_TRANSPORT`; `IOP_RESULT_TIMEOUT`; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_client_create_token(
    c: *const iop_client,
    code: *const c_char,
    out: *mut *mut iop_token,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_ref(c, "c")?;
        let code = AuthCode::new(non_empty(try_str(code, "code")?, "code")?);
        let out = try_out(out, "out")?;
        let token = handle.client.create_token(&code, None)?;
        out.write(into_raw::<iop_token>(TokenHandle::new(token)));
        Ok(())
    })
}

/// `/auth/token/refresh`: a new token set for `refresh_token`, written to `*out` (free with
/// `iop_token_free`). Store the new refresh token: the old one may stop working now.
///
/// `err` as for `iop_client_create_token`. Thread safety: `c` may be shared.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_INVALID_ARGUMENT` (an empty or blank refresh token, refused before anything is
/// sent); `IOP_RESULT_REAUTHORIZE` (`IllegalRefreshToken`: the refresh token is dead, the seller must
/// authorize again); `IOP_RESULT_SIGNATURE`; `IOP_RESULT_RATE_LIMITED`;
/// `IOP_RESULT_GATEWAY_RETRYABLE`; `IOP_RESULT_GATEWAY_CLIENT`; `IOP_RESULT_GATEWAY_UNKNOWN`;
/// `IOP_RESULT_DECODE`; `IOP_RESULT_TRANSPORT`; `IOP_RESULT_TIMEOUT`; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_client_refresh_token(
    c: *const iop_client,
    refresh_token: *const c_char,
    out: *mut *mut iop_token,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_ref(c, "c")?;
        let refresh_token = RefreshToken::new(non_empty(
            try_str(refresh_token, "refresh_token")?,
            "refresh_token",
        )?);
        let out = try_out(out, "out")?;
        let token = handle.client.refresh_token(&refresh_token)?;
        out.write(into_raw::<iop_token>(TokenHandle::new(token)));
        Ok(())
    })
}

/// Calls any API and writes the JSON text of the answer's body to `*out_json` (free with
/// `iop_string_free`).
///
/// - `api`: a GOP path (`"/seller/get"`, sent to `{base}/rest/seller/get`) or a TOP method name
///   (`"aliexpress.solution.product.list.get"`, sent to `{base}/sync`); the name decides.
/// - `keys`, `values`, `count`: the business parameters (empty and whitespace-only values are
///   not sent); with `count == 0` both arrays may be NULL.
/// - `access_token`: the seller's access token, or NULL for calls made for no seller.
///
/// Gateway error envelopes are failures, not JSON. `err` as for `iop_client_create_token`.
/// Thread safety: `c` may be shared.
///
/// Returns `IOP_RESULT_OK`; `IOP_RESULT_NULL_ARGUMENT`; `IOP_RESULT_INVALID_UTF8`;
/// `IOP_RESULT_INVALID_ARGUMENT` (malformed API name, a business parameter named like a system
/// one); `IOP_RESULT_ACCESS_TOKEN_INVALID` (refresh the token and retry); every other gateway
/// result; `IOP_RESULT_DECODE`; `IOP_RESULT_TRANSPORT`; `IOP_RESULT_TIMEOUT`; `IOP_RESULT_PANIC`.
#[unsafe(no_mangle)]
pub extern "C" fn iop_client_call(
    c: *const iop_client,
    api: *const c_char,
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
    access_token: *const c_char,
    out_json: *mut *mut c_char,
    err: *mut *mut iop_error,
) -> iop_result {
    boundary(err, || {
        let handle = try_ref(c, "c")?;
        let api = try_str(api, "api")?;
        let pairs = try_pairs(keys, values, count)?;
        let access_token = opt_str(access_token, "access_token")?.map(AccessToken::new);
        let out_json = try_out(out_json, "out_json")?;
        let mut request = Request::new(api)?;
        for (key, value) in pairs {
            request.set_param(key, value);
        }
        let body = handle.client.call(&request, access_token.as_ref())?;
        out_json.write(to_c_string(body.to_string(), "the answer")?);
        Ok(())
    })
}

/// Refuses an empty or blank secret argument before anything is sent (the gateway would only
/// answer `MissingParameter`), as the Python binding does.
fn non_empty<'a>(value: &'a str, what: &str) -> Result<&'a str, Failure> {
    if value.trim().is_empty() {
        Err(Failure::new(
            iop_result::IOP_RESULT_INVALID_ARGUMENT,
            format!("{what} must not be empty"),
        ))
    } else {
        Ok(value)
    }
}
