//! # iop-core
//!
//! Signing, request building, token and error models for the IOP gateway behind AliExpress Open
//! Platform and Lazada Open Platform, and (feature `client`, on by default) a pooled blocking
//! HTTP client and a token lifecycle manager on top.
//!
//! ```
//! use iop_core::{AppSecret, Credentials, Gateway, Request};
//!
//! // The refresh call of the vendor SDK's own example: app key 123456, secret "helloworld".
//! let credentials = Credentials::new("123456", AppSecret::new("helloworld"));
//! let request = Request::new("/auth/token/refresh")?
//!     .param("refresh_token", "50001600212wcwiOabwyjtEH11acc19aBOvQr9ZYkYDlr987D8BB88LIB8bj");
//! // Time is an input: the same request signed at the same instant is the same bytes.
//! let http = request.to_http(&Gateway::aliexpress(), &credentials, None, 1_517_820_392_000)?;
//! assert_eq!(http.uri(), "https://api-sg.aliexpress.com/rest/auth/token/refresh");
//! let body = std::str::from_utf8(http.body()).unwrap();
//! assert!(body.starts_with("app_key=123456&refresh_token=50001600212"));
//! assert!(body.contains("&sign=") && body.contains("&sign_method=sha256&timestamp=1517820392000"));
//! # Ok::<(), iop_core::Error>(())
//! ```
//!
//! With the `client` feature, [`Client`] sends such requests (`create_token`, `refresh_token`,
//! `call`) and [`TokenManager`] keeps each seller's token alive over a [`TokenStore`].
//!
//! Data flows through one module per step:
//! API name ([`api`]) → request ([`request`]) → signed HTTP request ([`sign`](mod@sign),
//! [`gateway`]) → transport ([`transport`]) → response ([`response`]) → token
//! ([`token`]) or typed error ([`error`]).
//!
//! One home per rule, for this crate and the bindings, CLI and emulator alike: epoch
//! milliseconds in [`time`]; secret names and redaction in [`redact`]; system parameters in
//! [`request::SYSTEM_PARAMS`]; call style in [`Style`]; the sign prefix in
//! [`api::sign_prefix_of`]; the default refresh margin in `manager::DEFAULT_MARGIN`.
//!
//! Around the calls: seller onboarding (authorization URL, state, callback check) in
//! [`onboarding`], Lazada push messages (verify, parse, deduplicate) in [`push`], signature
//! diagnosis in [`explain`](mod@explain), the secret types in [`secret`]; with `client`, the HTTP stack in
//! `transport`, retries in `client`, token stores in `store` and the lifecycle in `manager`.
//!
//! The pure layer (everything but `transport`, `client`, `store` and `manager`) does no I/O,
//! reads no clock and starts no thread: time is an input.

// Without the `client` feature the crate docs still name the client layer (Client,
// TokenManager, transport), which is then not built: those links cannot resolve there.
#![cfg_attr(not(feature = "client"), allow(rustdoc::broken_intra_doc_links))]

pub mod api;
pub mod error;
pub mod explain;
pub mod gateway;
pub mod onboarding;
pub mod push;
pub mod redact;
pub mod request;
pub mod response;
pub mod secret;
pub mod sign;
pub mod time;
pub mod token;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub mod manager;
#[cfg(feature = "client")]
pub mod store;
#[cfg(feature = "client")]
pub mod transport;

pub use api::{ApiName, Style};
pub use error::{Error, ErrorClass, GatewayError, Result};
pub use explain::{Explanation, Warning, explain};
pub use gateway::{Gateway, LazadaCountry};
pub use redact::Redactor;
pub use request::{Credentials, FilePart, HttpMethod, Request};
pub use response::{parse_response, parse_response_redacting};
pub use secret::{AccessToken, AppSecret, AuthCode, RefreshToken};
pub use sign::{SignMethod, sign, string_to_sign};
pub use token::{CountryUserInfo, TokenSet};

#[cfg(feature = "client")]
pub use client::{Client, ClientBuilder, Clock, RetryPolicy, SystemClock};
#[cfg(feature = "client")]
pub use manager::{PushOutcome, RefreshDueOptions, RefreshReport, TokenManager};
#[cfg(feature = "client")]
pub use store::{FileStore, MemoryStore, StoredToken, TokenStore};
#[cfg(feature = "client")]
pub use transport::{HttpConfig, HttpTransport, Transport};

/// The crate version, as sent in the `User-Agent` header (`iop-rs/<version>`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
