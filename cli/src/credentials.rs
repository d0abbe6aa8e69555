//! The app's credentials and gateway, from flags, the environment, a file or stdin, and values
//! that may be read from stdin (`-`).

use std::io::{IsTerminal, Read};
use std::sync::Arc;

use iop_core::{AppSecret, Client, Gateway};

use crate::cli::AppArgs;
use crate::failure::Failure;

/// Environment variable of the app key.
pub(crate) const ENV_APP_KEY: &str = "IOP_APP_KEY";
/// Environment variable of the app secret.
pub(crate) const ENV_APP_SECRET: &str = "IOP_APP_SECRET";
/// Environment variable of the gateway base URL.
pub(crate) const ENV_BASE_URL: &str = "IOP_BASE_URL";

/// Stdin, which at most one value may come from.
#[derive(Debug, Default)]
pub(crate) struct Stdin {
    used_for: Option<&'static str>,
}

impl Stdin {
    /// Reads all of stdin as the value `what`, without the trailing line break.
    pub(crate) fn read(&mut self, what: &'static str) -> Result<String, Failure> {
        if let Some(first) = self.used_for {
            return Err(Failure::Usage(format!(
                "both the {first} and the {what} would come from stdin; only one value can"
            )));
        }
        self.used_for = Some(what);
        if std::io::stdin().is_terminal() {
            eprintln!("iop: reading the {what} from stdin (end with Ctrl-D)");
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::Usage(format!("cannot read the {what} from stdin: {e}")))?;
        let value = text.trim_end_matches(['\r', '\n']).to_owned();
        if value.trim().is_empty() {
            return Err(Failure::Usage(format!("stdin gave an empty {what}")));
        }
        Ok(value)
    }

    /// `value` itself, or stdin when it is `-`.
    pub(crate) fn value_or_stdin(
        &mut self,
        value: &str,
        what: &'static str,
    ) -> Result<String, Failure> {
        if value == "-" {
            self.read(what)
        } else {
            Ok(value.to_owned())
        }
    }
}

/// The app key, app secret and gateway of every command that talks to the gateway.
#[derive(Debug)]
pub(crate) struct App {
    /// `app_key`.
    pub(crate) app_key: String,
    /// The app secret.
    pub(crate) app_secret: AppSecret,
    /// The gateway.
    pub(crate) gateway: Gateway,
}

impl App {
    /// Reads the credentials; anything missing is a usage failure (exit 2) naming what to set.
    pub(crate) fn resolve(args: &AppArgs, stdin: &mut Stdin) -> Result<Self, Failure> {
        let app_key = app_key(args);
        let app_secret = app_secret(args, stdin)?;
        match (app_key, app_secret) {
            (Some(app_key), Some(app_secret)) => Ok(Self {
                app_key,
                app_secret,
                gateway: gateway(args)?,
            }),
            (None, None) => Err(Failure::Usage(format!(
                "missing credentials: set {ENV_APP_KEY} and {ENV_APP_SECRET} \
                 (or pass --app-key KEY and --app-secret-file PATH / --app-secret-stdin)"
            ))),
            (None, Some(_)) => Err(Failure::Usage(format!(
                "missing app key: set {ENV_APP_KEY} (or pass --app-key KEY)"
            ))),
            (Some(_), None) => Err(Failure::Usage(format!(
                "missing app secret: set {ENV_APP_SECRET} (or pass --app-secret-file PATH or \
                 --app-secret-stdin; never as a flag value, which `ps` shows)"
            ))),
        }
    }

    /// A client for these credentials.
    pub(crate) fn client(&self) -> Result<Arc<Client>, Failure> {
        Client::builder(
            self.app_key.clone(),
            self.app_secret.clone(),
            self.gateway.clone(),
        )
        .build()
        .map(Arc::new)
        .map_err(|e| Failure::from_core("cannot build the client", &e))
    }
}

/// The app key from `--app-key` or the environment (empty counts as absent).
pub(crate) fn app_key(args: &AppArgs) -> Option<String> {
    args.app_key
        .clone()
        .or_else(|| std::env::var(ENV_APP_KEY).ok())
        .filter(|k| !k.trim().is_empty())
}

fn app_secret(args: &AppArgs, stdin: &mut Stdin) -> Result<Option<AppSecret>, Failure> {
    let value = if let Some(path) = &args.app_secret_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::Usage(format!(
                "cannot read the app secret file {}: {e}",
                path.display()
            ))
        })?;
        Some(text.lines().next().unwrap_or_default().trim().to_owned())
    } else if args.app_secret_stdin {
        Some(stdin.read("app secret")?.trim().to_owned())
    } else {
        std::env::var(ENV_APP_SECRET).ok()
    };
    Ok(value.filter(|s| !s.is_empty()).map(AppSecret::new))
}

/// The base URL the user chose (flag, then environment), or AliExpress.
pub(crate) fn base_url(args: &AppArgs) -> String {
    args.base_url
        .clone()
        .or_else(|| std::env::var(ENV_BASE_URL).ok())
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| iop_core::gateway::ALIEXPRESS.to_owned())
}

/// The gateway of [`base_url`]; a malformed URL is a usage failure.
pub(crate) fn gateway(args: &AppArgs) -> Result<Gateway, Failure> {
    let url = base_url(args);
    Gateway::new(&url).map_err(|e| Failure::Usage(format!("bad base URL `{url}`: {e}")))
}
