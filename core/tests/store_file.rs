//! FileStore and MemoryStore: versions and compare-and-swap, key ↔ file name mapping, modes,
//! corrupted files, leftover temporary files, per-key locks, and writers killed mid-save.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use iop_core::{AccessToken, Error, FileStore, MemoryStore, RefreshToken, TokenSet, TokenStore};

/// A token set whose `user_nick` carries `n`, so tests can tell saves apart.
fn token(n: u64) -> TokenSet {
    TokenSet {
        access_token: Some(AccessToken::new(format!("access-{n}"))),
        refresh_token: Some(RefreshToken::new(format!("refresh-{n}"))),
        expires_in: Some(2_592_000),
        refresh_expires_in: Some(5_184_000),
        received_at_ms: Some(1_750_000_000_000),
        seller_id: Some("2001".to_owned()),
        user_nick: Some(n.to_string()),
        ..TokenSet::default()
    }
}

fn nick(stored: &iop_core::StoredToken) -> u64 {
    stored.token.user_nick.as_deref().unwrap().parse().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn assert_cas(store: &dyn TokenStore) {
    assert!(store.load("a").unwrap().is_none());
    let v1 = store.save("a", &token(1), None).unwrap();
    // Absent expected but present: conflict.
    let err = store.save("a", &token(2), None).unwrap_err();
    assert!(
        matches!(&err, Error::Store { key, .. } if key == "a"),
        "{err:?}"
    );
    // Wrong version: conflict, nothing written.
    let err = store.save("a", &token(2), Some(v1 + 7)).unwrap_err();
    assert!(
        matches!(&err, Error::Store { key, .. } if key == "a"),
        "{err:?}"
    );
    let loaded = store.load("a").unwrap().unwrap();
    assert_eq!(loaded.version, v1);
    assert_eq!(nick(&loaded), 1);
    assert_eq!(
        loaded.token.access_token.as_ref().unwrap().secret(),
        "access-1"
    );
    assert_eq!(
        loaded.token.refresh_token.as_ref().unwrap().secret(),
        "refresh-1"
    );
    let v2 = store.save("a", &token(2), Some(v1)).unwrap();
    assert_ne!(v1, v2);
    let loaded = store.load("a").unwrap().unwrap();
    assert_eq!((loaded.version, nick(&loaded)), (v2, 2));
    // The old version no longer works.
    assert!(store.save("a", &token(3), Some(v1)).is_err());

    store.save("b:ü/../x", &token(9), None).unwrap();
    assert_eq!(
        store.keys().unwrap(),
        vec!["a".to_owned(), "b:ü/../x".to_owned()]
    );
    assert_eq!(nick(&store.load("b:ü/../x").unwrap().unwrap()), 9);
}

#[test]
fn memory_store_compare_and_swap() {
    assert_cas(&MemoryStore::new());
}

#[test]
fn file_store_compare_and_swap() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join("tokens")).unwrap();
    assert_cas(&store);
    // Another handle on the same directory sees the same data.
    let again = FileStore::open(store.dir()).unwrap();
    assert_eq!(nick(&again.load("a").unwrap().unwrap()), 2);
}

#[test]
fn file_store_keeps_unknown_fields_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let mut t = token(1);
    t.expire_time = Some(1_752_592_000_000);
    t.extra.insert(
        "brand_new_field".to_owned(),
        serde_json::json!({"x": [1, 2]}),
    );
    store.save("k", &t, None).unwrap();
    let back = store.load("k").unwrap().unwrap().token;
    assert_eq!(back.expire_time, Some(1_752_592_000_000));
    assert_eq!(back.received_at_ms, Some(1_750_000_000_000));
    assert_eq!(back.seller_id.as_deref(), Some("2001"));
    assert_eq!(
        back.extra.get("brand_new_field"),
        Some(&serde_json::json!({"x": [1, 2]}))
    );
}

#[test]
fn file_store_modes_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("new").join("tokens");
    let store = FileStore::open(&root).unwrap();
    assert_eq!(mode(&root), 0o700);
    store.save("seller", &token(1), None).unwrap();
    let path = store.path_of("seller").unwrap();
    assert_eq!(mode(&path), 0o600);
    let v = store.load("seller").unwrap().unwrap().version;
    store.save("seller", &token(2), Some(v)).unwrap();
    assert_eq!(mode(&path), 0o600);
    drop(store.lock("seller").unwrap());
    for entry in std::fs::read_dir(&root).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(mode(&entry.path()), 0o600, "{:?}", entry.file_name());
    }
}

#[test]
fn file_names_are_hex_of_the_key_and_nothing_else_is_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.save("ae/2001", &token(1), None).unwrap();
    assert_eq!(
        store.path_of("ae/2001").unwrap(),
        dir.path().join("61652f32303031.json")
    );
    // Leftovers of a killed writer, lock files and strangers are not keys.
    std::fs::write(dir.path().join(".tmp-abc123.json.tmp"), b"{\"vers").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    std::fs::write(dir.path().join("zz.json"), b"{}").unwrap();
    drop(store.lock("other").unwrap());
    assert_eq!(store.keys().unwrap(), vec!["ae/2001".to_owned()]);
    assert!(store.load("other").unwrap().is_none());
    // Keys the file system could not name are refused with the key, not mangled.
    let long = "k".repeat(121);
    let err = store.save(&long, &token(1), None).unwrap_err();
    assert!(matches!(&err, Error::Store { key, .. } if *key == long));
    assert!(matches!(store.load(""), Err(Error::Store { .. })));
}

#[test]
fn corrupted_or_truncated_file_names_the_key_and_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.save("good", &token(1), None).unwrap();
    store.save("bad", &token(2), None).unwrap();
    let path = store.path_of("bad").unwrap();
    let full = std::fs::read(&path).unwrap();
    for broken in [
        full[..full.len() / 2].to_vec(),
        Vec::new(),
        b"\0\0\0garbage".to_vec(),
        br#"{"version":"x","token":{}}"#.to_vec(),
    ] {
        std::fs::write(&path, &broken).unwrap();
        let err = store.load("bad").unwrap_err();
        match &err {
            Error::Store { key, message, .. } => {
                assert_eq!(key, "bad");
                assert!(message.contains("corrupted"), "{message}");
                assert!(!message.contains("access-2") && !message.contains("refresh-2"));
            }
            other => panic!("expected Error::Store, got {other:?}"),
        }
        // A save cannot compare against it, so it leaves the file alone.
        assert!(store.save("bad", &token(3), Some(1)).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), broken);
    }
    // Other keys are unaffected.
    assert_eq!(nick(&store.load("good").unwrap().unwrap()), 1);
}

fn assert_lock_excludes(store: Arc<dyn TokenStore>) {
    let inside = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, inside, barrier) = (store.clone(), inside.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..20 {
                    let _lock = store.lock("k").unwrap();
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    std::thread::sleep(Duration::from_micros(200));
                    inside.store(false, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Other keys do not wait for "k".
    let _k = store.lock("k").unwrap();
    let _other = store.lock("other").unwrap();
}

#[test]
fn memory_store_lock_excludes_threads() {
    assert_lock_excludes(Arc::new(MemoryStore::new()));
}

#[test]
fn file_store_lock_excludes_threads() {
    let dir = tempfile::tempdir().unwrap();
    assert_lock_excludes(Arc::new(FileStore::open(dir.path()).unwrap()));
}

const CHILD_DIR: &str = "IOP_TEST_STORE_CHILD_DIR";

/// Run by `killed_writers_never_lose_the_last_good_token` in a child process: saves forever,
/// printing `saved N` after each save returned.
#[test]
#[ignore = "child process of killed_writers_never_lose_the_last_good_token"]
fn child_saver() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let store = FileStore::open(dir).unwrap();
    let mut out = std::io::stdout().lock();
    loop {
        let stored = store.load("seller").unwrap().unwrap();
        let n = nick(&stored) + 1;
        store
            .save("seller", &token(n), Some(stored.version))
            .unwrap();
        writeln!(out, "saved {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn killed_writers_never_lose_the_last_good_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.save("seller", &token(0), None).unwrap();
    let mut last_acknowledged = 0;
    for iteration in 0..50u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_saver", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Let it complete a few saves, then kill it at a varying point of the next one.
        let wanted = 1 + iteration % 5;
        let mut seen = 0;
        while seen < wanted {
            let line = lines.next().expect("child ended early").unwrap();
            if let Some(n) = line.strip_prefix("saved ") {
                last_acknowledged = n.parse().unwrap();
                seen += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(iteration * 97 % 1500));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Anything the child printed before dying was saved too.
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("saved ") {
                last_acknowledged = n.parse().unwrap();
            }
        }
        let stored = store
            .load("seller")
            .unwrap_or_else(|e| panic!("iteration {iteration}: {e:?}"))
            .expect("token lost");
        let n = nick(&stored);
        // The last acknowledged save is there, or the one in flight completed.
        assert!(
            n == last_acknowledged || n == last_acknowledged + 1,
            "iteration {iteration}: stored {n}, last acknowledged {last_acknowledged}"
        );
        last_acknowledged = n;
        assert_eq!(store.keys().unwrap(), vec!["seller".to_owned()]);
    }
    assert!(last_acknowledged >= 50);
}

#[test]
fn remove_forgets_a_key_even_a_corrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = FileStore::open(dir.path()).unwrap();
    let memory = MemoryStore::new();
    for store in [&file as &dyn TokenStore, &memory] {
        let v1 = store.save("k", &token(1), None).unwrap();
        assert!(store.remove("k").unwrap());
        assert!(!store.remove("k").unwrap());
        assert!(store.load("k").unwrap().is_none());
        assert!(store.keys().unwrap().is_empty());
        // Stored again, it does not reuse the old version.
        let v2 = store.save("k", &token(2), None).unwrap();
        assert_ne!(v1, v2);
    }
    std::fs::write(file.path_of("k").unwrap(), b"{{{").unwrap();
    assert!(file.load("k").is_err());
    assert!(file.remove("k").unwrap());
    file.save("k", &token(3), None).unwrap();
    assert_eq!(nick(&file.load("k").unwrap().unwrap()), 3);
}

/// Adds 1 to the number `k` holds, `times` times, each by compare-and-swap (retried when
/// another writer saved in between).
fn increment(store: &dyn TokenStore, times: usize) {
    let mut saved = 0;
    while saved < times {
        let current = store.load("k").unwrap().unwrap();
        let next = token(nick(&current) + 1);
        if store.save("k", &next, Some(current.version)).is_ok() {
            saved += 1;
        }
    }
}

/// The inode of a file (a save in place keeps it; a new file changes it).
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn saves_write_the_other_slot_in_place_and_a_torn_slot_falls_back_to_the_record_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let path = store.path_of("k").unwrap();
    let v1 = store.save("k", &token(1), None).unwrap();
    let created = inode(&path);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8192);
    let v2 = store.save("k", &token(2), Some(v1)).unwrap();
    let v3 = store.save("k", &token(3), Some(v2)).unwrap();
    assert_eq!(
        inode(&path),
        created,
        "saves after the first write in place"
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 8192);
    // Saves alternate: 1 and 3 in the first slot, 2 in the second.
    assert_eq!(&bytes[..8], b"iop-tok1");
    assert_eq!(&bytes[4096..4104], b"iop-tok1");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("access-3") && text.contains("access-2") && !text.contains("access-1"));

    // A write cut off by a crash: the first half of the newest slot is new, the rest old (or
    // anything else). The digest fails, the record before it is current.
    let mut torn = bytes.clone();
    for b in &mut torn[100..4096] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &torn).unwrap();
    let back = store.load("k").unwrap().unwrap();
    assert_eq!((nick(&back), back.version), (2, v2));
    // Its version is what a save compares with; the save goes into the torn slot.
    assert!(store.save("k", &token(9), Some(v3)).is_err());
    let v4 = store.save("k", &token(4), Some(v2)).unwrap();
    let back = store.load("k").unwrap().unwrap();
    assert_eq!((nick(&back), back.version), (4, v4));

    // Only a header cut short, or a slot of zeros: the same.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..64].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(nick(&store.load("k").unwrap().unwrap()), 2);

    // Both slots broken: corrupted, nothing guessed, nothing overwritten by a save.
    for b in &mut bytes[4096 + 64..4096 + 80] {
        *b ^= 1;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = store.load("k").unwrap_err();
    assert!(
        matches!(&err, Error::Store { message, .. } if message.contains("corrupted") && message.contains("no slot")),
        "{err:?}"
    );
    assert!(store.save("k", &token(5), Some(v2)).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_token_file_of_the_old_layout_is_read_and_rewritten_in_slots() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let path = store.path_of("k").unwrap();
    // What iop wrote before slots: the record alone.
    let old = serde_json::json!({"version": 7, "key": "k", "token": token(1)});
    std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
    let back = store.load("k").unwrap().unwrap();
    assert_eq!((nick(&back), back.version), (1, 7));
    assert_eq!(store.keys().unwrap(), vec!["k".to_owned()]);
    assert!(store.save("k", &token(2), Some(6)).is_err());
    let v = store.save("k", &token(2), Some(7)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!((&bytes[..8], bytes.len()), (&b"iop-tok1"[..], 8192));
    assert_eq!(mode(&path), 0o600);
    let back = store.load("k").unwrap().unwrap();
    assert_eq!((nick(&back), back.version), (2, v));
}

#[test]
fn a_file_copied_over_another_keys_name_is_an_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.save("seller-a", &token(1), None).unwrap();
    store.save("seller-b", &token(2), None).unwrap();
    let b = store.path_of("seller-b").unwrap();
    std::fs::copy(store.path_of("seller-a").unwrap(), &b).unwrap();
    // seller-b would otherwise be handed seller-a's tokens.
    assert_store_error(
        store.load("seller-b"),
        "seller-b",
        "\"seller-a\", not of this key",
    );
    assert_eq!(nick(&store.load("seller-a").unwrap().unwrap()), 1);
    // The way out: remove it and store the right seller's tokens again.
    assert!(store.remove("seller-b").unwrap());
    store.save("seller-b", &token(3), None).unwrap();
    assert_eq!(nick(&store.load("seller-b").unwrap().unwrap()), 3);
    // A record of an early version names no key: read as it is.
    let old = serde_json::json!({"version": 4, "token": token(5)});
    std::fs::write(&b, serde_json::to_vec(&old).unwrap()).unwrap();
    assert_eq!(nick(&store.load("seller-b").unwrap().unwrap()), 5);
}

#[test]
fn a_record_larger_than_its_slot_gets_a_larger_file_and_one_too_large_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let path = store.path_of("k").unwrap();
    let v1 = store.save("k", &token(1), None).unwrap();
    let mut big = token(2);
    big.extra
        .insert("note".to_owned(), serde_json::json!("x".repeat(5000)));
    let v2 = store.save("k", &big, Some(v1)).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * 8192);
    let back = store.load("k").unwrap().unwrap().token;
    assert_eq!(back.extra.get("note"), big.extra.get("note"));
    // A small record again stays in the larger slots, in place.
    let grown = inode(&path);
    let v3 = store.save("k", &token(3), Some(v2)).unwrap();
    assert_eq!(inode(&path), grown);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * 8192);
    assert_eq!(nick(&store.load("k").unwrap().unwrap()), 3);
    // 4 into the first slot, 5 into the second. Cut to the length of a file of 4 KiB slots,
    // the first half of the first slot (a whole older record) is no slot of that file.
    let v4 = store.save("k", &token(4), Some(v3)).unwrap();
    let v5 = store.save("k", &token(5), Some(v4)).unwrap();
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, &whole[..8192]).unwrap();
    let err = store.load("k").unwrap_err();
    assert!(
        matches!(&err, Error::Store { message, .. } if message.contains("corrupted")),
        "{err:?}"
    );
    std::fs::write(&path, &whole).unwrap();
    assert_eq!(nick(&store.load("k").unwrap().unwrap()), 5);
    // Larger than half the file cap: refused before anything is written.
    let before = std::fs::read(&path).unwrap();
    let mut huge = token(4);
    huge.extra
        .insert("note".to_owned(), serde_json::json!("x".repeat(600 << 10)));
    let err = store.save("k", &huge, Some(v5)).unwrap_err();
    assert!(
        matches!(&err, Error::Store { message, .. } if message.contains("too large")),
        "{err:?}"
    );
    assert!(store.save("new", &huge, None).is_err());
    assert!(!store.path_of("new").unwrap().exists());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_hard_linked_copy_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let path = store.path_of("k").unwrap();
    let v1 = store.save("k", &token(1), None).unwrap();
    let backup = dir.path().join("backup");
    std::fs::hard_link(&path, &backup).unwrap();
    let before = std::fs::read(&backup).unwrap();
    let v2 = store.save("k", &token(2), Some(v1)).unwrap();
    assert_eq!(std::fs::read(&backup).unwrap(), before);
    assert_ne!(inode(&path), inode(&backup));
    let back = store.load("k").unwrap().unwrap();
    assert_eq!((nick(&back), back.version), (2, v2));
}

/// Compare-and-swap increments of `k` by many threads, while another thread keeps giving the
/// file a second name (so saves replace it by a new file at random points) and readers check
/// that what they load never goes back: every increment counted, none lost.
#[test]
fn increments_stay_exact_while_the_file_is_replaced_under_waiters() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::open(dir.path()).unwrap());
    store.save("k", &token(0), None).unwrap();
    let path = store.path_of("k").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let linker = {
        let (done, backup) = (done.clone(), dir.path().join("second-name"));
        std::thread::spawn(move || {
            let mut links = 0;
            while !done.load(Ordering::SeqCst) {
                if std::fs::hard_link(&path, &backup).is_ok() {
                    links += 1;
                    std::thread::sleep(Duration::from_micros(300));
                    std::fs::remove_file(&backup).unwrap();
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            links
        })
    };
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let mut last = 0;
            while !done.load(Ordering::SeqCst) {
                let n = nick(&store.load("k").unwrap().unwrap());
                assert!(n >= last, "went back from {last} to {n}");
                last = n;
            }
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || increment(&*store, 40))
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    assert!(linker.join().unwrap() > 0);
    assert_eq!(nick(&store.load("k").unwrap().unwrap()), 160);
    assert_eq!(store.keys().unwrap(), vec!["k".to_owned()]);
}

const INCREMENT_DIR: &str = "IOP_TEST_STORE_INCREMENT_DIR";

/// Run by `processes_compare_and_swap_exactly` in child processes: 30 compare-and-swap
/// increments of `k`.
#[test]
#[ignore = "child process of processes_compare_and_swap_exactly"]
fn child_incrementer() {
    let Ok(dir) = std::env::var(INCREMENT_DIR) else {
        return;
    };
    increment(&FileStore::open(dir).unwrap(), 30);
}

#[test]
fn processes_compare_and_swap_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.save("k", &token(0), None).unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_incrementer", "--ignored"])
                .args(["--test-threads", "1"])
                .env(INCREMENT_DIR, dir.path())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(nick(&store.load("k").unwrap().unwrap()), 120);
}

#[test]
fn loads_never_see_a_slot_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::open(dir.path()).unwrap());
    store.save("k", &token(0), None).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || increment(&*store, 50))
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, done) = (store.clone(), done.clone());
            std::thread::spawn(move || {
                let (mut last, mut loads) = (0, 0);
                while !done.load(Ordering::SeqCst) {
                    let n = nick(&store.load("k").unwrap().unwrap());
                    assert!(n >= last, "went back from {last} to {n}");
                    (last, loads) = (n, loads + 1);
                }
                loads
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    assert_eq!(nick(&store.load("k").unwrap().unwrap()), 200);
}

#[test]
fn open_deletes_only_old_leftover_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join(".tmp-old123.json.tmp");
    let fresh = dir.path().join(".tmp-new456.json.tmp");
    std::fs::write(&old, b"{\"version\":").unwrap();
    std::fs::write(&fresh, b"{\"version\":").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    assert!(!old.exists());
    assert!(fresh.exists(), "a save may be using it");
    assert!(store.keys().unwrap().is_empty());
}

/// Runs `f` on a thread and fails the test if it does not finish within a second (a FIFO used
/// to make the store hang forever).
fn within_a_second<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    receiver
        .recv_timeout(Duration::from_secs(1))
        .expect("the store hung")
}

fn assert_store_error(result: Result<impl std::fmt::Debug, Error>, key: &str, words: &str) {
    match result {
        Err(Error::Store {
            key: k, message, ..
        }) => {
            assert_eq!(k, key);
            assert!(message.contains(words), "{message}");
        }
        other => panic!("expected a store error about {words:?}, got {other:?}"),
    }
}

#[test]
fn planted_links_are_not_followed_and_create_nothing_outside() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let stem = hex::encode("k");
    // The key's lock file and the directory's save lock, pointing at files that do not exist.
    std::os::unix::fs::symlink(
        outside.path().join("key-lock"),
        dir.path().join(format!("{stem}.lock")),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("save-lock"),
        dir.path().join(".save.lock"),
    )
    .unwrap();
    assert_store_error(store.lock("k").map(|_| ()), "k", "symbolic link");
    assert_store_error(store.save("k", &token(1), None), "k", "symbolic link");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    // A token file that is a link to a good token file elsewhere is refused too.
    let elsewhere = FileStore::open(outside.path().join("other")).unwrap();
    elsewhere.save("k", &token(7), None).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path_of("k").unwrap(),
        dir.path().join(format!("{stem}.json")),
    )
    .unwrap();
    assert_store_error(store.load("k"), "k", "symbolic link");
    // The failed save left no temporary file behind; remove clears the planted token link.
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".tmp-")
    }));
    assert!(store.remove("k").unwrap());
    assert!(
        elsewhere.path_of("k").unwrap().exists(),
        "only the link went"
    );
}

#[test]
fn a_fifo_as_token_or_lock_file_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::open(dir.path()).unwrap());
    let mkfifo = |path: &Path| {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
    };
    mkfifo(&store.path_of("fifo").unwrap());
    mkfifo(&dir.path().join(format!("{}.lock", hex::encode("fifo"))));
    let s = store.clone();
    assert_store_error(
        within_a_second(move || s.load("fifo")),
        "fifo",
        "not a regular file",
    );
    let s = store.clone();
    assert_store_error(
        within_a_second(move || s.lock("fifo").map(|_| ())),
        "fifo",
        "not a regular file",
    );
    let s = store.clone();
    assert_store_error(
        within_a_second(move || s.save("fifo", &token(1), Some(1))),
        "fifo",
        "not a regular file",
    );
}

#[test]
fn a_link_to_dev_zero_or_a_huge_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::open(dir.path()).unwrap());
    std::os::unix::fs::symlink("/dev/zero", store.path_of("zero").unwrap()).unwrap();
    let s = store.clone();
    assert_store_error(
        within_a_second(move || s.load("zero")),
        "zero",
        "symbolic link",
    );
    // A regular file larger than the cap is not read whole.
    let big = store.path_of("big").unwrap();
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(iop_core::store::MAX_TOKEN_FILE_BYTES + 1)
        .unwrap();
    assert_store_error(store.load("big"), "big", "larger than");
}

#[test]
fn a_directory_others_can_write_is_refused() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    for mode in [0o777, 0o770, 0o702, 0o1777] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = FileStore::open(&dir).unwrap_err();
        assert!(
            matches!(&err, Error::Store { message, .. } if message.contains("chmod 700")),
            "{mode:o}: {err:?}"
        );
        // Left as it was: refusing, not tightening behind the user's back.
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777,
            mode
        );
    }
    // Readable by the group is fine; so is the usual 0700.
    for mode in [0o750, 0o700] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        FileStore::open(&dir).unwrap();
    }
    // A file where the directory should be.
    let file = parent.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(FileStore::open(&file), Err(Error::Store { .. })));
}

#[test]
fn a_directory_of_another_user_is_refused() {
    if rustix::process::geteuid().as_raw() != 0 {
        return; // only root can give a directory away
    }
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("theirs");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(65_534), None).unwrap();
    let err = FileStore::open(&dir).unwrap_err();
    assert!(
        matches!(&err, Error::Store { message, .. } if message.contains("belongs to user id 65534")),
        "{err:?}"
    );
}
