//! The control API under `/_emulator/`, and the `iop-emulator` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::*;
use iop_emulator::{Config, Emulator};
use serde_json::Value;

fn ctl(addr: SocketAddr, method: &str, target: &str) -> (u16, Value) {
    let r = request(addr, method, target, None, b"").unwrap();
    (r.status, r.json())
}

#[test]
fn authorize_stats_reset_now_advance() {
    let em = Emulator::start(Config::default()).unwrap();
    let a = em.addr();
    let (status, v) = ctl(a, "POST", "/_emulator/authorize?seller_id=ctl-seller");
    assert_eq!(status, 200);
    let code = v["code"].as_str().unwrap().to_owned();
    let t = gop(&em, "/auth/token/create", &[("code", &code)]).json();
    assert_eq!(t["seller_id"], "ctl-seller");

    let (_, stats) = ctl(a, "GET", "/_emulator/stats");
    assert_eq!(stats, serde_json::json!({"/auth/token/create": 1}));
    let (status, _) = ctl(a, "POST", "/_emulator/reset_stats");
    assert_eq!(status, 200);
    assert_eq!(ctl(a, "GET", "/_emulator/stats").1, serde_json::json!({}));

    let (_, now) = ctl(a, "GET", "/_emulator/now");
    let before = now["now_ms"].as_i64().unwrap();
    let (status, adv) = ctl(a, "POST", "/_emulator/advance?seconds=3600");
    assert_eq!(status, 200);
    let after = adv["now_ms"].as_i64().unwrap();
    assert!(after - before >= 3_600_000 && after - before < 3_660_000);
    assert!(ms_of(em.now()) >= after);
    // Parameters may also come in a form body.
    let r = request(a, "POST", "/_emulator/advance", Some(FORM), b"ms=1500").unwrap();
    assert!(r.json()["now_ms"].as_i64().unwrap() >= after + 1500);
}

#[test]
fn fault_clear_and_revoke() {
    let em = Emulator::start(Config::default()).unwrap();
    let a = em.addr();
    let t = create(&em, "s");
    let refresh = str_of(&t, "refresh_token").to_owned();

    let (status, _) = ctl(
        a,
        "POST",
        "/_emulator/fault?kind=http500&times=2&api=/auth/token/refresh",
    );
    assert_eq!(status, 200);
    assert_eq!(
        gop(&em, "/auth/token/refresh", &[("refresh_token", &refresh)]).status,
        500
    );
    ctl(a, "POST", "/_emulator/clear_faults");
    assert_eq!(
        gop(&em, "/auth/token/refresh", &[("refresh_token", &refresh)]).status,
        200
    );

    for kind in [
        "delay&ms=1",
        "reset",
        "html502",
        "truncated",
        "rate_limit&ban=1",
    ] {
        let (status, v) = ctl(a, "POST", &format!("/_emulator/fault?kind={kind}&times=1"));
        assert_eq!(status, 200, "{kind}: {v}");
        ctl(a, "POST", "/_emulator/clear_faults");
    }
    let (status, v) = ctl(a, "POST", "/_emulator/fault?kind=meteor");
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("kind"));
    let (status, _) = ctl(a, "POST", "/_emulator/fault?kind=delay&ms=soon");
    assert_eq!(status, 400);

    let t = create(&em, "victim");
    let (status, _) = ctl(a, "POST", "/_emulator/revoke?seller_id=victim");
    assert_eq!(status, 200);
    let v = gop(
        &em,
        "/auth/token/refresh",
        &[("refresh_token", str_of(&t, "refresh_token"))],
    )
    .json();
    assert_eq!(code(&v), "IllegalRefreshToken");

    assert_eq!(ctl(a, "POST", "/_emulator/authorize").0, 400);
    assert_eq!(ctl(a, "POST", "/_emulator/revoke").0, 400);
    assert_eq!(ctl(a, "GET", "/_emulator/nope").0, 404);
}

#[test]
fn control_rate_limit_reaches_the_gateway() {
    let em = Emulator::start(Config::default()).unwrap();
    ctl(em.addr(), "POST", "/_emulator/fault?kind=rate_limit&ban=7");
    let v = gop(&em, "/x", &[("access_token", "t")]).json();
    assert_eq!(code(&v), "ApiCallLimit");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("this ban will last 7 seconds")
    );
}

/// Kills the child when the test ends, pass or fail.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn binary_prints_its_url_first_and_serves() {
    let child = Command::new(env!("CARGO_BIN_EXE_iop-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--app-key",
            "bin-key",
            "--app-secret",
            "bin-secret",
            "--access-ttl",
            "600",
            "--no-rotate",
            "--threads",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim();
    let addr: SocketAddr = url.strip_prefix("http://").unwrap().parse().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{url}");

    let (_, v) = ctl(addr, "POST", "/_emulator/authorize?seller_id=b");
    let c = v["code"].as_str().unwrap().to_owned();
    let pairs = signed(
        "bin-secret",
        "bin-key",
        "/auth/token/create",
        iop_core::SignMethod::Sha256,
        now_ms(),
        &[("code", &c)],
    );
    let r = request(
        addr,
        "POST",
        "/rest/auth/token/create",
        Some(FORM),
        form(&pairs).as_bytes(),
    )
    .unwrap();
    let t = r.json();
    assert_eq!(t["seller_id"], "b", "{t}");
    assert_eq!(t["expires_in"], 600);
    // --no-rotate: the refresh token can be used twice.
    for _ in 0..2 {
        let pairs = signed(
            "bin-secret",
            "bin-key",
            "/auth/token/refresh",
            iop_core::SignMethod::Sha256,
            now_ms(),
            &[("refresh_token", str_of(&t, "refresh_token"))],
        );
        let r = request(
            addr,
            "POST",
            "/rest/auth/token/refresh",
            Some(FORM),
            form(&pairs).as_bytes(),
        )
        .unwrap();
        assert_eq!(r.json()["code"], "0");
    }
}

#[test]
fn binary_refuses_a_remote_address() {
    let out = Command::new(env!("CARGO_BIN_EXE_iop-emulator"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

#[test]
fn binary_help_does_not_show_the_secret_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_iop-emulator"))
        .arg("--help")
        .env("IOP_EMULATOR_APP_SECRET", "env-secret-value")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--app-secret"));
    assert!(!text.contains("env-secret-value"));
    assert!(!text.contains("test-app-secret"));
}

/// Starts the binary with `args` (and `stdin`), answers its address.
fn spawn_binary(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> (Child, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iop-emulator"));
    cmd.args(args)
        .env_remove("IOP_EMULATOR_APP_SECRET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = Child(cmd.spawn().unwrap());
    {
        let mut input = child.0.stdin.take().unwrap();
        if let Some(text) = stdin {
            std::io::Write::write_all(&mut input, text.as_bytes()).unwrap();
        }
    }
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("no URL: {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

/// Whether a call signed with `secret` is accepted by the emulator at `addr`.
fn accepts_secret(addr: SocketAddr, secret: &str) -> bool {
    let pairs = signed(
        secret,
        "test-app-key",
        "/x",
        iop_core::SignMethod::Sha256,
        now_ms(),
        &[],
    );
    let r = request(addr, "POST", "/rest/x", Some(FORM), form(&pairs).as_bytes()).unwrap();
    r.json()["code"] == "0"
}

#[test]
fn binary_reads_the_app_secret_from_a_file_stdin_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "file-secret\n").unwrap();
    let path = file.to_str().unwrap();
    let (_c, addr) = spawn_binary(&["--app-secret-file", path], &[], None);
    assert!(accepts_secret(addr, "file-secret"));
    assert!(!accepts_secret(addr, "test-app-secret"));

    let (_c, addr) = spawn_binary(&["--app-secret-file", "-"], &[], Some("stdin-secret\r\n"));
    assert!(accepts_secret(addr, "stdin-secret"));

    let (_c, addr) = spawn_binary(&[], &[("IOP_EMULATOR_APP_SECRET", "env-secret")], None);
    assert!(accepts_secret(addr, "env-secret"));

    // The file wins over the variable; the old flag still works.
    let (_c, addr) = spawn_binary(
        &["--app-secret-file", path],
        &[("IOP_EMULATOR_APP_SECRET", "env-secret")],
        None,
    );
    assert!(accepts_secret(addr, "file-secret"));
    let (_c, addr) = spawn_binary(&["--app-secret", "flag-secret"], &[], None);
    assert!(accepts_secret(addr, "flag-secret"));
}

#[test]
fn binary_refuses_an_empty_or_missing_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    for path in [empty.clone(), dir.path().join("missing")] {
        let out = Command::new(env!("CARGO_BIN_EXE_iop-emulator"))
            .args(["--app-secret-file", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("app secret"), "{err}");
    }
}
