//! Criterion benches of the pure layer: signing a refresh request, building a complete signed
//! HTTP request, parsing the AliExpress token fixture.
//!
//! Run: `cargo bench -p iop-core --bench core`.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use iop_core::{AppSecret, Credentials, Gateway, Request, SignMethod, TokenSet, sign};

const TS: i64 = 1_517_820_392_000;
const REFRESH: &str = "50001600212wcwiOabwyjtEH11acc19aBOvQr9ZYkYDlr987D8BB88LIB8bj";

/// The AliExpress token fixture, inlined so the bench needs no file (same bytes as
/// `shared/fixtures/aliexpress-token.json`).
const AE_TOKEN: &str = r#"{"refresh_token_valid_time":1773134239000,"havana_id":"408081944474","expire_time":1770542239000,"locale":"en_US","user_nick":"us1234567890abcd","access_token":"50000601c30atpedfgu3LVvik87Ixlsvle3mSoB7701ceb156fPunYZ43GBg","refresh_token":"50001600212wcwiOabwyjtEH11acc19aBOvQr9ZYkYDlr987D8BB88LIB8bj","user_id":"4641738246","account_platform":"seller_center","refresh_expires_in":5184000,"expires_in":2592000,"sp":"ae","seller_id":"4641738246","account":"seller@example.com","code":"0","request_id":"21412efb17679502392691261","_trace_id_":"21411b6217679502392682779eb4b4"}"#;

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
