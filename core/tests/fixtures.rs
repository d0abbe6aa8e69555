//! Every file of `tests/data/fixtures/` parses into a token set or a typed error, with asserted
//! field values.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed expectation is the failure

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iop_core::{Error, ErrorClass, TokenSet, parse_response};

fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/fixtures"
    ))
}

fn read(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// 2026-01-01T00:00:00Z, the receive time used throughout.
fn received() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_767_225_600_000)
}

fn token(name: &str) -> TokenSet {
    TokenSet::from_json(&read(name), received()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn gateway_error(name: &str) -> iop_core::GatewayError {
    match TokenSet::from_json(&read(name), received()) {
        Err(Error::Gateway(g)) => {
            // parse_response agrees with the token parser.
            match parse_response(200, &read(name)) {
                Err(Error::Gateway(g2)) => assert_eq!(g, g2),
                other => panic!("{name}: parse_response gave {other:?}"),
            }
            g
        }
        other => panic!("{name}: expected a gateway error, got {other:?}"),
    }
}

/// Every fixture is handled by one of the tests below; a new file must be added here.
#[test]
fn every_fixture_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    names.sort();
    let mut covered = vec![
        "aliexpress-refresh-seed.json",
        "aliexpress-token-strings.json",
        "aliexpress-token.json",
        "error-gop-illegal-refresh-token.json",
        "error-gop-incomplete-signature.json",
        "error-gop-rate-limit.json",
        "error-top-isp.json",
        "error-top-missing-parameter.json",
        "gateway-html-502.html",
        "lazada-create.json",
        "lazada-refresh-keyed.json",
        "lazada-refresh.json",
    ];
    covered.sort_unstable();
    assert_eq!(names, covered);
    // And every one parses to a value or a typed error, never a panic.
    for n in &names {
        let body = read(n);
        match parse_response(200, &body) {
            Ok(v) => assert!(v.is_object(), "{n}"),
            Err(Error::Gateway(g)) => assert!(!g.code.is_empty(), "{n}"),
            Err(Error::Decode { .. }) => assert!(n.ends_with(".html"), "{n}"),
            Err(e) => panic!("{n}: {e}"),
        }
    }
}

#[test]
fn aliexpress_token() {
    let t = token("aliexpress-token.json");
    assert_eq!(
        t.access_token.as_ref().unwrap().secret(),
        "50000601c30atpedfgu3LVvik87Ixlsvle3mSoB7701ceb156fPunYZ43GBg"
    );
    assert_eq!(
        t.refresh_token.as_ref().unwrap().secret(),
        "50001600212wcwiOabwyjtEH11acc19aBOvQr9ZYkYDlr987D8BB88LIB8bj"
    );
    assert_eq!(t.expires_in, Some(2_592_000));
    assert_eq!(t.refresh_expires_in, Some(5_184_000));
    assert_eq!(t.expire_time, Some(1_770_542_239_000));
    assert_eq!(t.refresh_token_valid_time, Some(1_773_134_239_000));
    assert_eq!(t.user_id.as_deref(), Some("4641738246"));
    assert_eq!(t.seller_id.as_deref(), Some("4641738246"));
    assert_eq!(t.havana_id.as_deref(), Some("408081944474"));
    assert_eq!(t.user_nick.as_deref(), Some("us1234567890abcd"));
    assert_eq!(t.account.as_deref(), Some("seller@example.com"));
    assert_eq!(t.account_platform.as_deref(), Some("seller_center"));
    assert_eq!(t.sp.as_deref(), Some("ae"));
    assert_eq!(t.locale.as_deref(), Some("en_US"));
    assert_eq!(t.code.as_deref(), Some("0"));
    assert_eq!(t.request_id.as_deref(), Some("21412efb17679502392691261"));
    assert_eq!(
        t.trace_id.as_deref(),
        Some("21411b6217679502392682779eb4b4")
    );
    assert_eq!(t.received_at_ms, Some(1_767_225_600_000));
    assert!(t.extra.is_empty(), "{:?}", t.extra);
    // Absolute fields win over receive time + relative ones.
    assert_eq!(t.expires_at_ms(), Some(1_770_542_239_000));
    assert_eq!(t.refresh_expires_at_ms(), Some(1_773_134_239_000));
    assert_eq!(
        t.expires_at(),
        Some(UNIX_EPOCH + Duration::from_millis(1_770_542_239_000))
    );
    assert!(!t.needs_refresh(received(), Duration::from_secs(86_400)));
    assert!(t.needs_refresh(received(), Duration::from_secs(40 * 86_400)));
    assert!(t.can_refresh(received()));
    assert!(!t.can_refresh(UNIX_EPOCH + Duration::from_millis(1_773_134_239_000)));
    // Debug never shows a secret.
    let debug = format!("{t:?}");
    assert!(!debug.contains("50000601c30"), "{debug}");
    assert!(!debug.contains("50001600212"), "{debug}");
}

#[test]
fn debug_shows_names_not_values_of_unknown_fields() {
    // A field the model does not know may hold a secret: Debug names it, never shows its value.
    let body = br#"{"access_token":["A-SECRET-IN-AN-ARRAY"],"new_secret":"XYZ-SECRET","code":"0"}"#;
    let t = TokenSet::from_json(body, received()).unwrap();
    let debug = format!("{t:?}");
    assert!(!debug.contains("SECRET"), "{debug}");
    assert!(debug.contains("new_secret"), "{debug}");
}

#[test]
fn aliexpress_token_strings() {
    let t = token("aliexpress-token-strings.json");
    assert_eq!(t.expires_in, Some(2_592_000));
    assert_eq!(t.refresh_expires_in, Some(5_184_000));
    assert_eq!(t.expire_time, Some(1_770_542_239_000));
    assert_eq!(t.refresh_token_valid_time, Some(1_773_134_239_000));
    assert_eq!(t.havana_id.as_deref(), Some("408081944474"));
    assert_eq!(t.user_id.as_deref(), Some("4641738246"));
    assert_eq!(t.account_id, None);
    assert_eq!(
        t.extra.get("new_field_from_gateway"),
        Some(&serde_json::json!({"nested": [1, 2, 3]}))
    );
    assert_eq!(t.extra.len(), 1, "{:?}", t.extra);
    // Same instants as the numeric form.
    assert_eq!(
        t.expires_at_ms(),
        token("aliexpress-token.json").expires_at_ms()
    );
    // Unknown fields are written back and survive a round trip.
    let again = TokenSet::from_json(t.to_json().as_bytes(), UNIX_EPOCH).unwrap();
    assert_eq!(again.extra, t.extra);
    assert_eq!(again.received_at_ms, Some(1_767_225_600_000));
    assert_eq!(again.to_json(), t.to_json());
}

#[test]
fn aliexpress_refresh_seed_has_null_tokens() {
    let t = token("aliexpress-refresh-seed.json");
    assert!(t.access_token.is_none());
    assert!(t.refresh_token.is_none());
    assert_eq!(t.user_id.as_deref(), Some("YourUserID"));
    assert_eq!(t.seller_id.as_deref(), Some("Your-sellerID"));
    assert_eq!(t.account_platform.as_deref(), Some("buyerApp"));
    assert_eq!(t.refresh_expires_in, Some(5_183_988));
    assert_eq!(t.expire_time, Some(1_714_192_160_000));
    assert_eq!(t.request_id.as_deref(), Some("212a69f317116001605067741"));
    assert!(t.extra.is_empty(), "{:?}", t.extra);
    assert!(t.needs_refresh(received(), Duration::ZERO));
    assert!(!t.can_refresh(received()));
}

#[test]
fn lazada_create_with_country_user_info() {
    let t = token("lazada-create.json");
    assert_eq!(t.country.as_deref(), Some("sg"));
    assert_eq!(t.refresh_expires_in, Some(2_592_000));
    assert_eq!(t.expires_in, Some(604_800));
    assert_eq!(t.expire_time, None);
    assert_eq!(t.request_id.as_deref(), Some("0ba2887315178178017221014"));
    assert_eq!(t.country_user_info.len(), 2);
    let my = &t.country_user_info[1];
    assert_eq!(my.country.as_deref(), Some("my"));
    assert_eq!(my.user_id.as_deref(), Some("100002"));
    assert_eq!(my.seller_id.as_deref(), Some("1000002"));
    assert_eq!(my.short_code.as_deref(), Some("MY4D5E6F"));
    assert_eq!(
        t.country_user_info[0].short_code.as_deref(),
        Some("SG1A2B3C")
    );
    assert!(t.extra.is_empty(), "{:?}", t.extra);
    // Relative expiry from the receive time.
    assert_eq!(t.expires_at_ms(), Some(1_767_225_600_000 + 604_800_000));
    assert_eq!(
        t.refresh_expires_at_ms(),
        Some(1_767_225_600_000 + 2_592_000_000)
    );
    assert!(t.can_refresh(received()));
    // Written back under the refresh name; re-read the same.
    let v = t.to_value();
    assert!(v.get("country_user_info_list").is_some());
    let again = TokenSet::from_value(v, UNIX_EPOCH).unwrap();
    assert_eq!(again.country_user_info, t.country_user_info);
}

#[test]
fn lazada_refresh_with_country_user_info_list() {
    let t = token("lazada-refresh.json");
    assert_eq!(t.refresh_expires_in, Some(2_419_200));
    assert_eq!(t.country_user_info.len(), 1);
    assert_eq!(t.country_user_info[0].seller_id.as_deref(), Some("1000001"));
    assert_eq!(t.country_user_info[0].user_id.as_deref(), Some("100001"));
    assert_eq!(t.country_user_info[0].country.as_deref(), Some("sg"));
    assert!(t.can_refresh(received()));
}

#[test]
fn lazada_refresh_keyed_is_not_refreshable() {
    let t = token("lazada-refresh-keyed.json");
    assert_eq!(t.refresh_expires_in, Some(0));
    assert_eq!(t.refresh_expires_at_ms(), None);
    assert!(!t.can_refresh(received()));
    let mut countries: Vec<(&str, &str, &str)> = t
        .country_user_info
        .iter()
        .map(|c| {
            (
                c.country.as_deref().unwrap(),
                c.seller_id.as_deref().unwrap(),
                c.user_id.as_deref().unwrap(),
            )
        })
        .collect();
    countries.sort_unstable();
    assert_eq!(
        countries,
        [("sg", "1001", "10101"), ("th", "1002", "10102")]
    );
    assert!(!t.needs_refresh(received(), Duration::from_secs(86_400)));
    assert!(t.needs_refresh(received(), Duration::from_secs(7 * 86_400)));
}

#[test]
fn gop_illegal_refresh_token() {
    let g = gateway_error("error-gop-illegal-refresh-token.json");
    assert_eq!(g.code, "IllegalRefreshToken");
    assert_eq!(g.error_type.as_deref(), Some("ISV"));
    assert_eq!(
        g.message.as_deref(),
        Some("The specified refresh token is invalid or expired")
    );
    assert_eq!(g.request_id.as_deref(), Some("2101ce0417116001605067742"));
    assert_eq!(g.class(), ErrorClass::Reauthorize);
    assert_eq!(g.retry_after(), None);
    assert!(g.to_string().contains("IllegalRefreshToken"));
    assert!(g.to_string().contains("2101ce0417116001605067742"));
}

#[test]
fn gop_incomplete_signature() {
    let g = gateway_error("error-gop-incomplete-signature.json");
    assert_eq!(g.code, "IncompleteSignature");
    assert_eq!(g.class(), ErrorClass::Signature);
    assert_eq!(g.request_id.as_deref(), Some("212a782117695399357757883"));
}

#[test]
fn gop_rate_limit() {
    let g = gateway_error("error-gop-rate-limit.json");
    assert_eq!(g.code, "ApiCallLimit");
    assert_eq!(g.class(), ErrorClass::RateLimited);
    assert_eq!(g.retry_after(), Some(Duration::from_secs(2)));
    let e = Error::Gateway(g);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(e.class(), ErrorClass::RateLimited);
    assert_eq!(e.request_id(), Some("2140e3a217116001605067743"));
}

#[test]
fn top_isp() {
    let g = gateway_error("error-top-isp.json");
    assert_eq!(g.code, "15");
    assert_eq!(g.error_type.as_deref(), Some("ISP"));
    assert_eq!(g.message.as_deref(), Some("Remote service error"));
    assert_eq!(g.sub_code.as_deref(), Some("isv.402"));
    assert_eq!(g.sub_msg.as_deref(), Some("invalidate request"));
    assert_eq!(g.request_id.as_deref(), Some("2140e3a217116001605067745"));
    assert_eq!(g.class(), ErrorClass::Retryable);
}

#[test]
fn top_missing_parameter() {
    let g = gateway_error("error-top-missing-parameter.json");
    assert_eq!(g.code, "MissingParameter");
    assert_eq!(g.class(), ErrorClass::Client);
    assert_eq!(g.request_id.as_deref(), Some("2140e3a217116001605067744"));
    assert!(
        g.message
            .as_deref()
            .unwrap()
            .contains("\u{201c}app_key\u{201d}")
    );
}

#[test]
fn html_502_is_a_decode_error() {
    let body = read("gateway-html-502.html");
    let e = parse_response(502, &body).unwrap_err();
    match &e {
        Error::Decode { status, snippet } => {
            assert_eq!(*status, 502);
            assert!(snippet.starts_with("<html>"), "{snippet}");
            assert!(snippet.contains("502 Bad Gateway"));
            assert!(snippet.chars().count() <= 200);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.class(), ErrorClass::Retryable);
    assert!(e.to_string().contains("502"));
    // The same page with a 200 status is a decode error too, not retryable.
    let e = TokenSet::from_json(&body, received()).unwrap_err();
    assert!(matches!(e, Error::Decode { status: 200, .. }));
    assert_eq!(e.class(), ErrorClass::Unknown);
}

#[test]
fn truncated_token_is_a_decode_error_without_the_secret() {
    let file = read("aliexpress-token.json");
    let body = file.trim_ascii_end();
    for cut in [1, body.len() / 3, body.len() / 2, body.len() - 1] {
        let e = parse_response(200, &body[..cut]).unwrap_err();
        let Error::Decode { snippet, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(!snippet.contains("50000601c30"), "{snippet}");
        assert!(!snippet.contains("50001600212"), "{snippet}");
        assert!(!e.to_string().contains("50000601c30"));
    }
    let e = parse_response(200, &body[..body.len() / 2]).unwrap_err();
    assert!(e.to_string().contains("[redacted]"), "{e}");
}
