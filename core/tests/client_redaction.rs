//! No secret in a decode error, whatever shape the answer gives it: a proxy's error page that
//! echoes the request (raw, percent-encoded with `+` or `%20`, JSON-escaped inside a string,
//! HTML-escaped, `key: value`, single quotes, any case of key or value), in the error's Display
//! and Debug and in the WARN log line; and no local input echoed by `TokenSet::from_json`.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use iop_core::{
    AccessToken, AppSecret, AuthCode, Client, Error, Gateway, HttpMethod, RefreshToken, Request,
    RetryPolicy, TokenSet, Transport,
};

const APP_SECRET: &str = "AppSecret/with+plus&amp";
const ACCESS: &str = "50000AT/x+y z\"q";
const REFRESH: &str = "50001qNs/rt+1=2<b>";
const CODE: &str = "0_AUTH/code+x'y";

/// The shapes a page may give the parameters it echoes.
const SHAPES: usize = 9;

/// The page echoing `params` (as received) in shape `shape`, secrets near the start so that
/// they fall inside the 200 characters of the snippet.
fn page(shape: usize, raw: &str, params: &[(String, String)]) -> String {
    let decoded: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let map: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let json_text = serde_json::Value::Object(map).to_string();
    match shape {
        // The form body (or query) as received: percent-encoded, `+` for spaces.
        0 => format!("<p>{raw}</p>"),
        // Encoded again with `%20`, lower-case hex.
        1 => format!(
            "<p>{}</p>",
            raw.replace('+', "%20")
                .chars()
                .map(|c| c.to_ascii_lowercase())
                .collect::<String>()
        ),
        // Decoded, `KEY: value`, keys upper-cased.
        2 => params
            .iter()
            .map(|(k, v)| format!("{}: {v}\n", k.to_uppercase()))
            .collect(),
        // A Python-style dict in single quotes.
        3 => format!(
            "{{{}}}",
            params
                .iter()
                .map(|(k, v)| format!("'{k}': '{v}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // JSON escaped inside a JSON string.
        4 => format!(
            "<pre>{{\"error\":{}}}</pre>",
            serde_json::Value::String(json_text.clone())
        ),
        // HTML-escaped JSON.
        5 => format!(
            "<pre>{}</pre>",
            json_text
                .replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('\'', "&#39;")
        ),
        // Decoded, values upper-cased.
        6 => decoded.join(" ").to_uppercase(),
        // `\u00XX` escapes of every byte.
        7 => decoded
            .join(" ")
            .bytes()
            .map(|b| format!("\\u{b:04X}"))
            .collect(),
        // Truncated in the middle of the last value.
        _ => {
            let all = decoded.join(" ");
            all[..all.len() - 3].to_owned()
        }
    }
}

/// A transport answering every request with a 502 page echoing it in the current shape; it
/// records the values sent (the signature included).
struct EchoProxy {
    shape: Mutex<usize>,
    sent: Mutex<Vec<(String, String)>>,
}

impl Transport for EchoProxy {
    fn send(&self, request: http::Request<Vec<u8>>) -> iop_core::Result<http::Response<Vec<u8>>> {
        let raw = match request.uri().query() {
            Some(q) => q.to_owned(),
            None => String::from_utf8(request.body().clone()).unwrap(),
        };
        // Secrets first: the snippet keeps only the beginning.
        let mut params: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
            .into_owned()
            .collect();
        params.sort_by_key(|(k, _)| {
            !matches!(
                k.as_str(),
                "access_token" | "session" | "refresh_token" | "code" | "sign"
            )
        });
        params.retain(|(k, _)| {
            matches!(
                k.as_str(),
                "access_token" | "session" | "refresh_token" | "code" | "sign" | "app_key"
            )
        });
        // An echo of the app secret, as a misconfigured proxy might show its own settings.
        params.push(("app_secret".to_owned(), APP_SECRET.to_owned()));
        let raw_secret: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        *self.sent.lock().unwrap() = params.clone();
        let shape = *self.shape.lock().unwrap();
        Ok(http::Response::builder()
            .status(502)
            .body(page(shape, &raw_secret, &params).into_bytes())
            .unwrap())
    }
}

/// Every secret value a request sent, and their forms that would betray them.
fn assert_no_secret(text: &str, sent: &[(String, String)], context: &str) {
    let lower = text.to_lowercase();
    for (k, v) in sent {
        if k == "app_key" {
            continue;
        }
        // Any 8 consecutive characters of the value, in any case, raw or percent-encoded.
        let v = v.to_lowercase();
        let encoded: String = form_urlencoded::byte_serialize(v.as_bytes())
            .collect::<String>()
            .to_lowercase();
        for candidate in [&v, &encoded] {
            let chars: Vec<char> = candidate.chars().collect();
            for window in chars.windows(8) {
                let piece: String = window.iter().collect();
                assert!(
                    !lower.contains(&piece),
                    "{context}: `{k}` leaks ({piece:?}) in {text}"
                );
            }
        }
    }
}

/// Every log record of the process, kept for the WARN line checks.
struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        capture
    })
}

#[test]
fn decode_errors_never_show_a_secret_the_request_sent() {
    let capture = capture();
    let proxy = Arc::new(EchoProxy {
        shape: Mutex::new(0),
        sent: Mutex::new(Vec::new()),
    });
    let client = Client::builder("12345", AppSecret::new(APP_SECRET), Gateway::aliexpress())
        .transport(proxy.clone())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    type Call<'a> = Box<dyn Fn() -> Error + 'a>;
    let calls: Vec<(&str, Call<'_>)> = vec![
        (
            "refresh",
            Box::new(|| {
                client
                    .refresh_token(&RefreshToken::new(REFRESH))
                    .unwrap_err()
            }),
        ),
        (
            "create",
            Box::new(|| client.create_token(&AuthCode::new(CODE), None).unwrap_err()),
        ),
        (
            "GOP POST",
            Box::new(|| {
                client
                    .call(
                        &Request::new("/seller/get").unwrap(),
                        Some(&AccessToken::new(ACCESS)),
                    )
                    .unwrap_err()
            }),
        ),
        (
            "GOP GET",
            Box::new(|| {
                client
                    .call(
                        &Request::new("/seller/get")
                            .unwrap()
                            .http_method(HttpMethod::Get),
                        Some(&AccessToken::new(ACCESS)),
                    )
                    .unwrap_err()
            }),
        ),
        (
            "TOP",
            Box::new(|| {
                client
                    .call(
                        &Request::new("aliexpress.trade.seller.orderlist.get").unwrap(),
                        Some(&AccessToken::new(ACCESS)),
                    )
                    .unwrap_err()
            }),
        ),
    ];
    for shape in 0..SHAPES {
        *proxy.shape.lock().unwrap() = shape;
        for (name, call) in &calls {
            capture.0.lock().unwrap().clear();
            let err = call();
            let sent = proxy.sent.lock().unwrap().clone();
            let context = format!("{name}, shape {shape}");
            let Error::Decode { status, snippet } = &err else {
                panic!("{context}: {err:?}");
            };
            assert_eq!(*status, 502);
            assert!(snippet.contains("[redacted]"), "{context}: {snippet}");
            assert_no_secret(&err.to_string(), &sent, &context);
            assert_no_secret(&format!("{err:?}"), &sent, &context);
            let lines = capture.0.lock().unwrap();
            let warn: Vec<&String> = lines
                .iter()
                .filter(|(level, text)| *level == log::Level::Warn && text.contains("HTTP 502"))
                .map(|(_, text)| text)
                .collect();
            assert!(!warn.is_empty(), "{context}: no WARN line");
            for (_, line) in lines.iter() {
                assert_no_secret(line, &sent, &format!("{context}, log"));
            }
        }
    }
}

#[test]
fn a_token_set_that_is_not_json_is_not_echoed() {
    const TOKEN: &str = "50001qNsXyZ0123456789abcdefTOKEN";
    let inputs = [
        TOKEN.to_owned(),
        format!("\"{TOKEN}\""),
        format!("[\"{TOKEN}\"]"),
        format!("{{'refresh_token': '{TOKEN}'}}"),
        format!("{{\"refresh_token\": \"{TOKEN}\""),
        format!("{{\"error_response\": \"{TOKEN}\"}}"),
        format!("{TOKEN}\n"),
        format!("{{\"x\":1}} {TOKEN}"),
    ];
    for input in &inputs {
        let err = TokenSet::from_json(input.as_bytes(), UNIX_EPOCH).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{input}: {err:?}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains("50001qNs"), "{input}: {shown}");
            assert!(!shown.contains("TOKEN"), "{input}: {shown}");
        }
    }
    let value = serde_json::Value::String(TOKEN.to_owned());
    let err = TokenSet::from_value(value, UNIX_EPOCH).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("50001qNs"), "{err:?}");
    // A valid token set still parses.
    let ok = TokenSet::from_json(
        br#"{"access_token":"a","refresh_token":"r","expires_in":60}"#,
        UNIX_EPOCH + Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(ok.expires_at_ms(), Some(61_000));
}
