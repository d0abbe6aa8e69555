//! `iop sign explain`: how a call is signed, for the day the gateway says `IncompleteSignature`.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use iop_core::{AppSecret, Credentials, Style, Warning};

use crate::cli::{AppArgs, ExplainArgs};
use crate::credentials::{self, ENV_APP_KEY, Stdin};
use crate::failure::{EXIT_FAILED, EXIT_OK, Failure, Outcome};

/// Prints the URL, style, signed keys, redacted string-to-sign and warnings. Exit 1 when the
/// request cannot be built at all.
pub(crate) fn run(app_args: &AppArgs, args: &ExplainArgs) -> Outcome {
    let app_key = credentials::app_key(app_args).ok_or_else(|| {
        Failure::Usage(format!(
            "missing app key: set {ENV_APP_KEY} (or pass --app-key KEY); the app secret is not \
             needed to explain"
        ))
    })?;
    let base_url = credentials::base_url(app_args);
    let mut stdin = Stdin::default();
    let access_token = credentials::access_token(
        args.access_token_stdin,
        args.access_token_file.as_deref(),
        &mut stdin,
    )?;
    let params = stdin.params(&args.params)?;
    let sign_method = iop_core::SignMethod::from(args.sign_method);
    // The explanation shows no signature, so the secret is not needed: a placeholder signs.
    let mut credentials = Credentials::new(app_key, AppSecret::new(String::new()));
    credentials.sign_method = sign_method;
    let timestamp_ms = args.timestamp.unwrap_or_else(now_ms);
    let explanation = iop_core::explain(
        &base_url,
        &args.api,
        &params,
        &credentials,
        access_token.as_ref(),
        timestamp_ms,
    );

    let style = match explanation.style {
        Some(Style::Gop) => "GOP (path API: signed with the path as prefix, token as access_token)",
        Some(Style::Top) => {
            "TOP (dotted API: sent to /sync as method=…, no prefix, token as session)"
        }
        None => "unknown (the API name is not valid)",
    };
    let http_method = match explanation.http_method {
        iop_core::HttpMethod::Post => "POST (every parameter in the form body)",
        iop_core::HttpMethod::Get => "GET (every parameter in the query)",
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "url             {}", explanation.url)?;
    writeln!(out, "style           {style}")?;
    writeln!(out, "http method     {http_method}")?;
    writeln!(out, "sign method     {}", sign_method.as_str())?;
    writeln!(out, "timestamp       {timestamp_ms}")?;
    writeln!(
        out,
        "signed keys     {}",
        explanation.signed_keys.join(", ")
    )?;
    writeln!(
        out,
        "string-to-sign  {}",
        explanation.string_to_sign_redacted
    )?;
    let signature = match sign_method {
        iop_core::SignMethod::Md5 => {
            "MD5 of app secret + string-to-sign + app secret, uppercase hex (32 characters)"
        }
        _ => {
            "HMAC-SHA256 of the string-to-sign keyed with the app secret, uppercase hex (64 characters)"
        }
    };
    writeln!(out, "signature       {signature}")?;
    if explanation.warnings.is_empty() {
        writeln!(out, "warnings        none")?;
    } else {
        writeln!(out, "warnings")?;
        for warning in &explanation.warnings {
            writeln!(out, "  - {warning}")?;
        }
    }
    let invalid = explanation
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::Invalid(_)));
    Ok(ExitCode::from(if invalid { EXIT_FAILED } else { EXIT_OK }))
}

/// Now in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
