//! Reading the gateway's answers (docs/src/concepts/protocol.md#errors): any body becomes the JSON
//! value of a success or a typed [`Error`]: an error envelope (GOP or TOP) a [`GatewayError`],
//! anything that is not a JSON object a [`Error::Decode`] whose snippet is redacted
//! ([`crate::redact`]).

use crate::error::{Error, GatewayError, Result};
use crate::redact::Redactor;

/// Turns a response (status and body, whatever the status) into the JSON value of a success, or
/// the typed error: a GOP or TOP error envelope into [`Error::Gateway`]; a body that is not a
/// JSON object into [`Error::Decode`] with the status and a short snippet (secret fields
/// masked). Never panics. The client uses [`parse_response_redacting`], which also removes the
/// secret values the request sent.
///
/// Success is a JSON object with no `error_response` whose `code` is absent, `null`, empty,
/// `"0"` or `0`.
///
/// ```
/// use iop_core::{ErrorClass, parse_response};
/// let err = parse_response(200, br#"{"type":"ISV","code":"IllegalAccessToken","request_id":"r1"}"#)
///     .unwrap_err();
/// assert_eq!(err.class(), ErrorClass::Refresh);
/// assert_eq!(err.request_id(), Some("r1"));
/// assert!(parse_response(200, br#"{"code":"0","data":1}"#).is_ok());
/// ```
pub fn parse_response(status: u16, body: &[u8]) -> Result<serde_json::Value> {
    parse_response_redacting(status, body, &Redactor::new())
}

/// [`parse_response`], with every value of `redactor` (the secrets the request sent) removed
/// from a decode snippet, whatever its shape in the body.
pub fn parse_response_redacting(
    status: u16,
    body: &[u8],
    redactor: &Redactor,
) -> Result<serde_json::Value> {
    let decode = || Error::decode_redacting(status, body, redactor);
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err(decode());
    };
    let serde_json::Value::Object(map) = &value else {
        return Err(decode());
    };
    match check_envelope(status, map) {
        Ok(()) => Ok(value),
        Err(EnvelopeError::Gateway(g)) => Err(Error::Gateway(g)),
        Err(EnvelopeError::Malformed) => Err(decode()),
    }
}

/// Why a JSON object is not a success.
pub(crate) enum EnvelopeError {
    /// A GOP or TOP error envelope.
    Gateway(GatewayError),
    /// `error_response` that is not an object.
    Malformed,
}

/// Checks the envelope of a JSON object: success when there is no `error_response` and `code`
/// is absent, `null`, empty, `"0"` or `0`.
pub(crate) fn check_envelope(
    status: u16,
    map: &serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<(), EnvelopeError> {
    if let Some(inner) = map.get("error_response") {
        return match inner {
            serde_json::Value::Object(fields) => {
                Err(EnvelopeError::Gateway(gateway_error(status, fields, map)))
            }
            _ => Err(EnvelopeError::Malformed),
        };
    }
    let failed = match map.get("code") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::String(s)) => !(s.is_empty() || s == "0"),
        Some(serde_json::Value::Number(n)) => n.as_i64() != Some(0) && n.as_u64() != Some(0),
        Some(_) => true,
    };
    if failed {
        return Err(EnvelopeError::Gateway(gateway_error(status, map, map)));
    }
    Ok(())
}

/// Reads a GOP envelope or the inside of TOP's `error_response`. `outer` is the whole body,
/// where a TOP `request_id` may sit instead.
fn gateway_error(
    status: u16,
    fields: &serde_json::Map<String, serde_json::Value>,
    outer: &serde_json::Map<String, serde_json::Value>,
) -> GatewayError {
    let text = |key: &str| fields.get(key).and_then(json_text);
    GatewayError {
        status,
        error_type: text("type"),
        code: text("code").unwrap_or_default(),
        message: text("message").or_else(|| text("msg")),
        sub_code: text("sub_code"),
        sub_msg: text("sub_msg"),
        request_id: text("request_id").or_else(|| outer.get("request_id").and_then(json_text)),
    }
}

/// A JSON string as is, a number or boolean as its text; `null`, arrays and objects: `None`.
fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    #[test]
    fn success_and_failure_envelopes() {
        for ok in [
            r#"{}"#,
            r#"{"code":"0"}"#,
            r#"{"code":0,"data":{}}"#,
            r#"{"code":null}"#,
            r#"{"code":""}"#,
        ] {
            assert!(parse_response(200, ok.as_bytes()).is_ok(), "{ok}");
        }
        let e = parse_response(400, br#"{"code":"InvalidApi","type":"ISV","message":"m"}"#)
            .unwrap_err();
        let g = e.gateway().unwrap();
        assert_eq!((g.status, g.code.as_str()), (400, "InvalidApi"));
        let e = parse_response(200, br#"{"code":7}"#).unwrap_err();
        assert_eq!(e.class(), ErrorClass::RateLimited);
        // TOP request_id outside error_response.
        let e = parse_response(
            200,
            br#"{"error_response":{"code":"15","msg":"x"},"request_id":"r9"}"#,
        )
        .unwrap_err();
        assert_eq!(e.request_id(), Some("r9"));
        for bad in [
            "",
            "   ",
            "[1,2]",
            "\"x\"",
            "42",
            "null",
            "{\"a\":",
            r#"{"error_response":"x"}"#,
        ] {
            match parse_response(502, bad.as_bytes()) {
                Err(Error::Decode { status: 502, .. }) => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_values_sent_are_redacted() {
        let mut r = Redactor::new();
        r.add("RT-50001qNs");
        let e =
            parse_response_redacting(502, b"<p>token 'rt-50001QNS' refused</p>", &r).unwrap_err();
        assert!(!e.to_string().to_lowercase().contains("50001qns"), "{e}");
        assert!(e.to_string().contains("token '[redacted]' refused"), "{e}");
    }
}
