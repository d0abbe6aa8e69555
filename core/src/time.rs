//! Epoch milliseconds ↔ [`SystemTime`]: the one conversion of the SDK (token expiry instants,
//! request timestamps, stored receive times, and the bindings' and emulator's clocks).
//!
//! **The rule**: an instant is the number of whole milliseconds since 1970-01-01T00:00:00Z,
//! rounded toward negative infinity; instants before 1970 are negative (1 µs before 1970 is
//! `-1`), and values beyond `i64` saturate at `i64::MIN`/`i64::MAX`. The way back is exact:
//! `from_epoch_ms(epoch_ms(t)) <= t`, and `epoch_ms(from_epoch_ms(ms)?) == ms`.
//!
//! Where a negative value makes no sense (the `timestamp` of a request), the caller refuses it
//! with [`request_timestamp_ms`], never by a different conversion.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Milliseconds since the Unix epoch of `t` (see the module's rule: negative before 1970,
/// rounded down, saturating).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use iop_core::time::epoch_ms;
/// assert_eq!(epoch_ms(UNIX_EPOCH + Duration::from_micros(1_999)), 1);
/// assert_eq!(epoch_ms(UNIX_EPOCH - Duration::from_micros(1)), -1);
/// assert_eq!(epoch_ms(UNIX_EPOCH - Duration::from_millis(5)), -5);
/// ```
pub fn epoch_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            // Round toward negative infinity: a partial millisecond counts as a whole one.
            let ms = before.as_millis() + u128::from(before.subsec_nanos() % 1_000_000 != 0);
            i64::try_from(ms).map_or(i64::MIN, |ms| -ms)
        }
    }
}

/// The instant `ms` milliseconds after (negative: before) the Unix epoch, or `None` when the
/// platform's `SystemTime` cannot represent it.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use iop_core::time::from_epoch_ms;
/// assert_eq!(from_epoch_ms(-5), UNIX_EPOCH.checked_sub(Duration::from_millis(5)));
/// assert_eq!(from_epoch_ms(1_500), Some(UNIX_EPOCH + Duration::from_millis(1_500)));
/// ```
pub fn from_epoch_ms(ms: i64) -> Option<SystemTime> {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

/// The `timestamp` parameter of a request stamped at `now`: [`epoch_ms`], refused when before
/// 1970 (a broken clock; the gateway would reject it anyway).
pub fn request_timestamp_ms(now: SystemTime) -> Result<i64> {
    let ms = epoch_ms(now);
    if ms < 0 {
        return Err(Error::InvalidRequest("the clock is before 1970".to_owned()));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_edges() {
        for ms in [
            0,
            1,
            -1,
            1_767_225_600_123,
            -86_400_000,
            i64::from(i32::MAX),
        ] {
            let t = from_epoch_ms(ms).unwrap();
            assert_eq!(epoch_ms(t), ms);
        }
        let t = UNIX_EPOCH - Duration::from_nanos(1);
        assert_eq!(epoch_ms(t), -1);
        assert!(from_epoch_ms(epoch_ms(t)).unwrap() <= t);
        let t = UNIX_EPOCH + Duration::from_nanos(999_999);
        assert_eq!(epoch_ms(t), 0);
        assert!(request_timestamp_ms(UNIX_EPOCH - Duration::from_secs(1)).is_err());
        assert_eq!(request_timestamp_ms(UNIX_EPOCH).unwrap(), 0);
    }
}
