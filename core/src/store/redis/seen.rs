//! Push markers of a [`RedisStore`] ([`crate::TokenStore::mark_seen`]): the string
//! `P` `seen:` `marker`, set with `SET NX PX` (so that of all the hosts recording one marker
//! exactly one succeeds) and expired by the server. It holds a random id of the call that set
//! it, so that a call retried after a lost reply knows its own write.

use std::time::Duration;

use redis::Script;

use super::{RedisStore, unique_id};
use crate::error::Result;
use crate::store::seen::{bounded_ttl, check_marker};

// KEYS[1] marker; ARGV: this call's id, ttl ms. 1 when this call set it (also on a retry whose
// first attempt did), 0 when another did.
const MARK_SEEN: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
";

impl RedisStore {
    /// [`crate::TokenStore::mark_seen`] on the server (see the module docs).
    pub(super) fn mark_seen_on_server(&self, marker: &str, ttl: Duration) -> Result<bool> {
        check_marker(marker)?;
        let inner = &self.inner;
        let seen_key = format!("{}seen:{marker}", inner.options.prefix);
        let ms = u64::try_from(bounded_ttl(ttl).as_millis()).unwrap_or(u64::MAX);
        let id = unique_id();
        let script = Script::new(MARK_SEEN);
        let set: i64 = inner.run("", "cannot record a push marker", |con| {
            script.key(&seen_key).arg(&id).arg(ms).invoke(con)
        })?;
        Ok(set == 1)
    }
}
