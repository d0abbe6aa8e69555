//! The store contract (`common/store_contract.rs`) run against MemoryStore, FileStore and the
//! ExternalStore adapter over a plain map backend.

#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use iop_core::store::{ExternalStore, KeyLock, StoreBackend};
use iop_core::{FileStore, MemoryStore, StoredToken, TokenSet, TokenStore};

/// A FileStore that owns its temporary directory.
struct TempFileStore {
    store: FileStore,
    _dir: tempfile::TempDir,
}

impl TokenStore for TempFileStore {
    fn load(&self, key: &str) -> iop_core::Result<Option<StoredToken>> {
        self.store.load(key)
    }
    fn save(&self, key: &str, token: &TokenSet, expected: Option<u64>) -> iop_core::Result<u64> {
        self.store.save(key, token, expected)
    }
    fn keys(&self) -> iop_core::Result<Vec<String>> {
        self.store.keys()
    }
    fn lock(&self, key: &str) -> iop_core::Result<Box<dyn KeyLock + '_>> {
        self.store.lock(key)
    }
    fn remove(&self, key: &str) -> iop_core::Result<bool> {
        self.store.remove(key)
    }
    fn load_many(&self, keys: &[String]) -> Vec<iop_core::Result<Option<StoredToken>>> {
        self.store.load_many(keys)
    }
    fn try_lock(&self, key: &str) -> iop_core::Result<Option<Box<dyn KeyLock + '_>>> {
        self.store.try_lock(key)
    }
    fn save_and_unlock<'a>(
        &'a self,
        key: &str,
        token: &TokenSet,
        expected: Option<u64>,
        lock: Box<dyn KeyLock + 'a>,
    ) -> iop_core::Result<u64> {
        self.store.save_and_unlock(key, token, expected, lock)
    }
}

fn file_store() -> Arc<dyn TokenStore> {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    Arc::new(TempFileStore { store, _dir: dir })
}

/// The plainest backend: JSON text in a map.
#[derive(Default)]
struct MapBackend(Mutex<HashMap<String, String>>);

impl StoreBackend for MapBackend {
    fn load(&self, key: &str) -> iop_core::Result<Option<TokenSet>> {
        let json = self.0.lock().unwrap().get(key).cloned();
        Ok(json.map(|json| serde_json::from_str(&json).unwrap()))
    }
    fn save(&self, key: &str, token: &TokenSet) -> iop_core::Result<()> {
        self.0
            .lock()
            .unwrap()
            .insert(key.to_owned(), token.to_json());
        Ok(())
    }
    fn keys(&self) -> iop_core::Result<Vec<String>> {
        Ok(self.0.lock().unwrap().keys().cloned().collect())
    }
    fn remove(&self, key: &str) -> iop_core::Result<bool> {
        Ok(self.0.lock().unwrap().remove(key).is_some())
    }
}

store_contract_tests!(memory, || Arc::new(MemoryStore::new()), nonblocking_try_lock: true);
store_contract_tests!(file, file_store, nonblocking_try_lock: true);
store_contract_tests!(external, || Arc::new(ExternalStore::new(
    MapBackend::default()
)));
