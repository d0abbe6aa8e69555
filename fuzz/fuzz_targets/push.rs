//! Any body and header: push verification and parsing never panic; the right signature of any
//! body verifies, in either case; a changed body does not.
#![no_main]

use iop_core::AppSecret;
use iop_core::push;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, &[u8], Option<&str>)| {
    let (app_key, secret, body, header) = input;
    let secret = AppSecret::new(secret);
    let _ = push::check(app_key, &secret, body, header);
    let good = push::signature(app_key, &secret, body);
    assert!(push::verify(app_key, &secret, body, Some(&good)));
    assert!(push::verify(
        app_key,
        &secret,
        body,
        Some(&good.to_uppercase())
    ));
    let mut changed = body.to_vec();
    changed.push(b' ');
    assert!(!push::verify(app_key, &secret, &changed, Some(&good)));
    if let Ok(message) = push::parse(body) {
        let _ = (
            message.dedup_key(),
            message.seller_status(),
            message.message_type.code(),
        );
    }
});
