//! Seller onboarding and push messages through the TokenManager, against the emulator: the
//! callback's state is checked before any code is exchanged, and push type 8 / 13 drive the
//! token lifecycle.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use iop_core::onboarding::CallbackError;
use iop_core::push::{self, MessageType};
use iop_core::{
    AppSecret, AuthCode, Client, Error, Gateway, MemoryStore, PushOutcome, RetryPolicy,
    TokenManager,
};
use iop_emulator::{Config, Emulator};

const CREATE: &str = "/auth/token/create";
const REFRESH: &str = "/auth/token/refresh";

fn setup(config: Config) -> (Emulator, TokenManager, Arc<Mutex<Vec<String>>>) {
    let emu = Emulator::start(config).unwrap();
    let client = Client::builder(
        emu.app_key(),
        AppSecret::new(emu.app_secret()),
        Gateway::new(&emu.url()).unwrap(),
    )
    .clock(emu.clock())
    .retry(RetryPolicy::none())
    .build()
    .unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let manager = TokenManager::new(Arc::new(client), Arc::new(MemoryStore::new()))
        .on_reauthorization_required(move |key, error| {
            seen.lock().unwrap().push(format!("{key}: {error}"));
        });
    (emu, manager, calls)
}

fn count(emu: &Emulator, api: &str) -> u64 {
    emu.stats().get(api).copied().unwrap_or(0)
}

fn message(body: &str) -> push::Message {
    push::parse(body.as_bytes()).unwrap()
}

#[test]
fn a_callback_with_a_wrong_or_missing_state_exchanges_nothing() {
    let (emu, manager, _) = setup(Config::default());
    let code = emu.authorize("seller-7");
    for (callback, expected) in [
        (
            format!("https://app.example/cb?code={code}&state=forged"),
            "s3cr3t-state",
        ),
        (
            format!("https://app.example/cb?code={code}"),
            "s3cr3t-state",
        ),
        (
            format!("?code={code}&state=s3cr3t-state&state=x"),
            "s3cr3t-state",
        ),
        (format!("?code={code}&state="), ""),
    ] {
        let err = manager
            .complete_authorization(&callback, expected, None)
            .unwrap_err();
        assert!(matches!(err, Error::Authorization(_)), "{err:?}");
        assert!(!err.to_string().contains(&code), "the code leaks: {err}");
    }
    assert_eq!(count(&emu, CREATE), 0, "no code was exchanged");
    assert!(manager.get("seller-7").unwrap().is_none());

    // The platform's error, with the right state, is Denied; still nothing exchanged.
    let err = manager
        .complete_authorization(
            "?state=ok&error=access_denied&error_description=the+seller+declined",
            "ok",
            None,
        )
        .unwrap_err();
    match err {
        Error::Authorization(CallbackError::Denied { error, description }) => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("the seller declined"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(count(&emu, CREATE), 0);

    // The right state: exchanged once, stored under the seller id.
    let (key, token) = manager
        .complete_authorization(
            &format!("https://app.example/cb?code={code}&state=s3cr3t-state"),
            "s3cr3t-state",
            None,
        )
        .unwrap();
    assert_eq!(count(&emu, CREATE), 1);
    assert_eq!(key, token.seller_id.clone().unwrap());
    assert!(manager.get(&key).unwrap().is_some());
    assert!(manager.access_token(&key).is_ok());
    // An explicit key wins.
    let code = emu.authorize("seller-8");
    let (key, _) = manager
        .complete_authorization(&format!("code={code}&state=s"), "s", Some("shop-8"))
        .unwrap();
    assert_eq!(key, "shop-8");
}

fn onboard(emu: &Emulator, manager: &TokenManager, seller: &str) {
    let code = emu.authorize(seller);
    let token = manager
        .client()
        .create_token(&AuthCode::new(code), None)
        .unwrap();
    manager.put(seller, &token).unwrap();
}

#[test]
fn push_type_8_refreshes_that_seller_once() {
    let (emu, manager, calls) = setup(Config::default());
    onboard(&emu, &manager, "1001");
    onboard(&emu, &manager, "1002");
    let before = manager.get("1001").unwrap().unwrap();
    let outcome = manager
        .handle_push(&message(
            r#"{"seller_id":"1001","message_type":8,"data":{},"timestamp":1,"site":"lazada_sg"}"#,
        ))
        .unwrap();
    assert_eq!(outcome, PushOutcome::Refreshed);
    assert_eq!(
        count(&emu, REFRESH),
        1,
        "exactly one refresh, for that seller"
    );
    let after = manager.get("1001").unwrap().unwrap();
    assert_ne!(
        before.refresh_token.unwrap().secret(),
        after.refresh_token.unwrap().secret()
    );
    assert!(calls.lock().unwrap().is_empty());
    // A seller this store does not hold, and other types, change nothing.
    for body in [
        r#"{"seller_id":"9999","message_type":8,"data":{}}"#,
        r#"{"seller_id":"1002","message_type":0,"data":{"trade_order_id":"1"}}"#,
        r#"{"message_type":12,"data":{}}"#,
        r#"{"seller_id":"1002","message_type":13,"data":{"status":"open"}}"#,
    ] {
        assert_eq!(
            manager.handle_push(&message(body)).unwrap(),
            PushOutcome::Ignored,
            "{body}"
        );
    }
    assert_eq!(count(&emu, REFRESH), 1);
}

#[test]
fn push_type_8_for_a_dead_refresh_token_reports_the_seller_once() {
    let config = Config {
        access_ttl: Duration::from_secs(5 * 86_400),
        refresh_ttl: Duration::from_secs(2 * 86_400),
        ..Config::default()
    };
    let (emu, manager, calls) = setup(config);
    onboard(&emu, &manager, "1001");
    emu.advance(Duration::from_secs(3 * 86_400)); // refresh token dead, access token alive
    let push8 = message(r#"{"seller_id":"1001","message_type":8,"data":{}}"#);
    for _ in 0..2 {
        assert_eq!(
            manager.handle_push(&push8).unwrap(),
            PushOutcome::ReauthorizationRequired
        );
    }
    assert_eq!(count(&emu, REFRESH), 0, "a dead refresh token is not sent");
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].starts_with("1001: "), "{calls:?}");
}

#[test]
fn push_type_13_close_reports_the_seller_once_per_delivery_set() {
    let (emu, manager, calls) = setup(Config::default());
    onboard(&emu, &manager, "1001");
    let close = message(r#"{"seller_id":"1001","message_type":13,"data":{"status":"close"}}"#);
    assert_eq!(close.message_type, MessageType::SellerStatus);
    for _ in 0..3 {
        assert_eq!(
            manager.handle_push(&close).unwrap(),
            PushOutcome::ReauthorizationRequired
        );
    }
    let calls = calls.lock().unwrap();
    assert_eq!(
        calls.len(),
        1,
        "at-least-once delivery fires the callback once: {calls:?}"
    );
    assert!(calls[0].contains("close"), "{calls:?}");
    assert_eq!(count(&emu, REFRESH), 0);
}
