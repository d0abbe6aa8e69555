//! `iop token create` and `iop token refresh`.

use std::io::Write;
use std::sync::Arc;

use iop_core::store::StoreLocation;
use iop_core::{AuthCode, Client, FileStore, RefreshToken, TokenManager, TokenSet, TokenStore};

use crate::cli::{AppArgs, CreateArgs, RefreshArgs, SaveArgs};
use crate::credentials::{App, ENV_AUTH_CODE, ENV_REFRESH_TOKEN, Stdin, env_secret};
use crate::failure::{Failure, Outcome, ok};
use crate::show;

/// `iop token create --code C [--uuid U] [--store DIR --seller S]`.
pub(crate) fn create(app_args: &AppArgs, args: &CreateArgs) -> Outcome {
    let mut stdin = Stdin::default();
    let app = App::resolve(app_args, &mut stdin)?;
    let code = AuthCode::new(match &args.code {
        Some(given) => stdin.secret(given.as_given(), "authorization code", "--code")?,
        None => env_secret(ENV_AUTH_CODE).ok_or_else(|| {
            Failure::Usage(format!(
                "an authorization code is required: --code - (stdin), --code @FILE or \
                 ${ENV_AUTH_CODE}"
            ))
        })?,
    });
    let client = app.client()?;
    // Open the store first: a bad directory must not cost the single-use code.
    let target = Target::open(&client, &args.save)?;
    let token = client
        .create_token(&code, args.uuid.as_deref())
        .map_err(|e| Failure::from_core("token create failed", &e))?;
    target.emit(&client, &token, "created")
}

/// `iop token refresh --refresh-token R | --store DIR --seller S`.
pub(crate) fn refresh(app_args: &AppArgs, args: &RefreshArgs) -> Outcome {
    let mut stdin = Stdin::default();
    let app = App::resolve(app_args, &mut stdin)?;
    let given = match &args.refresh_token {
        Some(value) => Some(stdin.secret(value.as_given(), "refresh token", "--refresh-token")?),
        // The stored one comes first; the environment only stands in for the flag.
        None if args.save.store.is_none() => Some(env_secret(ENV_REFRESH_TOKEN).ok_or_else(|| {
            Failure::Usage(format!(
                "a refresh token is required: --refresh-token - (stdin), --refresh-token @FILE, \
                 ${ENV_REFRESH_TOKEN}, or --store DIR --seller S"
            ))
        })?),
        None => None,
    }
    .map(RefreshToken::new);
    let client = app.client()?;
    let target = Target::open(&client, &args.save)?;
    let refresh_token = match (given, &target) {
        (Some(token), _) => token,
        (
            None,
            Target::Store {
                manager,
                dir,
                seller,
            },
        ) => stored_refresh_token(manager, dir, seller)?,
        (None, Target::Stdout) => {
            return Err(Failure::Usage(
                "give --refresh-token TOKEN (or -), or --store DIR --seller S".to_owned(),
            ));
        }
    };
    let token = client
        .refresh_token(&refresh_token)
        .map_err(|e| Failure::from_core("token refresh failed", &e))?;
    target.emit(&client, &token, "refreshed")
}

fn stored_refresh_token(
    manager: &TokenManager,
    dir: &str,
    seller: &str,
) -> Result<RefreshToken, Failure> {
    let stored = manager
        .get(seller)
        .map_err(|e| Failure::from_core("cannot read the token store", &e))?
        .ok_or_else(|| {
            Failure::Failed(format!(
                "no token of seller `{}` in {}",
                show::escape_controls(seller),
                store_name(dir)
            ))
        })?;
    stored.refresh_token.ok_or_else(|| {
        Failure::Reauthorize(format!(
            "the stored token of seller `{}` has no refresh token: the seller must authorize \
             the app again",
            show::escape_controls(seller)
        ))
    })
}

/// Where a token set goes: stdout as JSON, or a file store.
pub(crate) enum Target {
    /// Print the token set as JSON (the user asked for the secrets).
    Stdout,
    /// Save into a file store and print a masked summary.
    Store {
        /// The manager over the store.
        manager: Box<TokenManager>,
        /// The store string.
        dir: String,
        /// The seller key.
        seller: String,
    },
}

impl Target {
    /// Opens the store of `save`, if any.
    pub(crate) fn open(client: &Arc<Client>, save: &SaveArgs) -> Result<Self, Failure> {
        match (&save.store, &save.seller) {
            (Some(dir), Some(seller)) => Ok(Self::Store {
                manager: Box::new(TokenManager::new(
                    Arc::clone(client),
                    open_store(dir, true)?,
                )),
                dir: dir.clone(),
                seller: seller.clone(),
            }),
            _ => Ok(Self::Stdout),
        }
    }

    /// Prints or saves `token`.
    pub(crate) fn emit(&self, client: &Client, token: &TokenSet, verb: &str) -> Outcome {
        let mut out = std::io::stdout().lock();
        match self {
            Self::Stdout => {
                let json = serde_json::to_string_pretty(token)
                    .map_err(|e| Failure::Failed(format!("cannot serialize the token set: {e}")))?;
                writeln!(out, "{}", show::json_for_terminal(&json))?;
            }
            Self::Store {
                manager,
                dir,
                seller,
            } => {
                manager.put(seller, token).map_err(|e| {
                    Failure::from_core(
                        &format!("the token was {verb} but could not be saved (run again)"),
                        &e,
                    )
                })?;
                let line = format!(
                    "{verb} the token of seller `{seller}`, saved in {}",
                    store_name(dir)
                );
                writeln!(out, "{}", show::escape_controls(&line))?;
                for line in show::token_lines(token, client.clock().now()) {
                    writeln!(out, "  {line}")?;
                }
            }
        }
        ok()
    }
}

/// Opens the store named by `store` (core's one parser decides what it is: `memory:`, a
/// directory, `redis://…`, `postgres://…`); with `create` false, a directory that does not exist
/// is an error (nothing is written unless asked).
pub(crate) fn open_store(store: &str, create: bool) -> Result<Arc<dyn TokenStore>, Failure> {
    open_store_and_files(store, create).map(|(store, _)| store)
}

/// A store, and the [`FileStore`] itself when it is one.
pub(crate) type StoreAndFiles = (Arc<dyn TokenStore>, Option<Arc<FileStore>>);

/// [`open_store`], and the [`FileStore`] itself when `store` names a directory (for what only a
/// file store can tell, such as a damaged slot).
pub(crate) fn open_store_and_files(store: &str, create: bool) -> Result<StoreAndFiles, Failure> {
    let location = iop_core::store::parse(store)
        .map_err(|e| Failure::from_core("cannot open token store", &e))?;
    let cannot_open = |e: iop_core::Error| {
        Failure::from_core(
            &format!("cannot open token store {}", store_name(store)),
            &e,
        )
    };
    if let StoreLocation::Directory(dir) = &location {
        if !create && !dir.is_dir() {
            return Err(Failure::Failed(format!(
                "token store {} does not exist",
                store_name(store)
            )));
        }
        let files = Arc::new(FileStore::open(dir).map_err(cannot_open)?);
        return Ok((files.clone(), Some(files)));
    }
    location
        .open()
        .map(|store| (store, None))
        .map_err(cannot_open)
}

/// `--store` as messages show it: [`iop_core::redact::url`] (no user information, no password,
/// no query value but the store's options).
pub(crate) fn store_name(store: &str) -> String {
    iop_core::redact::url(store)
}

#[cfg(test)]
mod store_name_tests {
    use super::store_name;

    #[test]
    fn store_names_hide_passwords() {
        for (given, shown) in [
            ("/var/lib/iop", "/var/lib/iop"),
            ("memory:", "memory:"),
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:pw@h:1/0", "redis://***@h:1/0"),
            ("postgres://u:p@ss@h/db", "postgres://***@h/db"),
            ("postgres://u:p/ss@h/db", "postgres://***@h/db"),
            ("postgresql://u@h/db", "postgresql://***@h/db"),
            (
                "postgres://h/db?sslmode=require&password=pw",
                "postgres://h/db?sslmode=require&password=***",
            ),
            ("redis://:pw@[::1/0", "redis://***@[::1/0"),
        ] {
            assert_eq!(store_name(given), shown);
        }
    }
}
