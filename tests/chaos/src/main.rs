//! A chaos run: sellers whose tokens `refresh_due` keeps alive through many virtual days on the
//! `iop-emulator` binary, refreshed by several worker processes sharing one token store, while
//! the emulator injects faults, a few sellers are revoked on purpose, workers are SIGKILLed and
//! restarted at random moments, and (for a store that is a server) the server is stopped and
//! started again mid-run.
//!
//! ```sh
//! cargo build -p iop-emulator -p iop-chaos && target/debug/chaos \
//!     --emulator target/debug/iop-emulator --sellers 2000 --days 90 --workers 3
//! # the same on Redis and PostgreSQL, with outages (scripts/with-servers starts both):
//! scripts/with-servers sh -c 'target/debug/chaos --emulator target/debug/iop-emulator \
//!     --store "$IOP_TEST_REDIS_URL" --outage "$IOP_TEST_REDIS_RESTART"'
//! # or every store side by side, as `make chaos` and the test script do:
//! scripts/chaos target/debug/chaos target/debug/iop-emulator "file redis postgres" \
//!     --sellers 200 --days 40
//! ```
//!
//! A test with a verdict, not a benchmark: it lives beside the other tests (tests/chaos), and its
//! figures (faults met, time taken) describe the run, not a speed to compare.
//!
//! `--store` names the shared store as [`iop_core::store::open`] does: a directory (the default:
//! a temporary one), `redis://…` or `postgres://…`. The
//! run keeps its sellers apart from anything else there: a subdirectory, a Redis key prefix or a
//! PostgreSQL table of its own (`chaos<pid>`), emptied at the end. `--outage CMD` names a
//! command that stops (`CMD stop`) and starts (`CMD start`) the store's server; at random steps
//! (`--outage-percent`, default 20) the server is down for up to `--outage-max-ms` (default
//! 3000, under the stores' 10 s save retry) while the workers refresh. `--lease-ms N` sets the
//! Redis lease (default 30 s: a worker killed while it holds one blocks that seller that long);
//! `--read-timeout-ms N` the client's read timeout (default 1000, under the 1.5 s `delay`
//! faults; with the library's default of 30 s those faults only slow a refresh down);
//! `--keep` keeps the run's records (the workers' logs, reports, the run's events), which a
//! failed run always keeps.
//!
//! At the end the emulator is asked, for every seller, whether the stored access token and
//! refresh token are its current ones. Every seller must end in exactly one of:
//! - **alive**: both stored tokens are current;
//! - **revoked and reported**: revoked on purpose, and a worker reported that the seller must
//!   authorize again;
//! - **rotated token lost and reported**: the gateway rotated the seller's refresh token but the
//!   new one never reached the store: a worker was SIGKILLed between the answer and the save, the
//!   answer came after the client's read timeout (a `delay` fault), the window no store can
//!   close, or the store stayed unreachable longer than the save retry; a later worker reported
//!   the seller, once, as needing authorization.
//!
//! Anything else is a **lost** seller (not working and not reported), and the run fails; so does
//! any panic in a worker or a worker that exits by itself. The run prints what it injected, the
//! store errors the workers met, and what survived. The worker mode (`chaos worker …`) is this
//! same program, started by the run.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)] // a program that reports

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iop_core::store::StoreLocation;
use iop_core::{
    AppSecret, AuthCode, Client, Clock, Gateway, RefreshDueOptions, TokenManager, TokenStore,
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

/// The client's read timeout, `--read-timeout-ms` (default 1000: shorter than the `delay`
/// faults' 1.5 s, so that a refresh answered after the client gave up is part of the run).
fn read_timeout(args: &[String]) -> Duration {
    Duration::from_millis(num(args, "--read-timeout-ms", 1000))
}

fn client(base: &str, clock: Arc<VirtualNow>, read: Duration) -> Arc<Client> {
    let gateway = Gateway::new(base).expect("loopback gateway");
    Arc::new(
        Client::builder(APP_KEY, AppSecret::new(APP_SECRET), gateway)
            .timeouts(Duration::from_millis(1000), read)
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

/// What kind of store `url` names: `file`, `redis` or `postgres`.
/// What kind of store `url` names ("file", "redis", "postgres"), as the one store-string parser
/// decides ("other" for what it refuses or `memory:`).
fn store_kind(url: &str) -> &'static str {
    match iop_core::store::parse(url) {
        Ok(StoreLocation::Redis(_)) => "redis",
        Ok(StoreLocation::Postgres(_)) => "postgres",
        Ok(StoreLocation::Directory(_)) => "file",
        _ => "other",
    }
}

/// Opens the shared store named by `url` under the run's namespace `ns`: the subdirectory `ns`
/// of a directory, the Redis key prefix `ns:`, the PostgreSQL table `ns`.
/// `lease` (Redis only): the lease of a seller's lock, `None` for the store's default.
fn open_store(
    url: &str,
    ns: &str,
    lease: Option<Duration>,
) -> iop_core::Result<Arc<dyn TokenStore>> {
    match store_kind(url) {
        "redis" => {
            let defaults = iop_core::store::RedisOptions::default();
            Ok(Arc::new(iop_core::store::RedisStore::open_with(
                url,
                iop_core::store::RedisOptions {
                    prefix: format!("{ns}:"),
                    lease: lease.unwrap_or(defaults.lease),
                    ..defaults
                },
            )?))
        }
        "postgres" => Ok(Arc::new(iop_core::store::PostgresStore::open_with(
            url,
            iop_core::store::PostgresOptions {
                table: ns.to_owned(),
                ..Default::default()
            },
        )?)),
        "file" => match iop_core::store::parse(url)? {
            StoreLocation::Directory(dir) => {
                Ok(Arc::new(iop_core::FileStore::open(dir.join(ns))?) as Arc<dyn TokenStore>)
            }
            other => other.open(),
        },
        _ => iop_core::store::open(url),
    }
}

/// Appends `line` to `path` in one write (a worker may be killed at any moment: what it wrote is
/// in the file, whole lines only).
fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(format!("{line}\n").as_bytes()).expect("append");
}

/// Wall-clock milliseconds, to line up the workers' logs with the run's events.
fn wall_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// The lines of a worker's record (none when it was never written).
fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A worker's log: the library's records (each refresh, each save, a refreshed token it could
/// not save, a lease lost), wall-clock stamped, appended to a file, one line each.
struct WorkerLog {
    path: PathBuf,
    id: String,
    lock: Mutex<()>,
}

impl log::Log for WorkerLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // The manager and stores at debug level (each refresh), the client's failures.
        let target = metadata.target();
        (target.starts_with("iop_core") && metadata.level() <= log::Level::Debug)
            || (target.starts_with("iop::") && metadata.level() <= log::Level::Info)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            // `worker.thread`: which thread of the worker (a refresh and its call share one).
            let thread = format!("{:?}", std::thread::current().id());
            let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
            let line = format!(
                "{} worker {}.{thread} {} {}",
                wall_ms(),
                self.id,
                record.level(),
                record.args()
            );
            append(&self.path, &line.replace('\n', " "));
        }
    }

    fn flush(&self) {}
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        worker(&args);
    } else {
        run(&args);
    }
}

/// The marker of a refreshed token set that never reached the store, in the manager's log.
const UNSAVED: &str = "was refreshed but could not be saved";

/// A worker process: `refresh_due` over the shared store, again and again, by the emulator's
/// clock; reports sellers that must authorize again (one line each, appended), the store errors
/// it met, and its progress. Store errors (a server down) never stop it: it opens the store
/// again until it can, and its next pass retries what failed.
fn worker(args: &[String]) {
    let base = arg(args, "--url").expect("--url");
    let url = arg(args, "--store").expect("--store");
    let ns = arg(args, "--ns").expect("--ns");
    let work = PathBuf::from(arg(args, "--work").expect("--work"));
    let id = arg(args, "--id").expect("--id");
    let lease = arg(args, "--lease-ms").map(|ms| Duration::from_millis(ms.parse().expect("ms")));
    // Every panic, in any thread, is recorded before the process dies of it.
    let panics = work.join("panics");
    let worker_id = id.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        append(
            &panics,
            &format!("worker {worker_id}: {info}").replace('\n', " "),
        );
        default_hook(info);
    }));
    let logger: &'static WorkerLog = Box::leak(Box::new(WorkerLog {
        path: work.join(format!("log-{id}")),
        id: id.clone(),
        lock: Mutex::new(()),
    }));
    log::set_logger(logger).expect("logger");
    log::set_max_level(log::LevelFilter::Debug);

    let reports = work.join(format!("reports-{id}"));
    let store_errors = work.join(format!("store-errors-{id}"));
    let progress = work.join(format!("progress-{id}"));
    let stop = work.join("stop");
    let store = loop {
        match open_store(&url, &ns, lease) {
            Ok(store) => break store,
            Err(error) => {
                append(&store_errors, &format!("1\topen: {error}"));
                if stop.exists() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    let clock = Arc::new(VirtualNow::default());
    let manager = TokenManager::new(client(&base, Arc::clone(&clock), read_timeout(args)), store);
    let mut passes = 0u64;
    // Sellers this process has reported already: each once.
    let mut reported: BTreeSet<String> = BTreeSet::new();
    while !stop.exists() {
        let now = virtual_now(&base);
        clock.0.store(now, Ordering::Relaxed);
        let report = manager
            .refresh_due(RefreshDueOptions::new(Duration::from_secs(3 * 86_400)).concurrency(8));
        let new: Vec<&str> = report
            .reauthorization_required
            .iter()
            .map(|(key, _)| key.as_str())
            .filter(|key| reported.insert((*key).to_owned()))
            .collect();
        if !new.is_empty() {
            append(&reports, &new.join("\n"));
        }
        // Store errors of this pass: how many, and the first one's message (no secret in it).
        let errors: Vec<&String> = report
            .failed
            .iter()
            .map(|(_, _, message)| message)
            .filter(|message| message.starts_with("token store"))
            .collect();
        if let Some(first) = errors.first() {
            append(&store_errors, &format!("{}\t{first}", errors.len()));
        }
        // Every failure, in the log (for the timeline of a lost seller).
        for (key, class, message) in &report.failed {
            append(
                &logger.path,
                &format!(
                    "{} worker {id} FAILED {key}: {class:?}: {message}",
                    wall_ms()
                ),
            );
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
    store: String,
    ns: String,
    lease_ms: Option<String>,
    read_timeout_ms: Option<String>,
    work: PathBuf,
    children: Vec<Child>,
}

impl Workers {
    fn spawn(&self, id: usize) -> Child {
        let mut command = Command::new(&self.exe);
        command
            .args(["worker", "--url", &self.base, "--id", &id.to_string()])
            .args(["--store", &self.store, "--ns", &self.ns, "--work"])
            .arg(&self.work)
            .stdin(Stdio::null());
        if let Some(ms) = &self.lease_ms {
            command.args(["--lease-ms", ms]);
        }
        if let Some(ms) = &self.read_timeout_ms {
            command.args(["--read-timeout-ms", ms]);
        }
        command.spawn().expect("worker")
    }

    /// Waits until every worker has finished a pass that began at `target` (virtual) or later
    /// with no failure, or `patience` has passed; whether they all did.
    fn wait_for_clean_pass(&self, target: i64, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            let done = (0..self.children.len()).all(
                |id| matches!(progress_of(&self.work, id), Some((now, _, 0)) if now >= target),
            );
            if done {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Records one of the run's events (`events` in the work directory), wall-clock stamped.
fn event(work: &Path, what: &str) {
    append(&work.join("events"), &format!("{} run {what}", wall_ms()));
}

/// Whether `line` names `seller` (`seller-3`, not `seller-30`).
fn names(line: &str, seller: &str) -> bool {
    line.match_indices(seller).any(|(at, _)| {
        !line[at + seller.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// Why `seller` lost its rotated refresh token, read from the run's timeline: what happened to
/// the last refresh of it that did not end in a saved token set, before a worker first reported
/// it. Only a `delay` fault lets the emulator answer (and rotate) at all among the injected
/// faults, so a failed refresh that was not a timeout rotated nothing.
fn loss_cause(timeline: &[String], seller: &str) -> &'static str {
    const KILL: &str = "a worker SIGKILLed before it saved";
    const TIMEOUT: &str = "an answer after the client's read timeout";
    // The threads (`worker.thread`) with a refresh of the seller in flight.
    let mut in_flight: BTreeSet<&str> = BTreeSet::new();
    let mut cause = "unknown";
    for line in timeline {
        let parts: Vec<&str> = line.splitn(5, ' ').collect();
        let [_, kind, who, what, rest] = parts[..] else {
            continue;
        };
        let of_worker = |thread: &&str, id: &str| thread.split('.').next() == Some(id);
        if kind == "run" {
            // "<ms> run worker <id> SIGKILLed"
            let before = in_flight.len();
            if who == "worker" && rest == "SIGKILLed" {
                in_flight.retain(|thread| !of_worker(thread, what));
            }
            if in_flight.len() < before {
                cause = KILL;
            }
            continue;
        }
        if kind != "worker" {
            continue;
        }
        if what == "FAILED" {
            // The worker's summary of a pass (`who` is the worker): a refresh that timed out.
            let before = in_flight.len();
            if names(line, seller) && rest.contains("timed out") {
                in_flight.retain(|thread| !of_worker(thread, who));
            }
            if in_flight.len() < before {
                cause = TIMEOUT;
            }
            continue;
        }
        if !names(line, seller) {
            // The client's line about the call, on the thread that refreshes the seller.
            if rest.contains("api=/auth/token/refresh")
                && rest.contains("error=timed out")
                && in_flight.remove(who)
            {
                cause = TIMEOUT;
            }
            continue;
        }
        if rest.starts_with("refreshing the token of") {
            in_flight.insert(who);
        } else if rest.starts_with("refreshed the token of") {
            in_flight.remove(who);
            cause = "unknown";
        } else if what == "ERROR" && rest.contains(UNSAVED) && in_flight.remove(who) {
            cause = "a save that failed (store unreachable)";
        } else if what == "WARN" && rest.contains("must authorize again") {
            return cause;
        }
    }
    cause
}

/// A store outage: `cmd stop`, `down` later `cmd start` (which returns once the server answers).
/// The time the server was unreachable.
fn outage(work: &Path, cmd: &str, down: Duration) -> Duration {
    event(work, "store outage: stopping the server");
    let started = Instant::now();
    let status = Command::new(cmd)
        .arg("stop")
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd} stop: {e}"));
    assert!(status.success(), "{cmd} stop: {status}");
    event(work, "store outage: server stopped");
    std::thread::sleep(down);
    let status = Command::new(cmd)
        .arg("start")
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd} start: {e}"));
    assert!(status.success(), "{cmd} start: {status}");
    event(work, "store outage: server answering again");
    started.elapsed()
}

fn run(args: &[String]) {
    let emulator = arg(args, "--emulator").unwrap_or_else(|| "target/debug/iop-emulator".into());
    let sellers = num(args, "--sellers", 2000) as usize;
    let days = num(args, "--days", 90) as i64;
    let workers_n = num(args, "--workers", 3) as usize;
    let seed = num(args, "--seed", 1);
    // Per 12-hour step: faults injected, chance (percent) of a worker kill, of a store outage.
    let faults_per_step = num(args, "--faults-per-step", 12);
    let kill_percent = num(args, "--kill-percent", 35);
    let outage_cmd = arg(args, "--outage").filter(|cmd| !cmd.is_empty());
    let outage_percent = num(args, "--outage-percent", 20);
    let outage_max_ms = num(args, "--outage-max-ms", 3000).max(1);
    let revokes = num(args, "--revoke", (sellers as u64 / 200).max(3)) as usize;
    let lease_ms = arg(args, "--lease-ms");
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();

    let work = tempfile::tempdir().expect("temp dir");
    let store_url = arg(args, "--store")
        .unwrap_or_else(|| work.path().join("stores").to_string_lossy().into_owned());
    let kind = store_kind(&store_url);
    // The run's own namespace in the store (directory, key prefix, table).
    let ns = format!("chaos{}", std::process::id());
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
        "chaos: emulator {base}, {sellers} sellers, {days} days, {workers_n} workers, seed {seed}, \
         {kind} store ({ns}){}",
        if outage_cmd.is_some() {
            format!(", store outages at {outage_percent}% of steps, up to {outage_max_ms} ms")
        } else {
            String::new()
        }
    );

    // Every seller authorizes once; the tokens go into the shared store.
    let clock = Arc::new(VirtualNow::default());
    clock.0.store(virtual_now(&base), Ordering::Relaxed);
    let store = open_store(&store_url, &ns, None)
        .unwrap_or_else(|e| panic!("cannot open the {kind} store: {e}"));
    let manager = TokenManager::new(
        client(&base, Arc::clone(&clock), read_timeout(args)),
        Arc::clone(&store),
    );
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
    drop(manager);
    println!(
        "chaos: {sellers} sellers authorized in {:.1?}",
        started.elapsed()
    );

    let exe = std::env::current_exe().expect("exe");
    let mut workers = Workers {
        exe,
        base: base.clone(),
        store: store_url.clone(),
        ns: ns.clone(),
        lease_ms,
        read_timeout_ms: arg(args, "--read-timeout-ms"),
        work: work.path().to_owned(),
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
    let (mut kills, mut exits) = (0u64, Vec::new());
    let (mut outages, mut downtime) = (0u64, Duration::ZERO);
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
        event(
            work.path(),
            &format!("step {step}: clock advanced to {target}"),
        );
        // At random moments the store's server goes down while the workers refresh, and comes
        // back (in a thread of its own, so that a worker kill may fall inside the outage).
        let outage_thread = outage_cmd
            .as_ref()
            .filter(|_| rng.u64(0..100) < outage_percent)
            .map(|cmd| {
                let cmd = cmd.clone();
                let work = work.path().to_owned();
                let before = Duration::from_millis(rng.u64(0..200));
                let down = Duration::from_millis(rng.u64(1..=outage_max_ms));
                std::thread::spawn(move || {
                    std::thread::sleep(before);
                    outage(&work, &cmd, down)
                })
            });
        // A worker that exited by itself (it must not) is recorded and replaced.
        for id in 0..workers_n {
            if let Ok(Some(status)) = workers.children[id].try_wait() {
                exits.push(format!("worker {id} exited by itself: {status}"));
                let fresh = workers.spawn(id);
                workers.children[id] = fresh;
            }
        }
        // At random moments, one worker is killed and a new one started in its place.
        if rng.u64(0..100) < kill_percent {
            std::thread::sleep(Duration::from_millis(rng.u64(0..150)));
            let id = rng.usize(..workers_n);
            let child = &mut workers.children[id];
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            event(work.path(), &format!("worker {id} SIGKILLed"));
            kills += 1;
            let fresh = workers.spawn(id);
            workers.children[id] = fresh;
        }
        if let Some(thread) = outage_thread {
            downtime += thread.join().expect("outage");
            outages += 1;
        }
        // Each worker finishes a pass that began after the advance (it reads the clock first)
        // with no failure left, or 30 s pass.
        if !workers.wait_for_clean_pass(target, Duration::from_secs(30)) {
            event(
                work.path(),
                &format!("step {step}: workers not done after 30 s"),
            );
        }
    }
    // The network calms down: no fault left, and every worker finishes a pass with no failure
    // (a seller whose rotated token was lost in the last step is tried again, and reported),
    // or two minutes pass (a lease left by a killed worker ends within 30 s).
    control(&base, "POST", "/_emulator/clear_faults");
    let calm = virtual_now(&base);
    event(work.path(), "faults cleared");
    let settled = workers.wait_for_clean_pass(calm, Duration::from_secs(120));
    if !settled {
        event(
            work.path(),
            "workers not done 120 s after the faults were cleared",
        );
    }
    event(work.path(), "stop");
    std::fs::write(work.path().join("stop"), b"").expect("stop");
    for (id, child) in workers.children.iter_mut().enumerate() {
        match child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => exits.push(format!("worker {id} ended with {status}")),
            Err(e) => exits.push(format!("worker {id}: {e}")),
        }
    }

    // What the workers recorded: who was reported as needing authorization, the store errors
    // they met, refreshed token sets they could not save, and panics.
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let (mut store_errors, mut store_error_kinds) = (0u64, BTreeMap::<String, u64>::new());
    let mut unsaved: BTreeSet<String> = BTreeSet::new();
    let (mut error_logs, mut timeline) = (0usize, lines_of(&work.path().join("events")));
    for id in 0..workers_n {
        reported.extend(lines_of(&work.path().join(format!("reports-{id}"))));
        for line in lines_of(&work.path().join(format!("store-errors-{id}"))) {
            let (n, message) = line.split_once('\t').unwrap_or(("1", &line));
            let n: u64 = n.parse().unwrap_or(1);
            store_errors += n;
            // What went wrong, without the seller's name: the part after the last ": ".
            let what = message.rsplit(": ").next().unwrap_or(message);
            *store_error_kinds.entry(what.to_owned()).or_insert(0) += n;
        }
        let log = lines_of(&work.path().join(format!("log-{id}")));
        for line in &log {
            if line.contains(" ERROR ") {
                error_logs += 1;
            }
            if line.contains(UNSAVED)
                && let Some(key) = line.split("the token of ").nth(1)
                && let Some(key) = key.split(' ').next()
            {
                unsaved.insert(key.to_owned());
            }
        }
        timeline.extend(log);
    }
    // One timeline of the run's events and the workers' logs, for a look at a lost seller.
    timeline.sort_by_key(|line| {
        line.split(' ')
            .next()
            .and_then(|ms| ms.parse::<u128>().ok())
            .unwrap_or(0)
    });
    let panics = lines_of(&work.path().join("panics"));
    // The invariant, asked of the emulator.
    let now_ms = virtual_now(&base);
    let (mut alive, mut revoked_reported, mut window_reported, mut lost) = (0, 0, 0, Vec::new());
    let mut causes: BTreeMap<&str, u64> = BTreeMap::new();
    for i in 0..sellers {
        let seller = format!("seller-{i}");
        let record = store.load(&seller).expect("load");
        let (access_current, refresh_current, detail) = match &record {
            None => (false, false, "nothing stored".to_owned()),
            Some(record) => {
                let t = &record.token;
                let q = |s: Option<&str>| {
                    form_urlencoded::byte_serialize(s.unwrap_or_default().as_bytes())
                        .collect::<String>()
                };
                let answer = json(&control(
                    &base,
                    "GET",
                    &format!(
                        "/_emulator/tokens?seller_id={seller}&access_token={}&refresh_token={}",
                        q(t.access_token.as_ref().map(|a| a.secret())),
                        q(t.refresh_token.as_ref().map(|r| r.secret()))
                    ),
                ));
                // For a lost seller: how its stored token stands by the emulator's clock.
                let expires = t.expires_at().map_or_else(
                    || "no expiry".to_owned(),
                    |at| {
                        let at = at
                            .duration_since(UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_millis();
                        format!(
                            "access token expires {:+.1} days from now",
                            (at as f64 - now_ms as f64) / 86_400_000.0
                        )
                    },
                );
                (
                    answer["access_token_current"] == true,
                    answer["refresh_token_current"] == true,
                    format!(
                        "access current {}, refresh current {}, {expires}, stored version {}",
                        answer["access_token_current"],
                        answer["refresh_token_current"],
                        record.version
                    ),
                )
            }
        };
        if revoked.contains(&seller) {
            if reported.contains(&seller) {
                revoked_reported += 1;
            } else {
                lost.push(format!("{seller} (revoked, never reported; {detail})"));
            }
        } else if access_current && refresh_current {
            alive += 1;
        } else if reported.contains(&seller) {
            window_reported += 1;
            *causes.entry(loss_cause(&timeline, &seller)).or_insert(0) += 1;
        } else {
            lost.push(format!(
                "{seller} (no working token, never reported; {detail})"
            ));
        }
    }
    let _ = emu.kill();
    let _ = emu.wait();
    // Leave the store as it was found: the run's keys removed (a table of its own stays, empty).
    if kind == "file" {
        let dir = Path::new(store_url.strip_prefix("file:").unwrap_or(&store_url)).join(&ns);
        let _ = std::fs::remove_dir_all(dir);
    } else {
        for key in store.keys().expect("keys") {
            store.remove(&key).expect("remove");
        }
    }

    let total_faults: u64 = injected.values().sum();
    println!("chaos: {days} virtual days in {:.1?}", started.elapsed());
    println!("chaos: faults injected {total_faults} {injected:?}; workers killed {kills}");
    if outage_cmd.is_some() {
        println!(
            "chaos: {kind} store outages {outages} (down {:.1?} in all)",
            downtime
        );
    }
    println!(
        "chaos: store errors met by the workers {store_errors} {store_error_kinds:?}; refreshed \
         but not saved {} (manager error logs {error_logs})",
        unsaved.len()
    );
    println!(
        "chaos: sellers {sellers}: alive {alive}, revoked {} (reported {revoked_reported}), \
         rotated token lost (answer never saved) and reported {window_reported} {causes:?}, \
         lost {}",
        revoked.len(),
        lost.len()
    );
    println!(
        "chaos: worker panics {}, workers that ended by themselves {}; a clean pass of every \
         worker once the faults were cleared: {}",
        panics.len(),
        exits.len(),
        if settled { "yes" } else { "no" }
    );
    for l in &lost {
        println!("chaos: LOST {l}");
    }
    // For each lost seller: its timeline (the workers' lines about it, with the run's kills and
    // outages around them).
    for l in &lost {
        let seller = l.split(' ').next().unwrap_or_default();
        let about: Vec<usize> = (0..timeline.len())
            .filter(|&i| names(&timeline[i], seller))
            .collect();
        let Some(&last) = about.last() else { continue };
        println!("chaos: timeline of {seller} (the last of its lines, and the run's events):");
        let from = about[about.len().saturating_sub(12)];
        for line in &timeline[from..timeline.len().min(last + 1)] {
            if names(line, seller) || line.contains(" run ") {
                println!("chaos:   {line}");
            }
        }
    }
    for p in &panics {
        println!("chaos: PANIC {p}");
    }
    for e in &exits {
        println!("chaos: EXIT {e}");
    }
    let failed = !lost.is_empty() || !panics.is_empty() || !exits.is_empty();
    if failed || args.iter().any(|a| a == "--keep") {
        // What the workers wrote (reports, store errors, logs, the run's events) stays for a
        // look.
        println!(
            "chaos: the workers' records are kept in {}",
            work.keep().display()
        );
    }
    if failed {
        println!("chaos: 0 passed, 1 failed");
        std::process::exit(1);
    }
    println!("chaos: 1 passed, 0 failed");
}
