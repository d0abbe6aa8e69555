//! Any bytes as a token set: parsed or refused; what parses survives its own JSON round trip
//! with the same secrets and expiries, and its error text never holds the input.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use iop_core::TokenSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let received = UNIX_EPOCH + Duration::from_millis(1_767_225_600_000);
    match TokenSet::from_json(body, received) {
        Ok(token) => {
            let again = TokenSet::from_json(token.to_json().as_bytes(), received)
                .expect("a token set reads back its own JSON");
            assert_eq!(
                token.access_token.as_ref().map(|t| t.secret().to_owned()),
                again.access_token.as_ref().map(|t| t.secret().to_owned())
            );
            assert_eq!(
                token.refresh_token.as_ref().map(|t| t.secret().to_owned()),
                again.refresh_token.as_ref().map(|t| t.secret().to_owned())
            );
            assert_eq!(token.expires_at_ms(), again.expires_at_ms());
            assert_eq!(token.refresh_expires_at_ms(), again.refresh_expires_at_ms());
            let _ = token.needs_refresh(received, Duration::from_secs(3600));
        }
        Err(e) => {
            let text = digits_as_zero(&format!("{e} {e:?}"));
            // Never echo local input: a long input must not come back whole. An input that is
            // itself a piece of the library's own wording (the fuzzer learns it from comparisons)
            // is not an echo: the same piece appears for inputs that share nothing with it.
            if body.len() >= 16 {
                if let Ok(s) = std::str::from_utf8(body) {
                    let s = digits_as_zero(s);
                    if text.contains(&s) {
                        assert!(wording(received).contains(&s), "the error echoes its input");
                    }
                }
            }
        }
    }
});

/// The text with every ASCII digit as `0`: counts and positions in a message are not input.
fn digits_as_zero(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect()
}

/// The error texts of inputs of every shape, none of which holds the fuzzer's input.
fn wording(received: std::time::SystemTime) -> String {
    let shapes: [&[u8]; 8] = [
        b"\xff not json",
        b"{",
        b"null",
        b"1",
        b"\"text\"",
        b"[]",
        b"true",
        b"{\"refresh_token\": 1}",
    ];
    let mut all = String::new();
    for shape in shapes {
        if let Err(e) = TokenSet::from_json(shape, received) {
            all.push_str(&digits_as_zero(&format!("{e} {e:?}\n")));
        }
    }
    all
}
