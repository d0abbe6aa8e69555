//! `iop authorize`: authorize a seller account from a terminal. Prints the authorization URL,
//! listens on the loopback redirect URI, checks the redirect's state, exchanges the code and
//! stores (or prints) the token set.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iop_core::onboarding::{self, AuthorizationRequest, CallbackError, Platform};
use iop_core::{Client, Error, TokenManager, TokenSet};

use crate::cli::{AppArgs, AuthorizeArgs, PlatformArg};
use crate::credentials::{App, Stdin};
use crate::failure::{Failure, Outcome, ok};
use crate::show;
use crate::token_cmd::{open_store, store_name};

/// The largest request head read from the browser.
const MAX_HEAD: usize = 16 * 1024;

/// `iop authorize --redirect-uri http://127.0.0.1:PORT/PATH [--store DIR [--seller KEY]]`.
pub(crate) fn run(app_args: &AppArgs, args: &AuthorizeArgs) -> Outcome {
    let app = App::resolve(app_args, &mut Stdin::default())?;
    let client = app.client()?;
    let (listen, path) = loopback_redirect(&args.redirect_uri)?;
    // Open the store and the port before the seller is sent anywhere: a failure must not waste
    // an authorization.
    let manager = match &args.store {
        Some(dir) => Some(TokenManager::new(
            Arc::clone(&client),
            open_store(dir, true)?,
        )),
        None => None,
    };
    let listener = TcpListener::bind(listen)
        .map_err(|e| Failure::Failed(format!("cannot listen on {listen} for the redirect: {e}")))?;
    let state =
        onboarding::new_state().map_err(|e| Failure::from_core("cannot make a state", &e))?;
    let platform = match args.platform {
        Some(PlatformArg::Aliexpress) => Platform::AliExpress,
        Some(PlatformArg::Lazada) => Platform::Lazada,
        None if client
            .gateway()
            .token_gateway()
            .base_url()
            .contains("lazada") =>
        {
            Platform::Lazada
        }
        None => Platform::AliExpress,
    };
    let mut request = AuthorizationRequest::new(
        platform,
        app.app_key.clone(),
        args.redirect_uri.clone(),
        state.clone(),
    );
    request.country = args.country.clone();
    request.uuid = args.uuid.clone();
    // The emulator serves its own authorization page; the real gateway's is on the platform host.
    let url = if client.gateway().is_loopback() {
        onboarding::authorization_url_on(client.gateway(), &request)
    } else {
        onboarding::authorization_url(&request)
    }
    .map_err(|e| Failure::from_core("cannot build the authorization URL", &e))?;

    eprintln!(
        "Open this URL in a browser, as the seller, and authorize the app (it opens nothing by \
         itself):"
    );
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{url}")?;
        out.flush()?;
    }
    eprintln!(
        "Waiting up to {} for the redirect to {} …",
        show::span(args.timeout),
        args.redirect_uri
    );

    let deadline = Instant::now() + args.timeout;
    listener
        .set_nonblocking(true)
        .map_err(|e| Failure::Failed(format!("cannot wait for the redirect: {e}")))?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some(outcome) = serve(stream, &path, &state, &client, manager.as_ref(), args)
                {
                    return outcome;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(Failure::Failed(format!(
                        "no redirect arrived within {}; nothing was exchanged",
                        show::span(args.timeout)
                    )));
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(e) => return Err(Failure::Failed(format!("waiting for the redirect: {e}"))),
        }
    }
}

/// The address to listen on and the path to expect, from a loopback `http://` redirect URI.
fn loopback_redirect(uri: &str) -> Result<(std::net::SocketAddr, String), Failure> {
    let usage = |why: &str| {
        Failure::Usage(format!(
            "--redirect-uri {why}: give http://127.0.0.1:PORT/PATH (or [::1] / localhost), the \
             exact URI registered in the app console"
        ))
    };
    let url = url::Url::parse(uri).map_err(|_| usage("is not a URL"))?;
    if url.scheme() != "http" {
        return Err(usage("must be plain http on this machine"));
    }
    let ip: IpAddr = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.into(),
        Some(url::Host::Ipv6(ip)) => ip.into(),
        Some(url::Host::Domain("localhost")) => IpAddr::from([127, 0, 0, 1]),
        _ => return Err(usage("must be on a loopback address")),
    };
    if !ip.is_loopback() {
        return Err(usage("must be on a loopback address"));
    }
    let port = url.port().ok_or_else(|| usage("needs a port"))?;
    if port == 0 {
        return Err(usage("needs a fixed port"));
    }
    Ok(((ip, port).into(), url.path().to_owned()))
}

/// Answers one connection. `Some` ends the command; `None` keeps waiting (another path, a
/// request that is not the redirect, a redirect whose state is not ours).
fn serve(
    mut stream: TcpStream,
    path: &str,
    state: &str,
    client: &Arc<Client>,
    manager: Option<&TokenManager>,
    args: &AuthorizeArgs,
) -> Option<Outcome> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some(target) = request_target(&mut stream) else {
        respond(&mut stream, 400, "Bad request.");
        return None;
    };
    let (request_path, query) = target.split_once('?').unwrap_or((&target, ""));
    if request_path != path {
        respond(&mut stream, 404, "Not found.");
        return None;
    }
    let code = match onboarding::parse_callback(query, state) {
        Ok(code) => code,
        Err(e @ (CallbackError::StateMissing | CallbackError::StateMismatch)) => {
            // Not the redirect of the URL printed above (a stale tab, or someone else's
            // request): refuse it, exchange nothing, and keep waiting for ours.
            eprintln!("ignored a request to the redirect URI: {e}");
            respond(
                &mut stream,
                400,
                "This redirect does not belong to the authorization in progress; nothing was \
                 exchanged.",
            );
            return None;
        }
        Err(e) => {
            respond(&mut stream, 400, &format!("Authorization failed: {e}."));
            return Some(Err(Failure::Failed(format!("{e}"))));
        }
    };
    let result: Result<(String, TokenSet), Error> = match manager {
        Some(manager) => manager.complete_authorization(query, state, args.seller.as_deref()),
        None => client
            .create_token(&code, args.uuid.as_deref())
            .map(|token| {
                let key = token.seller_id.clone().unwrap_or_default();
                (key, token)
            }),
    };
    match result {
        Ok((key, token)) => {
            respond(
                &mut stream,
                200,
                "The app is authorized. You can close this tab and go back to the terminal.",
            );
            Some(emit(client, &key, &token, args))
        }
        Err(e) => {
            respond(
                &mut stream,
                500,
                "The code could not be exchanged: see the terminal.",
            );
            Some(Err(Failure::from_core(
                "the code could not be exchanged",
                &e,
            )))
        }
    }
}

/// The request target of a `GET` request head, or `None` for anything else.
fn request_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("GET"), Some(target), Some(version)) if version.starts_with("HTTP/1.") => {
            Some(target.to_owned())
        }
        _ => None,
    }
}

fn respond(stream: &mut TcpStream, status: u16, text: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>iop authorize</title><p>{}</p>\n",
        text.replace('&', "&amp;").replace('<', "&lt;")
    );
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// Prints the stored token set masked, or the whole token set as JSON without a store.
fn emit(client: &Client, key: &str, token: &TokenSet, args: &AuthorizeArgs) -> Outcome {
    let mut out = std::io::stdout().lock();
    match &args.store {
        Some(dir) => {
            let line = format!(
                "authorized: the token of seller `{key}` is saved in {}",
                store_name(dir)
            );
            writeln!(out, "{}", show::escape_controls(&line))?;
            for line in show::token_lines(token, client.clock().now()) {
                writeln!(out, "  {line}")?;
            }
        }
        None => {
            let json = serde_json::to_string_pretty(token)
                .map_err(|e| Failure::Failed(format!("cannot serialize the token set: {e}")))?;
            writeln!(out, "{}", show::json_for_terminal(&json))?;
        }
    }
    ok()
}
