//! Load measurement of the stores: round trips per second (load, save, lock + unlock) and
//! `refresh_due` over many sellers against the emulator at concurrency 8 and 32.
//!
//! ```text
//! scripts/with-servers sh -c 'cargo run --release -p iop-core --features redis,postgres \
//!     --example store_load -- 10000 memory: /tmp/iop-bench-dir "$IOP_TEST_REDIS_URL" \
//!     "$IOP_TEST_POSTGRES_URL"'
//! ```
//! Redis runs under a key prefix and PostgreSQL in a table of their own (`bench<pid>`), emptied
//! at the end.

#![allow(clippy::print_stdout)]

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iop_core::store::{PostgresOptions, PostgresStore};
use iop_core::store::{RedisOptions, RedisStore};
use iop_core::{AppSecret, Client, Gateway, RefreshDueOptions, TokenManager, TokenSet, TokenStore};
use iop_emulator::{Config, Emulator};

const DAY: Duration = Duration::from_secs(86_400);

fn open(url: &str) -> Result<Arc<dyn TokenStore>, Box<dyn Error>> {
    let ns = format!("bench{}", std::process::id());
    Ok(if url.starts_with("redis") {
        Arc::new(RedisStore::open_with(
            url,
            RedisOptions {
                prefix: format!("{ns}:"),
                ..RedisOptions::default()
            },
        )?)
    } else if url.starts_with("postgres") {
        Arc::new(PostgresStore::open_with(
            url,
            PostgresOptions {
                table: ns,
                ..PostgresOptions::default()
            },
        )?)
    } else {
        iop_core::store::open(url)?
    })
}

fn kind(url: &str) -> &str {
    match url.split_once(':') {
        Some(("memory", _)) => "memory",
        Some((scheme, _)) if scheme.starts_with("redis") => "redis",
        Some((scheme, _)) if scheme.starts_with("postgres") => "postgres",
        _ => "file",
    }
}

/// Runs `op` `count` times on each of `threads` threads; operations per second overall.
fn rate(threads: usize, count: usize, op: impl Fn(usize, usize) + Sync) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let op = &op;
            scope.spawn(move || {
                for i in 0..count {
                    op(t, i);
                }
            });
        }
    });
    (threads * count) as f64 / started.elapsed().as_secs_f64()
}

fn round_trips(store: &dyn TokenStore, token: &TokenSet) -> Result<(), Box<dyn Error>> {
    const N: usize = 2000;
    for t in 0..8 {
        store.save(&format!("rt-{t}"), token, None)?;
    }
    for threads in [1, 8] {
        let load = rate(threads, N, |t, _| {
            store.load(&format!("rt-{t}")).ok();
        });
        let save = rate(threads, N / 2, |t, _| {
            let key = format!("rt-{t}");
            if let Ok(Some(stored)) = store.load(&key) {
                store.save(&key, token, Some(stored.version)).ok();
            }
        });
        let lock = rate(threads, N / 2, |t, _| {
            drop(store.lock(&format!("rt-{t}")));
        });
        println!(
            "  {threads} thread(s): load {load:>8.0}/s, load+save {save:>8.0}/s, lock+unlock {lock:>8.0}/s"
        );
    }
    for t in 0..8 {
        store.remove(&format!("rt-{t}"))?;
    }
    Ok(())
}

fn run(url: &str, sellers: usize) -> Result<(), Box<dyn Error>> {
    let emu = Emulator::start(Config {
        threads: 32,
        ..Config::default()
    })?;
    let client = Arc::new(
        Client::builder(
            emu.app_key(),
            AppSecret::new(emu.app_secret()),
            Gateway::new(&emu.url())?,
        )
        .clock(emu.clock())
        .build()?,
    );
    let store = open(url)?;
    println!("store: {}, sellers: {sellers}", kind(url));
    let sample = TokenSet::from_value(emu.issue_token("sample"), emu.now())?;
    round_trips(&*store, &sample)?;
    let started = Instant::now();
    for i in 0..sellers {
        let key = format!("seller-{i:05}");
        let token = TokenSet::from_value(emu.issue_token(&key), emu.now())?;
        store.save(&key, &token, None)?;
    }
    println!("  seeding: {:.2} s", started.elapsed().as_secs_f64());
    let manager = TokenManager::new(client, store.clone());
    for concurrency in [8, 32] {
        emu.advance(28 * DAY);
        emu.reset_stats();
        let started = Instant::now();
        let report = manager.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(concurrency));
        let elapsed = started.elapsed();
        let calls = emu.stats().get("/auth/token/refresh").copied().unwrap_or(0);
        println!(
            "  refresh_due concurrency {concurrency:>2}: {:>7.2} s, {:>6.0} refreshes/s (refreshed {}, failed {}, calls {calls})",
            elapsed.as_secs_f64(),
            report.refreshed.len() as f64 / elapsed.as_secs_f64(),
            report.refreshed.len(),
            report.failed.len(),
        );
        if report.refreshed.len() != sellers || calls != sellers as u64 {
            return Err(
                format!("expected {sellers} refreshes: {:?}", report.failed.first()).into(),
            );
        }
    }
    for key in store.keys()? {
        store.remove(&key)?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let sellers = args.next().map_or(Ok(10_000), |s| s.parse())?;
    let urls: Vec<String> = args.collect();
    if urls.is_empty() {
        return Err("usage: store_load SELLERS STORE_URL...".into());
    }
    for url in urls {
        run(&url, sellers)?;
    }
    Ok(())
}
