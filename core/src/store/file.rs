//! [`FileStore`]: one file per seller key in a private directory, durable and shared between
//! processes.
//!
//! Every file is opened relative to the directory's own descriptor with `O_NOFOLLOW` (a link
//! planted in the directory is never followed, so nothing is created or read outside it), with
//! `O_NONBLOCK` (a FIFO cannot make an open hang), and is then checked to be a regular file
//! before anything is read; reads are capped at [`MAX_TOKEN_FILE_BYTES`].

use std::fs::File;
use std::io::Write;
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

mod seen;

/// The longest key a [`FileStore`] accepts, in bytes (its file name is the key in hex).
pub const MAX_FILE_KEY_BYTES: usize = 120;

/// The largest token file a [`FileStore`] reads (1 MiB); a larger one is a store error. A token
/// file is about 1 KiB.
pub const MAX_TOKEN_FILE_BYTES: u64 = 1 << 20;

/// Age after which a leftover temporary file is deleted by [`FileStore::open`].
const STALE_TEMPORARY_FILE_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Name of the lock file that serializes the creation of token files in a directory.
const SAVE_LOCK_NAME: &str = ".save.lock";

/// The size of each of a token file's two slots, unless a record needs more.
const SLOT_BYTES: usize = 4096;

/// The largest slot: two of them make a file of [`MAX_TOKEN_FILE_BYTES`].
const MAX_SLOT_BYTES: usize = (MAX_TOKEN_FILE_BYTES / 2) as usize;

/// The first bytes of a slot that holds a record.
const SLOT_MAGIC: [u8; 8] = *b"iop-tok1";

/// A slot's header: magic (8 bytes), sequence number (8, little-endian), record length (4,
/// little-endian), log2 of the slot size (1), the slot's index (1), zeros (10), SHA-256 of those
/// 32 bytes and the record (32). Size and index make a file cut to another length (or a slot
/// copied elsewhere) fail instead of reading as a slot it is not.
const SLOT_HEADER_BYTES: usize = 64;

/// The slot size a record of `len` bytes needs, or `None` when it is too large for any.
fn slot_bytes_for(len: usize) -> Option<usize> {
    let needed = len.checked_add(SLOT_HEADER_BYTES)?.max(SLOT_BYTES);
    let slot = needed.checked_next_power_of_two()?;
    (slot <= MAX_SLOT_BYTES).then_some(slot)
}

fn slot_digest(head: &[u8], record: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let mut digest = sha2::Sha256::new();
    digest.update(head);
    digest.update(record);
    digest.finalize().into()
}

/// Slot `index` (0 or 1) of `slot_bytes` (a power of two) holding `record` (which fits: see
/// [`slot_bytes_for`]).
fn encode_slot(sequence: u64, record: &[u8], slot_bytes: usize, index: usize) -> Vec<u8> {
    let mut slot = vec![0u8; slot_bytes];
    slot[..8].copy_from_slice(&SLOT_MAGIC);
    slot[8..16].copy_from_slice(&sequence.to_le_bytes());
    let len = u32::try_from(record.len()).unwrap_or(u32::MAX);
    slot[16..20].copy_from_slice(&len.to_le_bytes());
    slot[20] = slot_bytes.trailing_zeros() as u8;
    slot[21] = index as u8;
    let digest = slot_digest(&slot[..32], record);
    slot[32..SLOT_HEADER_BYTES].copy_from_slice(&digest);
    slot[SLOT_HEADER_BYTES..SLOT_HEADER_BYTES + record.len()].copy_from_slice(record);
    slot
}

/// Where the current record of a token file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// The whole file is the record (the layout before slots).
    Whole,
    /// Slot `current` of two, each `slot_bytes` long, with sequence number `sequence`.
    Slots {
        slot_bytes: usize,
        current: usize,
        sequence: u64,
    },
}

/// A slot whose save had completed but that fails its digest beside a valid one: changed on disk
/// after it was written (a flipped bit, a bad sector), not a write cut off by a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Damage {
    /// The damaged slot's sequence number.
    sequence: u64,
    /// It is newer than the record read: that save's token set is lost, and an older one is
    /// what loads return.
    newer: bool,
}

/// The current record of a token file, where it is, and a damaged slot beside it, if any.
struct Decoded<'a> {
    record: &'a [u8],
    layout: Layout,
    damage: Option<Damage>,
}

/// Finds the current record of a token file's bytes; `Err` says why there is none.
///
/// The current record is the newest slot whose digest matches. A slot whose header is whole but
/// whose digest fails beside it is reported as damaged when its save is known to have completed:
/// it is older than the current one (a later save followed it, which only starts once a save
/// returned), or it is newer and its record is whole JSON of the length its header gives (only
/// its bytes changed). A newer slot whose record is not whole JSON is taken for a write that a
/// crash cut off (the header written, the rest not), which is expected and not reported.
fn decode(bytes: &[u8]) -> std::result::Result<Decoded<'_>, &'static str> {
    if bytes.first() == Some(&b'{') {
        return Ok(Decoded {
            record: bytes,
            layout: Layout::Whole,
            damage: None,
        });
    }
    if bytes.is_empty() {
        return Err("empty file");
    }
    let slot_bytes = bytes.len() / 2;
    if !bytes.len().is_multiple_of(2)
        || !slot_bytes.is_power_of_two()
        || !(SLOT_BYTES..=MAX_SLOT_BYTES).contains(&slot_bytes)
    {
        return Err("not a token file layout");
    }
    // Slots whose header is whole, newest first; the first whose digest matches is current.
    let mut candidates: Vec<(u64, usize, &[u8])> = Vec::with_capacity(2);
    for (index, slot) in bytes.chunks_exact(slot_bytes).enumerate() {
        if slot[..8] != SLOT_MAGIC
            || u32::from(slot[20]) != slot_bytes.trailing_zeros()
            || usize::from(slot[21]) != index
            || slot[22..32].iter().any(|&b| b != 0)
        {
            continue;
        }
        let sequence = u64::from_le_bytes(slot[8..16].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(slot[16..20].try_into().unwrap_or_default());
        let Some(record) = usize::try_from(len)
            .ok()
            .and_then(|len| slot.get(SLOT_HEADER_BYTES..SLOT_HEADER_BYTES.checked_add(len)?))
        else {
            continue;
        };
        candidates.push((sequence, index, record));
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    let intact = |index: usize, record: &[u8]| {
        let slot = &bytes[index * slot_bytes..][..SLOT_HEADER_BYTES];
        slot_digest(&slot[..32], record)[..] == slot[32..SLOT_HEADER_BYTES]
    };
    let Some(&(sequence, current, record)) = candidates
        .iter()
        .find(|(_, index, record)| intact(*index, record))
    else {
        return Err("no slot holds a whole record");
    };
    let damage = candidates
        .iter()
        .filter(|(_, index, _)| *index != current)
        .find_map(|&(other, index, other_record)| {
            if intact(index, other_record) {
                return None;
            }
            let newer = other > sequence;
            let completed =
                !newer || serde_json::from_slice::<serde::de::IgnoredAny>(other_record).is_ok();
            completed.then_some(Damage {
                sequence: other,
                newer,
            })
        });
    Ok(Decoded {
        record,
        layout: Layout::Slots {
            slot_bytes,
            current,
            sequence,
        },
        damage,
    })
}

/// A directory with one token file per seller key (mode 0600), updated in place in one of two
/// checksummed slots and synced; an OS file lock per key guards refreshes across processes.
///
/// Layout, for a key `k` whose bytes in lowercase hex are `H`:
/// - `H.json`: two slots of equal size (4 KiB each, or the next power of two a larger record
///   needs, at most 512 KiB). Each slot holds a 64-byte header (the magic `iop-tok1`, a sequence
///   number, the record's length, the slot's size and index, a SHA-256 digest of header and
///   record) and the JSON record
///   `{"version": n, "key": "k", "token": {…}}`. The slot with the higher sequence number whose
///   digest matches is the current one. A file that is one JSON record (the layout of iop before
///   0.1) is read as such and rewritten in slots by its next save.
/// - `H.lock`: an empty file whose OS lock (`flock`) is the key's lock across processes;
/// - `.save.lock`: held only for the instant a save creates a key's file;
/// - `.tmp-*`: a new file in progress, or left by a killed writer: ignored, and deleted by
///   [`FileStore::open`] once an hour old.
/// - `.seen/`: markers of handled push messages ([`TokenStore::mark_seen`]), one file each,
///   created with `O_EXCL`; expired ones are swept now and then.
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
/// A save returns once the new record is on disk. A save of a key that has a file writes the
/// slot that does not hold the current record and syncs the file's data (`fdatasync`): the
/// current record is never touched, so a writer killed (or a machine losing power) mid-write
/// leaves it intact, and a half-written slot fails its digest and is ignored. Nothing else
/// changes on disk (no rename, no directory sync), so concurrent saves of different keys are as
/// many independent data syncs, which the file system commits together. A save holds the
/// file's OS lock (exclusive) from its compare step until its sync returns; a load holds it
/// shared while it reads, so it never sees a slot being written (and waits, for the length of
/// one data sync, for a save of the same key under way).
///
/// The first save of a key, and a save whose record outgrows its slots, that rewrites a file of
/// the old layout, or that finds the file has another name too (a hard link, such as a `cp -al`
/// backup, is never written through), writes a whole new file: written to a temporary file,
/// synced, renamed into place, and the directory synced. The new file's lock is held from
/// before its rename until the directory sync returns, so nobody reads or saves a record whose
/// file name could still be lost. Concurrent ones in one process share directory syncs (group
/// commit): a save waits for one directory sync that started after its own rename, so one sync
/// covers every rename done before it began.
///
/// When a sync fails (an I/O error), the save returns the error; what the disk then holds is
/// whatever the kernel managed to write, the previous record or the new one.
///
/// # Damage
/// A slot whose save had completed but that fails its digest beside a valid one (changed on
/// disk later) is logged at warning level, once, with the key and the file (never the record),
/// and [`FileStore::damaged`] reports it: when it held the latest save, loads return the record
/// before it. A slot that a crash cut off mid-write (its record not whole JSON) is expected and
/// not reported.
///
/// # Proving a save
/// [`TokenStore::check_save`] opens the key's file for writing (a read-only file, one of another
/// user, a read-only file system are found out before a refresh) and, when the next save must
/// write a new file, checks that the directory is writable.
pub struct FileStore {
    dir: PathBuf,
    /// The directory, opened once: every file is reached relative to it.
    dir_fd: OwnedFd,
    /// `.save.lock`, opened on first use; the mutex orders this process's threads (an OS file
    /// lock does not exclude threads sharing one open file), the OS lock other processes.
    save_lock: Mutex<Option<File>>,
    /// Directory syncs shared by concurrent saves.
    dir_sync: DirSync,
    /// Damaged slots already logged: (file name, sequence number).
    damage_reported: Mutex<std::collections::HashSet<(String, u64)>>,
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
    /// The key the record was saved under (absent in records of early versions).
    #[serde(default)]
    key: Option<String>,
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

/// A new token file written under a temporary name, deleted unless it was renamed. Its OS lock
/// is held (exclusive) from before it is written until it is dropped, so that no load or save
/// reaches it under its final name before the directory sync that makes the name durable.
struct TemporaryName<'a> {
    store: &'a FileStore,
    name: String,
    renamed: bool,
    _file: File,
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
            damage_reported: Mutex::default(),
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
    /// With the file, its status when it was opened.
    fn open_regular(
        &self,
        key: &str,
        name: &str,
        what: &str,
        flags: OFlags,
    ) -> Result<Option<(File, rustix::fs::Stat)>> {
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
        Ok(Some((File::from(fd), stat)))
    }

    fn open_lock_file(&self, key: &str, name: &str) -> Result<File> {
        self.open_regular(key, name, "lock file", OFlags::RDWR | OFlags::CREATE)?
            .map(|(file, _)| file)
            .ok_or_else(|| store_error(key, "the lock file vanished while it was opened"))
    }

    /// Opens the token file `name` and takes its OS lock, shared to read or exclusive to write,
    /// then makes sure the name still leads to the file it locked (a save that replaces the
    /// file, or a remove, holds the lock while it renames or unlinks). `Ok(None)`: absent.
    /// With the file, its status.
    fn open_locked(
        &self,
        key: &str,
        name: &str,
        write: bool,
    ) -> Result<Option<(File, rustix::fs::Stat)>> {
        for _ in 0..64 {
            let flags = if write { OFlags::RDWR } else { OFlags::RDONLY };
            let Some((file, held)) = self.open_regular(key, name, "token file", flags)? else {
                return Ok(None);
            };
            if write {
                file.lock()
            } else {
                file.lock_shared()
            }
            .map_err(|e| io_error(key, "cannot lock the token file", e))?;
            // (The file's size is what it was when opened: saves write in place, and a save
            // that replaces the file makes a new one, which the check below catches.)
            match rustix::fs::statat(&self.dir_fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(now) if now.st_ino == held.st_ino && now.st_dev == held.st_dev => {
                    return Ok(Some((file, held)));
                }
                // Replaced or removed while this waited for the lock: open the name again.
                Ok(_) | Err(Errno::NOENT) => {}
                Err(e) => {
                    return Err(io_error(key, "cannot inspect the token file", e.into()));
                }
            }
        }
        Err(store_error(
            key,
            "the token file kept being replaced while it was opened",
        ))
    }

    /// Reads an open token file of `size` bytes whole (at most [`MAX_TOKEN_FILE_BYTES`]): one
    /// read, as a locked token file does not change size (saves write in place).
    fn read_all(&self, key: &str, name: &str, file: &File, size: u64) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        if size > MAX_TOKEN_FILE_BYTES {
            return Err(store_error(
                key,
                format!(
                    "token file {} is larger than {MAX_TOKEN_FILE_BYTES} bytes",
                    self.dir.join(name).display()
                ),
            ));
        }
        let mut bytes = vec![0; usize::try_from(size).unwrap_or(0)];
        let mut filled = 0;
        while filled < bytes.len() {
            match file.read_at(&mut bytes[filled..], filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(key, "cannot read token file", e)),
            }
        }
        // Shorter than it was (cut by something else): what is there is judged as it is.
        bytes.truncate(filled);
        Ok(bytes)
    }

    /// The current record of a token file's bytes, parsed (the whole record, or for the
    /// compare step of a save only its version), and where it is.
    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<(T, Layout)> {
        let corrupted = |why: String| {
            store_error(
                key,
                format!(
                    "token file {} is corrupted or truncated ({why})",
                    self.dir.join(name).display()
                ),
            )
        };
        let Decoded {
            record,
            layout,
            damage,
        } = decode(bytes).map_err(|why| corrupted(why.to_owned()))?;
        if let Some(damage) = damage {
            self.report_damage(key, name, damage);
        }
        match serde_json::from_slice::<T>(record) {
            Ok(record) => Ok((record, layout)),
            // Only the position and category: serde's text could quote a stored secret.
            Err(e) => Err(corrupted(format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))),
        }
    }

    /// Logs a damaged slot of the token file of `key` (see [`decode`]) at warning level, once
    /// per damaged save in this store's life: the key and the file, never the record.
    fn report_damage(&self, key: &str, name: &str, damage: Damage) {
        let first =
            lock_ignoring_poison(&self.damage_reported).insert((name.to_owned(), damage.sequence));
        if !first {
            return;
        }
        let path = self.dir.join(name);
        if damage.newer {
            log::warn!(
                "token file {} of key {key:?}: its latest save fails its checksum (damaged on \
                 disk after it was written), so the token set saved before it is read; if the \
                 gateway has rotated the refresh token since, the seller must authorize again. \
                 Check the disk; the next save of this key replaces the damaged slot",
                path.display()
            );
        } else {
            log::warn!(
                "token file {} of key {key:?}: the save before the current one fails its \
                 checksum (damaged on disk); the current token set is intact. Check the disk; \
                 the next save of this key replaces the damaged slot",
                path.display()
            );
        }
    }

    /// Whether the token file of `key` holds a damaged slot: a save that had completed and
    /// fails its checksum beside the valid record that loads return (logged at warning level
    /// when a load finds it). A write cut off by a crash is not damage. `false` for a key
    /// without a file or a file of the older one-record layout; an error when the file cannot
    /// be read or holds no valid record.
    pub fn damaged(&self, key: &str) -> Result<bool> {
        let name = Self::file_name(key)?;
        let Some((file, held)) = self.open_locked(key, &name, false)? else {
            return Ok(false);
        };
        let bytes = self.read_all(key, &name, &file, size_of(&held))?;
        let decoded = decode(&bytes).map_err(|why| {
            store_error(
                key,
                format!(
                    "token file {} is corrupted or truncated ({why})",
                    self.dir.join(&name).display()
                ),
            )
        })?;
        Ok(decoded.damage.is_some())
    }

    /// Reads and parses the file of `key` (`None` when absent), holding its lock shared.
    fn read<T: serde::de::DeserializeOwned>(&self, key: &str, name: &str) -> Result<Option<T>> {
        let Some((file, held)) = self.open_locked(key, name, false)? else {
            return Ok(None);
        };
        let bytes = self.read_all(key, name, &file, size_of(&held))?;
        Ok(Some(self.parse::<T>(key, name, &bytes)?.0))
    }

    /// Writes `body` to a new temporary file, locked (see [`TemporaryName`]), and syncs its
    /// data.
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
            _file: File::from(fd),
        };
        let file = &temporary._file;
        file.lock()
            .and_then(|()| (&mut &*file).write_all(body))
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

    /// The first save of `key` (a record of `version`): a new file, created only if there is
    /// still none.
    fn create(
        &self,
        key: &str,
        name: &str,
        record: &[u8],
        slot_bytes: usize,
        expected_version: Option<u64>,
        version: u64,
    ) -> Result<u64> {
        if expected_version.is_some() {
            return Err(conflict(key, expected_version, None));
        }
        // Written and synced outside any lock: a killed writer leaves at most a temporary
        // file, which load and keys ignore.
        let mut temporary = self.write_temporary(key, &file_image(record, slot_bytes))?;
        let renaming = self.renaming();
        let ticket = self.with_save_lock(key, || {
            // Another save may have created it meanwhile (creations take this lock).
            if let Some(current) = self.read::<FileVersion>(key, name)? {
                return Err(conflict(key, expected_version, Some(current.version)));
            }
            rustix::fs::renameat(&self.dir_fd, &temporary.name, &self.dir_fd, name)
                .map_err(|e| io_error(key, "cannot rename the temporary file", e.into()))?;
            temporary.renamed = true;
            Ok(self.renamed())
        });
        drop(renaming);
        let ticket = ticket?;
        // The key's lock file too, now rather than on its first refresh (best effort: `lock`
        // creates it when missing).
        if let Ok(stem) = Self::file_stem(key) {
            let _ = self.open_lock_file(key, &format!("{stem}.lock"));
        }
        self.sync_dir_through(key, ticket)?;
        Ok(version)
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
        let Some(record) = self.read::<FileRecordIn>(key, &name)? else {
            return Ok(None);
        };
        // A file copied or renamed over another key's name holds that key's seller.
        if let Some(saved_as) = record.key.as_deref()
            && saved_as != key
        {
            return Err(store_error(
                key,
                format!(
                    "token file {} holds the record of key {saved_as:?}, not of this key \
                     (copied or renamed by hand?)",
                    self.dir.join(&name).display()
                ),
            ));
        }
        Ok(Some(StoredToken {
            token: record.token,
            version: record.version,
        }))
    }

    fn save(&self, key: &str, token: &TokenSet, expected_version: Option<u64>) -> Result<u64> {
        let name = Self::file_name(key)?;
        let version = next_version(expected_version);
        let record = serde_json::to_vec(&FileRecordOut {
            version,
            key,
            token,
        })
        .map_err(|e| store_error(key, format!("cannot serialize the token set: {e}")))?;
        let Some(needed) = slot_bytes_for(record.len()) else {
            return Err(store_error(
                key,
                format!(
                    "the token set is too large to store ({} bytes; at most {} fit)",
                    record.len(),
                    MAX_SLOT_BYTES - SLOT_HEADER_BYTES
                ),
            ));
        };
        let Some((file, held)) = self.open_locked(key, &name, true)? else {
            return self.create(key, &name, &record, needed, expected_version, version);
        };
        // Compare and write holding the file's lock (exclusive, across processes).
        let bytes = self.read_all(key, &name, &file, size_of(&held))?;
        let (current, layout) = self.parse::<FileVersion>(key, &name, &bytes)?;
        if Some(current.version) != expected_version {
            return Err(conflict(key, expected_version, Some(current.version)));
        }
        match layout {
            Layout::Slots {
                slot_bytes,
                current,
                sequence,
            } if slot_bytes >= needed && held.st_nlink == 1 => {
                use std::os::unix::fs::FileExt;
                // The other slot: the current record stays whole until this one is synced.
                let other = 1 - current;
                let slot = encode_slot(sequence.wrapping_add(1), &record, slot_bytes, other);
                let offset = (other * slot_bytes) as u64;
                if let Err(e) = file
                    .write_all_at(&slot, offset)
                    .and_then(|()| file.sync_data())
                {
                    // The slot loses its magic (best effort, synced), so that the current record
                    // stays current. After a failed sync the kernel may have written the slot
                    // or not: a crash right now could still leave either record.
                    let _ = file
                        .write_all_at(&[0; 8], offset)
                        .and_then(|()| file.sync_data());
                    return Err(io_error(key, "cannot write the token file", e));
                }
            }
            _ => {
                // A new file in larger slots (or in slots at all, or one no other name shares:
                // a hard link, such as a `cp -al` backup, is not written through), renamed over
                // this one while its lock is held: waiters find the new file when they get it.
                let mut temporary = self.write_temporary(key, &file_image(&record, needed))?;
                let renaming = self.renaming();
                rustix::fs::renameat(&self.dir_fd, &temporary.name, &self.dir_fd, &name)
                    .map_err(|e| io_error(key, "cannot rename the temporary file", e.into()))?;
                temporary.renamed = true;
                let ticket = self.renamed();
                drop(renaming);
                self.sync_dir_through(key, ticket)?;
            }
        }
        drop(file);
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

    /// Opens the key's token file for writing (refused for a read-only file, a file of another
    /// user, a read-only file system) and, when its next save must write a new file (the file
    /// is of the older layout, or has a second name), checks that the directory can be written
    /// too. Writes nothing: the version stays.
    fn check_save(&self, key: &str, stored: &StoredToken, _lock: &dyn KeyLock) -> Result<u64> {
        let name = Self::file_name(key)?;
        let flags = OFlags::RDWR;
        let opened = self
            .open_regular(key, &name, "token file", flags)
            .map_err(|error| cannot_save(key, &self.dir.join(&name), error))?;
        let Some((file, stat)) = opened else {
            return Err(conflict(key, Some(stored.version), None));
        };
        let whole = {
            use std::os::unix::fs::FileExt;
            let mut first = [0u8; 1];
            matches!(file.read_at(&mut first, 0), Ok(1) if first[0] == b'{')
        };
        if whole || stat.st_nlink != 1 {
            rustix::fs::accessat(
                &self.dir_fd,
                ".",
                rustix::fs::Access::WRITE_OK,
                AtFlags::EACCESS,
            )
            .map_err(|e| {
                cannot_save(
                    key,
                    &self.dir,
                    io_error(key, "cannot write the store directory", e.into()),
                )
            })?;
        }
        Ok(stored.version)
    }

    /// A marker file in `.seen`, created with `O_EXCL` (see the type's layout).
    fn mark_seen(&self, marker: &str, ttl: std::time::Duration) -> Result<bool> {
        self.mark_seen_in_dir(marker, ttl)
    }

    /// Removes the token file (also a corrupted one, or something that is no regular file); the
    /// lock file stays, as another process may hold it.
    fn remove(&self, key: &str) -> Result<bool> {
        let name = Self::file_name(key)?;
        // Holding the file's lock, so that no save is writing into it as it goes. Something that
        // is no regular file (a link, a FIFO) has no lock to take and is removed all the same.
        let held = match self.open_locked(key, &name, true) {
            Ok(None) => return Ok(false),
            Ok(Some(held)) => Some(held),
            Err(e) => match rustix::fs::statat(&self.dir_fd, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile => None,
                Err(Errno::NOENT) => return Ok(false),
                _ => return Err(e),
            },
        };
        let removed = match rustix::fs::unlinkat(&self.dir_fd, &name, AtFlags::empty()) {
            Ok(()) => true,
            Err(Errno::NOENT) => false,
            Err(e) => return Err(io_error(key, "cannot remove token file", e.into())),
        };
        if removed {
            let ticket = self.renamed();
            self.sync_dir_through(key, ticket)?;
        }
        drop(held);
        Ok(removed)
    }
}

/// The error of a store that cannot save `key` in `path` now.
fn cannot_save(key: &str, path: &Path, error: crate::Error) -> crate::Error {
    let message = match &error {
        crate::Error::Store { message, .. } => message.clone(),
        other => other.to_string(),
    };
    crate::Error::Store {
        key: key.to_owned(),
        message: format!(
            "{} cannot be written now, so a refresh (which rotates the refresh token) is not \
             attempted: {message}",
            path.display()
        ),
        source: Some(Box::new(error)),
    }
}

/// The size of a file from its status.
fn size_of(stat: &rustix::fs::Stat) -> u64 {
    u64::try_from(stat.st_size).unwrap_or(0)
}

/// A new token file's bytes: `record` in the first of two slots of `slot_bytes`.
fn file_image(record: &[u8], slot_bytes: usize) -> Vec<u8> {
    let mut image = encode_slot(1, record, slot_bytes, 0);
    image.resize(2 * slot_bytes, 0);
    image
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
