//! Raw bytes to the emulator's HTTP server (in this process, on loopback): every input gets an
//! answer or a clean close within a few seconds, never a hang, a crash or a dead server.
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use iop_emulator::{Config, Emulator};
use libfuzzer_sys::fuzz_target;

fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        Emulator::start(Config {
            read_timeout: Duration::from_secs(2),
            ..Config::default()
        })
        .expect("emulator")
    })
}

fuzz_target!(|request: &[u8]| {
    let emu = emulator();
    let mut stream = TcpStream::connect(emu.addr()).expect("the emulator accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // A write may fail once the server has answered and closed (a 400 for garbage): fine.
    let _ = stream.write_all(request);
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {
            if !answer.is_empty() {
                assert!(answer.starts_with(b"HTTP/1."), "not an HTTP answer");
            }
        }
        // A reset (the `reset` fault is never injected here, but a refused request may be
        // closed hard) is a close; a timeout is a hang.
        Err(e) => assert_ne!(
            e.kind(),
            std::io::ErrorKind::WouldBlock,
            "no answer and no close within 5 s"
        ),
    }
    // The server is alive and still answers a plain request.
    let mut probe = TcpStream::connect(emu.addr()).expect("the emulator accepts connections");
    probe
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    probe
        .write_all(b"GET /_emulator/now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("probe");
    let mut answer = Vec::new();
    probe
        .read_to_end(&mut answer)
        .expect("the probe is answered");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "the emulator stopped answering"
    );
});
