//! Announced sizes reserve no memory: 20 connections each announcing a 32 MB chunk and sending
//! 9 bytes leave the process about where it was (alone in its test binary: it reads the
//! process's resident size).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use iop_emulator::{Config, Emulator};

/// Resident set size of this process in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn announced_chunk_sizes_reserve_nothing() {
    let em = Emulator::start(Config::default()).unwrap();
    // Warm up the server (first connection, first request).
    let mut warm = TcpStream::connect(em.addr()).unwrap();
    warm.write_all(b"GET /_emulator/now HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib();
    let conns: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(em.addr()).unwrap();
            s.write_all(
                b"POST /rest/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2000000\r\n123456789",
            )
            .unwrap();
            s
        })
        .collect();
    // Let the server read all of them.
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib();
    let grown = after.saturating_sub(before);
    // 20 × 32 MB would be 640 MB; allow a few MB for buffers and tasks.
    assert!(
        grown < 16 * 1024,
        "grew by {grown} KiB ({before} -> {after})"
    );
    drop(conns);
}
