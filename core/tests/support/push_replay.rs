//! One captured, validly signed type 8 push replayed 50 times, at once, to managers ("hosts")
//! that share one store: at most one refresh reaches the gateway. Shared by the tests of every
//! store (`#[path = "support/push_replay.rs"] mod push_replay;`).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use iop_core::push;
use iop_core::{
    AppSecret, AuthCode, Client, Gateway, PushOutcome, RetryPolicy, TokenManager, TokenStore,
};
use iop_emulator::{Config, Emulator};

const REFRESH: &str = "/auth/token/refresh";
const DAY: Duration = Duration::from_secs(86_400);

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

fn refreshes(emu: &Emulator) -> u64 {
    emu.stats().get(REFRESH).copied().unwrap_or(0)
}

/// A type 8 body for `seller`, sent at `at`, and the signature Lazada puts on it.
pub(crate) fn signed_type_8(emu: &Emulator, seller: &str, at: SystemTime) -> (Vec<u8>, String) {
    let body = format!(
        r#"{{"seller_id":"{seller}","message_type":8,"data":{{}},"timestamp":{},"site":"lazada_sg"}}"#,
        iop_core::time::epoch_ms(at)
    );
    let header = push::signature(
        emu.app_key(),
        &AppSecret::new(emu.app_secret()),
        body.as_bytes(),
    );
    (body.into_bytes(), header)
}

/// What a receiver does with a delivery: check the signature over the raw body, parse, handle.
pub(crate) fn deliver(
    emu: &Emulator,
    manager: &TokenManager,
    body: &[u8],
    header: &str,
) -> PushOutcome {
    let secret = AppSecret::new(emu.app_secret());
    push::check(emu.app_key(), &secret, body, Some(header)).unwrap();
    manager.handle_push(&push::parse(body).unwrap()).unwrap()
}

/// The replay, over one manager per store in `stores` (handles on one backend: "hosts").
///
/// The managers' margin (40 days) is longer than the token's life (30 days), so the token is
/// due at every delivery: only the de-duplication can stop the replays.
pub(crate) fn replayed_type_8_refreshes_at_most_once(stores: &[Arc<dyn TokenStore>]) {
    let emu = Emulator::start(Config {
        threads: 8,
        ..Config::default()
    })
    .unwrap();
    let managers: Vec<TokenManager> = stores
        .iter()
        .map(|store| TokenManager::new(client(&emu), Arc::clone(store)).with_margin(40 * DAY))
        .collect();
    let code = AuthCode::new(emu.authorize("1001"));
    let token = managers[0].client().create_token(&code, None).unwrap();
    managers[0].put("1001", &token).unwrap();

    let (body, header) = signed_type_8(&emu, "1001", emu.now());
    let outcomes: Mutex<HashMap<PushOutcome, usize>> = Mutex::new(HashMap::new());
    // 50 deliveries from 10 threads at once, alternating between the hosts.
    std::thread::scope(|scope| {
        for thread in 0..10 {
            let (emu, body, header, outcomes) = (&emu, &body, &header, &outcomes);
            let managers = &managers;
            scope.spawn(move || {
                for delivery in 0..5 {
                    let manager = &managers[(thread + delivery) % managers.len()];
                    let outcome = deliver(emu, manager, body, header);
                    *outcomes.lock().unwrap().entry(outcome).or_default() += 1;
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    assert_eq!(refreshes(&emu), 1, "{outcomes:?}");
    assert_eq!(
        outcomes,
        HashMap::from([(PushOutcome::Refreshed, 1), (PushOutcome::Duplicate, 49)])
    );
    // And later, one by one, on every host: still duplicates.
    for manager in &managers {
        assert_eq!(
            deliver(&emu, manager, &body, &header),
            PushOutcome::Duplicate
        );
    }
    assert_eq!(refreshes(&emu), 1);
    let stored = managers[1 % managers.len()].get("1001").unwrap().unwrap();
    assert!(emu.is_current_refresh_token("1001", stored.refresh_token.unwrap().secret()));

    // The next day's message is another event: acted on once.
    emu.advance(DAY);
    let (body, header) = signed_type_8(&emu, "1001", emu.now());
    for (i, expected) in [PushOutcome::Refreshed, PushOutcome::Duplicate]
        .into_iter()
        .enumerate()
    {
        let manager = &managers[i % managers.len()];
        assert_eq!(deliver(&emu, manager, &body, &header), expected);
    }
    assert_eq!(refreshes(&emu), 2);
}
