//! The emulator as a gateway, over loopback: checks in order, envelopes, token lifecycle,
//! echo answers, GET/POST/multipart/bare `/rest`, keep-alive and chunked bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use iop_core::SignMethod;
use iop_emulator::{Config, Emulator};

fn start() -> Emulator {
    Emulator::start(Config::default()).unwrap()
}

const DAY: u64 = 86_400;

#[test]
fn create_refresh_call_gop() {
    let em = start();
    let auth_code = em.authorize("seller-42");
    let before = ms_of(em.now());
    let t = gop(
        &em,
        "/auth/token/create",
        &[("code", &auth_code), ("uuid", "u-1")],
    )
    .json();
    assert_eq!(t["code"], "0");
    assert_eq!(t["seller_id"], "seller-42");
    assert_eq!(t["user_id"], "seller-42");
    assert_eq!(t["expires_in"], 30 * DAY);
    assert_eq!(t["refresh_expires_in"], 60 * DAY);
    for field in [
        "account",
        "account_platform",
        "sp",
        "locale",
        "havana_id",
        "user_nick",
        "request_id",
    ] {
        assert!(t[field].is_string(), "{field} missing in {t}");
    }
    assert_eq!(str_of(&t, "request_id").len(), 25);
    let expire_time = t["expire_time"].as_i64().unwrap();
    assert!(expire_time >= before + 30 * DAY as i64 * 1000);
    assert!(expire_time < before + 30 * DAY as i64 * 1000 + 60_000);
    let valid = t["refresh_token_valid_time"].as_i64().unwrap();
    assert!(valid >= before + 60 * DAY as i64 * 1000);
    let access = str_of(&t, "access_token");
    let refresh = str_of(&t, "refresh_token");
    assert!(access.starts_with("50000") && access.len() == 60);
    assert!(refresh.starts_with("50001") && refresh.len() == 60);

    let r = gop(&em, "/auth/token/refresh", &[("refresh_token", refresh)]).json();
    assert_eq!(r["code"], "0", "{r}");
    assert_eq!(r["seller_id"], "seller-42");
    assert_ne!(r["access_token"], t["access_token"]);
    assert_ne!(r["refresh_token"], t["refresh_token"]);
    // Every field the gateway sends with a token set, and nothing else.
    for answer in [&t, &r] {
        let fields: Vec<&str> = answer
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fields,
            [
                "_trace_id_",
                "access_token",
                "account",
                "account_platform",
                "code",
                "expire_time",
                "expires_in",
                "havana_id",
                "locale",
                "refresh_expires_in",
                "refresh_token",
                "refresh_token_valid_time",
                "request_id",
                "seller_id",
                "sp",
                "user_id",
                "user_nick",
            ]
        );
    }

    // Rotation is on by default: the used refresh token is refused.
    let again = gop(&em, "/auth/token/refresh", &[("refresh_token", refresh)]).json();
    assert_eq!(code(&again), "IllegalRefreshToken");
    assert_eq!(again["type"], "ISV");
    assert!(again["request_id"].is_string() && again["_trace_id_"].is_string());

    let new_access = str_of(&r, "access_token");
    let echo = gop(
        &em,
        "/order/get",
        &[
            ("access_token", new_access),
            ("order_id", "123"),
            ("note", "a b&c=\u{4f60}"),
        ],
    )
    .json();
    assert_eq!(echo["code"], "0", "{echo}");
    assert_eq!(echo["api"], "/order/get");
    assert_eq!(echo["seller_id"], "seller-42");
    assert_eq!(echo["params"]["order_id"], "123");
    assert_eq!(echo["params"]["note"], "a b&c=\u{4f60}");
    // System parameters are not echoed.
    assert!(echo["params"].get("access_token").is_none());
    assert!(echo["params"].get("sign").is_none());
}

#[test]
fn security_endpoints_have_the_same_shapes() {
    let em = start();
    let c = em.authorize("s1");
    let t = gop(&em, "/auth/token/security/create", &[("code", &c)]).json();
    assert_eq!(t["code"], "0", "{t}");
    let r = gop(
        &em,
        "/auth/token/security/refresh",
        &[("refresh_token", str_of(&t, "refresh_token"))],
    )
    .json();
    assert_eq!(r["code"], "0", "{r}");
    assert_eq!(r["seller_id"], "s1");
}

#[test]
fn top_call_wrapped_simplified_and_md5() {
    let em = start();
    let t = create(&em, "s-top");
    let session = str_of(&t, "access_token");
    let v = top(
        &em,
        "aliexpress.solution.product.list.get",
        &[("session", session), ("page", "2")],
    )
    .json();
    let inner = &v["aliexpress_solution_product_list_get_response"];
    assert_eq!(inner["result"]["seller_id"], "s-top", "{v}");
    assert_eq!(
        inner["result"]["api"],
        "aliexpress.solution.product.list.get"
    );
    assert_eq!(inner["result"]["params"]["page"], "2");
    assert!(inner["result"]["params"].get("method").is_none());
    assert!(inner["request_id"].is_string());

    let s = top(
        &em,
        "aliexpress.x.get",
        &[("session", session), ("simplify", "true")],
    )
    .json();
    assert_eq!(s["result"]["api"], "aliexpress.x.get", "{s}");

    // md5 is valid on /sync.
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "",
        SignMethod::Md5,
        now_ms(),
        &[("method", "aliexpress.x.get"), ("session", session)],
    );
    let m = post(&em, "/sync", &pairs).json();
    assert_eq!(
        m["aliexpress_x_get_response"]["result"]["seller_id"], "s-top",
        "{m}"
    );
}

#[test]
fn top_errors_use_the_error_response_envelope() {
    let em = start();
    let v = top(&em, "aliexpress.x.get", &[("session", "nope")]).json();
    let e = &v["error_response"];
    assert_eq!(e["code"], "IllegalAccessToken", "{v}");
    assert_eq!(e["type"], "ISV");
    assert!(e["msg"].is_string() && e["request_id"].is_string());

    // An API that a test names as requiring a token.
    em.require_token("aliexpress.x.get", true);
    let v = top(&em, "aliexpress.x.get", &[]).json();
    assert_eq!(v["error_response"]["code"], "MissingParameter", "{v}");
    assert!(
        v["error_response"]["msg"]
            .as_str()
            .unwrap()
            .contains("session")
    );

    // No method at all.
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "",
        SignMethod::Sha256,
        now_ms(),
        &[],
    );
    let v = post(&em, "/sync", &pairs).json();
    assert_eq!(v["error_response"]["code"], "MissingParameter", "{v}");
    assert!(
        v["error_response"]["msg"]
            .as_str()
            .unwrap()
            .contains("method")
    );
}

#[test]
fn md5_is_refused_on_rest() {
    let em = start();
    let c = em.authorize("s");
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "/auth/token/create",
        SignMethod::Md5,
        now_ms(),
        &[("code", &c)],
    );
    let v = post(&em, "/rest/auth/token/create", &pairs).json();
    assert_eq!(code_of(&v), "InvalidSignMethod");
    let mut pairs = signed(
        em.app_secret(),
        em.app_key(),
        "/x",
        SignMethod::Sha256,
        now_ms(),
        &[],
    );
    pairs[2].1 = "hmac".into();
    let v = post(&em, "/rest/x", &pairs).json();
    assert_eq!(code_of(&v), "InvalidSignMethod");
}

fn code_of(v: &serde_json::Value) -> String {
    code(v).to_owned()
}

#[test]
fn missing_parameters_in_order() {
    let em = start();
    let full = signed(
        em.app_secret(),
        em.app_key(),
        "/auth/token/create",
        SignMethod::Sha256,
        now_ms(),
        &[("code", "c")],
    );
    for name in ["app_key", "sign_method", "timestamp", "sign"] {
        let pairs: Vec<_> = full.iter().filter(|(k, _)| k != name).cloned().collect();
        let v = post(&em, "/rest/auth/token/create", &pairs).json();
        assert_eq!(code(&v), "MissingParameter", "{name}: {v}");
        assert_eq!(v["type"], "ISV");
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(&format!("\u{201c}{name}\u{201d}")), "{msg}");
    }
    // A blank value counts as missing.
    let mut blank = full.clone();
    blank[0].1 = "  ".into();
    let v = post(&em, "/rest/auth/token/create", &blank).json();
    assert!(v["message"].as_str().unwrap().contains("app_key"), "{v}");

    // Required business parameters of the token calls.
    let v = gop(&em, "/auth/token/create", &[]).json();
    assert_eq!(code(&v), "MissingParameter");
    assert!(v["message"].as_str().unwrap().contains("code"));
    let v = gop(&em, "/auth/token/refresh", &[]).json();
    assert!(
        v["message"].as_str().unwrap().contains("refresh_token"),
        "{v}"
    );
    em.require_token("/order/get", true);
    let v = gop(&em, "/order/get", &[]).json();
    assert!(
        v["message"].as_str().unwrap().contains("access_token"),
        "{v}"
    );
}

#[test]
fn app_key_before_signature_before_handler() {
    let em = start();
    // Wrong app key, also wrongly signed: the app key is reported.
    let pairs = signed(
        "other-secret",
        "other-key",
        "/x",
        SignMethod::Sha256,
        now_ms(),
        &[],
    );
    let v = post(&em, "/rest/x", &pairs).json();
    assert_eq!(code(&v), "InvalidAppKey", "{v}");

    // Bad timestamp and bad signature: the timestamp is reported.
    let pairs = signed(
        "other-secret",
        em.app_key(),
        "/x",
        SignMethod::Sha256,
        1_000,
        &[],
    );
    let v = post(&em, "/rest/x", &pairs).json();
    assert_eq!(code(&v), "InvalidTimestamp", "{v}");

    // Wrong secret.
    let code_ = em.authorize("s");
    let pairs = signed(
        "wrong-secret",
        em.app_key(),
        "/auth/token/create",
        SignMethod::Sha256,
        now_ms(),
        &[("code", &code_)],
    );
    let v = post(&em, "/rest/auth/token/create", &pairs).json();
    assert_eq!(code(&v), "IncompleteSignature", "{v}");
    assert_eq!(
        v["message"],
        "The request signature does not conform to platform standards"
    );
    // The code was not consumed by the rejected request.
    let ok = gop(&em, "/auth/token/create", &[("code", &code_)]).json();
    assert_eq!(ok["code"], "0", "{ok}");
}

#[test]
fn signature_is_checked_over_what_arrived() {
    let em = start();
    let t = create(&em, "s");
    let access = str_of(&t, "access_token").to_owned();
    let base = signed(
        em.app_secret(),
        em.app_key(),
        "/order/get",
        SignMethod::Sha256,
        now_ms(),
        &[("access_token", &access), ("id", "1")],
    );
    // Lowercase hex is a different signature.
    let mut lower = base.clone();
    let last = lower.len() - 1;
    lower[last].1 = lower[last].1.to_ascii_lowercase();
    assert_eq!(
        code(&post(&em, "/rest/order/get", &lower).json()),
        "IncompleteSignature"
    );
    // A parameter added after signing.
    let mut added = base.clone();
    added.push(("extra".into(), "x".into()));
    assert_eq!(
        code(&post(&em, "/rest/order/get", &added).json()),
        "IncompleteSignature"
    );
    // Signed for another path.
    assert_eq!(
        code(&post(&em, "/rest/order/list", &base).json()),
        "IncompleteSignature"
    );
    // As signed: accepted.
    assert_eq!(post(&em, "/rest/order/get", &base).json()["code"], "0");
}

#[test]
fn timestamp_window_follows_virtual_or_real_clock() {
    let em = start();
    let t = create(&em, "s");
    let access = str_of(&t, "access_token").to_owned();
    let call = |ts: i64| {
        let pairs = signed(
            em.app_secret(),
            em.app_key(),
            "/a/b",
            SignMethod::Sha256,
            ts,
            &[("access_token", &access)],
        );
        code(&post(&em, "/rest/a/b", &pairs).json()).to_owned()
    };
    let now = now_ms();
    assert_eq!(call(now - 7_000_000), "0");
    assert_eq!(call(now + 7_000_000), "0");
    assert_eq!(call(now - 7_300_000), "InvalidTimestamp");
    assert_eq!(call(now + 7_300_000), "InvalidTimestamp");
    // Seconds instead of milliseconds.
    assert_eq!(call(now / 1000), "InvalidTimestamp");

    em.advance(Duration::from_secs(5 * 3600));
    // Both the real clock and the virtual clock are accepted.
    assert_eq!(call(now_ms()), "0");
    assert_eq!(call(ms_of(em.now())), "0");

    let mut pairs = signed(
        em.app_secret(),
        em.app_key(),
        "/a/b",
        SignMethod::Sha256,
        0,
        &[],
    );
    pairs[1].1 = "2026-01-01 00:00:00".into();
    assert_eq!(
        code(&post(&em, "/rest/a/b", &pairs).json()),
        "InvalidTimestamp"
    );
}

#[test]
fn authorization_codes_are_single_use_and_expire() {
    let em = start();
    let c = em.authorize("s");
    assert_eq!(
        gop(&em, "/auth/token/create", &[("code", &c)]).json()["code"],
        "0"
    );
    let v = gop(&em, "/auth/token/create", &[("code", &c)]).json();
    assert_eq!(code(&v), "InvalidCode", "{v}");
    assert_eq!(v["type"], "ISV");
    let v = gop(&em, "/auth/token/create", &[("code", "never-issued")]).json();
    assert_eq!(code(&v), "InvalidCode");

    let c = em.authorize("s");
    em.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        gop(&em, "/auth/token/create", &[("code", &c)]).json()["code"],
        "0"
    );
    let c = em.authorize("s");
    em.advance(Duration::from_secs(31 * 60));
    assert_eq!(
        code(&gop(&em, "/auth/token/create", &[("code", &c)]).json()),
        "InvalidCode"
    );
}

#[test]
fn tokens_expire_on_the_virtual_clock() {
    let em = Emulator::start(Config {
        access_ttl: Duration::from_secs(3600),
        refresh_ttl: Duration::from_secs(7200),
        ..Config::default()
    })
    .unwrap();
    let t = create(&em, "s");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["refresh_expires_in"], 7200);
    let access = str_of(&t, "access_token");
    assert_eq!(
        gop(&em, "/x/y", &[("access_token", access)]).json()["code"],
        "0"
    );
    em.advance(Duration::from_secs(3601));
    let v = gop(&em, "/x/y", &[("access_token", access)]).json();
    assert_eq!(code(&v), "IllegalAccessToken", "{v}");
    // The refresh token still works, once.
    let r = gop(
        &em,
        "/auth/token/refresh",
        &[("refresh_token", str_of(&t, "refresh_token"))],
    )
    .json();
    assert_eq!(r["code"], "0");
    em.advance(Duration::from_secs(7201));
    let v = gop(
        &em,
        "/auth/token/refresh",
        &[("refresh_token", str_of(&r, "refresh_token"))],
    )
    .json();
    assert_eq!(code(&v), "IllegalRefreshToken", "{v}");
}

#[test]
fn without_rotation_the_refresh_token_stays_valid() {
    let em = Emulator::start(Config {
        rotate_refresh_tokens: false,
        ..Config::default()
    })
    .unwrap();
    let t = create(&em, "s");
    let refresh = str_of(&t, "refresh_token");
    let valid_until = t["refresh_token_valid_time"].as_i64().unwrap();
    for _ in 0..3 {
        let r = gop(&em, "/auth/token/refresh", &[("refresh_token", refresh)]).json();
        assert_eq!(r["code"], "0", "{r}");
        assert_eq!(r["refresh_token"], refresh);
        assert_eq!(r["refresh_token_valid_time"].as_i64().unwrap(), valid_until);
        assert_ne!(r["access_token"], t["access_token"]);
    }
}

#[test]
fn revoke_invalidates_only_that_sellers_refresh_tokens() {
    let em = start();
    let a = create(&em, "a");
    let b = create(&em, "b");
    em.revoke_refresh_tokens("a");
    let v = gop(
        &em,
        "/auth/token/refresh",
        &[("refresh_token", str_of(&a, "refresh_token"))],
    )
    .json();
    assert_eq!(code(&v), "IllegalRefreshToken");
    let v = gop(
        &em,
        "/auth/token/refresh",
        &[("refresh_token", str_of(&b, "refresh_token"))],
    )
    .json();
    assert_eq!(v["code"], "0");
    // Access tokens are untouched.
    let v = gop(&em, "/x", &[("access_token", str_of(&a, "access_token"))]).json();
    assert_eq!(v["code"], "0");
}

#[test]
fn invalid_app_key_and_unknown_paths() {
    let em = start();
    let r = request(em.addr(), "GET", "/nothing/here", None, b"").unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "InvalidApiPath");
    let r = request(em.addr(), "GET", "/restless", None, b"").unwrap();
    assert_eq!(r.status, 404);
    let r = request(em.addr(), "PUT", "/rest/x", None, b"").unwrap();
    assert_eq!(r.status, 405);
}

#[test]
fn get_with_query_string() {
    let em = start();
    let c = em.authorize("s-get");
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "/auth/token/create",
        SignMethod::Sha256,
        now_ms(),
        &[("code", &c)],
    );
    let target = format!("/rest/auth/token/create?{}", form(&pairs));
    let r = request(em.addr(), "GET", &target, None, b"").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("application/json"));
    assert_eq!(r.json()["seller_id"], "s-get");
}

#[test]
fn query_and_body_are_read_together() {
    let em = start();
    let c = em.authorize("s-mix");
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "/auth/token/create",
        SignMethod::Sha256,
        now_ms(),
        &[("code", &c)],
    );
    let (q, b) = pairs.split_at(2);
    let target = format!("/rest/auth/token/create?{}", form(q));
    let r = request(em.addr(), "POST", &target, Some(FORM), form(b).as_bytes()).unwrap();
    assert_eq!(r.json()["seller_id"], "s-mix");
}

#[test]
fn bare_rest_with_method() {
    let em = start();
    let c = em.authorize("s-bare");
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "/auth/token/create",
        SignMethod::Sha256,
        now_ms(),
        &[("code", &c), ("method", "/auth/token/create")],
    );
    let v = post(&em, "/rest", &pairs).json();
    assert_eq!(v["seller_id"], "s-bare", "{v}");
    assert_eq!(em.stats().get("/auth/token/create"), Some(&1));
    // Without a method there is no API.
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "",
        SignMethod::Sha256,
        now_ms(),
        &[],
    );
    let v = post(&em, "/rest/", &pairs).json();
    assert_eq!(code(&v), "MissingParameter");
}

fn multipart(boundary: &str, text: &[(String, String)], files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in text {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (name, filename, data) in files {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[test]
fn multipart_with_unsigned_file_parts() {
    let em = start();
    let t = create(&em, "s-mp");
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "/image/upload",
        SignMethod::Sha256,
        now_ms(),
        &[
            ("access_token", str_of(&t, "access_token")),
            ("title", "\u{4f60}好 x"),
        ],
    );
    let data: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let body = multipart("b0undary42", &pairs, &[("image", "pic.png", &data)]);
    let r = request(
        em.addr(),
        "POST",
        "/rest/image/upload",
        Some("multipart/form-data; boundary=b0undary42"),
        &body,
    )
    .unwrap();
    let v = r.json();
    assert_eq!(v["code"], "0", "{v}");
    assert_eq!(v["params"]["title"], "\u{4f60}好 x");
    assert_eq!(v["files"]["image"]["filename"], "pic.png");
    assert_eq!(v["files"]["image"]["size"], 3000);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let em = start();
    let mut s = TcpStream::connect(em.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = Vec::new();
    for i in 0..3 {
        let c = em.authorize(&format!("ka-{i}"));
        let pairs = signed(
            em.app_secret(),
            em.app_key(),
            "/auth/token/create",
            SignMethod::Sha256,
            now_ms(),
            &[("code", &c)],
        );
        let body = form(&pairs);
        write!(
            s,
            "POST /rest/auth/token/create HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let resp = loop {
            if let Some((r, used)) = parse_response_len(&buf) {
                buf.drain(..used);
                break r;
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed early");
            buf.extend_from_slice(&chunk[..n]);
        };
        assert_eq!(resp.json()["seller_id"], format!("ka-{i}"));
    }
}

#[test]
fn chunked_request_body() {
    let em = start();
    let c = em.authorize("s-chunk");
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "/auth/token/create",
        SignMethod::Sha256,
        now_ms(),
        &[("code", &c)],
    );
    let body = form(&pairs);
    let (a, b) = body.split_at(10);
    let raw = format!(
        "POST /rest/auth/token/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let r = send_raw(em.addr(), raw.as_bytes()).unwrap();
    assert_eq!(r.json()["seller_id"], "s-chunk");
}

#[test]
fn expect_continue_is_answered() {
    let em = start();
    let mut s = TcpStream::connect(em.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /_emulator/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"a=b").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    let r = parse_response(&rest).unwrap();
    assert!(r.json()["now_ms"].is_i64());
}

#[test]
fn virtual_clock_is_shared_through_clock() {
    let em = start();
    let clock = em.clock();
    let before = clock.now();
    em.advance(Duration::from_secs(10 * DAY));
    let moved = clock.now().duration_since(before).unwrap();
    assert!(moved >= Duration::from_secs(10 * DAY));
    assert!(moved < Duration::from_secs(10 * DAY + 60));
}

#[test]
fn issue_token_gives_a_usable_token_set() {
    let em = start();
    let t = em.issue_token("direct");
    assert_eq!(t["seller_id"], "direct");
    let v = gop(&em, "/x", &[("access_token", str_of(&t, "access_token"))]).json();
    assert_eq!(v["seller_id"], "direct");
    assert!(!em.stats().contains_key("/auth/token/create"));
}

#[test]
fn start_time_sets_the_virtual_clock() {
    let start = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let em = Emulator::start(Config {
        start_time: Some(start),
        ..Config::default()
    })
    .unwrap();
    let d = em.now().duration_since(start).unwrap();
    assert!(d < Duration::from_secs(60));
    // Clients on the real clock still pass the timestamp check.
    let t = create(&em, "s");
    assert!(t["expire_time"].as_i64().unwrap() < 1_700_000_000_000 + 31 * DAY as i64 * 1000);
}

#[test]
fn hostile_numbers_get_answers_not_panics() {
    let em = start();
    // A timestamp at i64::MIN is out of the window, not an overflow.
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "/auth/token/refresh",
        SignMethod::Sha256,
        i64::MIN,
        &[("refresh_token", "x")],
    );
    let r = post(&em, "/rest/auth/token/refresh", &pairs);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(code(&r.json()), "InvalidTimestamp");

    // A chunk size beyond u64::MAX is a bad request, not an overflow.
    let raw = format!(
        "POST /rest/auth/token/refresh HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n{:x}0\r\n",
        usize::MAX
    );
    let r = send_raw(em.addr(), raw.as_bytes()).unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    // A chunk size of usize::MAX reserves nothing: the body that never comes is a timeout
    // (see tests/hardening.rs for the memory and the 413 above the body cap).
    let quick = Emulator::start(Config {
        read_timeout: Duration::from_secs(1),
        ..Config::default()
    })
    .unwrap();
    let raw = format!(
        "POST /rest/auth/token/refresh HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n{:x}\r\n",
        usize::MAX
    );
    let r = send_raw(quick.addr(), raw.as_bytes()).unwrap();
    assert_eq!(r.status, 408, "{}", r.text());

    // Huge durations through the control API saturate or are capped.
    let r = post(
        &em,
        "/_emulator/advance",
        &[
            ("seconds".to_owned(), u64::MAX.to_string()),
            ("ms".to_owned(), "999999".to_owned()),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post(
        &em,
        "/_emulator/fault",
        &[
            ("kind".to_owned(), "rate_limit".to_owned()),
            ("ban".to_owned(), u64::MAX.to_string()),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for _ in 0..2 {
        let r = gop(&em, "/auth/token/refresh", &[("refresh_token", "x")]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(code(&r.json()), "ApiCallLimit");
    }
}

#[test]
fn token_lifetimes_beyond_what_the_clock_holds_are_refused() {
    for (access, refresh) in [(u64::MAX, 60), (60, u64::MAX)] {
        let err = Emulator::start(Config {
            access_ttl: Duration::from_secs(access),
            refresh_ttl: Duration::from_secs(refresh),
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
    let em = Emulator::start(Config {
        access_ttl: iop_emulator::MAX_TTL,
        refresh_ttl: iop_emulator::MAX_TTL,
        ..Config::default()
    })
    .unwrap();
    let c = em.authorize("long-lived");
    let t = gop(&em, "/auth/token/create", &[("code", &c)]).json();
    assert_eq!(t["code"], "0", "{t}");
}
