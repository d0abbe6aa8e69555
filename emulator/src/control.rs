//! The control API under `/_emulator/`: the library API over HTTP, for C tests, users and other
//! languages. Parameters come from the query or a form body; GET and POST are both accepted.
//! Every answer is JSON; a bad request is HTTP 400 `{"error": "…"}`.

use std::time::Duration;

use serde_json::json;

use crate::clock::epoch_ms;
use crate::gateway::State;
use crate::message::{HttpRequest, Reply};
use crate::params;
use crate::{Fault, MAX_DELAY};

fn bad(why: impl Into<String>) -> Reply {
    Reply::json(400, &json!({ "error": why.into() }))
}

fn ok() -> Reply {
    Reply::json(200, &json!({ "ok": true }))
}

/// Answers `/_emulator/<route>`.
pub(crate) fn handle(state: &State, route: &str, request: &HttpRequest) -> Reply {
    let params = match params::parse(request) {
        Ok(p) => p,
        Err(why) => return bad(why),
    };
    let number = |name: &str| -> Result<Option<u64>, Reply> {
        match params.non_blank(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| bad(format!("{name} must be a non-negative integer"))),
        }
    };
    match route {
        "authorize" => match params.non_blank("seller_id") {
            Some(seller) => Reply::json(200, &json!({ "code": state.authorize(seller) })),
            None => bad("seller_id is required"),
        },
        "advance" => {
            let by = match (number("seconds"), number("ms")) {
                (Ok(s), Ok(ms)) => Duration::from_secs(s.unwrap_or(0))
                    .saturating_add(Duration::from_millis(ms.unwrap_or(0))),
                (Err(r), _) | (_, Err(r)) => return r,
            };
            state.clock.advance(by);
            Reply::json(200, &json!({ "now_ms": epoch_ms(state.clock.now()) }))
        }
        "now" => Reply::json(200, &json!({ "now_ms": epoch_ms(state.clock.now()) })),
        "stats" => Reply::json(200, &json!(state.stats())),
        "reset_stats" => {
            state.reset_stats();
            ok()
        }
        "clear_faults" => {
            state.clear_faults();
            ok()
        }
        "revoke" => match params.non_blank("seller_id") {
            Some(seller) => {
                state.revoke_refresh_tokens(seller);
                ok()
            }
            None => bad("seller_id is required"),
        },
        "fault" => {
            let times = match number("times") {
                Ok(t) => u32::try_from(t.unwrap_or(1)).unwrap_or(u32::MAX),
                Err(r) => return r,
            };
            let fault = match params.non_blank("kind") {
                Some("delay") => match number("ms") {
                    Ok(ms) => {
                        let d = Duration::from_millis(ms.unwrap_or(1000));
                        if d > MAX_DELAY {
                            return bad(format!(
                                "ms may be at most {} (10 minutes)",
                                MAX_DELAY.as_millis()
                            ));
                        }
                        Fault::Delay(d)
                    }
                    Err(r) => return r,
                },
                Some("hold_before") => Fault::HoldBefore,
                Some("hold_after") => Fault::HoldAfter,
                Some("reset") => Fault::ConnectionReset,
                Some("http500") => Fault::Http500,
                Some("html502") => Fault::Html502,
                Some("truncated") => Fault::TruncatedJson,
                Some("rate_limit") => match number("ban") {
                    Ok(secs) => Fault::RateLimit {
                        ban: Duration::from_secs(secs.unwrap_or(2)),
                    },
                    Err(r) => return r,
                },
                _ => {
                    return bad(
                        "kind must be one of delay, reset, http500, html502, truncated, rate_limit, hold_before, hold_after",
                    );
                }
            };
            state.inject(fault, params.non_blank("api"), times);
            ok()
        }
        "release" => {
            let released = state.release(params.non_blank("api"));
            Reply::json(200, &json!({ "released": released }))
        }
        "held" => {
            let held = state.held();
            let total: usize = held.values().sum();
            Reply::json(200, &json!({ "held": total, "apis": held }))
        }
        "tokens" => {
            let Some(seller) = params.non_blank("seller_id") else {
                return bad("seller_id is required");
            };
            let mut answer = serde_json::Map::new();
            let (refresh, access) = state.token_counts(seller);
            answer.insert("seller_id".into(), json!(seller));
            answer.insert("refresh_tokens".into(), json!(refresh));
            answer.insert("access_tokens".into(), json!(access));
            let asked_refresh = params.get("refresh_token");
            let asked_access = params.get("access_token");
            if let Some(t) = asked_refresh {
                answer.insert(
                    "refresh_token_current".into(),
                    json!(state.is_current_refresh_token(seller, t)),
                );
            }
            if let Some(t) = asked_access {
                answer.insert(
                    "access_token_current".into(),
                    json!(state.is_current_access_token(seller, t)),
                );
            }
            // `current`: every token asked about is current.
            if asked_refresh.is_some() || asked_access.is_some() {
                let current = asked_refresh
                    .is_none_or(|t| state.is_current_refresh_token(seller, t))
                    && asked_access.is_none_or(|t| state.is_current_access_token(seller, t));
                answer.insert("current".into(), json!(current));
            }
            Reply::json(200, &serde_json::Value::Object(answer))
        }
        "push_log" => Reply::json(
            200,
            &json!(
                state
                    .push_log()
                    .iter()
                    .map(crate::push::PushDelivery::to_json)
                    .collect::<Vec<_>>()
            ),
        ),
        "auto_push" => match state.auto_push_expiring(params.non_blank("url")) {
            Ok(()) => ok(),
            Err(why) => bad(why),
        },
        "answer" => {
            let Some(api) = params.non_blank("api") else {
                return bad("api is required");
            };
            let Some(body) = params.non_blank("body") else {
                return bad("body is required (a JSON object)");
            };
            let body = match serde_json::from_str::<serde_json::Value>(body) {
                Ok(body) => body,
                Err(_) => return bad("body must be JSON (an object)"),
            };
            let mut answer = crate::CannedAnswer::new(api, body);
            if let Some(seller) = params.non_blank("seller") {
                answer = answer.seller(seller);
            }
            if let Some(given) = params.non_blank("params") {
                match serde_json::from_str::<std::collections::BTreeMap<String, String>>(given) {
                    Ok(given) => answer.params = given,
                    Err(_) => {
                        return bad(
                            "params must be a JSON object of strings: {\"name\": \"value\"}",
                        );
                    }
                }
            }
            match state.add_answer(answer) {
                Ok(()) => ok(),
                Err(why) => bad(why),
            }
        }
        "clear_answers" => {
            state.clear_answers();
            ok()
        }
        "answers" => Reply::json(200, &state.answers()),
        "require_token" => {
            let Some(api) = params.non_blank("api") else {
                return bad("api is required (an API name, or * for every API)");
            };
            let required = match params.non_blank("required") {
                None | Some("true" | "1") => true,
                Some("false" | "0") => false,
                Some(_) => return bad("required must be true or false"),
            };
            state.require_token(api, required);
            ok()
        }
        _ => Reply::json(
            404,
            &json!({ "error": format!("no control route /_emulator/{route}") }),
        ),
    }
}

/// `POST /_emulator/push?url=…&seller_id=…&message_type=…[&data=JSON][&site=…]`: queues a
/// signed push, makes its first attempt, answers the log entry.
pub(crate) async fn push(state: &State, request: &HttpRequest) -> Reply {
    let params = match params::parse(request) {
        Ok(p) => p,
        Err(why) => return bad(why),
    };
    let (Some(url), Some(seller)) = (params.non_blank("url"), params.non_blank("seller_id")) else {
        return bad("url and seller_id are required");
    };
    let Some(message_type) = params
        .non_blank("message_type")
        .and_then(|t| t.trim().parse::<i64>().ok())
    else {
        return bad("message_type must be an integer");
    };
    let data = match params.non_blank("data") {
        None => json!({}),
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => v,
            Err(_) => return bad("data must be JSON"),
        },
    };
    let site = params.non_blank("site").unwrap_or("lazada_sg");
    let id = match state.create_push(url, seller, message_type, data, site) {
        Ok(id) => id,
        Err(why) => return bad(why),
    };
    state.run_due_pushes().await;
    match state.push_entry(id) {
        Some(entry) => Reply::json(200, &entry.to_json()),
        None => bad("the push was lost"),
    }
}

/// `GET /oauth/authorize?response_type=code&redirect_uri=…&client_id=…&state=…[&seller_id=…]`:
/// the seller "agrees" at once: 302 to `redirect_uri` with a fresh `code` and the `state`.
/// With `deny=true`, the redirect carries `error=access_denied` instead.
pub(crate) fn oauth_authorize(state: &State, request: &HttpRequest) -> Reply {
    let params = match params::parse(request) {
        Ok(p) => p,
        Err(why) => return bad(why),
    };
    if params.get("response_type") != Some("code") {
        return bad("response_type must be code");
    }
    if params.get("client_id") != Some(state.app_key.as_str()) {
        return bad("client_id is not the app key of this emulator");
    }
    let Some(redirect) = params.non_blank("redirect_uri") else {
        return bad("redirect_uri is required");
    };
    if !(redirect.starts_with("http://") || redirect.starts_with("https://"))
        || redirect.contains('#')
    {
        return bad("redirect_uri must be an http(s) URL without a fragment");
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    if params.get("deny") == Some("true") {
        query.append_pair("error", "access_denied");
        query.append_pair("error_description", "The seller did not authorize the app");
    } else {
        let seller = params.non_blank("seller_id").unwrap_or("seller-1");
        query.append_pair("code", &state.authorize(seller));
    }
    if let Some(s) = params.get("state") {
        query.append_pair("state", s);
    }
    let separator = if redirect.contains('?') { '&' } else { '?' };
    Reply::Redirect(format!("{redirect}{separator}{}", query.finish()))
}
