//! [`FileStore`]: one file per seller key in a private directory, durable and shared between
//! processes.
//!
//! Every file is opened relative to the directory's own descriptor with `O_NOFOLLOW` (a link
//! planted in the directory is never followed, so nothing is created or read outside it), with
//! `O_NONBLOCK` (a FIFO cannot make an open hang), and is then checked to be a regular file
//! before anything is read; reads are capped at [`MAX_TOKEN_FILE_BYTES`].

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{
    KeyLock, StoredToken, TokenStore, conflict, io_error, lock_ignoring_poison, next_version,
    store_error,
};
use crate::error::Result;
use crate::token::TokenSet;

/// The longest key a [`FileStore`] accepts, in bytes (its file name is the key in hex).
pub const MAX_FILE_KEY_BYTES: usize = 120;

/// The largest token file a [`FileStore`] reads (1 MiB); a larger one is a store error. A token
/// file is about 1 KiB.
pub const MAX_TOKEN_FILE_BYTES: u64 = 1 << 20;

/// Age after which a leftover temporary file is deleted by [`FileStore::open`].
const STALE_TEMPORARY_FILE_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Name of the lock file that serializes the compare-and-swap step of saves in a directory.
const SAVE_LOCK_NAME: &str = ".save.lock";

/// A directory with one JSON file per seller key (mode 0600), written to a temporary file,
/// synced and renamed; an OS file lock per key guards refreshes across processes.
///
/// Layout, for a key `k` whose bytes in lowercase hex are `H`:
/// - `H.json`: `{"version": n, "key": "k", "token": {…}}`, replaced atomically by rename;
/// - `H.lock`: an empty file whose OS lock (`flock`) is the key's lock across processes;
/// - `.save.lock`: held only for the instant a save compares versions and renames;
/// - `.tmp-*`: a save in progress, or left by a killed writer: ignored, and deleted by
///   [`FileStore::open`] once an hour old.
///
/// Keys are any non-empty string of at most [`MAX_FILE_KEY_BYTES`] bytes.
///
/// # Safety of the directory
/// [`FileStore::open`] refuses (with [`crate::Error::Store`]) a directory that is writable by
/// its group or by others, or that belongs to another user: whoever can write there can replace
/// tokens. It does not change the mode itself; `chmod 700 DIR` fixes it. Inside the directory,
/// links are never followed and only regular files of at most [`MAX_TOKEN_FILE_BYTES`] are read:
/// a symbolic link, FIFO or device where a token or lock file should be is a store error naming
/// the key, never a hang.
///
/// # Durability
/// A save returns once the new file is on disk: its data is synced before the rename, and the
/// directory after it. Concurrent saves in one process share directory syncs (group commit): a
/// save waits for one directory sync that started after its own rename, so one sync covers
/// every rename done before it began.
pub struct FileStore {
    dir: PathBuf,
    /// The directory, opened once: every file is reached relative to it.
    dir_fd: OwnedFd,
    /// `.save.lock`, opened on first use; the mutex orders this process's threads (an OS file
    /// lock does not exclude threads sharing one open file), the OS lock other processes.
    save_lock: Mutex<Option<File>>,
    /// Directory syncs shared by concurrent saves.
    dir_sync: DirSync,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
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

/// The version of a token file, without building its token set.
#[derive(serde::Deserialize)]
struct FileVersion {
    version: u64,
}

/// The OS lock of one key of a [`FileStore`]; closing the file releases it.
struct FileKeyLock {
    _file: File,
}

impl KeyLock for FileKeyLock {}

/// Group commit of directory syncs: renames get increasing tickets; a sync covers every ticket
/// handed out before it started.
///
/// Saves whose file data became durable together (the kernel commits concurrent data syncs at
/// once) reach their renames together: the thread that starts a directory sync first lets the
/// renames already under way finish (they take microseconds; it waits at most
/// [`GATHER_RENAMES`]), so that one sync covers them all instead of one sync for the first and
/// another for the rest.
#[derive(Default)]
struct DirSync {
    state: Mutex<DirSyncState>,
    /// Signalled when a sync finishes, and when the last rename under way is done.
    finished: Condvar,
}

#[derive(Default)]
struct DirSyncState {
    /// Tickets handed out (renames completed).
    renamed: u64,
    /// Every ticket up to this one is covered by a completed sync.
    synced: u64,
    /// A sync is running (or gathering the renames under way before it starts).
    syncing: bool,
    /// Saves between their data sync and the end of their rename (or its failure).
    renaming: usize,
}

/// The longest a directory sync waits for renames under way before it starts.
const GATHER_RENAMES: std::time::Duration = std::time::Duration::from_millis(1);

/// A save between its data sync and the end of its rename; dropping it ends that stage.
struct Renaming<'a> {
    sync: &'a DirSync,
}

impl Drop for Renaming<'_> {
    fn drop(&mut self) {
        let mut state = lock_ignoring_poison(&self.sync.state);
        state.renaming = state.renaming.saturating_sub(1);
        if state.renaming == 0 {
            drop(state);
            self.sync.finished.notify_all();
        }
    }
}

/// Deletes a temporary file unless it was renamed.
struct TemporaryName<'a> {
    store: &'a FileStore,
    name: String,
    renamed: bool,
}

impl Drop for TemporaryName<'_> {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = rustix::fs::unlinkat(&self.store.dir_fd, &self.name, AtFlags::empty());
        }
    }
}

impl FileStore {
    /// Opens (and creates, mode 0700) the directory.
    ///
    /// Errors ([`crate::Error::Store`] with an empty key): the directory cannot be created or
    /// opened, is not a directory, belongs to another user, or is writable by its group or by
    /// others.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = dir.as_ref().to_path_buf();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io_error("", &format!("cannot create {}", dir.display()), e))?;
        let dir_fd = rustix::fs::open(
            &dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            if e == Errno::NOTDIR {
                store_error("", format!("{} is not a directory", dir.display()))
            } else {
                io_error("", &format!("cannot open {}", dir.display()), e.into())
            }
        })?;
        let stat = rustix::fs::fstat(&dir_fd)
            .map_err(|e| io_error("", &format!("cannot inspect {}", dir.display()), e.into()))?;
        let owner = rustix::process::geteuid().as_raw();
        if stat.st_uid != owner {
            return Err(store_error(
                "",
                format!(
                    "refusing the store directory {}: it belongs to user id {}, not to this \
                     process's user id {owner}",
                    dir.display(),
                    stat.st_uid
                ),
            ));
        }
        let mode = stat.st_mode & 0o7777;
        if mode & 0o022 != 0 {
            return Err(store_error(
                "",
                format!(
                    "refusing the store directory {}: its mode {mode:04o} lets others replace \
                     tokens; make it private (chmod 700)",
                    dir.display()
                ),
            ));
        }
        let store = Self {
            dir,
            dir_fd,
            save_lock: Mutex::new(None),
            dir_sync: DirSync::default(),
        };
        store.remove_stale_temporary_files();
        Ok(store)
    }

    /// Best effort: deletes temporary files of saves that a killed writer left an hour or more
    /// ago (a live save needs its file for milliseconds).
    fn remove_stale_temporary_files(&self) {
        let Ok(names) = self.names() else { return };
        let now = std::time::SystemTime::now();
        for name in names {
            if !(name.starts_with(".tmp-") && name.ends_with(".json.tmp")) {
                continue;
            }
            let old = std::fs::symlink_metadata(self.dir.join(&name))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age >= STALE_TEMPORARY_FILE_AGE);
            if old {
                let _ = rustix::fs::unlinkat(&self.dir_fd, &name, AtFlags::empty());
            }
        }
    }

    /// The names in the directory (UTF-8 ones; others are never ours).
    fn names(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in Dir::read_from(&self.dir_fd)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the token file of `key`.
    pub fn path_of(&self, key: &str) -> Result<PathBuf> {
        Ok(self.dir.join(Self::file_name(key)?))
    }

    fn file_name(key: &str) -> Result<String> {
        Ok(format!("{}.json", Self::file_stem(key)?))
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

    /// Opens `name` in the directory without following a link and without blocking, and checks
    /// that it is a regular file. `Ok(None)`: it does not exist (and `flags` did not create it).
    /// With the file, its size when it was opened.
    fn open_regular(
        &self,
        key: &str,
        name: &str,
        what: &str,
        flags: OFlags,
    ) -> Result<Option<(File, u64)>> {
        let flags = flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = match rustix::fs::openat(&self.dir_fd, name, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP | Errno::MLINK) => {
                return Err(store_error(
                    key,
                    format!(
                        "the {what} {} is a symbolic link; links are never followed",
                        self.dir.join(name).display()
                    ),
                ));
            }
            Err(e) => return Err(io_error(key, &format!("cannot open the {what}"), e.into())),
        };
        let stat = rustix::fs::fstat(&fd)
            .map_err(|e| io_error(key, &format!("cannot inspect the {what}"), e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(store_error(
                key,
                format!(
                    "the {what} {} is not a regular file",
                    self.dir.join(name).display()
                ),
            ));
        }
        Ok(Some((
            File::from(fd),
            u64::try_from(stat.st_size).unwrap_or(0),
        )))
    }

    fn open_lock_file(&self, key: &str, name: &str) -> Result<File> {
        self.open_regular(key, name, "lock file", OFlags::RDWR | OFlags::CREATE)?
            .map(|(file, _)| file)
            .ok_or_else(|| store_error(key, "the lock file vanished while it was opened"))
    }

    /// Reads and parses the file of `key` (`None` when absent): the whole record, or (for the
    /// compare step of a save) only its version.
    fn read<T: serde::de::DeserializeOwned>(&self, key: &str, name: &str) -> Result<Option<T>> {
        let Some((file, size)) = self.open_regular(key, name, "token file", OFlags::RDONLY)? else {
            return Ok(None);
        };
        // Room for the whole file and one byte more: one read takes it all, the next sees the
        // end (instead of a read per doubling of a growing buffer).
        let room = size.min(MAX_TOKEN_FILE_BYTES) + 1;
        let mut bytes = Vec::with_capacity(usize::try_from(room).unwrap_or(0));
        file.take(MAX_TOKEN_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(key, "cannot read token file", e))?;
        if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
            return Err(store_error(
                key,
                format!(
                    "token file {} is larger than {MAX_TOKEN_FILE_BYTES} bytes",
                    self.dir.join(name).display()
                ),
            ));
        }
        match serde_json::from_slice::<T>(&bytes) {
            Ok(record) => Ok(Some(record)),
            // Only the position and category: serde's text could quote a stored secret.
            Err(e) => Err(store_error(
                key,
                format!(
                    "token file {} is corrupted or truncated ({:?} error at line {} column {})",
                    self.dir.join(name).display(),
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            )),
        }
    }

    /// Writes `body` to a new temporary file and syncs its data.
    fn write_temporary(&self, key: &str, body: &[u8]) -> Result<TemporaryName<'_>> {
        let mut attempts = 0;
        let (name, fd) = loop {
            let name = format!(".tmp-{:016x}.json.tmp", fastrand::u64(..));
            let flags = OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::EXCL
                | OFlags::NOFOLLOW
                | OFlags::CLOEXEC
                | OFlags::NOCTTY;
            match rustix::fs::openat(&self.dir_fd, &name, flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => break (name, fd),
                Err(Errno::EXIST) if attempts < 8 => attempts += 1,
                Err(e) => {
                    return Err(io_error(key, "cannot create a temporary file", e.into()));
                }
            }
        };
        let temporary = TemporaryName {
            store: self,
            name,
            renamed: false,
        };
        let mut file = File::from(fd);
        file.write_all(body)
            .and_then(|()| file.sync_data())
            .map_err(|e| io_error(key, "cannot write the temporary file", e))?;
        Ok(temporary)
    }

    /// Returns once a directory sync that started after ticket `ticket`'s rename has completed.
    fn sync_dir_through(&self, key: &str, ticket: u64) -> Result<()> {
        let sync = &self.dir_sync;
        let mut state = lock_ignoring_poison(&sync.state);
        loop {
            if state.synced >= ticket {
                return Ok(());
            }
            if state.syncing {
                state = sync
                    .finished
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            state.syncing = true;
            // Let the renames under way join this sync (see `DirSync`).
            let gather_until = std::time::Instant::now() + GATHER_RENAMES;
            while state.renaming > 0 {
                let Some(left) = gather_until.checked_duration_since(std::time::Instant::now())
                else {
                    break;
                };
                state = sync
                    .finished
                    .wait_timeout(state, left)
                    .map_or_else(|e| e.into_inner().0, |(state, _)| state);
            }
            let target = state.renamed;
            drop(state);
            let synced = rustix::fs::fsync(&self.dir_fd);
            state = lock_ignoring_poison(&sync.state);
            state.syncing = false;
            if synced.is_ok() {
                state.synced = state.synced.max(target);
            }
            sync.finished.notify_all();
            if let Err(e) = synced {
                return Err(io_error(key, "cannot sync the store directory", e.into()));
            }
        }
    }

    /// Marks the start of a save's rename stage (its file data is durable).
    fn renaming(&self) -> Renaming<'_> {
        lock_ignoring_poison(&self.dir_sync.state).renaming += 1;
        Renaming {
            sync: &self.dir_sync,
        }
    }

    /// A ticket for a rename that has just completed.
    fn renamed(&self) -> u64 {
        let mut state = lock_ignoring_poison(&self.dir_sync.state);
        state.renamed += 1;
        state.renamed
    }

    /// Runs `f` holding the directory's save lock (this process's threads and other processes).
    fn with_save_lock<T>(&self, key: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let mut slot = lock_ignoring_poison(&self.save_lock);
        if slot.is_none() {
            *slot = Some(self.open_lock_file(key, SAVE_LOCK_NAME)?);
        }
        let Some(file) = slot.as_ref() else {
            return Err(store_error(key, "the save lock is not open"));
        };
        file.lock()
            .map_err(|e| io_error(key, "cannot lock the store", e))?;
        let result = f();
        let _ = file.unlock();
        result
    }
}

impl TokenStore for FileStore {
    fn load(&self, key: &str) -> Result<Option<StoredToken>> {
        let name = Self::file_name(key)?;
        Ok(self
            .read::<FileRecordIn>(key, &name)?
            .map(|record| StoredToken {
                token: record.token,
                version: record.version,
            }))
    }

    fn save(&self, key: &str, token: &TokenSet, expected_version: Option<u64>) -> Result<u64> {
        let name = Self::file_name(key)?;
        let version = next_version(expected_version);
        let body = serde_json::to_vec(&FileRecordOut {
            version,
            key,
            token,
        })
        .map_err(|e| store_error(key, format!("cannot serialize the token set: {e}")))?;

        // Write and sync the new content first, outside any lock: a killed writer leaves at most
        // a temporary file, which load and keys ignore.
        let mut temporary = self.write_temporary(key, &body)?;

        // Compare and swap under the directory's save lock (held across processes).
        let renaming = self.renaming();
        let ticket = self.with_save_lock(key, || {
            let current = self
                .read::<FileVersion>(key, &name)?
                .map(|record| record.version);
            if current != expected_version {
                return Err(conflict(key, expected_version, current));
            }
            rustix::fs::renameat(&self.dir_fd, &temporary.name, &self.dir_fd, &name)
                .map_err(|e| io_error(key, "cannot rename the temporary file", e.into()))?;
            temporary.renamed = true;
            Ok(self.renamed())
        });
        drop(renaming);
        self.sync_dir_through(key, ticket?)?;
        Ok(version)
    }

    fn keys(&self) -> Result<Vec<String>> {
        let names = self
            .names()
            .map_err(|e| io_error("", "cannot list the store directory", e))?;
        let mut keys: Vec<String> = names
            .iter()
            .filter_map(|name| Self::key_of_file_name(name))
            .collect();
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

    /// `flock` without waiting.
    fn try_lock(&self, key: &str) -> Result<Option<Box<dyn KeyLock + '_>>> {
        let name = format!("{}.lock", Self::file_stem(key)?);
        let file = self.open_lock_file(key, &name)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(FileKeyLock { _file: file }))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io_error(key, "cannot lock the key", e)),
        }
    }

    /// Removes the token file (also a corrupted one, or something that is no regular file); the
    /// lock file stays, as another process may hold it.
    fn remove(&self, key: &str) -> Result<bool> {
        let name = Self::file_name(key)?;
        let removed = match rustix::fs::unlinkat(&self.dir_fd, &name, AtFlags::empty()) {
            Ok(()) => true,
            Err(Errno::NOENT) => false,
            Err(e) => return Err(io_error(key, "cannot remove token file", e.into())),
        };
        if removed {
            let ticket = self.renamed();
            self.sync_dir_through(key, ticket)?;
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
