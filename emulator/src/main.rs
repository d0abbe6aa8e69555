//! iop-emulator: an offline IOP gateway on loopback.
//!
//! `iop-emulator --listen 127.0.0.1:0 --app-key K --app-secret-file FILE` prints its URL
//! (`http://127.0.0.1:PORT`) as the first line of stdout and serves until killed.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Parser;
use iop_emulator::{Config, Emulator};

/// An offline IOP gateway (AliExpress, Lazada) for tests. Prints its URL, then serves until
/// killed. Driven through the control API under /_emulator/ (the book of the iop repository:
/// docs/src/operations/emulator.md).
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
    /// The app secret requests must be signed with. Prefer --app-secret-file or the
    /// IOP_EMULATOR_APP_SECRET environment variable: a flag's value is visible to every user of
    /// the machine (ps, /proc/PID/cmdline).
    #[arg(
        long,
        default_value = "test-app-secret",
        env = "IOP_EMULATOR_APP_SECRET",
        hide_default_value = true,
        hide_env_values = true
    )]
    app_secret: String,
    /// Read the app secret from this file (its first line), or from standard input with `-`.
    /// Wins over --app-secret and IOP_EMULATOR_APP_SECRET.
    #[arg(long, value_name = "FILE|-")]
    app_secret_file: Option<PathBuf>,
    /// Access-token lifetime in seconds (default 30 days).
    #[arg(long, default_value_t = 30 * 86_400)]
    access_ttl: u64,
    /// Refresh-token lifetime in seconds (default 60 days).
    #[arg(long, default_value_t = 60 * 86_400)]
    refresh_ttl: u64,
    /// Keep refresh tokens valid after use (no rotation).
    #[arg(long)]
    no_rotate: bool,
    /// Most threads serving requests (never more than the CPUs; 1 = a single thread).
    #[arg(long, default_value_t = 8)]
    threads: usize,
    /// Open connections at most; more are answered 503 (the control API, /_emulator/..., has 64
    /// more of its own).
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a client has to send a request head (counted from when the connection waits
    /// for it, so idle keep-alive connections end too), and again its body.
    #[arg(long, default_value_t = 60)]
    read_timeout: u64,
    /// Start of the virtual clock, in Unix epoch milliseconds (default: now).
    #[arg(long)]
    start_time_ms: Option<u64>,
    /// Business answers to send instead of the echo: a JSON file holding a list of
    /// {"api", "body", "seller", "params"}, or `common` for the answers shipped with the
    /// emulator (affiliate category, link and products, the seller's product list; Lazada
    /// seller and orders). Repeatable.
    #[arg(long, value_name = "FILE|common")]
    answers: Vec<PathBuf>,
}

/// The first line of `path` (`-`: standard input), without its line end.
fn read_secret(path: &std::path::Path) -> Result<String, String> {
    let mut line = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().lock().read_line(&mut line)
    } else {
        std::fs::File::open(path).and_then(|f| std::io::BufReader::new(f).read_line(&mut line))
    };
    // The error names the file, never its content.
    read.map_err(|e| format!("cannot read the app secret from {}: {e}", path.display()))?;
    let secret = line.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(format!("the app secret in {} is empty", path.display()));
    }
    Ok(secret.to_owned())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let app_secret = match &args.app_secret_file {
        None => args.app_secret,
        Some(path) => match read_secret(path) {
            Ok(s) => s,
            Err(why) => {
                eprintln!("iop-emulator: {why}");
                return ExitCode::FAILURE;
            }
        },
    };
    let config = Config {
        app_key: args.app_key,
        app_secret,
        listen: args.listen,
        threads: args.threads,
        access_ttl: Duration::from_secs(args.access_ttl),
        refresh_ttl: Duration::from_secs(args.refresh_ttl),
        rotate_refresh_tokens: !args.no_rotate,
        start_time: args
            .start_time_ms
            .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms)),
        allow_remote: args.allow_remote,
        max_connections: args.max_connections,
        read_timeout: Duration::from_secs(args.read_timeout),
    };
    let emulator = match Emulator::start(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("iop-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    for path in &args.answers {
        let text = if path.as_os_str() == "common" {
            iop_emulator::COMMON_ANSWERS.to_owned()
        } else {
            match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("iop-emulator: cannot read answers {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
        };
        if let Err(e) = emulator.load_answers(&text) {
            eprintln!("iop-emulator: answers {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
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
