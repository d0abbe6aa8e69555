//! `Emulator` drop leaves no thread behind, even with requests sitting in a long delay (alone
//! in its test binary: it counts the process's threads).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use iop_emulator::{Config, Emulator, Fault};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn close_with_pending_delays_leaks_no_thread() {
    let before = threads();
    for threads_setting in [1, 8] {
        let em = Emulator::start(Config {
            threads: threads_setting,
            ..Config::default()
        })
        .unwrap();
        // Few threads whatever the setting: the runtime's workers and the one that owns it.
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let running = threads() - before;
        assert!(
            running <= threads_setting.min(cpus) + 1,
            "{running} threads for threads={threads_setting}"
        );
        em.inject(Fault::Delay(iop_emulator::MAX_DELAY), None, 4);
        em.inject(Fault::HoldBefore, None, 1);
        let mut clients: Vec<TcpStream> = (0..5)
            .map(|_| {
                let mut s = TcpStream::connect(em.addr()).unwrap();
                s.write_all(b"GET /rest/x?a=1 HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                s
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while em.stats().get("/x").copied().unwrap_or(0) < 5 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
        let started = Instant::now();
        em.shutdown();
        assert!(started.elapsed() < Duration::from_secs(5));
        // Every delayed client sees its connection closed.
        for s in &mut clients {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            assert!(buf.is_empty());
        }
        // A joined thread can stay listed for a moment while the kernel finishes its exit:
        // what counts is that none stays.
        let deadline = Instant::now() + Duration::from_secs(5);
        while threads() != before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(threads(), before, "threads left after shutdown");
    }
}
