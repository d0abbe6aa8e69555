//! Text for people: masked secrets, instants and spans of time, token summaries.

use std::time::{Duration, SystemTime};

use iop_core::TokenSet;

/// A secret as every part of iop shows it: `…` and its last 4 characters
/// ([`iop_core::secret::mask`]; the first ones are the same for all of a platform's tokens).
pub(crate) fn mask(secret: &str) -> String {
    iop_core::secret::mask(secret)
}

/// A span of time in its two largest units: `30d`, `2d 3h`, `5h 10m`, `45s`.
pub(crate) fn span(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// `at` relative to `now`: `in 30d` or `3h ago`.
pub(crate) fn relative(at: SystemTime, now: SystemTime) -> String {
    match at.duration_since(now) {
        Ok(ahead) => format!("in {}", span(ahead)),
        Err(e) => format!("{} ago", span(e.duration())),
    }
}

/// `at` as RFC 3339 UTC with its distance from `now`: `2026-12-25T18:05:00Z (in 30d)`.
pub(crate) fn instant(at: SystemTime, now: SystemTime) -> String {
    format!("{} ({})", rfc3339(at), relative(at, now))
}

/// `at` as RFC 3339 UTC, or a note when it is outside the years 1970–9999 (where humantime's
/// formatter panics): a token set's expiry is whatever the gateway or the store file says.
fn rfc3339(at: SystemTime) -> String {
    /// The first second of the year 10000.
    const YEAR_10000: u64 = 253_402_300_800;
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) if since.as_secs() < YEAR_10000 => {
            humantime::format_rfc3339_seconds(at).to_string()
        }
        Ok(_) => "after the year 9999".to_owned(),
        Err(_) => "before 1970".to_owned(),
    }
}

/// Lines describing a token set with every secret masked.
pub(crate) fn token_lines(token: &TokenSet, now: SystemTime) -> Vec<String> {
    let access = token
        .access_token
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), |t| mask(t.secret()));
    let refresh = token
        .refresh_token
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), |t| mask(t.secret()));
    let access_expiry = token
        .expires_at()
        .map_or_else(|| "unknown".to_owned(), |at| instant(at, now));
    let refresh_expiry = match token.refresh_expires_at() {
        Some(at) => instant(at, now),
        None if token.refresh_expires_in == Some(0) => "cannot be refreshed".to_owned(),
        None => "unknown".to_owned(),
    };
    let mut lines = vec![
        format!("access_token   {access:<8} expires {access_expiry}"),
        format!("refresh_token  {refresh:<8} expires {refresh_expiry}"),
    ];
    let ids: Vec<String> = [
        ("seller_id", &token.seller_id),
        ("user_id", &token.user_id),
        ("account", &token.account),
        ("country", &token.country),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name} {v}")))
    .collect();
    if !ids.is_empty() {
        lines.push(ids.join(", "));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_show_the_last_four_characters() {
        // AliExpress tokens all start with 5000: the end tells two of them apart.
        assert_eq!(mask("50000501a2b3c4d5e6f7"), "…e6f7");
        assert_ne!(mask("50000501a2b3c4d5e6f7"), mask("50000501a2b3c4d5x9y8"));
        assert_eq!(mask("short"), "…");
        assert_eq!(mask("ÄÖÜßäöüxyzab"), "…yzab");
    }

    #[test]
    fn spans_use_two_units() {
        assert_eq!(span(Duration::from_secs(45)), "45s");
        assert_eq!(span(Duration::from_secs(600)), "10m");
        assert_eq!(span(Duration::from_secs(3 * 3600 + 600)), "3h 10m");
        assert_eq!(span(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(
            span(Duration::from_secs(2 * 86_400 + 3 * 3600 + 59)),
            "2d 3h"
        );
    }

    #[test]
    fn expiries_outside_what_rfc3339_holds_are_shown_not_panicked_on() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        for (expire_time, shown) in [
            (-5_000, "before 1970"),
            (i64::MAX, "after the year 9999"),
            (253_402_300_800_000, "after the year 9999"),
            (253_402_300_799_000, "9999-12-31T23:59:59Z"),
        ] {
            let token: TokenSet = serde_json::from_value(serde_json::json!({
                "access_token": "a", "expire_time": expire_time,
                "refresh_token_valid_time": expire_time,
            }))
            .unwrap();
            let lines = token_lines(&token, now);
            assert!(lines[0].contains(shown), "{lines:?}");
            assert!(lines[1].contains(shown), "{lines:?}");
        }
    }

    #[test]
    fn relative_times_say_which_side_of_now() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(relative(now + Duration::from_secs(7200), now), "in 2h");
        assert_eq!(relative(now - Duration::from_secs(60), now), "1m ago");
    }
}
