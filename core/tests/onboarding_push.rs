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
    AppSecret, AuthCode, Client, Error, FileStore, Gateway, MemoryStore, PushOutcome, RetryPolicy,
    TokenManager, TokenStore,
};
use iop_emulator::{Config, Emulator};

#[path = "support/push_replay.rs"]
mod push_replay;

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

/// A body sent now (by the emulator's clock), with `fields` added.
fn now_body(emu: &Emulator, fields: &str) -> String {
    format!(
        r#"{{{fields},"timestamp":{}}}"#,
        iop_core::time::epoch_ms(emu.now())
    )
}

#[test]
fn push_type_8_refreshes_a_due_seller_once() {
    let (emu, manager, calls) = setup(Config::default());
    onboard(&emu, &manager, "1001");
    onboard(&emu, &manager, "1002");
    // Past half of its 30-day life, not yet within the 3-day margin.
    emu.advance(Duration::from_secs(16 * 86_400));
    let before = manager.get("1001").unwrap().unwrap();
    let outcome = manager
        .handle_push(&message(&now_body(
            &emu,
            r#""seller_id":"1001","message_type":8,"data":{},"site":"lazada_sg""#,
        )))
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
    for fields in [
        r#""seller_id":"9999","message_type":8,"data":{}"#,
        r#""seller_id":"1002","message_type":0,"data":{"trade_order_id":"1"}"#,
        r#""message_type":12,"data":{}"#,
        r#""seller_id":"1002","message_type":13,"data":{"status":"open"}"#,
    ] {
        assert_eq!(
            manager
                .handle_push(&message(&now_body(&emu, fields)))
                .unwrap(),
            PushOutcome::Ignored,
            "{fields}"
        );
    }
    assert_eq!(count(&emu, REFRESH), 1);
}

#[test]
fn push_type_8_leaves_a_fresh_token_alone() {
    let (emu, manager, _) = setup(Config::default());
    onboard(&emu, &manager, "1001");
    // Two days into a 30-day life: neither past half of it nor within the 3-day margin.
    emu.advance(Duration::from_secs(2 * 86_400));
    let before = manager.get("1001").unwrap().unwrap();
    let push8 = now_body(&emu, r#""seller_id":"1001","message_type":8,"data":{}"#);
    assert_eq!(
        manager.handle_push(&message(&push8)).unwrap(),
        PushOutcome::NotDue
    );
    assert_eq!(count(&emu, REFRESH), 0, "a fresh token is not refreshed");
    let after = manager.get("1001").unwrap().unwrap();
    assert_eq!(
        before.refresh_token.unwrap().secret(),
        after.refresh_token.unwrap().secret()
    );
    // The same token within the margin is due.
    emu.advance(Duration::from_secs(26 * 86_400));
    let push8 = now_body(&emu, r#""seller_id":"1001","message_type":8,"data":{}"#);
    assert_eq!(
        manager.handle_push(&message(&push8)).unwrap(),
        PushOutcome::Refreshed
    );
    assert_eq!(count(&emu, REFRESH), 1);
}

#[test]
fn an_old_or_undated_push_is_refused_as_stale() {
    let (emu, manager, calls) = setup(Config::default());
    let manager = manager.with_push_window(Duration::from_secs(600));
    assert_eq!(manager.push_window(), Duration::from_secs(600));
    onboard(&emu, &manager, "1001");
    emu.advance(Duration::from_secs(20 * 86_400)); // due: past half of its life
    let now = iop_core::time::epoch_ms(emu.now());
    for body in [
        // Older than the window, and as far ahead of now.
        format!(
            r#"{{"seller_id":"1001","message_type":8,"timestamp":{}}}"#,
            now - 601_000
        ),
        format!(
            r#"{{"seller_id":"1001","message_type":8,"timestamp":{}}}"#,
            now + 601_000
        ),
        // A capture from a day ago, and one with no timestamp at all.
        format!(
            r#"{{"seller_id":"1001","message_type":8,"timestamp":{}}}"#,
            now - 86_400_000
        ),
        r#"{"seller_id":"1001","message_type":8}"#.to_owned(),
        format!(
            r#"{{"seller_id":"1001","message_type":13,"data":{{"status":"close"}},"timestamp":{}}}"#,
            now - 3_600_000
        ),
    ] {
        assert_eq!(
            manager.handle_push(&message(&body)).unwrap(),
            PushOutcome::Stale,
            "{body}"
        );
    }
    assert_eq!(count(&emu, REFRESH), 0);
    assert!(
        calls.lock().unwrap().is_empty(),
        "a stale close reports nothing"
    );
    // Inside the window (at its edge): acted on.
    let edge = format!(
        r#"{{"seller_id":"1001","message_type":8,"timestamp":{}}}"#,
        now - 599_000
    );
    assert_eq!(
        manager.handle_push(&message(&edge)).unwrap(),
        PushOutcome::Refreshed
    );
    assert_eq!(count(&emu, REFRESH), 1);
}

#[test]
fn a_replayed_push_refreshes_once_on_memory_stores() {
    // Two managers on one MemoryStore, and one alone.
    let shared: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    push_replay::replayed_type_8_refreshes_at_most_once(&[Arc::clone(&shared), shared]);
    push_replay::replayed_type_8_refreshes_at_most_once(&[Arc::new(MemoryStore::new())]);
}

#[test]
fn a_replayed_push_refreshes_once_on_file_stores() {
    // Two handles on one directory: two processes of one machine.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    let a: Arc<dyn TokenStore> = Arc::new(FileStore::open(&path).unwrap());
    let b: Arc<dyn TokenStore> = Arc::new(FileStore::open(&path).unwrap());
    push_replay::replayed_type_8_refreshes_at_most_once(&[a, b]);
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
    let push8 = message(&now_body(
        &emu,
        r#""seller_id":"1001","message_type":8,"data":{}"#,
    ));
    assert_eq!(
        manager.handle_push(&push8).unwrap(),
        PushOutcome::ReauthorizationRequired
    );
    assert_eq!(manager.handle_push(&push8).unwrap(), PushOutcome::Duplicate);
    // The next day's message: reported again to the caller, the callback still fired once.
    emu.advance(Duration::from_secs(3600));
    let push8 = message(&now_body(
        &emu,
        r#""seller_id":"1001","message_type":8,"data":{}"#,
    ));
    assert_eq!(
        manager.handle_push(&push8).unwrap(),
        PushOutcome::ReauthorizationRequired
    );
    assert_eq!(count(&emu, REFRESH), 0, "a dead refresh token is not sent");
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].starts_with("1001: "), "{calls:?}");
}

#[test]
fn push_type_13_close_reports_the_seller_once() {
    let (emu, manager, calls) = setup(Config::default());
    onboard(&emu, &manager, "1001");
    let close = message(&now_body(
        &emu,
        r#""seller_id":"1001","message_type":13,"data":{"status":"close"}"#,
    ));
    assert_eq!(close.message_type, MessageType::SellerStatus);
    assert_eq!(
        manager.handle_push(&close).unwrap(),
        PushOutcome::ReauthorizationRequired
    );
    for _ in 0..2 {
        assert_eq!(manager.handle_push(&close).unwrap(), PushOutcome::Duplicate);
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
