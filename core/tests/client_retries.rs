//! The client against scripted closure transports: what is sent, how answers are parsed, which
//! failures are retried how often, and how long it waits. No network, no real sleeping.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iop_core::{
    AccessToken, AppSecret, AuthCode, Client, Clock, Error, ErrorClass, Gateway, RefreshToken,
    Request, RetryPolicy, Transport,
};

const SECRET: &str = "s3cr3t-app-secret";
const NOW_MS: u64 = 1_750_000_000_123;

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(NOW_MS)
    }
}

/// One scripted answer of the transport.
enum Answer {
    Http(u16, String),
    Fail(fn() -> Error),
}

/// A transport that plays a script and records every request it was given.
#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    seen: Mutex<Vec<http::Request<Vec<u8>>>>,
}

impl Script {
    fn new(answers: Vec<Answer>) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(answers.into()),
            seen: Mutex::default(),
        })
    }
    fn attempts(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
    fn body(&self, i: usize) -> String {
        String::from_utf8(self.seen.lock().unwrap()[i].body().clone()).unwrap()
    }
    fn params(&self, i: usize) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body(i).as_bytes())
            .into_owned()
            .collect()
    }
}

impl Transport for Script {
    fn send(&self, request: http::Request<Vec<u8>>) -> iop_core::Result<http::Response<Vec<u8>>> {
        self.seen.lock().unwrap().push(request);
        match self.answers.lock().unwrap().pop_front() {
            Some(Answer::Http(status, body)) => Ok(http::Response::builder()
                .status(status)
                .body(body.into_bytes())
                .unwrap()),
            Some(Answer::Fail(make)) => Err(make()),
            None => panic!("the script ran out of answers: too many attempts"),
        }
    }
}

/// A client over `script`, with a fixed clock, and a sleeper that records instead of sleeping.
fn scripted(script: &Arc<Script>, retry: RetryPolicy) -> (Client, Arc<Mutex<Vec<Duration>>>) {
    let slept = Arc::new(Mutex::new(Vec::new()));
    let record = slept.clone();
    let client = Client::builder(
        "app-key-1",
        AppSecret::new(SECRET),
        Gateway::new("https://api-sg.aliexpress.com").unwrap(),
    )
    .transport(script.clone())
    .clock(Arc::new(FixedClock))
    .retry(retry)
    .retry_sleep(move |d| record.lock().unwrap().push(d))
    .build()
    .unwrap();
    (client, slept)
}

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        max_rate_limit_wait: Duration::from_secs(5),
    }
}

fn token_body(access: &str, refresh: &str) -> String {
    format!(
        r#"{{"access_token":"{access}","refresh_token":"{refresh}","expires_in":2592000,"refresh_expires_in":5184000,"user_id":"200042","seller_id":"200042","account":"seller@example.com","sp":"ae","locale":"en_US","code":"0","request_id":"req-ok-1"}}"#
    )
}

fn refused() -> Error {
    Error::Transport {
        message: "could not connect".to_owned(),
        sent: false,
        source: None,
    }
}

fn reset_after_sending() -> Error {
    Error::Transport {
        message: "connection reset".to_owned(),
        sent: true,
        source: None,
    }
}

fn timed_out() -> Error {
    Error::Timeout {
        after: Duration::from_millis(300),
        sent: true,
    }
}

const HTML_502: &str =
    "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>";
const ISP: &str = r#"{"error_response":{"code":"15","type":"ISP","sub_code":"isv.402","sub_msg":"invalidate request","msg":"Remote service error","request_id":"req-isp"}}"#;
const SIGNATURE: &str = r#"{"type":"ISV","code":"IncompleteSignature","message":"The request signature does not conform to platform standards","request_id":"req-sig"}"#;
const ILLEGAL_REFRESH: &str = r#"{"type":"ISV","code":"IllegalRefreshToken","message":"The specified refresh token is invalid or expired","request_id":"req-irt"}"#;
const ILLEGAL_ACCESS: &str = r#"{"type":"ISV","code":"IllegalAccessToken","message":"The specified access token is invalid or expired","request_id":"req-iat"}"#;
const MISSING: &str = r#"{"error_response":{"type":"ISV","code":"MissingParameter","msg":"a mandatory parameter is not supplied","request_id":"req-mp"}}"#;

fn rate_limit(seconds: u64) -> String {
    format!(
        r#"{{"type":"ISV","code":"ApiCallLimit","message":"Api access frequency exceeds the limit. this ban will last {seconds} seconds","request_id":"req-rl"}}"#
    )
}

#[test]
fn refresh_sends_a_signed_form_post_stamped_by_the_clock() {
    let script = Script::new(vec![Answer::Http(200, token_body("AT-new", "RT-new"))]);
    let (client, slept) = scripted(&script, policy(3));
    let tokens = client.refresh_token(&RefreshToken::new("RT-old")).unwrap();

    assert_eq!(tokens.access_token.as_ref().unwrap().secret(), "AT-new");
    assert_eq!(tokens.refresh_token.as_ref().unwrap().secret(), "RT-new");
    assert_eq!(tokens.seller_id.as_deref(), Some("200042"));
    assert_eq!(tokens.received_at_ms, Some(NOW_MS as i64));
    assert_eq!(
        tokens.expires_at_ms(),
        Some(NOW_MS as i64 + 2_592_000_000),
        "expiry counts from the clock's receive time"
    );
    assert_eq!(script.attempts(), 1);
    assert!(slept.lock().unwrap().is_empty());

    let seen = script.seen.lock().unwrap();
    let request = &seen[0];
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(
        request.uri().to_string(),
        "https://api-sg.aliexpress.com/rest/auth/token/refresh",
        "nothing in the query"
    );
    drop(seen);
    let params = script.params(0);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("refresh_token").as_deref(), Some("RT-old"));
    assert_eq!(get("app_key").as_deref(), Some("app-key-1"));
    assert_eq!(get("timestamp"), Some(NOW_MS.to_string()));
    assert_eq!(get("sign_method").as_deref(), Some("sha256"));
    let sign = get("sign").expect("signed");
    assert_eq!(sign.len(), 64);
    assert!(!script.body(0).contains(SECRET), "the secret is never sent");
    // The signature is the one the pure signer computes over what was sent.
    let unsigned: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "sign")
        .cloned()
        .collect();
    assert_eq!(
        sign,
        iop_core::sign(
            iop_core::SignMethod::Sha256,
            &AppSecret::new(SECRET),
            "/auth/token/refresh",
            &unsigned
        )
    );
}

#[test]
fn create_token_sends_code_and_uuid() {
    let script = Script::new(vec![
        Answer::Http(200, token_body("AT-1", "RT-1")),
        Answer::Http(200, token_body("AT-2", "RT-2")),
    ]);
    let (client, _) = scripted(&script, policy(3));
    client
        .create_token(&AuthCode::new("code-123"), Some("uuid-9"))
        .unwrap();
    client
        .create_token(&AuthCode::new("code-456"), None)
        .unwrap();
    assert!(
        script.seen.lock().unwrap()[0]
            .uri()
            .path()
            .ends_with("/rest/auth/token/create")
    );
    let first = script.params(0);
    assert!(first.contains(&("code".to_owned(), "code-123".to_owned())));
    assert!(first.contains(&("uuid".to_owned(), "uuid-9".to_owned())));
    let second = script.params(1);
    assert!(second.contains(&("code".to_owned(), "code-456".to_owned())));
    assert!(!second.iter().any(|(k, _)| k == "uuid"));
}

#[test]
fn call_returns_the_json_and_sends_the_token_by_style() {
    let script = Script::new(vec![
        Answer::Http(
            200,
            r#"{"code":"0","result":{"x":1},"request_id":"r1"}"#.to_owned(),
        ),
        Answer::Http(
            200,
            r#"{"aliexpress_solution_product_list_get_response":{"result":{"n":2}}}"#.to_owned(),
        ),
    ]);
    let (client, _) = scripted(&script, policy(3));
    let token = AccessToken::new("AT-call");
    let gop = client
        .call(
            &Request::new("/order/get").unwrap().param("id", "7"),
            Some(&token),
        )
        .unwrap();
    assert_eq!(gop["result"]["x"], 1);
    let top = client
        .call(
            &Request::new("aliexpress.solution.product.list.get").unwrap(),
            Some(&token),
        )
        .unwrap();
    assert_eq!(
        top["aliexpress_solution_product_list_get_response"]["result"]["n"],
        2
    );
    assert!(
        script
            .params(0)
            .contains(&("access_token".to_owned(), "AT-call".to_owned()))
    );
    assert!(
        script
            .params(1)
            .contains(&("session".to_owned(), "AT-call".to_owned()))
    );
    assert!(
        script.seen.lock().unwrap()[1]
            .uri()
            .path()
            .ends_with("/sync")
    );
}

#[test]
fn connection_failure_before_sending_is_retried() {
    let script = Script::new(vec![
        Answer::Fail(refused),
        Answer::Fail(refused),
        Answer::Http(200, token_body("AT", "RT")),
    ]);
    let (client, slept) = scripted(&script, policy(3));
    client.refresh_token(&RefreshToken::new("RT-old")).unwrap();
    assert_eq!(script.attempts(), 3);
    let slept = slept.lock().unwrap();
    assert_eq!(slept.len(), 2);
    assert!(slept[0] <= Duration::from_millis(100), "{slept:?}");
    assert!(slept[1] <= Duration::from_millis(200), "{slept:?}");
    // Each attempt is signed afresh with its own timestamp and signature inputs.
    assert!(script.params(2).iter().any(|(k, _)| k == "sign"));
}

#[test]
fn attempts_are_bounded() {
    let script = Script::new(vec![
        Answer::Fail(refused),
        Answer::Fail(refused),
        Answer::Fail(refused),
    ]);
    let (client, slept) = scripted(&script, policy(3));
    let err = client.refresh_token(&RefreshToken::new("RT")).unwrap_err();
    assert!(
        matches!(err, Error::Transport { sent: false, .. }),
        "{err:?}"
    );
    assert_eq!(script.attempts(), 3);
    assert_eq!(slept.lock().unwrap().len(), 2);
}

#[test]
fn no_retry_policy_means_one_attempt() {
    let script = Script::new(vec![Answer::Fail(refused)]);
    let (client, slept) = scripted(&script, RetryPolicy::none());
    client.refresh_token(&RefreshToken::new("RT")).unwrap_err();
    assert_eq!(script.attempts(), 1);
    assert!(slept.lock().unwrap().is_empty());
}

#[test]
fn failure_after_sending_is_not_retried() {
    let script = Script::new(vec![Answer::Fail(reset_after_sending)]);
    let (client, _) = scripted(&script, policy(3));
    let err = client.refresh_token(&RefreshToken::new("RT")).unwrap_err();
    assert!(
        matches!(err, Error::Transport { sent: true, .. }),
        "{err:?}"
    );
    assert_eq!(script.attempts(), 1, "a refresh may have rotated the token");
}

fn connect_timed_out() -> Error {
    Error::Timeout {
        after: Duration::from_millis(100),
        sent: false,
    }
}

#[test]
fn connect_timeout_is_retried_like_a_refused_connection() {
    let script = Script::new(vec![
        Answer::Fail(connect_timed_out),
        Answer::Fail(connect_timed_out),
        Answer::Http(200, token_body("AT2", "RT2")),
    ]);
    let (client, _) = scripted(&script, policy(3));
    let token = client.refresh_token(&RefreshToken::new("RT")).unwrap();
    assert_eq!(token.access_token.unwrap().secret(), "AT2");
    assert_eq!(
        script.attempts(),
        3,
        "nothing was sent, so repeating is safe"
    );
}

#[test]
fn timeout_is_not_retried() {
    let script = Script::new(vec![Answer::Fail(timed_out)]);
    let (client, _) = scripted(&script, policy(3));
    let err = client.refresh_token(&RefreshToken::new("RT")).unwrap_err();
    assert!(matches!(err, Error::Timeout { after, .. } if after == Duration::from_millis(300)));
    assert_eq!(script.attempts(), 1);
}

#[test]
fn html_502_is_retried_then_succeeds() {
    let script = Script::new(vec![
        Answer::Http(502, HTML_502.to_owned()),
        Answer::Http(200, token_body("AT", "RT")),
    ]);
    let (client, slept) = scripted(&script, policy(3));
    client.refresh_token(&RefreshToken::new("RT")).unwrap();
    assert_eq!(script.attempts(), 2);
    assert_eq!(slept.lock().unwrap().len(), 1);
}

#[test]
fn persistent_5xx_ends_as_decode_error_with_status_and_snippet() {
    let script = Script::new(vec![
        Answer::Http(500, "Internal Server Error".to_owned()),
        Answer::Http(502, HTML_502.to_owned()),
        Answer::Http(502, HTML_502.to_owned()),
    ]);
    let (client, _) = scripted(&script, policy(3));
    let err = client.refresh_token(&RefreshToken::new("RT")).unwrap_err();
    match &err {
        Error::Decode { status, snippet } => {
            assert_eq!(*status, 502);
            assert!(snippet.contains("502 Bad Gateway"), "{snippet}");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert_eq!(script.attempts(), 3);
}

#[test]
fn a_4xx_page_is_not_retried() {
    let script = Script::new(vec![Answer::Http(404, "<html>not found</html>".to_owned())]);
    let (client, _) = scripted(&script, policy(3));
    let err = client.refresh_token(&RefreshToken::new("RT")).unwrap_err();
    assert!(matches!(err, Error::Decode { status: 404, .. }), "{err:?}");
    assert_eq!(script.attempts(), 1);
}

#[test]
fn isp_errors_are_retried_and_keep_their_request_id() {
    let script = Script::new(vec![
        Answer::Http(200, ISP.to_owned()),
        Answer::Http(200, ISP.to_owned()),
        Answer::Http(200, ISP.to_owned()),
    ]);
    let (client, _) = scripted(&script, policy(3));
    let err = client
        .call(
            &Request::new("aliexpress.solution.product.list.get").unwrap(),
            None,
        )
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(err.request_id(), Some("req-isp"));
    assert_eq!(err.gateway().unwrap().sub_code.as_deref(), Some("isv.402"));
    assert_eq!(script.attempts(), 3);
}

#[test]
fn final_errors_are_never_retried() {
    for (body, class, request_id) in [
        (SIGNATURE, ErrorClass::Signature, "req-sig"),
        (ILLEGAL_REFRESH, ErrorClass::Reauthorize, "req-irt"),
        (ILLEGAL_ACCESS, ErrorClass::Refresh, "req-iat"),
        (MISSING, ErrorClass::Client, "req-mp"),
    ] {
        // The gateway answers errors with 200 and sometimes 400: both are read.
        for status in [200, 400] {
            let script = Script::new(vec![Answer::Http(status, body.to_owned())]);
            let (client, slept) = scripted(&script, policy(5));
            let err = client.refresh_token(&RefreshToken::new("RT")).unwrap_err();
            assert_eq!(err.class(), class, "{body}");
            assert_eq!(err.request_id(), Some(request_id));
            assert!(matches!(err, Error::Gateway(_)));
            assert_eq!(script.attempts(), 1, "{body}");
            assert!(slept.lock().unwrap().is_empty());
        }
    }
}

#[test]
fn rate_limit_waits_out_a_short_ban() {
    let script = Script::new(vec![
        Answer::Http(200, rate_limit(2)),
        Answer::Http(200, token_body("AT", "RT")),
    ]);
    let (client, slept) = scripted(&script, policy(3));
    client.refresh_token(&RefreshToken::new("RT")).unwrap();
    assert_eq!(script.attempts(), 2);
    let slept = slept.lock().unwrap();
    assert_eq!(slept.len(), 1);
    assert!(
        slept[0] >= Duration::from_secs(2),
        "waits the whole ban: {slept:?}"
    );
    assert!(
        slept[0] <= Duration::from_secs(2) + Duration::from_millis(100),
        "plus at most the base delay of jitter: {slept:?}"
    );
}

#[test]
fn rate_limit_longer_than_the_cap_is_returned() {
    let script = Script::new(vec![Answer::Http(200, rate_limit(60))]);
    let (client, slept) = scripted(&script, policy(3));
    let err = client.refresh_token(&RefreshToken::new("RT")).unwrap_err();
    assert_eq!(err.class(), ErrorClass::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(err.request_id(), Some("req-rl"));
    assert_eq!(script.attempts(), 1);
    assert!(slept.lock().unwrap().is_empty());
}

#[test]
fn call_raw_returns_the_error_envelope_as_json() {
    let script = Script::new(vec![Answer::Http(200, MISSING.to_owned())]);
    let (client, _) = scripted(&script, policy(3));
    let raw = client
        .call_raw(
            &Request::new("aliexpress.solution.product.list.get").unwrap(),
            None,
        )
        .unwrap();
    assert_eq!(raw["error_response"]["code"], "MissingParameter");
    assert_eq!(raw["error_response"]["request_id"], "req-mp");
}

#[test]
fn call_raw_retries_like_call_and_still_fails_on_html() {
    let script = Script::new(vec![
        Answer::Http(200, ISP.to_owned()),
        Answer::Http(200, r#"{"code":"0","ok":true}"#.to_owned()),
    ]);
    let (client, _) = scripted(&script, policy(3));
    let raw = client
        .call_raw(&Request::new("/order/get").unwrap(), None)
        .unwrap();
    assert_eq!(raw["ok"], true);
    assert_eq!(script.attempts(), 2);

    let script = Script::new(vec![Answer::Http(403, "<html>denied</html>".to_owned())]);
    let (client, _) = scripted(&script, policy(3));
    let err = client
        .call_raw(&Request::new("/order/get").unwrap(), None)
        .unwrap_err();
    assert!(matches!(err, Error::Decode { status: 403, .. }), "{err:?}");
}

#[test]
fn partner_id_is_sent_when_set() {
    let script = Script::new(vec![Answer::Http(200, token_body("AT", "RT"))]);
    let client = Client::builder(
        "app-key-1",
        AppSecret::new(SECRET),
        Gateway::new("https://api-sg.aliexpress.com/rest").unwrap(),
    )
    .transport(script.clone())
    .partner_id("iop-rs-test")
    .build()
    .unwrap();
    client.refresh_token(&RefreshToken::new("RT")).unwrap();
    assert!(
        script
            .params(0)
            .contains(&("partner_id".to_owned(), "iop-rs-test".to_owned()))
    );
}

#[test]
fn client_debug_shows_no_secret() {
    let script = Script::new(vec![]);
    let (client, _) = scripted(&script, policy(1));
    let debug = format!("{client:?}");
    assert!(debug.contains("app-key-1"));
    assert!(!debug.contains(SECRET), "{debug}");
}

#[test]
fn to_builder_derives_a_client_with_changed_settings() {
    let script = Script::new(vec![
        Answer::Fail(refused),
        Answer::Http(200, token_body("A1", "R1")),
        Answer::Fail(refused),
    ]);
    let (client, slept) = scripted(&script, policy(3));
    // The derived client keeps everything (transport, clock, credentials, sleeper) but the
    // retry policy changed here: one attempt only.
    let single = client
        .to_builder()
        .retry(RetryPolicy::none())
        .partner_id("iop-test")
        .build()
        .unwrap();
    assert_eq!(single.retry_policy().max_attempts, 1);
    assert_eq!(client.retry_policy().max_attempts, 3);
    assert_eq!(single.credentials().app_key, "app-key-1");
    assert_eq!(single.gateway(), client.gateway());
    // The original retries a refused connection on the shared scripted transport…
    client.refresh_token(&RefreshToken::new("R0")).unwrap();
    assert_eq!(script.attempts(), 2);
    assert_eq!(slept.lock().unwrap().len(), 1);
    // …the derived one does not, and signs with the same secret, at the same fixed time.
    let err = single.refresh_token(&RefreshToken::new("R1")).unwrap_err();
    assert!(
        matches!(err, Error::Transport { sent: false, .. }),
        "{err:?}"
    );
    assert_eq!(script.attempts(), 3);
    let params = script.params(2);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("timestamp"), Some(NOW_MS.to_string()));
    assert_eq!(get("partner_id").as_deref(), Some("iop-test"));
    assert_eq!(get("app_key").as_deref(), Some("app-key-1"));

    // With the default transport, the HTTP settings carry over and can change.
    let http = Client::builder("k", AppSecret::new(SECRET), Gateway::aliexpress())
        .timeouts(Duration::from_secs(2), Duration::from_secs(9))
        .build()
        .unwrap();
    let derived = http
        .to_builder()
        .timeouts(Duration::from_secs(3), Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(http.http_config().connect_timeout, Duration::from_secs(2));
    assert_eq!(http.http_config().read_timeout, Duration::from_secs(9));
    assert_eq!(
        derived.http_config().connect_timeout,
        Duration::from_secs(3)
    );
    assert_eq!(derived.http_config().read_timeout, Duration::from_secs(60));
    let same = http.to_builder().build().unwrap();
    assert_eq!(same.http_config().read_timeout, Duration::from_secs(9));
}
