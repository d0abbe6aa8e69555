//! The client's own cost per `refresh_token`, against an emulator in another process (so that
//! the emulator's work is not counted): wall time and this process's CPU time (user + system,
//! from `/proc/self/stat`) per refresh, one thread, one pooled connection. Run it under
//! `strace -f -c` to count the system calls per refresh.
//!
//! ```sh
//! target/release/iop-emulator --listen 127.0.0.1:0 &      # prints its URL
//! cargo run --release -p iop-core --example refresh_client -- http://127.0.0.1:PORT 3000
//! ```
//!
//! The app key and secret are the emulator's defaults, or `IOP_APP_KEY` / `IOP_APP_SECRET`
//! (never on the command line).

#![allow(clippy::print_stdout)] // a benchmark program reports on stdout

use std::time::{Duration, Instant};

use iop_core::{
    AppSecret, AuthCode, Client, Gateway, HttpConfig, HttpTransport, RetryPolicy, Transport,
};

/// User + system CPU time of this process so far (Linux `/proc/self/stat`, clock ticks of
/// 10 ms).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which ends with the last `)`).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: refresh_client URL [REFRESHES]")?;
    let total: u32 = match args.next() {
        Some(n) => n.parse()?,
        None => 3000,
    };
    let app_key = std::env::var("IOP_APP_KEY").unwrap_or_else(|_| "test-app-key".to_owned());
    let app_secret =
        std::env::var("IOP_APP_SECRET").unwrap_or_else(|_| "test-app-secret".to_owned());

    // An authorization code from the emulator's control API.
    let control = HttpTransport::new(HttpConfig::default())?;
    let answer = control.send(
        http::Request::get(format!("{url}/_emulator/authorize?seller_id=bench-client"))
            .body(Vec::new())?,
    )?;
    let code: serde_json::Value = serde_json::from_slice(answer.body())?;
    let code = code["code"].as_str().ok_or("no code from the emulator")?;

    let client = Client::builder(app_key, AppSecret::new(app_secret), Gateway::new(&url)?)
        .retry(RetryPolicy::none())
        .build()?;
    let mut tokens = client.create_token(&AuthCode::new(code), None)?;
    let cpu_before = cpu_time();
    let started = Instant::now();
    for _ in 0..total {
        let refresh = tokens.refresh_token.clone().ok_or("no refresh token")?;
        tokens = client.refresh_token(&refresh)?;
    }
    let wall = started.elapsed();
    let cpu = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(total.max(1));
    println!(
        "{total} refreshes: wall {:.1} us/refresh, client CPU {} us/refresh",
        per(wall),
        cpu.map_or_else(|| "?".to_owned(), |c| format!("{:.1}", per(c)))
    );
    Ok(())
}
