//! Markers of handled push messages ([`super::TokenStore::mark_seen`]): the in-memory kind,
//! used by [`super::MemoryStore`], by [`super::ExternalStore`] over a backend that keeps none,
//! and by the trait's default (one table for the whole process).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use super::{lock_ignoring_poison, store_error};
use crate::error::Result;

/// The longest marker a store accepts, in bytes.
pub const MAX_MARKER_BYTES: usize = 256;

/// The longest a marker is kept: a day. A longer `ttl` is cut to this.
pub const MAX_MARKER_TTL: Duration = Duration::from_secs(86_400);

/// Checks a marker: not empty, at most [`MAX_MARKER_BYTES`], no control character.
pub(crate) fn check_marker(marker: &str) -> Result<()> {
    if marker.is_empty() || marker.len() > MAX_MARKER_BYTES || marker.chars().any(char::is_control)
    {
        return Err(store_error(
            "",
            format!(
                "a push marker is 1 to {MAX_MARKER_BYTES} bytes of text without control \
                 characters"
            ),
        ));
    }
    Ok(())
}

/// `ttl`, at least a millisecond and at most [`MAX_MARKER_TTL`].
pub(crate) fn bounded_ttl(ttl: Duration) -> Duration {
    ttl.clamp(Duration::from_millis(1), MAX_MARKER_TTL)
}

/// Markers with their expiry, in this process's memory.
#[derive(Default)]
pub(crate) struct SeenMarkers {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    expiry: HashMap<String, Instant>,
    /// The next size at which expired markers are dropped.
    sweep_at: usize,
}

/// Expired markers are dropped once the table holds this many.
const FIRST_SWEEP: usize = 1024;

impl SeenMarkers {
    /// `true` when `marker` was not recorded (or its record expired): it is recorded now for
    /// `ttl`. `false` while an earlier record lives.
    pub(crate) fn mark(&self, marker: &str, ttl: Duration) -> Result<bool> {
        check_marker(marker)?;
        let now = Instant::now();
        let until = now
            .checked_add(bounded_ttl(ttl))
            .unwrap_or(now + MAX_MARKER_TTL);
        let mut table = lock_ignoring_poison(&self.table);
        if let Some(expiry) = table.expiry.get(marker)
            && *expiry > now
        {
            return Ok(false);
        }
        table.expiry.insert(marker.to_owned(), until);
        if table.expiry.len() >= table.sweep_at.max(FIRST_SWEEP) {
            table.expiry.retain(|_, expiry| *expiry > now);
            // Amortized: the next sweep once the live markers have doubled.
            table.sweep_at = table.expiry.len().saturating_mul(2);
        }
        Ok(true)
    }
}

/// The markers of stores that keep none of their own (the default of
/// [`super::TokenStore::mark_seen`]): one table for the process.
pub(crate) static PROCESS_MARKERS: LazyLock<SeenMarkers> = LazyLock::new(SeenMarkers::default);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_is_new_once_until_it_expires() {
        let seen = SeenMarkers::default();
        assert!(seen.mark("a", Duration::from_millis(30)).unwrap());
        assert!(!seen.mark("a", Duration::from_millis(30)).unwrap());
        assert!(seen.mark("b", Duration::from_secs(60)).unwrap());
        std::thread::sleep(Duration::from_millis(40));
        assert!(seen.mark("a", Duration::from_secs(60)).unwrap());
        assert!(!seen.mark("b", Duration::from_secs(60)).unwrap());
        for bad in ["", "a\nb", &"x".repeat(MAX_MARKER_BYTES + 1)] {
            assert!(seen.mark(bad, Duration::from_secs(1)).is_err());
        }
    }

    #[test]
    fn expired_markers_are_swept() {
        let seen = SeenMarkers::default();
        for i in 0..FIRST_SWEEP - 1 {
            assert!(
                seen.mark(&format!("m{i}"), Duration::from_millis(1))
                    .unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
        assert!(seen.mark("last", Duration::from_secs(60)).unwrap());
        assert_eq!(lock_ignoring_poison(&seen.table).expiry.len(), 1);
    }
}
