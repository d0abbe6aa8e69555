//! What the client logs through the `log` facade: one line per attempt under the `iop` targets
//! with API name, style, status, elapsed time, request_id and attempt, and never a secret or a
//! URL with parameters. A tiny capturing logger records every record of every crate.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;
use std::time::Duration;

use iop_core::{AppSecret, AuthCode, Client, Gateway, HttpMethod, Request, RetryPolicy, TokenSet};
use iop_emulator::{Config, Emulator, Fault};

struct Line {
    level: log::Level,
    target: String,
    text: String,
}

struct Capture(Mutex<Vec<Line>>);

impl log::Log for Capture {
    /// Everything of ours, down to trace; other crates (ureq) down to debug, as the README
    /// advises.
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("iop::") || metadata.level() <= log::Level::Debug
    }
    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = Line {
            level: record.level(),
            target: record.target().to_owned(),
            text: record.args().to_string(),
        };
        self.0.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

fn tokens_of(t: &TokenSet) -> (String, String) {
    (
        t.access_token.as_ref().unwrap().secret().to_owned(),
        t.refresh_token.as_ref().unwrap().secret().to_owned(),
    )
}

#[test]
fn log_lines_carry_the_facts_and_no_secret() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let emu = Emulator::start(Config {
        threads: 2,
        ..Config::default()
    })
    .unwrap();
    let client = Client::builder(
        emu.app_key(),
        AppSecret::new(emu.app_secret()),
        Gateway::new(&emu.url()).unwrap(),
    )
    .clock(emu.clock())
    .retry(RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
        max_rate_limit_wait: Duration::from_secs(1),
    })
    .build()
    .unwrap();

    let mut secrets = vec![emu.app_secret().to_owned()];
    let code = emu.authorize("seller-log");
    secrets.push(code.clone());
    let first = client.create_token(&AuthCode::new(code), None).unwrap();
    let (at1, rt1) = tokens_of(&first);
    secrets.extend([at1, rt1]);

    emu.inject(Fault::Html502, Some("/auth/token/refresh"), 1);
    let second = client
        .refresh_token(first.refresh_token.as_ref().unwrap())
        .unwrap();
    let (at2, rt2) = tokens_of(&second);
    secrets.extend([at2, rt2]);

    // A GET puts every parameter, the access token included, in the query.
    client
        .call(
            &Request::new("/seller/info/get")
                .unwrap()
                .http_method(HttpMethod::Get),
            second.access_token.as_ref(),
        )
        .unwrap();
    emu.inject(Fault::ConnectionReset, None, 1);
    client
        .call(
            &Request::new("aliexpress.trade.order.get")
                .unwrap()
                .http_method(HttpMethod::Get),
            second.access_token.as_ref(),
        )
        .unwrap_err();
    // A used refresh token: a final gateway error with a request_id.
    let err = client
        .refresh_token(first.refresh_token.as_ref().unwrap())
        .unwrap_err();
    let request_id = err.request_id().unwrap().to_owned();
    // A wrong secret.
    Client::builder(
        emu.app_key(),
        AppSecret::new("the-wrong-secret"),
        Gateway::new(&emu.url()).unwrap(),
    )
    .build()
    .unwrap()
    .refresh_token(second.refresh_token.as_ref().unwrap())
    .unwrap_err();
    secrets.push("the-wrong-secret".to_owned());

    let lines = CAPTURE.0.lock().unwrap();
    let ours: Vec<&Line> = lines
        .iter()
        .filter(|l| l.target.starts_with("iop::"))
        .collect();

    // The facts: API, style, status, elapsed time, attempt; request_id on errors.
    assert!(
        ours.iter().any(|l| l.target == "iop::client"
            && l.text.contains("api=/auth/token/create")
            && l.text.contains("style=gop")
            && l.text.contains("status=200")
            && l.text.contains("elapsed_ms=")
            && l.text.contains("request_id=")
            && !l.text.contains("request_id=none")
            && l.text.contains("attempt=1")),
        "{}",
        dump(&ours)
    );
    assert!(
        ours.iter()
            .any(|l| l.text.contains("api=/auth/token/refresh")
                && l.text.contains("status=502")
                && l.text.contains("attempt=1")
                && l.text.contains("retrying in")
                && l.level == log::Level::Info),
        "{}",
        dump(&ours)
    );
    assert!(
        ours.iter()
            .any(|l| l.text.contains("api=/auth/token/refresh") && l.text.contains("attempt=2")),
        "{}",
        dump(&ours)
    );
    assert!(
        ours.iter().any(|l| l.level == log::Level::Warn
            && l.text.contains(&format!("request_id={request_id}"))
            && l.text.contains("IllegalRefreshToken")),
        "{}",
        dump(&ours)
    );
    assert!(
        ours.iter()
            .any(|l| l.text.contains("api=aliexpress.trade.order.get")
                && l.text.contains("style=top")),
        "{}",
        dump(&ours)
    );

    // Field values are stable lower-case names, never Rust debug names (`style=Gop`).
    for line in &ours {
        for field in line.text.split_whitespace() {
            if let Some(style) = field.strip_prefix("style=") {
                assert!(
                    style == "gop" || style == "top",
                    "style field {style:?} in {:?}",
                    line.text
                );
            }
        }
    }

    // No secret and no URL parameters in any of our lines, at any level.
    for line in &ours {
        for secret in &secrets {
            assert!(
                !line.text.contains(secret.as_str()),
                "secret in {:?}",
                line.text
            );
        }
        assert!(!line.text.contains("sign="), "{:?}", line.text);
        assert!(!line.text.contains("access_token="), "{:?}", line.text);
        assert!(!line.text.contains("session="), "{:?}", line.text);
    }
    // ureq, below us, keeps secrets out of its lines up to debug level (at trace it dumps raw
    // bytes and full URLs: the README says to keep `ureq` at debug or lower).
    assert!(
        lines.iter().any(|l| l.target.starts_with("ureq")),
        "ureq lines captured"
    );
    for line in lines.iter() {
        for secret in &secrets {
            assert!(
                !line.text.contains(secret.as_str()),
                "secret in {} {:?}",
                line.target,
                line.text
            );
        }
    }
}

fn dump(lines: &[&Line]) -> String {
    lines
        .iter()
        .map(|l| format!("{} {} {}", l.level, l.target, l.text))
        .collect::<Vec<_>>()
        .join("\n")
}
