//! `iop call`: any API, JSON out.

use std::io::Write;

use iop_core::{AccessToken, HttpMethod, Request, TokenManager};

use crate::cli::{AppArgs, CallArgs};
use crate::credentials::{App, Stdin};
use crate::failure::{Failure, Outcome, ok};
use crate::token_cmd::open_store;

/// Calls `args.api` with its parameters and prints the answer as JSON.
pub(crate) fn run(app_args: &AppArgs, args: &CallArgs) -> Outcome {
    let mut stdin = Stdin::default();
    let app = App::resolve(app_args, &mut stdin)?;
    let mut request = Request::new(&args.api)
        .map_err(|e| Failure::Usage(format!("bad API name `{}`: {e}", args.api)))?;
    for (key, value) in &args.params {
        request.set_param(key.as_str(), value.as_str());
    }
    let request = request
        .http_method(if args.get {
            HttpMethod::Get
        } else {
            HttpMethod::Post
        })
        .simplify(args.simplify);
    let client = app.client()?;

    let access_token = if args.access_token_stdin {
        Some(AccessToken::new(
            stdin.read("access token")?.trim().to_owned(),
        ))
    } else if let (Some(seller), Some(dir)) = (&args.seller, &args.store) {
        let manager = TokenManager::new(client.clone(), open_store(dir, false)?);
        Some(manager.access_token(seller).map_err(|e| {
            Failure::from_core(&format!("no valid access token for seller `{seller}`"), &e)
        })?)
    } else {
        None
    };
    if args.get && access_token.is_some() {
        eprintln!("note: --get puts every parameter, the access token too, in the URL");
    }

    let value = client
        .call(&request, access_token.as_ref())
        .map_err(|e| Failure::from_core(&format!("call {} failed", args.api), &e))?;
    let json = serde_json::to_string_pretty(&value)
        .map_err(|e| Failure::Failed(format!("cannot print the answer: {e}")))?;
    writeln!(std::io::stdout().lock(), "{json}")?;
    ok()
}
