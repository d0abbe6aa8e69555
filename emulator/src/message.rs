//! What passes between the HTTP server (`server`) and the gateway: a request with its body read, and
//! what to do with it. No HTTP parsing here: hyper reads the wire.

use bytes::Bytes;
use http::HeaderMap;

/// A request with its whole body read.
#[derive(Debug)]
pub(crate) struct HttpRequest {
    /// `GET`, `POST`, …
    pub(crate) method: http::Method,
    /// The request target: path and query.
    pub(crate) target: String,
    /// The headers as received.
    pub(crate) headers: HeaderMap,
    /// The body, de-chunked.
    pub(crate) body: Bytes,
}

impl HttpRequest {
    /// The path part of the target.
    pub(crate) fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The query part of the target (without `?`), empty when absent.
    pub(crate) fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// A header by name (the last one of a repeated header), when it is text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(name)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
    }
}

/// What the server does with a request.
#[derive(Debug)]
pub(crate) enum Reply {
    /// An HTTP response.
    Response {
        /// Status code.
        status: u16,
        /// `Content-Type`.
        content_type: &'static str,
        /// Body.
        body: Vec<u8>,
    },
    /// Close the connection at once, without a response (RST: `SO_LINGER` 0).
    Reset,
    /// `302 Found` to this location.
    Redirect(String),
}

impl Reply {
    /// A JSON response of `value` (a JSON tree or any serializable answer).
    pub(crate) fn json(status: u16, value: &impl serde::Serialize) -> Self {
        const CONTENT_TYPE: &str = "application/json;charset=UTF-8";
        // 1 KiB holds a token answer without growing.
        let mut body = Vec::with_capacity(1024);
        match serde_json::to_writer(&mut body, value) {
            Ok(()) => Reply::Response {
                status,
                content_type: CONTENT_TYPE,
                body,
            },
            // Only a `Serialize` impl that fails can get here; none of the emulator's does.
            Err(_) => Reply::Response {
                status: 500,
                content_type: CONTENT_TYPE,
                body: br#"{"code":"InternalError","message":"answer not serializable"}"#.to_vec(),
            },
        }
    }
}
