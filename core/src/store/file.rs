//! [`FileStore`]: one file per seller key in a private directory, durable and shared between
//! processes.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{KeyLock, StoredToken, TokenStore, conflict, io_error, next_version, store_error};
use crate::error::Result;
use crate::token::TokenSet;

/// The longest key a [`FileStore`] accepts, in bytes (its file name is the key in hex).
pub const MAX_FILE_KEY_BYTES: usize = 120;

/// Age after which a leftover temporary file is deleted by [`FileStore::open`].
const STALE_TEMPORARY_FILE_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Name of the lock file that serializes the compare-and-swap step of saves in a directory.
const SAVE_LOCK_NAME: &str = ".save.lock";

/// A directory with one JSON file per seller key (mode 0600), written to a temporary file,
/// fsynced and renamed; an OS file lock per key guards refreshes across processes.
///
/// Layout, for a key `k` whose bytes in lowercase hex are `H`:
/// - `H.json`: `{"version": n, "key": "k", "token": {…}}`, replaced atomically by rename;
/// - `H.lock`: an empty file whose OS lock ([`File::lock`]) is the key's lock across processes;
/// - `.save.lock`: held only for the instant a save compares versions and renames;
/// - `.tmp-*`: a save in progress, or left by a killed writer: ignored, and deleted by
///   [`FileStore::open`] once an hour old.
///
/// Keys are any non-empty string of at most [`MAX_FILE_KEY_BYTES`] bytes.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
}

/// What a token file holds.
#[derive(serde::Serialize)]
struct FileRecordOut<'a> {
    version: u64,
    key: &'a str,
    token: &'a TokenSet,
}

#[derive(serde::Deserialize)]
struct FileRecordIn {
    version: u64,
    token: TokenSet,
}

/// The OS lock of one key of a [`FileStore`]; closing the file releases it.
struct FileKeyLock {
    _file: File,
}

impl KeyLock for FileKeyLock {}

impl FileStore {
    /// Opens (and creates, mode 0700) the directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io_error("", &format!("cannot create {}", dir.display()), e))?;
        if !dir.is_dir() {
            return Err(store_error(
                "",
                format!("{} is not a directory", dir.display()),
            ));
        }
        let store = Self { dir };
        store.remove_stale_temporary_files();
        Ok(store)
    }

    /// Best effort: deletes temporary files of saves that a killed writer left an hour or more
    /// ago (a live save needs its file for milliseconds).
    fn remove_stale_temporary_files(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = std::time::SystemTime::now();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !(name.starts_with(".tmp-") && name.ends_with(".json.tmp")) {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age >= STALE_TEMPORARY_FILE_AGE);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the token file of `key`.
    pub fn path_of(&self, key: &str) -> Result<PathBuf> {
        Ok(self.dir.join(format!("{}.json", Self::file_stem(key)?)))
    }

    fn file_stem(key: &str) -> Result<String> {
        if key.is_empty() {
            return Err(store_error(key, "empty key"));
        }
        if key.len() > MAX_FILE_KEY_BYTES {
            return Err(store_error(
                key,
                format!("key longer than {MAX_FILE_KEY_BYTES} bytes"),
            ));
        }
        Ok(hex::encode(key.as_bytes()))
    }

    /// The key a directory entry stands for, if it is a token file.
    fn key_of_file_name(name: &str) -> Option<String> {
        let stem = name.strip_suffix(".json")?;
        // Only the canonical (lowercase) spelling, so each key has one file.
        if stem.is_empty() || stem.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let bytes = hex::decode(stem).ok()?;
        String::from_utf8(bytes).ok()
    }

    fn open_lock_file(&self, key: &str, name: &str) -> Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.dir.join(name))
            .map_err(|e| io_error(key, "cannot open lock file", e))
    }

    /// Reads and parses the file of `key` (`None` when absent).
    fn read(&self, key: &str, path: &Path) -> Result<Option<FileRecordIn>> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(key, "cannot open token file", e)),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| io_error(key, "cannot read token file", e))?;
        match serde_json::from_slice::<FileRecordIn>(&bytes) {
            Ok(record) => Ok(Some(record)),
            // Only the position and category: serde's text could quote a stored secret.
            Err(e) => Err(store_error(
                key,
                format!(
                    "token file {} is corrupted or truncated ({:?} error at line {} column {})",
                    path.display(),
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            )),
        }
    }

    fn sync_dir(&self, key: &str) -> Result<()> {
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| io_error(key, "cannot sync the store directory", e))
    }
}

impl TokenStore for FileStore {
    fn load(&self, key: &str) -> Result<Option<StoredToken>> {
        let path = self.path_of(key)?;
        Ok(self.read(key, &path)?.map(|record| StoredToken {
            token: record.token,
            version: record.version,
        }))
    }

    fn save(&self, key: &str, token: &TokenSet, expected_version: Option<u64>) -> Result<u64> {
        let path = self.path_of(key)?;
        let version = next_version(expected_version);
        let body = serde_json::to_vec(&FileRecordOut {
            version,
            key,
            token,
        })
        .map_err(|e| store_error(key, format!("cannot serialize the token set: {e}")))?;

        // Write and sync the new content first, outside any lock: a killed writer leaves at most
        // a temporary file, which load and keys ignore.
        let mut temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .suffix(".json.tmp")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(&self.dir)
            .map_err(|e| io_error(key, "cannot create a temporary file", e))?;
        temp.write_all(&body)
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|e| io_error(key, "cannot write the temporary file", e))?;

        // Compare and swap under the directory's save lock (held across processes).
        {
            let save_lock = self.open_lock_file(key, SAVE_LOCK_NAME)?;
            save_lock
                .lock()
                .map_err(|e| io_error(key, "cannot lock the store", e))?;
            let current = self.read(key, &path)?.map(|record| record.version);
            if current != expected_version {
                return Err(conflict(key, expected_version, current));
            }
            temp.persist(&path)
                .map_err(|e| io_error(key, "cannot rename the temporary file", e.error))?;
            // Closing `save_lock` releases the lock.
        }
        self.sync_dir(key)?;
        Ok(version)
    }

    fn keys(&self) -> Result<Vec<String>> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| io_error("", "cannot list the store directory", e))?;
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("", "cannot list the store directory", e))?;
            if let Some(key) = entry.file_name().to_str().and_then(Self::key_of_file_name) {
                keys.push(key);
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn lock(&self, key: &str) -> Result<Box<dyn KeyLock + '_>> {
        let name = format!("{}.lock", Self::file_stem(key)?);
        let file = self.open_lock_file(key, &name)?;
        // flock(2): exclusive between open files, so between threads of this process as well
        // as between processes.
        file.lock()
            .map_err(|e| io_error(key, "cannot lock the key", e))?;
        Ok(Box::new(FileKeyLock { _file: file }))
    }

    /// Removes the token file (also a corrupted one); the lock file stays, as another process
    /// may hold it.
    fn remove(&self, key: &str) -> Result<bool> {
        let path = self.path_of(key)?;
        let removed = match std::fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => return Err(io_error(key, "cannot remove token file", e)),
        };
        if removed {
            self.sync_dir(key)?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::FileStore;

    #[test]
    fn file_names_map_back_to_keys() {
        for key in ["seller-1", "ae:2001/ü", "../etc/passwd", " "] {
            let stem = FileStore::file_stem(key).unwrap();
            assert!(stem.bytes().all(|b| b.is_ascii_hexdigit()));
            let name = format!("{stem}.json");
            assert_eq!(FileStore::key_of_file_name(&name).as_deref(), Some(key));
        }
        assert_eq!(FileStore::key_of_file_name(".tmp-abc.json.tmp"), None);
        assert_eq!(FileStore::key_of_file_name("6162.lock"), None);
        assert_eq!(FileStore::key_of_file_name("6A.json"), None);
        assert_eq!(FileStore::key_of_file_name(".json"), None);
        assert!(FileStore::file_stem("").is_err());
        assert!(FileStore::file_stem(&"x".repeat(121)).is_err());
    }
}
