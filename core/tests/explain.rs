//! `explain`: URL, style, redacted string-to-sign and warnings for the classic mistakes.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed expectation is the failure

use iop_core::{AccessToken, AppSecret, Credentials, SignMethod, Style, Warning, explain};

const TS: i64 = 1_517_820_392_000;

fn creds() -> Credentials {
    Credentials::new("123456", AppSecret::new("helloworld"))
}

fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn gop_call_is_explained_with_secrets_redacted() {
    let token = AccessToken::new("TOKEN-VALUE");
    let e = explain(
        "https://api-sg.aliexpress.com",
        "/order/get",
        &p(&[("order_id", "1234")]),
        &creds(),
        Some(&token),
        TS,
    );
    assert_eq!(e.url, "https://api-sg.aliexpress.com/rest/order/get");
    assert_eq!(e.style, Some(Style::Gop));
    assert_eq!(
        e.string_to_sign_redacted,
        "/order/getaccess_token<redacted:access_token>app_key123456order_id1234\
         sign_methodsha256timestamp1517820392000"
    );
    assert_eq!(
        e.signed_keys,
        [
            "access_token",
            "app_key",
            "order_id",
            "sign_method",
            "timestamp"
        ]
    );
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
}

#[test]
fn token_calls_redact_code_and_refresh_token() {
    let create = explain(
        "https://api-sg.aliexpress.com",
        "/auth/token/create",
        &p(&[("code", "AUTH-CODE-1")]),
        &creds(),
        None,
        TS,
    );
    assert!(
        create
            .string_to_sign_redacted
            .contains("code<redacted:code>")
    );
    assert!(!create.string_to_sign_redacted.contains("AUTH-CODE-1"));
    let refresh = explain(
        "https://api-sg.aliexpress.com",
        "/auth/token/refresh",
        &p(&[("refresh_token", "RT-1")]),
        &creds(),
        None,
        TS,
    );
    assert!(
        refresh
            .string_to_sign_redacted
            .contains("refresh_token<redacted:refresh_token>")
    );
    assert!(!format!("{refresh:?}").contains("RT-1"));
    assert!(!format!("{refresh:?}").contains("helloworld"));
}

#[test]
fn top_call_redacts_session() {
    let token = AccessToken::new("SESSION-VALUE");
    let e = explain(
        "https://api-sg.aliexpress.com/sync",
        "aliexpress.x.get",
        &[],
        &creds(),
        Some(&token),
        TS,
    );
    assert_eq!(e.url, "https://api-sg.aliexpress.com/sync");
    assert_eq!(e.style, Some(Style::Top));
    assert!(
        e.string_to_sign_redacted
            .starts_with("app_key123456formatjson")
    );
    assert!(
        e.string_to_sign_redacted
            .contains("session<redacted:session>")
    );
    assert!(!format!("{e:?}").contains("SESSION-VALUE"));
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
}

#[test]
fn trailing_slash_is_flagged_and_explained_without_it() {
    let e = explain(
        "https://api-sg.aliexpress.com",
        "/order/get/",
        &[],
        &creds(),
        None,
        TS,
    );
    assert_eq!(e.warnings.first(), Some(&Warning::TrailingSlash));
    assert_eq!(e.url, "https://api-sg.aliexpress.com/rest/order/get");
    assert!(e.string_to_sign_redacted.starts_with("/order/getapp_key"));
}

#[test]
fn dropped_empty_values_are_listed() {
    let e = explain(
        "https://api-sg.aliexpress.com",
        "/order/get",
        &p(&[("a", ""), ("b", "1"), ("c", "  ")]),
        &creds(),
        None,
        TS,
    );
    assert_eq!(
        e.warnings,
        [Warning::DroppedEmpty(vec!["a".into(), "c".into()])]
    );
    assert!(!e.signed_keys.contains(&"a".to_owned()));
    assert!(e.warnings[0].to_string().contains("a, c"));
}

#[test]
fn md5_on_a_path_api_and_wrong_suffixes() {
    let mut c = creds();
    c.sign_method = SignMethod::Md5;
    let e = explain(
        "https://api-sg.aliexpress.com/sync",
        "/order/get",
        &[],
        &c,
        None,
        TS,
    );
    assert!(
        e.warnings.contains(&Warning::Md5OnPathApi),
        "{:?}",
        e.warnings
    );
    assert!(
        e.warnings.contains(&Warning::PathApiOnSyncUrl),
        "{:?}",
        e.warnings
    );
    assert_eq!(e.url, "https://api-sg.aliexpress.com/rest/order/get");
    let e = explain(
        "https://api-sg.aliexpress.com/rest",
        "aliexpress.x.get",
        &[],
        &c,
        None,
        TS,
    );
    assert_eq!(e.warnings, [Warning::DottedApiOnRestUrl]);
}

#[test]
fn what_cannot_be_built_becomes_invalid() {
    let e = explain(
        "http://example.com",
        "/order/get?x=1",
        &[],
        &creds(),
        None,
        TS,
    );
    let invalid = e
        .warnings
        .iter()
        .filter(|w| matches!(w, Warning::Invalid(_)))
        .count();
    assert_eq!(invalid, 2, "{:?}", e.warnings);
    assert_eq!(e.style, None);
    let e = explain(
        "https://api-sg.aliexpress.com",
        "/order/get",
        &p(&[("app_key", "x")]),
        &creds(),
        None,
        TS,
    );
    assert!(matches!(e.warnings.as_slice(), [Warning::Invalid(m)] if m.contains("app_key")));
}

#[test]
fn the_app_secret_never_appears() {
    let e = explain(
        "https://api-sg.aliexpress.com",
        "/order/get",
        &p(&[("oops", "helloworld")]),
        &creds(),
        None,
        TS,
    );
    assert!(!e.string_to_sign_redacted.contains("helloworld"));
    assert!(
        e.string_to_sign_redacted
            .contains("oops<redacted:app_secret>")
    );
}

#[test]
fn token_calls_on_a_lazada_country_host_show_the_auth_host() {
    // The client sends token calls to auth.lazada.com whatever country host it was given;
    // explain shows that URL, not the country's.
    let params = p(&[("refresh_token", "RT")]);
    for base in [
        "https://api.lazada.co.th/rest",
        "https://api.lazada.sg/rest",
        "https://api.lazada.com.my",
    ] {
        for api in ["/auth/token/refresh", "/auth/token/create"] {
            let e = explain(base, api, &params, &creds(), None, TS);
            assert_eq!(
                e.url,
                format!("https://auth.lazada.com/rest{api}"),
                "{base}"
            );
        }
        // Business calls stay on the country host.
        let e = explain(base, "/seller/get", &[], &creds(), None, TS);
        assert!(!e.url.starts_with("https://auth.lazada.com"), "{}", e.url);
        assert!(e.url.ends_with("/rest/seller/get"), "{}", e.url);
    }
    // Elsewhere a token call stays where it was asked.
    let e = explain(
        "https://api-sg.aliexpress.com",
        "/auth/token/refresh",
        &params,
        &creds(),
        None,
        TS,
    );
    assert_eq!(
        e.url,
        "https://api-sg.aliexpress.com/rest/auth/token/refresh"
    );
}
