//! The command line: subcommands, flags and their parsers.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::failure::EXIT_CODES_HELP;

/// The iop command: seller tokens from a shell, the cron job that keeps them alive, signature
/// diagnosis and a demo against an offline gateway.
#[derive(Debug, Parser)]
#[command(name = "iop", version = iop_core::VERSION, about, after_help = EXIT_CODES_HELP)]
pub(crate) struct Cli {
    /// Credentials and gateway.
    #[command(flatten)]
    pub(crate) app: AppArgs,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the app's credentials and the gateway come from. The app secret is never a flag value
/// (it would show in `ps`): it comes from `IOP_APP_SECRET`, a file or stdin.
#[derive(Debug, Args)]
pub(crate) struct AppArgs {
    /// App key [default: $IOP_APP_KEY]
    #[arg(long, global = true, help_heading = "Credentials", value_name = "KEY")]
    pub(crate) app_key: Option<String>,
    /// Read the app secret from this file (first line) instead of $IOP_APP_SECRET
    #[arg(long, global = true, help_heading = "Credentials", value_name = "PATH")]
    pub(crate) app_secret_file: Option<PathBuf>,
    /// Read the app secret from stdin (first line) instead of $IOP_APP_SECRET
    #[arg(
        long,
        global = true,
        help_heading = "Credentials",
        conflicts_with = "app_secret_file"
    )]
    pub(crate) app_secret_stdin: bool,
    /// Gateway base URL (the help text names the default).
    #[arg(
        long,
        global = true,
        help_heading = "Credentials",
        value_name = "URL",
        help = "Gateway base URL [default: $IOP_BASE_URL, else https://api-sg.aliexpress.com]"
    )]
    pub(crate) base_url: Option<String>,
    /// Proxy, CA file, timeouts and retries.
    #[command(flatten)]
    pub(crate) network: NetworkArgs,
}

/// How the gateway is reached: proxy, extra CA, timeouts, retries. Each flag has an environment
/// form; the flag wins.
#[derive(Debug, Args)]
pub(crate) struct NetworkArgs {
    /// HTTP CONNECT proxy: http://[user:password@]host:port, or https://… [default:
    /// $IOP_PROXY]. A password written here is visible in `ps`: set IOP_PROXY instead
    #[arg(long, global = true, help_heading = "Network", value_name = "URL")]
    pub(crate) proxy: Option<SecretArg>,
    /// A PEM file of CA certificates trusted beside the bundled roots (a private or
    /// TLS-inspecting CA) [default: $IOP_CA_FILE]
    #[arg(long, global = true, help_heading = "Network", value_name = "PATH")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Also read HTTPS_PROXY, NO_PROXY and SSL_CERT_FILE (off unless given, or IOP_TRUST_ENV=1)
    #[arg(long, global = true, help_heading = "Network")]
    pub(crate) trust_env: bool,
    /// How long connecting may take (10s, 1m, …) [default: 10s]
    #[arg(long, global = true, help_heading = "Network", value_name = "DURATION", value_parser = parse_timeout)]
    pub(crate) connect_timeout: Option<Duration>,
    /// How long an answer may take (30s, 2m, …) [default: 30s]
    #[arg(long, global = true, help_heading = "Network", value_name = "DURATION", value_parser = parse_timeout)]
    pub(crate) read_timeout: Option<Duration>,
    /// Attempts after the first for failures that are safe to repeat (connection refused, 5xx,
    /// short rate-limit bans) [default: 2]
    #[arg(long, global = true, help_heading = "Network", value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub(crate) retries: Option<u32>,
}

/// Parses a timeout: a duration greater than zero and at most a day.
pub(crate) fn parse_timeout(arg: &str) -> Result<Duration, String> {
    let duration = parse_duration(arg)?;
    if duration.is_zero() || duration > Duration::from_secs(86_400) {
        return Err("a timeout must be more than 0 and at most 1 day".to_owned());
    }
    Ok(duration)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create or refresh a seller's token set (`/auth/token/create`, `/auth/token/refresh`)
    #[command(subcommand)]
    Token(TokenCommand),
    /// Refresh every stored token that expires soon: the cron job
    #[command(after_help = REFRESH_DUE_HELP)]
    RefreshDue(RefreshDueArgs),
    /// List or remove the token sets a store holds (secrets masked; no credentials needed)
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Signing diagnosis
    #[command(subcommand)]
    Sign(SignCommand),
    /// Call any API and print the JSON answer
    Call(CallArgs),
    /// Check clock skew, app key and secret, and the stored tokens' remaining life
    Doctor(DoctorArgs),
    /// Show a seller's whole token life step by step, offline (or on the real gateway with IOP_* set)
    Demo(DemoArgs),
    /// Authorize a seller account from a terminal: prints the authorization URL, waits for the
    /// redirect on a loopback address, checks its state, exchanges the code and stores the token
    Authorize(AuthorizeArgs),
    /// Print a shell completion script: `source <(iop completions bash)`, or save it where your
    /// shell loads completions from
    Completions(CompletionsArgs),
    /// Print the manual page (roff) generated from these definitions: `iop man | man -l -`
    #[command(hide = true)]
    Man,
}

/// `iop authorize`.
#[derive(Debug, Args)]
pub(crate) struct AuthorizeArgs {
    /// Where the platform sends the seller back: http://127.0.0.1:PORT/PATH (or [::1] /
    /// localhost) on this machine. It must be registered in the app console exactly as given,
    /// or the platform refuses to redirect there
    #[arg(long, value_name = "URI")]
    pub(crate) redirect_uri: String,
    /// The platform [default: lazada for a Lazada base URL, else aliexpress]
    #[arg(long, value_enum)]
    pub(crate) platform: Option<PlatformArg>,
    /// Lazada: preselect a country (sg, my, th, vn, ph, id, cb)
    #[arg(long)]
    pub(crate) country: Option<String>,
    /// AliExpress: the optional uuid
    #[arg(long)]
    pub(crate) uuid: Option<String>,
    /// Save the token set into this token store (and print it masked): a directory (/abs or
    /// ./rel), memory:, redis://…, rediss://…, postgres://…; without it the token set is printed
    /// as JSON
    #[arg(long, value_name = "STORE")]
    pub(crate) store: Option<String>,
    /// The seller key to store it under [default: the token's seller_id]
    #[arg(long, value_name = "SELLER", requires = "store")]
    pub(crate) seller: Option<String>,
    /// How long to wait for the redirect (30s, 5m, …)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
}

/// Platforms on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum PlatformArg {
    /// AliExpress Open Platform
    Aliexpress,
    /// Lazada Open Platform
    Lazada,
}

/// `iop completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

const REFRESH_DUE_HELP: &str = "\
Prints a progress bar on a terminal, else one summary line, then one line per seller that failed
or must authorize again. Exit status: 0 all fine, 1 some refreshes failed (transient or
configuration: run again later), 3 some sellers must authorize the app again, 4 both.

Example crontab line (the credentials in a file only the job's user can read, not on the line):
  17 * * * *  . /etc/iop.env && iop refresh-due --store /var/lib/iop/tokens --within 3d";

/// `iop token …`.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Exchange an authorization code for a token set; prints it as JSON (or saves it with --store)
    Create(CreateArgs),
    /// Exchange a refresh token for a new token set; prints it as JSON (or saves it with --store)
    Refresh(RefreshArgs),
}

/// Where a token set goes instead of stdout.
#[derive(Debug, Args)]
pub(crate) struct SaveArgs {
    /// Save the token set into this token store instead of printing it (secrets masked): a
    /// directory (/abs or ./rel), or redis://…, rediss://…, postgres://…
    #[arg(long, value_name = "STORE", requires = "seller")]
    pub(crate) store: Option<String>,
    /// The seller key the token set is stored under
    #[arg(long, value_name = "SELLER", requires = "store")]
    pub(crate) seller: Option<String>,
}

/// `iop token create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The authorization code from the seller's redirect: `-` reads stdin, `@FILE` a file
    /// [default: $IOP_AUTH_CODE]. A code written here is visible to other users in `ps`
    #[arg(long, value_name = "-|@FILE|CODE")]
    pub(crate) code: Option<SecretArg>,
    /// AliExpress `uuid` (optional; Lazada rejects it)
    #[arg(long)]
    pub(crate) uuid: Option<String>,
    /// Where to save.
    #[command(flatten)]
    pub(crate) save: SaveArgs,
}

/// `iop token refresh`.
#[derive(Debug, Args)]
pub(crate) struct RefreshArgs {
    /// The refresh token: `-` reads stdin, `@FILE` a file [default: --store/--seller's stored
    /// one, else $IOP_REFRESH_TOKEN]. A token written here is visible to other users in `ps`
    #[arg(long, value_name = "-|@FILE|TOKEN")]
    pub(crate) refresh_token: Option<SecretArg>,
    /// Where to save.
    #[command(flatten)]
    pub(crate) save: SaveArgs,
}

/// `iop refresh-due`.
#[derive(Debug, Args)]
pub(crate) struct RefreshDueArgs {
    /// The token store: a directory (/abs or ./rel), memory:, redis://…, rediss://…,
    /// postgres://…
    #[arg(long, value_name = "STORE")]
    pub(crate) store: String,
    /// Refresh tokens whose access token expires within this time (30m, 12h, 3d, …)
    #[arg(long, value_name = "DURATION", default_value = "3d", value_parser = parse_duration)]
    pub(crate) within: Duration,
    /// Refreshes in flight at once
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) concurrency: u16,
}

/// `iop tokens …`.
#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Each stored seller: state (fresh, refresh-due, expired, refresh-dead), access and refresh
    /// token masked, and their expiries
    #[command(after_help = TOKENS_LIST_HELP)]
    List(TokensListArgs),
    /// Forget a seller's stored token set (a seller who left, or a corrupted entry)
    Remove(TokensRemoveArgs),
}

const TOKENS_LIST_HELP: &str = r#"States: fresh (the access token outlives --within),
refresh-due (it expires within --within: `iop refresh-due` refreshes it), expired (the access
token has expired, the refresh token still works), refresh-dead (no refresh possible: the
seller must authorize the app again).
A directory store's seller whose file holds a save damaged on disk (a completed save that fails
its checksum; when it was the latest, the token set before it is what is read) is marked
DAMAGED and counted as damaged.
Exit status 1 when some stored entry cannot be read (it is listed as unreadable) or is damaged.

--json prints {"store", "within_seconds", "damaged" (how many), "sellers": [{"seller", "state",
"damaged", "access_token", "access_expires_at_ms", "access_expires", "refresh_token",
"refresh_expires_at_ms", "refresh_expires", "seller_id", "user_id", "account", "country"}]}, the
tokens masked; an unreadable entry is {"seller", "state": "unreadable", "error"}."#;

/// `iop tokens list`.
#[derive(Debug, Args)]
pub(crate) struct TokensListArgs {
    /// The token store: a directory (/abs or ./rel), memory:, redis://…, rediss://…,
    /// postgres://…
    #[arg(long, value_name = "STORE")]
    pub(crate) store: String,
    /// An access token expiring within this time is refresh-due (30m, 12h, 3d, …)
    #[arg(long, value_name = "DURATION", default_value = "3d", value_parser = parse_duration)]
    pub(crate) within: Duration,
    /// Print JSON instead of a table (secrets masked likewise)
    #[arg(long)]
    pub(crate) json: bool,
}

/// `iop tokens remove`.
#[derive(Debug, Args)]
pub(crate) struct TokensRemoveArgs {
    /// The seller key whose token set is removed
    #[arg(value_name = "SELLER")]
    pub(crate) seller: String,
    /// The token store: a directory (/abs or ./rel), redis://…, rediss://…, postgres://…
    #[arg(long, value_name = "STORE")]
    pub(crate) store: String,
}

/// `iop sign …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SignCommand {
    /// Show how a call is signed: URL, style, string-to-sign (secrets redacted), likely mistakes
    Explain(ExplainArgs),
}

/// Signing methods on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SignMethodArg {
    /// HMAC-SHA256 (every API)
    Sha256,
    /// Legacy MD5 (TOP `/sync` APIs only)
    Md5,
}

impl From<SignMethodArg> for iop_core::SignMethod {
    fn from(value: SignMethodArg) -> Self {
        match value {
            SignMethodArg::Sha256 => Self::Sha256,
            SignMethodArg::Md5 => Self::Md5,
        }
    }
}

/// `iop sign explain`.
#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// API name: a path (`/auth/token/refresh`) or a dotted name (`aliexpress.solution.product.list.get`)
    pub(crate) api: String,
    /// A business parameter, KEY=VALUE (repeat); KEY=@- reads the value from stdin, KEY=@FILE
    /// from a file (use these for secrets: `ps` shows the command line), KEY=@@… is a value
    /// starting with @
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub(crate) params: Vec<(String, String)>,
    /// Include an access token (read from stdin) as the call would; it is shown redacted
    #[arg(long, conflicts_with = "access_token_file")]
    pub(crate) access_token_stdin: bool,
    /// Include an access token read from this file (first line) as the call would
    #[arg(long, value_name = "PATH")]
    pub(crate) access_token_file: Option<PathBuf>,
    /// Signing method
    #[arg(long, value_enum, default_value = "sha256")]
    pub(crate) sign_method: SignMethodArg,
    /// The timestamp (epoch ms) to sign with, e.g. the one of a rejected request [default: now]
    #[arg(long, value_name = "MS")]
    pub(crate) timestamp: Option<i64>,
}

/// `iop call`.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// API name: a path (`/seller/get`) or a dotted name (`aliexpress.solution.product.list.get`)
    pub(crate) api: String,
    /// A business parameter, KEY=VALUE (repeat); KEY=@- reads the value from stdin, KEY=@FILE
    /// from a file (use these for secrets: `ps` shows the command line), KEY=@@… is a value
    /// starting with @
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub(crate) params: Vec<(String, String)>,
    /// Call for this seller: its access token comes from --store, refreshed first when due,
    /// and refreshed once more (the call retried) if the gateway refuses it
    #[arg(
        long,
        value_name = "SELLER",
        requires = "store",
        conflicts_with_all = ["access_token_stdin", "access_token_file"]
    )]
    pub(crate) seller: Option<String>,
    /// The token store of --seller: a directory (/abs or ./rel), redis://…, rediss://…,
    /// postgres://…
    #[arg(long, value_name = "STORE", requires = "seller")]
    pub(crate) store: Option<String>,
    /// Read the access token from stdin
    #[arg(long, conflicts_with = "access_token_file")]
    pub(crate) access_token_stdin: bool,
    /// Read the access token from this file (first line)
    #[arg(long, value_name = "PATH")]
    pub(crate) access_token_file: Option<PathBuf>,
    /// Send the parameters in the query string (GET) instead of a form body (POST)
    #[arg(long)]
    pub(crate) get: bool,
    /// TOP's `simplify=true`
    #[arg(long)]
    pub(crate) simplify: bool,
}

/// `iop doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Also report each stored token's remaining life (a directory (/abs or ./rel), redis://…,
    /// rediss://…, postgres://…)
    #[arg(long, value_name = "STORE")]
    pub(crate) store: Option<String>,
}

/// `iop demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Use the in-process emulator even when IOP_APP_KEY / IOP_APP_SECRET are set
    #[arg(long)]
    pub(crate) emulator: bool,
    /// The seller id of the demo (emulator), or the key tokens are saved under (real gateway)
    #[arg(long, value_name = "SELLER", default_value = "demo-seller")]
    pub(crate) seller: String,
    /// Real gateway: save the tokens it obtains in this store, a directory or a URL (without
    /// it, steps that would replace your tokens are skipped)
    #[arg(long, value_name = "STORE")]
    pub(crate) store: Option<String>,
}

/// Parses `KEY=VALUE`; the value may be empty and may contain `=`.
pub(crate) fn parse_param(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((key, _)) if key.trim().is_empty() => {
            Err(format!("expected KEY=VALUE, found an empty key in `{arg}`"))
        }
        Some((key, value)) => Ok((key.to_owned(), value.to_owned())),
        None => Err(format!("expected KEY=VALUE, found no `=` in `{arg}`")),
    }
}

/// Parses a duration like `30m`, `12h`, `3d`, `1d 12h`, `90s`.
pub(crate) fn parse_duration(arg: &str) -> Result<Duration, String> {
    humantime::parse_duration(arg)
        .map_err(|e| format!("expected a duration like 30m, 12h or 3d: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_split_at_the_first_equals_sign() {
        assert_eq!(parse_param("a=b=c"), Ok(("a".to_owned(), "b=c".to_owned())));
        assert_eq!(parse_param("a="), Ok(("a".to_owned(), String::new())));
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=x").is_err());
    }

    #[test]
    fn durations_read_like_humans_write_them() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(3 * 86400)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

/// A secret given on the command line (or `-` for stdin): its Debug is redacted, so the parsed
/// arguments can be printed without showing it.
#[derive(Clone)]
pub(crate) struct SecretArg(String);

impl SecretArg {
    /// The value as given (`-` means: read stdin).
    pub(crate) fn as_given(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}
