//! iop-emulator: an offline IOP gateway on loopback.
//!
//! `iop-emulator --listen 127.0.0.1:0 --app-key K --app-secret S` prints its URL
//! (`http://127.0.0.1:PORT`) as the first line of stdout and serves until killed.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Parser;
use iop_emulator::{Config, Emulator};

/// An offline IOP gateway (AliExpress, Lazada) for tests. Prints its URL, then serves until
/// killed. Driven through the control API under /_emulator/ (see the README).
#[derive(Debug, Parser)]
#[command(name = "iop-emulator", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Allow a listen address that is not loopback.
    #[arg(long)]
    allow_remote: bool,
    /// The app key accepted.
    #[arg(long, default_value = "test-app-key", env = "IOP_EMULATOR_APP_KEY")]
    app_key: String,
    /// The app secret requests must be signed with.
    #[arg(
        long,
        default_value = "test-app-secret",
        env = "IOP_EMULATOR_APP_SECRET",
        hide_default_value = true,
        hide_env_values = true
    )]
    app_secret: String,
    /// Access-token lifetime in seconds (default 30 days).
    #[arg(long, default_value_t = 30 * 86_400)]
    access_ttl: u64,
    /// Refresh-token lifetime in seconds (default 60 days).
    #[arg(long, default_value_t = 60 * 86_400)]
    refresh_ttl: u64,
    /// Keep refresh tokens valid after use (no rotation).
    #[arg(long)]
    no_rotate: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 8)]
    threads: usize,
    /// Start of the virtual clock, in Unix epoch milliseconds (default: now).
    #[arg(long)]
    start_time_ms: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = Config {
        app_key: args.app_key,
        app_secret: args.app_secret,
        listen: args.listen,
        threads: args.threads,
        access_ttl: Duration::from_secs(args.access_ttl),
        refresh_ttl: Duration::from_secs(args.refresh_ttl),
        rotate_refresh_tokens: !args.no_rotate,
        start_time: args
            .start_time_ms
            .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms)),
        allow_remote: args.allow_remote,
    };
    let emulator = match Emulator::start(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("iop-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", emulator.url())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    // Serve until killed (SIGTERM, SIGINT).
    loop {
        std::thread::park();
    }
}
