//! The `iop` binary against an in-process iop-emulator: output and exit status of every
//! subcommand. Every run clears the IOP_* environment first.

// Helpers outside #[test] functions too: a failed expectation is a failed test.
#![allow(clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use iop_emulator::{Config, Emulator};

const IOP_ENV: [&str; 6] = [
    "IOP_APP_KEY",
    "IOP_APP_SECRET",
    "IOP_BASE_URL",
    "IOP_AUTH_CODE",
    "IOP_REFRESH_TOKEN",
    "IOP_ACCESS_TOKEN",
];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `iop` with a clean environment, pointed at `emulator` when given.
fn iop(emulator: Option<&Emulator>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iop"));
    for name in IOP_ENV {
        cmd.env_remove(name);
    }
    if let Some(e) = emulator {
        cmd.env("IOP_APP_KEY", e.app_key())
            .env("IOP_APP_SECRET", e.app_secret())
            .env("IOP_BASE_URL", e.url());
    }
    cmd.args(args);
    cmd
}

fn run(mut cmd: Command) -> Run {
    run_with_stdin(&mut cmd, None)
}

fn run_with_stdin(cmd: &mut Command, input: Option<&str>) -> Run {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn iop");
    if let Some(input) = input {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait for iop");
    Run {
        code: output.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn emulator() -> Emulator {
    Emulator::start(Config {
        access_ttl: Duration::from_secs(86_400),
        ..Config::default()
    })
    .expect("start emulator")
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {run:?}"))
}

fn str_field<'a>(value: &'a serde_json::Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name} in {value}"))
}

/// Creates a token for `seller` and saves it in `dir` through the command.
fn create_into_store(emu: &Emulator, dir: &Path, seller: &str) -> Run {
    let code = emu.authorize(seller);
    let dir = dir.to_str().expect("utf-8 dir");
    let out = run(iop(
        Some(emu),
        &[
            "token", "create", "--code", &code, "--store", dir, "--seller", seller,
        ],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    out
}

/// Every access and refresh token stored in `dir`'s files.
fn stored_secrets(dir: &Path) -> Vec<String> {
    use iop_core::TokenStore;
    // Read through the store itself: a token file holds its record in one of two slots.
    let store = iop_core::FileStore::open(dir).expect("open store");
    let mut secrets = Vec::new();
    for key in store.keys().expect("keys") {
        let Some(stored) = store.load(&key).expect("load") else {
            continue;
        };
        if let Some(access) = &stored.token.access_token {
            secrets.push(access.secret().to_owned());
        }
        if let Some(refresh) = &stored.token.refresh_token {
            secrets.push(refresh.secret().to_owned());
        }
    }
    secrets
}

#[test]
fn help_documents_the_exit_statuses() {
    let out = run(iop(None, &["--help"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Exit status"), "{out:?}");
    assert!(out.stdout.contains("3  a seller must authorize"), "{out:?}");
    let out = run(iop(None, &["refresh-due", "--help"]));
    assert!(out.stdout.contains("4 both"), "{out:?}");
}

#[test]
fn missing_environment_is_a_clear_usage_error() {
    let out = run(iop(None, &["token", "refresh", "--refresh-token", "r"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("IOP_APP_KEY"), "{out:?}");
    assert!(out.stderr.contains("IOP_APP_SECRET"), "{out:?}");

    let mut cmd = iop(None, &["doctor"]);
    cmd.env("IOP_APP_KEY", "some-key");
    let out = run(cmd);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("missing app secret"), "{out:?}");
    assert!(out.stderr.contains("IOP_APP_SECRET"), "{out:?}");
    assert!(!out.stderr.contains("IOP_APP_KEY"), "{out:?}");

    let mut cmd = iop(None, &["refresh-due", "--store", "/nonexistent"]);
    cmd.env("IOP_APP_SECRET", "s");
    let out = run(cmd);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("missing app key: set IOP_APP_KEY"),
        "{out:?}"
    );

    // Plain http only to loopback.
    let mut cmd = iop(None, &["doctor"]);
    cmd.env("IOP_APP_KEY", "k")
        .env("IOP_APP_SECRET", "s")
        .env("IOP_BASE_URL", "http://api-sg.aliexpress.com");
    let out = run(cmd);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("bad base URL"), "{out:?}");
}

#[test]
fn store_and_seller_go_together() {
    for args in [
        &["token", "create", "--code", "c", "--store", "/tmp/x"][..],
        &["token", "create", "--code", "c", "--seller", "s"][..],
        &["call", "/seller/get", "--seller", "s"][..],
        &["token", "refresh"][..],
    ] {
        let mut cmd = iop(None, args);
        cmd.env("IOP_APP_KEY", "k").env("IOP_APP_SECRET", "s");
        let out = run(cmd);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains("required"), "{args:?}: {out:?}");
    }
}

#[test]
fn the_secret_is_never_a_flag_value() {
    let out = run(iop(None, &["--app-secret", "s", "doctor"]));
    assert_eq!(out.code, 2, "{out:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("secret");
    std::fs::write(&file, "test-app-secret\n").expect("write");
    let emu = emulator();
    let mut cmd = iop(
        None,
        &["doctor", "--app-secret-file", file.to_str().expect("utf-8")],
    );
    cmd.env("IOP_APP_KEY", emu.app_key())
        .env("IOP_BASE_URL", emu.url());
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn malformed_params_are_usage_errors() {
    let emu = emulator();
    let cases: [&[&str]; 3] = [
        &[
            "call",
            "aliexpress.solution.product.list.get",
            "-p",
            "page_size",
        ],
        &[
            "sign",
            "explain",
            "/auth/token/refresh",
            "-p",
            "refresh_token",
        ],
        &["call", "/seller/get", "-p", "=value"],
    ];
    for args in cases {
        let out = run(iop(Some(&emu), args));
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains("KEY=VALUE"), "{args:?}: {out:?}");
    }
    assert_eq!(emu.stats().values().sum::<u64>(), 0, "nothing was sent");
}

#[test]
fn token_create_prints_the_token_set() {
    let emu = emulator();
    let code = emu.authorize("seller-1");
    let out = run(iop(Some(&emu), &["token", "create", "--code", &code]));
    assert_eq!(out.code, 0, "{out:?}");
    let token = json(&out);
    assert_eq!(str_field(&token, "seller_id"), "seller-1");
    assert!(!str_field(&token, "access_token").is_empty());

    // A code works once: the second use is a reauthorization case.
    let out = run(iop(Some(&emu), &["token", "create", "--code", &code]));
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("InvalidCode"), "{out:?}");
}

#[test]
fn token_create_reads_the_code_from_stdin() {
    let emu = emulator();
    let code = emu.authorize("seller-2");
    let mut cmd = iop(Some(&emu), &["token", "create", "--code", "-"]);
    let out = run_with_stdin(&mut cmd, Some(&format!("{code}\n")));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(str_field(&json(&out), "seller_id"), "seller-2");

    // Secret and code cannot both come from stdin.
    let mut cmd = iop(
        None,
        &["token", "create", "--code", "-", "--app-secret-stdin"],
    );
    cmd.env("IOP_APP_KEY", emu.app_key());
    let out = run_with_stdin(&mut cmd, Some("x\n"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("stdin"), "{out:?}");
}

#[test]
fn token_refresh_rotates_and_the_old_refresh_token_needs_reauthorization() {
    let emu = emulator();
    let code = emu.authorize("seller-3");
    let created = json(&run(iop(Some(&emu), &["token", "create", "--code", &code])));
    let old = str_field(&created, "refresh_token").to_owned();

    let mut cmd = iop(Some(&emu), &["token", "refresh", "--refresh-token", "-"]);
    let out = run_with_stdin(&mut cmd, Some(&old));
    assert_eq!(out.code, 0, "{out:?}");
    let refreshed = json(&out);
    assert_eq!(str_field(&refreshed, "seller_id"), "seller-3");
    assert_ne!(str_field(&refreshed, "refresh_token"), old);

    let out = run(iop(
        Some(&emu),
        &["token", "refresh", "--refresh-token", &old],
    ));
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("IllegalRefreshToken"), "{out:?}");
    assert!(out.stderr.contains("authorize the app again"), "{out:?}");
    assert!(!out.stderr.contains(&old), "{out:?}");
}

#[test]
fn token_commands_with_a_store_save_and_mask() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = create_into_store(&emu, dir.path(), "seller-4");
    assert!(out.stdout.contains("seller-4"), "{out:?}");
    assert!(out.stdout.contains("access_token"), "{out:?}");
    let secrets = stored_secrets(dir.path());
    assert_eq!(secrets.len(), 2, "one access and one refresh token stored");
    for secret in &secrets {
        assert!(!out.stdout.contains(secret.as_str()), "{out:?}");
    }
    assert!(
        out.stdout.contains(&iop_core::secret::mask(&secrets[0])),
        "{out:?}"
    );

    // Refresh the stored token: no --refresh-token needed.
    let store = dir.path().to_str().expect("utf-8");
    let out = run(iop(
        Some(&emu),
        &["token", "refresh", "--store", store, "--seller", "seller-4"],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    let after = stored_secrets(dir.path());
    assert_eq!(after.len(), 2);
    assert_ne!(after, secrets, "the store holds the new token set");
    for secret in after.iter().chain(&secrets) {
        assert!(!out.stdout.contains(secret.as_str()), "{out:?}");
    }
    assert_eq!(emu.stats().get("/auth/token/refresh"), Some(&1));

    let out = run(iop(
        Some(&emu),
        &["token", "refresh", "--store", store, "--seller", "nobody"],
    ));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("nobody"), "{out:?}");
}

#[test]
fn refresh_due_refreshes_what_is_due_and_reports_sellers_to_reauthorize() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().to_str().expect("utf-8");
    for seller in ["seller-a", "seller-b", "seller-c"] {
        create_into_store(&emu, dir.path(), seller);
    }

    // Access tokens live one day: none is due within an hour.
    let out = run(iop(
        Some(&emu),
        &["refresh-due", "--store", store, "--within", "1h"],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "one summary line: {out:?}");
    assert!(
        out.stdout.contains("3 stored, 0 refreshed, 3 not due"),
        "{out:?}"
    );

    let out = run(iop(
        Some(&emu),
        &[
            "refresh-due",
            "--store",
            store,
            "--within",
            "3d",
            "--concurrency",
            "2",
        ],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("3 refreshed"), "{out:?}");
    assert_eq!(emu.stats().get("/auth/token/refresh"), Some(&3));

    // seller-b's refresh tokens die: it must authorize again (exit 3), the others refresh.
    emu.revoke_refresh_tokens("seller-b");
    let out = run(iop(Some(&emu), &["refresh-due", "--store", store]));
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stdout.contains("2 refreshed"), "{out:?}");
    assert!(out.stdout.contains("1 must reauthorize"), "{out:?}");
    assert!(out.stdout.contains("reauthorize: seller-b"), "{out:?}");
    for secret in stored_secrets(dir.path()) {
        assert!(!out.stdout.contains(secret.as_str()), "{out:?}");
    }
}

#[test]
fn refresh_due_reports_refresh_tokens_expired_on_the_gateway_clock() {
    let emu = Emulator::start(Config {
        access_ttl: Duration::from_secs(3600),
        refresh_ttl: Duration::from_secs(2 * 86_400),
        ..Config::default()
    })
    .expect("start emulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().to_str().expect("utf-8");
    create_into_store(&emu, dir.path(), "seller-x");
    // Three days later on the gateway's clock the refresh token has expired.
    emu.advance(Duration::from_secs(3 * 86_400));
    let out = run(iop(
        Some(&emu),
        &["refresh-due", "--store", store, "--within", "1d"],
    ));
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stdout.contains("0 refreshed"), "{out:?}");
    assert!(out.stdout.contains("reauthorize: seller-x"), "{out:?}");
}

#[test]
fn refresh_due_needs_an_existing_store() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let out = run(iop(
        Some(&emu),
        &["refresh-due", "--store", missing.to_str().expect("utf-8")],
    ));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("does not exist"), "{out:?}");
    assert!(!missing.exists(), "nothing created");
    let out = run(iop(
        Some(&emu),
        &["refresh-due", "--store", ".", "--within", "soon"],
    ));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("30m, 12h or 3d"), "{out:?}");
}

#[test]
fn sign_explain_shows_url_style_and_a_redacted_string_to_sign() {
    let mut cmd = iop(
        None,
        &[
            "sign",
            "explain",
            "/auth/token/refresh",
            "-p",
            "refresh_token=RT-very-secret-value",
            "--timestamp",
            "1700000000000",
        ],
    );
    cmd.env("IOP_APP_KEY", "12345");
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("https://api-sg.aliexpress.com/rest/auth/token/refresh"),
        "{out:?}"
    );
    assert!(out.stdout.contains("GOP"), "{out:?}");
    assert!(out.stdout.contains("app_key12345"), "{out:?}");
    assert!(out.stdout.contains("timestamp1700000000000"), "{out:?}");
    assert!(!out.stdout.contains("RT-very-secret-value"), "{out:?}");
    assert!(out.stdout.contains("warnings        none"), "{out:?}");

    let mut cmd = iop(
        None,
        &[
            "sign",
            "explain",
            "aliexpress.solution.product.list.get",
            "-p",
            "page_size=20",
            "-p",
            "empty=",
            "--access-token-stdin",
        ],
    );
    cmd.env("IOP_APP_KEY", "12345")
        .env("IOP_BASE_URL", "https://api-sg.aliexpress.com/sync");
    let out = run_with_stdin(&mut cmd, Some("AT-very-secret-value\n"));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("https://api-sg.aliexpress.com/sync"),
        "{out:?}"
    );
    assert!(out.stdout.contains("TOP"), "{out:?}");
    assert!(out.stdout.contains("session"), "{out:?}");
    assert!(!out.stdout.contains("AT-very-secret-value"), "{out:?}");
    assert!(
        out.stdout.contains("  - "),
        "the empty value is warned about: {out:?}"
    );
    assert!(out.stdout.contains("empty"), "{out:?}");
}

#[test]
fn call_prints_json_with_a_token_from_stdin_or_the_store() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().to_str().expect("utf-8");
    create_into_store(&emu, dir.path(), "seller-5");

    let api = "aliexpress.solution.product.list.get";
    let out = run(iop(
        Some(&emu),
        &[
            "call",
            api,
            "-p",
            "page_size=17",
            "--seller",
            "seller-5",
            "--store",
            store,
        ],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    json(&out);
    assert!(
        out.stdout.contains("17"),
        "the emulator echoes the parameters: {out:?}"
    );
    assert_eq!(emu.stats().get(api), Some(&1));

    let code = emu.authorize("seller-6");
    let token = json(&run(iop(Some(&emu), &["token", "create", "--code", &code])));
    let mut cmd = iop(
        Some(&emu),
        &["call", "/seller/get", "-p", "x=y=z", "--access-token-stdin"],
    );
    let out = run_with_stdin(&mut cmd, Some(str_field(&token, "access_token")));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("y=z"), "{out:?}");

    // A wrong access token is a gateway error: exit 1 with the code.
    let mut cmd = iop(Some(&emu), &["call", api, "--access-token-stdin"]);
    let out = run_with_stdin(&mut cmd, Some("not-a-token"));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("IllegalAccessToken"), "{out:?}");

    let out = run(iop(Some(&emu), &["call", "/seller/get/"]));
    assert_eq!(
        out.code, 2,
        "a trailing slash is refused before sending: {out:?}"
    );
}

#[test]
fn doctor_passes_on_good_credentials_and_reports_stored_tokens() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().to_str().expect("utf-8");
    create_into_store(&emu, dir.path(), "seller-7");
    let out = run(iop(Some(&emu), &["doctor", "--store", store]));
    assert_eq!(out.code, 0, "{out:?}");
    // The emulator's answers may carry no Date header: then the clock is a warning, not a failure.
    assert!(
        out.stdout.contains("ok    clock") || out.stdout.contains("WARN  clock"),
        "{out:?}"
    );
    assert!(out.stdout.contains("ok    app secret"), "{out:?}");
    assert!(out.stdout.contains("ok    token seller-7"), "{out:?}");
    assert!(
        out.stdout.contains("access token expires in 23h")
            || out.stdout.contains("access token expires in 1d"),
        "{out:?}"
    );
}

#[test]
fn doctor_names_a_wrong_secret() {
    let emu = emulator();
    let mut cmd = iop(Some(&emu), &["doctor"]);
    cmd.env("IOP_APP_SECRET", "not-the-secret");
    let out = run(cmd);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("FAIL  app secret"), "{out:?}");
    assert!(out.stdout.contains("IncompleteSignature"), "{out:?}");
    assert!(out.stdout.contains("ok    app key"), "{out:?}");
    assert!(!out.stdout.contains("not-the-secret"), "{out:?}");
}

#[test]
fn doctor_names_a_wrong_key_and_dead_tokens() {
    let emu = Emulator::start(Config {
        access_ttl: Duration::from_secs(3600),
        refresh_ttl: Duration::from_secs(7200),
        ..Config::default()
    })
    .expect("start emulator");
    let mut cmd = iop(Some(&emu), &["doctor"]);
    cmd.env("IOP_APP_KEY", "no-such-key");
    let out = run(cmd);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("FAIL  app key"), "{out:?}");
    assert!(out.stdout.contains("InvalidAppKey"), "{out:?}");

    // A refresh token that lives 2 hours is worth a warning, not a failure.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().to_str().expect("utf-8");
    create_into_store(&emu, dir.path(), "seller-8");
    let out = run(iop(Some(&emu), &["doctor", "--store", store]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("WARN  token seller-8"), "{out:?}");
}

#[test]
fn demo_runs_offline_without_credentials() {
    let out = run(iop(None, &["demo"]));
    assert_eq!(out.code, 0, "{out:?}");
    for step in 1..=6 {
        assert!(out.stdout.contains(&format!("[{step}/6]")), "{out:?}");
    }
    assert!(
        out.stdout.contains("IllegalRefreshToken"),
        "rotation shown: {out:?}"
    );
    assert!(out.stdout.contains("made 1 refresh call"), "{out:?}");
    assert!(!out.stdout.contains("test-app-secret"), "{out:?}");
    // "new access token, new refresh token": the masks show it (their ends differ; every
    // AliExpress token starts with 5000, so masks of the first characters were all alike).
    let masks = |name: &str| -> Vec<String> {
        out.stdout
            .lines()
            .filter_map(|l| l.trim().strip_prefix(name))
            .filter_map(|rest| rest.split_whitespace().next().map(str::to_owned))
            .collect()
    };
    for name in ["access_token", "refresh_token"] {
        let shown = masks(name);
        assert!(shown.len() >= 2, "{name}: {shown:?} in {out:?}");
        assert!(
            shown
                .iter()
                .all(|m| m.starts_with('…') && m.chars().count() == 5)
        );
        assert_ne!(
            shown[0], shown[1],
            "{name} before and after the refresh: {out:?}"
        );
    }
}

#[test]
fn demo_runs_against_a_gateway_from_the_environment() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().to_str().expect("utf-8");
    let mut cmd = iop(
        Some(&emu),
        &["demo", "--store", store, "--seller", "seller-9"],
    );
    cmd.env("IOP_AUTH_CODE", emu.authorize("seller-9"));
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("[4/4]"), "{out:?}");
    assert!(!out.stdout.contains("skipped"), "{out:?}");
    let secrets = stored_secrets(dir.path());
    assert_eq!(secrets.len(), 2);
    for secret in &secrets {
        assert!(!out.stdout.contains(secret.as_str()), "{out:?}");
    }
    // create + dummy check + refresh
    assert_eq!(emu.stats().get("/auth/token/refresh"), Some(&2));

    // Without --store nothing that would replace tokens runs.
    let out = run(iop(Some(&emu), &["demo"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("skipped"), "{out:?}");

    let mut cmd = iop(Some(&emu), &["demo"]);
    cmd.env("IOP_APP_SECRET", "wrong");
    let out = run(cmd);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("IncompleteSignature"), "{out:?}");
}

#[test]
fn refresh_due_draws_a_progress_bar_only_on_a_terminal() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().to_str().expect("utf-8");
    for seller in ["seller-p", "seller-q"] {
        create_into_store(&emu, dir.path(), seller);
    }
    // Not a terminal: no bar, one summary line.
    let out = run(iop(
        Some(&emu),
        &["refresh-due", "--store", store, "--within", "3d"],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stderr.contains("sellers,"), "{out:?}");

    // A terminal (util-linux `script` gives the command a pseudo-terminal): the bar is drawn.
    let line = format!(
        "'{}' refresh-due --store '{store}' --within 3d",
        env!("CARGO_BIN_EXE_iop")
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    for name in IOP_ENV {
        cmd.env_remove(name);
    }
    cmd.env("IOP_APP_KEY", emu.app_key())
        .env("IOP_APP_SECRET", emu.app_secret())
        .env("IOP_BASE_URL", emu.url());
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("/2 sellers,"), "{out:?}");
    assert!(out.stdout.contains("2 stored, 2 refreshed"), "{out:?}");
}

#[test]
fn refresh_due_exits_4_when_some_fail_and_some_must_reauthorize() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().to_str().expect("utf-8");
    for seller in ["seller-broken", "seller-revoked", "seller-fine"] {
        create_into_store(&emu, dir.path(), seller);
    }
    // Cut the file of seller-broken in half; revoke seller-revoked's refresh tokens.
    let broken = iop_core::FileStore::open(dir.path())
        .expect("open store")
        .path_of("seller-broken")
        .expect("path");
    let bytes = std::fs::read(&broken).expect("read the file of seller-broken");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).expect("truncate");
    emu.revoke_refresh_tokens("seller-revoked");

    let out = run(iop(Some(&emu), &["refresh-due", "--store", store]));
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stdout.contains("1 refreshed"), "{out:?}");
    assert!(
        out.stdout.contains("1 failed, 1 must reauthorize"),
        "{out:?}"
    );
    assert!(out.stdout.contains("failed: seller-broken"), "{out:?}");
    assert!(
        out.stdout.contains("reauthorize: seller-revoked"),
        "{out:?}"
    );

    // doctor names the unreadable token.
    let out = run(iop(Some(&emu), &["doctor", "--store", store]));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("FAIL  token seller-broken"), "{out:?}");
    assert!(out.stdout.contains("ok    token seller-fine"), "{out:?}");
}

#[test]
fn secrets_come_from_stdin_files_or_the_environment_without_a_warning() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        format!("@{}", path.to_str().expect("utf-8"))
    };

    // --code @FILE, then $IOP_AUTH_CODE.
    let code = file("code", &format!("{}\n", emu.authorize("seller-f")));
    let out = run(iop(Some(&emu), &["token", "create", "--code", &code]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stderr.contains("warning"), "{out:?}");
    let mut cmd = iop(Some(&emu), &["token", "create"]);
    cmd.env("IOP_AUTH_CODE", emu.authorize("seller-f"));
    let created = run(cmd);
    assert_eq!(created.code, 0, "{created:?}");
    assert!(!created.stderr.contains("warning"), "{created:?}");
    let out = run(iop(Some(&emu), &["token", "create"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("IOP_AUTH_CODE"), "{out:?}");

    // --refresh-token @FILE, then $IOP_REFRESH_TOKEN; an empty file is refused.
    let refresh = str_field(&json(&created), "refresh_token").to_owned();
    let path = file("refresh", &format!("{refresh}\n"));
    let out = run(iop(
        Some(&emu),
        &["token", "refresh", "--refresh-token", &path],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stderr.contains("warning"), "{out:?}");
    let next = str_field(&json(&out), "refresh_token").to_owned();
    let mut cmd = iop(Some(&emu), &["token", "refresh"]);
    cmd.env("IOP_REFRESH_TOKEN", &next);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    let empty = file("empty", "\n");
    let out = run(iop(
        Some(&emu),
        &["token", "refresh", "--refresh-token", &empty],
    ));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("empty"), "{out:?}");
    let missing = format!("@{}", dir.path().join("missing").display());
    let out = run(iop(
        Some(&emu),
        &["token", "refresh", "--refresh-token", &missing],
    ));
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(emu.stats().get("/auth/token/refresh"), Some(&2));

    // A secret written on the command line still works, with a warning naming the safe forms.
    let out = run(iop(
        Some(&emu),
        &["token", "create", "--code", &emu.authorize("seller-g")],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("warning"), "{out:?}");
    assert!(out.stderr.contains("--code @FILE"), "{out:?}");

    // iop call --access-token-file.
    let access = file(
        "access",
        &format!("{}\n", str_field(&json(&out), "access_token")),
    );
    let out = run(iop(
        Some(&emu),
        &["call", "/seller/get", "--access-token-file", &access[1..]],
    ));
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn param_values_come_from_stdin_or_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let size = dir.path().join("size");
    std::fs::write(&size, "17\n").expect("write");
    let explain = |params: &[&str], input: Option<&str>| {
        let mut args = vec!["sign", "explain", "/auth/token/refresh", "--timestamp", "1"];
        for p in params {
            args.extend(["-p", p]);
        }
        let mut cmd = iop(None, &args);
        cmd.env("IOP_APP_KEY", "12345");
        run_with_stdin(&mut cmd, input)
    };
    let size_param = format!("page_size=@{}", size.display());
    let out = explain(
        &["refresh_token=@-", &size_param, "note=@@home"],
        Some("RT-from-stdin\n"),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("page_size17"), "{out:?}");
    assert!(out.stdout.contains("note@home"), "{out:?}");
    assert!(out.stdout.contains("refresh_token<redacted"), "{out:?}");
    assert!(!out.stdout.contains("RT-from-stdin"), "{out:?}");
    assert!(!out.stderr.contains("warning"), "{out:?}");

    // Written out, a secret parameter is warned about (and still redacted).
    let out = explain(&["refresh_token=RT-on-the-command-line"], None);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("warning"), "{out:?}");
    assert!(out.stderr.contains("refresh_token=@-"), "{out:?}");
    assert!(!out.stdout.contains("RT-on-the-command-line"), "{out:?}");
    assert!(!out.stderr.contains("RT-on-the-command-line"), "{out:?}");

    // Two values cannot both come from stdin; a missing file is a usage error.
    let out = explain(&["refresh_token=@-", "code=@-"], Some("x\n"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("stdin"), "{out:?}");
    let out = explain(&["page_size=@/nonexistent/iop-file"], None);
    assert_eq!(out.code, 2, "{out:?}");
}

#[test]
fn a_bad_base_url_never_shows_its_password() {
    for url in [
        "http://alice:PASSWORD@api-sg.aliexpress.com",
        "ftp://alice:PASSWORD@127.0.0.1/",
        "https://alice:PASS/WORD@host?access_token=TOKEN",
    ] {
        let mut cmd = iop(None, &["doctor"]);
        cmd.env("IOP_APP_KEY", "k")
            .env("IOP_APP_SECRET", "s")
            .env("IOP_BASE_URL", url);
        let out = run(cmd);
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("bad base URL"), "{out:?}");
        for secret in ["PASSWORD", "PASS", "WORD", "TOKEN", "alice"] {
            assert!(!out.stderr.contains(secret), "{secret}: {out:?}");
        }
    }
}

#[test]
fn completions_man_page_and_version() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(iop(None, &["completions", shell]));
        assert_eq!(out.code, 0, "{shell}: {out:?}");
        for name in ["refresh-due", "token", "doctor", "completions", "--store"] {
            assert!(out.stdout.contains(name), "{shell} lacks {name}: {out:?}");
        }
    }
    let out = run(iop(None, &["completions", "tcsh"]));
    assert_eq!(out.code, 2, "{out:?}");

    let out = run(iop(None, &["man"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with(".TH"), "{out:?}");
    assert!(out.stdout.contains("refresh\\-due"), "{out:?}");
    let help = run(iop(None, &["--help"]));
    assert!(!help.stdout.contains("  man "), "man is hidden: {help:?}");

    let out = run(iop(None, &["--version"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), format!("iop {}", iop_core::VERSION));
}

/// A free loopback port (bound and released; the command binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// One HTTP GET over a raw socket: (status, Location header).
fn http_get(url: &str) -> (u16, Option<String>) {
    use std::io::Read;
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer[9..12].parse().expect("status");
    let location = answer
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(str::to_owned);
    (status, location)
}

/// Starts `iop authorize` against the emulator and reads the URL it prints.
fn start_authorize(emu: &Emulator, port: u16, extra: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let mut args = vec![
        "authorize",
        "--redirect-uri",
        redirect.as_str(),
        "--timeout",
        "60s",
    ];
    args.extend_from_slice(extra);
    let mut cmd = iop(Some(emu), &args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn iop authorize");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("the URL line");
    (child, line.trim().to_owned())
}

#[test]
fn authorize_checks_state_then_stores_the_token() {
    let emu = Emulator::start(Config::default()).expect("emulator");
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("tokens");
    let port = free_port();
    let (child, url) = start_authorize(&emu, port, &["--store", store.to_str().expect("utf8")]);
    assert!(
        url.starts_with(&format!("{}/oauth/authorize?", emu.url())),
        "{url}"
    );
    assert!(
        url.contains("state=") && url.contains("client_id="),
        "{url}"
    );

    // A forged redirect (its own code, a wrong state) is refused and exchanges nothing.
    let forged_code = emu.authorize("attacker");
    let (status, _) = http_get(&format!(
        "http://127.0.0.1:{port}/callback?code={forged_code}&state=forged"
    ));
    assert_eq!(status, 400);
    let (status, _) = http_get(&format!(
        "http://127.0.0.1:{port}/callback?code={forged_code}"
    ));
    assert_eq!(status, 400);
    let (status, _) = http_get(&format!("http://127.0.0.1:{port}/favicon.ico"));
    assert_eq!(status, 404);
    assert_eq!(
        emu.stats().get("/auth/token/create"),
        None,
        "nothing exchanged"
    );

    // The seller authorizes: the emulator's page redirects to the CLI with code and state.
    let (status, location) = http_get(&format!("{url}&seller_id=1001"));
    assert_eq!(status, 302);
    let location = location.expect("a redirect");
    assert!(
        location.starts_with(&format!("http://127.0.0.1:{port}/callback?")),
        "{location}"
    );
    let (status, _) = http_get(&location);
    assert_eq!(status, 200);

    let output = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("seller `1001`"), "{stdout}");
    assert!(stderr.contains("ignored a request"), "{stderr}");
    assert_eq!(emu.stats().get("/auth/token/create"), Some(&1));
    // Stored, masked on screen: the stored access token never appears whole.
    let stored = iop_core::FileStore::open(&store).expect("store");
    let token = iop_core::TokenStore::load(&stored, "1001")
        .expect("load")
        .expect("stored")
        .token;
    let access = token.access_token.expect("access token");
    assert!(!stdout.contains(access.secret()), "{stdout}");
    assert!(emu.is_current_access_token("1001", access.secret()));
}

#[test]
fn authorize_refuses_a_remote_redirect_uri_and_times_out() {
    let emu = Emulator::start(Config::default()).expect("emulator");
    for uri in [
        "https://app.example.com/cb",
        "http://10.0.0.1:8080/cb",
        "http://127.0.0.1/cb",
    ] {
        let r = run(iop(Some(&emu), &["authorize", "--redirect-uri", uri]));
        assert_eq!(r.code, 2, "{uri}: {r:?}");
        assert!(r.stderr.contains("--redirect-uri"), "{r:?}");
    }
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/cb");
    let r = run(iop(
        Some(&emu),
        &["authorize", "--redirect-uri", &redirect, "--timeout", "1s"],
    ));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("no redirect arrived"), "{r:?}");
    assert_eq!(emu.stats().get("/auth/token/create"), None);
}

#[test]
fn authorize_reports_a_declined_authorization() {
    let emu = Emulator::start(Config::default()).expect("emulator");
    let port = free_port();
    let (child, url) = start_authorize(&emu, port, &[]);
    let (status, location) = http_get(&format!("{url}&deny=true"));
    assert_eq!(status, 302);
    let (status, _) = http_get(&location.expect("redirect"));
    assert_eq!(status, 400);
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("access_denied"));
    assert_eq!(emu.stats().get("/auth/token/create"), None);
}

#[test]
fn store_urls_open_a_server_store_and_hide_the_password() {
    let emu = emulator();
    // memory: is a store too (empty: nothing to refresh).
    let out = run(iop(Some(&emu), &["refresh-due", "--store", "memory:"]));
    assert_eq!(out.code, 0, "{out:?}");
    // A server that is not there: a clear failure naming host and port, never the password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("redis://:hunter2secret@127.0.0.1:{port}/0");
    let out = run(iop(Some(&emu), &["refresh-due", "--store", &url]));
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains(&format!("127.0.0.1:{port}")), "{out:?}");
    assert!(!format!("{out:?}").contains("hunter2secret"), "{out:?}");
    let out = run(iop(Some(&emu), &["refresh-due", "--store", "mysql://db/x"]));
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("scheme"), "{out:?}");
}

/// The sellers of `iop tokens list --json`, by name: (state, the whole entry).
fn listed(run: &Run) -> std::collections::HashMap<String, (String, serde_json::Value)> {
    json(run)["sellers"]
        .as_array()
        .unwrap_or_else(|| panic!("no sellers array: {run:?}"))
        .iter()
        .map(|entry| {
            (
                str_field(entry, "seller").to_owned(),
                (str_field(entry, "state").to_owned(), entry.clone()),
            )
        })
        .collect()
}

#[test]
fn tokens_list_and_remove_a_directory_store_without_credentials() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf-8 dir");
    create_into_store(&emu, dir.path(), "seller-a");
    create_into_store(&emu, dir.path(), "seller-b");
    let secrets = stored_secrets(dir.path());
    assert_eq!(secrets.len(), 4);

    // Access tokens live one day: due within the default 3 days, fresh within an hour.
    let out = run(iop(None, &["tokens", "list", "--store", path]));
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("SELLER"), "{out:?}");
    assert!(lines[1].starts_with("seller-a  refresh-due"), "{out:?}");
    assert!(lines[2].starts_with("seller-b  refresh-due"), "{out:?}");
    assert!(
        out.stdout.contains("(in 23h") || out.stdout.contains("(in 1d"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .ends_with("2 seller(s): 0 fresh, 2 refresh-due, 0 expired, 0 refresh-dead\n"),
        "{out:?}"
    );
    for secret in &secrets {
        assert!(!out.stdout.contains(secret.as_str()), "{out:?}");
    }
    let out = run(iop(
        None,
        &[
            "tokens", "list", "--store", path, "--within", "1h", "--json",
        ],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    let sellers = listed(&out);
    assert_eq!(sellers.len(), 2, "{out:?}");
    let (state, entry) = &sellers["seller-a"];
    assert_eq!(state, "fresh");
    assert_eq!(str_field(entry, "seller_id"), "seller-a");
    assert!(entry["access_expires_at_ms"].as_i64().is_some(), "{entry}");
    assert!(entry["refresh_expires_at_ms"].as_i64().is_some(), "{entry}");
    assert!(str_field(entry, "access_token").starts_with('…'), "{entry}");
    for secret in &secrets {
        assert!(!out.stdout.contains(secret.as_str()), "{out:?}");
    }

    // remove: the seller is gone; an unknown seller is a clear failure.
    let out = run(iop(
        None,
        &["tokens", "remove", "seller-a", "--store", path],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("removed the token of seller `seller-a`"),
        "{out:?}"
    );
    let out = run(iop(None, &["tokens", "list", "--store", path, "--json"]));
    assert_eq!(
        listed(&out).keys().collect::<Vec<_>>(),
        ["seller-b"],
        "{out:?}"
    );
    let out = run(iop(
        None,
        &["tokens", "remove", "seller-a", "--store", path],
    ));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("no token of seller `seller-a`"),
        "{out:?}"
    );

    // A store that does not exist is not created by listing it.
    let missing = dir.path().join("missing");
    let missing = missing.to_str().expect("utf-8");
    let out = run(iop(None, &["tokens", "list", "--store", missing]));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("does not exist"), "{out:?}");
    assert!(!dir.path().join("missing").exists());
    let out = run(iop(None, &["tokens", "list", "--store", "memory:"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "memory: holds no token\n");
}

/// `url` with its password replaced by `password`.
fn with_password(url: &str, password: &str) -> String {
    let mut url = url::Url::parse(url).expect("a server URL");
    url.set_password(Some(password)).expect("set password");
    url.to_string()
}

/// The token commands over a real Redis and PostgreSQL (scripts/with-servers exports their
/// URLs; without them this test fails): create, list, refresh-due, remove, a refused password.
#[test]
fn token_commands_over_redis_and_postgres_urls() {
    let emu = emulator();
    for name in ["IOP_TEST_REDIS_URL", "IOP_TEST_POSTGRES_URL"] {
        let url = std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run the tests under scripts/with-servers")
        });
        let password = url::Url::parse(&url)
            .expect("URL")
            .password()
            .map(str::to_owned);
        let seller = format!("cli-{}-{}", name.to_lowercase(), std::process::id());
        let code = emu.authorize(&seller);
        let out = run(iop(
            Some(&emu),
            &[
                "token", "create", "--code", &code, "--store", &url, "--seller", &seller,
            ],
        ));
        assert_eq!(out.code, 0, "{name}: {out:?}");
        assert!(out.stdout.contains("saved in"), "{out:?}");
        if let Some(password) = &password {
            assert!(!format!("{out:?}").contains(password.as_str()), "{out:?}");
        }

        let out = run(iop(None, &["tokens", "list", "--store", &url, "--json"]));
        assert_eq!(out.code, 0, "{name}: {out:?}");
        let sellers = listed(&out);
        assert_eq!(sellers[&seller].0, "refresh-due", "{out:?}");
        if let Some(password) = &password {
            assert!(!out.stdout.contains(password.as_str()), "{out:?}");
            assert!(
                str_field(&json(&out), "store").contains("://***@"),
                "{out:?}"
            );
        }

        let out = run(iop(Some(&emu), &["refresh-due", "--store", &url]));
        assert!(out.stdout.contains("refreshed"), "{name}: {out:?}");
        let out = run(iop(
            None,
            &["tokens", "list", "--store", &url, "--within", "1h"],
        ));
        assert_eq!(out.code, 0, "{name}: {out:?}");
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{seller} ")))
            .unwrap_or_else(|| panic!("{seller} not listed: {out:?}"));
        assert!(line.contains(" fresh "), "{line}");

        let out = run(iop(None, &["tokens", "remove", &seller, "--store", &url]));
        assert_eq!(out.code, 0, "{name}: {out:?}");
        let out = run(iop(None, &["tokens", "remove", &seller, "--store", &url]));
        assert_eq!(out.code, 1, "{name}: {out:?}");
        assert!(out.stderr.contains("no token of seller"), "{out:?}");

        // A refused password: a clear failure that never shows it.
        let wrong = with_password(&url, "wrong-pw-never-shown");
        let out = run(iop(None, &["tokens", "list", "--store", &wrong]));
        assert_eq!(out.code, 1, "{name}: {out:?}");
        assert!(out.stderr.contains("cannot open token store"), "{out:?}");
        assert!(
            !format!("{out:?}").contains("wrong-pw-never-shown"),
            "{out:?}"
        );
    }
}

/// What `iop` printed, both streams and the exit status.
fn shown(run: &Run) -> String {
    format!("{run:?}")
}

#[test]
fn store_strings_are_decided_by_one_parser_that_never_echoes_a_password() {
    let emu = emulator();
    let cwd = tempfile::tempdir().expect("tmp");
    for (store, hint) in [
        ("tokens", "./tokens"),
        ("memory", "memory:"),
        ("~/tokens", "shells"),
        (
            "host=db.internal user=iop password=hunter2 dbname=app",
            "postgres://",
        ),
        ("redis:/:hunter2@db.internal", "redis://"),
        ("postgres:iop:hunter2@db.internal/app", "postgres://"),
        ("mysql://iop:hunter2@db.internal/app", "mysql://"),
    ] {
        for args in [
            &["tokens", "list", "--store", store][..],
            &["refresh-due", "--store", store],
            &["doctor", "--store", store],
            &[
                "token", "create", "--code", "c", "--store", store, "--seller", "s",
            ],
        ] {
            let mut cmd = iop(Some(&emu), args);
            cmd.current_dir(cwd.path());
            let out = run(cmd);
            assert_ne!(out.code, 0, "{args:?}: {out:?}");
            let text = shown(&out);
            assert!(text.contains(hint), "{args:?}: {out:?}");
            assert!(text.contains("invalid store string"), "{args:?}: {out:?}");
            assert!(!text.contains("hunter2"), "{args:?}: {out:?}");
        }
    }
    // Nothing was created in the working directory (no string became a directory).
    assert_eq!(std::fs::read_dir(cwd.path()).expect("cwd").count(), 0);
    // ./tokens is a directory here, as asked.
    let mut cmd = iop(Some(&emu), &["refresh-due", "--store", "./tokens"]);
    cmd.current_dir(cwd.path());
    let out = run(cmd);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("does not exist"), "{out:?}");
    let code = emu.authorize("s");
    let mut cmd = iop(
        Some(&emu),
        &[
            "token", "create", "--code", &code, "--store", "./tokens", "--seller", "s",
        ],
    );
    cmd.current_dir(cwd.path());
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(cwd.path().join("tokens").is_dir());
}

#[test]
fn store_passwords_holding_reserved_characters_are_never_shown() {
    let emu = emulator();
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    // Base64-made passwords hold `/`, and `#`, `?`, `@` break URL parsers: none may show, nor
    // any part of it.
    for password in ["Secr3t/P4rt", "Secr3t#P4rt", "Secr3t?P4rt", "Secr3t@P4rt"] {
        for url in [
            format!("postgres://leaky:{password}@127.0.0.1:{port}/app"),
            format!("postgresql://leaky:{password}@127.0.0.1:{port}/app?sslmode=disable"),
            format!("redis://leaky:{password}@127.0.0.1:{port}/0"),
            format!("rediss://:{password}@127.0.0.1:{port}/0"),
        ] {
            for args in [
                &["tokens", "list", "--store", url.as_str()][..],
                &["tokens", "list", "--store", url.as_str(), "--json"],
                &["doctor", "--store", url.as_str()],
                &["refresh-due", "--store", url.as_str()],
                &[
                    "authorize",
                    "--redirect-uri",
                    redirect.as_str(),
                    "--timeout",
                    "2s",
                    "--store",
                    url.as_str(),
                ],
            ] {
                let out = run(iop(Some(&emu), args));
                let text = shown(&out);
                assert!(!text.contains("Secr3t"), "{args:?}: {out:?}");
                assert!(!text.contains("P4rt"), "{args:?}: {out:?}");
                assert!(
                    out.stdout.contains("store") || out.stderr.contains("store"),
                    "{args:?}: {out:?}"
                );
            }
        }
    }
}

#[test]
fn tokens_list_marks_and_counts_a_damaged_save_but_not_a_torn_one() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tmp");
    create_into_store(&emu, dir.path(), "shop-ok");
    create_into_store(&emu, dir.path(), "shop-bad");
    // A second save of shop-bad: two slots, the newest holding the refreshed token set.
    let store_dir = dir.path().to_str().expect("utf-8");
    let out = run(iop(
        Some(&emu),
        &[
            "token", "refresh", "--store", store_dir, "--seller", "shop-bad",
        ],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    let store = iop_core::FileStore::open(dir.path()).expect("store");
    let path = store.path_of("shop-bad").expect("path");
    let good = std::fs::read(&path).expect("read");
    let newest = {
        use iop_core::TokenStore;
        let stored = store.load("shop-bad").expect("load").expect("stored");
        stored
            .token
            .access_token
            .expect("access")
            .secret()
            .to_owned()
    };
    // One flipped bit in that completed save (inside its access token: the JSON stays whole).
    let at = good
        .windows(newest.len())
        .position(|w| w == newest.as_bytes())
        .expect("the newest access token in the file");
    let mut damaged = good.clone();
    damaged[at + newest.len() / 2] ^= 0x01;
    std::fs::write(&path, &damaged).expect("write");
    let out = run(iop(None, &["tokens", "list", "--store", store_dir]));
    assert_eq!(out.code, 1, "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("shop-bad "))
        .unwrap_or_else(|| panic!("not listed: {out:?}"));
    assert!(line.contains("DAMAGED"), "{out:?}");
    assert!(
        !out.stdout
            .lines()
            .any(|l| l.starts_with("shop-ok ") && l.contains("DAMAGED"))
    );
    assert!(out.stdout.trim_end().ends_with(", 1 damaged"), "{out:?}");
    let out = run(iop(
        None,
        &["tokens", "list", "--store", store_dir, "--json"],
    ));
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(json(&out)["damaged"], 1, "{out:?}");
    let sellers = listed(&out);
    assert_eq!(sellers["shop-bad"].1["damaged"], true, "{out:?}");
    assert_eq!(sellers["shop-ok"].1["damaged"], false, "{out:?}");
    // A write cut off by a crash instead (the header written, the record not): not damage.
    let slot = if at < good.len() / 2 {
        0
    } else {
        good.len() / 2
    };
    let mut torn = good.clone();
    for b in &mut torn[slot + 100..slot + good.len() / 2] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &torn).expect("write");
    let out = run(iop(
        None,
        &["tokens", "list", "--store", store_dir, "--json"],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(json(&out)["damaged"], 0, "{out:?}");
}

/// `url` with `param` added to its query.
fn with_param(url: &str, param: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{param}")
}

/// rediss:// and PostgreSQL's verify-full trust the system roots (SSL_CERT_FILE here) and a CA
/// file, from the URL (`ca_file=`) or the environment (IOP_STORE_CA_FILE); without either the
/// test CA's certificate is refused (scripts/with-servers exports the servers and the CA).
#[test]
fn tls_stores_take_a_ca_from_the_url_the_environment_or_the_system() {
    let required = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run the tests under scripts/with-servers")
        })
    };
    let ca = required("IOP_TEST_REDIS_CA");
    let encoded: String = url::form_urlencoded::byte_serialize(ca.as_bytes()).collect();
    let postgres = required("IOP_TEST_POSTGRES_URL");
    let postgres = postgres
        .split_once('?')
        .map_or(postgres.as_str(), |(base, _)| base);
    for url in [
        required("IOP_TEST_REDISS_URL"),
        format!("{postgres}?sslmode=verify-full"),
    ] {
        let list = |url: &str, env: &[(&str, &str)]| {
            let mut cmd = iop(None, &["tokens", "list", "--store", url]);
            cmd.env_remove("IOP_STORE_CA_FILE")
                .env_remove("SSL_CERT_FILE");
            for (name, value) in env {
                cmd.env(name, value);
            }
            run(cmd)
        };
        let out = list(&url, &[]);
        assert_eq!(out.code, 1, "{url}: {out:?}");
        assert!(out.stderr.to_lowercase().contains("certificate"), "{out:?}");
        let out = list(&with_param(&url, &format!("ca_file={encoded}")), &[]);
        assert_eq!(out.code, 0, "{url}: {out:?}");
        let out = list(&url, &[("IOP_STORE_CA_FILE", &ca)]);
        assert_eq!(out.code, 0, "{url}: {out:?}");
        let out = list(&url, &[("SSL_CERT_FILE", &ca)]);
        assert_eq!(out.code, 0, "{url}: {out:?}");
        // A CA file that is not there: said, not ignored.
        let out = list(&url, &[("IOP_STORE_CA_FILE", "/nonexistent/ca.pem")]);
        assert_eq!(out.code, 1, "{url}: {out:?}");
        assert!(out.stderr.contains("/nonexistent/ca.pem"), "{out:?}");
    }
}

/// No raw control character (C0 but the line feeds ending lines, DEL, C1) in `text`.
fn assert_terminal_safe(text: &str, what: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(raw.is_empty(), "{what}: raw controls {raw:?} in {text:?}");
}

#[test]
fn keys_and_stored_values_with_terminal_controls_are_escaped() {
    use iop_core::TokenStore;
    // A window title, a bell, a screen clear, colour, a carriage return over the line, a line
    // feed, a C1 control sequence introducer.
    let evil = "evil\x1b]0;owned\x07\x1b[2J\x1b[31mred\rover\nnext\u{9b}";
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf-8 dir");

    // token create into the store under that key: the confirmation line.
    let out = create_into_store(&emu, dir.path(), evil);
    assert_terminal_safe(&out.stdout, "token create");
    assert!(
        out.stdout.contains("evil\\x1b]0;owned\\x07\\x1b[2J"),
        "{out:?}"
    );
    assert!(out.stdout.contains("red\\rover\\nnext\\x9b"), "{out:?}");
    // A stored value with controls too (account, and a token starting with a sequence).
    {
        let store = iop_core::FileStore::open(dir.path()).expect("open");
        let stored = store.load(evil).expect("load").expect("stored");
        let mut token = stored.token.clone();
        token.account = Some("x\x1b[8mhidden".to_owned());
        store
            .save(evil, &token, Some(stored.version))
            .expect("save");
        let mut other = token.clone();
        other.access_token = Some(iop_core::AccessToken::new("abcdefghijklmnop\x1b[2J"));
        store.save("plain\x07bell", &other, None).expect("save");
    }

    let out = run(iop(None, &["tokens", "list", "--store", path]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_terminal_safe(&out.stdout, "tokens list");
    // One line per seller: the line feed in the key did not split its line.
    assert_eq!(out.stdout.lines().count(), 4, "{out:?}");
    assert!(out.stdout.contains("evil\\x1b]0;owned"), "{out:?}");
    assert!(out.stdout.contains("…\\x1b[2J"), "{out:?}");
    let out = run(iop(None, &["tokens", "list", "--store", path, "--json"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_terminal_safe(&out.stdout, "tokens list --json");
    let sellers: Vec<String> = json(&out)["sellers"]
        .as_array()
        .expect("sellers")
        .iter()
        .map(|s| str_field(s, "seller").to_owned())
        .collect();
    assert!(sellers.contains(&evil.to_owned()), "{sellers:?}");
    assert!(out.stdout.contains("x\\u001b[8mhidden"), "{out:?}");
    assert!(out.stdout.contains("next\\u009b"), "{out:?}");

    let out = run(iop(Some(&emu), &["doctor", "--store", path]));
    assert_terminal_safe(&out.stdout, "doctor");
    assert_terminal_safe(&out.stderr, "doctor stderr");
    assert!(out.stdout.contains("token evil\\x1b]0;owned"), "{out:?}");

    let out = run(iop(
        Some(&emu),
        &["token", "refresh", "--store", path, "--seller", evil],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    assert_terminal_safe(&out.stdout, "token refresh");
    assert!(
        out.stdout.contains("seller_id evil\\x1b]0;owned"),
        "{out:?}"
    );

    // refresh-due: the other key's access token was never issued: it fails, and is named.
    let out = run(iop(Some(&emu), &["refresh-due", "--store", path]));
    assert_terminal_safe(&out.stdout, "refresh-due");
    assert_terminal_safe(&out.stderr, "refresh-due stderr");
    assert!(out.stdout.contains("plain\\x07bell"), "{out:?}");

    // Errors that quote a key.
    let missing = "gone\x1b[31m\r\n";
    for args in [
        vec!["tokens", "remove", missing, "--store", path],
        vec!["token", "refresh", "--store", path, "--seller", missing],
    ] {
        let out = run(iop(Some(&emu), &args));
        assert_eq!(out.code, 1, "{out:?}");
        assert_terminal_safe(&out.stderr, "an error quoting a key");
        assert!(out.stderr.contains("gone\\x1b[31m\\r\\n"), "{out:?}");
    }
    let out = run(iop(None, &["tokens", "remove", evil, "--store", path]));
    assert_eq!(out.code, 0, "{out:?}");
    assert_terminal_safe(&out.stdout, "tokens remove");
    assert!(out.stdout.contains("evil\\x1b]0;owned"), "{out:?}");
}

/// One request over a raw socket, answered within `within`: the status, or `None` when no
/// answer came in time (or the connection closed without one).
fn raw_status(port: u16, request: &str, within: Duration) -> Option<u16> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(within)).expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.get(9..12).and_then(|s| s.parse().ok())
}

/// The `state` of an authorization URL.
fn state_of(url: &str) -> String {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state")
}

/// A client that sends a request head one byte every 4 seconds, forever (until dropped).
fn slow_loris(port: u16) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return;
        };
        for byte in b"GET /callback?state=x HTTP/1.1\r\nX-Slow: ".iter().cycle() {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(4));
        }
    })
}

#[test]
fn authorize_answers_malformed_and_foreign_redirects_400_and_keeps_waiting() {
    let emu = Emulator::start(Config::default()).expect("emulator");
    let port = free_port();
    let (child, url) = start_authorize(&emu, port, &[]);
    let state = state_of(&url);
    let code = emu.authorize("attacker");
    let get = |target: &str| {
        raw_status(
            port,
            &format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            Duration::from_secs(10),
        )
    };
    // Repeated parameters with a foreign state, with ours, a repeated state, no code, another
    // method: each refused, nothing exchanged, the command still waits.
    for target in [
        format!("/callback?code={code}&code={code}&state=forged"),
        format!("/callback?state=forged&state={state}&code={code}"),
        format!("/callback?state={state}&state={state}&code={code}"),
        format!("/callback?state={state}&code={code}&code=other"),
        format!("/callback?state={state}&error=a&error=b"),
        format!("/callback?state={state}"),
        "/callback?error=access_denied".to_owned(),
    ] {
        assert_eq!(get(&target), Some(400), "{target}");
    }
    assert_eq!(
        raw_status(
            port,
            &format!(
                "POST /callback?state={state}&code={code} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            Duration::from_secs(10),
        ),
        Some(400)
    );
    assert_eq!(get("/elsewhere"), Some(404));
    assert_eq!(emu.stats().get("/auth/token/create"), None);
    // The real redirect still works.
    let (status, location) = http_get(&format!("{url}&seller_id=1001"));
    assert_eq!(status, 302);
    let (status, _) = http_get(&location.expect("a redirect"));
    assert_eq!(status, 200);
    let output = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(emu.stats().get("/auth/token/create"), Some(&1));
    // A second redirect of the same state after the first: refused (the command has ended).
}

#[test]
fn authorize_serves_the_redirect_beside_a_slow_client() {
    let emu = Emulator::start(Config::default()).expect("emulator");
    let port = free_port();
    let (child, url) = start_authorize(&emu, port, &[]);
    let _slow = slow_loris(port);
    std::thread::sleep(Duration::from_millis(200));
    // Served at once (not after the slow client's head, which never ends).
    let (status, location) = http_get(&format!("{url}&seller_id=1001"));
    assert_eq!(status, 302);
    let location = location.expect("a redirect");
    let target = location
        .strip_prefix(&format!("http://127.0.0.1:{port}"))
        .expect("our port");
    let status = raw_status(
        port,
        &format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        Duration::from_secs(3),
    );
    assert_eq!(
        status,
        Some(200),
        "the redirect waited behind the slow client"
    );
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn authorize_times_out_on_time_whatever_clients_do() {
    let emu = Emulator::start(Config::default()).expect("emulator");
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let mut cmd = iop(
        Some(&emu),
        &["authorize", "--redirect-uri", &redirect, "--timeout", "3s"],
    );
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = std::time::Instant::now();
    let child = cmd.spawn().expect("spawn");
    // Clients that trickle, and one that connects and says nothing.
    std::thread::sleep(Duration::from_millis(300));
    let _slow: Vec<_> = (0..3).map(|_| slow_loris(port)).collect();
    let _silent = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut child = child;
    // Bounded: a command that outlives its timeout fails the test instead of hanging it.
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("iop authorize --timeout 3s still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("wait");
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no redirect arrived within 3s"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // 3 s and the process's start and exit; a client used to extend it by 40 s.
    assert!(took < Duration::from_secs(8), "ended after {took:?}");
}

#[test]
fn call_for_a_seller_refreshes_once_when_the_gateway_refuses_its_token() {
    let emu = emulator();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().to_str().expect("utf-8");
    // A stored token set whose access token the gateway does not know.
    let code = emu.authorize("seller-r");
    let mut token = json(&run(iop(Some(&emu), &["token", "create", "--code", &code])));
    token["access_token"] = serde_json::json!("revoked-access-token");
    // Weeks of life left as far as the manager can tell: only the gateway refuses it.
    token["expires_in"] = serde_json::json!(30 * 86_400);
    token.as_object_mut().expect("object").remove("expire_time");
    let set = iop_core::TokenSet::from_value(token, std::time::SystemTime::now()).expect("token");
    let manager = iop_core::TokenManager::new(
        std::sync::Arc::new(
            iop_core::Client::new(
                emu.app_key(),
                iop_core::AppSecret::new(emu.app_secret()),
                iop_core::Gateway::new(&emu.url()).expect("gateway"),
            )
            .expect("client"),
        ),
        std::sync::Arc::new(iop_core::FileStore::open(dir.path()).expect("store")),
    );
    manager.put("seller-r", &set).expect("put");
    let out = run(iop(
        Some(&emu),
        &[
            "call",
            "/orders/get",
            "--seller",
            "seller-r",
            "--store",
            store,
        ],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(json(&out)["seller_id"], "seller-r", "{out:?}");
    assert_eq!(emu.stats().get("/auth/token/refresh"), Some(&1));
    assert_eq!(emu.stats().get("/orders/get"), Some(&2));

    // An unknown seller: a clear message, exit 1, nothing sent.
    let out = run(iop(
        Some(&emu),
        &[
            "call",
            "/orders/get",
            "--seller",
            "nobody",
            "--store",
            store,
        ],
    ));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("unknown seller \"nobody\""), "{out:?}");
    assert_eq!(emu.stats().get("/orders/get"), Some(&2));
}

/// `tests/net/front.py --upstream URL --serve`: a TLS front with a private CA and tinyproxy,
/// stopped when dropped (stdin closed).
struct Front {
    child: std::process::Child,
    settings: serde_json::Value,
}

impl Front {
    fn start(emu: &Emulator) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/net/front.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--upstream", &emu.url(), "--serve"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 tests/net/front.py");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("settings line");
        let settings = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        Self { child, settings }
    }

    fn get(&self, name: &str) -> String {
        str_field(&self.settings, name).to_owned()
    }

    /// CONNECTs to the gateway front in tinyproxy's log.
    fn connects(&self) -> usize {
        let log = std::fs::read_to_string(self.get("IOP_NET_PROXY_LOG")).expect("proxy log");
        let needle = format!("CONNECT {} HTTP", self.get("IOP_NET_GATEWAY_TARGET"));
        log.matches(&needle).count()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[test]
fn network_flags_reach_a_private_ca_gateway_through_a_proxy() {
    let emu = emulator();
    let front = Front::start(&emu);
    let https = front.get("IOP_NET_HTTPS_URL");
    let ca = front.get("IOP_NET_CA_FILE");
    let proxy = front.get("IOP_NET_PROXY");
    let password = front.get("IOP_NET_PROXY_PASSWORD");
    let create = |extra: &[&str], env: &[(&str, &str)]| {
        let code = emu.authorize("net-seller");
        let mut args = vec!["token", "create", "--code", &code, "--retries", "0"];
        args.extend_from_slice(extra);
        let mut cmd = iop(Some(&emu), &args);
        cmd.env("IOP_BASE_URL", &https);
        for name in [
            "IOP_PROXY",
            "IOP_CA_FILE",
            "IOP_TRUST_ENV",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
            "NO_PROXY",
            "no_proxy",
            "SSL_CERT_FILE",
        ] {
            cmd.env_remove(name);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run(cmd);
        assert!(
            !out.stdout.contains(&password) && !out.stderr.contains(&password),
            "{out:?}"
        );
        assert!(!out.stderr.contains("wrong-pw-SECRET"), "{out:?}");
        out
    };

    // The private CA is unknown to the bundled roots.
    let out = create(&[], &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("TLS") || out.stderr.contains("certificate"),
        "{out:?}"
    );

    // --ca-file, and the proxy from IOP_PROXY (no password on the command line).
    let before = front.connects();
    let out = create(&["--ca-file", &ca], &[("IOP_PROXY", &proxy)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(str_field(&json(&out), "seller_id"), "net-seller");
    assert_eq!(front.connects(), before + 1);

    // The flag forms: it works, with a warning that the password shows in `ps`.
    let https_proxy = front.get("IOP_NET_HTTPS_PROXY");
    let out = create(&["--ca-file", &ca, "--proxy", &https_proxy], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("proxy password") && out.stderr.contains("IOP_PROXY"),
        "{out:?}"
    );
    assert_eq!(front.connects(), before + 2);

    // Refused credentials: exit 1, the proxy's answer named, no password.
    let out = create(
        &[],
        &[
            ("IOP_CA_FILE", &ca),
            ("IOP_PROXY", &front.get("IOP_NET_PROXY_WRONG_PASSWORD")),
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("proxy CONNECT failed") && out.stderr.contains("credentials"),
        "{out:?}"
    );

    // --trust-env (or IOP_TRUST_ENV=1): HTTPS_PROXY and SSL_CERT_FILE; NO_PROXY bypasses.
    let env = [
        ("HTTPS_PROXY", proxy.as_str()),
        ("SSL_CERT_FILE", ca.as_str()),
    ];
    let out = create(&[], &env);
    assert_eq!(
        out.code, 1,
        "the environment is not read by default: {out:?}"
    );
    let before = front.connects();
    let out = create(&["--trust-env"], &env);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(front.connects(), before + 1);
    let out = create(
        &[],
        &[
            env[0],
            env[1],
            ("IOP_TRUST_ENV", "1"),
            ("NO_PROXY", "127.0.0.1"),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(front.connects(), before + 1, "NO_PROXY: reached directly");

    // A malformed proxy is a usage error that shows no password.
    let out = create(&["--proxy", "socks5://u:wrong-pw-SECRET@127.0.0.1:1"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("invalid proxy URL"), "{out:?}");
}

#[test]
fn network_flags_are_checked() {
    for (args, why) in [
        (&["--read-timeout", "0s"][..], "more than 0"),
        (&["--connect-timeout", "2d"][..], "at most 1 day"),
        (&["--retries", "101"][..], "101"),
    ] {
        let mut all = vec!["call", "/x"];
        all.extend_from_slice(args);
        let out = run(iop(None, &all));
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains(why), "{why}: {out:?}");
    }
}
