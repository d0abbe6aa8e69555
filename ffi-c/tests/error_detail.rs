//! Every C function that can fail with detail says what failed: its last parameter is an
//! `iop_error **err`. Read from the committed header, so a new function without one fails here
//! (issue: `iop_manager_put` returned a bare `IOP_RESULT_STORE`, `iop_client_new` a bare
//! `IOP_RESULT_INVALID_ARGUMENT`).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

/// Functions returning a result whose failures need no more than the result itself, and why.
const NO_DETAIL: &[(&str, &str)] = &[
    ("iop_error_result", "an accessor of an error"),
    (
        "iop_sign",
        "only argument results: NULL, UTF-8, a small buffer, an unknown method",
    ),
    ("iop_new_state", "only NULL or a small buffer"),
    (
        "iop_push_verify",
        "a bad signature is OK with false; only argument results",
    ),
    ("iop_store_keys_add", "called inside a store callback"),
    ("iop_store_value_set", "called inside a store callback"),
    (
        "iop_manager_on_reauthorization_required",
        "only a NULL manager",
    ),
    (
        "iop_manager_set_push_window_ms",
        "only argument results: NULL, a window out of range",
    ),
    (
        "iop_manager_set_store_mark_seen",
        "only argument results: NULL, a manager without a callback store",
    ),
    (
        "iop_manager_refresh_due",
        "only argument results; each seller's failure is counted in the report",
    ),
];

/// `(name, parameters)` of every function in the header returning `enum iop_result`.
fn result_functions() -> Vec<(String, Vec<String>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../include/iop.h");
    let header = std::fs::read_to_string(path).unwrap();
    let mut found = Vec::new();
    let mut rest = header.as_str();
    while let Some(at) = rest.find("enum iop_result iop_") {
        let after = &rest[at + "enum iop_result ".len()..];
        let open = after.find('(').unwrap();
        let close = after.find(')').unwrap();
        let name = after[..open].trim().to_owned();
        let params = after[open + 1..close]
            .split(',')
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        found.push((name, params));
        rest = &after[close..];
    }
    found
}

#[test]
fn functions_that_can_fail_with_detail_take_an_err_out_parameter() {
    let functions = result_functions();
    assert!(functions.len() > 25, "parsed {} functions", functions.len());
    let mut missing = Vec::new();
    for (name, params) in &functions {
        if NO_DETAIL.iter().any(|(n, _)| n == name) {
            continue;
        }
        if params.last().map(String::as_str) != Some("struct iop_error **err") {
            missing.push(name.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "these functions fail without saying why (add `iop_error **err` last): {missing:?}"
    );
    for required in [
        "iop_manager_put",
        "iop_client_new",
        "iop_manager_new",
        "iop_manager_call",
        "iop_client_set_proxy",
        "iop_client_set_ca_file",
    ] {
        assert!(
            functions.iter().any(|(n, _)| n == required),
            "{required} is not in the header"
        );
    }
    // The exceptions are real functions (a renamed one would hide here).
    for (name, why) in NO_DETAIL {
        assert!(
            functions.iter().any(|(n, _)| n == name),
            "{name} ({why}) is not in the header"
        );
    }
}
