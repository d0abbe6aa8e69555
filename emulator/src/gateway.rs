//! The gateway's behaviour: routing, the checks in the gateway's order, token issue and rotation,
//! echo answers, faults and counters. Pure state plus one `handle` function; the HTTP server
//! around it lives in `server`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use iop_core::{AppSecret, SignMethod};
use serde_json::{Map, Value, json};

use crate::clock::{VirtualClock, epoch_ms};
use crate::message::{HttpRequest, Reply};
use crate::params::{self, Params};
use crate::push::{self, PushAttempt, PushDelivery, Pushes};
use crate::{Fault, MAX_DELAY};

/// The page a proxy in front of the gateway answers when it fails
/// (`tests/data/fixtures/gateway-html-502.html`).
pub(crate) const HTML_502: &str = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>Tengine</center>\n</body>\n</html>\n";

/// How far `timestamp` may be from the clock.
const TIMESTAMP_WINDOW_MS: u64 = 7_200_000;
/// The longest rate-limit ban (100 years): `Instant + ban` must not overflow.
const MAX_BAN: Duration = Duration::from_secs(100 * 365 * 86_400);
/// Lifetime of an authorization code.
const CODE_TTL: Duration = Duration::from_secs(30 * 60);

/// Parameters the gateway itself reads (core's lists: every call's, and TOP's, which a bare
/// `/rest?method=…` call uses too); everything else is echoed as a business parameter.
fn is_gateway_param(key: &str) -> bool {
    iop_core::request::SYSTEM_PARAMS.contains(&key)
        || iop_core::request::TOP_SYSTEM_PARAMS.contains(&key)
}

/// GOP (`/rest…`) or TOP (`/sync`): decides the envelope (core's one definition).
pub(crate) use iop_core::Style;

#[derive(Debug)]
struct Grant {
    seller_id: String,
    expires: SystemTime,
}

#[derive(Debug, Default)]
struct Tokens {
    codes: HashMap<String, Grant>,
    access: HashMap<String, Grant>,
    refresh: HashMap<String, Grant>,
    /// How many grants there may be before expired ones are swept out.
    sweep_at: usize,
}

impl Tokens {
    /// Drops the expired grants once the maps have doubled since the last sweep, so that a long
    /// run does not keep every token it ever issued. Invisible from outside: an expired grant is
    /// refused whether or not it is still here, and the virtual clock never goes back.
    fn sweep(&mut self, now: SystemTime) {
        let size = |t: &Self| t.codes.len() + t.access.len() + t.refresh.len();
        if size(self) < self.sweep_at {
            return;
        }
        for map in [&mut self.codes, &mut self.access, &mut self.refresh] {
            map.retain(|_, grant| grant.expires > now);
        }
        self.sweep_at = (2 * size(self)).max(4096);
    }
}

#[derive(Debug)]
struct FaultEntry {
    fault: Fault,
    api: Option<String>,
    remaining: u32,
}

#[derive(Debug)]
struct Ban {
    api: Option<String>,
    until: Instant,
}

#[derive(Debug, Default)]
struct Faults {
    queue: Vec<FaultEntry>,
    bans: Vec<Ban>,
}

/// What a fault does to a request that it matches.
enum Due {
    /// This answer instead of the gateway's.
    Answer(Answer),
    /// Wait, then answer normally.
    Delay(Duration),
    /// Wait for a release before processing.
    HoldBefore,
    /// Process, then wait for a release before answering.
    HoldAfter,
}

/// Why a request waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WaitKind {
    Delay,
    Hold,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    kind: WaitKind,
    api: String,
    wake: tokio::sync::oneshot::Sender<()>,
}

/// Requests waiting in a `delay` or a hold: `clear_faults` wakes them all, a release the holds.
#[derive(Debug, Default)]
struct Waiters {
    next_id: u64,
    list: Vec<Waiter>,
}

/// Removes its waiter when the wait ends, however it ends (the connection may be dropped).
struct Registered<'a> {
    state: &'a State,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock(&self.state.waiters).list.retain(|w| w.id != self.id);
    }
}

/// Everything the emulator knows; shared by the workers and the [`crate::Emulator`] handle.
pub(crate) struct State {
    pub(crate) app_key: String,
    pub(crate) app_secret: AppSecret,
    pub(crate) access_ttl: Duration,
    pub(crate) refresh_ttl: Duration,
    pub(crate) rotate_refresh_tokens: bool,
    pub(crate) clock: Arc<VirtualClock>,
    tokens: Mutex<Tokens>,
    faults: Mutex<Faults>,
    stats: Mutex<BTreeMap<String, u64>>,
    ids: AtomicU64,
    waiters: Mutex<Waiters>,
    /// APIs that answer `MissingParameter` without a token (`*`: every API).
    token_required: Mutex<BTreeSet<String>>,
    pushes: Mutex<Pushes>,
    /// Pushes being attempted now (by id): one attempt at a time per push.
    in_flight: Mutex<BTreeSet<u64>>,
    /// Business answers registered by tests, sent instead of the echo.
    answers: Mutex<crate::answers::Answers>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("app_key", &self.app_key)
            .field("app_secret", &self.app_secret)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn random_alnum(n: usize) -> String {
    (0..n).map(|_| fastrand::alphanumeric()).collect()
}

/// A gateway answer before it becomes HTTP.
type Answer = Reply;

/// The gateway's answer to a token call, written out without building a JSON tree first (a
/// refresh is the emulator's busiest answer). The fields are in the sorted order a
/// `serde_json::Map` gives them, so the bytes are the same as before.
#[derive(serde::Serialize)]
struct TokenAnswer {
    #[serde(rename = "_trace_id_")]
    trace_id: String,
    access_token: String,
    account: String,
    account_platform: &'static str,
    code: &'static str,
    expire_time: i64,
    expires_in: u64,
    havana_id: String,
    locale: &'static str,
    refresh_expires_in: u64,
    refresh_token: String,
    refresh_token_valid_time: i64,
    request_id: String,
    seller_id: String,
    sp: &'static str,
    user_id: String,
    user_nick: String,
}

impl State {
    /// New state for the given configuration.
    pub(crate) fn new(
        app_key: String,
        app_secret: AppSecret,
        access_ttl: Duration,
        refresh_ttl: Duration,
        rotate_refresh_tokens: bool,
        clock: Arc<VirtualClock>,
    ) -> Self {
        Self {
            app_key,
            app_secret,
            access_ttl,
            refresh_ttl,
            rotate_refresh_tokens,
            clock,
            tokens: Mutex::default(),
            faults: Mutex::default(),
            stats: Mutex::default(),
            ids: AtomicU64::new(0),
            waiters: Mutex::default(),
            token_required: Mutex::default(),
            pushes: Mutex::default(),
            in_flight: Mutex::default(),
            answers: Mutex::default(),
        }
    }

    /// Registers a canned answer (checked first).
    pub(crate) fn add_answer(&self, answer: crate::answers::CannedAnswer) -> Result<(), String> {
        answer.check()?;
        lock(&self.answers).add(answer);
        Ok(())
    }

    /// Forgets every canned answer.
    pub(crate) fn clear_answers(&self) {
        lock(&self.answers).clear();
    }

    /// Every canned answer, in the order registered.
    pub(crate) fn answers(&self) -> Vec<crate::answers::CannedAnswer> {
        lock(&self.answers).all()
    }

    // ---- control operations, used by the library API and the control routes ----

    pub(crate) fn authorize(&self, seller_id: &str) -> String {
        let code = format!("3_{}", random_alnum(30));
        let expires = self.clock.now() + CODE_TTL;
        lock(&self.tokens).codes.insert(
            code.clone(),
            Grant {
                seller_id: seller_id.to_owned(),
                expires,
            },
        );
        code
    }

    pub(crate) fn stats(&self) -> BTreeMap<String, u64> {
        lock(&self.stats).clone()
    }

    pub(crate) fn reset_stats(&self) {
        lock(&self.stats).clear();
    }

    pub(crate) fn inject(&self, fault: Fault, api: Option<&str>, times: u32) {
        if times == 0 {
            return;
        }
        let fault = match fault {
            Fault::Delay(d) => Fault::Delay(d.min(MAX_DELAY)),
            other => other,
        };
        lock(&self.faults).queue.push(FaultEntry {
            fault,
            api: api.map(str::to_owned),
            remaining: times,
        });
    }

    /// Removes every fault and ban, and ends every pending delay and hold.
    pub(crate) fn clear_faults(&self) {
        {
            let mut f = lock(&self.faults);
            f.queue.clear();
            f.bans.clear();
        }
        for w in std::mem::take(&mut lock(&self.waiters).list) {
            let _ = w.wake.send(());
        }
    }

    /// Lets held requests go on (those for `api`, or all); answers how many.
    pub(crate) fn release(&self, api: Option<&str>) -> usize {
        let released: Vec<Waiter> = {
            let mut waiters = lock(&self.waiters);
            let (go, stay) = std::mem::take(&mut waiters.list)
                .into_iter()
                .partition(|w| w.kind == WaitKind::Hold && api.is_none_or(|a| a == w.api));
            waiters.list = stay;
            go
        };
        let n = released.len();
        for w in released {
            let _ = w.wake.send(());
        }
        n
    }

    /// Requests held now (by a `HoldBefore` or `HoldAfter` fault), per API.
    pub(crate) fn held(&self) -> BTreeMap<String, usize> {
        let mut held = BTreeMap::new();
        for w in &lock(&self.waiters).list {
            if w.kind == WaitKind::Hold {
                *held.entry(w.api.clone()).or_insert(0) += 1;
            }
        }
        held
    }

    /// Waits until woken, or `limit` has passed.
    async fn wait(&self, kind: WaitKind, api: &str, limit: Option<Duration>) {
        let (wake, woken) = tokio::sync::oneshot::channel();
        let id = {
            let mut waiters = lock(&self.waiters);
            waiters.next_id += 1;
            let id = waiters.next_id;
            waiters.list.push(Waiter {
                id,
                kind,
                api: api.to_owned(),
                wake,
            });
            id
        };
        let _registered = Registered { state: self, id };
        match limit {
            Some(limit) => {
                let _ = tokio::time::timeout(limit, woken).await;
            }
            None => {
                let _ = woken.await;
            }
        }
    }

    /// Makes `api` answer `MissingParameter` when called without a token (`*`: every API), or
    /// no longer (`required` false).
    pub(crate) fn require_token(&self, api: &str, required: bool) {
        let mut set = lock(&self.token_required);
        if required {
            set.insert(api.to_owned());
        } else {
            set.remove(api);
        }
    }

    fn token_required(&self, api: &str) -> bool {
        let set = lock(&self.token_required);
        set.contains(api) || set.contains("*")
    }

    /// Whether `token` is a valid (issued, unexpired, not used up) refresh token of `seller_id`.
    pub(crate) fn is_current_refresh_token(&self, seller_id: &str, token: &str) -> bool {
        let now = self.clock.now();
        lock(&self.tokens)
            .refresh
            .get(token)
            .is_some_and(|g| g.seller_id == seller_id && g.expires > now)
    }

    /// Whether `token` is a valid (issued, unexpired) access token of `seller_id`.
    pub(crate) fn is_current_access_token(&self, seller_id: &str, token: &str) -> bool {
        let now = self.clock.now();
        lock(&self.tokens)
            .access
            .get(token)
            .is_some_and(|g| g.seller_id == seller_id && g.expires > now)
    }

    /// How many valid refresh and access tokens `seller_id` has.
    pub(crate) fn token_counts(&self, seller_id: &str) -> (usize, usize) {
        let now = self.clock.now();
        let tokens = lock(&self.tokens);
        let count = |m: &HashMap<String, Grant>| {
            m.values()
                .filter(|g| g.seller_id == seller_id && g.expires > now)
                .count()
        };
        (count(&tokens.refresh), count(&tokens.access))
    }

    pub(crate) fn revoke_refresh_tokens(&self, seller_id: &str) {
        lock(&self.tokens)
            .refresh
            .retain(|_, g| g.seller_id != seller_id);
    }

    /// A token set for `seller_id`, as `/auth/token/create` would answer.
    pub(crate) fn issue_token(&self, seller_id: &str) -> Value {
        // Serializing a struct cannot fail; `Null` is unreachable.
        serde_json::to_value(self.issue(seller_id)).unwrap_or(Value::Null)
    }

    /// A new grant for `seller_id`: a new refresh token, then [`Self::token_set`].
    fn issue(&self, seller_id: &str) -> TokenAnswer {
        let now = self.clock.now();
        let refresh = format!("50001{}", random_alnum(55));
        let refresh_expires = now + self.refresh_ttl;
        {
            let mut tokens = lock(&self.tokens);
            tokens.refresh.insert(
                refresh.clone(),
                Grant {
                    seller_id: seller_id.to_owned(),
                    expires: refresh_expires,
                },
            );
            tokens.sweep(now);
        }
        self.token_set(seller_id, refresh, refresh_expires, now)
    }

    fn token_set(
        &self,
        seller_id: &str,
        refresh: String,
        refresh_expires: SystemTime,
        now: SystemTime,
    ) -> TokenAnswer {
        let access = format!("50000{}", random_alnum(55));
        let access_expires = now + self.access_ttl;
        {
            let mut tokens = lock(&self.tokens);
            tokens.access.insert(
                access.clone(),
                Grant {
                    seller_id: seller_id.to_owned(),
                    expires: access_expires,
                },
            );
            tokens.sweep(now);
        }
        let refresh_left = refresh_expires
            .duration_since(now)
            .unwrap_or_default()
            .as_secs();
        let (request_id, trace_id) = self.ids();
        TokenAnswer {
            trace_id,
            access_token: access,
            account: format!("{seller_id}@sellers.example.com"),
            account_platform: "seller_center",
            code: "0",
            expire_time: epoch_ms(access_expires),
            expires_in: self.access_ttl.as_secs(),
            havana_id: format!("9{:011}", fastrand::u64(..100_000_000_000)),
            locale: "en_US",
            refresh_expires_in: refresh_left,
            refresh_token: refresh,
            refresh_token_valid_time: epoch_ms(refresh_expires),
            request_id,
            seller_id: seller_id.to_owned(),
            sp: "ae",
            user_id: seller_id.to_owned(),
            user_nick: format!("emu_{seller_id}"),
        }
    }

    /// A fresh request id (25 characters) and trace id (30), shaped like the gateway's.
    fn ids(&self) -> (String, String) {
        let n = self.ids.fetch_add(1, Ordering::Relaxed) % 10_000;
        let ms = epoch_ms(SystemTime::now()) % 10_000_000_000_000;
        let request_id = format!("{:08x}{ms:013}{n:04}", fastrand::u32(..));
        let trace_id = format!("{request_id}{:05x}", fastrand::u32(..0x100000));
        (request_id, trace_id)
    }

    // ---- push messages ----

    /// Queues a push (due now). Answers its id, or why the URL is refused.
    pub(crate) fn create_push(
        &self,
        url: &str,
        seller_id: &str,
        message_type: i64,
        data: Value,
        site: &str,
    ) -> Result<u64, String> {
        push::check_url(url)?;
        let now = self.clock.now();
        let body = json!({
            "seller_id": seller_id,
            "message_type": message_type,
            "data": data,
            "timestamp": epoch_ms(now),
            "site": site,
        })
        .to_string();
        let mut pushes = lock(&self.pushes);
        let id = pushes.log.len() as u64 + 1;
        pushes.log.push(PushDelivery {
            id,
            url: url.to_owned(),
            seller_id: seller_id.to_owned(),
            message_type,
            body,
            attempts: Vec::new(),
            delivered: false,
            next_attempt: Some(now),
        });
        Ok(id)
    }

    /// Every push so far.
    pub(crate) fn push_log(&self) -> Vec<PushDelivery> {
        lock(&self.pushes).log.clone()
    }

    /// One push by id.
    pub(crate) fn push_entry(&self, id: u64) -> Option<PushDelivery> {
        lock(&self.pushes).log.iter().find(|p| p.id == id).cloned()
    }

    /// Sends type 8 by itself to `url` for sellers within 48 h of their refresh token's expiry
    /// (checked as the clock is advanced); `None` stops it.
    pub(crate) fn auto_push_expiring(&self, url: Option<&str>) -> Result<(), String> {
        if let Some(url) = url {
            push::check_url(url)?;
        }
        lock(&self.pushes).auto_expiring = url.map(str::to_owned);
        Ok(())
    }

    /// Whether advancing the clock may have pushes to send.
    pub(crate) fn pushes_pending(&self) -> bool {
        let pushes = lock(&self.pushes);
        pushes.auto_expiring.is_some() || pushes.log.iter().any(|p| p.next_attempt.is_some())
    }

    /// Queues a type 8 for each refresh token within 48 h of its expiry, once per token.
    fn queue_expiring(&self) {
        let Some(url) = lock(&self.pushes).auto_expiring.clone() else {
            return;
        };
        let now = self.clock.now();
        let due: Vec<(String, String, SystemTime)> = lock(&self.tokens)
            .refresh
            .iter()
            .filter(|(_, g)| {
                g.expires > now
                    && g.expires.duration_since(now).unwrap_or_default() <= push::EXPIRY_NOTICE
            })
            .map(|(t, g)| (t.clone(), g.seller_id.clone(), g.expires))
            .collect();
        for (token, seller, expires) in due {
            if !lock(&self.pushes).announced.insert(token) {
                continue;
            }
            let data = json!({ "expire_time": epoch_ms(expires) });
            let _ = self.create_push(&url, &seller, 8, data, "lazada_sg");
        }
    }

    /// Attempts every push that is due on the virtual clock, one after another (a push whose
    /// retries fell due several times over gets one attempt per 30 minutes passed).
    pub(crate) async fn run_due_pushes(&self) {
        self.queue_expiring();
        loop {
            let now = self.clock.now();
            let job = {
                let pushes = lock(&self.pushes);
                let mut in_flight = lock(&self.in_flight);
                let job = pushes
                    .log
                    .iter()
                    .find(|p| {
                        p.next_attempt.is_some_and(|t| t <= now) && !in_flight.contains(&p.id)
                    })
                    .map(|p| (p.id, p.url.clone(), p.body.clone(), p.next_attempt));
                if let Some((id, ..)) = &job {
                    in_flight.insert(*id);
                }
                job
            };
            let Some((id, url, body, slot)) = job else {
                return;
            };
            let authorization =
                push::signature(&self.app_key, self.app_secret.secret(), body.as_bytes());
            let result = push::attempt(&url, &body, &authorization).await;
            let mut pushes = lock(&self.pushes);
            lock(&self.in_flight).remove(&id);
            let Some(entry) = pushes.log.iter_mut().find(|p| p.id == id) else {
                continue;
            };
            let (status, error) = match result {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e)),
            };
            entry.attempts.push(PushAttempt {
                at: self.clock.now(),
                status,
                error,
            });
            if status == Some(200) {
                entry.delivered = true;
                entry.next_attempt = None;
            } else if entry.attempts.len() >= push::MAX_ATTEMPTS {
                entry.next_attempt = None;
            } else {
                entry.next_attempt = slot.map(|t| t + push::RETRY_EVERY);
            }
        }
    }

    // ---- answers ----

    fn error(&self, style: Style, kind: &str, code: &str, message: &str) -> Answer {
        let (request_id, trace_id) = self.ids();
        let body = match style {
            Style::Gop => json!({
                "type": kind, "code": code, "message": message,
                "request_id": request_id, "_trace_id_": trace_id,
            }),
            Style::Top => json!({"error_response": {
                "type": kind, "code": code, "msg": message,
                "request_id": request_id, "_trace_id_": trace_id,
            }}),
        };
        Reply::json(200, &body)
    }

    fn missing(&self, style: Style, name: &str) -> Answer {
        self.error(
            style,
            "ISV",
            "MissingParameter",
            &format!(
                "The input parameter \u{201c}{name}\u{201d} that is mandatory for processing this request is not supplied"
            ),
        )
    }

    /// The fault for this request, if one is due; `None` lets it through.
    fn fault_for(&self, style: Style, api: &str) -> Option<Due> {
        let now = Instant::now();
        let due = {
            let mut f = lock(&self.faults);
            f.bans.retain(|b| b.until > now);
            if let Some(ban) = f
                .bans
                .iter()
                .find(|b| b.api.as_deref().is_none_or(|a| a == api))
            {
                let left = ban.until.duration_since(now);
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                drop(f);
                return Some(Due::Answer(self.rate_limited(style, secs)));
            }
            let idx = f
                .queue
                .iter()
                .position(|e| e.api.as_deref().is_none_or(|a| a == api))?;
            let entry = &mut f.queue[idx];
            entry.remaining -= 1;
            let fault = entry.fault.clone();
            let ban_api = entry.api.clone();
            if entry.remaining == 0 {
                f.queue.remove(idx);
            }
            if let Fault::RateLimit { ban } = fault {
                f.bans.push(Ban {
                    api: ban_api,
                    until: now + ban.min(MAX_BAN),
                });
            }
            fault
        };
        let answer = match due {
            Fault::Delay(d) => return Some(Due::Delay(d)),
            Fault::HoldBefore => return Some(Due::HoldBefore),
            Fault::HoldAfter => return Some(Due::HoldAfter),
            Fault::ConnectionReset => Reply::Reset,
            Fault::Http500 => {
                let Reply::Response { body, .. } = self.error(
                    style,
                    "SYSTEM",
                    "ServiceUnavailable",
                    "The request has failed due to a temporary failure of the server",
                ) else {
                    return Some(Due::Answer(Reply::Reset));
                };
                Reply::Response {
                    status: 500,
                    content_type: "application/json;charset=UTF-8",
                    body,
                }
            }
            Fault::Html502 => Reply::Response {
                status: 502,
                content_type: "text/html",
                body: HTML_502.as_bytes().to_vec(),
            },
            Fault::TruncatedJson => {
                let full = self.sample_token_body();
                let half = full.len() / 2;
                Reply::Response {
                    status: 200,
                    content_type: "application/json;charset=UTF-8",
                    body: full.as_bytes()[..half].to_vec(),
                }
            }
            Fault::RateLimit { ban } => {
                let ban = ban.min(MAX_BAN);
                let secs = ban.as_secs() + u64::from(ban.subsec_nanos() > 0);
                self.rate_limited(style, secs)
            }
        };
        Some(Due::Answer(answer))
    }

    /// A token-shaped body that grants nothing (for the truncated-JSON fault).
    fn sample_token_body(&self) -> String {
        let (request_id, trace_id) = self.ids();
        json!({
            "access_token": format!("50000{}", random_alnum(55)),
            "refresh_token": format!("50001{}", random_alnum(55)),
            "expires_in": self.access_ttl.as_secs(),
            "refresh_expires_in": self.refresh_ttl.as_secs(),
            "seller_id": "0", "user_id": "0", "sp": "ae", "locale": "en_US",
            "code": "0", "request_id": request_id, "_trace_id_": trace_id,
        })
        .to_string()
    }

    fn rate_limited(&self, style: Style, secs: u64) -> Answer {
        self.error(
            style,
            "ISV",
            "ApiCallLimit",
            &format!("Api access frequency exceeds the limit. this ban will last {secs} seconds"),
        )
    }

    // ---- the gateway ----

    /// Answers one gateway request (`/rest…`, `/sync`): a delay or a hold waits on a timer or a
    /// channel, never blocking a thread.
    pub(crate) async fn handle_gateway(&self, request: &HttpRequest) -> Answer {
        let path = request.path();
        let style = if path == "/sync" {
            Style::Top
        } else {
            Style::Gop
        };
        if request.method != "GET" && request.method != "POST" {
            let Reply::Response { body, .. } =
                self.error(style, "ISV", "MethodNotAllowed", "Use GET or POST")
            else {
                return Reply::Reset;
            };
            return Reply::Response {
                status: 405,
                content_type: "application/json;charset=UTF-8",
                body,
            };
        }
        let params = match params::parse(request) {
            Ok(p) => p,
            Err(why) => return self.error(style, "ISV", "InvalidParameter", &why),
        };

        // The API the request names: from the path, or from `method`.
        let api = match style {
            Style::Top => params.non_blank("method").map(str::to_owned),
            Style::Gop => match path.strip_prefix("/rest").unwrap_or("") {
                "" | "/" => params.non_blank("method").map(|m| {
                    if m.starts_with('/') {
                        m.to_owned()
                    } else {
                        format!("/{m}")
                    }
                }),
                p => Some(p.to_owned()),
            },
        };
        let Some(api) = api else {
            return self.missing(style, "method");
        };
        *lock(&self.stats).entry(api.clone()).or_insert(0) += 1;

        let mut hold_after = false;
        match self.fault_for(style, &api) {
            None => {}
            Some(Due::Answer(answer)) => return answer,
            Some(Due::Delay(d)) => self.wait(WaitKind::Delay, &api, Some(d)).await,
            Some(Due::HoldBefore) => self.wait(WaitKind::Hold, &api, None).await,
            Some(Due::HoldAfter) => hold_after = true,
        }
        let answer = self.answer(style, &api, &params);
        if hold_after {
            self.wait(WaitKind::Hold, &api, None).await;
        }
        answer
    }

    /// The gateway's answer to a request that no fault took.
    fn answer(&self, style: Style, api: &str, params: &Params) -> Answer {
        if let Some(answer) = self.check(style, api, params) {
            return answer;
        }
        match (style, api) {
            (Style::Gop, "/auth/token/create" | "/auth/token/security/create") => {
                self.create_token(params)
            }
            (Style::Gop, "/auth/token/refresh" | "/auth/token/security/refresh") => {
                self.refresh_token(params)
            }
            _ => self.echo(style, api, params),
        }
    }

    /// The gateway's checks, in its order. `None` when the request passes.
    fn check(&self, style: Style, api: &str, params: &Params) -> Option<Answer> {
        for name in ["app_key", "sign_method", "timestamp", "sign"] {
            if params.non_blank(name).is_none() {
                return Some(self.missing(style, name));
            }
        }
        let field = |k| params.get(k).unwrap_or("");
        if field("app_key") != self.app_key {
            return Some(self.error(
                style,
                "ISV",
                "InvalidAppKey",
                "The specified app key is invalid",
            ));
        }
        let method = match field("sign_method").to_ascii_lowercase().as_str() {
            "sha256" => SignMethod::Sha256,
            "md5" if style == Style::Top => SignMethod::Md5,
            _ => {
                return Some(self.error(
                    style,
                    "ISV",
                    "InvalidSignMethod",
                    "The specified signature method is not supported for this API",
                ));
            }
        };
        let in_window = parse_timestamp(field("timestamp")).is_some_and(|ts| {
            let virtual_ms = epoch_ms(self.clock.now());
            let real_ms = epoch_ms(SystemTime::now());
            // abs_diff: a hostile timestamp near i64::MIN must not overflow.
            ts.abs_diff(virtual_ms) <= TIMESTAMP_WINDOW_MS
                || ts.abs_diff(real_ms) <= TIMESTAMP_WINDOW_MS
        });
        if !in_window {
            return Some(self.error(
                style,
                "ISV",
                "InvalidTimestamp",
                "The specified timestamp is invalid or more than 7200 seconds away from the server time: send epoch milliseconds (1517886554000) or ISO-8601 UTC (2017-11-11T12:00:00Z)",
            ));
        }
        let pairs: Vec<(&str, &str)> = params
            .text
            .iter()
            .filter(|(k, _)| k.as_str() != "sign")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let prefix = match style {
            Style::Gop => api,
            Style::Top => "",
        };
        let expected = iop_core::sign(method, &self.app_secret, prefix, &pairs);
        if !iop_core::secret::constant_time_eq(expected.as_bytes(), field("sign").as_bytes()) {
            return Some(self.error(
                style,
                "ISV",
                "IncompleteSignature",
                "The request signature does not conform to platform standards",
            ));
        }
        None
    }

    fn create_token(&self, params: &Params) -> Answer {
        let Some(code) = params.non_blank("code") else {
            return self.missing(Style::Gop, "code");
        };
        let now = self.clock.now();
        // Single use: the code is gone whether or not it was still valid.
        let grant = lock(&self.tokens).codes.remove(code);
        match grant {
            Some(g) if g.expires > now => Reply::json(200, &self.issue(&g.seller_id)),
            _ => self.error(
                Style::Gop,
                "ISV",
                "InvalidCode",
                "The specified authorization code is invalid, used or expired",
            ),
        }
    }

    fn refresh_token(&self, params: &Params) -> Answer {
        let Some(refresh) = params.non_blank("refresh_token") else {
            return self.missing(Style::Gop, "refresh_token");
        };
        let now = self.clock.now();
        let found = {
            let mut tokens = lock(&self.tokens);
            let valid = tokens.refresh.get(refresh).is_some_and(|g| g.expires > now);
            if !valid {
                None
            } else if self.rotate_refresh_tokens {
                tokens.refresh.remove(refresh)
            } else {
                tokens.refresh.get(refresh).map(|g| Grant {
                    seller_id: g.seller_id.clone(),
                    expires: g.expires,
                })
            }
        };
        let Some(grant) = found else {
            return self.error(
                Style::Gop,
                "ISV",
                "IllegalRefreshToken",
                "The specified refresh token is invalid or expired",
            );
        };
        if self.rotate_refresh_tokens {
            Reply::json(200, &self.issue(&grant.seller_id))
        } else {
            // Without rotation the refresh token and its expiry stay as they were.
            Reply::json(
                200,
                &self.token_set(&grant.seller_id, refresh.to_owned(), grant.expires, now),
            )
        }
    }

    /// Any other call: checks the seller's token, then echoes the business parameters.
    fn echo(&self, style: Style, api: &str, params: &Params) -> Answer {
        let token_param = match style {
            Style::Gop => "access_token",
            Style::Top => "session",
        };
        // App-level APIs need no token: the token is checked whenever one is sent, and is
        // required only where a test asked for it.
        let seller_id = match params.non_blank(token_param) {
            None if self.token_required(api) => return self.missing(style, token_param),
            None => Value::Null,
            Some(token) => {
                let now = self.clock.now();
                let seller_id = lock(&self.tokens)
                    .access
                    .get(token)
                    .filter(|g| g.expires > now)
                    .map(|g| g.seller_id.clone());
                let Some(seller_id) = seller_id else {
                    return self.error(
                        style,
                        "ISV",
                        "IllegalAccessToken",
                        "The specified access token is invalid or expired",
                    );
                };
                Value::String(seller_id)
            }
        };
        let canned = lock(&self.answers).find(api, seller_id.as_str(), &params.text);
        if let Some(body) = canned {
            let (request_id, trace_id) = self.ids();
            let simplify = params.get("simplify") == Some("true");
            return Reply::json(
                200,
                &crate::answers::envelope(style, api, body, simplify, &request_id, &trace_id),
            );
        }
        let business: Map<String, Value> = params
            .text
            .iter()
            .filter(|(k, _)| !is_gateway_param(k))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let files: Map<String, Value> = params
            .files
            .iter()
            .map(|(k, f)| (k.clone(), json!({"filename": f.filename, "size": f.size})))
            .collect();
        let (request_id, trace_id) = self.ids();
        let body = match style {
            Style::Gop => json!({
                "code": "0",
                "api": api,
                "seller_id": seller_id,
                "params": business,
                "files": files,
                "request_id": request_id,
                "_trace_id_": trace_id,
            }),
            Style::Top => {
                let inner = json!({
                    "result": {
                        "api": api,
                        "seller_id": seller_id,
                        "params": business,
                        "files": files,
                    },
                    "request_id": request_id,
                    "_trace_id_": trace_id,
                });
                if params.get("simplify") == Some("true") {
                    inner
                } else {
                    let key = format!("{}_response", api.replace('.', "_"));
                    let mut outer = Map::new();
                    outer.insert(key, inner);
                    Value::Object(outer)
                }
            }
        };
        Reply::json(200, &body)
    }
}

/// A `timestamp` as epoch milliseconds: digits (epoch milliseconds) or ISO-8601 UTC
/// (`2017-11-11T12:00:00Z`, optionally with a fraction of a second, `z`, or `+00:00`).
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let rest = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix('z'))
        .or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = rest.split_once(['T', 't'])?;
    let number = |s: &str, len: usize| -> Option<i64> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let mut d = date.split('-');
    let (year, month, day) = (
        number(d.next()?, 4)?,
        number(d.next()?, 2)?,
        number(d.next()?, 2)?,
    );
    if d.next().is_some() {
        return None;
    }
    let (hms, fraction) = match time.split_once('.') {
        Some((hms, f))
            if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (hms, f)
        }
        Some(_) => return None,
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let (hour, minute, second) = (
        number(t.next()?, 2)?,
        number(t.next()?, 2)?,
        number(t.next()?, 2)?,
    );
    if t.next().is_some() {
        return None;
    }
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 in the proleptic Gregorian calendar (civil-from-days, inverted).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let millis = if fraction.is_empty() {
        0
    } else {
        let mut f = fraction.to_owned();
        f.truncate(3);
        while f.len() < 3 {
            f.push('0');
        }
        f.parse::<i64>().ok()?
    };
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::{Grant, Tokens, parse_timestamp};

    #[test]
    fn expired_grants_are_swept_once_the_maps_double() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let grant = |expires| Grant {
            seller_id: "s".to_owned(),
            expires,
        };
        let mut tokens = Tokens::default();
        for i in 0..5000 {
            let expires = start + Duration::from_secs(if i % 2 == 0 { 10 } else { 1000 });
            tokens.access.insert(format!("a{i}"), grant(expires));
            tokens.sweep(start);
        }
        // Nothing has expired yet: nothing swept, and the next sweep waits for twice as many.
        assert_eq!(tokens.access.len(), 5000);
        let later = start + Duration::from_secs(100);
        tokens.refresh.insert("r".to_owned(), grant(later));
        tokens.sweep(later);
        assert_eq!(tokens.access.len(), 5000, "swept before the maps doubled");
        for i in 5000..10_000 {
            tokens
                .access
                .insert(format!("a{i}"), grant(start + Duration::from_secs(1000)));
            tokens.sweep(later);
        }
        // The sweep at 8,192 grants dropped the 2,500 that expired at +10 s (and the refresh
        // grant that expired at +100 s); every live one is kept.
        assert_eq!(tokens.access.len(), 7500);
        assert!(tokens.refresh.is_empty());
        assert!(tokens.access.values().all(|g| g.expires > later));
    }

    #[test]
    fn timestamps_in_both_formats() {
        assert_eq!(parse_timestamp("1517886554000"), Some(1_517_886_554_000));
        assert_eq!(parse_timestamp(" 42 "), Some(42));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2017-11-11T12:00:00Z"),
            Some(1_510_401_600_000)
        );
        assert_eq!(
            parse_timestamp("2018-02-06T03:09:14Z"),
            Some(1_517_886_554_000)
        );
        assert_eq!(
            parse_timestamp("2018-02-06T03:09:14.5Z"),
            Some(1_517_886_554_500)
        );
        assert_eq!(
            parse_timestamp("2018-02-06T03:09:14+00:00"),
            Some(1_517_886_554_000)
        );
        assert_eq!(
            parse_timestamp("2000-02-29T00:00:00Z"),
            Some(951_782_400_000)
        );
        for bad in [
            "",
            "soon",
            "2017-11-11T12:00:00",
            "2017-11-11 12:00:00Z",
            "2017-11-11T12:00:00+08:00",
            "2017-13-11T12:00:00Z",
            "2017-02-29T12:00:00Z",
            "2017-11-11T24:00:00Z",
            "2017-11-11T12:00Z",
            "17-11-11T12:00:00Z",
            "2017-11-11T12:00:00.Z",
            "+2017-11-11T12:00:00Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
