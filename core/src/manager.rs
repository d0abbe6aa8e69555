//! The token lifecycle: valid access tokens on demand, one refresh per seller at a time across
//! threads and processes, and early warning of sellers who must authorize again.

use std::sync::Arc;
use std::time::Duration;

use crate::client::Client;
use crate::error::Result;
use crate::secret::AccessToken;
use crate::store::TokenStore;
use crate::token::TokenSet;

/// Options of [`TokenManager::refresh_due`].
pub struct RefreshDueOptions {
    /// Refresh tokens expiring within this window of now.
    pub within: Duration,
    /// Refreshes in flight at once (default 8).
    pub concurrency: usize,
    /// Called after each key is handled: (done, total).
    pub progress: Option<Box<dyn Fn(usize, usize) + Send + Sync>>,
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

/// Keeps sellers' tokens valid over a [`Client`] and a [`TokenStore`].
pub struct TokenManager {
    client: Arc<Client>,
    store: Arc<dyn TokenStore>,
    margin: Duration,
}

impl TokenManager {
    /// A manager refreshing tokens that expire within 3 days.
    pub fn new(client: Arc<Client>, store: Arc<dyn TokenStore>) -> Self {
        Self {
            client,
            store,
            margin: Duration::from_secs(3 * 24 * 3600),
        }
    }

    /// The refresh margin (builder style).
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Called once each time a seller is found to need authorizing again: (key, reason).
    pub fn on_reauthorization_required(
        self,
        callback: impl Fn(&str, &crate::error::Error) + Send + Sync + 'static,
    ) -> Self {
        let _ = callback;
        todo!()
    }

    /// Stores `token` for `key` (replacing what is there).
    pub fn put(&self, key: &str, token: &TokenSet) -> Result<()> {
        todo!("{key}{token:?}{:?}", self.margin)
    }

    /// The stored token set of `key`.
    pub fn get(&self, key: &str) -> Result<Option<TokenSet>> {
        todo!("{key}{:?}", self.client)
    }

    /// A valid access token for `key`, refreshing first when it expires within the margin.
    pub fn access_token(&self, key: &str) -> Result<AccessToken> {
        todo!("{key}{:?}", self.store.keys().is_ok())
    }

    /// Refreshes every stored token that expires within `options.within`.
    pub fn refresh_due(&self, options: RefreshDueOptions) -> RefreshReport {
        todo!("{:?}", options.within)
    }
}
