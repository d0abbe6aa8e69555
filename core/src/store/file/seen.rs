//! Push markers of a [`FileStore`] ([`crate::TokenStore::mark_seen`]), apart from the token
//! files: the directory `.seen` holds one file per marker, named by the SHA-256 of the marker
//! and holding its expiry (epoch milliseconds). A marker is recorded by creating its file with
//! `O_EXCL`, so that of several processes recording one marker exactly one succeeds. An expired
//! marker is replaced (and expired ones are swept, now and then) holding the OS lock of
//! `.seen/.lock`, so that two processes never both replace it.
//!
//! Markers are not synced to disk: a crash may forget one, and a message delivered again after
//! it is then acted on again (a refresh still happens only when the token is due).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::FileStore;
use crate::error::Result;
use crate::store::seen::{MAX_MARKER_TTL, bounded_ttl, check_marker};
use crate::store::{io_error, store_error};
use crate::time::epoch_ms;

/// The directory of the markers, inside the store's directory.
const SEEN_DIR: &str = ".seen";

/// The lock file that orders replacements and sweeps of expired markers.
const SEEN_LOCK: &str = ".lock";

/// One call in this many that records a marker also sweeps the expired ones.
const SWEEP_ONE_IN: u32 = 64;

/// What a marker file says.
enum Marker {
    /// Absent (swept or replaced meanwhile).
    Absent,
    /// Its record lives.
    Live,
    /// Its record has expired.
    Expired,
}

impl FileStore {
    /// [`crate::TokenStore::mark_seen`] for this directory (see the module docs).
    pub(super) fn mark_seen_in_dir(&self, marker: &str, ttl: Duration) -> Result<bool> {
        check_marker(marker)?;
        let dir = self.seen_dir()?;
        let name = marker_file_name(marker);
        let now = epoch_ms(SystemTime::now());
        let ttl_ms = i64::try_from(bounded_ttl(ttl).as_millis()).unwrap_or(i64::MAX);
        let expiry = now.saturating_add(ttl_ms);
        if self.create_marker(&dir, &name, expiry)? {
            if fastrand::u32(..SWEEP_ONE_IN) == 0 {
                self.sweep_markers(&dir, now);
            }
            return Ok(true);
        }
        if let Marker::Live = self.read_marker(&dir, &name, now)? {
            return Ok(false);
        }
        // Expired (or just swept): replace it, one process at a time.
        self.with_seen_lock(&dir, || {
            if let Marker::Live = self.read_marker(&dir, &name, now)? {
                return Ok(false);
            }
            match rustix::fs::unlinkat(&dir, &name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => {
                    return Err(io_error(
                        "",
                        "cannot remove an expired push marker",
                        e.into(),
                    ));
                }
            }
            self.create_marker(&dir, &name, expiry)
        })
    }

    /// The markers' directory, created (mode 0700) when missing; never a link.
    fn seen_dir(&self) -> Result<OwnedFd> {
        match rustix::fs::mkdirat(&self.dir_fd, SEEN_DIR, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => {
                return Err(io_error(
                    "",
                    "cannot create the push marker directory",
                    e.into(),
                ));
            }
        }
        rustix::fs::openat(
            &self.dir_fd,
            SEEN_DIR,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            store_error(
                "",
                format!(
                    "cannot open the push marker directory {} ({e}); it must be a directory, \
                     not a link",
                    self.dir.join(SEEN_DIR).display()
                ),
            )
        })
    }

    /// Creates the marker file `name` holding `expiry`: `false` when it exists.
    fn create_marker(&self, dir: &OwnedFd, name: &str, expiry: i64) -> Result<bool> {
        let flags = OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::EXCL
            | OFlags::NOFOLLOW
            | OFlags::CLOEXEC
            | OFlags::NOCTTY;
        let fd = match rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => return Ok(false),
            Err(e) => return Err(io_error("", "cannot create a push marker", e.into())),
        };
        // Readers that find it empty (this write not done yet) count it as live.
        File::from(fd)
            .write_all(expiry.to_string().as_bytes())
            .map_err(|e| io_error("", "cannot write a push marker", e))?;
        Ok(true)
    }

    /// What the marker file `name` says at `now`.
    fn read_marker(&self, dir: &OwnedFd, name: &str, now: i64) -> Result<Marker> {
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(Marker::Absent),
            Err(e) => return Err(io_error("", "cannot open a push marker", e.into())),
        };
        let stat = rustix::fs::fstat(&fd)
            .map_err(|e| io_error("", "cannot inspect a push marker", e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(store_error(
                "",
                format!(
                    "the push marker {} is not a regular file",
                    self.dir.join(SEEN_DIR).join(name).display()
                ),
            ));
        }
        let mut text = String::new();
        let read = File::from(fd).take(32).read_to_string(&mut text);
        let expiry = match read {
            Ok(_) => text.trim().parse::<i64>().ok(),
            Err(_) => None,
        };
        // No readable expiry: a marker being written now, or whose writer was killed; it counts
        // for the longest marker life from when it was made.
        let expiry = expiry.unwrap_or_else(|| {
            let ttl_ms = i64::try_from(MAX_MARKER_TTL.as_millis()).unwrap_or(i64::MAX);
            stat.st_mtime.saturating_mul(1000).saturating_add(ttl_ms)
        });
        Ok(if expiry > now {
            Marker::Live
        } else {
            Marker::Expired
        })
    }

    /// Runs `f` holding the OS lock of `.seen/.lock` (exclusive between threads and processes).
    fn with_seen_lock<T>(&self, dir: &OwnedFd, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let flags = OFlags::RDWR
            | OFlags::CREATE
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::CLOEXEC
            | OFlags::NOCTTY;
        let fd = rustix::fs::openat(dir, SEEN_LOCK, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| io_error("", "cannot open the push marker lock", e.into()))?;
        let file = File::from(fd);
        file.lock()
            .map_err(|e| io_error("", "cannot lock the push markers", e))?;
        let result = f();
        let _ = file.unlock();
        result
    }

    /// Best effort: removes the markers expired at `now`.
    fn sweep_markers(&self, dir: &OwnedFd, now: i64) {
        let Ok(entries) = Dir::read_from(dir) else {
            return;
        };
        let names: Vec<String> = entries
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| entry.file_name().to_str().ok().map(str::to_owned))
            .filter(|name| is_marker_file_name(name))
            .collect();
        let _ = self.with_seen_lock(dir, || {
            for name in names {
                if let Ok(Marker::Expired) = self.read_marker(dir, &name, now) {
                    let _ = rustix::fs::unlinkat(dir, &name, AtFlags::empty());
                }
            }
            Ok(())
        });
    }
}

/// The file name of a marker: its SHA-256 in lowercase hex.
fn marker_file_name(marker: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(marker.as_bytes()))
}

fn is_marker_file_name(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
