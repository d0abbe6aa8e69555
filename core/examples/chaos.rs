//! A chaos run: sellers whose tokens `refresh_due` keeps alive through many virtual days on the
//! `iop-emulator` binary, refreshed by several worker processes sharing one token store, while
//! the emulator injects faults, a few sellers are revoked on purpose, and workers are SIGKILLed
//! and restarted at random moments.
//!
//! ```sh
//! cargo build -p iop-emulator && cargo run -p iop-core --example chaos -- \
//!     --emulator target/debug/iop-emulator --sellers 2000 --days 90 --workers 3
//! ```
//!
//! At the end the emulator is asked, for every seller, whether the stored access token and
//! refresh token are its current ones. Every seller must end in exactly one of:
//! - **alive**: both stored tokens are current;
//! - **revoked and reported**: revoked on purpose, and a worker reported that the seller must
//!   authorize again;
//! - **rotated token lost and reported**: the gateway rotated the seller's refresh token but the
//!   new one never reached the store: a worker was SIGKILLed between the answer and the save, or
//!   the answer came after the client's read timeout (a `delay` fault), the window no store can
//!   close; a later worker reported the seller, once, as needing authorization.
//!
//! Anything else is a **lost** seller (not working and not reported), and the run fails. The run
//! prints what it injected and what survived. The worker mode (`chaos worker …`) is this same
//! program, started by the run.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)] // a program that reports

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iop_core::{
    AppSecret, AuthCode, Client, Clock, FileStore, Gateway, RefreshDueOptions, TokenManager,
};

const APP_KEY: &str = "chaos-app";
const APP_SECRET: &str = "chaos-secret-0123456789";

/// The emulator's virtual clock, as last read: the manager decides what is due by it.
#[derive(Debug, Default)]
struct VirtualNow(AtomicI64);

impl Clock for VirtualNow {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0.load(Ordering::Relaxed).max(0) as u64)
    }
}

/// One request to the emulator's control API; the body of the answer.
fn control(base: &str, method: &str, path_and_query: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("emulator reachable");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "{method} {path_and_query}: {head}"
    );
    // A chunked answer: take the chunk data (the control API's answers are small).
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n..];
            rest = rest.strip_prefix("\r\n").unwrap_or(rest);
        }
        return out;
    }
    body.to_owned()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("control API answered {text:?}: {e}"))
}

fn virtual_now(base: &str) -> i64 {
    json(&control(base, "GET", "/_emulator/now"))["now_ms"]
        .as_i64()
        .expect("now_ms")
}

fn client(base: &str, clock: Arc<VirtualNow>) -> Arc<Client> {
    let gateway = Gateway::new(base).expect("loopback gateway");
    Arc::new(
        Client::builder(APP_KEY, AppSecret::new(APP_SECRET), gateway)
            .timeouts(Duration::from_millis(1000), Duration::from_millis(1000))
            .clock(clock)
            .build()
            .expect("client"),
    )
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(args: &[String], name: &str, default: u64) -> u64 {
    arg(args, name).map_or(default, |v| v.parse().expect(name))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        worker(&args);
    } else {
        run(&args);
    }
}

/// A worker process: `refresh_due` over the shared store, again and again, by the emulator's
/// clock; reports sellers that must authorize again (one line each, appended) and its progress.
fn worker(args: &[String]) {
    let base = arg(args, "--url").expect("--url");
    let dir = PathBuf::from(arg(args, "--store").expect("--store"));
    let id = arg(args, "--id").expect("--id");
    let clock = Arc::new(VirtualNow::default());
    let store = Arc::new(FileStore::open(&dir).expect("store"));
    let manager = TokenManager::new(client(&base, Arc::clone(&clock)), store);
    let reports = dir.join(format!("../reports-{id}"));
    let progress = dir.join(format!("../progress-{id}"));
    let stop = dir.join("../stop");
    let mut passes = 0u64;
    while !stop.exists() {
        let now = virtual_now(&base);
        clock.0.store(now, Ordering::Relaxed);
        let report = manager
            .refresh_due(RefreshDueOptions::new(Duration::from_secs(3 * 86_400)).concurrency(8));
        if !report.reauthorization_required.is_empty() {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&reports)
                .expect("reports");
            for (key, _) in &report.reauthorization_required {
                writeln!(f, "{key}").expect("report");
            }
            f.sync_all().expect("sync");
        }
        passes += 1;
        let tmp = progress.with_extension("tmp");
        std::fs::write(&tmp, format!("{now} {passes} {}\n", report.failed.len()))
            .expect("progress");
        std::fs::rename(&tmp, &progress).expect("progress");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last pass of a worker: (virtual now it used, passes, failures in it).
fn progress_of(dir: &Path, id: usize) -> Option<(i64, u64, usize)> {
    let text = std::fs::read_to_string(dir.join(format!("progress-{id}"))).ok()?;
    let mut parts = text.split_whitespace();
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

struct Workers {
    exe: PathBuf,
    base: String,
    store: PathBuf,
    children: Vec<Child>,
}

impl Workers {
    fn spawn(&self, id: usize) -> Child {
        Command::new(&self.exe)
            .args([
                "worker",
                "--url",
                &self.base,
                "--id",
                &id.to_string(),
                "--store",
            ])
            .arg(&self.store)
            .stdin(Stdio::null())
            .spawn()
            .expect("worker")
    }
}

fn run(args: &[String]) {
    let emulator = arg(args, "--emulator").unwrap_or_else(|| "target/debug/iop-emulator".into());
    let sellers = num(args, "--sellers", 2000) as usize;
    let days = num(args, "--days", 90) as i64;
    let workers_n = num(args, "--workers", 3) as usize;
    let seed = num(args, "--seed", 1);
    // Per 12-hour step: faults injected, chance (percent) of a worker kill.
    let faults_per_step = num(args, "--faults-per-step", 12);
    let kill_percent = num(args, "--kill-percent", 35);
    let revokes = num(args, "--revoke", (sellers as u64 / 200).max(3)) as usize;
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();

    let work = tempfile::tempdir().expect("temp dir");
    let store_dir = work.path().join("store");
    // The emulator binary, on a free loopback port, its secret from the environment.
    let mut emu = Command::new(&emulator)
        .args(["--listen", "127.0.0.1:0", "--app-key", APP_KEY])
        .env("IOP_EMULATOR_APP_SECRET", APP_SECRET)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {emulator}: {e}"));
    let mut first = String::new();
    BufReader::new(emu.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("emulator URL");
    let base = first.trim().to_owned();
    println!(
        "chaos: emulator {base}, {sellers} sellers, {days} days, {workers_n} workers, seed {seed}"
    );

    // Every seller authorizes once; the tokens go into the shared store.
    let clock = Arc::new(VirtualNow::default());
    clock.0.store(virtual_now(&base), Ordering::Relaxed);
    let store = Arc::new(FileStore::open(&store_dir).expect("store"));
    let manager = TokenManager::new(client(&base, Arc::clone(&clock)), store);
    // Sellers authorize over 20 virtual days, so their tokens come due on different days.
    let per_day = sellers.div_ceil(20).max(1);
    for i in 0..sellers {
        if i > 0 && i % per_day == 0 {
            control(&base, "POST", "/_emulator/advance?seconds=86400");
            clock.0.store(virtual_now(&base), Ordering::Relaxed);
        }
        let seller = format!("seller-{i}");
        let code = json(&control(
            &base,
            "POST",
            &format!("/_emulator/authorize?seller_id={seller}"),
        ))["code"]
            .as_str()
            .expect("code")
            .to_owned();
        let token = manager
            .client()
            .create_token(&AuthCode::new(code), None)
            .expect("create");
        manager.put(&seller, &token).expect("put");
    }
    println!(
        "chaos: {sellers} sellers authorized in {:.1?}",
        started.elapsed()
    );

    let exe = std::env::current_exe().expect("exe");
    let mut workers = Workers {
        exe,
        base: base.clone(),
        store: store_dir.clone(),
        children: Vec::new(),
    };
    for id in 0..workers_n {
        let child = workers.spawn(id);
        workers.children.push(child);
    }

    let kinds = [
        "reset",
        "http500",
        "html502",
        "truncated",
        "delay",
        "rate_limit",
    ];
    let mut injected: BTreeMap<&str, u64> = BTreeMap::new();
    let mut kills = 0u64;
    let mut revoked: BTreeSet<String> = BTreeSet::new();
    // Revoked early enough that every revoked seller's token comes due (and is reported)
    // before the end: access tokens live 30 days.
    assert!(
        days > 31,
        "--days must be more than 31 (an access token's life)"
    );
    let revoke_steps: BTreeSet<i64> = (0..revokes)
        .map(|_| rng.i64(1..((days - 31) * 2).max(2)))
        .collect();
    for step in 0..days * 2 {
        for _ in 0..faults_per_step {
            let kind = kinds[rng.usize(..kinds.len())];
            let extra = match kind {
                "delay" => "&ms=1500",
                "rate_limit" => "&ban=1",
                _ => "",
            };
            control(
                &base,
                "POST",
                &format!("/_emulator/fault?kind={kind}&times=1&api=/auth/token/refresh{extra}"),
            );
            *injected.entry(kind).or_insert(0) += 1;
        }
        if revoke_steps.contains(&step) {
            let n = revokes.div_ceil(revoke_steps.len().max(1));
            for _ in 0..n {
                let seller = format!("seller-{}", rng.usize(..sellers));
                if revoked.len() < revokes && revoked.insert(seller.clone()) {
                    control(
                        &base,
                        "POST",
                        &format!("/_emulator/revoke?seller_id={seller}"),
                    );
                }
            }
        }
        control(&base, "POST", "/_emulator/advance?seconds=43200");
        let target = virtual_now(&base);
        // At random moments, one worker is killed and a new one started in its place.
        if rng.u64(0..100) < kill_percent {
            std::thread::sleep(Duration::from_millis(rng.u64(0..150)));
            let id = rng.usize(..workers_n);
            let child = &mut workers.children[id];
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            kills += 1;
            let fresh = workers.spawn(id);
            workers.children[id] = fresh;
        }
        // Each worker finishes a pass that began after the advance (it reads the clock first)
        // with no failure left, or 30 s pass.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let done = (0..workers_n).all(
                |id| matches!(progress_of(work.path(), id), Some((now, _, 0)) if now >= target),
            );
            if done || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    std::fs::write(work.path().join("stop"), b"").expect("stop");
    for child in &mut workers.children {
        let _ = child.wait();
    }
    control(&base, "POST", "/_emulator/clear_faults");

    // Who was reported as needing authorization.
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for id in 0..workers_n {
        if let Ok(text) = std::fs::read_to_string(work.path().join(format!("reports-{id}"))) {
            reported.extend(text.lines().map(str::to_owned));
        }
    }
    // The invariant, asked of the emulator.
    let check = FileStore::open(&store_dir).expect("store");
    let (mut alive, mut revoked_reported, mut window_reported, mut lost) = (0, 0, 0, Vec::new());
    for i in 0..sellers {
        let seller = format!("seller-{i}");
        let record = iop_core::TokenStore::load(&check, &seller).expect("load");
        let token = record.map(|r| r.token);
        let current = token.as_ref().is_some_and(|t| {
            let access = t
                .access_token
                .as_ref()
                .map(|a| a.secret().to_owned())
                .unwrap_or_default();
            let refresh = t
                .refresh_token
                .as_ref()
                .map(|r| r.secret().to_owned())
                .unwrap_or_default();
            let q = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let answer = json(&control(
                &base,
                "GET",
                &format!(
                    "/_emulator/tokens?seller_id={seller}&access_token={}&refresh_token={}",
                    q(&access),
                    q(&refresh)
                ),
            ));
            answer["access_token_current"] == true && answer["refresh_token_current"] == true
        });
        if revoked.contains(&seller) {
            if reported.contains(&seller) {
                revoked_reported += 1;
            } else {
                lost.push(format!("{seller} (revoked, never reported)"));
            }
        } else if current {
            alive += 1;
        } else if reported.contains(&seller) {
            window_reported += 1;
        } else {
            lost.push(format!("{seller} (no working token, never reported)"));
        }
    }
    let _ = emu.kill();
    let _ = emu.wait();

    let total_faults: u64 = injected.values().sum();
    println!("chaos: {days} virtual days in {:.1?}", started.elapsed());
    println!("chaos: faults injected {total_faults} {injected:?}; workers killed {kills}");
    println!(
        "chaos: sellers {sellers}: alive {alive}, revoked {} (reported {revoked_reported}), \
         rotated token lost (answer never saved) and reported {window_reported}, lost {}",
        revoked.len(),
        lost.len()
    );
    for l in &lost {
        println!("chaos: LOST {l}");
    }
    if !lost.is_empty() {
        std::process::exit(1);
    }
    println!("chaos: 1 passed, 0 failed");
}
