//! Criterion benches of iop-core's pure layer: signing a refresh request, building a complete
//! signed HTTP request, parsing the AliExpress token fixture.
//!
//! Run: `cargo bench -p iop-bench --bench core` (criterion's options after `--`, e.g.
//! `-- --warm-up-time 1 --measurement-time 3` as `make bench` runs it).
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use iop_core::{AppSecret, Credentials, Gateway, Request, SignMethod, TokenSet, sign};

const TS: i64 = 1_517_820_392_000;
const REFRESH: &str = "50001600212wcwiOabwyjtEH11acc19aBOvQr9ZYkYDlr987D8BB88LIB8bj";

/// The AliExpress token fixture (575 bytes).
const AE_TOKEN: &str = include_str!("../../tests/data/fixtures/aliexpress-token.json");

fn benches(c: &mut Criterion) {
    let secret = AppSecret::new("helloworld");
    // The pairs of a refresh request, as the request builder signs them.
    let pairs = [
        ("app_key", "123456"),
        ("partner_id", "iop-rs"),
        ("refresh_token", REFRESH),
        ("sign_method", "sha256"),
        ("timestamp", "1517820392000"),
    ];
    c.bench_function("sign_refresh_request", |b| {
        b.iter(|| {
            sign(
                SignMethod::Sha256,
                black_box(&secret),
                black_box("/auth/token/refresh"),
                black_box(&pairs[..]),
            )
        })
    });

    let mut creds = Credentials::new("123456", AppSecret::new("helloworld"));
    creds.partner_id = Some("iop-rs".to_owned());
    let gateway = Gateway::aliexpress();
    let request = Request::new("/auth/token/refresh")
        .unwrap()
        .param("refresh_token", REFRESH);
    c.bench_function("build_signed_http_request", |b| {
        b.iter(|| {
            black_box(&request)
                .to_http(black_box(&gateway), &creds, None, black_box(TS))
                .unwrap()
        })
    });

    let received = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    c.bench_function("parse_aliexpress_token", |b| {
        b.iter(|| TokenSet::from_json(black_box(AE_TOKEN.as_bytes()), received).unwrap())
    });
}

criterion_group!(core, benches);
criterion_main!(core);
