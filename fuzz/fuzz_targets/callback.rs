//! Any callback URL or query and any expected state: checked or refused, never a panic; a code
//! comes out only when the redirect's state is exactly the expected one.
#![no_main]

use iop_core::onboarding::parse_callback;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    let (callback, expected) = input;
    if parse_callback(callback, expected).is_ok() {
        let query = callback.split('#').next().unwrap_or("");
        let query = query.split_once('?').map_or(query, |(_, q)| q);
        let states: Vec<String> = form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .collect();
        assert_eq!(states, [expected.to_owned()]);
    }
});
