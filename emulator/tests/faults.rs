//! Faults on demand and the counters, through the library API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use iop_core::SignMethod;
use iop_emulator::{Config, Emulator, Fault};

fn start() -> Emulator {
    Emulator::start(Config::default()).unwrap()
}

/// A signed refresh request as raw bytes (with `Connection: close`).
fn refresh_request(em: &Emulator, refresh: &str) -> Vec<u8> {
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "/auth/token/refresh",
        SignMethod::Sha256,
        now_ms(),
        &[("refresh_token", refresh)],
    );
    let body = form(&pairs);
    format!(
        "POST /rest/auth/token/refresh HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {FORM}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn delay_then_normal_answer() {
    let em = start();
    let t = create(&em, "s");
    em.inject(
        Fault::Delay(Duration::from_millis(300)),
        Some("/auth/token/refresh"),
        1,
    );
    let started = Instant::now();
    let r = gop(
        &em,
        "/auth/token/refresh",
        &[("refresh_token", str_of(&t, "refresh_token"))],
    );
    // A lower bound only: the answer cannot come before the delay.
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.json()["code"], "0");
}

#[test]
fn connection_reset_sends_no_response() {
    let em = start();
    let t = create(&em, "s");
    em.inject(Fault::ConnectionReset, None, 1);
    let mut s = TcpStream::connect(em.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&refresh_request(&em, str_of(&t, "refresh_token")))
        .unwrap();
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        Ok(_) => assert!(buf.is_empty(), "got a response: {buf:?}"),
    }
    // The refresh token was not used: the next attempt succeeds.
    let r = send_raw(
        em.addr(),
        &refresh_request(&em, str_of(&t, "refresh_token")),
    )
    .unwrap();
    assert_eq!(r.json()["code"], "0");
    assert_eq!(em.stats()["/auth/token/refresh"], 2);
}

#[test]
fn http500_with_system_envelope() {
    let em = start();
    em.inject(Fault::Http500, None, 1);
    let r = gop(&em, "/auth/token/refresh", &[("refresh_token", "x")]);
    assert_eq!(r.status, 500);
    let v = r.json();
    assert_eq!(v["type"], "SYSTEM");
    assert!(v["request_id"].is_string());
    // TOP style gets the TOP envelope.
    em.inject(Fault::Http500, None, 1);
    let r = top(&em, "aliexpress.a.b", &[("session", "x")]);
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error_response"]["type"], "SYSTEM");
}

#[test]
fn html_502_is_the_fixture_page() {
    let em = start();
    em.inject(Fault::Html502, Some("/auth/token/refresh"), 1);
    let r = gop(&em, "/auth/token/refresh", &[("refresh_token", "x")]);
    assert_eq!(r.status, 502);
    assert_eq!(r.content_type, "text/html");
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/fixtures/gateway-html-502.html"
    ))
    .expect("the repository's fixtures");
    assert_eq!(r.text(), fixture);
}

#[test]
fn truncated_json_is_half_a_token_set() {
    let em = start();
    em.inject(Fault::TruncatedJson, None, 1);
    let r = gop(&em, "/auth/token/refresh", &[("refresh_token", "x")]);
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"{\""));
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert!(r.text().contains("access_token"), "{}", r.text());
}

#[test]
fn rate_limit_bans_then_lets_through() {
    let em = start();
    let t = create(&em, "s");
    let access = str_of(&t, "access_token").to_owned();
    em.inject(
        Fault::RateLimit {
            ban: Duration::from_secs(1),
        },
        Some("/order/get"),
        1,
    );
    let v = gop(&em, "/order/get", &[("access_token", &access)]).json();
    assert_eq!(code(&v), "ApiCallLimit", "{v}");
    assert_eq!(v["type"], "ISV");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .ends_with("this ban will last 1 seconds"),
        "{v}"
    );
    // Within the ban: still limited. Another API: not affected.
    let v = gop(&em, "/order/get", &[("access_token", &access)]).json();
    assert_eq!(code(&v), "ApiCallLimit");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("this ban will last")
    );
    let v = gop(&em, "/order/list", &[("access_token", &access)]).json();
    assert_eq!(v["code"], "0");
    // After the ban (bounded wait): through.
    std::thread::sleep(Duration::from_millis(1100));
    let v = gop(&em, "/order/get", &[("access_token", &access)]).json();
    assert_eq!(v["code"], "0", "{v}");
    assert_eq!(em.stats()["/order/get"], 3);
}

#[test]
fn rate_limit_on_top_uses_the_top_envelope() {
    let em = start();
    em.inject(
        Fault::RateLimit {
            ban: Duration::from_secs(5),
        },
        None,
        1,
    );
    let v = top(&em, "aliexpress.a.b", &[("session", "x")]).json();
    assert_eq!(v["error_response"]["code"], "ApiCallLimit", "{v}");
    assert!(
        v["error_response"]["msg"]
            .as_str()
            .unwrap()
            .contains("this ban will last 5 seconds")
    );
    em.clear_faults();
    let v = top(&em, "aliexpress.a.b", &[("session", "x")]).json();
    assert_eq!(v["error_response"]["code"], "IllegalAccessToken", "{v}");
}

#[test]
fn faults_apply_times_and_only_to_their_api() {
    let em = start();
    let t = create(&em, "s");
    let access = str_of(&t, "access_token").to_owned();
    em.inject(Fault::Http500, Some("/a"), 2);
    assert_eq!(gop(&em, "/b", &[("access_token", &access)]).status, 200);
    assert_eq!(gop(&em, "/a", &[("access_token", &access)]).status, 500);
    assert_eq!(gop(&em, "/a", &[("access_token", &access)]).status, 500);
    assert_eq!(gop(&em, "/a", &[("access_token", &access)]).status, 200);

    // Queued in order: the first matching fault applies first.
    em.inject(Fault::Html502, None, 1);
    em.inject(Fault::Http500, None, 1);
    assert_eq!(gop(&em, "/b", &[("access_token", &access)]).status, 502);
    assert_eq!(gop(&em, "/b", &[("access_token", &access)]).status, 500);
    assert_eq!(gop(&em, "/b", &[("access_token", &access)]).status, 200);

    em.inject(Fault::Http500, None, 5);
    em.clear_faults();
    assert_eq!(gop(&em, "/b", &[("access_token", &access)]).status, 200);
    // times = 0 injects nothing.
    em.inject(Fault::Http500, None, 0);
    assert_eq!(gop(&em, "/b", &[("access_token", &access)]).status, 200);
}

#[test]
fn stats_count_every_request_naming_an_api() {
    let em = start();
    let t = create(&em, "s");
    let refresh = str_of(&t, "refresh_token").to_owned();
    em.inject(Fault::Http500, Some("/auth/token/refresh"), 1);
    gop(&em, "/auth/token/refresh", &[("refresh_token", &refresh)]); // faulted
    gop(&em, "/auth/token/refresh", &[("refresh_token", "bad")]); // rejected
    let pairs = signed(
        "wrong",
        em.app_key(),
        "/auth/token/refresh",
        SignMethod::Sha256,
        now_ms(),
        &[],
    );
    post(&em, "/rest/auth/token/refresh", &pairs); // bad signature
    top(&em, "aliexpress.a.b", &[("session", "x")]);
    let s = em.stats();
    assert_eq!(s["/auth/token/create"], 1);
    assert_eq!(s["/auth/token/refresh"], 3);
    assert_eq!(s["aliexpress.a.b"], 1);
    assert_eq!(s.len(), 3);
    em.reset_stats();
    assert!(em.stats().is_empty());
    // Control calls are not counted.
    request(em.addr(), "GET", "/_emulator/now", None, b"").unwrap();
    assert!(em.stats().is_empty());
}

#[test]
fn sixteen_threads_in_parallel() {
    let em = start();
    let t = create(&em, "s");
    let access = str_of(&t, "access_token").to_owned();
    std::thread::scope(|scope| {
        for i in 0..16 {
            let em = &em;
            let access = &access;
            scope.spawn(move || {
                for j in 0..10 {
                    let id = format!("{i}-{j}");
                    let v = gop(em, "/p", &[("access_token", access), ("id", &id)]).json();
                    assert_eq!(v["params"]["id"], id);
                }
            });
        }
    });
    assert_eq!(em.stats()["/p"], 160);
}

#[test]
fn shutdown_closes_the_port() {
    let em = start();
    let addr = em.addr();
    assert!(TcpStream::connect(addr).is_ok());
    em.shutdown();
    // Nothing answers any more (connect refused, or closed without a response).
    match request(addr, "GET", "/_emulator/now", None, b"") {
        Err(_) => {}
        Ok(r) => panic!("answered after shutdown: {r:?}"),
    }
}
