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

/// Environment variable of an authorization code (`iop token create` without `--code`).
pub(crate) const ENV_AUTH_CODE: &str = "IOP_AUTH_CODE";
/// Environment variable of a refresh token (`iop token refresh` without `--refresh-token` or
/// `--store`).
pub(crate) const ENV_REFRESH_TOKEN: &str = "IOP_REFRESH_TOKEN";

/// Stdin, which at most one value may come from.
#[derive(Debug, Default)]
pub(crate) struct Stdin {
    used_for: Option<String>,
}

impl Stdin {
    /// Reads all of stdin as the value `what`, without the trailing line break.
    pub(crate) fn read(&mut self, what: &str) -> Result<String, Failure> {
        if let Some(first) = &self.used_for {
            return Err(Failure::Usage(format!(
                "both the {first} and the {what} would come from stdin; only one value can"
            )));
        }
        self.used_for = Some(what.to_owned());
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

    /// A secret given to `flag` as `-` or `@-` (stdin), `@PATH` (the file's text) or as the value
    /// itself, which other users can read in `ps`: a warning on stderr says so.
    pub(crate) fn secret(
        &mut self,
        given: &str,
        what: &str,
        flag: &str,
    ) -> Result<String, Failure> {
        let value = match given {
            "-" | "@-" => return self.read(what),
            _ => match given.strip_prefix('@') {
                Some(path) => read_value_file(path, what)?,
                None => {
                    warn_visible(what, &format!("{flag} - (stdin) or {flag} @FILE"));
                    given.to_owned()
                }
            },
        };
        if value.trim().is_empty() {
            return Err(Failure::Usage(format!("the {what} is empty")));
        }
        Ok(value)
    }

    /// The `-p KEY=VALUE` parameters with their values read: `@-` is stdin, `@PATH` a file's
    /// text, `@@…` a value that starts with `@`. A secret parameter (`refresh_token`, …) given as
    /// a plain value is warned about: `ps` shows it.
    pub(crate) fn params(
        &mut self,
        params: &[(String, String)],
    ) -> Result<Vec<(String, String)>, Failure> {
        params
            .iter()
            .map(|(key, given)| {
                let what = format!("value of `{key}`");
                let value = if let Some(literal) = given.strip_prefix("@@") {
                    format!("@{literal}")
                } else if given == "@-" {
                    self.read(&what)?
                } else if let Some(path) = given.strip_prefix('@') {
                    read_value_file(path, &what)?
                } else {
                    if !given.is_empty() && iop_core::request::is_secret_param(key) {
                        warn_visible(&what, &format!("-p {key}=@- (stdin) or -p {key}=@FILE"));
                    }
                    given.clone()
                };
                Ok((key.clone(), value))
            })
            .collect()
    }
}

/// The text of the file a value was given as (`@PATH`), without its trailing line break.
fn read_value_file(path: &str, what: &str) -> Result<String, Failure> {
    if path.is_empty() {
        return Err(Failure::Usage(format!(
            "the {what} is `@` with no file name (`@-` reads stdin, `@@…` is a value starting with @)"
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read the {what} from {path}: {e}")))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// Warns that a secret was given on the command line, where `ps` and shell history show it.
fn warn_visible(what: &str, instead: &str) {
    eprintln!(
        "iop: warning: the {what} given on the command line is visible to other users (ps) and \
         in shell history; pass {instead} instead"
    );
}

/// A URL as it may be shown: [`iop_core::redact::url`].
pub(crate) fn redact_url(url: &str) -> String {
    iop_core::redact::url(url)
}

/// A secret from the environment variable `name`; unset or blank counts as absent.
pub(crate) fn env_secret(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The access token of `--access-token-stdin` or `--access-token-file PATH` (first line), if
/// either was given.
pub(crate) fn access_token(
    from_stdin: bool,
    file: Option<&std::path::Path>,
    stdin: &mut Stdin,
) -> Result<Option<iop_core::AccessToken>, Failure> {
    let value = if from_stdin {
        stdin.read("access token")?
    } else if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::Usage(format!(
                "cannot read the access token file {}: {e}",
                path.display()
            ))
        })?;
        text.lines().next().unwrap_or_default().to_owned()
    } else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(Failure::Usage("the access token is empty".to_owned()));
    }
    Ok(Some(iop_core::AccessToken::new(value.to_owned())))
}

/// Environment variable of the proxy URL (`--proxy`).
pub(crate) const ENV_PROXY: &str = "IOP_PROXY";
/// Environment variable of the extra CA file (`--ca-file`).
pub(crate) const ENV_CA_FILE: &str = "IOP_CA_FILE";
/// Environment variable that turns `--trust-env` on (`1`, `true`, `yes`).
pub(crate) const ENV_TRUST_ENV: &str = "IOP_TRUST_ENV";

/// The app key, app secret and gateway of every command that talks to the gateway.
#[derive(Debug)]
pub(crate) struct App {
    /// `app_key`.
    pub(crate) app_key: String,
    /// The app secret.
    pub(crate) app_secret: AppSecret,
    /// The gateway.
    pub(crate) gateway: Gateway,
    /// Proxy, CA file, timeouts (Debug hides the proxy's credentials).
    pub(crate) http: iop_core::HttpConfig,
    /// Attempts after the first, when given.
    pub(crate) retries: Option<u32>,
}

/// The HTTP settings of `--proxy`, `--ca-file`, `--trust-env` and the timeouts, each flag
/// before its environment form. A proxy password written on the command line is warned about.
pub(crate) fn http_config(args: &crate::cli::NetworkArgs) -> Result<iop_core::HttpConfig, Failure> {
    let proxy = match &args.proxy {
        Some(given) => {
            let url = given.as_given().to_owned();
            if url
                .split_once("://")
                .map_or(url.as_str(), |(_, rest)| rest)
                .split('/')
                .next()
                .is_some_and(|authority| authority.contains('@'))
            {
                warn_visible(
                    "proxy password",
                    &format!("{ENV_PROXY}=URL in the environment"),
                );
            }
            Some(url)
        }
        None => env_secret(ENV_PROXY),
    };
    let ca_file = args.ca_file.clone().or_else(|| {
        std::env::var_os(ENV_CA_FILE)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    });
    let trust_env = args.trust_env
        || std::env::var(ENV_TRUST_ENV)
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
    let defaults = iop_core::HttpConfig::default();
    Ok(iop_core::HttpConfig {
        connect_timeout: args.connect_timeout.unwrap_or(defaults.connect_timeout),
        read_timeout: args.read_timeout.unwrap_or(defaults.read_timeout),
        proxy,
        extra_root_certificates: ca_file,
        trust_env,
        ..defaults
    })
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
                http: http_config(&args.network)?,
                retries: args.network.retries,
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

    /// A client for these credentials and network settings.
    pub(crate) fn client(&self) -> Result<Arc<Client>, Failure> {
        let mut builder = Client::builder(
            self.app_key.clone(),
            self.app_secret.clone(),
            self.gateway.clone(),
        )
        .http_config(self.http.clone());
        if let Some(retries) = self.retries {
            builder = builder.retry(iop_core::RetryPolicy {
                max_attempts: retries.saturating_add(1),
                ..iop_core::RetryPolicy::default()
            });
        }
        builder.build().map(Arc::new).map_err(|e| match e {
            // A bad proxy URL or CA file: the command line (or environment) is wrong.
            iop_core::Error::InvalidRequest(why) => Failure::Usage(format!(
                "bad network settings (--proxy/{ENV_PROXY}, --ca-file/{ENV_CA_FILE}, \
                     --trust-env): {why}"
            )),
            other => Failure::from_core("cannot build the client", &other),
        })
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
    Gateway::new(&url)
        .map_err(|e| Failure::Usage(format!("bad base URL `{}`: {e}", redact_url(&url))))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_are_shown_without_user_info_or_secret_values() {
        assert_eq!(
            redact_url("http://user:PASSWORD@example.com/rest"),
            "http://***@example.com/rest"
        );
        assert_eq!(
            redact_url("https://a@b:PASS@host:8080?access_token=SECRET#x"),
            "https://***@host:8080?access_token=***#***"
        );
        assert_eq!(redact_url("user:PASSWORD@host/x?y"), "***@host/x?***");
        assert_eq!(
            redact_url("https://api-sg.aliexpress.com/sync"),
            "https://api-sg.aliexpress.com/sync"
        );
        assert_eq!(
            redact_url("http://user:pa/ss@127.0.0.1/rest"),
            "http://***@127.0.0.1/rest"
        );
        assert_eq!(redact_url("http://h/x#frag"), "http://h/x#***");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
