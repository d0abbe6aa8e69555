//! # iop-core
//!
//! Signing, request building, token and error models for the IOP gateway behind AliExpress Open
//! Platform and Lazada Open Platform, and (feature `client`, on by default) a pooled blocking
//! HTTP client and a token lifecycle manager on top.
//!
//! Data flows through one module per step:
//! API name ([`api`]) → request ([`request`]) → signed HTTP request ([`sign`](mod@sign),
//! [`gateway`]) → transport ([`transport`]) → response ([`error::parse_response`]) → token
//! ([`token`]) or typed error ([`error`]).
//!
//! The pure layer (everything but `transport`, `client`, `store` and `manager`) does no I/O,
//! reads no clock and starts no thread: time is an input.

pub mod api;
pub mod error;
pub mod explain;
pub mod gateway;
pub mod request;
pub mod secret;
pub mod sign;
pub mod token;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub mod manager;
#[cfg(feature = "client")]
pub mod store;
#[cfg(feature = "postgres")]
pub mod store_postgres;
#[cfg(feature = "redis")]
pub mod store_redis;
#[cfg(feature = "client")]
pub mod store_url;
#[cfg(feature = "client")]
pub mod transport;

pub use api::{ApiName, Style};
pub use error::{Error, ErrorClass, GatewayError, Result, parse_response};
pub use explain::{Explanation, Warning, explain};
pub use gateway::{Gateway, LazadaCountry};
pub use request::{Credentials, FilePart, HttpMethod, Request};
pub use secret::{AccessToken, AppSecret, AuthCode, RefreshToken};
pub use sign::{SignMethod, sign, string_to_sign};
pub use token::{CountryUserInfo, TokenSet};

#[cfg(feature = "client")]
pub use client::{Client, ClientBuilder, Clock, RetryPolicy, SystemClock};
#[cfg(feature = "client")]
pub use manager::{RefreshDueOptions, RefreshReport, TokenManager};
#[cfg(feature = "client")]
pub use store::{FileStore, MemoryStore, StoredToken, TokenStore};
#[cfg(feature = "client")]
pub use transport::{HttpConfig, HttpTransport, Transport};

/// The crate version, as sent in the `User-Agent` header (`iop-rs/<version>`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
