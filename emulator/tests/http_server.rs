//! The emulator as an HTTP/1.1 server: what a real server does with chunked bodies,
//! `Expect: 100-continue`, pipelining, malformed and ambiguous requests, slow and idle clients,
//! too many connections; and that waiting requests never block the others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use iop_emulator::{Config, Emulator, Fault};

fn start() -> Emulator {
    Emulator::start(Config::default()).unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Everything the server sends until it closes (a reset after data counts as the end).
fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return buf,
            Err(e) => panic!("read failed after {} bytes: {e}", buf.len()),
        }
    }
}

/// Every response in `buf`, in order.
fn responses(mut buf: &[u8]) -> Vec<Resp> {
    let mut all = Vec::new();
    while let Some((r, used)) = parse_response_len(buf) {
        all.push(r);
        buf = &buf[used..];
    }
    assert!(
        buf.is_empty(),
        "trailing bytes: {:?}",
        String::from_utf8_lossy(buf)
    );
    all
}

fn signed_create_body(em: &Emulator, seller: &str) -> String {
    let c = em.authorize(seller);
    form(&signed(
        em.app_secret(),
        em.app_key(),
        "/auth/token/create",
        iop_core::SignMethod::Sha256,
        now_ms(),
        &[("code", &c)],
    ))
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let em = start();
    let body = signed_create_body(&em, "chunky");
    let mut raw = format!(
        "POST /rest/auth/token/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    // One chunk per 7 bytes, the first with a chunk extension; a trailer at the end.
    for (i, piece) in body.as_bytes().chunks(7).enumerate() {
        let ext = if i == 0 { ";name=value" } else { "" };
        raw.push_str(&format!(
            "{:X}{ext}\r\n{}\r\n",
            piece.len(),
            std::str::from_utf8(piece).unwrap()
        ));
    }
    raw.push_str("0\r\nX-Trailer: yes\r\n\r\n");
    let r = send_raw(em.addr(), raw.as_bytes()).unwrap();
    assert_eq!(r.json()["seller_id"], "chunky", "{}", r.text());
}

#[test]
fn expect_continue_then_body_on_a_kept_alive_connection() {
    let em = start();
    let mut s = connect(em.addr());
    let body = signed_create_body(&em, "patient");
    write!(
        s,
        "POST /rest/auth/token/create HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: {FORM}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body.as_bytes()).unwrap();
    // The connection stays open: a second request on it is answered too.
    s.write_all(b"GET /_emulator/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let all = responses(&read_all(&mut s));
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].json()["seller_id"], "patient");
    assert!(all[1].json()["now_ms"].is_i64());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let em = start();
    let t = create(&em, "pipe");
    let access = str_of(&t, "access_token").to_owned();
    let mut raw = Vec::new();
    for i in 0..5 {
        let pairs = signed(
            em.app_secret(),
            em.app_key(),
            "/echo/me",
            iop_core::SignMethod::Sha256,
            now_ms(),
            &[("access_token", &access), ("n", &i.to_string())],
        );
        let target = format!("/rest/echo/me?{}", form(&pairs));
        raw.extend_from_slice(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    raw.extend_from_slice(b"GET /_emulator/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut s = connect(em.addr());
    // All of it in one write: the server must not lose what follows the first request.
    s.write_all(&raw).unwrap();
    let all = responses(&read_all(&mut s));
    assert_eq!(all.len(), 6);
    for (i, r) in all[..5].iter().enumerate() {
        assert_eq!(r.json()["params"]["n"], i.to_string(), "{}", r.text());
    }
    assert!(all[5].json()["now_ms"].is_i64());
}

/// Sends `raw`, answers the status the server replied with and checks that it then closed.
fn status_then_close(addr: SocketAddr, raw: &[u8]) -> u16 {
    let mut s = connect(addr);
    s.write_all(raw).unwrap();
    let buf = read_all(&mut s);
    let (r, used) =
        parse_response_len(&buf).unwrap_or_else(|| panic!("no response to {raw:?}: {buf:?}"));
    assert_eq!(used, buf.len(), "more than one response to {raw:?}");
    r.status
}

#[test]
fn malformed_request_lines_get_400_and_a_close() {
    let em = start();
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /_emulator/now HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET  /_emulator/now HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /_emulator/now HTTP/1.1\r\nBad Header\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
    ] {
        let status = status_then_close(em.addr(), raw);
        assert!(
            status == 400 || status == 505,
            "{status} for {:?}",
            String::from_utf8_lossy(raw)
        );
    }
    // The server is fine afterwards.
    assert_eq!(
        request(em.addr(), "GET", "/_emulator/now", None, b"")
            .unwrap()
            .status,
        200
    );
}

#[test]
fn ambiguous_lengths_are_refused_or_end_the_connection() {
    let em = start();
    let a = em.addr();
    // Two different Content-Length values.
    let raw = b"POST /_emulator/now HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
    assert_eq!(status_then_close(a, raw), 400);
    // A sign in the length.
    let raw = b"POST /_emulator/now HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nabcde";
    assert_eq!(status_then_close(a, raw), 400);
    // A transfer coding other than chunked last.
    let raw = b"POST /_emulator/now HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc";
    assert_eq!(status_then_close(a, raw), 400);
    let raw =
        b"POST /_emulator/now HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
    assert_eq!(status_then_close(a, raw), 400);

    // Content-Length with chunked (the smuggling shape): the body is read as chunked, and the
    // connection is closed after the answer, so what follows is never read as a request.
    for order in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ] {
        let raw = format!(
            "POST /_emulator/now HTTP/1.1\r\nHost: x\r\n{order}\r\n0\r\n\r\nGET /_emulator/stats HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        let mut s = connect(a);
        s.write_all(raw.as_bytes()).unwrap();
        let all = responses(&read_all(&mut s));
        assert_eq!(all.len(), 1, "{order}");
        assert!(all[0].json()["now_ms"].is_i64(), "{order}");
    }
}

#[test]
fn blank_lines_before_a_request_are_bounded() {
    let em = start();
    // A few are tolerated (RFC 9112 §2.2).
    let r = send_raw(
        em.addr(),
        b"\r\n\r\n\r\nGET /_emulator/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    // A flood ends the connection long before it costs memory: the server answers (431)
    // and closes once its head buffer is full, without waiting for a request line.
    let mut s = connect(em.addr());
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let flood = b"\r\n".repeat(64 * 1024);
    let started = Instant::now();
    let _ = s.write_all(&flood);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("still open after {:?}: {e}", started.elapsed()),
        }
    }
    if let Some(r) = parse_response(&buf) {
        assert!(r.status == 431 || r.status == 400, "{}", r.status);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Sends `raw` and reads until the server closes or answers; the status, if it answered.
fn status_of(addr: SocketAddr, raw: &[u8]) -> Option<u16> {
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before reading everything: a failed write is fine.
    let _ = s.write_all(raw);
    parse_response(&read_all(&mut s)).map(|r| r.status)
}

#[test]
fn the_head_is_capped_at_64_kib_per_line_and_in_total() {
    let em = start();
    let head = |headers: &str| {
        format!("GET /_emulator/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n")
    };
    // Just under the cap: served.
    let line = format!("X-Big: {}\r\n", "a".repeat(60 * 1024));
    assert_eq!(status_of(em.addr(), head(&line).as_bytes()), Some(200));
    // One header line over 64 KiB (65 KiB, and 100 KB): refused.
    for size in [65 * 1024, 100_000] {
        let line = format!("X-Big: {}\r\n", "a".repeat(size));
        let status = status_of(em.addr(), head(&line).as_bytes());
        assert!(
            matches!(status, Some(431) | None),
            "a {size}-byte header line got {status:?}"
        );
    }
    // A request line over 64 KiB: refused.
    let long = format!(
        "GET /_emulator/now?x={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let status = status_of(em.addr(), long.as_bytes());
    assert!(matches!(status, Some(414 | 431) | None), "{status:?}");
    // Many lines, each small, over 64 KiB together: refused.
    let many: String = (0..40)
        .map(|i| format!("X-H{i}: {}\r\n", "b".repeat(2000)))
        .collect();
    let status = status_of(em.addr(), head(&many).as_bytes());
    assert!(matches!(status, Some(431) | None), "{status:?}");
    // The server still serves.
    assert_eq!(
        request(em.addr(), "GET", "/_emulator/now", None, b"")
            .unwrap()
            .status,
        200
    );
}

#[test]
fn a_trickled_head_does_not_keep_the_connection_forever() {
    let em = Emulator::start(Config {
        read_timeout: Duration::from_secs(1),
        ..Config::default()
    })
    .unwrap();
    let mut s = connect(em.addr());
    s.set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let started = Instant::now();
    let head = b"GET /_emulator/now HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain(b"a".repeat(200).iter())
        .copied()
        .collect::<Vec<u8>>();
    let mut closed = false;
    // One byte every 100 ms: each byte resets an idle timer, never a total one.
    for b in head {
        if s.write_all(&[b]).is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {
                // A 408 answer before the close is fine.
                closed = true;
                break;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    assert!(closed, "still open after {:?}", started.elapsed());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let em = Emulator::start(Config {
        read_timeout: Duration::from_millis(500),
        ..Config::default()
    })
    .unwrap();
    let mut s = connect(em.addr());
    s.write_all(b"GET /_emulator/now HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let buf = read_all(&mut s);
    assert_eq!(responses(&buf).len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
    // A connection that never sends a byte is closed too.
    let mut silent = connect(em.addr());
    let started = Instant::now();
    let _ = read_all(&mut silent); // returns once the server closes
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn connections_over_the_cap_get_503_until_one_closes() {
    let em = Emulator::start(Config {
        max_connections: 4,
        ..Config::default()
    })
    .unwrap();
    let mut open: Vec<TcpStream> = (0..4).map(|_| connect(em.addr())).collect();
    let gateway = |addr| request(addr, "GET", "/rest/seller/get", None, b"").unwrap();
    // Let the server accept them all.
    let r = {
        let mut answer = None;
        for _ in 0..50 {
            let r = gateway(em.addr());
            if r.status == 503 {
                answer = Some(r);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        answer.expect("no 503 with the cap reached")
    };
    assert!(r.text().contains("too many connections"));
    // The control API has a budget of its own: idle gateway connections never make it 503.
    for _ in 0..20 {
        let r = request(em.addr(), "GET", "/_emulator/now", None, b"").unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.json()["now_ms"].is_i64());
    }
    // Many control connections at once, beside the full gateway budget: all answered.
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                scope.spawn(|| {
                    request(em.addr(), "GET", "/_emulator/stats", None, b"")
                        .unwrap()
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    // One closes: a new client is served again.
    drop(open.pop());
    let mut served = false;
    for _ in 0..100 {
        if gateway(em.addr()).status != 503 {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(served);
}

#[test]
fn control_api_answers_while_eight_connections_sit_in_a_delay() {
    let em = start();
    let t = create(&em, "slow");
    let access = str_of(&t, "access_token").to_owned();
    em.reset_stats();
    em.inject(Fault::Delay(Duration::from_secs(30)), Some("/slow"), 8);
    std::thread::scope(|scope| {
        let delayed: Vec<_> = (0..8)
            .map(|_| {
                let em = &em;
                let access = &access;
                scope.spawn(move || {
                    let started = Instant::now();
                    let v = gop(em, "/slow", &[("access_token", access)]).json();
                    (v, started.elapsed())
                })
            })
            .collect();
        // Wait until all 8 have arrived and sit in their delay.
        let deadline = Instant::now() + Duration::from_secs(10);
        while em.stats().get("/slow").copied().unwrap_or(0) < 8 {
            assert!(
                Instant::now() < deadline,
                "the delayed requests did not arrive"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // The control API and other APIs answer at once.
        for _ in 0..20 {
            let started = Instant::now();
            let r = request(em.addr(), "GET", "/_emulator/now", None, b"").unwrap();
            assert_eq!(r.status, 200);
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{:?}",
                started.elapsed()
            );
        }
        let started = Instant::now();
        let v = gop(&em, "/fast", &[("access_token", &access)]).json();
        assert_eq!(v["code"], "0");
        assert!(started.elapsed() < Duration::from_secs(1));
        // clear_faults over HTTP ends the delays at once; they then answer normally.
        let started = Instant::now();
        let r = request(em.addr(), "POST", "/_emulator/clear_faults", None, b"").unwrap();
        assert_eq!(r.status, 200);
        for h in delayed {
            let (v, took) = h.join().unwrap();
            assert_eq!(v["code"], "0", "{v}");
            assert!(took < Duration::from_secs(10), "{took:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn delays_are_capped_at_ten_minutes() {
    let em = start();
    let ten = iop_emulator::MAX_DELAY.as_millis();
    let r = request(
        em.addr(),
        "POST",
        &format!("/_emulator/fault?kind=delay&ms={}", ten + 1),
        None,
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("10 minutes"));
    let r = request(
        em.addr(),
        "POST",
        &format!("/_emulator/fault?kind=delay&ms={ten}"),
        None,
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let r = request(
        em.addr(),
        "POST",
        &format!("/_emulator/fault?kind=delay&ms={}", u64::MAX),
        None,
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 400);
}

#[test]
fn a_reset_closes_only_its_own_connection() {
    let em = start();
    let mut other = connect(em.addr());
    em.inject(Fault::ConnectionReset, Some("/x"), 1);
    let mut s = connect(em.addr());
    let pairs = signed(
        em.app_secret(),
        em.app_key(),
        "/x",
        iop_core::SignMethod::Sha256,
        now_ms(),
        &[],
    );
    let body = form(&pairs);
    write!(
        s,
        "POST /rest/x HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        Ok(_) => assert!(buf.is_empty(), "got a response: {buf:?}"),
    }
    // The other connection, opened before, is still served.
    other
        .write_all(b"GET /_emulator/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(responses(&read_all(&mut other)).len(), 1);
}
