//! Lazada push messages from the emulator to a receiver in the test, retries on virtual time,
//! the automatic type 8, and the authorization page that redirects with a code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use iop_emulator::{Config, Emulator};
use serde_json::Value;

/// What the receiver got: the `Authorization` header and the raw body.
type Received = Arc<Mutex<Vec<(Option<String>, Vec<u8>)>>>;

/// A plain HTTP receiver on loopback answering the statuses queued (200 when none is left).
/// A status of 0 means "never answer" (the emulator's 500 ms must run out).
fn receiver(statuses: &[u16]) -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let queue = Arc::new(Mutex::new(
        statuses.iter().copied().collect::<VecDeque<u16>>(),
    ));
    let log = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut auth = None;
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "authorization" => auth = Some(v.trim().to_owned()),
                        "content-length" => len = v.trim().parse().unwrap_or(0),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            log.lock().unwrap().push((auth, body));
            let status = queue.lock().unwrap().pop_front().unwrap_or(200);
            let mut stream = reader.into_inner();
            if status == 0 {
                std::thread::sleep(Duration::from_millis(800));
                continue;
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (addr, received)
}

/// HMAC-SHA256 in lowercase hex, computed by openssl (independent of the emulator's code).
fn openssl_hmac(key: &str, message: &[u8]) -> String {
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", key, "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_ascii_lowercase()
}

#[test]
fn a_push_is_signed_over_the_raw_body() {
    let em = Emulator::start(Config::default()).unwrap();
    let (addr, received) = receiver(&[]);
    let url = format!("http://{addr}/lazada/push");
    let data = serde_json::json!({"trade_order_id": "1", "note": "caf\u{e9} \u{4f60}好"});
    let d = em.push(&url, "seller-9", 0, data.clone()).unwrap();
    assert!(d.delivered, "{d:?}");
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.attempts[0].status, Some(200));
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (auth, body) = &got[0];
    assert_eq!(body, d.body.as_bytes());
    let mut message = em.app_key().as_bytes().to_vec();
    message.extend_from_slice(body);
    assert_eq!(
        auth.as_deref(),
        Some(openssl_hmac(em.app_secret(), &message).as_str())
    );
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["seller_id"], "seller-9");
    assert_eq!(v["message_type"], 0);
    assert_eq!(v["data"], data);
    assert!(v["timestamp"].as_i64().unwrap() >= ms_of(em.now()) - 60_000);
    assert!(v["site"].is_string());
}

#[test]
fn failed_pushes_are_retried_every_30_minutes_of_virtual_time() {
    let em = Emulator::start(Config::default()).unwrap();
    // 500, then no answer in time, then 200.
    let (addr, received) = receiver(&[500, 0, 200]);
    let url = format!("http://{addr}/p");
    let d = em.push(&url, "s", 3, Value::Null).unwrap();
    assert!(!d.delivered);
    assert_eq!(d.attempts[0].status, Some(500));
    // Not yet due.
    em.advance(Duration::from_secs(29 * 60));
    assert_eq!(em.push_log()[0].attempts.len(), 1);
    em.advance(Duration::from_secs(60));
    let log = em.push_log();
    assert_eq!(log[0].attempts.len(), 2);
    assert_eq!(log[0].attempts[1].error.as_deref(), Some("timeout"));
    em.advance(Duration::from_secs(30 * 60));
    let log = em.push_log();
    assert!(log[0].delivered, "{log:?}");
    assert_eq!(log[0].attempts.len(), 3);
    assert_eq!(log[0].next_attempt, None);
    // Delivered: no more attempts.
    em.advance(Duration::from_secs(3600));
    assert_eq!(em.push_log()[0].attempts.len(), 3);
    assert_eq!(received.lock().unwrap().len(), 3);
}

#[test]
fn retries_stop_after_twelve_attempts() {
    let em = Emulator::start(Config::default()).unwrap();
    let (addr, received) = receiver(&[500; 20]);
    let url = format!("http://{addr}/p");
    em.push(&url, "s", 1, Value::Null).unwrap();
    // A whole day at once: every slot that passed gets its attempt, 12 in all.
    em.advance(Duration::from_secs(86_400));
    let log = em.push_log();
    assert_eq!(log[0].attempts.len(), 12);
    assert!(!log[0].delivered);
    assert_eq!(log[0].next_attempt, None);
    assert_eq!(received.lock().unwrap().len(), 12);
}

#[test]
fn push_through_the_control_api_and_its_log() {
    let em = Emulator::start(Config::default()).unwrap();
    let (addr, received) = receiver(&[500]);
    let target = format!(
        "/_emulator/push?url=http://{addr}/cb&seller_id=s-2&message_type=10&data=%7B%22a%22%3A1%7D"
    );
    let r = request(em.addr(), "POST", &target, None, b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["delivered"], false);
    assert_eq!(v["attempts"][0]["status"], 500);
    let r = request(
        em.addr(),
        "POST",
        "/_emulator/advance?seconds=1800",
        None,
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let log = request(em.addr(), "GET", "/_emulator/push_log", None, b"")
        .unwrap()
        .json();
    assert_eq!(log[0]["delivered"], true, "{log}");
    assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 2);
    let body: Value = serde_json::from_str(log[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["a"], 1);
    assert_eq!(received.lock().unwrap().len(), 2);
    // Refused: not loopback, bad type, bad data.
    for bad in [
        "/_emulator/push?url=http://10.1.2.3/x&seller_id=s&message_type=0",
        "/_emulator/push?url=https://127.0.0.1/x&seller_id=s&message_type=0",
        "/_emulator/push?url=http://127.0.0.1:9/x&seller_id=s&message_type=zero",
        "/_emulator/push?url=http://127.0.0.1:9/x&seller_id=s&message_type=0&data=%7B",
        "/_emulator/push?seller_id=s&message_type=0",
    ] {
        assert_eq!(
            request(em.addr(), "POST", bad, None, b"").unwrap().status,
            400,
            "{bad}"
        );
    }
    assert!(
        em.push("http://example.com/x", "s", 0, Value::Null)
            .is_err()
    );
}

#[test]
fn type_8_is_pushed_once_when_a_refresh_token_nears_expiry() {
    let em = Emulator::start(Config {
        refresh_ttl: Duration::from_secs(10 * 86_400),
        ..Config::default()
    })
    .unwrap();
    let (addr, received) = receiver(&[]);
    let t = em.issue_token("expiring");
    em.auto_push_expiring(Some(&format!("http://{addr}/p")))
        .unwrap();
    em.advance(Duration::from_secs(7 * 86_400));
    assert!(received.lock().unwrap().is_empty());
    em.advance(Duration::from_secs(86_400 + 3600)); // 47 h left
    em.advance(Duration::from_secs(3600));
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{:?}", em.push_log());
    let v: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(v["message_type"], 8);
    assert_eq!(v["seller_id"], "expiring");
    assert_eq!(
        v["data"]["expire_time"], t["refresh_token_valid_time"],
        "{v}"
    );
    em.auto_push_expiring(None).unwrap();
}

#[test]
fn the_authorization_page_redirects_with_a_code_and_the_state() {
    let em = Emulator::start(Config::default()).unwrap();
    let key = em.app_key().to_owned();
    let target = format!(
        "/oauth/authorize?response_type=code&force_auth=true&redirect_uri=http%3A%2F%2F127.0.0.1%3A8123%2Fcallback&client_id={key}&state=a%2Bb%20c&seller_id=s-oauth"
    );
    let r = request(em.addr(), "GET", &target, None, b"").unwrap();
    assert_eq!(r.status, 302);
    let raw = {
        let mut s = std::net::TcpStream::connect(em.addr()).unwrap();
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let location = raw
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .unwrap()
        .trim()
        .to_owned();
    let (base, query) = location.split_once('?').unwrap();
    assert_eq!(base, "http://127.0.0.1:8123/callback");
    let pairs: std::collections::HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(pairs["state"], "a+b c");
    // The code works once, for the seller named.
    let t = gop(&em, "/auth/token/create", &[("code", &pairs["code"])]).json();
    assert_eq!(t["seller_id"], "s-oauth");

    // Refusal: an error instead of a code.
    let denied = target.replace("&seller_id=s-oauth", "&deny=true");
    let raw = {
        let mut s = std::net::TcpStream::connect(em.addr()).unwrap();
        write!(
            s,
            "GET {denied} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(raw.contains("error=access_denied"), "{raw}");
    assert!(!raw.contains("code="), "{raw}");

    // Wrong client_id, response_type, or no redirect_uri: 400, no redirect.
    for bad in [
        target.replace(&format!("client_id={key}"), "client_id=other"),
        target.replace("response_type=code", "response_type=token"),
        target.replace("redirect_uri=http%3A%2F%2F127.0.0.1%3A8123%2Fcallback", ""),
    ] {
        assert_eq!(
            request(em.addr(), "GET", &bad, None, b"").unwrap().status,
            400,
            "{bad}"
        );
    }
}
