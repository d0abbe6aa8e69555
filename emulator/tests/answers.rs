//! Canned business answers: registered from Rust, through the control API, or from a file at
//! start (`--answers FILE`, `--answers common`); sent in the gateway's real envelopes, per
//! seller and per parameter, with the token still checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::*;
use iop_emulator::{COMMON_ANSWERS, CannedAnswer, Config, Emulator};
use serde_json::{Value, json};

const CATEGORIES: &str = "aliexpress.affiliate.category.get";

fn categories_body(name: &str) -> Value {
    json!({"resp_result": {"resp_code": 200, "resp_msg": "Call succeeds", "result": {
        "total_result_count": 1,
        "categories": {"category": [{"category_id": 3, "category_name": name}]}}}})
}

#[test]
fn a_top_answer_comes_in_the_method_response_envelope() {
    let em = Emulator::start(Config::default()).unwrap();
    // Before any answer: the echo.
    let echoed = top(&em, CATEGORIES, &[]).json();
    assert!(
        echoed["aliexpress_affiliate_category_get_response"]["result"]["api"] == CATEGORIES,
        "{echoed}"
    );
    em.answer(CannedAnswer::new(CATEGORIES, categories_body("Apparel")))
        .unwrap();
    let answer = top(&em, CATEGORIES, &[]).json();
    let inner = &answer["aliexpress_affiliate_category_get_response"];
    assert_eq!(
        inner["resp_result"]["result"]["categories"]["category"][0]["category_name"], "Apparel",
        "{answer}"
    );
    assert!(
        inner["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(answer.as_object().unwrap().len(), 1, "{answer}");
    // simplify=true: the inner object alone.
    let simple = top(&em, CATEGORIES, &[("simplify", "true")]).json();
    assert_eq!(simple["resp_result"]["resp_code"], 200, "{simple}");
    assert!(simple.get("request_id").is_some());
    // Other APIs still echo.
    let other = top(&em, "aliexpress.affiliate.hotproduct.query", &[]).json();
    assert!(other["aliexpress_affiliate_hotproduct_query_response"]["result"]["api"].is_string());
}

#[test]
fn a_gop_answer_has_code_0_and_a_request_id_and_the_token_is_still_checked() {
    let em = Emulator::start(Config::default()).unwrap();
    em.answer(CannedAnswer::new(
        "/seller/get",
        json!({"data": {"name": "Shop"}}),
    ))
    .unwrap();
    let token = create(&em, "seller-1");
    let answer = gop(
        &em,
        "/seller/get",
        &[("access_token", str_of(&token, "access_token"))],
    )
    .json();
    assert_eq!(answer["data"]["name"], "Shop", "{answer}");
    assert_eq!(answer["code"], "0");
    assert!(answer["request_id"].is_string());
    // A bad token is refused before any answer.
    let refused = gop(&em, "/seller/get", &[("access_token", "not-a-token")]).json();
    assert_eq!(refused["code"], "IllegalAccessToken", "{refused}");
    // A registered error envelope is answered as it is.
    em.answer(CannedAnswer::new(
        "/order/get",
        json!({"type": "ISV", "code": "E0012", "message": "order not found"}),
    ))
    .unwrap();
    let error = gop(&em, "/order/get", &[]).json();
    assert_eq!(error["code"], "E0012");
    assert_eq!(error["message"], "order not found");
}

#[test]
fn answers_per_seller_and_per_parameter() {
    let em = Emulator::start(Config::default()).unwrap();
    em.answer(CannedAnswer::new(
        "/seller/get",
        json!({"data": {"name": "anyone"}}),
    ))
    .unwrap();
    em.answer(
        CannedAnswer::new("/seller/get", json!({"data": {"name": "first shop"}}))
            .seller("seller-1"),
    )
    .unwrap();
    em.answer(
        CannedAnswer::new("/orders/get", json!({"data": {"count": 0, "orders": []}}))
            .param("status", "canceled"),
    )
    .unwrap();
    em.answer(CannedAnswer::new(
        "/orders/get",
        json!({"data": {"count": 1}}),
    ))
    .unwrap();
    let one = create(&em, "seller-1");
    let two = create(&em, "seller-2");
    let name = |token: &Value| {
        gop(
            &em,
            "/seller/get",
            &[("access_token", str_of(token, "access_token"))],
        )
        .json()["data"]["name"]
            .clone()
    };
    assert_eq!(name(&one), "first shop");
    assert_eq!(name(&two), "anyone");
    let orders = |status: &str| gop(&em, "/orders/get", &[("status", status)]).json();
    assert_eq!(orders("canceled")["data"]["count"], 0);
    assert_eq!(orders("pending")["data"]["count"], 1);
    assert_eq!(em.answers().len(), 4);
    em.clear_answers();
    assert_eq!(
        orders("canceled")["params"]["status"],
        "canceled",
        "echo again"
    );
}

#[test]
fn malformed_answers_are_refused() {
    let em = Emulator::start(Config::default()).unwrap();
    let err = em
        .answer(CannedAnswer::new("/x", json!([1, 2])))
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("JSON object"), "{err}");
    assert!(em.load_answers("[{\"api\": \"/x\"}]").is_err());
    assert!(em.answers().is_empty());
    assert!(em.load_answers(COMMON_ANSWERS).unwrap() >= 4);
}

fn ctl(addr: SocketAddr, target: &str, body: &str) -> (u16, Value) {
    let r = request(addr, "POST", target, Some(FORM), body.as_bytes()).unwrap();
    (r.status, r.json())
}

#[test]
fn the_control_api_registers_lists_and_clears_answers() {
    let em = Emulator::start(Config::default()).unwrap();
    let body = form(&[
        ("api".to_owned(), "/seller/get".to_owned()),
        (
            "body".to_owned(),
            r#"{"data":{"name":"via control"}}"#.to_owned(),
        ),
        ("seller".to_owned(), "seller-1".to_owned()),
        ("params".to_owned(), r#"{"lang":"en"}"#.to_owned()),
    ]);
    assert_eq!(ctl(em.addr(), "/_emulator/answer", &body).0, 200);
    let token = create(&em, "seller-1");
    let access = str_of(&token, "access_token").to_owned();
    let answer = gop(
        &em,
        "/seller/get",
        &[("access_token", &access), ("lang", "en")],
    )
    .json();
    assert_eq!(answer["data"]["name"], "via control", "{answer}");
    let (status, listed) = ctl(em.addr(), "/_emulator/answers", "");
    assert_eq!(status, 200);
    assert_eq!(listed[0]["seller"], "seller-1", "{listed}");
    assert_eq!(listed[0]["params"]["lang"], "en", "{listed}");
    for (bad, why) in [
        ("api=/x", "body is required"),
        ("api=/x&body=nope", "body must be JSON"),
        ("api=/x&body=%5B1%5D", "JSON object"),
        ("api=/x&body=%7B%7D&params=%5B%5D", "params must be"),
        ("body=%7B%7D", "api is required"),
    ] {
        let (status, answer) = ctl(em.addr(), "/_emulator/answer", bad);
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(why),
            "{bad}: {answer}"
        );
    }
    assert_eq!(ctl(em.addr(), "/_emulator/clear_answers", "").0, 200);
    assert!(em.answers().is_empty());
}

/// Kills the child when the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_iop-emulator"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap();
    (child, addr)
}

fn signed_top(addr: SocketAddr, method: &str) -> Value {
    let pairs = signed(
        "test-app-secret",
        "test-app-key",
        "",
        iop_core::SignMethod::Md5,
        now_ms(),
        &[("method", method), ("format", "json"), ("v", "2.0")],
    );
    request(addr, "POST", "/sync", Some(FORM), form(&pairs).as_bytes())
        .unwrap()
        .json()
}

#[test]
fn the_binary_loads_answer_files_and_the_common_set_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("answers.json");
    let answers = vec![CannedAnswer::new(
        CATEGORIES,
        categories_body("From a file"),
    )];
    std::fs::write(&file, serde_json::to_string(&answers).unwrap()).unwrap();
    let (_child, addr) = spawn(&["--answers", "common", "--answers", file.to_str().unwrap()]);
    let answer = signed_top(addr, CATEGORIES);
    assert_eq!(
        answer["aliexpress_affiliate_category_get_response"]["resp_result"]["result"]["categories"]
            ["category"][0]["category_name"],
        "From a file",
        "the later file replaces the shipped answer: {answer}"
    );
    let link = signed_top(addr, "aliexpress.affiliate.link.generate");
    let result = &link["aliexpress_affiliate_link_generate_response"]["resp_result"]["result"];
    assert!(
        result["promotion_links"]["promotion_link"][0]["promotion_link"].is_string(),
        "{link}"
    );

    let products = signed_top(addr, "aliexpress.solution.product.list.get");
    assert_eq!(
        products["aliexpress_solution_product_list_get_response"]["result"]["product_count"], 2,
        "{products}"
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[{\"api\": \"/x\", \"body\": 5}]").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iop-emulator"))
        .args(["--answers", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JSON object"), "{stderr}");
}
