//! The connection layer under [`super::HttpTransport`]: `ureq`'s own connectors (TCP, proxy
//! `CONNECT`, rustls), wrapped to
//! - mark every failure while connecting (TCP connect, proxy, TLS handshake and certificate
//!   checks) as "nothing was sent", so that the error says so and a retry is safe;
//! - send a request's head and its body in one write, where `ureq` would write them apart (one
//!   system call and one TCP segment per request instead of two).

use std::fmt;

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

/// The marker inside an `io::Error` that failed while connecting: nothing was sent.
#[derive(Debug)]
pub(crate) struct NotSent(pub(crate) std::io::Error);

impl fmt::Display for NotSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for NotSent {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Whether `io` failed while connecting (see [`NotSent`]).
pub(crate) fn failed_connecting(io: &std::io::Error) -> bool {
    io.get_ref().is_some_and(|inner| inner.is::<NotSent>())
}

/// `ureq`'s default connector chain, wrapped (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct IopConnector {
    inner: DefaultConnector,
}

impl Connector<()> for IopConnector {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        match self.inner.connect(details, chained) {
            Ok(Some(transport)) => Ok(Some(Box::new(OneWrite::new(transport)))),
            Ok(None) => Ok(None),
            Err(ureq::Error::Io(io)) => {
                Err(ureq::Error::Io(std::io::Error::new(io.kind(), NotSent(io))))
            }
            Err(e) => Err(e),
        }
    }
}

/// A transport that holds back a request head announcing a body, and writes it together with
/// the body's first bytes.
struct OneWrite {
    inner: Box<dyn Transport>,
    held: Vec<u8>,
}

impl fmt::Debug for OneWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneWrite")
            .field("inner", &self.inner)
            .field("held", &self.held.len())
            .finish()
    }
}

impl OneWrite {
    fn new(inner: Box<dyn Transport>) -> Self {
        Self {
            inner,
            held: Vec::new(),
        }
    }

    /// Sends what is held, alone.
    fn flush_held(&mut self, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let output = self.inner.buffers().output();
        if output.len() < held.len() {
            return Err(ureq::Error::Io(std::io::Error::other(
                "request head larger than the output buffer",
            )));
        }
        output[..held.len()].copy_from_slice(&held);
        self.inner.transmit_output(held.len(), timeout)
    }
}

/// Whether `data` is a complete request head (ending the header block) that announces a body
/// of known, non-zero length, without `Expect: 100-continue` (whose body must wait).
fn is_head_before_body(data: &[u8]) -> bool {
    if !data.ends_with(b"\r\n\r\n") || data.len() > 64 * 1024 {
        return false;
    }
    let mut announces_body = false;
    for line in data.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            announces_body = value.iter().any(|&b| b != b'0') && !value.is_empty();
        } else if name.eq_ignore_ascii_case(b"expect") {
            return false;
        }
    }
    announces_body
}

impl Transport for OneWrite {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.held.is_empty() {
            let data = &self.inner.buffers().output()[..amount];
            if is_head_before_body(data) {
                self.held.extend_from_slice(data);
                return Ok(());
            }
            return self.inner.transmit_output(amount, timeout);
        }
        // The body follows the held head: move it behind the head in the output buffer and
        // send both at once, or one after the other when they do not fit.
        let held = self.held.len();
        let output = self.inner.buffers().output();
        if held + amount <= output.len() {
            output.copy_within(..amount, held);
            output[..held].copy_from_slice(&self.held);
            self.held.clear();
            self.inner.transmit_output(held + amount, timeout)
        } else {
            let body = output[..amount].to_vec();
            self.flush_held(timeout)?;
            self.inner.buffers().output()[..amount].copy_from_slice(&body);
            self.inner.transmit_output(amount, timeout)
        }
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.flush_held(timeout)?;
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        // Never wait for an answer to a request not yet sent.
        self.flush_held(timeout)?;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_before_bodies() {
        assert!(is_head_before_body(
            b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n"
        ));
        assert!(is_head_before_body(
            b"POST /x HTTP/1.1\r\ncontent-length:3\r\n\r\n"
        ));
        assert!(!is_head_before_body(
            b"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!is_head_before_body(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert!(!is_head_before_body(
            b"POST /x HTTP/1.1\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n"
        ));
        assert!(!is_head_before_body(
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(!is_head_before_body(
            b"POST /x HTTP/1.1\r\nContent-Length: 12\r\n"
        ));
    }
}
