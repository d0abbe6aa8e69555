//! How [`crate::store::PostgresStore`] reaches its server: the options iop reads from a
//! connection string (`sslmode`, `ca_file`, `insecure_plaintext`), TLS by rustls, and the rules
//! for plain TCP.
//!
//! - `sslmode=verify-full` and `require`: TLS, the certificate checked against the roots of
//!   [`crate::store::tls`] and the host name; `verify-ca`: the same without the host name;
//!   `prefer` (the default): TLS when the server offers it (checked as `verify-full`), plain TCP
//!   otherwise; `disable`: plain TCP.
//! - Plain TCP to a host that is not a loopback address (or a Unix socket) needs
//!   `insecure_plaintext=true` besides: without it `disable` is refused and `prefer` requires
//!   TLS.
//! - On plain TCP to such a host, the server is asked first (a connection of its own, no
//!   password sent) how it authenticates this user: a server that wants the password in clear
//!   (pg_hba.conf method `password`) is refused.

use std::future::Future;
use std::io;
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use postgres::Socket;
use postgres::config::{Host, SslMode as DriverSslMode};
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use postgres_protocol::message::{backend, frontend};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::Result;
use crate::store::{store_error, tls};

/// `sslmode` as iop reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when offered, plain TCP otherwise.
    Prefer,
    /// TLS, certificate and host name checked.
    Require,
    /// TLS, certificate checked, host name not.
    VerifyCa,
    /// TLS, certificate and host name checked.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(store_error(
                    "",
                    format!(
                        "sslmode={other:?} is not one of disable, prefer, require, verify-ca, \
                         verify-full"
                    ),
                ));
            }
        })
    }
}

/// The options iop reads from a connection string, and the string without them (for the
/// driver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectionOptions {
    /// The connection string without iop's options.
    pub(crate) driver_dsn: String,
    pub(crate) sslmode: SslMode,
    pub(crate) ca_file: Option<String>,
    pub(crate) insecure_plaintext: bool,
}

/// The options of iop in a connection string: a URL (`postgres://…?sslmode=…&ca_file=…`) or
/// libpq `key=value` words. Values are read as the driver reads them; the message of an error
/// never quotes the string.
pub(crate) fn connection_options(dsn: &str) -> Result<ConnectionOptions> {
    let mut options = ConnectionOptions {
        driver_dsn: String::new(),
        sslmode: SslMode::Prefer,
        ca_file: None,
        insecure_plaintext: false,
    };
    let mut take = |name: &str, value: &str| -> Result<bool> {
        match name {
            "sslmode" => options.sslmode = SslMode::parse(value)?,
            "ca_file" => options.ca_file = Some(value.to_owned()),
            "insecure_plaintext" => {
                options.insecure_plaintext = match value {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    other => {
                        return Err(store_error(
                            "",
                            format!("insecure_plaintext={other:?} is not true or false"),
                        ));
                    }
                }
            }
            "sslrootcert" | "sslcert" | "sslkey" => {
                return Err(store_error(
                    "",
                    format!("{name} is not read by iop: give the server's CA with ca_file="),
                ));
            }
            _ => return Ok(false),
        }
        Ok(true)
    };
    let is_url = ["postgres://", "postgresql://"].iter().any(|scheme| {
        dsn.get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
    });
    let driver_dsn = if is_url {
        // The query starts at the first `?` after the user information (up to the first `@`),
        // as the driver splits it.
        let after_scheme = dsn.find("://").map_or(0, |at| at + 3);
        let search_from = dsn[after_scheme..]
            .find('@')
            .map_or(after_scheme, |at| after_scheme + at + 1);
        match dsn[search_from..].find('?') {
            None => dsn.to_owned(),
            Some(at) => {
                let (base, query) = dsn.split_at(search_from + at);
                let mut kept = Vec::new();
                for pair in query[1..].split('&').filter(|pair| !pair.is_empty()) {
                    let (name, value) = form_urlencoded::parse(pair.as_bytes())
                        .next()
                        .unwrap_or_default();
                    if !take(&name, &value)? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for (name, value, raw) in key_value_words(dsn)? {
            if !take(&name, &value)? {
                kept.push(raw);
            }
        }
        kept.join(" ")
    };
    options.driver_dsn = driver_dsn;
    Ok(options)
}

/// The `key=value` words of a libpq connection string: name, value (quotes and escapes
/// removed) and the word as written.
fn key_value_words(dsn: &str) -> Result<Vec<(String, String, &str)>> {
    let malformed = || store_error("", "malformed key=value connection string");
    let mut words = Vec::new();
    let mut rest = dsn.trim_start();
    while !rest.is_empty() {
        let start = rest;
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = rest[name_end..].trim_start();
        rest = rest.strip_prefix('=').ok_or_else(malformed)?.trim_start();
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = if rest.starts_with('\'') {
            chars.next();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '\'' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            end.ok_or_else(malformed)?
        } else {
            let mut end = rest.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    c if c.is_whitespace() => {
                        end = i;
                        break;
                    }
                    c => value.push(c),
                }
            }
            end
        };
        rest = &rest[end..];
        let raw = &start[..start.len() - rest.len()];
        if name.is_empty() {
            return Err(malformed());
        }
        words.push((name.to_owned(), value, raw));
        rest = rest.trim_start();
    }
    Ok(words)
}

/// Whether every host of `config` is this machine: a loopback address, `localhost`, a Unix
/// socket (a `hostaddr`, when given, decides for its host).
pub(crate) fn is_local(config: &postgres::Config) -> bool {
    let addrs = config.get_hostaddrs();
    if !addrs.is_empty() {
        return addrs.iter().all(IpAddr::is_loopback);
    }
    config.get_hosts().iter().all(|host| match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    })
}

/// How connections of a store are made, decided once at open.
#[derive(Clone)]
pub(crate) struct Connector {
    tls: RustlsConnector,
    /// Plain TCP may be used to a host that is not this machine: ask the server how it
    /// authenticates before each connection (see [`refuse_cleartext_password`]).
    probe_plaintext: bool,
}

impl Connector {
    /// The connector for `options` on `config` (whose `ssl_mode` it sets); `remote`: some
    /// host is not this machine. An error when the options ask for plain TCP to a remote host
    /// without `insecure_plaintext=true`, or the CA file cannot be read.
    pub(crate) fn new(
        options: &ConnectionOptions,
        config: &mut postgres::Config,
        remote: bool,
        ca_file: Option<&std::path::Path>,
        endpoint: &str,
    ) -> Result<Self> {
        let plaintext_allowed = !remote || options.insecure_plaintext;
        let mode = match options.sslmode {
            SslMode::Disable if !plaintext_allowed => {
                return Err(store_error(
                    "",
                    format!(
                        "{endpoint}: sslmode=disable to a host that is not this machine would \
                         send the tokens (and maybe the password) in clear: use TLS \
                         (sslmode=verify-full), or add insecure_plaintext=true to accept that"
                    ),
                ));
            }
            SslMode::Disable => DriverSslMode::Disable,
            SslMode::Prefer if plaintext_allowed => DriverSslMode::Prefer,
            SslMode::Prefer | SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                DriverSslMode::Require
            }
        };
        config.ssl_mode(mode);
        let roots = tls::root_store(tls::root_certificates(ca_file, None)?);
        let tls = RustlsConnector::new(roots, options.sslmode == SslMode::VerifyCa)?;
        Ok(Self {
            tls,
            probe_plaintext: remote && mode != DriverSslMode::Require,
        })
    }

    /// Connects as `config` says, refusing a server that asks for the password in clear on
    /// plain TCP to a remote host.
    pub(crate) fn connect(
        &self,
        config: &postgres::Config,
        timeout: Duration,
    ) -> std::result::Result<postgres::Client, ConnectError> {
        if self.probe_plaintext && config.get_password().is_some() {
            refuse_cleartext_password(config, timeout)?;
        }
        config
            .connect(self.tls.clone())
            .map_err(ConnectError::Driver)
    }
}

/// Why [`Connector::connect`] failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The driver's error.
    Driver(postgres::Error),
    /// The server asks for the password in clear on a connection that is not encrypted.
    CleartextPassword,
}

/// Asks each host of `config` (plain TCP, after offering TLS when `config` prefers it) how it
/// authenticates the user, without sending any password; a host that wants the password in
/// clear is refused. Hosts that cannot be reached, or that answer with TLS or anything else,
/// are left to the driver.
fn refuse_cleartext_password(
    config: &postgres::Config,
    timeout: Duration,
) -> std::result::Result<(), ConnectError> {
    let user = config.get_user().unwrap_or_default();
    let database = config.get_dbname().unwrap_or(user);
    let prefer = config.get_ssl_mode() == DriverSslMode::Prefer;
    let ports = config.get_ports();
    let addrs = config.get_hostaddrs();
    for (i, host) in config.get_hosts().iter().enumerate() {
        let Host::Tcp(name) = host else { continue };
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let targets: Vec<std::net::SocketAddr> = match addrs.get(i) {
            Some(ip) => vec![(*ip, port).into()],
            None => (name.trim_start_matches('[').trim_end_matches(']'), port)
                .to_socket_addrs()
                .map(Iterator::collect)
                .unwrap_or_default(),
        };
        for target in targets {
            if asks_for_cleartext(target, user, database, prefer, timeout) == Some(true) {
                return Err(ConnectError::CleartextPassword);
            }
        }
    }
    Ok(())
}

/// Whether the server at `target` asks `user` for the password in clear on plain TCP (`None`:
/// no answer, or TLS is used).
fn asks_for_cleartext(
    target: std::net::SocketAddr,
    user: &str,
    database: &str,
    offer_tls: bool,
    timeout: Duration,
) -> Option<bool> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect_timeout(&target, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let mut buf = BytesMut::new();
    if offer_tls {
        frontend::ssl_request(&mut buf);
        stream.write_all(&buf).ok()?;
        buf.clear();
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).ok()?;
        if answer[0] == b'S' {
            return None;
        }
    }
    frontend::startup_message([("user", user), ("database", database)], &mut buf).ok()?;
    stream.write_all(&buf).ok()?;
    let mut received = BytesMut::new();
    let mut chunk = [0u8; 512];
    loop {
        match backend::Message::parse(&mut received).ok()? {
            Some(backend::Message::AuthenticationCleartextPassword) => return Some(true),
            Some(_) => return Some(false),
            None => {
                let n = stream.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                received.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

/// TLS for the PostgreSQL driver by rustls (ring): the roots of [`crate::store::tls`], the host
/// name checked unless `verify-ca` asked otherwise.
#[derive(Clone)]
pub(crate) struct RustlsConnector {
    config: Arc<rustls::ClientConfig>,
}

impl RustlsConnector {
    fn new(roots: rustls::RootCertStore, skip_host_name: bool) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls_error = |e: rustls::Error| store_error("", format!("TLS set-up failed: {e}"));
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?;
        let config = if skip_host_name {
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| store_error("", format!("TLS set-up failed: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
                .with_no_client_auth()
        } else {
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        Ok(Self {
            config: Arc::new(config),
        })
    }
}

impl MakeTlsConnect<Socket> for RustlsConnector {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(domain.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
            .to_owned();
        Ok(RustlsConnect {
            name,
            connector: tokio_rustls::TlsConnector::from(Arc::clone(&self.config)),
        })
    }
}

/// One TLS handshake to come.
pub(crate) struct RustlsConnect {
    name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
}

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            self.connector
                .connect(self.name, stream)
                .await
                .map(|stream| RustlsStream(Box::new(stream)))
        })
    }
}

/// A TLS stream to the server.
pub(crate) struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl TlsStream for RustlsStream {
    /// No channel binding: SCRAM runs without it (the server is authenticated by its
    /// certificate).
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// `verify-ca`: the certificate chain checked against the roots, the host name not.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // The chain is checked before the name: a name error means the chain is good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::{SslMode, connection_options, is_local};
    use std::str::FromStr;

    #[test]
    fn iop_options_are_taken_out_of_urls_and_key_value_strings() {
        let o = connection_options(
            "postgres://u:p?w@x@h:5/db?sslmode=verify-full&application_name=a&ca_file=%2Fca.pem",
        )
        .unwrap();
        assert_eq!(o.sslmode, SslMode::VerifyFull);
        assert_eq!(o.ca_file.as_deref(), Some("/ca.pem"));
        assert!(!o.insecure_plaintext);
        assert_eq!(o.driver_dsn, "postgres://u:p?w@x@h:5/db?application_name=a");
        let o = connection_options("postgresql://h/db?insecure_plaintext=true&sslmode=disable")
            .unwrap();
        assert_eq!((o.sslmode, o.insecure_plaintext), (SslMode::Disable, true));
        assert_eq!(o.driver_dsn, "postgresql://h/db");
        let o = connection_options("postgres://h/db").unwrap();
        assert_eq!(
            (o.sslmode, o.driver_dsn.as_str()),
            (SslMode::Prefer, "postgres://h/db")
        );
        let o = connection_options(
            "host=h password='a b\\'c' sslmode=verify-ca  ca_file='/x y.pem' dbname=d",
        )
        .unwrap();
        assert_eq!(o.sslmode, SslMode::VerifyCa);
        assert_eq!(o.ca_file.as_deref(), Some("/x y.pem"));
        assert_eq!(o.driver_dsn, "host=h password='a b\\'c' dbname=d");
        let config = postgres::Config::from_str(&o.driver_dsn).unwrap();
        assert_eq!(config.get_password(), Some(&b"a b'c"[..]));
        for bad in [
            "postgres://h/db?sslmode=allow",
            "postgres://h/db?insecure_plaintext=maybe",
            "postgres://h/db?sslrootcert=/x",
            "host=h sslmode",
            "host=h password='unterminated",
        ] {
            let error = connection_options(bad).unwrap_err().to_string();
            assert!(!error.contains("unterminated"), "{error}");
        }
    }

    #[test]
    fn loopback_hosts_and_sockets_are_local() {
        for (dsn, local) in [
            ("postgres://127.0.0.1/db", true),
            ("postgres://localhost/db", true),
            ("postgres://[::1]/db", true),
            ("postgres://%2Frun%2Fpostgresql/db", true),
            ("postgres://db.internal/db", false),
            ("postgres://10.0.0.5/db", false),
            ("host=127.0.0.1,10.0.0.5 dbname=d", false),
            ("host=db.internal hostaddr=127.0.0.1 dbname=d", true),
        ] {
            let config = postgres::Config::from_str(dsn).unwrap();
            assert_eq!(is_local(&config), local, "{dsn}");
        }
    }
}
