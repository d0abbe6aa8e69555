//! The client over real HTTP against `iop_emulator::Emulator` on loopback: the token lifecycle
//! for GOP and TOP, every code the emulator produces as its error class, every fault as its typed
//! error with the right number of attempts (counted at the emulator), and threads sharing one
//! client.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

use iop_core::{
    AccessToken, AppSecret, AuthCode, Client, Error, ErrorClass, Gateway, HttpConfig, HttpMethod,
    HttpTransport, RefreshToken, Request, RetryPolicy, SignMethod, TokenSet, Transport,
};
use iop_emulator::{Config, Emulator, Fault};

const REFRESH: &str = "/auth/token/refresh";
const CREATE: &str = "/auth/token/create";

fn emulator(rotate: bool) -> Emulator {
    Emulator::start(Config {
        rotate_refresh_tokens: rotate,
        threads: 4,
        ..Config::default()
    })
    .unwrap()
}

/// Small, fast retries so fault tests take milliseconds.
fn quick_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_rate_limit_wait: Duration::from_secs(3),
    }
}

fn builder(emu: &Emulator, secret: &str) -> iop_core::ClientBuilder {
    Client::builder(
        emu.app_key(),
        AppSecret::new(secret),
        Gateway::new(&emu.url()).unwrap(),
    )
    .clock(emu.clock())
    .timeouts(Duration::from_secs(5), Duration::from_secs(10))
    .retry(quick_retries(3))
}

fn client(emu: &Emulator) -> Client {
    builder(emu, emu.app_secret()).build().unwrap()
}

fn count(emu: &Emulator, api: &str) -> u64 {
    emu.stats().get(api).copied().unwrap_or(0)
}

fn access(tokens: &TokenSet) -> &AccessToken {
    tokens.access_token.as_ref().expect("access token")
}

fn refresh(tokens: &TokenSet) -> &RefreshToken {
    tokens.refresh_token.as_ref().expect("refresh token")
}

fn created(emu: &Emulator, client: &Client, seller: &str) -> TokenSet {
    let code = emu.authorize(seller);
    client.create_token(&AuthCode::new(code), None).unwrap()
}

fn ms(t: std::time::SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn create_refresh_call_gop() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-gop");
    assert_eq!(tokens.seller_id.as_deref(), Some("seller-gop"));
    let expires = tokens.expires_at_ms().unwrap();
    let expected = ms(emu.now()) + 30 * 86_400 * 1000;
    assert!(
        (expires - expected).abs() < 60_000,
        "{expires} vs {expected}"
    );
    assert!(tokens.can_refresh(emu.now()));

    let renewed = client.refresh_token(refresh(&tokens)).unwrap();
    assert_eq!(renewed.seller_id.as_deref(), Some("seller-gop"));
    assert_ne!(access(&renewed).secret(), access(&tokens).secret());
    assert_ne!(refresh(&renewed).secret(), refresh(&tokens).secret());

    let answer = client
        .call(
            &Request::new("/seller/info/get")
                .unwrap()
                .param("probe", "gop-value-1")
                .param("empty", "  "),
            Some(access(&renewed)),
        )
        .unwrap();
    assert_eq!(answer["api"], "/seller/info/get");
    assert_eq!(answer["seller_id"], "seller-gop");
    assert_eq!(answer["params"]["probe"], "gop-value-1");
    assert!(
        answer["params"].get("empty").is_none(),
        "blank values are not sent"
    );

    // GET works too: the gateway reads the query like the body.
    let answer = client
        .call(
            &Request::new("/seller/info/get")
                .unwrap()
                .param("probe", "gop-get")
                .http_method(HttpMethod::Get),
            Some(access(&renewed)),
        )
        .unwrap();
    assert_eq!(answer["params"]["probe"], "gop-get");

    assert_eq!(count(&emu, CREATE), 1);
    assert_eq!(count(&emu, REFRESH), 1);
    assert_eq!(count(&emu, "/seller/info/get"), 2);
}

#[test]
fn create_refresh_call_top() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-top");
    let renewed = client.refresh_token(refresh(&tokens)).unwrap();
    let api = "aliexpress.solution.product.list.get";
    let answer = client
        .call(
            &Request::new(api).unwrap().param("page", "3"),
            Some(access(&renewed)),
        )
        .unwrap();
    let result = &answer["aliexpress_solution_product_list_get_response"]["result"];
    assert_eq!(result["api"], api);
    assert_eq!(result["seller_id"], "seller-top");
    assert_eq!(result["params"]["page"], "3");

    let simplified = client
        .call(
            &Request::new(api).unwrap().param("page", "4").simplify(true),
            Some(access(&renewed)),
        )
        .unwrap();
    assert_eq!(
        simplified["result"]["params"]["page"], "4",
        "no `_response` wrapper"
    );

    // The legacy MD5 signature is accepted on /sync.
    let md5 = builder(&emu, emu.app_secret())
        .sign_method(SignMethod::Md5)
        .build()
        .unwrap();
    let answer = md5
        .call(
            &Request::new(api).unwrap().param("page", "5"),
            Some(access(&renewed)),
        )
        .unwrap();
    assert_eq!(
        answer["aliexpress_solution_product_list_get_response"]["result"]["params"]["page"],
        "5"
    );
    assert_eq!(count(&emu, api), 3);
}

#[test]
fn create_with_uuid_and_partner_id() {
    let emu = emulator(true);
    let client = builder(&emu, emu.app_secret())
        .partner_id("iop-rs-tests")
        .build()
        .unwrap();
    let code = emu.authorize("seller-uuid");
    let tokens = client
        .create_token(&AuthCode::new(code), Some("uuid-1"))
        .unwrap();
    assert_eq!(tokens.seller_id.as_deref(), Some("seller-uuid"));
}

/// Asserts `err` is a gateway error with `code`, a request id, and class `class`.
fn assert_gateway(err: &Error, code: &str, class: ErrorClass) {
    let gateway = err
        .gateway()
        .unwrap_or_else(|| panic!("expected a gateway error {code}, got {err:?}"));
    assert_eq!(gateway.code, code, "{err:?}");
    assert_eq!(err.class(), class, "{code}");
    assert!(
        err.request_id().is_some_and(|id| !id.is_empty()),
        "{code} keeps the request_id"
    );
}

#[test]
fn authorization_codes_are_single_use_and_expire() {
    let emu = emulator(true);
    let client = client(&emu);
    let code = AuthCode::new(emu.authorize("seller-code"));
    client.create_token(&code, None).unwrap();
    let err = client.create_token(&code, None).unwrap_err();
    assert_gateway(&err, "InvalidCode", ErrorClass::Reauthorize);

    let err = client
        .create_token(&AuthCode::new("never-issued"), None)
        .unwrap_err();
    assert_gateway(&err, "InvalidCode", ErrorClass::Reauthorize);

    let late = AuthCode::new(emu.authorize("seller-code"));
    emu.advance(Duration::from_secs(31 * 60));
    let err = client.create_token(&late, None).unwrap_err();
    assert_gateway(&err, "InvalidCode", ErrorClass::Reauthorize);
    assert_eq!(count(&emu, CREATE), 4, "none of them retried");
}

#[test]
fn wrong_secret_is_a_signature_error() {
    let emu = emulator(true);
    let good = client(&emu);
    let tokens = created(&emu, &good, "seller-sig");
    let bad = builder(&emu, "not-the-secret").build().unwrap();
    emu.reset_stats();

    let err = bad.refresh_token(refresh(&tokens)).unwrap_err();
    assert_gateway(&err, "IncompleteSignature", ErrorClass::Signature);
    let err = bad
        .create_token(&AuthCode::new(emu.authorize("seller-sig")), None)
        .unwrap_err();
    assert_gateway(&err, "IncompleteSignature", ErrorClass::Signature);
    let err = bad
        .call(
            &Request::new("aliexpress.trade.order.get").unwrap(),
            Some(access(&tokens)),
        )
        .unwrap_err();
    assert_gateway(&err, "IncompleteSignature", ErrorClass::Signature);
    assert_eq!(count(&emu, REFRESH), 1, "signature errors are not retried");
    assert_eq!(count(&emu, CREATE), 1);
}

#[test]
fn rotation_on_refuses_a_used_refresh_token() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-rot");
    let renewed = client.refresh_token(refresh(&tokens)).unwrap();
    let err = client.refresh_token(refresh(&tokens)).unwrap_err();
    assert_gateway(&err, "IllegalRefreshToken", ErrorClass::Reauthorize);
    // The newest one still works, once.
    let third = client.refresh_token(refresh(&renewed)).unwrap();
    assert!(third.access_token.is_some());
    assert_eq!(count(&emu, REFRESH), 3);
}

#[test]
fn rotation_off_keeps_the_refresh_token_usable() {
    let emu = emulator(false);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-norot");
    let first = client.refresh_token(refresh(&tokens)).unwrap();
    let second = client.refresh_token(refresh(&tokens)).unwrap();
    assert_eq!(refresh(&first).secret(), refresh(&tokens).secret());
    assert!(second.access_token.is_some());
}

#[test]
fn revoked_and_expired_tokens() {
    let emu = emulator(false);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-exp");

    // The access token expires after 30 days of virtual time: a Refresh error.
    emu.advance(Duration::from_secs(30 * 86_400 + 60));
    let err = client
        .call(
            &Request::new("/seller/info/get").unwrap(),
            Some(access(&tokens)),
        )
        .unwrap_err();
    assert_gateway(&err, "IllegalAccessToken", ErrorClass::Refresh);
    let renewed = client.refresh_token(refresh(&tokens)).unwrap();
    client
        .call(
            &Request::new("/seller/info/get").unwrap(),
            Some(access(&renewed)),
        )
        .unwrap();

    // The refresh token expires after 60 days: reauthorize.
    emu.advance(Duration::from_secs(30 * 86_400 + 60));
    let err = client.refresh_token(refresh(&tokens)).unwrap_err();
    assert_gateway(&err, "IllegalRefreshToken", ErrorClass::Reauthorize);

    // Revocation.
    let fresh = created(&emu, &client, "seller-rev");
    emu.revoke_refresh_tokens("seller-rev");
    let err = client.refresh_token(refresh(&fresh)).unwrap_err();
    assert_gateway(&err, "IllegalRefreshToken", ErrorClass::Reauthorize);

    // No token at all on a business call that requires one (app-level APIs need none).
    emu.require_token("aliexpress.trade.order.get", true);
    let err = client
        .call(&Request::new("aliexpress.trade.order.get").unwrap(), None)
        .unwrap_err();
    assert!(err.gateway().is_some(), "{err:?}");
    assert_ne!(err.class(), ErrorClass::Retryable);
}

/// A transport that lets `mangle` change the signed request before the real one sends it: how
/// the tests reach the emulator's checks that a correct client never trips.
fn mangling(
    emu: &Emulator,
    mangle: impl Fn(&mut http::Request<Vec<u8>>) + Send + Sync + 'static,
) -> Client {
    let http = HttpTransport::new(HttpConfig::default()).unwrap();
    let transport = move |mut request: http::Request<Vec<u8>>| {
        mangle(&mut request);
        http.send(request)
    };
    builder(emu, emu.app_secret())
        .transport(Arc::new(transport))
        .build()
        .unwrap()
}

/// Replaces `key`'s value in a form body.
fn set_form(request: &mut http::Request<Vec<u8>>, key: &str, value: Option<&str>) {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(request.body())
        .into_owned()
        .filter(|(k, _)| k != key)
        .collect();
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        out.append_pair(k, v);
    }
    if let Some(value) = value {
        out.append_pair(key, value);
    }
    *request.body_mut() = out.finish().into_bytes();
}

#[test]
fn an_md5_client_signs_path_calls_with_sha256() {
    // MD5 is for TOP (/sync) only: a client set to MD5 still refreshes tokens, signed with SHA-256.
    let emu = emulator(true);
    let md5 = builder(&emu, emu.app_secret())
        .sign_method(SignMethod::Md5)
        .build()
        .unwrap();
    let tokens = created(&emu, &md5, "seller-md5");
    let refreshed = md5.refresh_token(refresh(&tokens)).unwrap();
    assert!(refreshed.access_token.is_some());
    let top = Request::new("aliexpress.solution.product.list.get").unwrap();
    md5.call(&top, refreshed.access_token.as_ref()).unwrap();
}

#[test]
fn every_check_code_arrives_with_its_class() {
    let emu = emulator(true);
    let good = client(&emu);
    let tokens = created(&emu, &good, "seller-codes");
    let rt = refresh(&tokens).clone();

    // MissingParameter: business (no code) and system (no sign).
    let err = good.call(&Request::new(CREATE).unwrap(), None).unwrap_err();
    assert_gateway(&err, "MissingParameter", ErrorClass::Client);
    let err = mangling(&emu, |r| set_form(r, "sign", None))
        .refresh_token(&rt)
        .unwrap_err();
    assert_gateway(&err, "MissingParameter", ErrorClass::Client);

    // InvalidAppKey.
    let other_key = Client::builder(
        "someone-else",
        AppSecret::new(emu.app_secret()),
        Gateway::new(&emu.url()).unwrap(),
    )
    .build()
    .unwrap();
    let err = other_key.refresh_token(&rt).unwrap_err();
    assert_gateway(&err, "InvalidAppKey", ErrorClass::Client);

    // Codes docs/src/concepts/protocol.md#errors does not list are kept and are final: Client or
    // Unknown, never retried.
    let final_unlisted = |err: &Error, code: &str| {
        let gateway = err.gateway().unwrap_or_else(|| panic!("{code}: {err:?}"));
        assert_eq!(gateway.code, code);
        assert!(
            matches!(err.class(), ErrorClass::Client | ErrorClass::Unknown),
            "{code}: {:?}",
            err.class()
        );
        assert!(err.request_id().is_some());
    };

    // InvalidSignMethod: MD5 on a path (GOP) API (iop itself never sends that, see
    // `an_md5_client_signs_path_calls_with_sha256`).
    let err = mangling(&emu, |r| set_form(r, "sign_method", Some("md5")))
        .refresh_token(&rt)
        .unwrap_err();
    final_unlisted(&err, "InvalidSignMethod");

    // InvalidTimestamp: a clock three hours off both the virtual and the real one.
    struct Stale;
    impl iop_core::Clock for Stale {
        fn now(&self) -> std::time::SystemTime {
            std::time::SystemTime::now() - Duration::from_secs(3 * 3600)
        }
    }
    let stale = builder(&emu, emu.app_secret())
        .clock(Arc::new(Stale))
        .build()
        .unwrap();
    final_unlisted(&stale.refresh_token(&rt).unwrap_err(), "InvalidTimestamp");

    // MethodNotAllowed (HTTP 405 with a gateway envelope).
    let put = mangling(&emu, |r| *r.method_mut() = http::Method::PUT);
    final_unlisted(&put.refresh_token(&rt).unwrap_err(), "MethodNotAllowed");

    // InvalidParameter: a body that cannot be read.
    let garbled = mangling(&emu, |r| {
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("multipart/form-data; boundary=xyz"),
        );
        *r.body_mut() = b"this is not multipart".to_vec();
    });
    let err = garbled.refresh_token(&rt).unwrap_err();
    final_unlisted(&err, "InvalidParameter");

    // None of the above was retried, and the refresh token was never consumed. (The 405 and the
    // unreadable body name no API the emulator could count.)
    assert_eq!(count(&emu, REFRESH), 4, "{:?}", emu.stats());
    good.refresh_token(&rt).unwrap();
}

#[test]
fn http_500_is_retried_until_it_passes() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-500");
    emu.inject(Fault::Http500, Some(REFRESH), 2);
    let renewed = client.refresh_token(refresh(&tokens)).unwrap();
    assert!(renewed.access_token.is_some());
    assert_eq!(count(&emu, REFRESH), 3);
}

#[test]
fn http_500_beyond_the_attempts_is_a_retryable_error() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-500b");
    emu.inject(Fault::Http500, Some(REFRESH), 5);
    let err = client.refresh_token(refresh(&tokens)).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err:?}");
    let gateway = err.gateway().expect("a SYSTEM envelope");
    assert_eq!(gateway.status, 500);
    assert!(err.request_id().is_some());
    assert_eq!(count(&emu, REFRESH), 3);
    // The refresh token was never consumed by the failed attempts.
    emu.clear_faults();
    client.refresh_token(refresh(&tokens)).unwrap();
}

#[test]
fn html_502_is_a_decode_error_retried() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-502");
    emu.inject(Fault::Html502, Some(REFRESH), 1);
    client.refresh_token(refresh(&tokens)).unwrap();
    assert_eq!(count(&emu, REFRESH), 2);

    emu.reset_stats();
    emu.inject(Fault::Html502, None, 3);
    let err = client
        .call(
            &Request::new("aliexpress.trade.order.get").unwrap(),
            Some(access(&tokens)),
        )
        .unwrap_err();
    match &err {
        Error::Decode { status, snippet } => {
            assert_eq!(*status, 502);
            assert!(snippet.to_ascii_lowercase().contains("<html"), "{snippet}");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(count(&emu, "aliexpress.trade.order.get"), 3);
}

#[test]
fn truncated_json_is_a_decode_error_not_retried() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-trunc");
    emu.inject(Fault::TruncatedJson, Some(REFRESH), 1);
    let err = client.refresh_token(refresh(&tokens)).unwrap_err();
    match &err {
        Error::Decode { status, snippet } => {
            assert_eq!(*status, 200);
            assert!(
                !snippet.contains(refresh(&tokens).secret()),
                "no secret in the snippet"
            );
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert_eq!(count(&emu, REFRESH), 1, "the gateway may have processed it");
}

#[test]
fn connection_reset_after_sending_is_not_retried() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-reset");
    emu.inject(Fault::ConnectionReset, Some(REFRESH), 1);
    let err = client.refresh_token(refresh(&tokens)).unwrap_err();
    assert!(
        matches!(err, Error::Transport { sent: true, .. }),
        "{err:?}"
    );
    assert_eq!(count(&emu, REFRESH), 1);
    // The pool recovers: the next call goes through on a new connection.
    client.refresh_token(refresh(&tokens)).unwrap();
}

#[test]
fn a_short_rate_limit_is_waited_out() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-rl");
    emu.inject(
        Fault::RateLimit {
            ban: Duration::from_secs(1),
        },
        Some(REFRESH),
        1,
    );
    let started = Instant::now();
    client.refresh_token(refresh(&tokens)).unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited the ban"
    );
    assert_eq!(count(&emu, REFRESH), 2);
}

#[test]
fn a_long_rate_limit_is_returned_with_its_ban() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-rl2");
    emu.inject(
        Fault::RateLimit {
            ban: Duration::from_secs(60),
        },
        Some(REFRESH),
        1,
    );
    let err = client.refresh_token(refresh(&tokens)).unwrap_err();
    assert_gateway(&err, "ApiCallLimit", ErrorClass::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(count(&emu, REFRESH), 1);
    // A fault on one API leaves the others alone.
    client
        .call(
            &Request::new("/seller/info/get").unwrap(),
            Some(access(&tokens)),
        )
        .unwrap();
}

#[test]
fn a_delay_longer_than_the_read_timeout_is_a_timeout() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-slow");
    let impatient = builder(&emu, emu.app_secret())
        .timeouts(Duration::from_secs(2), Duration::from_millis(250))
        .build()
        .unwrap();
    emu.inject(Fault::Delay(Duration::from_secs(2)), Some(REFRESH), 1);
    let started = Instant::now();
    let err = impatient.refresh_token(refresh(&tokens)).unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(err, Error::Timeout { after, .. } if after == Duration::from_millis(250)),
        "{err:?}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "generous bound: {elapsed:?}"
    );
    assert_eq!(
        count(&emu, REFRESH),
        1,
        "a timeout after sending is not retried"
    );
}

#[test]
fn a_deadline_bounds_the_whole_attempt() {
    let emu = emulator(true);
    let client = client(&emu);
    let tokens = created(&emu, &client, "seller-deadline");
    let bounded = builder(&emu, emu.app_secret())
        .deadline(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    emu.inject(Fault::Delay(Duration::from_secs(2)), Some(REFRESH), 1);
    let err = bounded.refresh_token(refresh(&tokens)).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
}

#[test]
fn sixteen_threads_share_one_client() {
    let emu = Arc::new(emulator(true));
    let client = Arc::new(client(&emu));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let (emu, client, errors) = (emu.clone(), client.clone(), errors.clone());
            thread::spawn(move || {
                let seller = format!("seller-thread-{i}");
                let run = || -> iop_core::Result<()> {
                    let mut tokens =
                        client.create_token(&AuthCode::new(emu.authorize(&seller)), None)?;
                    for round in 0..5 {
                        // Each thread chains its own refresh tokens (rotation is on).
                        tokens = client.refresh_token(refresh(&tokens))?;
                        let answer = client.call(
                            &Request::new("/seller/info/get")
                                .unwrap()
                                .param("round", round.to_string()),
                            Some(access(&tokens)),
                        )?;
                        assert_eq!(answer["seller_id"], seller.as_str());
                        assert_eq!(answer["params"]["round"], round.to_string());
                    }
                    Ok(())
                };
                if let Err(e) = run() {
                    errors.lock().unwrap().push(format!("{seller}: {e}"));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert!(
        errors.lock().unwrap().is_empty(),
        "{:?}",
        errors.lock().unwrap()
    );
    assert_eq!(count(&emu, CREATE), 16);
    assert_eq!(count(&emu, REFRESH), 80);
    assert_eq!(count(&emu, "/seller/info/get"), 80);
}

#[test]
fn errors_show_no_secret() {
    let emu = emulator(true);
    let client = client(&emu);
    let code = emu.authorize("seller-secret");
    let tokens = client
        .create_token(&AuthCode::new(code.clone()), None)
        .unwrap();
    let rt = refresh(&tokens).secret().to_owned();
    let at = access(&tokens).secret().to_owned();
    client.refresh_token(refresh(&tokens)).unwrap();

    let mut errors = vec![
        client
            .create_token(&AuthCode::new(code.clone()), None)
            .unwrap_err(),
        client.refresh_token(refresh(&tokens)).unwrap_err(),
        builder(&emu, "wrong-secret")
            .build()
            .unwrap()
            .refresh_token(refresh(&tokens))
            .unwrap_err(),
    ];
    emu.inject(Fault::TruncatedJson, None, 1);
    errors.push(client.refresh_token(refresh(&tokens)).unwrap_err());
    emu.inject(Fault::ConnectionReset, None, 1);
    errors.push(
        client
            .call(
                &Request::new("/seller/info/get")
                    .unwrap()
                    .http_method(HttpMethod::Get),
                Some(access(&tokens)),
            )
            .unwrap_err(),
    );
    for err in &errors {
        let text = format!("{err} | {err:?} | {:?}", std::error::Error::source(err));
        for secret in [emu.app_secret(), rt.as_str(), at.as_str(), code.as_str()] {
            assert!(!text.contains(secret), "secret in {text}");
        }
        assert!(!text.contains("sign="), "{text}");
    }
}
