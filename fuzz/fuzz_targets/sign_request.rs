//! Any parameters: building and signing a request never panics; the form body decodes to exactly
//! the signed pairs; the signature equals a plain HMAC-SHA256 over the documented string
//! (docs/src/concepts/protocol.md#signing: prefix + every sent key and value, sorted by key bytes,
//! `sign` excluded).
#![no_main]

use arbitrary::Arbitrary;
use hmac::Mac as _;
use iop_core::{AccessToken, AppSecret, Credentials, Gateway, Request};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    top: bool,
    path: &'a str,
    secret: &'a str,
    app_key: &'a str,
    token: Option<&'a str>,
    timestamp: i64,
    params: Vec<(&'a str, &'a str)>,
}

fuzz_target!(|input: Input<'_>| {
    let api = if input.top {
        format!("aliexpress.{}", input.path)
    } else {
        format!("/{}", input.path)
    };
    let Ok(mut request) = Request::new(&api) else {
        return;
    };
    for (k, v) in &input.params {
        request = request.param(*k, *v);
    }
    let credentials = Credentials::new(input.app_key, AppSecret::new(input.secret));
    let token = input.token.map(AccessToken::new);
    let Ok(pairs) = request.signed_pairs(&credentials, token.as_ref(), input.timestamp) else {
        return;
    };
    let http = request
        .to_http(
            &Gateway::aliexpress(),
            &credentials,
            token.as_ref(),
            input.timestamp,
        )
        .expect("to_http agrees with signed_pairs");

    // The body holds exactly the signed pairs (POST, no files), in order.
    let decoded: Vec<(String, String)> = form_urlencoded::parse(http.body())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(decoded, pairs);
    assert!(http.uri().query().is_none(), "nothing in the URL");

    // The reference signature.
    let mut sorted: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != "sign").collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut text = if input.top {
        String::new()
    } else {
        api.clone()
    };
    for (k, v) in sorted {
        text.push_str(k);
        text.push_str(v);
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(input.secret.as_bytes()).expect("key");
    mac.update(text.as_bytes());
    let expected = hex::encode_upper(mac.finalize().into_bytes());
    let sign = pairs
        .iter()
        .find(|(k, _)| k == "sign")
        .map(|(_, v)| v.as_str());
    assert_eq!(sign, Some(expected.as_str()));
});
