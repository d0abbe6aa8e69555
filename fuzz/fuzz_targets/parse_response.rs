//! Any status and body: `parse_response` gives a value or a typed error, never a panic; a decode
//! error keeps a short snippet.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, &[u8])| {
    let (status, body) = input;
    match iop_core::parse_response(status, body) {
        Ok(value) => assert!(value.is_object()),
        Err(iop_core::Error::Decode { snippet, .. }) => assert!(snippet.chars().count() <= 400),
        Err(e) => {
            // Every error renders without panicking.
            let _ = (e.to_string(), format!("{e:?}"), e.class());
        }
    }
});
