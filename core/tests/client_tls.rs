//! TLS failures happen while connecting, before anything of the request is written: they are
//! transport errors with `sent == false` (safe to repeat), whether the server's certificate is
//! not trusted or the server does not speak TLS at all. A loopback TLS server with a
//! self-signed certificate (tests/data/untrusted-loopback.*.pem) shows it.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use iop_core::{
    AppSecret, Client, Error, Gateway, HttpConfig, HttpTransport, RefreshToken, RetryPolicy,
    Transport,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A TLS server on loopback with the untrusted certificate: it counts handshakes started and
/// requests received (bytes read after a completed handshake), and answers `{}`.
struct TlsServer {
    port: u16,
    handshakes: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

fn tls_server() -> TlsServer {
    let certs = vec![CertificateDer::from_pem_file(data("untrusted-loopback.crt.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(data("untrusted-loopback.key.pem")).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (h, r) = (handshakes.clone(), requests.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut tcp) = stream else { return };
            h.fetch_add(1, Ordering::SeqCst);
            tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
            let mut buf = [0u8; 4096];
            match tls.read(&mut buf) {
                Ok(n) if n > 0 => {
                    r.fetch_add(1, Ordering::SeqCst);
                    let _ = tls.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                    );
                    let _ = tls.flush();
                }
                _ => {}
            }
        }
    });
    TlsServer {
        port,
        handshakes,
        requests,
    }
}

fn request(port: u16) -> http::Request<Vec<u8>> {
    http::Request::post(format!("https://127.0.0.1:{port}/rest/auth/token/refresh"))
        .body(b"refresh_token=SECRET-REFRESH&sign=ABC".to_vec())
        .unwrap()
}

#[test]
fn an_untrusted_certificate_is_a_failure_before_sending() {
    let server = tls_server();
    let transport = HttpTransport::new(HttpConfig::default()).unwrap();
    let err = transport.send(request(server.port)).unwrap_err();
    match &err {
        Error::Transport { sent, message, .. } => {
            assert!(!sent, "{err}");
            assert!(message.to_lowercase().contains("certificate"), "{message}");
            assert!(!message.contains("SECRET"), "{message}");
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(!err.to_string().contains("may have reached"), "{err}");
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);

    // The same server, its certificate trusted: the request goes through, so the failure
    // above was the certificate.
    let trusted = HttpTransport::new(HttpConfig {
        extra_root_certificates: Some(data("untrusted-loopback.crt.pem")),
        ..HttpConfig::default()
    })
    .unwrap();
    let response = trusted.send(request(server.port)).unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn the_client_retries_a_certificate_failure_as_not_sent() {
    let server = tls_server();
    let client = Client::builder(
        "12345",
        AppSecret::new("app-secret"),
        Gateway::new(&format!("https://127.0.0.1:{}", server.port)).unwrap(),
    )
    .retry(RetryPolicy {
        max_attempts: 2,
        ..RetryPolicy::default()
    })
    .retry_sleep(|_| {})
    .build()
    .unwrap();
    let err = client
        .refresh_token(&RefreshToken::new("SECRET-REFRESH"))
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport { sent: false, .. }),
        "{err:?}"
    );
    // Two handshakes, no request.
    assert_eq!(server.handshakes.load(Ordering::SeqCst), 2);
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn a_server_that_does_not_speak_tls_fails_before_sending() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        }
    });
    let transport = HttpTransport::new(HttpConfig::default()).unwrap();
    let err = transport.send(request(port)).unwrap_err();
    assert!(
        matches!(err, Error::Transport { sent: false, .. }),
        "{err:?}"
    );
}
