//! `iop demo`: a seller's whole token life, step by step, with every secret masked. Without
//! credentials it runs against iop-emulator started in this process; with `IOP_APP_KEY` and
//! `IOP_APP_SECRET` set, the same steps run against the real gateway where they can.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use iop_core::{
    AppSecret, AuthCode, Client, Error, ErrorClass, Gateway, MemoryStore, RefreshToken, Request,
    TokenManager, TokenSet,
};
use iop_emulator::{Config, Emulator};

use crate::cli::{AppArgs, DemoArgs};
use crate::credentials::{self, App, ENV_APP_KEY, ENV_APP_SECRET, Stdin};
use crate::failure::{Failure, Outcome, ok};
use crate::show;
use crate::token_cmd::open_store;
// The authorization code of the real-gateway demo comes from the same variable as `token create`'s.
use crate::credentials::ENV_AUTH_CODE;

/// Environment variable with an access token for the real-gateway demo's call.
const ENV_ACCESS_TOKEN: &str = "IOP_ACCESS_TOKEN";
/// The API the offline demo calls (the emulator echoes its parameters).
const OFFLINE_API: &str = "aliexpress.solution.product.list.get";
/// How far the offline demo moves the emulator's clock before the token manager's step.
const LATER: Duration = Duration::from_secs(28 * 86_400);

type Out = std::io::StdoutLock<'static>;

/// Runs the demo against the emulator, or the real gateway when credentials are set.
pub(crate) fn run(app_args: &AppArgs, args: &DemoArgs) -> Outcome {
    let credentials_given = app_args.app_key.is_some()
        || app_args.app_secret_file.is_some()
        || app_args.app_secret_stdin
        || std::env::var_os(ENV_APP_KEY).is_some()
        || std::env::var_os(ENV_APP_SECRET).is_some();
    let mut out = std::io::stdout().lock();
    if credentials_given && !args.emulator {
        real_gateway(app_args, args, &mut out)
    } else {
        offline(args, &mut out)
    }
}

fn step(out: &mut Out, n: u32, total: u32, title: &str) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "[{n}/{total}] {title}")
}

fn indented(out: &mut Out, lines: impl IntoIterator<Item = String>) -> std::io::Result<()> {
    for line in lines {
        writeln!(out, "      {line}")?;
    }
    Ok(())
}

fn failed(step: &str, e: &Error) -> Failure {
    Failure::from_core(&format!("demo step `{step}` failed"), e)
}

fn access_token_of(token: &TokenSet) -> Result<iop_core::AccessToken, Failure> {
    token
        .access_token
        .clone()
        .ok_or_else(|| Failure::Failed("the token set has no access token".to_owned()))
}

fn json_lines(value: &serde_json::Value) -> Vec<String> {
    serde_json::to_string_pretty(value)
        .unwrap_or_else(|_| value.to_string())
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The offline demo: emulator, authorize, create, refresh, call, and the manager refreshing on
/// its own 28 days later.
fn offline(args: &DemoArgs, out: &mut Out) -> Outcome {
    const STEPS: u32 = 6;
    let seller = args.seller.as_str();
    writeln!(
        out,
        "iop demo: a seller's token life against iop-emulator, an offline IOP gateway started in \
         this process (no IOP_APP_KEY / IOP_APP_SECRET set). Secrets are masked."
    )?;

    let emulator = Emulator::start(Config::default())
        .map_err(|e| Failure::Failed(format!("cannot start the emulator: {e}")))?;
    step(out, 1, STEPS, "start a gateway")?;
    indented(
        out,
        [
            format!("iop-emulator listening on {}", emulator.url()),
            format!(
                "app key {}, app secret {}",
                emulator.app_key(),
                show::mask(emulator.app_secret())
            ),
        ],
    )?;
    let gateway = Gateway::new(&emulator.url()).map_err(|e| failed("start", &e))?;
    let client = Client::builder(
        emulator.app_key(),
        AppSecret::new(emulator.app_secret()),
        gateway,
    )
    .clock(emulator.clock())
    .build()
    .map(Arc::new)
    .map_err(|e| failed("start", &e))?;

    step(
        out,
        2,
        STEPS,
        &format!("seller `{seller}` authorizes the app"),
    )?;
    let code = emulator.authorize(seller);
    indented(
        out,
        [format!(
            "the OAuth redirect brings authorization code {} (single use, valid 30 minutes)",
            show::mask(&code)
        )],
    )?;

    step(
        out,
        3,
        STEPS,
        "POST /auth/token/create: the code becomes a token set",
    )?;
    let created = client
        .create_token(&AuthCode::new(code), None)
        .map_err(|e| failed("token create", &e))?;
    indented(out, show::token_lines(&created, client.clock().now()))?;

    step(
        out,
        4,
        STEPS,
        "POST /auth/token/refresh: a new token set for the refresh token",
    )?;
    let old_refresh = created
        .refresh_token
        .clone()
        .ok_or_else(|| Failure::Failed("the created token set has no refresh token".to_owned()))?;
    let refreshed = client
        .refresh_token(&old_refresh)
        .map_err(|e| failed("token refresh", &e))?;
    indented(out, show::token_lines(&refreshed, client.clock().now()))?;
    let differs = |a: Option<&str>, b: Option<&str>| match (a, b) {
        (Some(a), Some(b)) if a == b => "the same",
        _ => "new",
    };
    indented(
        out,
        [format!(
            "{} access token, {} refresh token",
            differs(
                created.access_token.as_ref().map(|t| t.secret()),
                refreshed.access_token.as_ref().map(|t| t.secret())
            ),
            differs(
                created.refresh_token.as_ref().map(|t| t.secret()),
                refreshed.refresh_token.as_ref().map(|t| t.secret())
            ),
        )],
    )?;
    let again = match client.refresh_token(&old_refresh) {
        Err(e) if e.class() == ErrorClass::Reauthorize => format!(
            "the old refresh token once more: refused ({}): always store the newest one",
            e.gateway().map_or("reauthorize", |g| g.code.as_str())
        ),
        Err(e) => return Err(failed("token refresh with the old refresh token", &e)),
        Ok(_) => "the old refresh token still works: this gateway does not rotate them".to_owned(),
    };
    indented(out, [again])?;

    step(
        out,
        5,
        STEPS,
        &format!("call {OFFLINE_API} with the access token"),
    )?;
    let request = Request::new(OFFLINE_API)
        .map_err(|e| failed("call", &e))?
        .param("current_page", "1")
        .param("page_size", "20");
    let answer = client
        .call(&request, Some(&access_token_of(&refreshed)?))
        .map_err(|e| failed("call", &e))?;
    indented(out, json_lines(&answer))?;

    step(
        out,
        6,
        STEPS,
        "28 days later: the token manager refreshes before the access token expires",
    )?;
    let manager = TokenManager::new(Arc::clone(&client), Arc::new(MemoryStore::new()));
    manager
        .put(seller, &refreshed)
        .map_err(|e| failed("token manager", &e))?;
    emulator.advance(LATER);
    let left = refreshed
        .expires_at()
        .and_then(|at| at.duration_since(emulator.now()).ok())
        .map_or_else(|| "no".to_owned(), show::span);
    emulator.reset_stats();
    let access = manager
        .access_token(seller)
        .map_err(|e| failed("token manager", &e))?;
    let refreshes = emulator
        .stats()
        .get("/auth/token/refresh")
        .copied()
        .unwrap_or(0);
    let current = manager
        .get(seller)
        .map_err(|e| failed("token manager", &e))?
        .unwrap_or_default();
    indented(
        out,
        [
            format!(
                "the emulator's clock moved {}: {left} of access-token life left, inside the \
                 manager's 3-day margin",
                show::span(LATER)
            ),
            format!(
                "manager.access_token(\"{seller}\") made {refreshes} refresh call and returned {}",
                show::mask(access.secret())
            ),
        ],
    )?;
    indented(out, show::token_lines(&current, client.clock().now()))?;

    writeln!(out)?;
    writeln!(
        out,
        "Every step worked. Against the real gateway: export IOP_APP_KEY=… IOP_APP_SECRET=… \
         (and IOP_AUTH_CODE=… with --store DIR to create a token), then run `iop demo` again; \
         `iop doctor` checks the set-up."
    )?;
    emulator.shutdown();
    ok()
}

/// The real gateway: check the credentials, then create, refresh and call where the inputs
/// exist. Steps that would replace the user's tokens without keeping them are skipped.
fn real_gateway(app_args: &AppArgs, args: &DemoArgs, out: &mut Out) -> Outcome {
    const STEPS: u32 = 4;
    let app = App::resolve(app_args, &mut Stdin::default())?;
    let client = app.client()?;
    let seller = args.seller.as_str();
    let lazada = app.gateway.base_url().contains("lazada");
    writeln!(
        out,
        "iop demo against {} with app key {} (from IOP_*; `iop demo --emulator` runs offline). \
         Secrets are masked.",
        app.gateway.base_url(),
        app.app_key
    )?;

    step(
        out,
        1,
        STEPS,
        "check the app key and secret (a refresh with a made-up token)",
    )?;
    match client.refresh_token(&RefreshToken::new("iop-demo-not-a-real-refresh-token")) {
        Err(e) if e.gateway().is_some_and(|g| g.code == "IllegalRefreshToken") => indented(
            out,
            [
                "refused for its token (IllegalRefreshToken), so key and signature are accepted"
                    .to_owned(),
            ],
        )?,
        Err(e) => return Err(failed("check the credentials (see `iop doctor`)", &e)),
        Ok(_) => {
            return Err(Failure::Failed(
                "the gateway accepted a made-up refresh token: is IOP_BASE_URL right?".to_owned(),
            ));
        }
    }

    let manager = match &args.store {
        Some(dir) => Some(TokenManager::new(
            Arc::clone(&client),
            open_store(dir, true)?,
        )),
        None => None,
    };
    let mut latest: Option<TokenSet> = None;

    step(out, 2, STEPS, "POST /auth/token/create")?;
    match (std::env::var(ENV_AUTH_CODE).ok(), &manager) {
        (Some(code), Some(manager)) => {
            let token = client
                .create_token(&AuthCode::new(code), None)
                .map_err(|e| failed("token create", &e))?;
            manager
                .put(seller, &token)
                .map_err(|e| failed("save the token", &e))?;
            indented(out, show::token_lines(&token, client.clock().now()))?;
            indented(out, [format!("saved as seller `{seller}`")])?;
            latest = Some(token);
        }
        (Some(_), None) => indented(
            out,
            [format!(
                "skipped: pass --store DIR to keep the token {ENV_AUTH_CODE} creates (a code works once)"
            )],
        )?,
        (None, _) => {
            let page = if lazada {
                "https://auth.lazada.com/oauth/authorize"
            } else {
                "https://api-sg.aliexpress.com/oauth/authorize"
            };
            indented(
                out,
                [
                    format!(
                        "skipped: set {ENV_AUTH_CODE} to a code from the seller's authorization redirect:"
                    ),
                    format!(
                        "{page}?response_type=code&force_auth=true&redirect_uri=YOUR_REDIRECT&client_id={}",
                        app.app_key
                    ),
                ],
            )?;
        }
    }

    step(out, 3, STEPS, "POST /auth/token/refresh")?;
    match &manager {
        None => indented(
            out,
            ["skipped: a refresh replaces the refresh token; pass --store DIR to keep the new one"
                .to_owned()],
        )?,
        Some(manager) => {
            let stored = match latest.clone() {
                Some(t) => Some(t),
                None => manager
                    .get(seller)
                    .map_err(|e| failed("read the token store", &e))?,
            };
            match stored.and_then(|t| t.refresh_token) {
                None => indented(
                    out,
                    [format!("skipped: no token of seller `{seller}` in the store")],
                )?,
                Some(refresh) => {
                    let token = client
                        .refresh_token(&refresh)
                        .map_err(|e| failed("token refresh", &e))?;
                    manager
                        .put(seller, &token)
                        .map_err(|e| failed("save the token", &e))?;
                    indented(out, show::token_lines(&token, client.clock().now()))?;
                    latest = Some(token);
                }
            }
        }
    }

    let api = if lazada {
        "/seller/get"
    } else {
        "aliexpress.solution.merchant.profile.get"
    };
    step(out, 4, STEPS, &format!("call {api} with the access token"))?;
    let access = match latest.as_ref().and_then(|t| t.access_token.clone()) {
        Some(token) => Some(token),
        None => std::env::var(ENV_ACCESS_TOKEN)
            .ok()
            .map(iop_core::AccessToken::new),
    };
    match access {
        None => indented(
            out,
            [format!(
                "skipped: no access token (create one above, or set {ENV_ACCESS_TOKEN})"
            )],
        )?,
        Some(access) => {
            let request = Request::new(api).map_err(|e| failed("call", &e))?;
            let answer = client
                .call(&request, Some(&access))
                .map_err(|e| failed("call", &e))?;
            indented(out, json_lines(&answer))?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "done ({})",
        credentials::redact_url(&credentials::base_url(app_args))
    )?;
    ok()
}
