//! `TokenManager::call` / `call_raw`: a call for a seller with a fresh token, and when the gateway
//! refuses the access token, one single-flight refresh and one retry; a dead refresh token goes
//! to the reauthorization callback; an unknown seller is a typed error and sends nothing.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use iop_core::{
    AccessToken, AppSecret, AuthCode, Client, Error, ErrorClass, Gateway, MemoryStore, Request,
    RetryPolicy, TokenManager, TokenSet,
};
use iop_emulator::{Config, Emulator, Fault};

const REFRESH: &str = "/auth/token/refresh";
const API: &str = "/orders/get";

fn client(emu: &Emulator) -> Arc<Client> {
    Arc::new(
        Client::builder(
            emu.app_key(),
            AppSecret::new(emu.app_secret()),
            Gateway::new(&emu.url()).unwrap(),
        )
        .clock(emu.clock())
        .retry(RetryPolicy::none())
        .build()
        .unwrap(),
    )
}

fn count(emu: &Emulator, api: &str) -> u64 {
    emu.stats().get(api).copied().unwrap_or(0)
}

/// A seller's real token set whose access token the gateway does not know (revoked, replaced
/// elsewhere): it still looks valid for weeks, so only the gateway can refuse it.
fn with_refused_access_token(emu: &Emulator, client: &Client, seller: &str) -> TokenSet {
    let mut token = client
        .create_token(&AuthCode::new(emu.authorize(seller)), None)
        .unwrap();
    token.access_token = Some(AccessToken::new(format!(
        "revoked-access-token-of-{seller}"
    )));
    token
}

type Reports = Arc<Mutex<Vec<String>>>;

fn manager(client: Arc<Client>) -> (TokenManager, Reports) {
    let reports: Reports = Arc::default();
    let hook = reports.clone();
    let manager = TokenManager::new(client, Arc::new(MemoryStore::new()))
        .on_reauthorization_required(move |key, _| hook.lock().unwrap().push(key.to_owned()));
    (manager, reports)
}

#[test]
fn a_call_for_a_seller_uses_its_token_and_needs_no_refresh() {
    let emu = Emulator::start(Config::default()).unwrap();
    let client = client(&emu);
    let (manager, _) = manager(client.clone());
    let token = client
        .create_token(&AuthCode::new(emu.authorize("shop-1")), None)
        .unwrap();
    manager.put("shop-1", &token).unwrap();
    let answer = manager
        .call(
            "shop-1",
            &Request::new(API).unwrap().param("status", "pending"),
        )
        .unwrap();
    // The echo names the seller the token belongs to: the call carried shop-1's token.
    assert_eq!(answer["seller_id"], "shop-1", "{answer}");
    assert_eq!(answer["params"]["status"], "pending", "{answer}");
    assert_eq!(count(&emu, REFRESH), 0);
}

#[test]
fn a_refused_access_token_is_refreshed_once_and_the_call_retried() {
    let emu = Emulator::start(Config::default()).unwrap();
    let client = client(&emu);
    let (manager, reports) = manager(client.clone());
    let stale = with_refused_access_token(&emu, &client, "shop-1");
    manager.put("shop-1", &stale).unwrap();

    let answer = manager.call("shop-1", &Request::new(API).unwrap()).unwrap();
    assert_eq!(answer["seller_id"], "shop-1", "{answer}");
    assert_eq!(count(&emu, REFRESH), 1);
    assert_eq!(count(&emu, API), 2, "the refused call and its one retry");
    // The new token set was saved: the next call needs no refresh.
    let stored = manager.get("shop-1").unwrap().unwrap();
    assert_ne!(
        stored.access_token.as_ref().unwrap().secret(),
        stale.access_token.as_ref().unwrap().secret()
    );
    manager.call("shop-1", &Request::new(API).unwrap()).unwrap();
    assert_eq!(count(&emu, REFRESH), 1);
    assert_eq!(count(&emu, API), 3);
    assert!(reports.lock().unwrap().is_empty());
}

#[test]
fn call_raw_retries_too_and_returns_other_envelopes_as_json() {
    let emu = Emulator::start(Config::default()).unwrap();
    let client = client(&emu);
    let (manager, _) = manager(client.clone());
    let stale = with_refused_access_token(&emu, &client, "shop-1");
    manager.put("shop-1", &stale).unwrap();

    // The refusal is handled, not returned as an envelope.
    let answer = manager
        .call_raw(
            "shop-1",
            &Request::new("aliexpress.trade.order.get").unwrap(),
        )
        .unwrap();
    assert_eq!(
        answer["aliexpress_trade_order_get_response"]["result"]["seller_id"], "shop-1",
        "{answer}"
    );
    assert_eq!(count(&emu, REFRESH), 1);

    // Any other gateway error comes back as its envelope; `call` raises it. No refresh.
    emu.inject(
        Fault::RateLimit {
            ban: Duration::from_secs(300),
        },
        Some(API),
        1,
    );
    let envelope = manager
        .call_raw("shop-1", &Request::new(API).unwrap())
        .unwrap();
    assert_eq!(envelope["code"], "ApiCallLimit", "{envelope}");
    let err = manager
        .call("shop-1", &Request::new(API).unwrap())
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::RateLimited, "{err:?}");
    assert_eq!(count(&emu, REFRESH), 1);
}

#[test]
fn concurrent_refused_callers_share_one_refresh() {
    let emu = Emulator::start(Config::default()).unwrap();
    let client = client(&emu);
    let (manager, _) = manager(client.clone());
    let manager = Arc::new(manager);
    manager
        .put(
            "shop-1",
            &with_refused_access_token(&emu, &client, "shop-1"),
        )
        .unwrap();
    const THREADS: usize = 8;
    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let manager = manager.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                manager.call("shop-1", &Request::new(API).unwrap())
            })
        })
        .collect();
    for worker in workers {
        let answer = worker.join().unwrap().unwrap();
        assert_eq!(answer["seller_id"], "shop-1");
    }
    assert_eq!(
        count(&emu, REFRESH),
        1,
        "one refresh for {THREADS} refused callers"
    );
}

#[test]
fn a_dead_refresh_token_goes_to_the_reauthorization_callback() {
    let emu = Emulator::start(Config::default()).unwrap();
    let client = client(&emu);
    let (manager, reports) = manager(client.clone());
    manager
        .put(
            "shop-1",
            &with_refused_access_token(&emu, &client, "shop-1"),
        )
        .unwrap();
    emu.revoke_refresh_tokens("shop-1");
    for _ in 0..2 {
        let err = manager
            .call("shop-1", &Request::new(API).unwrap())
            .unwrap_err();
        assert!(
            matches!(&err, Error::ReauthorizationRequired { key, .. } if key == "shop-1"),
            "{err:?}"
        );
    }
    assert_eq!(*reports.lock().unwrap(), ["shop-1"], "reported once");
    // The dead refresh token was sent once, then never again.
    assert_eq!(count(&emu, REFRESH), 1);
}

#[test]
fn an_unknown_seller_is_a_typed_error_and_sends_nothing() {
    let emu = Emulator::start(Config::default()).unwrap();
    let (manager, _) = manager(client(&emu));
    let err = manager
        .call("nobody", &Request::new(API).unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownSeller { key } if key == "nobody"),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Client);
    assert!(emu.stats().is_empty(), "{:?}", emu.stats());
}

/// A gateway that refuses every access token of a business call but refreshes gladly.
fn refusing_client(calls: Arc<AtomicUsize>, refreshes: Arc<AtomicUsize>) -> Arc<Client> {
    let transport = move |request: http::Request<Vec<u8>>| {
        let body = if request.uri().path().ends_with(REFRESH) {
            let n = refreshes.fetch_add(1, Ordering::SeqCst) + 1;
            serde_json::json!({
                "access_token": format!("access-{n}"), "refresh_token": format!("refresh-{n}"),
                "expires_in": 2_592_000, "refresh_expires_in": 5_184_000, "code": "0",
            })
        } else {
            calls.fetch_add(1, Ordering::SeqCst);
            serde_json::json!({
                "type": "ISV", "code": "IllegalAccessToken",
                "message": "The specified access token is invalid or expired", "request_id": "r",
            })
        };
        Ok(http::Response::new(body.to_string().into_bytes()))
    };
    Arc::new(
        Client::builder(
            "k",
            AppSecret::new("s"),
            Gateway::new("http://127.0.0.1:9").unwrap(),
        )
        .transport(Arc::new(transport))
        .retry(RetryPolicy::none())
        .build()
        .unwrap(),
    )
}

#[test]
fn a_second_refusal_is_returned_after_one_retry() {
    let calls = Arc::new(AtomicUsize::new(0));
    let refreshes = Arc::new(AtomicUsize::new(0));
    let (manager, _) = manager(refusing_client(calls.clone(), refreshes.clone()));
    let token = TokenSet::from_json(
        br#"{"access_token":"a0","refresh_token":"r0","expires_in":2592000,"refresh_expires_in":5184000}"#,
        std::time::SystemTime::now(),
    )
    .unwrap();
    manager.put("s", &token).unwrap();
    let err = manager.call("s", &Request::new(API).unwrap()).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Refresh, "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the call and one retry");
    assert_eq!(refreshes.load(Ordering::SeqCst), 1, "one refresh");
    // call_raw returns the second refusal as its envelope.
    let raw = manager.call_raw("s", &Request::new(API).unwrap()).unwrap();
    assert_eq!(raw["code"], "IllegalAccessToken");
    assert_eq!(refreshes.load(Ordering::SeqCst), 2);
}
