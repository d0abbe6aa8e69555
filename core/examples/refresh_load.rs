//! Refresh round trips per second over loopback against an in-process `iop-emulator`, with 1 and
//! 8 threads sharing one `Client`, and the p50/p99 latency of one `refresh_token` call (sign,
//! send over the pooled connection, parse the token set).
//!
//! ```sh
//! cargo run --release -p iop-core --example refresh_load [-- REFRESHES_PER_RUN]
//! ```
//!
//! Each thread chains its own seller's refresh tokens (rotation stays on, as on the gateway).
//! Every run is bounded by its count (default 4000 refreshes, after 200 warm-up ones), and the
//! emulator listens on 127.0.0.1 only. The emulator runs in the same process and shares the CPUs.

#![allow(clippy::print_stdout)] // a benchmark program reports on stdout

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use iop_core::{AppSecret, AuthCode, Client, Gateway, RefreshToken, RetryPolicy};
use iop_emulator::{Config, Emulator};

struct Run {
    threads: usize,
    refreshes: usize,
    wall: Duration,
    latencies: Vec<Duration>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 4000,
    };
    let emulator = Emulator::start(Config {
        threads: 8,
        ..Config::default()
    })?;
    let client = Arc::new(
        Client::builder(
            emulator.app_key(),
            AppSecret::new(emulator.app_secret()),
            Gateway::new(&emulator.url())?,
        )
        // A failure must show, not be hidden by a retry.
        .retry(RetryPolicy::none())
        .build()?,
    );

    let mut runs = Vec::new();
    for threads in [1, 8] {
        runs.push(run(&emulator, &client, threads, total)?);
    }

    println!(
        "refresh_token over loopback against iop-emulator, one shared Client, {total} refreshes per run"
    );
    println!();
    println!("| threads | refreshes | wall s | refreshes/s | p50 ms | p99 ms |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        let mut sorted = r.latencies.clone();
        sorted.sort();
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.3} | {:.3} |",
            r.threads,
            r.refreshes,
            r.wall.as_secs_f64(),
            r.refreshes as f64 / r.wall.as_secs_f64(),
            percentile(&sorted, 0.50).as_secs_f64() * 1e3,
            percentile(&sorted, 0.99).as_secs_f64() * 1e3,
        );
    }
    let stats = emulator.stats();
    println!();
    println!(
        "emulator counted {} refreshes (warm-up included)",
        stats.get("/auth/token/refresh").copied().unwrap_or(0)
    );
    Ok(())
}

/// `threads` threads share `client`; each creates a token for its own seller, warms up, then
/// chains `total / threads` refreshes, timing each.
fn run(
    emulator: &Emulator,
    client: &Arc<Client>,
    threads: usize,
    total: usize,
) -> Result<Run, Box<dyn std::error::Error>> {
    let per_thread = total / threads;
    let warm_up = 200 / threads;
    let mut starts = Vec::new();
    for t in 0..threads {
        let code = AuthCode::new(emulator.authorize(&format!("load-{threads}-{t}")));
        let tokens = client.create_token(&code, None)?;
        starts.push(tokens.refresh_token.ok_or("no refresh token")?);
    }
    let barrier = Arc::new(std::sync::Barrier::new(threads + 1));
    let handles: Vec<_> = starts
        .into_iter()
        .map(|mut refresh| {
            let client = client.clone();
            let barrier = barrier.clone();
            thread::spawn(move || -> Result<Vec<Duration>, String> {
                let step = |refresh: &RefreshToken| -> Result<RefreshToken, String> {
                    client
                        .refresh_token(refresh)
                        .map_err(|e| e.to_string())?
                        .refresh_token
                        .ok_or_else(|| "no refresh token".to_owned())
                };
                let warmed = (0..warm_up).try_for_each(|_| {
                    refresh = step(&refresh)?;
                    Ok::<(), String>(())
                });
                // Reached whatever happened, so the main thread never waits forever.
                barrier.wait();
                warmed?;
                let mut latencies = Vec::with_capacity(per_thread);
                for _ in 0..per_thread {
                    let started = Instant::now();
                    refresh = step(&refresh)?;
                    latencies.push(started.elapsed());
                }
                Ok(latencies)
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(total);
    for handle in handles {
        let thread_latencies = handle
            .join()
            .map_err(|_| "a load thread panicked")?
            .map_err(|e| format!("a refresh failed: {e}"))?;
        latencies.extend(thread_latencies);
    }
    let wall = started.elapsed();
    Ok(Run {
        threads,
        refreshes: latencies.len(),
        wall,
        latencies,
    })
}

/// The `q` quantile of sorted `values` (nearest rank).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
