//! Any text as an API name and as a gateway base URL: parsed or refused, never a panic; what
//! parses gives an endpoint on the same host with no query or fragment.
#![no_main]

use iop_core::{ApiName, Gateway};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    let (api, base) = input;
    let api = ApiName::parse(api);
    let gateway = Gateway::new(base);
    if let Ok(api) = &api {
        assert!(!api.as_str().is_empty());
        assert!(!api.as_str().contains(['?', '#']));
    }
    if let (Ok(api), Ok(gateway)) = (api, gateway) {
        let endpoint = gateway.endpoint(&api);
        assert!(endpoint.starts_with(gateway.base_url()));
        let _ = gateway.token_gateway();
    }
});
