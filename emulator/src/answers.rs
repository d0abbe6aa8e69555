//! Canned business answers: what an API answers, registered by a test (optionally for one seller
//! or for given parameter values), sent in the gateway's real envelope instead of the echo.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::gateway::Style;

/// The answers shipped with the emulator for the APIs that READMEs and third-party SDKs call
/// first (`aliexpress.affiliate.category.get`, `aliexpress.affiliate.link.generate`,
/// `aliexpress.affiliate.product.query`, `aliexpress.affiliate.productdetail.get`,
/// `aliexpress.solution.product.list.get`, Lazada's `/seller/get`, `/orders/get`, `/order/get`), in the shapes the platforms document. Load them
/// with [`crate::Emulator::load_answers`]`(COMMON_ANSWERS)`, `--answers common`, or
/// `iop.testing.Emulator(answers="common")`.
pub const COMMON_ANSWERS: &str = include_str!("answers/common.json");

/// What an API answers (see [`crate::Emulator::answer`]): `body`, a JSON object, sent in the
/// gateway's envelope for the API's style.
///
/// - `/sync` (TOP, a dotted name): `{"<name with . as _>_response": {…body…, "request_id": …}}`,
///   or the inner object alone when the call asked `simplify=true`. A body holding
///   `error_response` is the gateway's error envelope and is sent as it is.
/// - `/rest` (GOP, a path): the body's fields at the top level, with `"code": "0"` unless the
///   body sets `code`, and a `request_id`.
///
/// The answer applies to calls for `seller` only (the seller of the access token sent) when it
/// is set, and to calls that sent every parameter of `params` with exactly that value. When
/// several answers apply, the one with the most conditions wins (a seller and each parameter
/// count one each); between equals, the one registered last. Registering an answer with the
/// same API, seller and parameters replaces the earlier one.
///
/// In JSON (`--answers FILE`, `POST /_emulator/answer`):
/// `{"api": "…", "body": {…}, "seller": "…", "params": {"name": "value"}}` (`seller` and
/// `params` optional); a file holds a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedAnswer {
    /// The API: a path (`/seller/get`) or a dotted name (`aliexpress.affiliate.category.get`).
    pub api: String,
    /// The JSON object answered.
    pub body: Value,
    /// Only for calls made with this seller's access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller: Option<String>,
    /// Only for calls that sent each of these parameters with this value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

impl CannedAnswer {
    /// `body` for every call of `api`.
    pub fn new(api: impl Into<String>, body: Value) -> Self {
        Self {
            api: api.into(),
            body,
            seller: None,
            params: BTreeMap::new(),
        }
    }

    /// Only for calls made with `seller`'s access token.
    pub fn seller(mut self, seller: impl Into<String>) -> Self {
        self.seller = Some(seller.into());
        self
    }

    /// Only for calls that sent `name` with the value `value`.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// Refuses an answer that cannot be sent: an empty API name, a body that is not an object.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.api.trim().is_empty() {
            return Err("api must not be empty".to_owned());
        }
        if !self.body.is_object() {
            return Err(format!(
                "the answer of {} must be a JSON object, not {}",
                self.api,
                kind(&self.body)
            ));
        }
        Ok(())
    }

    /// How specific the answer is: one per condition.
    fn conditions(&self) -> usize {
        usize::from(self.seller.is_some()) + self.params.len()
    }

    /// Whether it applies to a call of `api` for `seller` with `params`.
    fn applies(&self, api: &str, seller: Option<&str>, params: &BTreeMap<String, String>) -> bool {
        self.api == api
            && self.seller.as_deref().is_none_or(|s| Some(s) == seller)
            && self
                .params
                .iter()
                .all(|(name, value)| params.get(name) == Some(value))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads answers from JSON: a list of answers, or a single one. Errors say what is wrong.
pub(crate) fn parse_answers(json: &str) -> Result<Vec<CannedAnswer>, String> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| format!("answers are not valid JSON: {e}"))?;
    let answers: Vec<CannedAnswer> = match value {
        Value::Array(_) => serde_json::from_value(value),
        other => serde_json::from_value(other).map(|one| vec![one]),
    }
    .map_err(|e| {
        format!("not a list of answers ({{\"api\", \"body\", \"seller\", \"params\"}}): {e}")
    })?;
    for answer in &answers {
        answer.check()?;
    }
    Ok(answers)
}

/// The registered answers.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    list: Vec<CannedAnswer>,
}

impl Answers {
    /// Adds `answer`, replacing one with the same API, seller and parameters.
    pub(crate) fn add(&mut self, answer: CannedAnswer) {
        self.list.retain(|a| {
            !(a.api == answer.api && a.seller == answer.seller && a.params == answer.params)
        });
        self.list.push(answer);
    }

    /// Forgets every answer.
    pub(crate) fn clear(&mut self) {
        self.list.clear();
    }

    /// Every answer, in the order registered.
    pub(crate) fn all(&self) -> Vec<CannedAnswer> {
        self.list.clone()
    }

    /// The body that applies to a call, if any (see [`CannedAnswer`]).
    pub(crate) fn find(
        &self,
        api: &str,
        seller: Option<&str>,
        params: &BTreeMap<String, String>,
    ) -> Option<Value> {
        self.list
            .iter()
            .enumerate()
            .filter(|(_, a)| a.applies(api, seller, params))
            .max_by_key(|(order, a)| (a.conditions(), *order))
            .map(|(_, a)| a.body.clone())
    }
}

/// `body` in the gateway's envelope for a call of `api` (see [`CannedAnswer`]).
pub(crate) fn envelope(
    style: Style,
    api: &str,
    body: Value,
    simplify: bool,
    request_id: &str,
    trace_id: &str,
) -> Value {
    let mut object = match body {
        Value::Object(object) => object,
        other => {
            let mut wrapped = Map::new();
            wrapped.insert("result".to_owned(), other);
            wrapped
        }
    };
    let stamp = |object: &mut Map<String, Value>| {
        object
            .entry("request_id")
            .or_insert_with(|| Value::String(request_id.to_owned()));
        object
            .entry("_trace_id_")
            .or_insert_with(|| Value::String(trace_id.to_owned()));
    };
    match style {
        Style::Gop => {
            object
                .entry("code")
                .or_insert_with(|| Value::String("0".to_owned()));
            stamp(&mut object);
            Value::Object(object)
        }
        Style::Top => {
            if let Some(Value::Object(error)) = object.get_mut("error_response") {
                stamp(error);
                return Value::Object(object);
            }
            stamp(&mut object);
            if simplify {
                return Value::Object(object);
            }
            let mut outer = Map::new();
            outer.insert(
                format!("{}_response", api.replace('.', "_")),
                Value::Object(object),
            );
            Value::Object(outer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_most_specific_answer_wins_then_the_latest() {
        let mut answers = Answers::default();
        answers.add(CannedAnswer::new("/seller/get", json!({"n": "any"})));
        answers.add(CannedAnswer::new("/seller/get", json!({"n": "s1"})).seller("s1"));
        answers.add(
            CannedAnswer::new("/seller/get", json!({"n": "s1+x"}))
                .seller("s1")
                .param("x", "1"),
        );
        fn find(answers: &Answers, seller: Option<&str>, p: &[(&str, &str)]) -> Option<Value> {
            answers
                .find("/seller/get", seller, &params(p))
                .map(|b| b["n"].clone())
        }
        assert_eq!(find(&answers, None, &[]), Some(json!("any")));
        assert_eq!(
            find(&answers, Some("s2"), &[("x", "1")]),
            Some(json!("any"))
        );
        assert_eq!(find(&answers, Some("s1"), &[]), Some(json!("s1")));
        assert_eq!(
            find(&answers, Some("s1"), &[("x", "1")]),
            Some(json!("s1+x"))
        );
        assert_eq!(find(&answers, Some("s1"), &[("x", "2")]), Some(json!("s1")));
        assert_eq!(answers.find("/orders/get", None, &params(&[])), None);
        // The same conditions again replace the earlier answer.
        answers.add(CannedAnswer::new("/seller/get", json!({"n": "any-2"})));
        assert_eq!(find(&answers, None, &[]), Some(json!("any-2")));
        assert_eq!(answers.all().len(), 3);
    }

    #[test]
    fn envelopes_are_the_gateways() {
        let top = envelope(
            Style::Top,
            "aliexpress.affiliate.category.get",
            json!({"resp_result": {"resp_code": 200}}),
            false,
            "rid",
            "tid",
        );
        assert_eq!(
            top,
            json!({"aliexpress_affiliate_category_get_response": {
                "resp_result": {"resp_code": 200}, "request_id": "rid", "_trace_id_": "tid"}})
        );
        let simplified = envelope(Style::Top, "a.b", json!({"x": 1}), true, "rid", "tid");
        assert_eq!(
            simplified,
            json!({"x": 1, "request_id": "rid", "_trace_id_": "tid"})
        );
        let error = envelope(
            Style::Top,
            "a.b",
            json!({"error_response": {"code": "15", "msg": "m"}}),
            false,
            "rid",
            "tid",
        );
        assert_eq!(error["error_response"]["request_id"], "rid");
        assert!(error.get("a_b_response").is_none());
        let gop = envelope(
            Style::Gop,
            "/seller/get",
            json!({"data": {"name": "shop"}}),
            false,
            "rid",
            "tid",
        );
        assert_eq!(
            gop,
            json!({"data": {"name": "shop"}, "code": "0", "request_id": "rid", "_trace_id_": "tid"})
        );
        let gop_error = envelope(
            Style::Gop,
            "/x",
            json!({"code": "SellerNotFound", "type": "ISV"}),
            false,
            "rid",
            "tid",
        );
        assert_eq!(gop_error["code"], "SellerNotFound");
    }

    #[test]
    fn answer_files_are_checked() {
        assert!(parse_answers(COMMON_ANSWERS).unwrap().len() >= 4);
        assert!(
            parse_answers("[{\"api\": \"/x\", \"body\": [1]}]")
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(parse_answers("[{\"api\": \"/x\", \"body\": {}, \"sellr\": \"s\"}]").is_err());
        assert!(
            parse_answers("nope")
                .unwrap_err()
                .contains("not valid JSON")
        );
        let one =
            parse_answers("{\"api\": \"/x\", \"body\": {\"a\": 1}, \"params\": {\"p\": \"1\"}}")
                .unwrap();
        assert_eq!(
            one[0],
            CannedAnswer::new("/x", json!({"a": 1})).param("p", "1")
        );
    }
}
