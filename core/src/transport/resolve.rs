//! Name lookups for [`super::HttpTransport`] without a thread per call.
//!
//! `ureq`'s default resolver starts a thread for every lookup that has a timeout, even for
//! `127.0.0.1` and even when a pooled connection is then reused. This one:
//! - uses an IP-literal host as it is, with no lookup at all;
//! - keeps the addresses of a name for a bounded time ([`super::HttpConfig::name_cache_ttl`]),
//!   at most [`MAX_CACHED_NAMES`] names, and forgets a name as soon as a connection to it fails
//!   (so a moved host is looked up again on the retry);
//! - on a cache miss, looks the name up on a short-lived thread bounded by the connect timeout
//!   (the system resolver cannot be interrupted), so a thread is started once per name and
//!   cache period, not per call.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Most names kept at once; one app talks to a handful of hosts.
pub(crate) const MAX_CACHED_NAMES: usize = 64;

/// Most addresses `ureq` takes from a lookup.
const MAX_ADDRS: usize = 16;

/// A cached lookup.
#[derive(Debug, Clone)]
struct Entry {
    addrs: Vec<SocketAddr>,
    until: Instant,
}

/// The caching resolver; cheap to clone (shared cache).
#[derive(Debug, Clone)]
pub(crate) struct CachingResolver {
    ttl: Duration,
    cache: Arc<Mutex<HashMap<String, Entry>>>,
    lookups: Arc<std::sync::atomic::AtomicU64>,
}

impl CachingResolver {
    /// A resolver keeping names for `ttl` (zero: no caching).
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cache: Arc::default(),
            lookups: Arc::default(),
        }
    }

    /// Forgets the addresses of `host:port` (after a failed connection).
    pub(crate) fn forget(&self, host_port: &str) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(host_port);
    }

    /// How many system lookups were made (for tests).
    #[cfg(test)]
    pub(crate) fn lookups(&self) -> u64 {
        self.lookups.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn cached(&self, key: &str, now: Instant) -> Option<Vec<SocketAddr>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(key)
            .filter(|e| e.until > now)
            .map(|e| e.addrs.clone())
    }

    fn store(&self, key: String, addrs: Vec<SocketAddr>, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHED_NAMES && !cache.contains_key(&key) {
            cache.retain(|_, e| e.until > now);
            if cache.len() >= MAX_CACHED_NAMES {
                // Still full of live entries: drop the one that expires first.
                if let Some(oldest) = cache
                    .iter()
                    .min_by_key(|(_, e)| e.until)
                    .map(|(k, _)| k.clone())
                {
                    cache.remove(&oldest);
                }
            }
        }
        let until = now.checked_add(self.ttl).unwrap_or(now);
        cache.insert(key, Entry { addrs, until });
    }

    /// A system lookup of `host_port`, bounded by `timeout` when there is one.
    fn lookup(
        &self,
        host_port: String,
        timeout: &NextTimeout,
    ) -> Result<Vec<SocketAddr>, ureq::Error> {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if timeout.after.is_not_happening() {
            return Ok(host_port.to_socket_addrs()?.collect());
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("iop-lookup".to_owned())
            .spawn(move || {
                let _ = tx.send(host_port.to_socket_addrs().map(Iterator::collect));
            })?;
        match rx.recv_timeout(*timeout.after) {
            Ok(result) => Ok(result?),
            Err(_) => Err(ureq::Error::Timeout(timeout.reason)),
        }
    }
}

/// `host:port` of `uri` (default port by scheme), or `None` when it has no host.
pub(crate) fn host_port(uri: &Uri) -> Option<(String, u16)> {
    let host = uri.host()?;
    let port = uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })?;
    Some((host.to_owned(), port))
}

/// The IP address of an IP-literal host (`127.0.0.1`, `[::1]`).
fn ip_literal(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (host, port) =
            host_port(uri).ok_or_else(|| ureq::Error::BadUri("no host".to_owned()))?;
        let addrs = if let Some(ip) = ip_literal(&host) {
            vec![SocketAddr::new(ip, port)]
        } else {
            let key = format!("{host}:{port}");
            let now = Instant::now();
            match self.cached(&key, now) {
                Some(addrs) => addrs,
                None => {
                    let addrs = self.lookup(key.clone(), &timeout)?;
                    if !addrs.is_empty() {
                        self.store(key, addrs.clone(), now);
                    }
                    addrs
                }
            }
        };
        let mut result = self.empty();
        for addr in config
            .ip_family()
            .keep_wanted(addrs.into_iter())
            .take(MAX_ADDRS)
        {
            result.push(addr);
        }
        if result.is_empty() {
            Err(ureq::Error::HostNotFound)
        } else {
            Ok(result)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(r: &CachingResolver, url: &str) -> Vec<SocketAddr> {
        let uri: Uri = url.parse().unwrap();
        let timeout = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::Exact(Duration::from_secs(5)),
            reason: ureq::Timeout::Resolve,
            ..NextTimeout::default()
        };
        r.resolve(&uri, &Config::default(), timeout)
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        let r = CachingResolver::new(Duration::from_secs(60));
        assert_eq!(
            resolve(&r, "http://127.0.0.1:8080/rest"),
            ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve(&r, "https://[::1]/rest"),
            ["[::1]:443".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(r.lookups(), 0);
    }

    #[test]
    fn names_are_cached_until_forgotten() {
        let r = CachingResolver::new(Duration::from_secs(60));
        let first = resolve(&r, "http://localhost:9/x");
        assert!(!first.is_empty());
        assert_eq!(resolve(&r, "http://localhost:9/y"), first);
        assert_eq!(r.lookups(), 1);
        r.forget("localhost:9");
        resolve(&r, "http://localhost:9/z");
        assert_eq!(r.lookups(), 2);
        // No caching with a zero period.
        let r = CachingResolver::new(Duration::ZERO);
        resolve(&r, "http://localhost:9/x");
        resolve(&r, "http://localhost:9/x");
        assert_eq!(r.lookups(), 2);
    }

    #[test]
    fn the_cache_is_bounded() {
        let r = CachingResolver::new(Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..(MAX_CACHED_NAMES + 10) {
            r.store(format!("h{i}:1"), vec!["127.0.0.1:1".parse().unwrap()], now);
        }
        assert_eq!(r.cache.lock().unwrap().len(), MAX_CACHED_NAMES);
    }
}
