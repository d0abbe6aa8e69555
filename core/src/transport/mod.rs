//! Sending a signed `http::Request`: the [`Transport`] trait, and [`HttpTransport`], a pooled
//! `ureq` agent with rustls and bundled roots. Certificate checks cannot be turned off.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::gateway::is_loopback_host;

mod connect;
mod resolve;

use resolve::CachingResolver;

/// Sends one HTTP request and returns the response whatever its status.
///
/// Closures implement it, for tests:
/// `|req: http::Request<Vec<u8>>| -> iop_core::Result<http::Response<Vec<u8>>> { … }`.
pub trait Transport: Send + Sync {
    /// Sends `request`; a non-2xx status is a response, not an error.
    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>>;

    /// Closes pooled connections and refuses later sends ([`crate::Client::close`]). The
    /// default does nothing: a transport without a pool has nothing to close.
    fn close(&self) {}
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
///
/// There is deliberately no setting that turns certificate verification off. The environment
/// (`HTTPS_PROXY`, `NO_PROXY`, `SSL_CERT_FILE`) is read only when [`HttpConfig::trust_env`] is
/// set.
///
/// Debug output shows the proxy as [`crate::redact::url`] does: without its `user:password@`
/// part.
#[derive(Clone)]
pub struct HttpConfig {
    /// Connect timeout (default 10 s); also bounds name resolution.
    pub connect_timeout: Duration,
    /// Read timeout (default 30 s): the longest wait for the response head, for the body, and
    /// for writing the request.
    pub read_timeout: Duration,
    /// Overall deadline of one attempt, if any.
    pub deadline: Option<Duration>,
    /// Explicit proxy URL (`http://host:port`, `https://…`, optionally with `user:password@`),
    /// tunnelled with `CONNECT`; none by default.
    pub proxy: Option<String>,
    /// A PEM file of extra root certificates, trusted beside the bundled roots.
    pub extra_root_certificates: Option<PathBuf>,
    /// Read the proxy and CA settings of the environment too (default false): `HTTPS_PROXY`
    /// (else `https_proxy`, `ALL_PROXY`, `all_proxy`) when [`HttpConfig::proxy`] is unset,
    /// `NO_PROXY` (`no_proxy`: host names, `.suffix` / `*.suffix`, `*`; hosts it matches are
    /// reached directly), and `SSL_CERT_FILE` (a PEM file trusted beside the bundled roots)
    /// when [`HttpConfig::extra_root_certificates`] is unset. Read when the transport is built.
    pub trust_env: bool,
    /// `User-Agent`; default `iop-rs/<version>`.
    pub user_agent: String,
    /// Largest response body accepted (default 16 MiB).
    pub max_body_bytes: u64,
    /// Idle keep-alive connections kept per host (default 16). Threads sharing the client beyond
    /// this number open a new connection for each call.
    pub idle_connections_per_host: usize,
    /// How long the addresses of a host name are reused before it is looked up again (default
    /// 60 s; zero: every call looks it up). A failed connection forgets them at once. IP-literal
    /// hosts are never looked up.
    pub name_cache_ttl: Duration,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("deadline", &self.deadline)
            .field("proxy", &self.proxy.as_deref().map(crate::redact::url))
            .field("extra_root_certificates", &self.extra_root_certificates)
            .field("trust_env", &self.trust_env)
            .field("user_agent", &self.user_agent)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("idle_connections_per_host", &self.idle_connections_per_host)
            .field("name_cache_ttl", &self.name_cache_ttl)
            .finish()
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            deadline: None,
            proxy: None,
            extra_root_certificates: None,
            trust_env: false,
            user_agent: format!("iop-rs/{}", crate::VERSION),
            max_body_bytes: 16 << 20,
            idle_connections_per_host: 16,
            name_cache_ttl: Duration::from_secs(60),
        }
    }
}

/// A pooled blocking HTTP transport (`ureq` 3, rustls with the `ring` provider, bundled
/// Mozilla roots, gzip). Built once, it keeps connections alive between calls. `Send + Sync`;
/// share one.
///
/// It returns every response whatever its status (the gateway answers errors with 200 and 4xx),
/// follows no redirect, and refuses plain `http` to anything but a loopback host.
///
/// Logging: its own lines (target `iop::transport`) carry no secret, but `ureq` and `ureq_proto`
/// log full URLs and hex dumps of the raw request and response bytes at `trace` level, tokens
/// included. Keep those targets at `debug` or below.
pub struct HttpTransport {
    config: HttpConfig,
    /// `None` once closed ([`Transport::close`]): the pool went with it.
    agent: std::sync::RwLock<Option<ureq::Agent>>,
    resolver: CachingResolver,
    /// The proxy in use (from the settings or the environment), without its credentials, for
    /// messages.
    proxy_shown: Option<String>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// Builds the agent; fails on an unreadable certificate file or a bad proxy URL.
    pub fn new(config: HttpConfig) -> Result<Self> {
        let env = config.trust_env.then(Environment::read);
        let env = env.as_ref();
        let proxy_url = config
            .proxy
            .clone()
            .or_else(|| env.and_then(|e| e.proxy.clone()));
        let proxy = match &proxy_url {
            Some(url) => Some(proxy_of(url, env.map_or(&[][..], |e| &e.no_proxy))?),
            None => None,
        };
        let roots = config
            .extra_root_certificates
            .clone()
            .or_else(|| env.and_then(|e| e.cert_file.clone()));
        let root_certs = match &roots {
            Some(path) => root_certs_with(path)?,
            None => ureq::tls::RootCerts::WebPki,
        };
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(root_certs)
            .build();
        let read = Some(config.read_timeout);
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(false)
            .proxy(proxy)
            .max_idle_connections_per_host(config.idle_connections_per_host)
            // Room for the few hosts one app talks to (Lazada: auth host and country hosts).
            .max_idle_connections(config.idle_connections_per_host.saturating_mul(4))
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(config.user_agent.as_str())
            .tls_config(tls)
            .timeout_global(config.deadline)
            .timeout_resolve(Some(config.connect_timeout))
            .timeout_connect(Some(config.connect_timeout))
            .timeout_send_request(read)
            .timeout_send_body(read)
            .timeout_recv_response(read)
            .timeout_recv_body(read)
            .build();
        // Our own resolver (no thread per call) and connector (connect failures marked as not
        // sent; head and body in one write).
        let resolver = CachingResolver::new(config.name_cache_ttl);
        let agent = ureq::Agent::with_parts(
            agent_config,
            connect::IopConnector::default(),
            resolver.clone(),
        );
        Ok(Self {
            config,
            agent: std::sync::RwLock::new(Some(agent)),
            resolver,
            proxy_shown: proxy_url.as_deref().map(crate::redact::url),
        })
    }

    /// The settings it was built with.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// The `Error` for a failed exchange with `endpoint` (a URL without its query).
    fn map_error(&self, error: ureq::Error, endpoint: &str) -> Error {
        use ureq::Error as U;
        let transport = |what: String, sent: bool, source: Option<ureq::Error>| Error::Transport {
            message: format!("{what} ({endpoint})"),
            sent,
            source: source.map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
        };
        match error {
            U::Timeout(which) => Error::Timeout {
                after: self.timeout_of(which),
                // Nothing was written before the connection existed.
                sent: !matches!(which, ureq::Timeout::Resolve | ureq::Timeout::Connect),
            },
            U::Io(io) => {
                use std::io::ErrorKind as K;
                // A failure while connecting (TCP, proxy, TLS handshake, certificate check):
                // nothing was sent, whatever the kind.
                let connecting = connect::failed_connecting(&io);
                let sent = !connecting
                    && !matches!(
                        io.kind(),
                        K::ConnectionRefused
                            | K::AddrNotAvailable
                            | K::AddrInUse
                            | K::NotFound
                            | K::HostUnreachable
                            | K::NetworkUnreachable
                            | K::NetworkDown
                    );
                if io.kind() == K::TimedOut {
                    return Error::Timeout {
                        after: if connecting {
                            self.config.connect_timeout
                        } else {
                            self.config.read_timeout
                        },
                        sent,
                    };
                }
                let what = if sent {
                    format!("connection failed after the request was sent: {io}")
                } else {
                    format!("could not connect: {io}")
                };
                transport(what, sent, Some(U::Io(io)))
            }
            U::HostNotFound => transport("host not found".to_owned(), false, None),
            U::ConnectionFailed => transport("could not connect".to_owned(), false, None),
            U::InvalidProxyUrl => transport("invalid proxy URL".to_owned(), false, None),
            // Its text may name the target: only the proxy's status number is repeated.
            U::ConnectProxyFailed(reason) => {
                let proxy = self.proxy_shown.as_deref().unwrap_or("the proxy");
                transport(proxy_failure(&reason, proxy), false, None)
            }
            U::Tls(what) => transport(format!("TLS: {what}"), false, None),
            U::Pem(_) => transport("TLS: bad PEM data".to_owned(), false, None),
            U::Rustls(e) => transport(format!("TLS: {e}"), false, Some(U::Rustls(e))),
            // These carry the full URL (query included) in their text: never echoed.
            U::BadUri(_) | U::Http(_) | U::RequireHttpsOnly(_) | U::TlsRequired => {
                transport("invalid request URL".to_owned(), false, None)
            }
            U::BodyExceedsLimit(limit) => transport(
                format!("response body larger than {limit} bytes"),
                true,
                None,
            ),
            U::Protocol(e) => transport(format!("HTTP protocol error: {e}"), true, None),
            U::LargeResponseHeader(..) => {
                transport("response header too large".to_owned(), true, None)
            }
            U::Decompress(kind, e) => {
                transport(format!("{kind} decompression failed: {e}"), true, None)
            }
            // Anything else may have happened after the request left: not safe to repeat.
            _ => transport("HTTP exchange failed".to_owned(), true, None),
        }
    }

    fn timeout_of(&self, which: ureq::Timeout) -> Duration {
        use ureq::Timeout as T;
        match which {
            T::Resolve | T::Connect => self.config.connect_timeout,
            T::Global | T::PerCall => self.config.deadline.unwrap_or(self.config.read_timeout),
            _ => self.config.read_timeout,
        }
    }
}

/// The proxy and CA settings read from the environment ([`HttpConfig::trust_env`]).
#[derive(Debug, Default)]
struct Environment {
    proxy: Option<String>,
    no_proxy: Vec<String>,
    cert_file: Option<PathBuf>,
}

impl Environment {
    /// Reads `HTTPS_PROXY` (else `https_proxy`, `ALL_PROXY`, `all_proxy`), `NO_PROXY` (else
    /// `no_proxy`) and `SSL_CERT_FILE`; empty values count as unset.
    fn read() -> Self {
        let first = |names: &[&str]| {
            names.iter().find_map(|name| {
                std::env::var(name)
                    .ok()
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
            })
        };
        Self {
            proxy: first(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            no_proxy: first(&["NO_PROXY", "no_proxy"])
                .map(|list| {
                    list.split(',')
                        .map(|entry| entry.trim().to_owned())
                        .filter(|entry| !entry.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            cert_file: first(&["SSL_CERT_FILE"]).map(PathBuf::from),
        }
    }
}

/// The `ureq` proxy for `url`, bypassed for the hosts of `no_proxy`. The URL may carry
/// credentials: it is never echoed.
fn proxy_of(url: &str, no_proxy: &[String]) -> Result<ureq::Proxy> {
    let invalid = || {
        Error::InvalidRequest(format!(
            "invalid proxy URL {} (expected http://[user:password@]host:port or https://…)",
            crate::redact::url(url)
        ))
    };
    let proxy = ureq::Proxy::new(url).map_err(|_| invalid())?;
    if !matches!(
        proxy.protocol(),
        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
    ) {
        return Err(invalid());
    }
    if no_proxy.is_empty() {
        return Ok(proxy);
    }
    let mut builder = ureq::Proxy::builder(proxy.protocol())
        .host(proxy.host())
        .port(proxy.port());
    if let Some(user) = proxy.username() {
        builder = builder.username(user);
    }
    if let Some(password) = proxy.password() {
        builder = builder.password(password);
    }
    for entry in no_proxy {
        builder = builder.no_proxy(entry);
    }
    builder.build().map_err(|_| invalid())
}

/// What a failed `CONNECT` says: the proxy (shown without credentials) and its status number,
/// never the rest of its answer.
fn proxy_failure(reason: &str, proxy: &str) -> String {
    let status: String = reason
        .strip_prefix("proxy server responded ")
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    match status.as_str() {
        "" if reason.contains("did not respond") => {
            format!("proxy CONNECT failed: {proxy} did not answer")
        }
        "" => format!("proxy CONNECT failed through {proxy}"),
        // 407 is the standard answer; some proxies (tinyproxy) answer 401.
        "407" | "401" => format!(
            "proxy CONNECT failed: {proxy} answered HTTP {status} (its credentials are \
             missing or refused)"
        ),
        status => format!("proxy CONNECT failed: {proxy} answered HTTP {status}"),
    }
}

/// The bundled Mozilla roots plus every certificate of the PEM file at `path`.
fn root_certs_with(path: &Path) -> Result<ureq::tls::RootCerts> {
    let invalid = |why: String| {
        Error::InvalidRequest(format!("extra root certificates {}: {why}", path.display()))
    };
    let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    let mut extra = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => extra.push(cert),
            Ok(_) => {}
            Err(e) => return Err(invalid(format!("bad PEM: {e}"))),
        }
    }
    if extra.is_empty() {
        return Err(invalid("no certificate found".to_owned()));
    }
    let bundled = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()));
    Ok(bundled.chain(extra).collect::<Vec<_>>().into())
}

/// `scheme://authority/path` of `uri`: what may appear in messages and logs (no query).
pub(crate) fn endpoint_of(uri: &http::Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map(|a| a.as_str()).unwrap_or(""),
        uri.path()
    )
}

impl Transport for HttpTransport {
    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>> {
        let endpoint = endpoint_of(request.uri());
        match request.uri().scheme_str() {
            Some("https") => {}
            Some("http") if request.uri().host().is_some_and(is_loopback_host) => {}
            Some("http") => {
                return Err(Error::InvalidRequest(format!(
                    "plain http is only allowed to a loopback host, not {endpoint}"
                )));
            }
            _ => {
                return Err(Error::InvalidRequest(format!(
                    "unsupported URL scheme in {endpoint}"
                )));
            }
        }
        let Some(agent) = self
            .agent
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        else {
            return Err(Error::InvalidRequest(format!(
                "the client is closed (calling {endpoint})"
            )));
        };
        let method = request.method().clone();
        let request_uri = &request.uri().clone();
        let started = Instant::now();
        let result = if request.body().is_empty() {
            // No body at all, so a GET goes out without `Content-Length: 0`.
            let (parts, _) = request.into_parts();
            agent.run(http::Request::from_parts(parts, ()))
        } else {
            agent.run(request)
        };
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                let error = self.map_error(e, &endpoint);
                if matches!(
                    error,
                    Error::Transport { sent: false, .. } | Error::Timeout { sent: false, .. }
                ) {
                    // The host may have moved: look its name up again next time.
                    if let Some((host, port)) = resolve::host_port(request_uri) {
                        self.resolver.forget(&format!("{host}:{port}"));
                    }
                }
                log::debug!(
                    target: "iop::transport",
                    "{method} {endpoint} failed after {} ms: {error}",
                    started.elapsed().as_millis()
                );
                return Err(error);
            }
        };
        let (parts, mut body) = response.into_parts();
        let bytes = body
            .with_config()
            .limit(self.config.max_body_bytes)
            .read_to_vec()
            .map_err(|e| self.map_error(e, &endpoint))?;
        log::trace!(
            target: "iop::transport",
            "{method} {endpoint} -> {} ({} bytes) in {} ms",
            parts.status.as_u16(),
            bytes.len(),
            started.elapsed().as_millis()
        );
        Ok(http::Response::from_parts(parts, bytes))
    }

    fn close(&self) {
        // Dropping the agent drops its pool; a call under way holds its own clone until done.
        self.agent
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.8.9.1"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("LOCALHOST"));
        assert!(!is_loopback_host("10.0.0.1"));
        assert!(!is_loopback_host("api-sg.aliexpress.com"));
        assert!(!is_loopback_host("localhost.example.com"));
    }

    #[test]
    fn endpoint_drops_the_query() {
        let uri: http::Uri =
            "https://api-sg.aliexpress.com/rest/order/get?access_token=SECRET&sign=X"
                .parse()
                .unwrap();
        let e = endpoint_of(&uri);
        assert_eq!(e, "https://api-sg.aliexpress.com/rest/order/get");
        assert!(!e.contains("SECRET"));
    }

    #[test]
    fn plain_http_to_a_remote_host_is_refused_before_sending() {
        let t = HttpTransport::new(HttpConfig::default()).unwrap();
        let req = http::Request::get("http://example.com/rest/x?access_token=SECRET")
            .body(Vec::new())
            .unwrap();
        let err = t.send(req).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
        assert!(!format!("{err:?}").contains("SECRET"));
    }

    #[test]
    fn connection_refused_is_not_sent() {
        // Bind then drop a listener: the port is then (almost certainly) closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let t = HttpTransport::new(HttpConfig {
            connect_timeout: Duration::from_secs(5),
            ..HttpConfig::default()
        })
        .unwrap();
        let req = http::Request::get(format!("http://127.0.0.1:{port}/rest/x?session=SECRET"))
            .body(Vec::new())
            .unwrap();
        match t.send(req).unwrap_err() {
            Error::Transport { sent, message, .. } => {
                assert!(!sent, "{message}");
                assert!(!message.contains("SECRET"), "{message}");
                assert!(!message.contains('?'), "{message}");
            }
            other => panic!("expected Transport, got {other:?}"),
        }
    }

    #[test]
    fn a_failed_connection_forgets_the_name_a_good_one_keeps_it() {
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let t = HttpTransport::new(HttpConfig::default()).unwrap();
        let get = |port: u16| {
            http::Request::get(format!("http://localhost:{port}/rest/x"))
                .body(Vec::new())
                .unwrap()
        };
        let now = || std::time::Instant::now();
        for attempt in 1..=2 {
            let err = t.send(get(closed)).unwrap_err();
            assert!(
                matches!(err, Error::Transport { sent: false, .. }),
                "{err:?}"
            );
            // Forgotten: the next attempt looks the name up again.
            assert!(
                t.resolver
                    .cached(&format!("localhost:{closed}"), now())
                    .is_none()
            );
            assert_eq!(t.resolver.lookups(), attempt);
        }
        // A server that answers: its name stays cached across calls.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            for _ in 0..2 {
                let _ = stream.read(&mut buf).unwrap();
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    .unwrap();
            }
        });
        t.send(get(port)).unwrap();
        t.send(get(port)).unwrap();
        server.join().unwrap();
        assert!(
            t.resolver
                .cached(&format!("localhost:{port}"), now())
                .is_some()
        );
        assert_eq!(t.resolver.lookups(), 3);
    }

    #[test]
    fn missing_or_empty_root_file_is_refused() {
        let err = HttpTransport::new(HttpConfig {
            extra_root_certificates: Some(PathBuf::from("/nonexistent/iop-roots.pem")),
            ..HttpConfig::default()
        })
        .unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    }

    /// Standard base64 with padding, for writing PEM files in tests.
    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn pem_of(der: &[u8]) -> String {
        let b64 = base64(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn extra_roots_are_added_beside_the_bundled_ones() {
        let bundled = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        // Two certificates (any DER certificate will do) with text around them.
        let pem = format!(
            "my corporate CA\n{}{}",
            pem_of(bundled[0].as_ref()),
            pem_of(bundled[1].as_ref())
        );
        std::io::Write::write_all(&mut file, pem.as_bytes()).unwrap();
        match root_certs_with(file.path()).unwrap() {
            ureq::tls::RootCerts::Specific(all) => {
                assert_eq!(all.len(), bundled.len() + 2);
                assert_eq!(all[bundled.len()].der(), bundled[0].as_ref());
            }
            other => panic!("expected specific roots, got {other:?}"),
        }
        HttpTransport::new(HttpConfig {
            extra_root_certificates: Some(file.path().to_owned()),
            ..HttpConfig::default()
        })
        .unwrap();
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"not a certificate\n").unwrap();
        let err = root_certs_with(file.path()).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(ref m) if m.contains("no certificate")));
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut file,
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(root_certs_with(file.path()).is_err());
    }

    #[test]
    fn https_is_really_tls() {
        // A plain-HTTP listener on loopback: the TLS handshake fails, before anything is sent.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let _ = std::io::Write::write_all(
                    &mut stream,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
                );
            }
        });
        let t = HttpTransport::new(HttpConfig {
            read_timeout: Duration::from_secs(5),
            ..HttpConfig::default()
        })
        .unwrap();
        let req = http::Request::post(format!("https://127.0.0.1:{port}/rest/x"))
            .body(b"a=1".to_vec())
            .unwrap();
        let err = t.send(req).unwrap_err();
        server.join().unwrap();
        // The handshake failed: nothing of the request was written.
        assert!(
            matches!(err, Error::Transport { sent: false, .. }),
            "{err:?}"
        );
    }

    /// A loopback HTTP server answering each request with the length and a checksum of the
    /// body it received, on one kept-alive connection.
    fn echo_length_server() -> (u16, std::thread::JoinHandle<usize>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            let mut served = 0;
            loop {
                let mut length = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap() == 0 {
                        return served;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).unwrap();
                let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
                let answer = format!("{length} {sum}");
                write!(
                    writer,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{answer}",
                    answer.len()
                )
                .unwrap();
                served += 1;
            }
        });
        (port, server)
    }

    #[test]
    fn bodies_of_every_size_arrive_whole_after_their_head() {
        // Head and body leave in one write when they fit the output buffer, one after the
        // other when not: either way the server reads the exact body.
        let (port, server) = echo_length_server();
        let t = HttpTransport::new(HttpConfig::default()).unwrap();
        let sizes = [1usize, 10, 1000, 100_000, 300_000, 1_000_000, 3];
        for size in sizes {
            let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
            let req = http::Request::post(format!("http://127.0.0.1:{port}/rest/x"))
                .header("content-type", "application/octet-stream")
                .body(body)
                .unwrap();
            let response = t.send(req).unwrap();
            assert_eq!(
                String::from_utf8(response.into_body()).unwrap(),
                format!("{size} {sum}")
            );
        }
        // A GET (no body) on the same connection.
        let req = http::Request::get(format!("http://127.0.0.1:{port}/rest/x?a=1"))
            .body(Vec::new())
            .unwrap();
        assert_eq!(t.send(req).unwrap().into_body(), b"0 0");
        drop(t);
        assert_eq!(server.join().unwrap(), sizes.len() + 1);
    }

    #[test]
    fn ureq_errors_map_to_typed_errors() {
        let t = HttpTransport::new(HttpConfig {
            connect_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(7),
            deadline: Some(Duration::from_secs(11)),
            ..HttpConfig::default()
        })
        .unwrap();
        let endpoint = "https://gw.example/rest/auth/token/refresh";
        let timeout = |which| match t.map_error(ureq::Error::Timeout(which), endpoint) {
            Error::Timeout { after, sent } => (after, sent),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            timeout(ureq::Timeout::Connect),
            (Duration::from_secs(3), false)
        );
        assert_eq!(
            timeout(ureq::Timeout::Resolve),
            (Duration::from_secs(3), false)
        );
        assert_eq!(
            timeout(ureq::Timeout::RecvResponse),
            (Duration::from_secs(7), true)
        );
        assert_eq!(
            timeout(ureq::Timeout::RecvBody),
            (Duration::from_secs(7), true)
        );
        assert_eq!(
            timeout(ureq::Timeout::Global),
            (Duration::from_secs(11), true)
        );

        let sent = |e: ureq::Error| match t.map_error(e, endpoint) {
            Error::Transport { sent, message, .. } => {
                assert!(message.contains(endpoint), "{message}");
                assert!(!message.contains("SECRET"), "{message}");
                sent
            }
            other => panic!("{other:?}"),
        };
        use std::io::{Error as IoError, ErrorKind};
        assert!(!sent(ureq::Error::HostNotFound));
        assert!(!sent(ureq::Error::ConnectionFailed));
        assert!(!sent(ureq::Error::Io(IoError::from(
            ErrorKind::ConnectionRefused
        ))));
        assert!(!sent(ureq::Error::Io(IoError::from(
            ErrorKind::NetworkUnreachable
        ))));
        assert!(sent(ureq::Error::Io(IoError::from(
            ErrorKind::ConnectionReset
        ))));
        assert!(sent(ureq::Error::Io(IoError::from(
            ErrorKind::UnexpectedEof
        ))));
        assert!(sent(ureq::Error::Io(IoError::from(ErrorKind::BrokenPipe))));
        assert!(sent(ureq::Error::BodyExceedsLimit(10)));
        // Variants whose text carries the URL with its query are never echoed.
        assert!(!sent(ureq::Error::BadUri(
            "https://gw.example/rest/x?access_token=SECRET".to_owned()
        )));
        assert!(!sent(ureq::Error::RequireHttpsOnly(
            "http://gw.example/rest/x?session=SECRET".to_owned()
        )));
        assert!(!sent(ureq::Error::ConnectProxyFailed(
            "CONNECT gw.example?SECRET".to_owned()
        )));
        assert!(matches!(
            t.map_error(ureq::Error::Io(IoError::from(ErrorKind::TimedOut)), endpoint),
            Error::Timeout { after, sent: true } if after == Duration::from_secs(7)
        ));
    }

    #[test]
    fn debug_never_shows_proxy_credentials() {
        for proxy in [
            "http://user:SECRET@proxy.example:3128",
            "https://user:p@SECRET@proxy.example",
            "user:SECRET@proxy.example:3128",
        ] {
            let config = HttpConfig {
                proxy: Some(proxy.to_owned()),
                ..HttpConfig::default()
            };
            let shown = format!("{config:?}");
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(shown.contains("***@proxy.example"), "{shown}");
            if let Ok(transport) = HttpTransport::new(config) {
                assert!(!format!("{transport:?}").contains("SECRET"));
            }
        }
        let plain = format!(
            "{:?}",
            HttpConfig {
                proxy: Some("http://proxy.example:3128".to_owned()),
                ..HttpConfig::default()
            }
        );
        assert!(plain.contains("http://proxy.example:3128"), "{plain}");
    }

    #[test]
    fn proxy_failures_name_the_proxy_and_its_status_only() {
        let shown = crate::redact::url("http://user:SECRET@proxy.example:3128");
        let text = proxy_failure("proxy server responded 407/407", &shown);
        assert!(
            text.contains("HTTP 407") && text.contains("credentials"),
            "{text}"
        );
        assert!(
            text.contains("proxy.example:3128") && !text.contains("SECRET"),
            "{text}"
        );
        let text = proxy_failure("proxy server responded 403/Forbidden gw.example?x", &shown);
        assert!(text.ends_with("answered HTTP 403"), "{text}");
        assert!(!text.contains("gw.example"), "{text}");
        let text = proxy_failure("proxy server did not respond", &shown);
        assert!(text.contains("did not answer"), "{text}");
    }

    #[test]
    fn no_proxy_entries_bypass_the_proxy_for_their_hosts() {
        let entries = ["localhost".to_owned(), ".internal.example".to_owned()];
        let proxy = proxy_of("http://u:p@proxy.example:3128", &entries).unwrap();
        let uri = |u: &str| u.parse::<http::Uri>().unwrap();
        assert!(proxy.is_no_proxy(&uri("http://localhost:8080/rest")));
        assert!(proxy.is_no_proxy(&uri("https://api.internal.example/rest")));
        assert!(!proxy.is_no_proxy(&uri("https://api-sg.aliexpress.com/rest")));
        assert_eq!(proxy.username(), Some("u"));
        assert_eq!(proxy.password(), Some("p"));
        // SOCKS is not a CONNECT proxy: refused rather than half supported.
        let err = proxy_of("socks5://user:SECRET@proxy.example:1080", &[]).unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }

    #[test]
    fn a_closed_transport_drops_its_pool_and_refuses_to_send() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
            // The kept-alive connection ends (EOF) when the client closes its pool.
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            stream.read(&mut buf).unwrap()
        });
        let t = HttpTransport::new(HttpConfig::default()).unwrap();
        let get = || {
            http::Request::get(format!("http://127.0.0.1:{port}/rest/x"))
                .body(Vec::new())
                .unwrap()
        };
        t.send(get()).unwrap();
        t.close();
        assert_eq!(
            server.join().unwrap(),
            0,
            "the pooled connection was closed"
        );
        let err = t.send(get()).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidRequest(m) if m.contains("closed")),
            "{err:?}"
        );
    }

    #[test]
    fn bad_proxy_url_is_refused_without_echoing_it() {
        let err = HttpTransport::new(HttpConfig {
            proxy: Some("socks9://user:SECRET@:::".to_owned()),
            ..HttpConfig::default()
        })
        .unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
        assert!(!format!("{err:?}").contains("SECRET"));
    }
}
