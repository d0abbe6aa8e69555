//! A raw HTTP/1.1 client on `std::net::TcpStream` and request signing with `iop_core::sign`,
//! so the emulator is tested from the wire up, independent of iop-core's client.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iop_core::{AppSecret, SignMethod};
use iop_emulator::Emulator;
use serde_json::Value;

/// A response as read from the wire.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends raw bytes on a fresh connection and reads one response (the server must close).
pub fn send_raw(addr: SocketAddr, raw: &[u8]) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(raw)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse_response(&buf).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("no HTTP response ({} bytes)", buf.len()),
        )
    })
}

/// Parses one response with a `Content-Length` from the start of `buf`; also returns its length.
pub fn parse_response_len(buf: &[u8]) -> Option<(Resp, usize)> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut content_type = String::new();
    let mut len = 0;
    for l in lines {
        let (k, v) = l.split_once(':')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = v.trim().to_owned(),
            "content-length" => len = v.trim().parse().ok()?,
            _ => {}
        }
    }
    let start = head_end + 4;
    let body = buf.get(start..start + len)?.to_vec();
    Some((
        Resp {
            status,
            content_type,
            body,
        },
        start + len,
    ))
}

pub fn parse_response(buf: &[u8]) -> Option<Resp> {
    parse_response_len(buf).map(|(r, _)| r)
}

/// A request with `Connection: close`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(ct) = content_type {
        raw.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    send_raw(addr, &bytes)
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn ms_of(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Adds the system parameters and the signature, as a client does.
pub fn signed(
    secret: &str,
    app_key: &str,
    prefix: &str,
    method: SignMethod,
    timestamp_ms: i64,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = vec![
        ("app_key".into(), app_key.into()),
        ("timestamp".into(), timestamp_ms.to_string()),
        ("sign_method".into(), method.as_str().into()),
    ];
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let sign = iop_core::sign(method, &AppSecret::new(secret), prefix, &pairs);
    pairs.push(("sign".into(), sign));
    pairs
}

pub fn form(pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub const FORM: &str = "application/x-www-form-urlencoded;charset=UTF-8";

/// POST a signed GOP call to `/rest{api}`.
pub fn gop(em: &Emulator, api: &str, extra: &[(&str, &str)]) -> Resp {
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        api,
        SignMethod::Sha256,
        now_ms(),
        extra,
    );
    post(em, &format!("/rest{api}"), &pairs)
}

/// POST a signed TOP call to `/sync`.
pub fn top(em: &Emulator, method: &str, extra: &[(&str, &str)]) -> Resp {
    let mut all = vec![("method", method), ("format", "json"), ("v", "2.0")];
    all.extend_from_slice(extra);
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "",
        SignMethod::Sha256,
        now_ms(),
        &all,
    );
    post(em, "/sync", &pairs)
}

pub fn post(em: &Emulator, target: &str, pairs: &[(String, String)]) -> Resp {
    request(
        em.addr(),
        "POST",
        target,
        Some(FORM),
        form(pairs).as_bytes(),
    )
    .unwrap()
}

/// A token set for `seller` through `/auth/token/create`.
pub fn create(em: &Emulator, seller: &str) -> Value {
    let code = em.authorize(seller);
    let v = gop(em, "/auth/token/create", &[("code", &code)]).json();
    assert_eq!(v["code"], "0", "{v}");
    v
}

pub fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}"))
}

/// The GOP error code of an answer.
pub fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("")
}
