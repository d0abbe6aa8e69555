//! What the real gateway accepts: app-level APIs without a token, and ISO-8601 timestamps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use iop_core::{AppSecret, SignMethod};
use iop_emulator::{Config, Emulator};
use serde_json::Value;

fn start() -> Emulator {
    Emulator::start(Config::default()).unwrap()
}

#[test]
fn app_level_apis_need_no_token() {
    let em = start();
    // Lazada's public APIs on /rest, AliExpress affiliate APIs on /sync.
    let v = gop(&em, "/category/tree/get", &[("language_code", "en_US")]).json();
    assert_eq!(v["code"], "0", "{v}");
    assert_eq!(v["seller_id"], Value::Null);
    assert_eq!(v["params"]["language_code"], "en_US");
    let v = top(
        &em,
        "aliexpress.affiliate.link.generate",
        &[("promotion_link_type", "0")],
    )
    .json();
    let result = &v["aliexpress_affiliate_link_generate_response"]["result"];
    assert_eq!(result["seller_id"], Value::Null, "{v}");
    assert_eq!(result["params"]["promotion_link_type"], "0");
    // A token sent is still checked.
    let v = gop(&em, "/brands/get", &[("access_token", "not-a-token")]).json();
    assert_eq!(code(&v), "IllegalAccessToken");
    let v = top(
        &em,
        "aliexpress.affiliate.category.get",
        &[("session", "nope")],
    )
    .json();
    assert_eq!(v["error_response"]["code"], "IllegalAccessToken");
    // And a valid one names its seller.
    let t = create(&em, "s-1");
    let v = gop(
        &em,
        "/brands/get",
        &[("access_token", str_of(&t, "access_token"))],
    )
    .json();
    assert_eq!(v["seller_id"], "s-1");
}

#[test]
fn tests_can_name_apis_that_require_a_token() {
    let em = start();
    em.require_token("/order/get", true);
    let v = gop(&em, "/order/get", &[]).json();
    assert_eq!(code(&v), "MissingParameter");
    assert!(v["message"].as_str().unwrap().contains("access_token"));
    // Others are not affected.
    assert_eq!(gop(&em, "/order/list", &[]).json()["code"], "0");
    em.require_token("/order/get", false);
    assert_eq!(gop(&em, "/order/get", &[]).json()["code"], "0");
    // `*`: every API, as before.
    em.require_token("*", true);
    let v = top(&em, "aliexpress.x.get", &[]).json();
    assert_eq!(v["error_response"]["code"], "MissingParameter", "{v}");
    // Token calls keep their own required parameters and need no access token.
    let c = em.authorize("s");
    assert_eq!(
        gop(&em, "/auth/token/create", &[("code", &c)]).json()["code"],
        "0"
    );

    // Through the control API.
    let em = start();
    let r = request(
        em.addr(),
        "POST",
        "/_emulator/require_token?api=/x",
        None,
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(code(&gop(&em, "/x", &[]).json()), "MissingParameter");
    let r = request(
        em.addr(),
        "POST",
        "/_emulator/require_token?api=/x&required=false",
        None,
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(gop(&em, "/x", &[]).json()["code"], "0");
    for bad in [
        "/_emulator/require_token",
        "/_emulator/require_token?api=/x&required=maybe",
    ] {
        assert_eq!(
            request(em.addr(), "POST", bad, None, b"").unwrap().status,
            400
        );
    }
}

/// Signs with `timestamp` given as text.
fn signed_at(em: &Emulator, api: &str, timestamp: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = vec![
        ("app_key".into(), em.app_key().into()),
        ("timestamp".into(), timestamp.into()),
        ("sign_method".into(), "sha256".into()),
    ];
    let sign = iop_core::sign(
        SignMethod::Sha256,
        &AppSecret::new(em.app_secret()),
        api,
        &pairs,
    );
    pairs.push(("sign".into(), sign));
    pairs
}

/// `ms` since the epoch as ISO-8601 UTC, computed independently of the emulator (via `date`).
fn iso(ms: i64) -> String {
    let out = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{}", ms / 1000),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn timestamps_may_be_iso_8601_utc() {
    let em = start();
    let now = iso(now_ms());
    let v = post(&em, "/rest/x", &signed_at(&em, "/x", &now)).json();
    assert_eq!(v["code"], "0", "{now}: {v}");
    // With milliseconds too.
    let with_ms = now.replace('Z', ".250Z");
    let v = post(&em, "/rest/x", &signed_at(&em, "/x", &with_ms)).json();
    assert_eq!(v["code"], "0", "{with_ms}: {v}");
    // The same 7200 s window.
    let inside = iso(now_ms() - 7_000_000);
    assert_eq!(
        post(&em, "/rest/x", &signed_at(&em, "/x", &inside)).json()["code"],
        "0"
    );
    for bad in [
        iso(now_ms() - 7_300_000),
        iso(now_ms() + 7_300_000),
        "2017-11-11T12:00:00Z".to_owned(),
        now.trim_end_matches('Z').to_owned(),
        "yesterday".to_owned(),
    ] {
        let v = post(&em, "/rest/x", &signed_at(&em, "/x", &bad)).json();
        assert_eq!(code(&v), "InvalidTimestamp", "{bad}: {v}");
        let msg = v["message"].as_str().unwrap();
        assert!(
            msg.contains("2017-11-11T12:00:00Z") && msg.contains("1517886554000"),
            "{msg}"
        );
    }
}
