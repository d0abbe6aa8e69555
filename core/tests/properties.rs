//! Property tests: signing, form encoding, response parsing and API-name validation.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed expectation is the failure

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use iop_core::{
    AccessToken, ApiName, AppSecret, Credentials, Error, Gateway, HttpMethod, Request, SignMethod,
    TokenSet, parse_response, sign, string_to_sign,
};
use proptest::prelude::*;

/// Distinct keys with values, in some order.
fn distinct_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map(any::<String>(), any::<String>(), 0..12)
        .prop_map(|m: BTreeMap<String, String>| m.into_iter().collect::<Vec<_>>())
        .prop_shuffle()
}

/// Business parameters the request builder accepts as keys.
fn business_key() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("not a system parameter, not empty", |k| {
        // TOP reserves a superset of GOP's names.
        !k.is_empty() && !iop_core::request::is_system_param(iop_core::Style::Top, k)
    })
}

fn is_upper_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

proptest! {
    #[test]
    fn signature_does_not_depend_on_insertion_order(
        pairs in distinct_pairs(),
        prefix in "(/[a-z]{1,8}){0,3}",
        secret in any::<String>(),
        md5 in any::<bool>(),
    ) {
        let method = if md5 { SignMethod::Md5 } else { SignMethod::Sha256 };
        let secret = AppSecret::new(secret);
        let mut sorted = pairs.clone();
        sorted.sort();
        let mut reversed = sorted.clone();
        reversed.reverse();
        let a = sign(method, &secret, &prefix, &pairs);
        prop_assert_eq!(&a, &sign(method, &secret, &prefix, &sorted));
        prop_assert_eq!(&a, &sign(method, &secret, &prefix, &reversed));
        prop_assert_eq!(string_to_sign(&prefix, &pairs), string_to_sign(&prefix, &sorted));
    }

    #[test]
    fn any_unicode_signs_without_panicking(
        pairs in proptest::collection::vec((any::<String>(), any::<String>()), 0..80),
        prefix in any::<String>(),
        secret in any::<String>(),
    ) {
        let secret = AppSecret::new(secret);
        let sha = sign(SignMethod::Sha256, &secret, &prefix, &pairs);
        prop_assert_eq!(sha.len(), 64);
        prop_assert!(is_upper_hex(&sha));
        let md5 = sign(SignMethod::Md5, &secret, &prefix, &pairs);
        prop_assert_eq!(md5.len(), 32);
        prop_assert!(is_upper_hex(&md5));
        let s = string_to_sign(&prefix, &pairs);
        let len = prefix.len() + pairs.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        prop_assert_eq!(s.len(), len);
        prop_assert!(s.starts_with(prefix.as_str()));
    }

    #[test]
    fn form_body_and_query_decode_to_exactly_the_signed_pairs(
        params in proptest::collection::btree_map(business_key(), any::<String>(), 0..10),
        token in proptest::option::of("[A-Za-z0-9]{1,40}"),
        top in any::<bool>(),
        get in any::<bool>(),
        ts in 0i64..4_102_444_800_000,
    ) {
        let api = if top { "aliexpress.solution.product.get" } else { "/product/item/get" };
        let mut req = Request::new(api).unwrap();
        for (k, v) in &params {
            req.set_param(k.as_str(), v.as_str());
        }
        if get {
            req = req.http_method(HttpMethod::Get);
        }
        let creds = Credentials::new("123456", AppSecret::new("helloworld"));
        let token = token.map(AccessToken::new);
        let pairs = req.signed_pairs(&creds, token.as_ref(), ts).unwrap();
        let http = req.to_http(&Gateway::aliexpress(), &creds, token.as_ref(), ts).unwrap();
        let encoded: Vec<u8> = if get {
            prop_assert!(http.body().is_empty());
            http.uri().query().unwrap_or("").as_bytes().to_vec()
        } else {
            prop_assert_eq!(http.uri().query(), None);
            http.body().clone()
        };
        let decoded: Vec<(String, String)> =
            form_urlencoded::parse(&encoded).into_owned().collect();
        prop_assert_eq!(&decoded, &pairs);
        // Exactly the non-blank business parameters, plus the system ones.
        let sent_business = params.iter().filter(|(_, v)| !v.trim().is_empty()).count();
        let system = 4 + usize::from(token.is_some()) + if top { 4 } else { 0 };
        prop_assert_eq!(pairs.len(), sent_business + system);
        // And the signature checks out over the decoded pairs.
        let unsigned: Vec<(String, String)> =
            decoded.iter().filter(|(k, _)| k != "sign").cloned().collect();
        let prefix = if top { "" } else { api };
        let expected = sign(SignMethod::Sha256, &creds.app_secret, prefix, &unsigned);
        prop_assert_eq!(
            decoded.iter().find(|(k, _)| k == "sign").map(|(_, v)| v.as_str()),
            Some(expected.as_str())
        );
    }

    #[test]
    fn parse_response_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512), status in any::<u16>()) {
        match parse_response(status, &body) {
            Ok(v) => prop_assert!(v.is_object()),
            Err(Error::Decode { status: s, snippet }) => {
                prop_assert_eq!(s, status);
                prop_assert!(snippet.chars().count() <= 200);
            }
            Err(Error::Gateway(g)) => prop_assert_eq!(g.status, status),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
        let _ = TokenSet::from_json(&body, UNIX_EPOCH);
    }

    #[test]
    fn parse_response_never_panics_on_json_like_text(
        body in r#"[{}\[\]":,0-9a-z_ ]{0,200}"#,
        status in any::<u16>(),
    ) {
        let _ = parse_response(status, body.as_bytes());
        let _ = TokenSet::from_json(body.as_bytes(), UNIX_EPOCH);
    }

    #[test]
    fn envelopes_with_any_field_types_never_panic(
        code in prop_oneof![Just(serde_json::json!(null)), any::<i64>().prop_map(serde_json::Value::from), any::<String>().prop_map(serde_json::Value::from), Just(serde_json::json!([1]))],
        msg in any::<String>(),
        top in any::<bool>(),
    ) {
        let inner = serde_json::json!({"code": code, "msg": msg, "message": msg, "type": "ISP", "request_id": 7});
        let body = if top { serde_json::json!({"error_response": inner}) } else { inner };
        let text = body.to_string();
        if let Err(e) = parse_response(200, text.as_bytes()) {
            let _ = (e.class(), e.retry_after(), e.request_id(), e.to_string());
        }
    }

    #[test]
    fn api_name_parse_never_panics(name in any::<String>()) {
        if let Ok(api) = ApiName::parse(&name) {
            prop_assert_eq!(api.as_str(), name.as_str());
            prop_assert!(!name.chars().any(char::is_control));
            prop_assert!(!name.ends_with('/'));
            prop_assert!(!name.contains('?'));
        }
    }

    #[test]
    fn token_set_round_trips(
        expires_in in proptest::option::of(0i64..100_000_000),
        as_string in any::<bool>(),
        user_id in proptest::option::of(any::<u64>()),
        extra in proptest::collection::btree_map("x_[a-z]{1,8}", any::<String>(), 0..4),
        received in 0i64..4_102_444_800_000,
    ) {
        let mut obj = serde_json::Map::new();
        obj.insert("access_token".into(), "a".into());
        if let Some(e) = expires_in {
            obj.insert("expires_in".into(), if as_string { e.to_string().into() } else { e.into() });
        }
        if let Some(u) = user_id {
            obj.insert("user_id".into(), u.into());
        }
        for (k, v) in &extra {
            obj.insert(k.clone(), v.clone().into());
        }
        let at = UNIX_EPOCH + std::time::Duration::from_millis(received.unsigned_abs());
        let t = TokenSet::from_value(serde_json::Value::Object(obj), at).unwrap();
        prop_assert_eq!(t.expires_in, expires_in);
        prop_assert_eq!(t.user_id.clone(), user_id.map(|u| u.to_string()));
        prop_assert_eq!(t.extra.len(), extra.len());
        prop_assert_eq!(t.expires_at_ms(), expires_in.map(|e| received + e * 1000));
        let again = TokenSet::from_json(t.to_json().as_bytes(), UNIX_EPOCH).unwrap();
        prop_assert_eq!(again.to_json(), t.to_json());
        prop_assert_eq!(again.received_at_ms, Some(received));
    }
}

/// The text forms a page may give a secret value.
fn shapes_of(secret: &str) -> Vec<String> {
    let json = serde_json::Value::String(secret.to_owned()).to_string();
    let json_inner = json[1..json.len() - 1].to_owned();
    let json_twice = serde_json::Value::String(json_inner.clone()).to_string();
    let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    vec![
        secret.to_owned(),
        secret.to_ascii_lowercase(),
        form.clone(),
        form.replace('+', "%20").to_ascii_lowercase(),
        json_inner,
        json_twice[1..json_twice.len() - 1].to_owned(),
        secret
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
    ]
}

proptest! {
    #[test]
    fn a_secret_value_is_redacted_in_every_shape(
        secret in "[A-Za-z0-9_/+=&\"<> .:-]{8,40}",
        before in "[a-z <>=&\"]{0,20}",
        after in "[a-z <>=&\"]{0,20}",
    ) {
        let mut redactor = iop_core::Redactor::new();
        redactor.add(&secret);
        for shape in shapes_of(&secret) {
            let body = format!("<p>{before}[{shape}]{after}</p>");
            let err = iop_core::parse_response_redacting(502, body.as_bytes(), &redactor)
                .unwrap_err();
            let shown = format!("{err} {err:?}");
            prop_assert!(!shown.contains(&shape), "{shape:?} in {shown}");
            prop_assert!(shown.contains("[redacted]"), "{shown}");
        }
    }

    #[test]
    fn token_set_decode_errors_never_echo_the_input(
        token in "[A-Za-z0-9]{12,60}",
        wrap in 0usize..6,
    ) {
        let input = match wrap {
            0 => token.clone(),
            1 => format!("\"{token}\""),
            2 => format!("[\"{token}\"]"),
            3 => format!("{{'refresh_token': '{token}'}}"),
            4 => format!("{{\"refresh_token\": \"{token}\""),
            _ => format!("{{\"error_response\": [\"{token}\"]}}"),
        };
        let err = TokenSet::from_json(input.as_bytes(), UNIX_EPOCH).unwrap_err();
        let shown = format!("{err} {err:?}");
        prop_assert!(!shown.contains(&token), "{shown}");
    }
}
