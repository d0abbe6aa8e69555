//! Sending a signed `http::Request`: the [`Transport`] trait, and [`HttpTransport`], a pooled
//! `ureq` agent with rustls and bundled roots. Certificate checks cannot be turned off.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Result;

/// Sends one HTTP request and returns the response whatever its status.
///
/// Closures implement it, for tests:
/// `|req: http::Request<Vec<u8>>| -> iop_core::Result<http::Response<Vec<u8>>> { … }`.
pub trait Transport: Send + Sync {
    /// Sends `request`; a non-2xx status is a response, not an error.
    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>>;
}

impl<F> Transport for F
where
    F: Fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>> + Send + Sync,
{
    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>> {
        self(request)
    }
}

/// Settings of [`HttpTransport`].
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Connect timeout (default 10 s).
    pub connect_timeout: Duration,
    /// Read timeout (default 30 s).
    pub read_timeout: Duration,
    /// Overall deadline of one attempt, if any.
    pub deadline: Option<Duration>,
    /// Explicit proxy URL (`http://host:port`, `socks5://…`); none by default.
    pub proxy: Option<String>,
    /// A PEM file of extra root certificates, trusted beside the bundled roots.
    pub extra_root_certificates: Option<PathBuf>,
    /// `User-Agent`; default `iop-rs/<version>`.
    pub user_agent: String,
    /// Largest response body accepted (default 16 MiB).
    pub max_body_bytes: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            deadline: None,
            proxy: None,
            extra_root_certificates: None,
            user_agent: format!("iop-rs/{}", crate::VERSION),
            max_body_bytes: 16 << 20,
        }
    }
}

/// A pooled blocking HTTP transport (`ureq` 3, rustls, gzip). `Send + Sync`; share one.
#[derive(Debug)]
pub struct HttpTransport {
    config: HttpConfig,
}

impl HttpTransport {
    /// Builds the agent; fails on an unreadable certificate file or a bad proxy URL.
    pub fn new(config: HttpConfig) -> Result<Self> {
        todo!("{config:?}")
    }

    /// The settings it was built with.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }
}

impl Transport for HttpTransport {
    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>> {
        todo!("{request:?}")
    }
}
