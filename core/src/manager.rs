//! The token lifecycle: valid access tokens on demand, one refresh per seller at a time across
//! threads and processes, and early warning of sellers who must authorize again.
//!
//! ```no_run
//! use std::sync::Arc;
//! use iop_core::{AppSecret, Client, FileStore, Gateway, TokenManager};
//!
//! # fn main() -> iop_core::Result<()> {
//! let client = Arc::new(
//!     Client::builder("app-key", AppSecret::new("app-secret"), Gateway::aliexpress()).build()?,
//! );
//! let store = Arc::new(FileStore::open("/var/lib/my-app/tokens")?);
//! let manager = TokenManager::new(client, store)
//!     .on_reauthorization_required(|key, why| log::warn!("seller {key} must authorize again: {why}"));
//! let token = manager.access_token("seller-42")?; // refreshed first when it expires within 3 days
//! # let _ = token;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use crate::client::Client;
use crate::error::{Error, ErrorClass, GatewayError, Result};
use crate::secret::{AccessToken, constant_time_eq};
use crate::store::{KeyLock, StoredToken, TokenStore, lock_ignoring_poison};
use crate::token::TokenSet;
use serde_json::Value;

/// The default refresh margin and `refresh_due` window: 3 days.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(3 * 24 * 3600);

/// The field of a stored token set that names the app it belongs to:
/// `{"app_key": "…", "gateway": "https://…"}` (the gateway of token calls, see
/// [`crate::Gateway::token_gateway`]). Written by [`TokenManager`] on every save, checked on every
/// load, and removed from the token sets it hands out.
pub const APP_BINDING_FIELD: &str = "_iop_app";

/// The longest token life a refresh answer may announce (`expires_in`, `refresh_expires_in`):
/// 10 years. Anything longer (or a life of zero or less) is a failed refresh.
pub const MAX_TOKEN_LIFE: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The default number of refreshes [`TokenManager::refresh_due`] runs at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Options of [`TokenManager::refresh_due`].
pub struct RefreshDueOptions {
    /// Refresh tokens expiring within this window of now.
    pub within: Duration,
    /// Refreshes in flight at once (default 8).
    pub concurrency: usize,
    /// Called after each key is handled: (done, total).
    pub progress: Option<Box<dyn Fn(usize, usize) + Send + Sync>>,
}

impl Default for RefreshDueOptions {
    /// Within 3 days, 8 at once, no progress callback.
    fn default() -> Self {
        Self {
            within: DEFAULT_MARGIN,
            concurrency: DEFAULT_CONCURRENCY,
            progress: None,
        }
    }
}

impl std::fmt::Debug for RefreshDueOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshDueOptions")
            .field("within", &self.within)
            .field("concurrency", &self.concurrency)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl RefreshDueOptions {
    /// Tokens expiring within `within`, with the default concurrency.
    pub fn new(within: Duration) -> Self {
        Self {
            within,
            ..Self::default()
        }
    }

    /// Refreshes in flight at once (at least 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Called after each key is handled, from the worker threads: (done, total).
    pub fn progress(mut self, progress: impl Fn(usize, usize) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }
}

/// What [`TokenManager::refresh_due`] did.
#[derive(Debug, Clone, Default)]
pub struct RefreshReport {
    /// Keys refreshed.
    pub refreshed: Vec<String>,
    /// Keys not due.
    pub skipped: Vec<String>,
    /// Keys that failed, with the error class and message (no secret).
    pub failed: Vec<(String, crate::error::ErrorClass, String)>,
    /// Keys whose seller must authorize again, with the time left before the access token dies
    /// (`None`: already dead).
    pub reauthorization_required: Vec<(String, Option<Duration>)>,
}

impl RefreshReport {
    /// How many keys failed, per error class.
    pub fn failed_by_class(&self) -> HashMap<ErrorClass, usize> {
        let mut counts = HashMap::new();
        for (_, class, _) in &self.failed {
            *counts.entry(*class).or_insert(0) += 1;
        }
        counts
    }

    /// Keys handled in all.
    pub fn total(&self) -> usize {
        self.refreshed.len()
            + self.skipped.len()
            + self.failed.len()
            + self.reauthorization_required.len()
    }
}

type ReauthorizationCallback = Arc<dyn Fn(&str, &Error) + Send + Sync>;

/// What [`TokenManager::handle_push`] did with a push message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PushOutcome {
    /// Type 8 (authorization expires within 48 h): the seller's token was due (past half of
    /// its life, or within the margin) and was refreshed now.
    Refreshed,
    /// Type 8 for a token that is not due (neither past half of its life nor within the
    /// margin): nothing was sent to the gateway.
    NotDue,
    /// The seller must authorize the app again: a type 8 whose due token cannot be refreshed,
    /// or a type 13 `close`. The reauthorization callback fired (once per stored token set).
    ReauthorizationRequired,
    /// The same message (the same [`crate::push::Message::dedup_key`]) was handled already
    /// within the window, here or by another manager sharing the store: nothing was done.
    Duplicate,
    /// Refused: the message's timestamp is missing or further from now than the push window
    /// (an old message replayed); nothing was done.
    Stale,
    /// Nothing for the token lifecycle: another message type, or a seller this store does not
    /// hold.
    Ignored,
}

impl PushOutcome {
    /// Every outcome, in the order of their C numbers (`iop_push_outcome`).
    pub const ALL: [Self; 6] = [
        Self::Ignored,
        Self::Refreshed,
        Self::NotDue,
        Self::ReauthorizationRequired,
        Self::Duplicate,
        Self::Stale,
    ];

    /// `"refreshed"`, `"not_due"`, `"reauthorization_required"`, `"duplicate"`, `"stale"` or
    /// `"ignored"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refreshed => "refreshed",
            Self::NotDue => "not_due",
            Self::ReauthorizationRequired => "reauthorization_required",
            Self::Duplicate => "duplicate",
            Self::Stale => "stale",
            Self::Ignored => "ignored",
        }
    }
}

impl std::fmt::Display for PushOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was last reported about a key's stored version.
struct Reported {
    /// The stored version the report was about.
    version: u64,
    /// Whether the callback fired for this version.
    notified: bool,
    /// Set when the gateway rejected this version's refresh token: never send it again.
    rejected: Option<Option<GatewayError>>,
}

impl Reported {
    /// The record of `key` for stored `version`, started afresh when the version changed.
    fn of<'a>(
        reported: &'a mut HashMap<String, Reported>,
        key: &str,
        version: u64,
    ) -> &'a mut Self {
        let entry = reported.entry(key.to_owned()).or_insert(Reported {
            version,
            notified: false,
            rejected: None,
        });
        if entry.version != version {
            *entry = Reported {
                version,
                notified: false,
                rejected: None,
            };
        }
        entry
    }
}

/// The state of one key after [`TokenManager::ensure_fresh`].
enum Outcome {
    /// Valid beyond the margin; nothing done.
    Fresh(TokenSet),
    /// Refreshed and saved.
    Refreshed(TokenSet),
    /// Due, and cannot be refreshed, but the access token still works for `left`.
    Unrefreshable {
        token: TokenSet,
        version: u64,
        left: Duration,
        error: Error,
    },
    /// The seller must authorize again now.
    Reauthorize {
        version: u64,
        left: Option<Duration>,
        error: Error,
        /// `Some` when the gateway refused this version's refresh token (with its error, if
        /// any): remembered so that the token is never sent again.
        rejected_by_gateway: Option<Option<GatewayError>>,
    },
    /// The refresh failed for a reason other than a dead refresh token.
    Failed { token: TokenSet, error: Error },
}

/// Keeps sellers' tokens valid over a [`Client`] and a [`TokenStore`].
///
/// - [`Self::access_token`] returns a valid access token, refreshing first when it expires
///   within the margin (default 3 days). Concurrent callers for one key share one refresh: an
///   in-process per-key mutex, then the store's per-key lock (across processes for
///   [`crate::FileStore`]), then the store is read again and someone else's refresh is used.
/// - The new token set (with its new refresh token) is saved before anything is returned.
/// - When the gateway rejects a refresh token, the store is read again first (another process
///   may have rotated it) and the refresh retried once with the newer refresh token; only then
///   is the seller reported through [`Self::on_reauthorization_required`] (once per stored
///   version) and [`Error::ReauthorizationRequired`], and that refresh token is not sent again.
/// - Tokens that cannot be refreshed (no refresh token, `refresh_expires_in` 0, refresh expiry
///   passed) are reported ahead of time, when they enter the margin; their access token is
///   still returned while it lives.
///
/// When is a token due? When its access token is absent, its expiry unknown, or it expires
/// within the margin. One exception keeps a margin longer than the token's whole life from
/// refreshing on every call: in [`Self::access_token`], a token set that this manager itself
/// just refreshed is due only once it has also lived half of its life (receive time to expiry).
/// For the gateway's usual lives (weeks) and margin (days) that changes nothing. Token sets put
/// or refreshed by others (whose receive time may only be when they were parsed) follow the
/// margin alone, and [`Self::refresh_due`] takes its window literally: it refreshes every token
/// that expires within it (the caller asked for that window). A type 8 push
/// ([`Self::handle_push`]) finds a token due when it is past half of its life or within the
/// margin.
///
/// Refresh answers are checked before they are saved: one without an access token, or with a
/// life of zero or less or beyond [`MAX_TOKEN_LIFE`], is a failed refresh ([`Error::Decode`])
/// and the stored token set is kept. An answer without a `refresh_token` keeps the old refresh
/// token together with its expiry.
///
/// # Apps sharing a store
/// Every token set the manager saves names the app it belongs to ([`APP_BINDING_FIELD`]: the
/// app key and the token gateway). A manager of another app (or another gateway) refuses such a
/// record with [`Error::Store`] naming the key and both app keys: it never hands out, refreshes
/// or overwrites another app's token ([`Self::remove`] still removes it). A record without the
/// field (written before this rule, or saved by other code) is accepted, and bound to this app
/// on its next save.
///
/// "Now" is the client's clock ([`Client::clock`]).
pub struct TokenManager {
    client: Arc<Client>,
    store: Arc<dyn TokenStore>,
    margin: Duration,
    /// The app key and token gateway written into every saved record.
    binding: (String, String),
    on_reauthorization: RwLock<Option<ReauthorizationCallback>>,
    in_flight: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    reported: Mutex<HashMap<String, Reported>>,
    /// The stored version of each key that this manager's own refresh saved.
    refreshed: Mutex<HashMap<String, u64>>,
    /// How far a push message's timestamp may be from now, in milliseconds.
    push_window_ms: AtomicU64,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("client", &self.client)
            .field("margin", &self.margin)
            .field("app_key", &self.binding.0)
            .field("on_reauthorization", &self.callback().is_some())
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager refreshing tokens that expire within 3 days.
    pub fn new(client: Arc<Client>, store: Arc<dyn TokenStore>) -> Self {
        let binding = (
            client.credentials().app_key.clone(),
            client.gateway().token_gateway().base_url().to_owned(),
        );
        Self {
            client,
            store,
            margin: DEFAULT_MARGIN,
            binding,
            on_reauthorization: RwLock::new(None),
            in_flight: Mutex::new(HashMap::new()),
            reported: Mutex::new(HashMap::new()),
            refreshed: Mutex::new(HashMap::new()),
            push_window_ms: AtomicU64::new(window_ms(crate::push::DEFAULT_WINDOW)),
        }
    }

    /// The push window (builder style): how far from now a push message's timestamp may be
    /// for [`Self::handle_push`] to act on it (default [`crate::push::DEFAULT_WINDOW`], 15
    /// minutes), kept between 1 second and [`crate::push::MAX_WINDOW`] (12 hours). Messages
    /// are remembered for twice the window, to answer a repeat as
    /// [`PushOutcome::Duplicate`].
    pub fn with_push_window(self, window: Duration) -> Self {
        self.set_push_window(window);
        self
    }

    /// Sets the push window of a live manager (see [`Self::with_push_window`]); safe while
    /// other threads use it.
    pub fn set_push_window(&self, window: Duration) {
        self.push_window_ms
            .store(window_ms(window), Ordering::Relaxed);
    }

    /// The push window.
    pub fn push_window(&self) -> Duration {
        Duration::from_millis(self.push_window_ms.load(Ordering::Relaxed))
    }

    /// The refresh margin (builder style).
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Called once each time a seller is found to need authorizing again: (key, reason).
    ///
    /// "Once" means once per stored version of the key: storing a new token set (after the
    /// seller authorized again) arms it again. It runs on the calling thread, with no lock held.
    pub fn on_reauthorization_required(
        self,
        callback: impl Fn(&str, &crate::error::Error) + Send + Sync + 'static,
    ) -> Self {
        self.set_on_reauthorization_required(callback);
        self
    }

    /// Sets or replaces the reauthorization callback of a live manager (see
    /// [`Self::on_reauthorization_required`]); safe while other threads use the manager. A
    /// report already being delivered finishes with the callback it started with.
    pub fn set_on_reauthorization_required(
        &self,
        callback: impl Fn(&str, &crate::error::Error) + Send + Sync + 'static,
    ) {
        *self
            .on_reauthorization
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(callback));
    }

    /// Removes the reauthorization callback (reports are then only logged and returned).
    pub fn clear_on_reauthorization_required(&self) {
        *self
            .on_reauthorization
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn callback(&self) -> Option<ReauthorizationCallback> {
        self.on_reauthorization
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The client.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.store
    }

    /// The refresh margin.
    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// Stores `token` for `key` (replacing what is there), bound to this manager's app.
    ///
    /// Refused ([`Error::Store`]) when the key holds another app's token set: remove it first.
    pub fn put(&self, key: &str, token: &TokenSet) -> Result<()> {
        self.with_key_locked(key, || {
            let current = self.load(key)?.map(|stored| stored.version);
            self.save(key, token, current).map(|_| ())
        })
    }

    /// Forgets `key` (a seller who left, or a corrupted entry to replace with [`Self::put`]);
    /// `false` when nothing was stored.
    pub fn remove(&self, key: &str) -> Result<bool> {
        let removed = self.with_key_locked(key, || self.store.remove(key))?;
        lock_ignoring_poison(&self.reported).remove(key);
        lock_ignoring_poison(&self.refreshed).remove(key);
        Ok(removed)
    }

    /// The stored token set of `key` ([`Error::Store`] when it belongs to another app).
    pub fn get(&self, key: &str) -> Result<Option<TokenSet>> {
        Ok(self.load(key)?.map(|stored| stored.token))
    }

    /// Loads `key` and checks that it belongs to this app; the binding field is removed from
    /// the token set returned.
    fn load(&self, key: &str) -> Result<Option<StoredToken>> {
        self.checked(key, self.store.load(key)?)
    }

    /// Checks that what the store gave for `key` belongs to this app; the binding field is
    /// removed from the token set returned.
    fn checked(&self, key: &str, stored: Option<StoredToken>) -> Result<Option<StoredToken>> {
        let Some(mut stored) = stored else {
            return Ok(None);
        };
        if let Some(binding) = stored.token.extra.remove(APP_BINDING_FIELD) {
            self.check_binding(key, &binding)?;
        }
        Ok(Some(stored))
    }

    fn check_binding(&self, key: &str, binding: &Value) -> Result<()> {
        let field = |name: &str| binding.get(name).and_then(Value::as_str);
        let (Some(app_key), Some(gateway)) = (field("app_key"), field("gateway")) else {
            return Err(Error::Store {
                key: key.to_owned(),
                message: format!("the stored token set has a malformed {APP_BINDING_FIELD} field"),
                source: None,
            });
        };
        let (own_key, own_gateway) = &self.binding;
        if app_key == own_key && gateway == own_gateway {
            return Ok(());
        }
        Err(Error::Store {
            key: key.to_owned(),
            message: format!(
                "the stored token set belongs to another app: {} (stored for app key {app_key:?} \
                 at {gateway}; this manager is app key {own_key:?} at {own_gateway}); remove it \
                 or use a store of this app's own",
                binding_differences((app_key, gateway), (own_key, own_gateway)).join(", ")
            ),
            source: None,
        })
    }

    /// Saves `token` bound to this app.
    fn save(&self, key: &str, token: &TokenSet, expected_version: Option<u64>) -> Result<u64> {
        self.store.save(key, &self.bound(token), expected_version)
    }

    /// Saves `token` bound to this app under the held lock of `key`, releasing the lock with
    /// the save when the store can do both in one step. The binding field is added for the save
    /// and taken out again (no copy of the token set is made).
    fn save_held(
        &self,
        key: &str,
        token: &mut TokenSet,
        expected_version: Option<u64>,
        held: &mut Held<'_>,
    ) -> Result<u64> {
        let displaced = token
            .extra
            .insert(APP_BINDING_FIELD.to_owned(), self.binding_value());
        let saved = match held.0.take() {
            Some(lock) => self
                .store
                .save_and_unlock(key, token, expected_version, lock),
            None => self.store.save(key, token, expected_version),
        };
        match displaced {
            Some(value) => token.extra.insert(APP_BINDING_FIELD.to_owned(), value),
            None => token.extra.remove(APP_BINDING_FIELD),
        };
        saved
    }

    /// [`TokenStore::check_save`] of `stored` (as loaded: the binding field is put back, so
    /// that a store that proves it by saving the same record again changes nothing) under the
    /// held lock; the version to save over.
    fn check_save(&self, key: &str, stored: &StoredToken, held: &Held<'_>) -> Result<u64> {
        let Some(lock) = held.0.as_deref() else {
            return Err(crate::store::store_error(
                key,
                "the lock was given back before the refresh",
            ));
        };
        let record = StoredToken {
            token: self.bound(&stored.token),
            version: stored.version,
        };
        self.store.check_save(key, &record, lock)
    }

    /// `token` with this app's binding field.
    fn bound(&self, token: &TokenSet) -> TokenSet {
        let mut bound = token.clone();
        bound
            .extra
            .insert(APP_BINDING_FIELD.to_owned(), self.binding_value());
        bound
    }

    /// The value of the binding field: this app's key and gateway.
    fn binding_value(&self) -> Value {
        let (app_key, gateway) = &self.binding;
        serde_json::json!({ "app_key": app_key, "gateway": gateway })
    }

    /// A valid access token for `key`, refreshing first when it expires within the margin.
    ///
    /// Errors: [`Error::UnknownSeller`] when nothing is stored for `key`; [`Error::Store`] when
    /// the store fails;
    /// [`Error::ReauthorizationRequired`] when the seller must authorize again; the client's
    /// error when a refresh fails and the access token has expired. When a refresh fails for a
    /// transient reason while the access token still lives, that token is returned (and the
    /// failure logged): the next call tries again.
    pub fn access_token(&self, key: &str) -> Result<AccessToken> {
        let outcome = self.ensure_fresh(
            key,
            Due {
                within: self.margin,
                half_life: HalfLife::AlsoRequired,
            },
        )?;
        match self.settle(key, outcome) {
            Outcome::Fresh(token) | Outcome::Refreshed(token) => access_of(key, token),
            Outcome::Unrefreshable { token, .. } => access_of(key, token),
            Outcome::Reauthorize { error, .. } => Err(error),
            Outcome::Failed { token, error } => {
                let now = self.now();
                if token.expires_at().is_some_and(|at| at > now) {
                    log::warn!(
                        "refreshing the token of {key} failed ({error}); its access token still lives"
                    );
                    access_of(key, token)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// Calls any API for the seller `key` and returns the answer as JSON: a valid access token
    /// (refreshed first when due, as [`Self::access_token`]), the call, and, when the gateway
    /// refuses that access token as invalid or expired (`IllegalAccessToken`: revoked, expired
    /// early, replaced elsewhere), one refresh and one retry.
    ///
    /// That refresh is single-flight: concurrent calls that were refused the same token share
    /// one refresh (per key, across threads, and across processes for stores whose lock reaches
    /// them), and a caller that finds the stored token already replaced retries with it without
    /// refreshing again. A dead refresh token goes to the reauthorization callback and is
    /// returned as [`Error::ReauthorizationRequired`]. A second refusal is returned as it is.
    ///
    /// Errors: those of [`Self::access_token`] ([`Error::UnknownSeller`] first of all), and
    /// those of [`Client::call`].
    ///
    /// ```no_run
    /// # fn demo(manager: &iop_core::TokenManager) -> iop_core::Result<()> {
    /// use iop_core::Request;
    /// let orders = manager.call("shop-1", &Request::new("/orders/get")?.param("status", "pending"))?;
    /// # let _ = orders;
    /// # Ok(())
    /// # }
    /// ```
    pub fn call(&self, key: &str, request: &crate::Request) -> Result<Value> {
        self.call_for(key, request, false)
    }

    /// [`Self::call`], returning gateway error envelopes as JSON (what the vendor SDKs'
    /// `execute` does, see [`Client::call_raw`]). An envelope refusing the access token is
    /// still handled (one refresh, one retry) before anything is returned.
    pub fn call_raw(&self, key: &str, request: &crate::Request) -> Result<Value> {
        self.call_for(key, request, true)
    }

    fn call_for(&self, key: &str, request: &crate::Request, raw: bool) -> Result<Value> {
        let access = self.access_token(key)?;
        let (result, body) = self.client.call_keeping_body(request, Some(&access));
        let refused = match &result {
            Err(Error::Gateway(gateway)) if gateway.class() == ErrorClass::Refresh => {
                Some(gateway.code.clone())
            }
            _ => None,
        };
        let Some(code) = refused else {
            return finish_call(result, body, raw);
        };
        log::info!(
            "the gateway refused the access token of {key} ({code}); refreshing it and retrying \
             the call once"
        );
        let fresh = self.refresh_refused(key, &access)?;
        let (result, body) = self.client.call_keeping_body(request, Some(&fresh));
        finish_call(result, body, raw)
    }

    /// A new access token for `key` after the gateway refused `refused`: refreshed under the
    /// key's lock, unless the stored token is no longer `refused` (someone refreshed it
    /// meanwhile), in which case that one is returned.
    fn refresh_refused(&self, key: &str, refused: &AccessToken) -> Result<AccessToken> {
        // Due whatever its expiry: the gateway says this access token is no good.
        let due = Due {
            within: MAX_TOKEN_LIFE.saturating_mul(2),
            half_life: HalfLife::Ignored,
        };
        let outcome = self
            .with_key_held(key, true, |held| {
                let stored = self.load_required(key)?;
                let replaced = stored.token.access_token.as_ref().is_some_and(|current| {
                    !constant_time_eq(current.secret().as_bytes(), refused.secret().as_bytes())
                });
                if replaced {
                    return Ok(Outcome::Fresh(stored.token));
                }
                if let Some(outcome) = self.without_refresh(key, &stored, due) {
                    return Ok(outcome);
                }
                self.refresh_locked(key, stored, due, true, held)
            })?
            .ok_or_else(|| crate::store::store_error(key, "the lock was not taken"))?;
        match self.settle(key, outcome) {
            Outcome::Fresh(token) | Outcome::Refreshed(token) => access_of(key, token),
            // The access token is refused and cannot be refreshed: the seller must authorize
            // again (the callback fired in `settle`).
            Outcome::Unrefreshable { error, .. }
            | Outcome::Reauthorize { error, .. }
            | Outcome::Failed { error, .. } => Err(error),
        }
    }

    /// Finishes a seller's authorization: checks the redirect back from the authorization page
    /// against `expected_state` ([`crate::onboarding::parse_callback`]: the state first, in
    /// constant time), exchanges its `code` with `/auth/token/create`, and stores the token set
    /// under `key`, or under the token's `seller_id` (else `user_id`) when `key` is `None`.
    /// Returns the key and the token set.
    ///
    /// A missing or different state, the platform's `error`, or no code is
    /// [`Error::Authorization`], and nothing is sent to the gateway.
    pub fn complete_authorization(
        &self,
        callback: &str,
        expected_state: &str,
        key: Option<&str>,
    ) -> Result<(String, TokenSet)> {
        let code = crate::onboarding::parse_callback(callback, expected_state)?;
        let token = self.client.create_token(&code, None)?;
        check_token_answer(&token)?;
        let key = match key.map(str::trim).filter(|k| !k.is_empty()) {
            Some(key) => key.to_owned(),
            None => token
                .seller_id
                .clone()
                .or_else(|| token.user_id.clone())
                .filter(|id| !id.trim().is_empty())
                .ok_or_else(|| {
                    Error::InvalidRequest(
                        "the token set names no seller_id or user_id: give the key to store it under"
                            .to_owned(),
                    )
                })?,
        };
        self.put(&key, &token)?;
        log::info!("stored the new token set of {key}");
        Ok((key, token))
    }

    /// Acts on a Lazada push message ([`crate::push`]; verify it first with
    /// [`crate::push::check`] over the raw body). The seller's key is its `seller_id`.
    ///
    /// - Type 8 (the seller's authorization expires within 48 hours) refreshes that seller's
    ///   token when it is due by the manager's rule for pushes: past half of its life (receive
    ///   time to expiry) or within the margin ([`PushOutcome::Refreshed`]; otherwise
    ///   [`PushOutcome::NotDue`], nothing sent). A due token that cannot be refreshed reports
    ///   the seller through the reauthorization callback
    ///   ([`PushOutcome::ReauthorizationRequired`]).
    /// - Type 13 with status `close` reports the seller
    ///   ([`PushOutcome::ReauthorizationRequired`]).
    /// - Other types, and sellers this store does not hold, are [`PushOutcome::Ignored`].
    ///
    /// Replays: a message of type 8 or 13 `close` whose timestamp is missing or further from
    /// now than the push window ([`Self::with_push_window`], default 15 minutes) is refused as
    /// [`PushOutcome::Stale`]. One inside it is recorded in the store before anything is done
    /// ([`TokenStore::mark_seen`], under a marker made of this app and the message's
    /// [`crate::push::Message::dedup_key`], kept for twice the window): a repeat is
    /// [`PushOutcome::Duplicate`] and does nothing, on every manager that shares the store
    /// (every host, for the Redis and PostgreSQL stores; this process only for a custom store
    /// whose backend keeps no markers). A message whose handling failed (an error) stays
    /// recorded: the token is refreshed by the next [`Self::access_token`] or
    /// [`Self::refresh_due`] when due.
    pub fn handle_push(&self, message: &crate::push::Message) -> Result<PushOutcome> {
        use crate::push::MessageType;
        let Some(key) = message.seller_id.as_deref().filter(|k| !k.is_empty()) else {
            return Ok(PushOutcome::Ignored);
        };
        let close = message.message_type == MessageType::SellerStatus
            && message
                .seller_status()
                .is_some_and(|s| s.eq_ignore_ascii_case("close"));
        if message.message_type != MessageType::AuthorizationExpiring && !close {
            return Ok(PushOutcome::Ignored);
        }
        let window = self.push_window();
        if !message.is_within(self.now(), window) {
            log::warn!(
                "push message (type {}) for {key} refused: its timestamp is missing or more \
                 than {} from now",
                message.message_type.code(),
                human_duration(window)
            );
            return Ok(PushOutcome::Stale);
        }
        let Some(stored) = self.load(key)? else {
            return Ok(PushOutcome::Ignored);
        };
        if !self
            .store
            .mark_seen(&self.push_marker(message), window.saturating_mul(2))?
        {
            log::info!(
                "push message (type {}) for {key} was handled already",
                message.message_type.code()
            );
            return Ok(PushOutcome::Duplicate);
        }
        if close {
            let now = self.now();
            let left = stored
                .token
                .expires_at()
                .and_then(|at| at.duration_since(now).ok())
                .filter(|left| !left.is_zero());
            self.settle(
                key,
                Outcome::Reauthorize {
                    version: stored.version,
                    left,
                    error: reauthorization_error(
                        key,
                        "the platform reports the seller's status as close (push message type 13)",
                        None,
                    ),
                    rejected_by_gateway: None,
                },
            );
            return Ok(PushOutcome::ReauthorizationRequired);
        }
        let outcome = self.ensure_fresh(
            key,
            Due {
                within: self.margin,
                half_life: HalfLife::Enough,
            },
        )?;
        match self.settle(key, outcome) {
            Outcome::Refreshed(_) => Ok(PushOutcome::Refreshed),
            Outcome::Fresh(_) => Ok(PushOutcome::NotDue),
            Outcome::Unrefreshable { .. } | Outcome::Reauthorize { .. } => {
                Ok(PushOutcome::ReauthorizationRequired)
            }
            Outcome::Failed { error, .. } => Err(error),
        }
    }

    /// The store marker of a push message for this app: a digest of the app key, the token
    /// gateway and the message's dedup key (apps sharing a store each act on their pushes).
    fn push_marker(&self, message: &crate::push::Message) -> String {
        use sha2::Digest as _;
        let (app_key, gateway) = &self.binding;
        let mut digest = sha2::Sha256::new();
        for part in [app_key.as_str(), gateway.as_str(), &message.dedup_key()] {
            digest.update(part.as_bytes());
            digest.update([0]);
        }
        format!("push:{}", hex::encode(&digest.finalize()[..16]))
    }

    /// Refreshes every stored token that expires within `options.within`.
    ///
    /// Keys are handled by `options.concurrency` worker threads pulling from one queue; each
    /// key goes through the same path as [`Self::access_token`] (one refresh per key across
    /// threads and processes). Keys are taken in a random order, so several hosts running it at
    /// once over one shared store spread across different sellers instead of queueing on the
    /// same seller's lock. A worker takes a few keys at a time and reads them in one go
    /// ([`TokenStore::load_many`]: one round trip on the Redis and PostgreSQL stores), just
    /// before it handles them; a key whose lock someone else holds at that moment (another
    /// host's run, a caller of [`Self::access_token`]) is put aside and handled at the end,
    /// waiting for its lock then, instead of holding up the worker now. The lists of the report
    /// are sorted by key.
    pub fn refresh_due(&self, options: RefreshDueOptions) -> RefreshReport {
        let mut keys = match self.store.keys() {
            Ok(keys) => keys,
            Err(error) => {
                return RefreshReport {
                    failed: vec![(String::new(), error.class(), error.to_string())],
                    ..RefreshReport::default()
                };
            }
        };
        fastrand::shuffle(&mut keys);
        let total = keys.len();
        let done = AtomicUsize::new(0);
        let report = Mutex::new(RefreshReport::default());
        let finished = || {
            let done = done.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(progress) = &options.progress {
                progress(done, total);
            }
        };
        let workers = options.concurrency.max(1);
        // Batches small enough that every worker gets some.
        let batch = total.div_ceil(workers).clamp(1, LOAD_BATCH);
        let busy = Mutex::new(Vec::new());
        run_batches(&keys, workers, batch, |keys| {
            let mut loaded = self.store.load_many(keys);
            if loaded.len() != keys.len() {
                // A store whose `load_many` answers another number of keys: which answer is
                // whose is unknown, so every key is loaded again, one by one.
                loaded.clear();
            }
            let mut loaded = loaded.into_iter();
            for key in keys {
                let read = loaded.next();
                if self.refresh_one(key, options.within, read, false, &report) {
                    finished();
                } else {
                    lock_ignoring_poison(&busy).push(key.clone());
                }
            }
        });
        let busy = busy
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Whoever held these is probably done by now: wait for their locks (and most likely
        // find them refreshed).
        run_batches(&busy, workers, 1, |keys| {
            for key in keys {
                self.refresh_one(key, options.within, None, true, &report);
                finished();
            }
        });
        let mut report = report
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        report.refreshed.sort();
        report.skipped.sort();
        report.failed.sort_by(|a, b| a.0.cmp(&b.0));
        report
            .reauthorization_required
            .sort_by(|a, b| a.0.cmp(&b.0));
        report
    }

    /// One key of [`Self::refresh_due`], from what `read` read of it (`None`: loaded here).
    /// Without `wait`, a key whose lock someone else holds is left alone: `false`.
    fn refresh_one(
        &self,
        key: &str,
        within: Duration,
        read: Option<Result<Option<StoredToken>>>,
        wait: bool,
        report: &Mutex<RefreshReport>,
    ) -> bool {
        let due = Due {
            within,
            half_life: HalfLife::Ignored,
        };
        let outcome = match self.ensure_fresh_from(key, due, read, wait) {
            Ok(Some(outcome)) => Ok(self.settle(key, outcome)),
            Ok(None) => return false,
            Err(error) => Err(error),
        };
        let mut report = lock_ignoring_poison(report);
        match outcome {
            Ok(Outcome::Fresh(_)) => report.skipped.push(key.to_owned()),
            Ok(Outcome::Refreshed(_)) => report.refreshed.push(key.to_owned()),
            Ok(Outcome::Unrefreshable { left, .. }) => report
                .reauthorization_required
                .push((key.to_owned(), Some(left))),
            Ok(Outcome::Reauthorize { left, .. }) => {
                report.reauthorization_required.push((key.to_owned(), left));
            }
            Ok(Outcome::Failed { error, .. }) | Err(error) => {
                report
                    .failed
                    .push((key.to_owned(), error.class(), error.to_string()));
            }
        }
        true
    }

    fn now(&self) -> SystemTime {
        self.client.clock().now()
    }

    /// Runs `f` holding the in-process gate of `key`, then the store's lock of `key`.
    fn with_key_locked<T>(&self, key: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.with_key_held(key, true, |_held| f())?
            .ok_or_else(|| crate::store::store_error(key, "the lock was not taken"))
    }

    /// Runs `f` holding the in-process gate of `key`, then the store's lock of `key` (which `f`
    /// may give back early, with a save). With `wait`, waits for the store's lock; without,
    /// `None` when someone else holds it.
    fn with_key_held<'s, T>(
        &'s self,
        key: &str,
        wait: bool,
        f: impl FnOnce(&mut Held<'s>) -> Result<T>,
    ) -> Result<Option<T>> {
        let gate = lock_ignoring_poison(&self.in_flight)
            .entry(key.to_owned())
            .or_default()
            .clone();
        let result = {
            // Without `wait`, a key another thread of this process is refreshing is busy too.
            let guard = if wait {
                Some(lock_ignoring_poison(&gate))
            } else {
                match gate.try_lock() {
                    Ok(guard) => Some(guard),
                    Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                    Err(std::sync::TryLockError::WouldBlock) => None,
                }
            };
            let lock = match (&guard, wait) {
                (None, _) => Ok(None),
                (Some(_), true) => self.store.lock(key).map(Some),
                (Some(_), false) => self.store.try_lock(key),
            };
            match lock {
                Ok(Some(lock)) => f(&mut Held(Some(lock))).map(Some),
                Ok(None) => Ok(None),
                Err(error) => Err(error),
            }
        };
        let mut in_flight = lock_ignoring_poison(&self.in_flight);
        // Only the map and this call hold it: nobody waits, forget the key.
        if Arc::strong_count(&gate) == 2 {
            in_flight.remove(key);
        }
        result
    }

    fn load_required(&self, key: &str) -> Result<StoredToken> {
        required(key, self.load(key)?)
    }

    /// Makes sure the token of `key` is not due by `margin`, refreshing it if it can.
    fn ensure_fresh(&self, key: &str, margin: Due) -> Result<Outcome> {
        self.ensure_fresh_from(key, margin, None, true)?
            .ok_or_else(|| crate::store::store_error(key, "the lock was not taken"))
    }

    /// [`Self::ensure_fresh`] from what `read` read of `key` (`None`: loaded here). Without
    /// `wait`, `None` when someone else holds the key's lock.
    fn ensure_fresh_from(
        &self,
        key: &str,
        margin: Due,
        read: Option<Result<Option<StoredToken>>>,
        wait: bool,
    ) -> Result<Option<Outcome>> {
        let stored = match read {
            Some(read) => required(key, self.checked(key, read?)?)?,
            None => self.load_required(key)?,
        };
        if let Some(outcome) = self.without_refresh(key, &stored, margin) {
            return Ok(Some(outcome));
        }
        self.with_key_held(key, wait, |held| {
            // Someone (another thread or process) may have refreshed while we waited.
            let stored = self.load_required(key)?;
            if let Some(outcome) = self.without_refresh(key, &stored, margin) {
                return Ok(outcome);
            }
            self.refresh_locked(key, stored, margin, true, held)
        })
    }

    /// The outcome when no refresh call is needed or possible; `None` when a refresh is due.
    fn without_refresh(&self, key: &str, stored: &StoredToken, margin: Due) -> Option<Outcome> {
        let now = self.now();
        let token = &stored.token;
        let margin = match margin.half_life {
            HalfLife::AlsoRequired if !self.refreshed_here(key, stored.version) => Due {
                half_life: HalfLife::Ignored,
                ..margin
            },
            _ => margin,
        };
        if !is_due(token, now, margin) {
            return Some(Outcome::Fresh(token.clone()));
        }
        let left = token
            .expires_at()
            .and_then(|at| at.duration_since(now).ok())
            .filter(|left| !left.is_zero());
        if let Some(rejected) = self.rejected(key, stored.version) {
            return Some(Outcome::Reauthorize {
                version: stored.version,
                left,
                error: reauthorization_error(
                    key,
                    "the gateway rejected this refresh token earlier",
                    rejected.clone(),
                ),
                rejected_by_gateway: Some(rejected),
            });
        }
        if token.can_refresh(now) {
            return None;
        }
        let why = if token.refresh_token.is_none() {
            "no refresh token is stored"
        } else if token.refresh_expires_in == Some(0) {
            "the token cannot be refreshed (refresh_expires_in is 0)"
        } else {
            "the refresh token has expired"
        };
        Some(match left {
            Some(left) => Outcome::Unrefreshable {
                token: token.clone(),
                version: stored.version,
                left,
                error: reauthorization_error(
                    key,
                    &format!(
                        "{why}; the access token expires in {}",
                        human_duration(left)
                    ),
                    None,
                ),
            },
            None => Outcome::Reauthorize {
                version: stored.version,
                left: None,
                error: reauthorization_error(
                    key,
                    &format!("{why}; the access token has expired"),
                    None,
                ),
                rejected_by_gateway: None,
            },
        })
    }

    /// Refreshes `stored` (the key's lock is held) and saves the result.
    fn refresh_locked(
        &self,
        key: &str,
        mut stored: StoredToken,
        margin: Due,
        may_retry: bool,
        held: &mut Held<'_>,
    ) -> Result<Outcome> {
        let Some(refresh_token) = stored.token.refresh_token.clone() else {
            return self
                .without_refresh(key, &stored, margin)
                .ok_or_else(|| reauthorization_error(key, "no refresh token is stored", None));
        };
        // The gateway rotates the refresh token: an answer that cannot be saved would cost the
        // seller its authorization. So the store proves first that it can save this key now.
        stored.version = match self.check_save(key, &stored, held) {
            Ok(version) => version,
            Err(error) => {
                // A check that found another version (a stale read, a writer without the lock)
                // starts again, once, from what the store holds now.
                if may_retry
                    && let Some(current) = self.load(key)?
                    && current.version != stored.version
                {
                    if let Some(outcome) = self.without_refresh(key, &current, margin) {
                        return Ok(outcome);
                    }
                    return self.refresh_locked(key, current, margin, false, held);
                }
                log::warn!(
                    "not refreshing the token of {key}: the store cannot save it now ({error})"
                );
                return Err(match error {
                    Error::Store {
                        key,
                        message,
                        source,
                    } => Error::Store {
                        key,
                        message: format!(
                            "{message} (found before refreshing: no refresh was sent, the \
                             stored refresh token still works)"
                        ),
                        source,
                    },
                    other => other,
                });
            }
        };
        log::debug!("refreshing the token of {key}");
        match self.client.refresh_token(&refresh_token) {
            Ok(answer) => {
                let mut token = match checked_answer(&stored.token, answer) {
                    Ok(token) => token,
                    Err(error) => {
                        log::warn!("the refresh answer for {key} is unusable: {error}");
                        return Ok(Outcome::Failed {
                            token: stored.token,
                            error,
                        });
                    }
                };
                let version = match self.save_held(key, &mut token, Some(stored.version), held) {
                    Ok(version) => version,
                    Err(error) => {
                        // The new token set exists only in memory now; with rotation on, the
                        // stored refresh token is dead. Say so loudly: nothing else can recover it.
                        log::error!(
                            "the token of {key} was refreshed but could not be saved ({error}); \
                             if the gateway rotated the refresh token, the seller must authorize \
                             again"
                        );
                        return Err(error);
                    }
                };
                lock_ignoring_poison(&self.refreshed).insert(key.to_owned(), version);
                log::info!("refreshed the token of {key}");
                Ok(Outcome::Refreshed(token))
            }
            Err(error) if error.class() == ErrorClass::Reauthorize => {
                // Another process may have rotated the refresh token behind our back (a store
                // whose lock does not reach it, a put): use the newer one before giving up.
                if may_retry && let Some(current) = self.load(key)? {
                    let changed = match &current.token.refresh_token {
                        Some(newer) => !constant_time_eq(
                            newer.secret().as_bytes(),
                            refresh_token.secret().as_bytes(),
                        ),
                        None => false,
                    };
                    if changed {
                        log::info!("the stored refresh token of {key} changed; retrying once");
                        if let Some(outcome) = self.without_refresh(key, &current, margin) {
                            return Ok(outcome);
                        }
                        return self.refresh_locked(key, current, margin, false, held);
                    }
                }
                let now = self.now();
                let left = stored
                    .token
                    .expires_at()
                    .and_then(|at| at.duration_since(now).ok())
                    .filter(|left| !left.is_zero());
                let gateway = error.gateway().cloned();
                // Recorded now, while the key's lock is held: callers waiting for the lock find
                // it and never send this refresh token again.
                self.record_rejection(key, stored.version, gateway.clone());
                let code = gateway
                    .as_ref()
                    .map_or_else(|| error.to_string(), |g| g.code.clone());
                Ok(Outcome::Reauthorize {
                    version: stored.version,
                    left,
                    error: reauthorization_error(
                        key,
                        &format!("the gateway rejected the refresh token ({code})"),
                        gateway.clone(),
                    ),
                    rejected_by_gateway: Some(gateway),
                })
            }
            Err(error) => Ok(Outcome::Failed {
                token: stored.token,
                error,
            }),
        }
    }

    /// Remembers that the gateway refused the refresh token of `version` of `key`.
    fn record_rejection(&self, key: &str, version: u64, gateway: Option<GatewayError>) {
        let mut reported = lock_ignoring_poison(&self.reported);
        Reported::of(&mut reported, key, version).rejected = Some(gateway);
    }

    /// Whether `version` of `key` is a token set this manager itself refreshed and saved.
    fn refreshed_here(&self, key: &str, version: u64) -> bool {
        lock_ignoring_poison(&self.refreshed).get(key) == Some(&version)
    }

    /// The gateway error of an earlier rejection of this stored version, if there was one.
    fn rejected(&self, key: &str, version: u64) -> Option<Option<GatewayError>> {
        lock_ignoring_poison(&self.reported)
            .get(key)
            .filter(|reported| reported.version == version)
            .and_then(|reported| reported.rejected.clone())
    }

    /// Records reauthorization outcomes and fires the callback, once per stored version.
    fn settle(&self, key: &str, outcome: Outcome) -> Outcome {
        let (version, error, rejected) = match &outcome {
            Outcome::Unrefreshable { version, error, .. } => (*version, error, None),
            Outcome::Reauthorize {
                version,
                error,
                rejected_by_gateway,
                ..
            } => (*version, error, rejected_by_gateway.clone()),
            _ => return outcome,
        };
        let first = {
            let mut reported = lock_ignoring_poison(&self.reported);
            let entry = Reported::of(&mut reported, key, version);
            if rejected.is_some() {
                entry.rejected = rejected;
            }
            !std::mem::replace(&mut entry.notified, true)
        };
        if first {
            log::warn!("seller {key} must authorize again: {error}");
            if let Some(callback) = self.callback() {
                callback(key, error);
            }
        }
        outcome
    }
}

/// The parts in which a stored record's binding (app key, gateway) differs from this manager's:
/// `app key "a" (not "b")`, `gateway host …`, `gateway port …`, `gateway scheme …`.
fn binding_differences(stored: (&str, &str), own: (&str, &str)) -> Vec<String> {
    let mut parts = Vec::new();
    if stored.0 != own.0 {
        parts.push(format!("app key {:?} (not {:?})", stored.0, own.0));
    }
    if stored.1 == own.1 {
        return parts;
    }
    match (url::Url::parse(stored.1), url::Url::parse(own.1)) {
        (Ok(theirs), Ok(ours)) => {
            let before = parts.len();
            if theirs.scheme() != ours.scheme() {
                parts.push(format!(
                    "gateway scheme {} (not {})",
                    theirs.scheme(),
                    ours.scheme()
                ));
            }
            if theirs.host_str() != ours.host_str() {
                parts.push(format!(
                    "gateway host {} (not {})",
                    theirs.host_str().unwrap_or("(none)"),
                    ours.host_str().unwrap_or("(none)")
                ));
            }
            let port = |u: &url::Url| {
                u.port_or_known_default()
                    .map_or_else(|| "(none)".to_owned(), |p| p.to_string())
            };
            if port(&theirs) != port(&ours) {
                parts.push(format!(
                    "gateway port {} (not {})",
                    port(&theirs),
                    port(&ours)
                ));
            }
            if parts.len() == before {
                parts.push(format!("gateway {} (not {})", stored.1, own.1));
            }
        }
        _ => parts.push(format!("gateway {} (not {})", stored.1, own.1)),
    }
    parts
}

/// How many keys a worker of [`TokenManager::refresh_due`] reads in one go.
const LOAD_BATCH: usize = 32;

/// The store's lock of a key while it is refreshed (see [`TokenStore::save_and_unlock`]).
struct Held<'a>(Option<Box<dyn KeyLock + 'a>>);

/// `stored`, or [`Error::UnknownSeller`] for a key with nothing stored.
fn required(key: &str, stored: Option<StoredToken>) -> Result<StoredToken> {
    stored.ok_or_else(|| Error::UnknownSeller {
        key: key.to_owned(),
    })
}

/// Runs `work` over `keys` in batches of `batch` on up to `workers` threads pulling from one
/// queue.
fn run_batches(keys: &[String], workers: usize, batch: usize, work: impl Fn(&[String]) + Sync) {
    let next = AtomicUsize::new(0);
    let workers = workers.min(keys.len().div_ceil(batch));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let start = next.fetch_add(batch, Ordering::Relaxed);
                    if start >= keys.len() {
                        break;
                    }
                    work(&keys[start..keys.len().min(start + batch)]);
                }
            });
        }
    });
}

/// When a token is due.
#[derive(Clone, Copy)]
struct Due {
    /// Due when it expires within this.
    within: Duration,
    /// What having lived half of its life changes.
    half_life: HalfLife,
}

/// The part half of a token's life plays in [`is_due`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum HalfLife {
    /// None: the window alone decides ([`TokenManager::refresh_due`], and tokens this manager
    /// did not refresh itself).
    Ignored,
    /// Due only once it has also lived half of its life (a token set this manager refreshed
    /// itself, under the automatic margin of `access_token`).
    AlsoRequired,
    /// Due when within the window or past half of its life (a type 8 push).
    Enough,
}

/// The refresh rule (see [`TokenManager`]).
fn is_due(token: &TokenSet, now: SystemTime, due: Due) -> bool {
    let within = token.needs_refresh(now, due.within);
    match due.half_life {
        HalfLife::Ignored => within,
        HalfLife::AlsoRequired => within && past_half_life(token, now),
        HalfLife::Enough => within || past_half_life(token, now),
    }
}

/// Whether `token` has lived half of its life (receive time to expiry) at `now`; `true` when
/// either instant is unknown.
fn past_half_life(token: &TokenSet, now: SystemTime) -> bool {
    match (token.received_at_ms, token.expires_at_ms()) {
        (Some(received), Some(expires)) if expires > received => {
            let half_life = received.saturating_add((expires - received) / 2);
            crate::time::epoch_ms(now) >= half_life
        }
        _ => true,
    }
}

/// Checks that a token answer (of `/auth/token/refresh` or `/auth/token/create`) can be used:
/// it has an access token, an expiry, and lives more than zero seconds and at most
/// [`MAX_TOKEN_LIFE`] (`refresh_expires_in` may be 0: not refreshable). Otherwise
/// [`Error::Decode`] (status 200) saying what is wrong, with no secret.
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use iop_core::TokenSet;
/// use iop_core::manager::check_token_answer;
/// let ok = TokenSet::from_json(br#"{"access_token":"a","expires_in":60,"code":"0"}"#, UNIX_EPOCH).unwrap();
/// assert!(check_token_answer(&ok).is_ok());
/// let empty = TokenSet::from_json(br#"{"code":"0"}"#, UNIX_EPOCH).unwrap();
/// assert!(check_token_answer(&empty).is_err());
/// ```
pub fn check_token_answer(answer: &TokenSet) -> Result<()> {
    let unusable = |why: String| Error::Decode {
        status: 200,
        snippet: format!("unusable token answer: {why}"),
    };
    if answer.access_token.is_none() {
        return Err(unusable("it carries no access_token".to_owned()));
    }
    let longest = MAX_TOKEN_LIFE.as_secs() as i64;
    let life_ok = |seconds: i64, zero_ok: bool| {
        (seconds > 0 || (zero_ok && seconds == 0)) && seconds <= longest
    };
    if let Some(seconds) = answer.expires_in
        && !life_ok(seconds, false)
    {
        return Err(unusable(format!("expires_in is {seconds} seconds")));
    }
    if let Some(seconds) = answer.refresh_expires_in
        && !life_ok(seconds, true)
    {
        return Err(unusable(format!("refresh_expires_in is {seconds} seconds")));
    }
    match (answer.expires_at_ms(), answer.received_at_ms) {
        (None, _) => {
            return Err(unusable(
                "it says neither expires_in nor expire_time".to_owned(),
            ));
        }
        (Some(expires), Some(received))
            if !life_ok(expires.saturating_sub(received) / 1000, false) =>
        {
            return Err(unusable(format!(
                "expire_time is {} seconds after it was received",
                expires.saturating_sub(received) / 1000
            )));
        }
        _ => {}
    }
    Ok(())
}

/// A refresh answer checked and completed: a typed error when it cannot be used, the old
/// refresh token and its expiry carried over when it sent no new refresh token.
fn checked_answer(old: &TokenSet, mut answer: TokenSet) -> Result<TokenSet> {
    check_token_answer(&answer)?;
    let received = answer.received_at_ms;
    if answer.refresh_token.is_none() {
        // The gateway sent no new refresh token: the old one stays valid, and so does its expiry
        // (rebased on the new receive time, kept absolute in refresh_token_valid_time).
        answer.refresh_token = old.refresh_token.clone();
        if old.refresh_expires_in == Some(0) {
            answer.refresh_expires_in = Some(0);
            answer.refresh_token_valid_time = None;
        } else {
            let valid_until = old.refresh_expires_at_ms();
            answer.refresh_token_valid_time = valid_until;
            answer.refresh_expires_in = match (valid_until, received) {
                (Some(until), Some(received)) => {
                    Some(until.saturating_sub(received).div_euclid(1000)).filter(|s| *s > 0)
                }
                _ => None,
            };
        }
    }
    Ok(answer)
}

/// The answer of [`TokenManager::call`] or, with `raw`, of [`TokenManager::call_raw`].
fn finish_call(result: Result<Value>, body: Option<Vec<u8>>, raw: bool) -> Result<Value> {
    if raw {
        crate::client::raw_answer(result, body)
    } else {
        result
    }
}

/// The access token of a token set that should have one.
fn access_of(key: &str, token: TokenSet) -> Result<AccessToken> {
    token.access_token.ok_or_else(|| Error::Store {
        key: key.to_owned(),
        message: "the token set has no access token".to_owned(),
        source: None,
    })
}

fn reauthorization_error(key: &str, reason: &str, gateway: Option<GatewayError>) -> Error {
    Error::ReauthorizationRequired {
        key: key.to_owned(),
        reason: reason.to_owned(),
        gateway,
    }
}

/// A push window in milliseconds, kept between 1 second and [`crate::push::MAX_WINDOW`].
fn window_ms(window: Duration) -> u64 {
    let window = window.clamp(Duration::from_secs(1), crate::push::MAX_WINDOW);
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX)
}

/// `2d 3h`, `5h 10m`, `42s`: coarse, for messages.
fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}
