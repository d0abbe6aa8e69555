//! Text for people: terminal-safe text, masked secrets, instants and spans of time, token
//! summaries.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use iop_core::TokenSet;

/// `text` safe to print on a terminal: every control character (C0, newline, carriage return
/// and tab included, DEL, C1) and every bidirectional-text control is written as an escape
/// (`\n`, `\r`, `\t`, `\x1b`, `\u{202e}`), so that a seller key or a value read from a token
/// store cannot change the terminal's title or colours, move the cursor, overwrite or hide
/// lines, or ring the bell. The one function every text output of the CLI passes keys and
/// stored values through (JSON output is escaped by serde). Other text is unchanged.
pub(crate) fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if escaped(c) && u32::from(c) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if escaped(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether [`escape_controls`] escapes `c`: a control character or a bidirectional-text
/// control.
fn escaped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// JSON text (from `serde_json`) safe to print on a terminal: the characters
/// [`escape_controls`] escapes, written as JSON escapes (`\u009b`). serde escapes C0 controls
/// in strings but writes DEL, C1 controls (U+009B is a control sequence introducer) and
/// bidirectional controls raw; outside strings its text holds no control but the line feeds of
/// pretty printing, which are kept. The same JSON value, other bytes.
pub(crate) fn json_for_terminal(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| c != '\n' && escaped(c)) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if c != '\n' && escaped(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A secret as every part of iop shows it: `…` and its last 4 characters
/// ([`iop_core::secret::mask`]; the first ones are the same for all of a platform's tokens),
/// terminal-safe.
pub(crate) fn mask(secret: &str) -> String {
    escape_controls(&iop_core::secret::mask(secret)).into_owned()
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
    .filter_map(|(name, value)| {
        value
            .as_ref()
            .map(|v| format!("{name} {}", escape_controls(v)))
    })
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
    fn control_characters_are_escaped_and_other_text_kept() {
        assert!(matches!(
            escape_controls("seller-1 ü 日本"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("a\x1b]0;title\x07b\x1b[31mc\r\nd\te\x7f\u{9b}f\u{202e}g"),
            "a\\x1b]0;title\\x07b\\x1b[31mc\\r\\nd\\te\\x7f\\x9bf\\u{202e}g"
        );
        assert_eq!(mask("abcdefghijkl\x1b[2J"), "…\\x1b[2J");
        let value = serde_json::json!({"k": "a\x1b\u{9b}\u{7f}\u{202e}b\n"});
        let json = serde_json::to_string_pretty(&value).unwrap();
        let safe = json_for_terminal(&json);
        assert!(!safe.chars().any(|c| c != '\n' && escaped(c)), "{safe}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
            value
        );
    }

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
