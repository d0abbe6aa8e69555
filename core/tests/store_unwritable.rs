//! A store that cannot save: the manager proves the save ([`TokenStore::check_save`]) before it
//! asks the gateway to rotate a seller's tokens, so nothing is refreshed and the stored refresh
//! token stays current. A FileStore whose token file (or, for a file that must be rewritten,
//! whose directory) is read-only, and custom stores (`ExternalStore`, what Python and C custom
//! stores are) whose save fails. The Redis (ACL) and PostgreSQL (SELECT-only user) cases are in
//! `store_redis.rs` and `store_postgres.rs`.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(unused_macros)]
#[path = "support/stores.rs"]
mod stores;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use iop_core::store::{ExternalStore, StoreBackend};
use iop_core::{FileStore, TokenSet, TokenStore};
use stores::*;

/// Runs `f` on a thread that lacks `CAP_DAC_OVERRIDE` and `CAP_DAC_READ_SEARCH` (capabilities
/// are per thread): as root, file modes bind it as they bind any other user.
fn as_plain_user(f: Box<dyn FnOnce() + Send>) {
    std::thread::spawn(move || {
        use rustix::thread::{CapabilitySet, capabilities, set_capabilities};
        let mut sets = capabilities(None).unwrap();
        sets.effective
            .remove(CapabilitySet::DAC_OVERRIDE | CapabilitySet::DAC_READ_SEARCH);
        set_capabilities(None, sets).unwrap();
        f();
    })
    .join()
    .unwrap();
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_read_only_token_file_is_never_refreshed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let writable: Arc<dyn TokenStore> = Arc::new(FileStore::open(&path).unwrap());
    let file = FileStore::open(&path)
        .unwrap()
        .path_of("seller-ro")
        .unwrap();
    let reopen = path.clone();
    an_unwritable_store_refreshes_nothing(
        writable,
        &move || Arc::new(FileStore::open(&reopen).unwrap()),
        &|| set_mode(&file, 0o400),
        &as_plain_user,
    );
}

#[test]
fn a_file_that_must_be_rewritten_in_a_read_only_directory_is_never_refreshed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    let writable: Arc<dyn TokenStore> = Arc::new(FileStore::open(&path).unwrap());
    let store_dir = path.clone();
    let reopen = path.clone();
    an_unwritable_store_refreshes_nothing(
        writable.clone(),
        &move || Arc::new(FileStore::open(&reopen).unwrap()),
        &move || {
            // A second name for the token file (a `cp -al` backup): its next save writes a new
            // file, which a read-only directory refuses; the file itself stays writable.
            let file = FileStore::open(&store_dir)
                .unwrap()
                .path_of("seller-ro")
                .unwrap();
            std::fs::hard_link(&file, store_dir.join("backup.copy")).unwrap();
            set_mode(&store_dir, 0o500);
        },
        &as_plain_user,
    );
    set_mode(&path, 0o700);
}

/// A backend whose saves fail once `broken` is set (a read-only database, a full disk).
#[derive(Default)]
struct BreakableBackend {
    data: Mutex<HashMap<String, TokenSet>>,
    broken: AtomicBool,
}

impl StoreBackend for BreakableBackend {
    fn load(&self, key: &str) -> iop_core::Result<Option<TokenSet>> {
        Ok(self.data.lock().unwrap().get(key).cloned())
    }
    fn save(&self, key: &str, token: &TokenSet) -> iop_core::Result<()> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(iop_core::Error::Store {
                key: key.to_owned(),
                message: "read-only".to_owned(),
                source: None,
            });
        }
        self.data
            .lock()
            .unwrap()
            .insert(key.to_owned(), token.clone());
        Ok(())
    }
    fn keys(&self) -> iop_core::Result<Vec<String>> {
        Ok(self.data.lock().unwrap().keys().cloned().collect())
    }
}

#[test]
fn a_custom_store_that_cannot_save_is_never_refreshed() {
    let store = Arc::new(ExternalStore::new(BreakableBackend::default()));
    let writable: Arc<dyn TokenStore> = store.clone();
    let broken = store.clone();
    let unwritable = store.clone();
    an_unwritable_store_refreshes_nothing(
        writable,
        &move || unwritable.clone(),
        &move || broken.backend().broken.store(true, Ordering::SeqCst),
        &|f| f(),
    );
}

#[test]
fn a_custom_store_that_can_save_refreshes_as_before_with_one_more_save() {
    let emu = emulator();
    let client = client(&emu);
    let store = Arc::new(ExternalStore::new(BreakableBackend::default()));
    let manager = iop_core::TokenManager::new(client.clone(), store.clone());
    onboard(&emu, &client, &manager, &["s".to_owned()]);
    let before = store.load("s").unwrap().unwrap();
    emu.advance(28 * DAY);
    manager.access_token("s").unwrap();
    assert_eq!(refreshes(&emu), 1);
    let after = store.load("s").unwrap().unwrap();
    assert_ne!(after.version, before.version);
    assert!(stored_refresh_token_is_current(&emu, &*store, "s"));
}
