//! Load measurement of the stores: round trips per second (load, save, lock + unlock) and
//! `refresh_due` over many sellers against the emulator at concurrency 8 and 32 from one
//! process, then from 4 processes sharing the store (each with concurrency 8, then 32).
//!
//! ```text
//! scripts/with-servers sh -c 'cargo bench -p iop-bench --bench store_load -- \
//!     10000 memory: /tmp/iop-bench-dir "$IOP_TEST_REDIS_URL" "$IOP_TEST_POSTGRES_URL"'
//! ```
//! Redis runs under a key prefix and PostgreSQL in a table of their own (`bench<pid>`), emptied
//! at the end. The 4 processes are this program run again (`--child`) against the parent's
//! emulator; the time is the parent's, from starting them to the last one's end. The memory
//! and file stores are not shared across processes this way (the file store's directory could
//! be, the memory store cannot): only Redis and PostgreSQL get the 4-process runs.
//!
//! `IOP_BENCH_ROUND_TRIPS=0` skips the round-trip rates.

#![allow(clippy::print_stdout)]

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iop_core::store::{PostgresOptions, PostgresStore};
use iop_core::store::{RedisOptions, RedisStore};
use iop_core::{AppSecret, Client, Gateway, RefreshDueOptions, TokenManager, TokenSet, TokenStore};
use iop_emulator::{Config, Emulator, VirtualClock};

const DAY: Duration = Duration::from_secs(86_400);

fn open(url: &str, ns: &str) -> Result<Arc<dyn TokenStore>, Box<dyn Error>> {
    let ns = ns.to_owned();
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
    let ns = format!("bench{}", std::process::id());
    let store = open(url, &ns)?;
    println!("store: {}, sellers: {sellers}", kind(url));
    let sample = TokenSet::from_value(emu.issue_token("sample"), emu.now())?;
    if std::env::var("IOP_BENCH_ROUND_TRIPS").as_deref() != Ok("0") {
        round_trips(&*store, &sample)?;
    }
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
    if matches!(kind(url), "redis" | "postgres") {
        for concurrency in [8, 32] {
            processes(&emu, url, &ns, sellers, 4, concurrency)?;
        }
    }
    for key in store.keys()? {
        store.remove(&key)?;
    }
    Ok(())
}

/// `refresh_due` from `count` processes at once, each with `concurrency` workers.
fn processes(
    emu: &Emulator,
    url: &str,
    ns: &str,
    sellers: usize,
    count: usize,
    concurrency: usize,
) -> Result<(), Box<dyn Error>> {
    emu.advance(28 * DAY);
    emu.reset_stats();
    let now_ms = emu.now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let started = Instant::now();
    let children = (0..count)
        .map(|_| {
            std::process::Command::new(std::env::current_exe()?)
                .args(["--child", url, ns, &concurrency.to_string()])
                .env("IOP_BENCH_EMU_URL", emu.url())
                .env("IOP_BENCH_EMU_KEY", emu.app_key())
                .env("IOP_BENCH_EMU_SECRET", emu.app_secret())
                .env("IOP_BENCH_EMU_NOW_MS", now_ms.to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut refreshed = 0;
    let mut failed = 0;
    for child in children {
        let output = child.wait_with_output()?;
        if !output.status.success() {
            return Err(format!("a child failed: {}", output.status).into());
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut numbers = text.split_whitespace().map(str::parse::<usize>);
        refreshed += numbers.next().ok_or("no output")??;
        failed += numbers.next().ok_or("no output")??;
    }
    let elapsed = started.elapsed();
    let calls = emu.stats().get("/auth/token/refresh").copied().unwrap_or(0);
    println!(
        "  refresh_due {count} processes x concurrency {concurrency:>2}: {:>7.2} s, {:>6.0} refreshes/s (refreshed {refreshed}, failed {failed}, calls {calls})",
        elapsed.as_secs_f64(),
        refreshed as f64 / elapsed.as_secs_f64(),
    );
    if refreshed != sellers || calls != sellers as u64 {
        return Err(format!("expected {sellers} refreshes across the processes").into());
    }
    Ok(())
}

/// A child of [`processes`]: `refresh_due` on the parent's emulator; prints "REFRESHED FAILED".
fn child(url: &str, ns: &str, concurrency: usize) -> Result<(), Box<dyn Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let now_ms: u64 = var("IOP_BENCH_EMU_NOW_MS")?.parse()?;
    let clock = VirtualClock::new(std::time::UNIX_EPOCH + Duration::from_millis(now_ms));
    let client = Client::builder(
        var("IOP_BENCH_EMU_KEY")?,
        AppSecret::new(var("IOP_BENCH_EMU_SECRET")?),
        Gateway::new(&var("IOP_BENCH_EMU_URL")?)?,
    )
    .clock(Arc::new(clock))
    .build()?;
    let manager = TokenManager::new(Arc::new(client), open(url, ns)?);
    let report = manager.refresh_due(RefreshDueOptions::new(3 * DAY).concurrency(concurrency));
    if let Some((key, _, message)) = report.failed.first() {
        eprintln!("child: {key}: {message}");
    }
    println!("{} {}", report.refreshed.len(), report.failed.len());
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = iop_bench::args();
    if let [flag, url, ns, concurrency] = args.as_slice()
        && flag == "--child"
    {
        return child(url, ns, concurrency.parse()?);
    }
    let mut args = args.into_iter();
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
