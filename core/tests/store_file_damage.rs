//! A FileStore slot damaged on disk after its save completed is logged at warning level with the
//! key (never a token) and reported by `FileStore::damaged`; a write cut off by a crash is not.
//! A test binary of its own: it installs a capturing logger for the whole process.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Mutex;

use common::store_contract::{nick, token};
use iop_core::{FileStore, TokenStore};

struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

/// The warnings logged since the last call that name `key`.
fn warnings_about(key: &str) -> Vec<String> {
    let mut lines = CAPTURE.0.lock().unwrap();
    let found = lines
        .iter()
        .filter(|(level, text)| *level == log::Level::Warn && text.contains(&format!("{key:?}")))
        .map(|(_, text)| text.clone())
        .collect();
    lines.clear();
    found
}

/// Flips one bit of the first `needle` in `bytes[range]` (a letter stays a letter: the JSON
/// stays whole).
fn flip_bit_in(bytes: &mut [u8], range: std::ops::Range<usize>, needle: &[u8]) {
    let at = bytes[range.clone()]
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
        + range.start;
    bytes[at] ^= 0x02;
}

#[test]
fn a_damaged_slot_is_reported_and_a_torn_write_is_not() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let path = store.path_of("k").unwrap();
    let v1 = store.save("k", &token(1), None).unwrap();
    let v2 = store.save("k", &token(2), Some(v1)).unwrap();
    let v3 = store.save("k", &token(3), Some(v2)).unwrap();
    // 1 and 3 in the first slot (3 current), 2 in the second.
    let good = std::fs::read(&path).unwrap();
    assert!(!store.damaged("k").unwrap());
    assert_eq!(store.load("k").unwrap().unwrap().version, v3);
    assert!(warnings_about("k").is_empty());

    // One flipped bit in the completed latest save: the save before it is read, and said.
    let mut damaged = good.clone();
    flip_bit_in(&mut damaged, 64..4096, b"access-3");
    std::fs::write(&path, &damaged).unwrap();
    let back = store.load("k").unwrap().unwrap();
    assert_eq!((nick(&back), back.version), (2, v2));
    let warnings = warnings_about("k");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("latest save fails its checksum"),
        "{warnings:?}"
    );
    assert!(
        warnings[0].contains(&path.display().to_string()),
        "{warnings:?}"
    );
    for secret in ["access-2", "refresh-2", "ccess-3", "refresh-3"] {
        assert!(!warnings[0].contains(secret), "{warnings:?}");
    }
    assert!(store.damaged("k").unwrap());
    // Once per damaged save, not on every load.
    store.load("k").unwrap();
    assert!(warnings_about("k").is_empty());

    // A write cut off by a crash (its header written, the rest not): expected, silent.
    let mut torn = good.clone();
    for b in &mut torn[100..4096] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &torn).unwrap();
    assert_eq!(nick(&store.load("k").unwrap().unwrap()), 2);
    assert!(warnings_about("k").is_empty());
    assert!(!store.damaged("k").unwrap());
    // Only the header written (a slot of zeros after it): silent too.
    let mut header_only = good.clone();
    header_only[64..4096].fill(0);
    std::fs::write(&path, &header_only).unwrap();
    assert_eq!(nick(&store.load("k").unwrap().unwrap()), 2);
    assert!(warnings_about("k").is_empty());

    // The save before the current one damaged: the current record is read, the damage said.
    let mut older = good.clone();
    flip_bit_in(&mut older, 4096 + 64..8192, b"access-2");
    std::fs::write(&path, &older).unwrap();
    assert_eq!(nick(&store.load("k").unwrap().unwrap()), 3);
    let warnings = warnings_about("k");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("save before the current one"),
        "{warnings:?}"
    );
    assert!(store.damaged("k").unwrap());
    // A save replaces the damaged slot: nothing to report any more.
    store.save("k", &token(4), Some(v3)).unwrap();
    assert!(!store.damaged("k").unwrap());
    assert_eq!(nick(&store.load("k").unwrap().unwrap()), 4);
    assert!(warnings_about("k").is_empty());
    // A key without a file is not damaged.
    assert!(!store.damaged("nobody").unwrap());
}
