//! One client making many calls starts no thread per call (issue 12): no name-lookup thread
//! (IP-literal hosts are not looked up, names are cached) and nothing else. A sampler watches
//! `/proc/self/task` while 200 calls run against the in-process emulator over one pooled
//! connection, and fails on any thread it had not seen before the calls.
//!
//! One test per file: the threads of other tests would be counted too.

#![cfg(all(feature = "client", target_os = "linux"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use iop_core::{AccessToken, AppSecret, AuthCode, Client, Gateway, Request};
use iop_emulator::{Config, Emulator};

fn threads() -> BTreeSet<u64> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The thread ids that appear while `calls` runs (the sampler's own excluded).
fn new_threads_during(calls: impl FnOnce()) -> BTreeSet<u64> {
    let before = threads();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            while !stop.load(Ordering::Relaxed) {
                seen.extend(threads());
            }
            seen.extend(threads());
            seen
        })
    };
    // The sampler's own id, once it runs.
    let sampler_id = loop {
        let now = threads();
        let extra: Vec<u64> = now.difference(&before).copied().collect();
        if extra.len() == 1 {
            break extra[0];
        }
        std::thread::yield_now();
    };
    calls();
    stop.store(true, Ordering::Relaxed);
    let mut seen = sampler.join().unwrap();
    seen.remove(&sampler_id);
    seen.difference(&before).copied().collect()
}

#[test]
fn two_hundred_calls_start_no_thread() {
    let emu = Emulator::start(Config {
        threads: 2,
        ..Config::default()
    })
    .unwrap();
    let port = emu.url().rsplit(':').next().unwrap().to_owned();
    for host in ["127.0.0.1", "localhost"] {
        let client = Client::builder(
            emu.app_key(),
            AppSecret::new(emu.app_secret()),
            Gateway::new(&format!("http://{host}:{port}")).unwrap(),
        )
        .clock(emu.clock())
        .build()
        .unwrap();
        let code = emu.authorize(&format!("seller-{host}"));
        let tokens = client.create_token(&AuthCode::new(code), None).unwrap();
        let token: AccessToken = tokens.access_token.clone().unwrap();
        let request = Request::new("/seller/get").unwrap();
        // Warm up: the pooled connection (and the emulator's thread for it) and, for a name,
        // its one lookup.
        client.call(&request, Some(&token)).unwrap();
        let before = threads().len();
        let created = new_threads_during(|| {
            for _ in 0..200 {
                client.call(&request, Some(&token)).unwrap();
            }
        });
        assert!(
            created.is_empty(),
            "{host}: {} thread(s) appeared during 200 calls: {created:?}",
            created.len()
        );
        assert_eq!(threads().len(), before, "{host}");
    }
}
