//! Refresh round trips through one shared `Client`: refreshes per second, the p50 and p99 of one
//! `refresh_token` call (sign, send over the pooled connection, parse the token set) and the
//! client's CPU per refresh, for each thread count.
//!
//! ```sh
//! cargo bench -p iop-bench --bench refresh_load -- [--url URL] [--threads 1,8] [--refreshes N] [--json]
//! ```
//!
//! Without `--url` the emulator runs in this process (8 threads, refresh-token rotation on), so
//! the CPU figure counts the emulator's work too. With `--url` it is an `iop-emulator` running
//! elsewhere (`make bench` starts one `--no-rotate`), whose app key and secret come from
//! `IOP_APP_KEY` and `IOP_APP_SECRET` (default: the emulator's own defaults), never from the
//! command line; then the CPU figure is the client's alone, and `strace -f -c` on this program
//! counts the client's system calls per refresh.
//!
//! Each thread authorizes a seller of its own through the emulator's control API and chains its
//! refresh tokens. Every run makes `--refreshes` refreshes (default 4000; split between the
//! threads) after a warm-up of 200. `--json` prints one JSON object per run instead of a table.

#![allow(clippy::print_stdout)] // a benchmark program reports on stdout

use std::error::Error;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use iop_bench::{args, cpu_time, numbers, percentile};
use iop_core::{
    AppSecret, AuthCode, Client, Gateway, HttpConfig, HttpTransport, RefreshToken, RetryPolicy,
    Transport,
};
use iop_emulator::{Config, Emulator};

/// Where the refreshes go: an emulator in this process, or one at a URL.
enum Target {
    InProcess(Emulator),
    Url {
        url: String,
        control: Box<HttpTransport>,
    },
}

impl Target {
    fn url(&self) -> String {
        match self {
            Target::InProcess(emulator) => emulator.url(),
            Target::Url { url, .. } => url.clone(),
        }
    }

    /// An authorization code for `seller` from the emulator.
    fn authorize(&self, seller: &str) -> Result<String, Box<dyn Error>> {
        match self {
            Target::InProcess(emulator) => Ok(emulator.authorize(seller)),
            Target::Url { url, control } => {
                let answer = control.send(
                    http::Request::post(format!("{url}/_emulator/authorize?seller_id={seller}"))
                        .body(Vec::new())?,
                )?;
                let body: serde_json::Value = serde_json::from_slice(answer.body())?;
                Ok(body["code"]
                    .as_str()
                    .ok_or("no code from the emulator")?
                    .to_owned())
            }
        }
    }
}

struct Run {
    threads: usize,
    wall: Duration,
    cpu: Option<Duration>,
    latencies: Vec<Duration>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut url = None;
    let mut threads = vec![1, 8];
    let mut total = 4000;
    let mut json = false;
    let mut args = args().into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = Some(args.next().ok_or("--url needs a value")?),
            "--threads" => threads = numbers(&args.next().ok_or("--threads needs a value")?)?,
            "--refreshes" => total = args.next().ok_or("--refreshes needs a value")?.parse()?,
            "--json" => json = true,
            other => return Err(format!("unknown argument {other:?} (see the file's doc)").into()),
        }
    }
    if threads.contains(&0) || total == 0 {
        return Err("thread counts and --refreshes must be greater than 0".into());
    }

    let (target, app_key, app_secret) = match url {
        None => {
            let emulator = Emulator::start(Config {
                threads: 8,
                ..Config::default()
            })?;
            let key = emulator.app_key().to_owned();
            let secret = emulator.app_secret().to_owned();
            (Target::InProcess(emulator), key, secret)
        }
        Some(url) => {
            let env = |name: &str, default: &str| {
                std::env::var(name).unwrap_or_else(|_| default.to_owned())
            };
            let control = Box::new(HttpTransport::new(HttpConfig::default())?);
            (
                Target::Url { url, control },
                env("IOP_APP_KEY", "test-app-key"),
                env("IOP_APP_SECRET", "test-app-secret"),
            )
        }
    };
    let client = Arc::new(
        Client::builder(
            app_key,
            AppSecret::new(app_secret),
            Gateway::new(&target.url())?,
        )
        // A failure must show, not be hidden by a retry.
        .retry(RetryPolicy::none())
        .build()?,
    );

    let mut runs = Vec::new();
    for &count in &threads {
        runs.push(run(&target, &client, count, total)?);
    }

    let where_ = match &target {
        Target::InProcess(_) => "an in-process iop-emulator (its CPU counted with the client's)",
        Target::Url { .. } => "an iop-emulator in another process",
    };
    if !json {
        println!("refresh_token over loopback against {where_}, one shared Client");
        println!();
        println!(
            "| threads | refreshes | wall s | refreshes/s | p50 ms | p99 ms | CPU per refresh µs |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|");
    }
    for r in &runs {
        let mut sorted = r.latencies.clone();
        sorted.sort();
        let n = r.latencies.len() as f64;
        let wall = r.wall.as_secs_f64();
        let p50 = percentile(&sorted, 0.50).as_secs_f64();
        let p99 = percentile(&sorted, 0.99).as_secs_f64();
        let cpu_us = r.cpu.map(|c| c.as_secs_f64() * 1e6 / n);
        if json {
            let line = serde_json::json!({
                "threads": r.threads,
                "refreshes": r.latencies.len(),
                "wall_s": wall,
                "per_s": n / wall,
                "p50_us": p50 * 1e6,
                "p99_us": p99 * 1e6,
                "cpu_us_per_refresh": cpu_us,
            });
            println!("{line}");
        } else {
            println!(
                "| {} | {} | {wall:.2} | {:.0} | {:.3} | {:.3} | {} |",
                r.threads,
                r.latencies.len(),
                n / wall,
                p50 * 1e3,
                p99 * 1e3,
                cpu_us.map_or_else(|| "?".to_owned(), |c| format!("{c:.0}")),
            );
        }
    }
    if let (Target::InProcess(emulator), false) = (&target, json) {
        println!();
        println!(
            "emulator counted {} refreshes (warm-up included)",
            emulator
                .stats()
                .get("/auth/token/refresh")
                .copied()
                .unwrap_or(0)
        );
    }
    Ok(())
}

/// `threads` threads share `client`; each creates a token for its own seller, warms up, then
/// chains `total / threads` refreshes, timing each.
fn run(
    target: &Target,
    client: &Arc<Client>,
    threads: usize,
    total: usize,
) -> Result<Run, Box<dyn Error>> {
    let per_thread = (total / threads).max(1);
    let warm_up = 200 / threads;
    let mut starts = Vec::new();
    for t in 0..threads {
        let code = AuthCode::new(target.authorize(&format!("load-{threads}-{t}"))?);
        let tokens = client.create_token(&code, None)?;
        starts.push(tokens.refresh_token.ok_or("no refresh token")?);
    }
    let barrier = Arc::new(Barrier::new(threads + 1));
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
    let cpu_before = cpu_time();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(per_thread * threads);
    let mut failure = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(thread_latencies)) => latencies.extend(thread_latencies),
            Ok(Err(e)) => failure = Some(format!("a refresh failed: {e}")),
            Err(_) => failure = Some("a load thread panicked".to_owned()),
        }
    }
    let wall = started.elapsed();
    let cpu = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    if let Some(failure) = failure {
        return Err(failure.into());
    }
    Ok(Run {
        threads,
        wall,
        cpu,
        latencies,
    })
}
