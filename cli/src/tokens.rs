//! `iop tokens list` and `iop tokens remove`: what a token store holds, read and pruned without
//! the app's credentials.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use iop_core::{TokenSet, TokenStore};
use serde_json::{Value, json};

use crate::cli::{TokensListArgs, TokensRemoveArgs};
use crate::failure::{EXIT_FAILED, Failure, Outcome, ok};
use crate::show;
use crate::token_cmd::{open_store, open_store_and_files, store_name};

/// Where a stored token set stands at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// The access token outlives the window.
    Fresh,
    /// The access token expires within the window (or its expiry is unknown): `refresh-due`
    /// refreshes it.
    RefreshDue,
    /// The access token has expired; the refresh token still works.
    Expired,
    /// No refresh is possible (refresh token absent, not refreshable or expired): the seller
    /// must authorize the app again.
    RefreshDead,
}

impl State {
    /// The state of `token` at `now` with the refresh window `within`.
    pub(crate) fn of(token: &TokenSet, now: SystemTime, within: Duration) -> Self {
        if !token.can_refresh(now) {
            Self::RefreshDead
        } else if token.access_token.is_none() || token.expires_at().is_some_and(|at| at <= now) {
            Self::Expired
        } else if token.needs_refresh(now, within) {
            Self::RefreshDue
        } else {
            Self::Fresh
        }
    }

    /// The state's name on the command line and in JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Fresh => "fresh",
            Self::RefreshDue => "refresh-due",
            Self::Expired => "expired",
            Self::RefreshDead => "refresh-dead",
        }
    }
}

/// One listed seller: its state and masked summary, or why it could not be read.
struct Entry {
    seller: String,
    outcome: Result<(State, TokenSet), String>,
    /// A FileStore slot of this seller is damaged on disk (a completed save that fails its
    /// checksum): when it was the latest save, an older token set is what is read.
    damaged: bool,
}

/// `iop tokens list --store S [--within D] [--json]`.
pub(crate) fn list(args: &TokensListArgs) -> Outcome {
    let (store, files) = open_store_and_files(&args.store, false)?;
    let name = store_name(&args.store);
    let mut keys = store
        .keys()
        .map_err(|e| Failure::from_core(&format!("cannot list {name}"), &e))?;
    keys.sort();
    let now = SystemTime::now();
    let entries: Vec<Entry> = keys
        .into_iter()
        .filter_map(|seller| {
            let outcome = match store.load(&seller) {
                Ok(Some(stored)) => Ok((State::of(&stored.token, now, args.within), stored.token)),
                // Removed between the listing and the load.
                Ok(None) => return None,
                Err(e) => Err(e.to_string()),
            };
            let damaged = outcome.is_ok()
                && files
                    .as_ref()
                    .is_some_and(|files| files.damaged(&seller).unwrap_or(false));
            Some(Entry {
                seller,
                outcome,
                damaged,
            })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        let document = json!({
            "store": name,
            "within_seconds": args.within.as_secs(),
            "sellers": entries.iter().map(|e| entry_json(e, now)).collect::<Vec<_>>(),
            "damaged": entries.iter().filter(|e| e.damaged).count(),
        });
        writeln!(out, "{}", show::json_for_terminal(&format!("{document:#}")))?;
    } else {
        for line in text_lines(&name, &entries, now) {
            // Keys, masked values and store errors are escaped in `text_lines`; the store's
            // name comes from the command line.
            writeln!(out, "{}", show::escape_controls(&line))?;
        }
    }
    if entries.iter().any(|e| e.outcome.is_err() || e.damaged) {
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    ok()
}

/// `iop tokens remove SELLER --store S`: under the seller's lock, so that a refresh running
/// elsewhere finishes first.
pub(crate) fn remove(args: &TokensRemoveArgs) -> Outcome {
    let store = open_store(&args.store, false)?;
    let name = store_name(&args.store);
    let seller = show::escape_controls(&args.seller);
    let removed = remove_locked(store.as_ref(), &args.seller).map_err(|e| {
        Failure::from_core(
            &format!("cannot remove the token of seller `{seller}` from {name}"),
            &e,
        )
    })?;
    if !removed {
        return Err(Failure::Failed(format!(
            "no token of seller `{seller}` in {name} (see `iop tokens list --store …`)"
        )));
    }
    writeln!(
        std::io::stdout().lock(),
        "{}",
        show::escape_controls(&format!(
            "removed the token of seller `{seller}` from {name}"
        ))
    )?;
    ok()
}

fn remove_locked(store: &dyn TokenStore, seller: &str) -> iop_core::Result<bool> {
    let _lock = store.lock(seller)?;
    store.remove(seller)
}

/// The table: one line per seller, then a count per state.
fn text_lines(store: &str, entries: &[Entry], now: SystemTime) -> Vec<String> {
    if entries.is_empty() {
        return vec![format!("{store} holds no token")];
    }
    // Keys as the terminal shows them, and the columns sized to that.
    let sellers: Vec<_> = entries
        .iter()
        .map(|e| show::escape_controls(&e.seller))
        .collect();
    let width = sellers
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max("SELLER".len());
    let mut lines = vec![format!(
        "{:<width$}  {:<12}  {:<8}  {:<36}  {:<8}  REFRESH EXPIRES",
        "SELLER", "STATE", "ACCESS", "ACCESS EXPIRES", "REFRESH"
    )];
    let mut counts = [0usize; 5];
    for (entry, seller) in entries.iter().zip(&sellers) {
        match &entry.outcome {
            Ok((state, token)) => {
                counts[*state as usize] += 1;
                lines.push(format!(
                    "{:<width$}  {:<12}  {:<8}  {:<36}  {:<8}  {}{}",
                    seller,
                    state.name(),
                    masked(token.access_token.as_ref().map(|t| t.secret())),
                    expiry(token.expires_at(), now),
                    masked(token.refresh_token.as_ref().map(|t| t.secret())),
                    refresh_expiry(token, now),
                    if entry.damaged {
                        "  DAMAGED: a save fails its checksum (see the log)"
                    } else {
                        ""
                    },
                ));
            }
            Err(message) => {
                counts[4] += 1;
                lines.push(format!(
                    "{:<width$}  {:<12}  {}",
                    seller,
                    "unreadable",
                    show::escape_controls(message)
                ));
            }
        }
    }
    let mut summary = format!(
        "{} seller(s): {} fresh, {} refresh-due, {} expired, {} refresh-dead",
        entries.len(),
        counts[State::Fresh as usize],
        counts[State::RefreshDue as usize],
        counts[State::Expired as usize],
        counts[State::RefreshDead as usize],
    );
    if counts[4] > 0 {
        summary.push_str(&format!(", {} unreadable", counts[4]));
    }
    let damaged = entries.iter().filter(|e| e.damaged).count();
    if damaged > 0 {
        summary.push_str(&format!(", {damaged} damaged"));
    }
    lines.push(summary);
    lines
}

fn masked(secret: Option<&str>) -> String {
    secret.map_or_else(|| "(none)".to_owned(), show::mask)
}

fn expiry(at: Option<SystemTime>, now: SystemTime) -> String {
    at.map_or_else(|| "unknown".to_owned(), |at| show::instant(at, now))
}

fn refresh_expiry(token: &TokenSet, now: SystemTime) -> String {
    match token.refresh_expires_at() {
        Some(at) => show::instant(at, now),
        None if token.refresh_expires_in == Some(0) => "cannot be refreshed".to_owned(),
        None => "unknown".to_owned(),
    }
}

/// One seller in `--json`: secrets masked, expiries in epoch ms and RFC 3339.
fn entry_json(entry: &Entry, now: SystemTime) -> Value {
    match &entry.outcome {
        Ok((state, token)) => json!({
            "seller": entry.seller,
            "state": state.name(),
            "damaged": entry.damaged,
            "access_token": masked(token.access_token.as_ref().map(|t| t.secret())),
            "access_expires_at_ms": token.expires_at_ms(),
            "access_expires": expiry(token.expires_at(), now),
            "refresh_token": masked(token.refresh_token.as_ref().map(|t| t.secret())),
            "refresh_expires_at_ms": token.refresh_expires_at_ms(),
            "refresh_expires": refresh_expiry(token, now),
            "seller_id": token.seller_id,
            "user_id": token.user_id,
            "account": token.account,
            "country": token.country,
        }),
        Err(message) => json!({
            "seller": entry.seller,
            "state": "unreadable",
            "error": message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(access_in: i64, refresh_in: Option<i64>, now: SystemTime) -> TokenSet {
        let now_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let mut value = json!({
            "access_token": "50000access0123456789",
            "refresh_token": "50001refresh0123456789",
            "expire_time": now_ms + access_in * 1000,
        });
        if let Some(r) = refresh_in {
            value["refresh_token_valid_time"] = json!(now_ms + r * 1000);
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn states_follow_the_access_and_refresh_expiries() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let day = 86_400;
        let within = Duration::from_secs(3 * day as u64);
        for (access_in, refresh_in, state) in [
            (10 * day, Some(30 * day), State::Fresh),
            (10 * day, None, State::Fresh),
            (2 * day, Some(30 * day), State::RefreshDue),
            (-60, Some(30 * day), State::Expired),
            (-60, Some(-60), State::RefreshDead),
            (10 * day, Some(-1), State::RefreshDead),
        ] {
            let t = token(access_in, refresh_in, now);
            assert_eq!(
                State::of(&t, now, within),
                state,
                "{access_in} {refresh_in:?}"
            );
        }
        let mut no_refresh = token(10 * day, Some(30 * day), now);
        no_refresh.refresh_token = None;
        assert_eq!(State::of(&no_refresh, now, within), State::RefreshDead);
    }

    #[test]
    fn the_table_masks_secrets_and_counts_states() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let entries = vec![
            Entry {
                seller: "a".to_owned(),
                outcome: Ok((State::Fresh, token(86_400 * 10, Some(86_400 * 30), now))),
                damaged: false,
            },
            Entry {
                seller: "b".to_owned(),
                outcome: Err("corrupted".to_owned()),
                damaged: false,
            },
        ];
        let text = text_lines("memory:", &entries, now).join("\n");
        assert!(!text.contains("50000access0123456789"), "{text}");
        assert!(!text.contains("50001refresh0123456789"), "{text}");
        assert!(text.contains("…6789"), "{text}");
        assert!(text.contains("(in 10d)"), "{text}");
        assert!(
            text.contains("\nb       unreadable    corrupted\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "2 seller(s): 1 fresh, 0 refresh-due, 0 expired, 0 refresh-dead, 1 unreadable"
            ),
            "{text}"
        );
        let json = entry_json(&entries[0], now).to_string();
        assert!(!json.contains("access0123456789"), "{json}");
        assert!(json.contains("\"state\":\"fresh\""), "{json}");
    }
}
