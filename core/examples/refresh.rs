//! Rust quick start: refresh a seller's token.
//!
//! With `IOP_APP_KEY`, `IOP_APP_SECRET` and `IOP_REFRESH_TOKEN` set (and optionally
//! `IOP_BASE_URL`, default `https://api-sg.aliexpress.com`) it refreshes against the real
//! gateway. Otherwise it starts an in-process `iop_emulator::Emulator` on loopback, authorizes a
//! seller there and creates a token first.
//!
//! ```sh
//! cargo run -p iop-core --example refresh
//! set -a; . ~/.iop/env; set +a   # IOP_APP_KEY, IOP_APP_SECRET, IOP_REFRESH_TOKEN from a 0600 file
//! cargo run -p iop-core --example refresh
//! ```
//!
//! Secrets are shown masked. A refresh may invalidate the refresh token it used: set
//! `IOP_SHOW_SECRETS=1` to print the whole new token set as JSON, and store it.

#![allow(clippy::print_stdout)] // an example talks to its user on stdout

use std::time::{Duration, SystemTime};

use iop_core::{AppSecret, AuthCode, Client, ErrorClass, Gateway, RefreshToken, TokenSet};
use iop_emulator::{Config, Emulator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());

    // Kept alive until the end of `main` when used: dropping it stops the server.
    let mut _emulator = None;
    let (client, refresh_token) = match (
        env("IOP_APP_KEY"),
        env("IOP_APP_SECRET"),
        env("IOP_REFRESH_TOKEN"),
    ) {
        (Some(app_key), Some(app_secret), Some(refresh_token)) => {
            let base_url =
                env("IOP_BASE_URL").unwrap_or_else(|| iop_core::gateway::ALIEXPRESS.into());
            println!("real gateway: {base_url}");
            let client = Client::builder(
                app_key,
                AppSecret::new(app_secret),
                Gateway::new(&base_url)?,
            )
            .timeouts(Duration::from_secs(10), Duration::from_secs(30))
            .build()?;
            (client, RefreshToken::new(refresh_token))
        }
        _ => {
            let emulator = Emulator::start(Config::default())?;
            println!(
                "no IOP_APP_KEY/IOP_APP_SECRET/IOP_REFRESH_TOKEN: emulator at {}",
                emulator.url()
            );
            let client = Client::builder(
                emulator.app_key(),
                AppSecret::new(emulator.app_secret()),
                Gateway::new(&emulator.url())?,
            )
            .build()?;
            // What the seller's authorization redirect would hand you.
            let code = AuthCode::new(emulator.authorize("seller-1"));
            let created = client.create_token(&code, None)?;
            println!("created:   {}", summary(&created));
            let refresh_token = created
                .refresh_token
                .clone()
                .ok_or("the token set has no refresh token")?;
            _emulator = Some(emulator);
            (client, refresh_token)
        }
    };

    match client.refresh_token(&refresh_token) {
        Ok(tokens) => {
            println!("refreshed: {}", summary(&tokens));
            if env("IOP_SHOW_SECRETS").as_deref() == Some("1") {
                println!("{}", tokens.to_json());
            }
            Ok(())
        }
        Err(e) => {
            let advice = match e.class() {
                ErrorClass::Reauthorize => "the seller must authorize the app again",
                ErrorClass::Signature => "check the app key and secret",
                ErrorClass::RateLimited => "rate limited: try again later",
                ErrorClass::Retryable => "a transient failure: try again",
                _ => "see the error",
            };
            println!(
                "refresh failed ({advice}): {e} [request_id {}]",
                e.request_id().unwrap_or("none")
            );
            Err(e.into())
        }
    }
}

/// One line about a token set, secrets masked as everywhere in iop (`…` and the last 4).
fn summary(tokens: &TokenSet) -> String {
    let mask = |s: Option<&str>| s.map_or_else(|| "none".to_owned(), iop_core::secret::mask);
    let days_left = |at: Option<SystemTime>| {
        at.and_then(|at| at.duration_since(SystemTime::now()).ok())
            .map_or_else(
                || "?".to_owned(),
                |d| format!("{:.1} days", d.as_secs_f64() / 86_400.0),
            )
    };
    format!(
        "seller {} access {} (expires in {}) refresh {} (expires in {})",
        tokens.seller_id.as_deref().unwrap_or("?"),
        mask(tokens.access_token.as_ref().map(|t| t.secret())),
        days_left(tokens.expires_at()),
        mask(tokens.refresh_token.as_ref().map(|t| t.secret())),
        days_left(tokens.refresh_expires_at()),
    )
}
