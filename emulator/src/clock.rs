//! The emulator's virtual clock: real time since start, plus a start instant, plus every
//! [`VirtualClock::advance`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A clock that runs with real time from a chosen start and can be moved forward.
#[derive(Debug)]
pub struct VirtualClock {
    start: SystemTime,
    started: Instant,
    offset_ms: AtomicU64,
}

impl VirtualClock {
    /// A clock reading `start` now.
    pub fn new(start: SystemTime) -> Self {
        Self {
            start,
            started: Instant::now(),
            offset_ms: AtomicU64::new(0),
        }
    }

    /// Moves the clock forward by `by` (millisecond precision).
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                Some(o.saturating_add(ms))
            });
    }

    /// The virtual now.
    pub fn now(&self) -> SystemTime {
        let offset = Duration::from_millis(self.offset_ms.load(Ordering::SeqCst));
        self.start + self.started.elapsed() + offset
    }
}

impl iop_core::Clock for VirtualClock {
    fn now(&self) -> SystemTime {
        VirtualClock::now(self)
    }
}

/// Milliseconds since the Unix epoch: core's one rule (negative before 1970).
pub(crate) use iop_core::time::epoch_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let c = VirtualClock::new(start);
        let before = c.now();
        assert!(before >= start);
        c.advance(Duration::from_secs(86_400));
        let after = c.now();
        let moved = after.duration_since(before).unwrap();
        assert!(moved >= Duration::from_secs(86_400));
        assert!(moved < Duration::from_secs(86_400 + 60));
        assert_eq!(
            epoch_ms(SystemTime::UNIX_EPOCH + Duration::from_millis(1234)),
            1234
        );
    }
}
