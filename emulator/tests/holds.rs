//! Holding a request before or after it is processed, and asking which tokens are current: what
//! tests of distributed token stores need to stage "killed before / after the gateway rotated".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use iop_emulator::{Config, Emulator, Fault};
use serde_json::Value;

const REFRESH: &str = "/auth/token/refresh";

fn start() -> Emulator {
    Emulator::start(Config::default()).unwrap()
}

fn wait_held(em: &Emulator, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while em.held().values().sum::<usize>() < n {
        assert!(Instant::now() < deadline, "not held: {:?}", em.held());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn hold_before_processes_nothing_until_released() {
    let em = start();
    let t = create(&em, "s");
    let old = str_of(&t, "refresh_token").to_owned();
    em.inject(Fault::HoldBefore, Some(REFRESH), 1);
    std::thread::scope(|scope| {
        let call = scope.spawn(|| gop(&em, REFRESH, &[("refresh_token", &old)]).json());
        wait_held(&em, 1);
        assert_eq!(em.held()[REFRESH], 1);
        // Counted, not processed: the refresh token is still the current one.
        assert_eq!(em.stats()[REFRESH], 1);
        assert!(em.is_current_refresh_token("s", &old));
        // Other calls go on meanwhile.
        assert_eq!(gop(&em, "/x", &[]).json()["code"], "0");
        assert_eq!(em.release(Some("/other")), 0);
        assert_eq!(em.release(Some(REFRESH)), 1);
        let v = call.join().unwrap();
        assert_eq!(v["code"], "0", "{v}");
        assert!(!em.is_current_refresh_token("s", &old));
        assert!(em.is_current_refresh_token("s", str_of(&v, "refresh_token")));
        assert!(em.is_current_access_token("s", str_of(&v, "access_token")));
        assert!(!em.is_current_access_token("other", str_of(&v, "access_token")));
    });
    assert!(em.held().is_empty());
}

#[test]
fn hold_after_rotates_then_holds_the_answer() {
    let em = start();
    let t = create(&em, "s");
    let old = str_of(&t, "refresh_token").to_owned();
    em.inject(Fault::HoldAfter, Some(REFRESH), 1);
    std::thread::scope(|scope| {
        let call = scope.spawn(|| gop(&em, REFRESH, &[("refresh_token", &old)]).json());
        wait_held(&em, 1);
        // Processed: the old token is spent although the client has no answer yet.
        assert!(!em.is_current_refresh_token("s", &old));
        // clear_faults releases holds too.
        em.clear_faults();
        let v = call.join().unwrap();
        assert!(em.is_current_refresh_token("s", str_of(&v, "refresh_token")));
    });
}

fn ctl(em: &Emulator, method: &str, target: &str) -> (u16, Value) {
    let r = request(em.addr(), method, target, None, b"").unwrap();
    (r.status, r.json())
}

#[test]
fn holds_and_tokens_through_the_control_api() {
    let em = start();
    let t = create(&em, "seller-7");
    let old = str_of(&t, "refresh_token").to_owned();
    let (status, _) = ctl(
        &em,
        "POST",
        "/_emulator/fault?kind=hold_after&api=/auth/token/refresh",
    );
    assert_eq!(status, 200);
    std::thread::scope(|scope| {
        let call = scope.spawn(|| gop(&em, REFRESH, &[("refresh_token", &old)]).json());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v) = ctl(&em, "GET", "/_emulator/held");
            if v["held"] == 1 {
                assert_eq!(v["apis"][REFRESH], 1);
                break;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        let (_, v) = ctl(
            &em,
            "GET",
            &format!("/_emulator/tokens?seller_id=seller-7&refresh_token={old}"),
        );
        assert_eq!(v["current"], false, "{v}");
        assert_eq!(v["refresh_tokens"], 1, "{v}");
        let (status, v) = ctl(&em, "POST", "/_emulator/release");
        assert_eq!(status, 200);
        assert_eq!(v["released"], 1);
        let new = call.join().unwrap();
        let (_, v) = ctl(
            &em,
            "GET",
            &format!(
                "/_emulator/tokens?seller_id=seller-7&refresh_token={}&access_token={}",
                str_of(&new, "refresh_token"),
                str_of(&new, "access_token")
            ),
        );
        assert_eq!(v["current"], true, "{v}");
        assert_eq!(v["refresh_token_current"], true);
        assert_eq!(v["access_token_current"], true);
        // Another seller's view of the same token: not current.
        let (_, v) = ctl(
            &em,
            "GET",
            &format!(
                "/_emulator/tokens?seller_id=someone&refresh_token={}",
                str_of(&new, "refresh_token")
            ),
        );
        assert_eq!(v["current"], false);
    });
    assert_eq!(ctl(&em, "GET", "/_emulator/tokens").0, 400);
}
