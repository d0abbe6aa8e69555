//! [`RedisStore`]: token sets in Redis, shared by every process and host that uses the same
//! server and key prefix (feature `redis`).
//!
//! Layout, for a prefix `P` (default `iop:`) and a seller key `k`:
//! - `P` `token:` `k`: a hash `{fmt: "iop-token-1", v: <version>, data: <JSON record>,
//!   w: <random id of the save that wrote it>}`;
//! - `P` `keys`: a set of every stored seller key (listed with `SSCAN`, never `KEYS`);
//! - `P` `lock:` `k`: the seller's lease, a string holding its owner's random id, set with
//!   `SET NX PX`;
//! - `P` `seen:` `marker`: a handled push message ([`TokenStore::mark_seen`]), set only when
//!   absent and expired by the server.
//!
//! Saves are compare-and-swap in one Lua script on the server: the stored version must be the
//! expected one, whatever happened to the lease. A key holding anything but our hash is never
//! overwritten.
//!
//! **Leases are renewed while held.** A lease lasts [`RedisOptions::lease`] (default 30 s);
//! while a [`KeyLock`] lives, the store's lease keeper (one thread per store, started with the
//! first lock) extends it every third of that. So a refresh that takes longer than the lease
//! (slow gateway, retries) keeps it; a holder that dies (process killed) stops renewing and the
//! lease ends at most one lease later. If a renewal finds the lease gone (the server lost it, a
//! long pause), an error is logged, and the version check of the save still refuses a late
//! writer.
//!
//! **Round trips.** Taking a lease also reads the seller's record in the same script: the
//! holder's next [`TokenStore::load`] of that key (on the thread that took the lock, while it
//! holds it) is answered from that read, as of the moment the lease was taken, unless a save or
//! remove of the key went through this store in between. [`TokenStore::load_many`] reads many
//! keys in one script, and [`TokenStore::save_and_unlock`] saves and releases the lease in one
//! script: a refresh in [`crate::TokenManager::refresh_due`] costs the lease (with the load
//! under it) and the save with the release, plus its share of one read per 32 sellers. A
//! release not done with a save is sent without waiting for its answer (read by the
//! connection's next user).
//!
//! **Durability.** The gateway rotates the refresh token on every refresh: a server that hands
//! back an older token set after a crash costs the seller its authorization. At open the store
//! reads the server's persistence settings (`CONFIG GET append*`): `appendonly yes` with
//! `appendfsync always` is accepted; otherwise a server that has `WAITAOF` (Redis 7.2 or later)
//! and an append-only file is accepted, and each save waits until its write is on disk; anything
//! else (the default snapshots, `appendfsync everysec` without `WAITAOF`, settings this user may
//! not read) is refused, with a message saying what to set, unless the URL has
//! `durability=relaxed` ([`RedisOptions::relaxed_durability`]).
//!
//! **TLS** (`rediss://`): the web PKI roots, the system's, and a CA file (`ca_file=` in the URL,
//! [`RedisOptions::ca_file`], or the `IOP_STORE_CA_FILE` environment variable); certificate
//! checks cannot be turned off.
//!
//! **Proving a save** ([`TokenStore::check_save`]): taking a lease also makes, in the same
//! script, writes that change nothing (`HSETNX` of a field that is there, `SADD` of a member that
//! is there) on the seller's record, so a user the ACL forbids to write it, a read-only replica
//! or a server refusing writes is found out before any refresh.
//!
//! Not for Redis Cluster (the save script touches the token hash and the key set together).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use redis::{ConnectionLike, Script};

use crate::error::Result;
use crate::store::record::{
    check_key, decode_record, encode_record, next_version, store_error_from,
};
use crate::store::tls;
use crate::store::{
    KeyLock, StoredToken, TokenStore, conflict, load_in_one_batch, lock_ignoring_poison,
    store_error,
};
use crate::token::TokenSet;

mod seen;

/// The record format marker in each token hash.
const FORMAT: &str = "iop-token-1";

/// Connections kept idle for reuse, at most.
const MAX_IDLE: usize = 64;

/// Options of a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prefix of every Redis key (default `iop:`): separates several apps on one server.
    pub prefix: String,
    /// Lifetime of a seller's lease (default 30 s). It is renewed every third of that while
    /// held, so it only bounds how long a dead holder blocks the seller.
    pub lease: Duration,
    /// TCP connect timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Read and write timeout of each command (default 10 s).
    pub read_timeout: Duration,
    /// How long [`TokenStore::lock`] waits for a lease held by someone else before failing
    /// (default 5 minutes).
    pub lock_wait: Duration,
    /// How long a save keeps trying while the server cannot be reached (default 10 s): a
    /// refreshed token set whose refresh token the gateway has rotated exists nowhere else.
    pub save_retry: Duration,
    /// For `rediss://` to a server whose certificate a private CA signed: that CA's certificate
    /// (PEM), trusted beside the web PKI roots, the system's and [`Self::ca_file`].
    pub root_certificate_pem: Option<Vec<u8>>,
    /// For `rediss://`: a CA file (PEM) trusted beside the web PKI and system roots. The URL's
    /// `ca_file=` parameter takes precedence; `None` (default): the
    /// [`crate::store::CA_FILE_ENV`] environment variable when it is set.
    pub ca_file: Option<std::path::PathBuf>,
    /// Accept a server whose persistence may lose an acknowledged save in a crash (the URL's
    /// `durability=relaxed` sets it too). Default `false`: see "Durability" in the module
    /// documentation.
    pub relaxed_durability: bool,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "iop:".to_owned(),
            lease: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            lock_wait: Duration::from_secs(300),
            save_retry: Duration::from_secs(10),
            root_certificate_pem: None,
            ca_file: None,
            relaxed_durability: false,
        }
    }
}

/// Token sets in Redis (or Valkey), shared across processes and hosts; see the module docs.
///
/// `Debug` shows the server as `redis://host:port/db`, never its password.
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    endpoint: String,
    /// How a save is made durable.
    durability: Durability,
    options: RedisOptions,
    keys_set: String,
    idle: Mutex<Vec<Pooled>>,
    scripts: Scripts,
    /// The leases held through this store, renewed by the keeper thread.
    leases: Arc<Leases>,
    /// Per key: the record read when its lease was taken, for the holder's next load.
    prefetched: Mutex<HashMap<String, Prefetched>>,
}

/// How the server keeps an acknowledged save across a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// `appendonly yes` with `appendfsync always`: a write is on disk when it is acknowledged.
    Always,
    /// The server has `WAITAOF` (Redis 7.2 or later) and an append-only file: each save waits
    /// until its write is on disk.
    WaitAof,
    /// The user accepted the server as it is (`durability=relaxed`).
    Relaxed,
}

/// An idle connection, with the replies it still owes for commands sent without waiting (lease
/// releases): whoever uses it next reads them first.
struct Pooled {
    con: redis::Connection,
    unread: usize,
}

/// What taking a lease read of the token hash, for the lock holder's next load.
struct Prefetched {
    /// The thread that took the lock: only its loads use this.
    thread: ThreadId,
    /// The lock (its serial number) this was read under.
    serial: u64,
    /// The reply, as the LOAD script gives it.
    reply: Vec<Vec<u8>>,
}

/// The held leases of one store, and its keeper thread's state.
struct Leases {
    table: Mutex<LeaseTable>,
    changed: Condvar,
    /// How often a held lease is renewed: a third of its life.
    period: Duration,
}

#[derive(Default)]
struct LeaseTable {
    /// By lock serial number.
    held: HashMap<u64, HeldLease>,
    next_serial: u64,
    keeper_running: bool,
    /// The store is gone: the keeper ends.
    closed: bool,
}

struct HeldLease {
    lock_key: String,
    owner: String,
    renew_at: Instant,
    /// A save that also releases it is under way: finding it gone is no loss.
    saving: bool,
    /// Taking it proved that the seller's record can be saved ([`TokenStore::check_save`]).
    proven: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock_ignoring_poison(&self.leases.table).closed = true;
        self.leases.changed.notify_all();
    }
}

struct Scripts {
    load: Script,
    load_many: Script,
    save: Script,
    save_release: Script,
    remove: Script,
    acquire: Script,
    check_save: Script,
    renew: Script,
    release: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.inner.endpoint)
            .field("prefix", &self.inner.options.prefix)
            .field("lease", &self.inner.options.lease)
            .finish_non_exhaustive()
    }
}

// KEYS[1] token hash. Returns {type, fmt, v, data}.
const LOAD: &str = r"
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'hash' then return {t} end
local f = redis.call('HMGET', KEYS[1], 'fmt', 'v', 'data')
return {t, f[1] or '', f[2] or '', f[3] or ''}
";

// KEYS: token hashes. Returns what LOAD answers for each, in order.
const LOAD_MANY: &str = r"
local out = {}
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  if t ~= 'hash' then
    out[i] = {t}
  else
    local f = redis.call('HMGET', k, 'fmt', 'v', 'data')
    out[i] = {t, f[1] or '', f[2] or '', f[3] or ''}
  end
end
return out
";

// KEYS[1] token hash, KEYS[2] key set; ARGV: expected version ('' = absent), new version,
// record, seller key, format, writer id (random, one per `save` call).
// Returns {'ok'} | {'conflict', found} | {'foreign', type}.
// A retried save whose first attempt went through finds its own writer id: that is a success.
// Only its own: another writer that saved the same record at the same version (two workers
// that loaded the same version compute the same next one) did not save *this* call's write, and
// this call is refused as stale like any other.
const SAVE_BODY: &str = r"
local function save()
  local t = redis.call('TYPE', KEYS[1])['ok']
  if t == 'none' then
    if ARGV[1] ~= '' then return {'conflict', ''} end
  elseif t ~= 'hash' then
    return {'foreign', t}
  else
    local f = redis.call('HMGET', KEYS[1], 'fmt', 'v', 'w')
    if f[1] ~= ARGV[5] or not f[2] then return {'foreign', 'hash'} end
    if f[2] == ARGV[2] and f[3] == ARGV[6] then return {'ok'} end
    if f[2] ~= ARGV[1] then return {'conflict', f[2]} end
  end
  redis.call('HSET', KEYS[1], 'fmt', ARGV[5], 'v', ARGV[2], 'data', ARGV[3], 'w', ARGV[6])
  redis.call('SADD', KEYS[2], ARGV[4])
  return {'ok'}
end
";

// SAVE_BODY, then, whatever it answered, KEYS[3] (the seller's lease) is deleted when it is
// still ARGV[7]'s: a save and the release of the lease it was done under, in one round trip.
const SAVE_RELEASE_TAIL: &str = r"
local saved = save()
if redis.call('GET', KEYS[3]) == ARGV[7] then redis.call('DEL', KEYS[3]) end
return saved
";

// KEYS[1] token hash, KEYS[2] key set; ARGV: seller key, format.
// Returns {'removed'} | {'absent'} | {'foreign', type}.
const REMOVE: &str = r"
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then
  redis.call('SREM', KEYS[2], ARGV[1])
  return {'absent'}
end
if t ~= 'hash' or redis.call('HGET', KEYS[1], 'fmt') ~= ARGV[2] then return {'foreign', t} end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return {'removed'}
";

// The writes of a save that change nothing when the token hash (KEYS[1] of the caller: `hash`)
// is an iop record and its key is listed (`set`, `member`): refused by the server wherever the
// save would be (an ACL without write on these keys, a read-only replica, a server refusing
// writes after a failed persistence). Returns nil, or the server's error.
const PROVE_SAVE: &str = r"
local function prove_save(hash, set, member, fmt)
  local r = redis.pcall('HSETNX', hash, 'fmt', fmt)
  if type(r) == 'table' and r.err then return r.err end
  r = redis.pcall('SADD', set, member)
  if type(r) == 'table' and r.err then return r.err end
  return nil
end
";

// KEYS[1] lease, KEYS[2] token hash, KEYS[3] key set; ARGV: owner, lease ms, seller key,
// format. {0} when someone else holds the lease. When the token hash is an iop record, first
// PROVE_SAVE: {-1, error} when the server refuses it (no lease is taken, or a lease of this
// owner from an earlier attempt is given back). Else the caller holds the lease (also on a
// retry whose first attempt took it): {1} followed by what LOAD answers for the token hash,
// read under the lease.
const ACQUIRE_BODY: &str = r"
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return {0} end
local t = redis.call('TYPE', KEYS[2])['ok']
if t == 'hash' and redis.call('HGET', KEYS[2], 'fmt') == ARGV[4] then
  local refused = prove_save(KEYS[2], KEYS[3], ARGV[3], ARGV[4])
  if refused then
    if held then redis.pcall('DEL', KEYS[1]) end
    return {-1, refused}
  end
end
if held then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if t ~= 'hash' then return {1, t} end
local f = redis.call('HMGET', KEYS[2], 'fmt', 'v', 'data')
return {1, t, f[1] or '', f[2] or '', f[3] or ''}
";

// KEYS[1] token hash, KEYS[2] key set; ARGV: seller key, format. PROVE_SAVE alone:
// {'ok'} | {'absent'} (no iop record there) | {'refused', error}.
const CHECK_SAVE_BODY: &str = r"
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'hash' or redis.call('HGET', KEYS[1], 'fmt') ~= ARGV[2] then return {'absent'} end
local refused = prove_save(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if refused then return {'refused', refused} end
return {'ok'}
";

// KEYS: leases; ARGV[1]: lease ms, ARGV[1 + i]: the owner of KEYS[i]. For each lease, 1 when
// still its owner's and extended, else 0: every lease due in one round trip (and, on a server
// that syncs each write to disk, one sync).
const RENEW: &str = r"
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[i + 1] then
    redis.call('PEXPIRE', k, ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
";

// KEYS[1] lease; ARGV: owner. Deletes it only when it is still ours.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

impl RedisStore {
    /// Connects to the server of `url` (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://…` for TLS, checked against the web PKI and system roots) with default
    /// [`RedisOptions`].
    ///
    /// Fails within the connect timeout, naming host and port, when the server does not answer
    /// or refuses the credentials.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, RedisOptions::default())
    }

    /// [`Self::open`] with a key prefix.
    pub fn open_with_prefix(url: &str, prefix: &str) -> Result<Self> {
        Self::open_with(
            url,
            RedisOptions {
                prefix: prefix.to_owned(),
                ..RedisOptions::default()
            },
        )
    }

    /// [`Self::open`] with options. The URL's parameters `ca_file=PATH` and
    /// `durability=relaxed` set [`RedisOptions::ca_file`] and
    /// [`RedisOptions::relaxed_durability`]; other parameters go to the Redis client.
    pub fn open_with(url: &str, mut options: RedisOptions) -> Result<Self> {
        let mut parsed = url::Url::parse(url).map_err(|e| {
            store_error(
                "",
                format!(
                    "invalid Redis URL {} ({e}; percent-encode / ? # @ : in the password)",
                    crate::redact::url(url)
                ),
            )
        })?;
        if !matches!(parsed.scheme(), "redis" | "rediss") {
            return Err(store_error(
                "",
                "a Redis URL starts with redis:// or rediss://",
            ));
        }
        let endpoint = redacted_endpoint(&parsed, 6379);
        if parsed.fragment().is_some() {
            return Err(store_error(
                "",
                format!(
                    "{endpoint}: a Redis URL takes no #fragment (certificate checks cannot be \
                     turned off: give the server's CA with ca_file= instead)"
                ),
            ));
        }
        let mut url_ca_file = None;
        let mut kept: Vec<(String, String)> = Vec::new();
        for (name, value) in parsed.query_pairs() {
            match name.as_ref() {
                "ca_file" => url_ca_file = Some(value.into_owned()),
                "durability" => match value.as_ref() {
                    "relaxed" => options.relaxed_durability = true,
                    "strict" => {}
                    other => {
                        return Err(store_error(
                            "",
                            format!(
                                "{endpoint}: durability={other:?} is not an option \
                                 (durability=relaxed, or durability=strict: the default)"
                            ),
                        ));
                    }
                },
                _ => kept.push((name.into_owned(), value.into_owned())),
            }
        }
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(&kept);
        }
        if url_ca_file.is_some() && parsed.scheme() != "rediss" {
            return Err(store_error(
                "",
                format!("{endpoint}: ca_file= is for rediss:// (TLS) only"),
            ));
        }
        if let Some(path) = url_ca_file {
            options.ca_file = Some(path.into());
        }
        if options.lease < Duration::from_millis(30) {
            return Err(store_error("", "the Redis lease must be at least 30 ms"));
        }
        let client = if parsed.scheme() == "rediss" {
            let ca_file = tls::ca_file(options.ca_file.as_deref().and_then(|path| path.to_str()));
            let roots =
                tls::root_certificates(ca_file.as_deref(), options.root_certificate_pem.as_deref())
                    .map_err(|e| store_error("", format!("{endpoint}: {e}")))?;
            redis::Client::build_with_tls(
                parsed.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(tls::to_pem(&roots)),
                },
            )
        } else {
            redis::Client::open(parsed.as_str())
        }
        .map_err(|e| store_error_from("", format!("invalid Redis URL {endpoint}"), e))?;
        let period = options.lease / 3;
        let mut inner = Inner {
            client,
            durability: Durability::Relaxed,
            keys_set: format!("{}keys", options.prefix),
            endpoint,
            options,
            idle: Mutex::new(Vec::new()),
            leases: Arc::new(Leases {
                table: Mutex::default(),
                changed: Condvar::new(),
                period,
            }),
            prefetched: Mutex::new(HashMap::new()),
            scripts: Scripts {
                load: Script::new(LOAD),
                load_many: Script::new(LOAD_MANY),
                save: Script::new(&format!("{SAVE_BODY}\nreturn save()\n")),
                save_release: Script::new(&format!("{SAVE_BODY}{SAVE_RELEASE_TAIL}")),
                remove: Script::new(REMOVE),
                acquire: Script::new(&format!("{PROVE_SAVE}{ACQUIRE_BODY}")),
                check_save: Script::new(&format!("{PROVE_SAVE}{CHECK_SAVE_BODY}")),
                renew: Script::new(RENEW),
                release: Script::new(RELEASE),
            },
        };
        inner.run("", "cannot reach the server", |con| {
            redis::cmd("PING").query::<String>(con)
        })?;
        inner.durability = inner.durability()?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The server, as `redis://host:port/db` (no password).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The options.
    pub fn options(&self) -> &RedisOptions {
        &self.inner.options
    }
}

impl Inner {
    fn token_key(&self, key: &str) -> String {
        format!("{}token:{key}", self.options.prefix)
    }

    fn lock_key(&self, key: &str) -> String {
        format!("{}lock:{key}", self.options.prefix)
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let con = self
            .client
            .get_connection_with_timeout(self.options.connect_timeout)?;
        con.set_read_timeout(Some(self.options.read_timeout))?;
        con.set_write_timeout(Some(self.options.read_timeout))?;
        Ok(con)
    }

    /// Runs `f` on an idle connection (or a new one), mapping a failure to a store error.
    fn run<T>(
        &self,
        key: &str,
        what: &str,
        f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        self.try_run(f)
            .map_err(|failure| self.error(key, what, failure))
    }

    /// Runs `f` on an idle connection (or a new one). A connection that fails is dropped; when a
    /// reused one turns out dead (server restarted), `f` runs once more on a new connection.
    /// `f` must be safe to repeat (every script here is).
    fn try_run<T>(
        &self,
        mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> std::result::Result<T, Failure> {
        let reused = lock_ignoring_poison(&self.idle).pop();
        if let Some(mut con) = reused.and_then(|pooled| self.caught_up(pooled)) {
            match f(&mut con) {
                Ok(value) => {
                    self.give_back(con);
                    return Ok(value);
                }
                Err(e) if is_connection_error(&e) && !e.is_timeout() => {
                    log::debug!("redis {}: dropping a dead connection ({e})", self.endpoint);
                }
                Err(e) => return Err(Failure::Command(e)),
            }
        }
        let mut con = self.connect().map_err(Failure::Connect)?;
        let value = f(&mut con).map_err(Failure::Command)?;
        self.give_back(con);
        Ok(value)
    }

    fn give_back(&self, con: redis::Connection) {
        self.give_back_owing(con, 0);
    }

    fn give_back_owing(&self, con: redis::Connection, unread: usize) {
        let mut idle = lock_ignoring_poison(&self.idle);
        if idle.len() < MAX_IDLE && con.is_open() {
            idle.push(Pooled { con, unread });
        }
    }

    /// Reads the replies a pooled connection still owes; `None` when it turns out dead.
    fn caught_up(&self, mut pooled: Pooled) -> Option<redis::Connection> {
        for _ in 0..pooled.unread {
            match pooled.con.recv_response() {
                Ok(redis::Value::Int(1)) => {}
                Ok(_) => log::warn!(
                    "redis {}: a lease had expired before its release",
                    self.endpoint
                ),
                Err(e) if is_connection_error(&e) => {
                    log::debug!("redis {}: dropping a dead connection ({e})", self.endpoint);
                    return None;
                }
                Err(e) => log::warn!("redis {}: releasing a lease failed: {e}", self.endpoint),
            }
        }
        Some(pooled.con)
    }

    /// Sends the release of a lease without waiting for the answer (read by the connection's
    /// next user): the holder goes on at once, and the server has the release before anything
    /// this connection sends later. `false` when it could not be sent.
    fn send_release(&self, lock_key: &str, owner: &str) -> bool {
        let packed = redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(lock_key)
            .arg(owner)
            .get_packed_command();
        let pooled = lock_ignoring_poison(&self.idle).pop();
        let (mut con, unread) = match pooled {
            Some(pooled) => (pooled.con, pooled.unread),
            None => match self.connect() {
                Ok(con) => (con, 0),
                Err(_) => return false,
            },
        };
        match con.send_packed_command(&packed) {
            Ok(()) => {
                self.give_back_owing(con, unread + 1);
                true
            }
            Err(_) => false,
        }
    }

    fn error(&self, key: &str, what: &str, failure: Failure) -> crate::Error {
        match failure {
            Failure::Connect(e) => store_error_from(
                key,
                format!(
                    "redis {}: cannot connect (within {:?})",
                    self.endpoint, self.options.connect_timeout
                ),
                e,
            ),
            Failure::Command(e) => {
                store_error_from(key, format!("redis {}: {what}", self.endpoint), e)
            }
        }
    }

    /// How this server keeps an acknowledged save across a crash: read from its settings
    /// (`CONFIG GET append*`) and, where it has `WAITAOF`, from that; an error that says what to
    /// set when a save could be lost (unless the user accepted it: `durability=relaxed`).
    fn durability(&self) -> Result<Durability> {
        if self.options.relaxed_durability {
            return Ok(Durability::Relaxed);
        }
        let settings: std::result::Result<HashMap<String, String>, String> = self
            .try_run(|con| {
                redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("append*")
                    .query::<HashMap<String, String>>(con)
            })
            .map_err(|failure| match failure {
                Failure::Connect(e) | Failure::Command(e) => e.to_string(),
            });
        let setting = |name: &str| {
            settings
                .as_ref()
                .ok()
                .and_then(|all| all.get(name))
                .map(|value| value.to_ascii_lowercase())
        };
        let (appendonly, appendfsync) = (setting("appendonly"), setting("appendfsync"));
        if appendonly.as_deref() == Some("yes") && appendfsync.as_deref() == Some("always") {
            return Ok(Durability::Always);
        }
        // WAITAOF 1 0: this connection's writes (none yet) are in the local append-only file.
        // Refused before Redis 7.2 (unknown command) and without an append-only file.
        let waitaof = self.try_run(|con| {
            redis::cmd("WAITAOF")
                .arg(1)
                .arg(0)
                .arg(100)
                .query::<Vec<i64>>(con)
        });
        if matches!(waitaof.as_deref(), Ok([local, ..]) if *local >= 1) {
            return Ok(Durability::WaitAof);
        }
        let fix = "set appendonly yes and appendfsync always on the server (redis.conf, or \
                   CONFIG SET appendonly yes and CONFIG SET appendfsync always), or accept the \
                   risk with durability=relaxed in the URL";
        let why = match (&settings, appendonly.as_deref(), appendfsync.as_deref()) {
            (Err(error), _, _) => format!(
                "its persistence settings cannot be read (CONFIG GET append*: {error}) and it \
                 has no WAITAOF, so an acknowledged save may not survive a crash"
            ),
            (Ok(_), Some("yes"), Some(fsync)) => format!(
                "appendfsync is {fsync} and the server has no WAITAOF (Redis 7.2 or later): a \
                 crash can lose saves acknowledged in the last second, whose refresh tokens the \
                 gateway has already rotated"
            ),
            (Ok(_), _, _) => "appendonly is not yes: a restart hands back the last snapshot's \
                              token sets, whose refresh tokens the gateway has already rotated"
                .to_owned(),
        };
        Err(store_error(
            "",
            format!(
                "redis {}: refusing a server that may lose saved tokens: {why}; {fix}",
                self.endpoint
            ),
        ))
    }

    /// The error of a server that refuses the writes of a save of `key` (`why`: its words).
    fn cannot_save(&self, key: &str, why: Option<String>) -> crate::Error {
        store_error(
            key,
            format!(
                "redis {}: the server refuses to write {} ({}), so a refresh (which rotates the \
                 refresh token) is not attempted",
                self.endpoint,
                self.token_key(key),
                why.as_deref().unwrap_or("no reason given")
            ),
        )
    }

    /// Forgets what a lease read of `key` (a write of `key` went through this store).
    fn forget_prefetched(&self, key: &str) {
        lock_ignoring_poison(&self.prefetched).remove(key);
    }

    /// The record read under this thread's lease of `key`, once.
    fn take_prefetched(&self, key: &str) -> Option<Vec<Vec<u8>>> {
        let mut prefetched = lock_ignoring_poison(&self.prefetched);
        match prefetched.get(key) {
            Some(entry) if entry.thread == std::thread::current().id() => {
                prefetched.remove(key).map(|entry| entry.reply)
            }
            _ => None,
        }
    }

    /// Extends the leases `due` (serial, lease key, owner) in one script: for each, whether it
    /// was still its owner's.
    fn renew(&self, due: &[(u64, String, String)]) -> Result<Vec<bool>> {
        let ms = lease_ms(self.options.lease);
        let held: Vec<i64> = self.run("", "cannot renew the leases", |con| {
            let mut invocation = self.scripts.renew.prepare_invoke();
            invocation.arg(ms);
            for (_, lock_key, owner) in due {
                invocation.key(lock_key).arg(owner);
            }
            invocation.invoke(con)
        })?;
        Ok(held.into_iter().map(|held| held == 1).collect())
    }
}

/// Why [`Inner::try_run`] failed.
enum Failure {
    /// No connection could be made.
    Connect(redis::RedisError),
    /// The command failed.
    Command(redis::RedisError),
}

impl Failure {
    /// Whether the server could not be reached (worth trying again later).
    fn is_unreachable(&self) -> bool {
        match self {
            Self::Connect(_) => true,
            // A server that is back but still loading its data answers LOADING.
            Self::Command(e) => is_connection_error(e) || e.code() == Some("LOADING"),
        }
    }
}

fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal()
}

fn lease_ms(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX)
}

/// What a LOAD reply (`{type, fmt, v, data}`) for `key`, stored at `token_key`, holds.
fn parse_loaded(key: &str, token_key: &str, reply: &[Vec<u8>]) -> Result<Option<StoredToken>> {
    let text = |i: usize| {
        reply
            .get(i)
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default()
    };
    match text(0).as_str() {
        "none" => return Ok(None),
        "hash" => {}
        other => {
            return Err(store_error(
                key,
                format!(
                    "{token_key} holds a Redis {other}, not an iop token record; it is left \
                     as it is"
                ),
            ));
        }
    }
    if text(1) != FORMAT {
        return Err(store_error(
            key,
            format!("{token_key} is not an iop token record; it is left as it is"),
        ));
    }
    let version = parse_version(key, &text(2))?;
    let data = reply.get(3).map(Vec::as_slice).unwrap_or_default();
    let token = decode_record(key, token_key, data)?;
    Ok(Some(StoredToken { token, version }))
}

/// The text of a script's reply value (empty for anything but a string).
fn value_text(value: &redis::Value) -> String {
    match value {
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        redis::Value::SimpleString(text) => text.clone(),
        redis::Value::Okay => "OK".to_owned(),
        redis::Value::ServerError(error) => error.to_string(),
        _ => String::new(),
    }
}

/// Parses a version as the scripts return it.
fn parse_version(key: &str, text: &str) -> Result<u64> {
    text.parse::<u64>().map_err(|_| {
        store_error(
            key,
            "the stored version is not a number; it is left as it is",
        )
    })
}

/// The lease of one seller of a [`RedisStore`]: renewed by the store's keeper while held,
/// released (only if still ours) on drop.
struct RedisKeyLock {
    inner: Arc<Inner>,
    key: String,
    lock_key: String,
    owner: String,
    serial: u64,
}

impl KeyLock for RedisKeyLock {
    fn serial(&self) -> u64 {
        self.serial
    }
}

impl Drop for RedisKeyLock {
    fn drop(&mut self) {
        let inner = &self.inner;
        {
            let mut prefetched = lock_ignoring_poison(&inner.prefetched);
            if prefetched
                .get(&self.key)
                .is_some_and(|entry| entry.serial == self.serial)
            {
                prefetched.remove(&self.key);
            }
        }
        // No renewal starts after this (one under way finds the lease released, and knows).
        let held = lock_ignoring_poison(&inner.leases.table)
            .held
            .remove(&self.serial)
            .is_some();
        // Not held: released with a save (`save_and_unlock`), or lost (the keeper said so).
        if !held || inner.send_release(&self.lock_key, &self.owner) {
            return;
        }
        let released = inner.run(&self.lock_key, "cannot release the lease", |con| {
            inner
                .scripts
                .release
                .key(&self.lock_key)
                .arg(&self.owner)
                .invoke::<i64>(con)
        });
        match released {
            Ok(1) => {}
            Ok(_) => log::warn!(
                "redis {}: the lease {} had expired before its release",
                inner.endpoint,
                self.lock_key
            ),
            Err(error) => log::warn!("{error}; it ends when it expires"),
        }
    }
}

/// `scheme://host:port/path` of a URL, built from its parts: without user, password, query or
/// fragment. What messages and `Debug` show of the server.
fn redacted_endpoint(url: &url::Url, default_port: u16) -> String {
    let host = url.host_str().unwrap_or("localhost");
    let port = url.port().unwrap_or(default_port);
    let path = url.path().trim_end_matches('/');
    crate::redact::url(&format!("{}://{host}:{port}{path}", url.scheme()))
}

fn random_owner() -> String {
    unique_id()
}

/// An id no other lease owner or save uses: random, with this process's id and a count that
/// never repeats within the process (so that even two calls drawing the same random numbers
/// differ).
fn unique_id() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}{:016x}-{}-{}",
        fastrand::u64(..),
        fastrand::u64(..),
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

impl TokenStore for RedisStore {
    fn load(&self, key: &str) -> Result<Option<StoredToken>> {
        check_key(key)?;
        let inner = &self.inner;
        let token_key = inner.token_key(key);
        let reply: Vec<Vec<u8>> = match inner.take_prefetched(key) {
            Some(reply) => reply,
            None => inner.run(key, "cannot load", |con| {
                inner.scripts.load.key(&token_key).invoke(con)
            })?,
        };
        parse_loaded(key, &token_key, &reply)
    }

    /// One script for all of `keys` (the prefetched record of a key this thread holds the
    /// lease of is used as [`Self::load`] would).
    fn load_many(&self, keys: &[String]) -> Vec<Result<Option<StoredToken>>> {
        let inner = &self.inner;
        let known = |key: &str| match check_key(key) {
            Err(error) => Some(Err(error)),
            Ok(()) => inner
                .take_prefetched(key)
                .map(|reply| parse_loaded(key, &inner.token_key(key), &reply)),
        };
        load_in_one_batch(keys, known, |asked| {
            let token_keys: Vec<String> = asked.iter().map(|key| inner.token_key(key)).collect();
            let replies: Vec<Vec<Vec<u8>>> = inner.run("", "cannot load", |con| {
                let mut invocation = inner.scripts.load_many.prepare_invoke();
                for token_key in &token_keys {
                    invocation.key(token_key);
                }
                invocation.invoke(con)
            })?;
            Ok(asked
                .iter()
                .zip(&token_keys)
                .zip(replies)
                .map(|((key, token_key), reply)| parse_loaded(key, token_key, &reply))
                .collect())
        })
    }

    fn save(&self, key: &str, token: &TokenSet, expected_version: Option<u64>) -> Result<u64> {
        let reply = self.run_save(key, token, expected_version, None)?;
        self.saved(key, expected_version, reply)
    }

    /// Saves and releases the lease in one script when `lock` is a lease of this store held
    /// for `key`.
    fn save_and_unlock<'a>(
        &'a self,
        key: &str,
        token: &TokenSet,
        expected_version: Option<u64>,
        lock: Box<dyn KeyLock + 'a>,
    ) -> Result<u64> {
        let inner = &self.inner;
        let lock_key = inner.lock_key(key);
        let serial = lock.serial();
        let owner = lock_ignoring_poison(&inner.leases.table)
            .held
            .get_mut(&serial)
            .filter(|lease| lease.lock_key == lock_key)
            .map(|lease| {
                lease.saving = true;
                lease.owner.clone()
            });
        let Some(owner) = owner else {
            let saved = self.save(key, token, expected_version);
            drop(lock);
            return saved;
        };
        let reply = self.run_save(key, token, expected_version, Some((&lock_key, &owner)));
        {
            let mut table = lock_ignoring_poison(&inner.leases.table);
            if reply.is_ok() {
                // The script ran, and released the lease: the lock's drop has nothing to do.
                table.held.remove(&serial);
            } else if let Some(lease) = table.held.get_mut(&serial) {
                // It did not run: the lease is still ours, released by the lock's drop.
                lease.saving = false;
            }
        }
        drop(lock);
        self.saved(key, expected_version, reply?)
    }

    fn keys(&self) -> Result<Vec<String>> {
        let inner = &self.inner;
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) =
                inner.run("", "cannot list the keys", |con| {
                    redis::cmd("SSCAN")
                        .arg(&inner.keys_set)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(1000)
                        .query(con)
                })?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    fn lock(&self, key: &str) -> Result<Box<dyn KeyLock + '_>> {
        self.acquire(key, true)?
            .ok_or_else(|| store_error(key, "the lease was not taken"))
    }

    /// Taking the lease proved it (writes that change nothing, in the same script) when the
    /// record was there; otherwise (a lock of another store, a record saved since) the same
    /// writes now, in one script.
    fn check_save(&self, key: &str, stored: &StoredToken, lock: &dyn KeyLock) -> Result<u64> {
        check_key(key)?;
        let inner = &self.inner;
        let lock_key = inner.lock_key(key);
        let proven = lock_ignoring_poison(&inner.leases.table)
            .held
            .get(&lock.serial())
            .is_some_and(|lease| lease.lock_key == lock_key && lease.proven);
        if proven {
            return Ok(stored.version);
        }
        let token_key = inner.token_key(key);
        let reply: Vec<redis::Value> = inner.run(key, "cannot check the save", |con| {
            inner
                .scripts
                .check_save
                .key(&token_key)
                .key(&inner.keys_set)
                .arg(key)
                .arg(FORMAT)
                .invoke(con)
        })?;
        match reply.first().map(value_text).as_deref() {
            Some("ok") => Ok(stored.version),
            Some("refused") => Err(inner.cannot_save(key, reply.get(1).map(value_text))),
            _ => Err(conflict(key, Some(stored.version), None)),
        }
    }

    /// One attempt at the lease.
    fn try_lock(&self, key: &str) -> Result<Option<Box<dyn KeyLock + '_>>> {
        self.acquire(key, false)
    }

    /// `SET P seen:marker … NX PX ttl` (see the `seen` module).
    fn mark_seen(&self, marker: &str, ttl: Duration) -> Result<bool> {
        self.mark_seen_on_server(marker, ttl)
    }

    /// Removes the token hash and the key from the key set; refuses a key holding anything but
    /// an iop token record.
    fn remove(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        let inner = &self.inner;
        let token_key = inner.token_key(key);
        inner.forget_prefetched(key);
        let reply: Vec<String> = inner.run(key, "cannot remove", |con| {
            inner
                .scripts
                .remove
                .key(&token_key)
                .key(&inner.keys_set)
                .arg(key)
                .arg(FORMAT)
                .invoke(con)
        })?;
        match reply.first().map(String::as_str) {
            Some("removed") => Ok(true),
            Some("absent") => Ok(false),
            _ => Err(store_error(
                key,
                format!("{token_key} is not an iop token record; it is not removed"),
            )),
        }
    }
}

impl RedisStore {
    /// Takes the lease of `key`: waiting up to `lock_wait` for it, or with `wait` false one
    /// attempt (`None`: someone else holds it).
    fn acquire(&self, key: &str, wait: bool) -> Result<Option<Box<dyn KeyLock + '_>>> {
        check_key(key)?;
        let inner = &self.inner;
        let lock_key = inner.lock_key(key);
        let token_key = inner.token_key(key);
        let owner = random_owner();
        let ms = lease_ms(inner.options.lease);
        let started = Instant::now();
        let mut pause = Duration::from_millis(2);
        let reply = loop {
            let reply: Vec<redis::Value> = inner.run(key, "cannot take the lease", |con| {
                inner
                    .scripts
                    .acquire
                    .key(&lock_key)
                    .key(&token_key)
                    .key(&inner.keys_set)
                    .arg(&owner)
                    .arg(ms)
                    .arg(key)
                    .arg(FORMAT)
                    .invoke(con)
            })?;
            match reply.first() {
                Some(redis::Value::Int(1)) => break reply,
                Some(redis::Value::Int(-1)) => {
                    return Err(inner.cannot_save(key, reply.get(1).map(value_text)));
                }
                _ => {}
            }
            if !wait {
                return Ok(None);
            }
            if started.elapsed() >= inner.options.lock_wait {
                return Err(store_error(
                    key,
                    format!(
                        "timed out after {:?} waiting for the lease {lock_key} (another worker \
                         holds it)",
                        inner.options.lock_wait
                    ),
                ));
            }
            let jitter = Duration::from_micros(fastrand::u64(0..=pause.as_micros() as u64 / 2));
            std::thread::sleep(pause + jitter);
            pause = (pause * 2).min(Duration::from_millis(50));
        };
        // The script proved the save when the record it read is ours.
        let proven = matches!(
            (reply.get(1), reply.get(2)),
            (Some(t), Some(f)) if value_text(t) == "hash" && value_text(f) == FORMAT
        );
        let serial = match self.keep_renewed(&lock_key, &owner, proven) {
            Ok(serial) => serial,
            Err(error) => {
                let _ = inner.run(key, "cannot release the lease", |con| {
                    inner
                        .scripts
                        .release
                        .key(&lock_key)
                        .arg(&owner)
                        .invoke::<i64>(con)
                });
                return Err(error);
            }
        };
        // What the script read under the lease: the answer to the holder's next load.
        let read: Option<Vec<Vec<u8>>> = reply[1..]
            .iter()
            .map(|value| match value {
                redis::Value::BulkString(bytes) => Some(bytes.clone()),
                redis::Value::SimpleString(text) => Some(text.clone().into_bytes()),
                redis::Value::Okay => Some(b"OK".to_vec()),
                _ => None,
            })
            .collect();
        if let Some(read) = read.filter(|read| !read.is_empty()) {
            lock_ignoring_poison(&inner.prefetched).insert(
                key.to_owned(),
                Prefetched {
                    thread: std::thread::current().id(),
                    serial,
                    reply: read,
                },
            );
        }
        Ok(Some(Box::new(RedisKeyLock {
            inner: Arc::clone(&self.inner),
            key: key.to_owned(),
            lock_key,
            owner,
            serial,
        })))
    }

    /// Runs the save script (with the release of `release`'s lease, `(lease key, owner)`, when
    /// given): its reply and the version it wrote, or the error when it could not run.
    fn run_save(
        &self,
        key: &str,
        token: &TokenSet,
        expected_version: Option<u64>,
        release: Option<(&str, &str)>,
    ) -> Result<(Vec<String>, u64)> {
        check_key(key)?;
        let inner = &self.inner;
        let token_key = inner.token_key(key);
        let record = encode_record(key, token)?;
        inner.forget_prefetched(key);
        let version = next_version(expected_version);
        let expected = expected_version.map(|v| v.to_string()).unwrap_or_default();
        // Names this call's write, so that a retry recognizes it and nothing else.
        let writer = unique_id();
        // A refreshed token set must not be lost to a short outage: while the server cannot be
        // reached, keep trying for `save_retry` (the script is safe to repeat).
        let started = Instant::now();
        // Below the read timeout, so that the server answers before the client gives up.
        let wait_ms = lease_ms(inner.options.read_timeout) * 4 / 5;
        let reply: Vec<String> = loop {
            let attempt = inner.try_run(|con| {
                let script = match release {
                    Some(_) => &inner.scripts.save_release,
                    None => &inner.scripts.save,
                };
                let mut invocation = script.key(&token_key);
                invocation
                    .key(&inner.keys_set)
                    .arg(&expected)
                    .arg(version)
                    .arg(&record)
                    .arg(key)
                    .arg(FORMAT)
                    .arg(&writer);
                if let Some((lock_key, owner)) = release {
                    invocation.key(lock_key).arg(owner);
                }
                let reply: Vec<String> = invocation.invoke(con)?;
                // A server without `appendfsync always`: the save is acknowledged once its
                // write is in the append-only file on disk.
                let on_disk = inner.durability != Durability::WaitAof
                    || reply.first().map(String::as_str) != Some("ok")
                    || redis::cmd("WAITAOF")
                        .arg(1)
                        .arg(0)
                        .arg(wait_ms)
                        .query::<Vec<i64>>(con)?
                        .first()
                        .is_some_and(|local| *local >= 1);
                Ok((reply, on_disk))
            });
            match attempt {
                Ok((_, false)) => {
                    return Err(store_error(
                        key,
                        format!(
                            "redis {}: the save was not confirmed on disk within {wait_ms} ms \
                             (WAITAOF); the server may still hold it",
                            inner.endpoint
                        ),
                    ));
                }
                Ok((reply, true)) => break reply,
                Err(failure)
                    if failure.is_unreachable() && started.elapsed() < inner.options.save_retry =>
                {
                    log::warn!(
                        "redis {}: cannot save the token of {key} yet; retrying",
                        inner.endpoint
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(failure) => return Err(inner.error(key, "cannot save", failure)),
            }
        };
        Ok((reply, version))
    }

    /// What the save script's reply means.
    fn saved(
        &self,
        key: &str,
        expected_version: Option<u64>,
        (reply, version): (Vec<String>, u64),
    ) -> Result<u64> {
        let token_key = self.inner.token_key(key);
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(version),
            Some("conflict") => {
                let found = match reply.get(1).map(String::as_str) {
                    None | Some("") => None,
                    Some(text) => Some(parse_version(key, text)?),
                };
                Err(conflict(key, expected_version, found))
            }
            Some("foreign") => Err(store_error(
                key,
                format!(
                    "{token_key} holds a Redis {}, not an iop token record; it is not \
                     overwritten",
                    reply.get(1).map_or("value", String::as_str)
                ),
            )),
            _ => Err(store_error(key, "unexpected reply of the save script")),
        }
    }

    /// Registers a lease taken now with the keeper (started on first use); its serial number.
    fn keep_renewed(&self, lock_key: &str, owner: &str, proven: bool) -> Result<u64> {
        let inner = &self.inner;
        let mut table = lock_ignoring_poison(&inner.leases.table);
        if !table.keeper_running {
            let leases = Arc::clone(&inner.leases);
            let weak = Arc::downgrade(&self.inner);
            std::thread::Builder::new()
                .name("iop-redis-leases".to_owned())
                .spawn(move || keep_leases(&leases, &weak))
                .map_err(|e| {
                    store_error(
                        lock_key,
                        format!("cannot start the lease renewal thread: {e}"),
                    )
                })?;
            table.keeper_running = true;
        }
        table.next_serial += 1;
        let serial = table.next_serial;
        // The keeper waits for the earliest renewal; only an empty table has it waiting for
        // nothing (a new lease is never due before the ones already held).
        let was_empty = table.held.is_empty();
        table.held.insert(
            serial,
            HeldLease {
                lock_key: lock_key.to_owned(),
                owner: owner.to_owned(),
                renew_at: Instant::now() + inner.leases.period,
                saving: false,
                proven,
            },
        );
        if was_empty {
            inner.leases.changed.notify_all();
        }
        Ok(serial)
    }
}

/// The keeper thread of a store: extends every held lease every third of its life, until the
/// store is gone.
fn keep_leases(leases: &Leases, store: &Weak<Inner>) {
    loop {
        let due: Vec<(u64, String, String)> = {
            let mut table = lock_ignoring_poison(&leases.table);
            loop {
                if table.closed {
                    return;
                }
                let now = Instant::now();
                match table.held.values().map(|lease| lease.renew_at).min() {
                    None => {
                        table = leases
                            .changed
                            .wait(table)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                    Some(at) if at > now => {
                        table = leases
                            .changed
                            .wait_timeout(table, at - now)
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .0;
                    }
                    Some(_) => break,
                }
            }
            let now = Instant::now();
            let period = leases.period;
            table
                .held
                .iter_mut()
                .filter(|(_, lease)| lease.renew_at <= now)
                .map(|(serial, lease)| {
                    lease.renew_at = now + period;
                    (*serial, lease.lock_key.clone(), lease.owner.clone())
                })
                .collect()
        };
        let Some(inner) = store.upgrade() else { return };
        let renewed = match inner.renew(&due) {
            Ok(renewed) => renewed,
            Err(error) => {
                log::warn!("{error}; retrying");
                continue;
            }
        };
        for ((serial, lock_key, _), still_held) in due.iter().zip(renewed) {
            if still_held {
                continue;
            }
            // Released meanwhile (not held any more, or by a save under way): nothing lost.
            let lost = lock_ignoring_poison(&leases.table)
                .held
                .remove(serial)
                .is_some_and(|lease| !lease.saving);
            if lost {
                log::error!(
                    "redis {}: the lease {lock_key} was lost while held; the version check \
                     still refuses a stale save",
                    inner.endpoint
                );
            }
        }
    }
}
