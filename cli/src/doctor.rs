//! `iop doctor`: what breaks integrations, checked in one go: the clock against the gateway's,
//! the app key and secret, and the stored tokens' remaining life.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use iop_core::{Credentials, Error, HttpTransport, Request, Transport, parse_response};

use crate::cli::{AppArgs, DoctorArgs};
use crate::credentials::{App, Stdin};
use crate::failure::{EXIT_FAILED, EXIT_OK, Outcome};
use crate::show;
use crate::sign_explain::now_ms;
use crate::token_cmd::{open_store, store_name};

/// The gateway refuses timestamps further than this from its clock.
const GATEWAY_WINDOW: Duration = Duration::from_secs(7200);
/// Skew worth a warning.
const SKEW_WARNING: Duration = Duration::from_secs(300);
/// A refresh token that dies within this is worth a warning.
const REFRESH_WARNING: Duration = Duration::from_secs(7 * 86_400);
/// The refresh token sent to test the credentials; the gateway refuses it after checking the
/// signature, which is the point.
const DUMMY_REFRESH_TOKEN: &str = "iop-doctor-not-a-real-refresh-token";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
    Skipped,
}

/// Prints one line per check and counts the failures.
struct Checks<W: Write> {
    out: W,
    failures: usize,
    warnings: usize,
}

impl<W: Write> Checks<W> {
    fn line(&mut self, status: Status, what: &str, message: &str) -> std::io::Result<()> {
        let label = match status {
            Status::Ok => "ok",
            Status::Warn => {
                self.warnings += 1;
                "WARN"
            }
            Status::Fail => {
                self.failures += 1;
                "FAIL"
            }
            Status::Skipped => "--",
        };
        // `what` and `message` may quote seller keys and stored values.
        let what = show::escape_controls(what);
        let message = show::escape_controls(message);
        writeln!(self.out, "{label:<5} {what:<14} {message}")
    }
}

/// Runs every check; exit 1 when any fails.
pub(crate) fn run(app_args: &AppArgs, args: &DoctorArgs) -> Outcome {
    let app = App::resolve(app_args, &mut Stdin::default())?;
    let mut checks = Checks {
        out: std::io::stdout().lock(),
        failures: 0,
        warnings: 0,
    };
    checks.line(
        Status::Ok,
        "gateway",
        &format!("{} (app key {})", app.gateway.base_url(), app.app_key),
    )?;
    check_gateway(&app, &mut checks)?;
    if let Some(dir) = &args.store {
        check_store(dir, &mut checks)?;
    }
    let summary = match (checks.failures, checks.warnings) {
        (0, 0) => "doctor: every check passed".to_owned(),
        (0, w) => format!("doctor: no problem, {w} warning(s)"),
        (f, w) => format!("doctor: {f} problem(s), {w} warning(s)"),
    };
    writeln!(checks.out, "{summary}")?;
    Ok(ExitCode::from(if checks.failures == 0 {
        EXIT_OK
    } else {
        EXIT_FAILED
    }))
}

/// One signed refresh with a dummy token: its `Date` header gives the skew, its error code
/// tells whether the key and the secret are accepted.
fn check_gateway<W: Write>(app: &App, checks: &mut Checks<W>) -> std::io::Result<()> {
    // The network settings of the command line (proxy, CA file), as every other command uses.
    let transport = match HttpTransport::new(app.http.clone()) {
        Ok(t) => t,
        Err(e) => {
            return checks.line(Status::Fail, "http", &format!("cannot set up HTTP: {e}"));
        }
    };
    let credentials = Credentials::new(app.app_key.clone(), app.app_secret.clone());
    let built = Request::new("/auth/token/refresh").and_then(|r| {
        r.param("refresh_token", DUMMY_REFRESH_TOKEN).to_http(
            &app.gateway.token_gateway(),
            &credentials,
            None,
            now_ms(),
        )
    });
    let request = match built {
        Ok(r) => r,
        Err(e) => return checks.line(Status::Fail, "request", &format!("cannot build: {e}")),
    };
    let sent_at = SystemTime::now();
    let started = Instant::now();
    let response = match transport.send(request) {
        Ok(r) => r,
        Err(e) => {
            checks.line(
                Status::Fail,
                "reach",
                &format!("cannot reach the gateway: {e}"),
            )?;
            checks.line(Status::Skipped, "clock", "not checked")?;
            return checks.line(Status::Skipped, "app key/secret", "not checked");
        }
    };
    // The gateway stamped Date somewhere between sending and receiving: compare with the middle.
    let local = sent_at + started.elapsed() / 2;
    check_clock(response.headers().get(http::header::DATE), local, checks)?;
    check_credentials(
        app,
        parse_response(response.status().as_u16(), response.body()),
        checks,
    )
}

fn check_clock<W: Write>(
    date: Option<&http::HeaderValue>,
    local: SystemTime,
    checks: &mut Checks<W>,
) -> std::io::Result<()> {
    let Some(gateway_time) = date
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok())
    else {
        return checks.line(
            Status::Warn,
            "clock",
            "the gateway sent no readable Date header; cannot measure the skew",
        );
    };
    let (skew, side) = match gateway_time.duration_since(local) {
        Ok(d) => (d, "behind"),
        Err(e) => (e.duration(), "ahead of"),
    };
    // Date has whole seconds: under 2 s is noise.
    if skew < Duration::from_secs(2) {
        return checks.line(
            Status::Ok,
            "clock",
            "in step with the gateway's (Date header)",
        );
    }
    let text = format!(
        "this machine is {} {side} the gateway's clock",
        show::span(skew)
    );
    if skew >= GATEWAY_WINDOW {
        checks.line(
            Status::Fail,
            "clock",
            &format!("{text}: the gateway refuses timestamps over 2h off; fix the clock (NTP)"),
        )
    } else if skew >= SKEW_WARNING {
        checks.line(
            Status::Warn,
            "clock",
            &format!("{text}; the gateway refuses over 2h, fix the clock (NTP)"),
        )
    } else {
        checks.line(Status::Ok, "clock", &text)
    }
}

fn check_credentials<W: Write>(
    app: &App,
    answer: Result<serde_json::Value, Error>,
    checks: &mut Checks<W>,
) -> std::io::Result<()> {
    let key = &app.app_key;
    let error = match answer {
        Ok(_) => {
            return checks.line(
                Status::Warn,
                "app key/secret",
                "the gateway accepted a made-up refresh token: is this the real gateway?",
            );
        }
        Err(e) => e,
    };
    let Some(gateway) = error.gateway() else {
        return checks.line(
            Status::Fail,
            "app key/secret",
            &format!("not checked: the answer was not the gateway's: {error}"),
        );
    };
    match gateway.code.as_str() {
        "IllegalRefreshToken" => {
            checks.line(
                Status::Ok,
                "app key",
                &format!("`{key}` is known to the gateway"),
            )?;
            checks.line(
                Status::Ok,
                "app secret",
                "signatures are accepted (a dummy refresh was refused for its token, not its signature)",
            )
        }
        "IncompleteSignature" => {
            checks.line(
                Status::Ok,
                "app key",
                &format!("`{key}` is known to the gateway"),
            )?;
            checks.line(
                Status::Fail,
                "app secret",
                &format!(
                    "the gateway rejected the signature (IncompleteSignature): the app secret \
                     is wrong for app key `{key}`; check IOP_APP_SECRET"
                ),
            )
        }
        "InvalidAppKey" => {
            checks.line(
                Status::Fail,
                "app key",
                &format!("the gateway does not know app key `{key}` (InvalidAppKey); check IOP_APP_KEY and IOP_BASE_URL"),
            )?;
            checks.line(
                Status::Skipped,
                "app secret",
                "not checked (app key refused)",
            )
        }
        code if code.to_ascii_lowercase().contains("timestamp") => checks.line(
            Status::Fail,
            "app key/secret",
            &format!("not checked: the gateway refused the timestamp ({code}); fix the clock"),
        ),
        _ => checks.line(
            Status::Fail,
            "app key/secret",
            &format!("unexpected answer to a dummy refresh: {gateway}"),
        ),
    }
}

fn check_store<W: Write>(dir: &str, checks: &mut Checks<W>) -> std::io::Result<()> {
    let store = match open_store(dir, false) {
        Ok(s) => s,
        Err(e) => return checks.line(Status::Fail, "store", e.message()),
    };
    let keys = match store.keys() {
        Ok(keys) => keys,
        Err(e) => {
            return checks.line(
                Status::Fail,
                "store",
                &format!("cannot list {}: {e}", store_name(dir)),
            );
        }
    };
    if keys.is_empty() {
        return checks.line(
            Status::Warn,
            "store",
            &format!("{} holds no token", store_name(dir)),
        );
    }
    checks.line(
        Status::Ok,
        "store",
        &format!("{}: {} seller(s)", store_name(dir), keys.len()),
    )?;
    let now = SystemTime::now();
    for key in keys {
        let what = format!("token {key}");
        let stored = match store.load(&key) {
            Ok(Some(stored)) => stored,
            Ok(None) => continue,
            Err(e) => {
                checks.line(Status::Fail, &what, &format!("cannot be read: {e}"))?;
                continue;
            }
        };
        let token = &stored.token;
        let access = token
            .expires_at()
            .map_or_else(|| "unknown".to_owned(), |at| show::relative(at, now));
        let refresh_at = token.refresh_expires_at();
        let refresh = refresh_at.map_or_else(|| "unknown".to_owned(), |at| show::relative(at, now));
        let life = format!("access token expires {access}, refresh token {refresh}");
        let access_dead = token.expires_at().is_none_or(|at| at <= now);
        if !token.can_refresh(now) {
            let status = if access_dead { "is dead" } else { "will die" };
            checks.line(
                Status::Fail,
                &what,
                &format!("cannot be refreshed and {status}: the seller must authorize the app again ({life})"),
            )?;
        } else if access_dead {
            checks.line(
                Status::Warn,
                &what,
                &format!("{life}; run `iop refresh-due` now"),
            )?;
        } else if refresh_at.is_some_and(|at| at <= now + REFRESH_WARNING) {
            checks.line(
                Status::Warn,
                &what,
                &format!("{life}; refresh it before the refresh token dies"),
            )?;
        } else {
            checks.line(Status::Ok, &what, &life)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock_line(gateway_offset_secs: i64) -> (String, usize, usize) {
        let local = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let gateway = if gateway_offset_secs >= 0 {
            local + Duration::from_secs(gateway_offset_secs.unsigned_abs())
        } else {
            local - Duration::from_secs(gateway_offset_secs.unsigned_abs())
        };
        let date = http::HeaderValue::from_str(&httpdate::fmt_http_date(gateway)).unwrap();
        let mut checks = Checks {
            out: Vec::new(),
            failures: 0,
            warnings: 0,
        };
        check_clock(Some(&date), local, &mut checks).unwrap();
        (
            String::from_utf8(checks.out).unwrap(),
            checks.failures,
            checks.warnings,
        )
    }

    #[test]
    fn a_clock_in_step_passes() {
        let (line, failures, warnings) = clock_line(0);
        assert!(line.starts_with("ok    clock"), "{line}");
        assert_eq!((failures, warnings), (0, 0));
    }

    #[test]
    fn a_few_seconds_off_passes_and_says_so() {
        let (line, failures, warnings) = clock_line(-30);
        assert!(line.contains("30s ahead of the gateway's clock"), "{line}");
        assert_eq!((failures, warnings), (0, 0));
    }

    #[test]
    fn ten_minutes_off_warns() {
        let (line, failures, warnings) = clock_line(600);
        assert!(line.starts_with("WARN  clock"), "{line}");
        assert!(line.contains("10m behind"), "{line}");
        assert_eq!((failures, warnings), (0, 1));
    }

    #[test]
    fn over_two_hours_off_fails() {
        let (line, failures, _) = clock_line(-3 * 3600);
        assert!(line.starts_with("FAIL  clock"), "{line}");
        assert!(line.contains("3h ahead of"), "{line}");
        assert_eq!(failures, 1);
    }

    #[test]
    fn no_date_header_warns() {
        let mut checks = Checks {
            out: Vec::new(),
            failures: 0,
            warnings: 0,
        };
        check_clock(None, SystemTime::now(), &mut checks).unwrap();
        assert_eq!((checks.failures, checks.warnings), (0, 1));
    }
}
