//! Load measurement of the token manager: `refresh_due` over many sellers against the emulator,
//! with concurrency 1, 8 and 32, and the memory a stored token takes.
//!
//! ```text
//! cargo bench -p iop-bench --bench manager_load -- [SELLERS] [memory|file] [CONCURRENCIES] [--json]
//! ```
//! (defaults: 10000 sellers, both stores, concurrencies `1,8,32`). Each run seeds the store, moves
//! the emulator's clock 28 days ahead so every token is inside the 3-day window, and times one
//! `refresh_due`; the emulator runs in this process (32 threads), so the CPU figure is client,
//! store and emulator together. `--json` prints one JSON object per run instead of the text.

#![allow(clippy::print_stdout)]

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use iop_bench::{args, cpu_time, numbers};
use iop_core::{
    AppSecret, Client, FileStore, Gateway, MemoryStore, RefreshDueOptions, TokenManager, TokenSet,
    TokenStore,
};
use iop_emulator::{Config, Emulator};

const DAY: Duration = Duration::from_secs(86_400);

/// Resident set size of this process, bytes.
fn rss_bytes() -> Result<u64, Box<dyn Error>> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm.split_whitespace().nth(1).ok_or("statm")?.parse()?;
    Ok(pages * 4096)
}

/// Token sets issued by the emulator for `sellers` sellers.
fn issue(emu: &Emulator, sellers: usize) -> Result<Vec<(String, TokenSet)>, Box<dyn Error>> {
    (0..sellers)
        .map(|i| {
            let key = format!("seller-{i:05}");
            let token = TokenSet::from_value(emu.issue_token(&key), emu.now())?;
            Ok((key, token))
        })
        .collect()
}

/// Saves `tokens` into `store` from 32 threads (not timed; a `FileStore` syncs every save, which
/// one thread would take minutes for).
fn seed(store: &dyn TokenStore, tokens: &[(String, TokenSet)]) -> Result<(), Box<dyn Error>> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..32)
            .map(|_| {
                scope.spawn(|| -> iop_core::Result<()> {
                    while let Some((key, token)) = tokens.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        store.save(key, token, None)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker.join().map_err(|_| "a seeding thread panicked")??;
        }
        Ok(())
    })
}

fn run(
    kind: &str,
    sellers: usize,
    concurrencies: &[usize],
    json: bool,
) -> Result<(), Box<dyn Error>> {
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
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn TokenStore> = match kind {
        "file" => Arc::new(FileStore::open(dir.path())?),
        _ => Arc::new(MemoryStore::new()),
    };
    // Issued first, so that the RSS delta is what the store holds, not the emulator's state.
    let tokens = issue(&emu, sellers)?;
    let rss_before = rss_bytes()?;
    seed(&*store, &tokens)?;
    let rss_after = rss_bytes()?;
    drop(tokens);
    if !json {
        println!("store: {kind}, sellers: {sellers}");
        if kind == "file" {
            let mut bytes = 0;
            for entry in std::fs::read_dir(dir.path())? {
                let entry = entry?;
                if entry.file_name().to_string_lossy().ends_with(".json") {
                    bytes += entry.metadata()?.len();
                }
            }
            println!(
                "  on disk: {:.0} bytes per token file",
                bytes as f64 / sellers as f64
            );
        } else {
            println!(
                "  in memory: {:.0} bytes RSS per stored token ({} KiB for {sellers})",
                rss_after.saturating_sub(rss_before) as f64 / sellers as f64,
                rss_after.saturating_sub(rss_before) / 1024
            );
        }
    }
    let manager = TokenManager::new(client, store);
    for &concurrency in concurrencies {
        emu.advance(28 * DAY);
        emu.reset_stats();
        let cpu_before = cpu_time().ok_or("no CPU time")?;
        let started = Instant::now();
        let report = manager.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(concurrency));
        let elapsed = started.elapsed();
        let cpu = (cpu_time().ok_or("no CPU time")? - cpu_before).as_secs_f64();
        let calls = emu.stats().get("/auth/token/refresh").copied().unwrap_or(0);
        if json {
            let line = serde_json::json!({
                "store": kind,
                "sellers": sellers,
                "concurrency": concurrency,
                "wall_s": elapsed.as_secs_f64(),
                "cpu_s": cpu,
                "refreshed": report.refreshed.len(),
                "failed": report.failed.len(),
            });
            println!("{line}");
        } else {
            println!(
                "  concurrency {concurrency:>2}: {:>7.2} s, {:>6.0} refreshes/s, CPU {cpu:.2} s (refreshed {}, failed {}, reauthorize {}, calls {calls})",
                elapsed.as_secs_f64(),
                report.refreshed.len() as f64 / elapsed.as_secs_f64(),
                report.refreshed.len(),
                report.failed.len(),
                report.reauthorization_required.len(),
            );
        }
        if report.refreshed.len() != sellers || calls != sellers as u64 {
            return Err(
                format!("expected {sellers} refreshes: {:?}", report.failed.first()).into(),
            );
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = args();
    let json = args.iter().any(|a| a == "--json");
    args.retain(|a| a != "--json");
    let mut args = args.into_iter();
    let sellers = args.next().map_or(Ok(10_000), |s| s.parse())?;
    let kinds = match args.next() {
        Some(kind) => vec![kind],
        None => vec!["memory".to_owned(), "file".to_owned()],
    };
    let concurrencies = match args.next() {
        Some(list) => numbers(&list)?,
        None => vec![1, 8, 32],
    };
    for kind in kinds {
        run(&kind, sellers, &concurrencies, json)?;
    }
    Ok(())
}
