//! The client over its real HTTP transport against a tiny raw HTTP/1.1 responder on loopback:
//! what goes on the wire (User-Agent, method, path, no query, gzip accepted), bodies read
//! whatever the status, and connection failures before sending. Every loop is bounded.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use iop_core::{
    AppSecret, Client, Error, ErrorClass, Gateway, HttpConfig, HttpTransport, RefreshToken,
    RetryPolicy, Transport,
};

const SECRET: &str = "raw-server-app-secret";
const REFRESH: &str = "raw-server-refresh-token";

/// What the responder saw of one request.
struct Seen {
    head: String,
    body: Vec<u8>,
}

/// Serves `answers.len()` connections on 127.0.0.1, one request each, answering each with the
/// given status and body; reports each request it read.
fn serve(answers: Vec<(u16, &'static str)>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for (status, body) in answers {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let Some(seen) = read_request(&stream) else {
                return;
            };
            let _ = tx.send(seen);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.flush();
        }
    });
    (url, rx)
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    // A request head has a bounded number of lines.
    for _ in 0..100 {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Seen { head, body })
}

fn client(url: &str, retry: RetryPolicy) -> (Client, Arc<Mutex<Vec<Duration>>>) {
    let slept = Arc::new(Mutex::new(Vec::new()));
    let record = slept.clone();
    let client = Client::builder(
        "raw-app-key",
        AppSecret::new(SECRET),
        Gateway::new(url).unwrap(),
    )
    .timeouts(Duration::from_secs(5), Duration::from_secs(10))
    .retry(retry)
    .retry_sleep(move |d| record.lock().unwrap().push(d))
    .build()
    .unwrap();
    (client, slept)
}

const TOKEN: &str = r#"{"access_token":"AT-raw","refresh_token":"RT-raw","expires_in":86400,"refresh_expires_in":172800,"seller_id":"42","code":"0","request_id":"raw-1"}"#;
const SIGNATURE_400: &str = r#"{"type":"ISV","code":"IncompleteSignature","message":"The request signature does not conform to platform standards","request_id":"raw-sig"}"#;

#[test]
fn the_wire_carries_user_agent_and_a_form_body_only() {
    let (url, seen) = serve(vec![(200, TOKEN)]);
    let (client, _) = client(&url, RetryPolicy::none());
    let tokens = client.refresh_token(&RefreshToken::new(REFRESH)).unwrap();
    assert_eq!(tokens.access_token.unwrap().secret(), "AT-raw");

    let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    let head = seen.head.to_ascii_lowercase();
    let request_line = head.lines().next().unwrap();
    assert_eq!(request_line, "post /rest/auth/token/refresh http/1.1");
    assert!(
        head.contains(&format!("\r\nuser-agent: iop-rs/{}\r\n", iop_core::VERSION)),
        "{head}"
    );
    assert!(head.contains("\r\naccept-encoding: gzip"), "{head}");
    assert!(
        head.contains("content-type: application/x-www-form-urlencoded"),
        "{head}"
    );
    let body = String::from_utf8(seen.body).unwrap();
    assert!(
        body.contains("refresh_token=raw-server-refresh-token"),
        "{body}"
    );
    assert!(
        !seen.head.contains(REFRESH),
        "nothing secret in the URL or headers"
    );
    assert!(!body.contains(SECRET) && !seen.head.contains(SECRET));
}

#[test]
fn user_agent_is_configurable() {
    let (url, seen) = serve(vec![(200, TOKEN)]);
    let transport = HttpTransport::new(HttpConfig {
        user_agent: "my-app/2.0".to_owned(),
        ..HttpConfig::default()
    })
    .unwrap();
    let client = Client::builder("k", AppSecret::new(SECRET), Gateway::new(&url).unwrap())
        .transport(Arc::new(transport))
        .build()
        .unwrap();
    client.refresh_token(&RefreshToken::new(REFRESH)).unwrap();
    let head = seen
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .head
        .to_ascii_lowercase();
    assert!(head.contains("\r\nuser-agent: my-app/2.0\r\n"), "{head}");
}

#[test]
fn a_gateway_error_is_read_whatever_the_status() {
    let (url, _seen) = serve(vec![(400, SIGNATURE_400)]);
    let (client, _) = client(&url, RetryPolicy::default());
    let err = client
        .refresh_token(&RefreshToken::new(REFRESH))
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Signature, "{err:?}");
    assert_eq!(err.request_id(), Some("raw-sig"));
    assert_eq!(err.gateway().unwrap().status, 400);
}

#[test]
fn transport_returns_non_2xx_responses_as_responses() {
    let (url, _seen) = serve(vec![(503, "<html>down</html>")]);
    let transport = HttpTransport::new(HttpConfig::default()).unwrap();
    let request = http::Request::post(format!("{url}/rest/x"))
        .body(b"a=1".to_vec())
        .unwrap();
    let response = transport.send(request).unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.body(), b"<html>down</html>");
}

#[test]
fn body_limit_is_enforced() {
    let (url, _seen) = serve(vec![(200, TOKEN)]);
    let transport = HttpTransport::new(HttpConfig {
        max_body_bytes: 16,
        ..HttpConfig::default()
    })
    .unwrap();
    let request = http::Request::post(format!("{url}/rest/x"))
        .body(b"a=1".to_vec())
        .unwrap();
    let err = transport.send(request).unwrap_err();
    assert!(
        matches!(err, Error::Transport { sent: true, .. }),
        "{err:?}"
    );
}

#[test]
fn refused_connections_are_retried_then_reported_unsent() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let (client, slept) = client(
        &url,
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        },
    );
    let err = client
        .refresh_token(&RefreshToken::new(REFRESH))
        .unwrap_err();
    match &err {
        Error::Transport { sent, message, .. } => {
            assert!(!sent);
            assert!(
                !message.contains(REFRESH) && !message.contains('?'),
                "{message}"
            );
        }
        other => panic!("expected Transport, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(slept.lock().unwrap().len(), 2, "three attempts, two waits");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(REFRESH) && !text.contains(SECRET), "{text}");
}

#[test]
fn a_read_timeout_is_a_timeout_and_not_retried() {
    // Accepts and reads, but never answers until the test is over.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let accepted = Arc::new(Mutex::new(0u32));
    let counter = accepted.clone();
    let server = thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let mut held = Vec::new();
        // Bounded: at most 20 s of polling.
        for _ in 0..2000 {
            if done_rx.try_recv().is_ok() {
                break;
            }
            if let Ok((stream, _)) = listener.accept() {
                *counter.lock().unwrap() += 1;
                held.push(stream);
            }
            thread::sleep(Duration::from_millis(10));
        }
    });
    let client = Client::builder("k", AppSecret::new(SECRET), Gateway::new(&url).unwrap())
        .timeouts(Duration::from_secs(2), Duration::from_millis(300))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = client
        .refresh_token(&RefreshToken::new(REFRESH))
        .unwrap_err();
    let elapsed = started.elapsed();
    done_tx.send(()).unwrap();
    server.join().unwrap();
    assert!(
        matches!(err, Error::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "generous bound: {elapsed:?}"
    );
    assert_eq!(
        *accepted.lock().unwrap(),
        1,
        "a timeout after sending is not retried"
    );
}

/// `{"access_token":"AT-gzip",…,"request_id":"gz-1"}`, gzip-compressed.
const TOKEN_GZIP: [u8; 119] = [
    31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 171, 86, 74, 76, 78, 78, 45, 46, 142, 47, 201, 207, 78, 205,
    83, 178, 82, 114, 12, 209, 77, 175, 202, 44, 80, 210, 81, 42, 74, 77, 43, 74, 45, 206, 128,
    203, 4, 193, 101, 82, 43, 10, 50, 129, 82, 241, 153, 64, 97, 11, 51, 19, 3, 3, 132, 98, 100,
    41, 67, 115, 35, 11, 144, 92, 113, 106, 78, 78, 106, 81, 124, 102, 10, 208, 16, 115, 160, 246,
    228, 252, 148, 84, 32, 211, 0, 108, 71, 97, 105, 106, 113, 9, 68, 46, 189, 74, 215, 80, 169,
    22, 0, 138, 85, 152, 252, 146, 0, 0, 0,
];

#[test]
fn gzip_bodies_are_decoded() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        read_request(&stream).unwrap();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            TOKEN_GZIP.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&TOKEN_GZIP).unwrap();
    });
    let (client, _) = client(&url, RetryPolicy::none());
    let tokens = client.refresh_token(&RefreshToken::new(REFRESH)).unwrap();
    server.join().unwrap();
    assert_eq!(tokens.access_token.unwrap().secret(), "AT-gzip");
    assert_eq!(tokens.request_id.as_deref(), Some("gz-1"));
}

#[test]
fn connections_are_kept_alive_and_reused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts one connection and answers three requests on it, keep-alive.
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut served = 0;
        for _ in 0..3 {
            let mut head = String::new();
            for _ in 0..100 {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return served;
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{TOKEN}",
                TOKEN.len()
            )
            .unwrap();
            writer.flush().unwrap();
            served += 1;
        }
        served
    });
    let (client, _) = client(&url, RetryPolicy::none());
    for _ in 0..3 {
        client.refresh_token(&RefreshToken::new(REFRESH)).unwrap();
    }
    assert_eq!(server.join().unwrap(), 3, "three calls over one connection");
}
