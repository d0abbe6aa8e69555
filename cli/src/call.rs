//! `iop call`: any API, JSON out.

use std::io::Write;

use iop_core::{HttpMethod, Request, TokenManager};

use crate::cli::{AppArgs, CallArgs};
use crate::credentials::{self, App, Stdin};
use crate::failure::{Failure, Outcome, ok};
use crate::show;
use crate::token_cmd::open_store;

/// Calls `args.api` with its parameters and prints the answer as JSON.
pub(crate) fn run(app_args: &AppArgs, args: &CallArgs) -> Outcome {
    let mut stdin = Stdin::default();
    let app = App::resolve(app_args, &mut stdin)?;
    let mut request = Request::new(&args.api)
        .map_err(|e| Failure::Usage(format!("bad API name `{}`: {e}", args.api)))?;
    for (key, value) in stdin.params(&args.params)? {
        request.set_param(key, value);
    }
    let request = request
        .http_method(if args.get {
            HttpMethod::Get
        } else {
            HttpMethod::Post
        })
        .simplify(args.simplify);
    let client = app.client()?;

    let given = credentials::access_token(
        args.access_token_stdin,
        args.access_token_file.as_deref(),
        &mut stdin,
    )?;
    if args.get && (given.is_some() || args.seller.is_some()) {
        eprintln!("note: --get puts every parameter, the access token too, in the URL");
    }
    let value = if let (None, Some(seller), Some(dir)) = (&given, &args.seller, &args.store) {
        // A fresh token of the seller, and one refresh and retry if the gateway refuses it.
        let manager = TokenManager::new(client.clone(), open_store(dir, false)?);
        manager.call(seller, &request).map_err(|e| {
            Failure::from_core(
                &format!("call {} for seller `{seller}` failed", args.api),
                &e,
            )
        })?
    } else {
        client
            .call(&request, given.as_ref())
            .map_err(|e| Failure::from_core(&format!("call {} failed", args.api), &e))?
    };
    let json = serde_json::to_string_pretty(&value)
        .map_err(|e| Failure::Failed(format!("cannot print the answer: {e}")))?;
    writeln!(
        std::io::stdout().lock(),
        "{}",
        show::json_for_terminal(&json)
    )?;
    ok()
}
