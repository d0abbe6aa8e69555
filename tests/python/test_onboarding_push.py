"""Onboarding and push through TokenManager and iop.testing.Emulator: the emulator pushes to a
real HTTP receiver (the standard library's), which verifies with iop.push and with Python's own
hmac, parses and acknowledges; type 8 drives a refresh; a callback with a wrong or missing state
never gets its code exchanged."""

from __future__ import annotations

import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from datetime import timedelta
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import iop
import iop.push
import iop.testing

CREATE = "/auth/token/create"
REFRESH = "/auth/token/refresh"


class Receiver:
    """A push receiver: answers each delivery with the next status of ``statuses`` (then 200)."""

    def __init__(self, app_key: str, app_secret: str, statuses: List[int]) -> None:
        self.app_key, self.app_secret, self.statuses = app_key, app_secret, list(statuses)
        self.received: List[Tuple[bytes, bool, bool, iop.push.Message]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                header = self.headers.get("Authorization")
                ours = iop.push.verify(receiver.app_key, receiver.app_secret, body, header)
                independent = hmac.compare_digest(
                    (header or "").lower(),
                    hmac.new(receiver.app_secret.encode(), receiver.app_key.encode() + body, hashlib.sha256).hexdigest(),
                )
                receiver.received.append((body, ours, independent, iop.push.parse(body)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/lazada/push"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def emu() -> Iterator[iop.testing.Emulator]:
    with iop.testing.Emulator("push-app", "push-app-secret-0123") as e:
        yield e


def test_a_push_is_verified_parsed_and_acknowledged(emu: iop.testing.Emulator) -> None:
    rx = Receiver(emu.app_key, emu.app_secret, [])
    try:
        entry = emu.push(rx.url, "1001", 0, {"trade_order_id": "77", "order_status": "pending"})
        assert entry["delivered"] and len(entry["attempts"]) == 1
        body, ours, independent, message = rx.received[0]
        assert ours and independent
        assert body.decode() == entry["body"]
        assert message.seller_id == "1001" and message.type_name == "trade_order"
        assert message.data["trade_order_id"] == "77"
        # Another app's receiver refuses it.
        assert not iop.push.verify("other-app", emu.app_secret, body, iop.push.signature(emu.app_key, emu.app_secret, body))
    finally:
        rx.close()


def test_retries_on_500_until_a_200(emu: iop.testing.Emulator) -> None:
    rx = Receiver(emu.app_key, emu.app_secret, [500, 500, 500])
    try:
        emu.push(rx.url, "1001", 4, {"item_id": 5})
        for _ in range(5):
            emu.advance(minutes=30)
        (entry,) = emu.push_log()
        assert [a["status"] for a in entry["attempts"]] == [500, 500, 500, 200]
        assert entry["delivered"]
        assert len(rx.received) == 4 and all(ours for _, ours, _, _ in rx.received)
        assert len({m.dedup_key for _, _, _, m in rx.received}) == 1, "one event, four deliveries"
    finally:
        rx.close()


def test_gives_up_after_12_attempts(emu: iop.testing.Emulator) -> None:
    rx = Receiver(emu.app_key, emu.app_secret, [500] * 100)
    try:
        emu.push(rx.url, "1001", 4)
        for _ in range(20):
            emu.advance(minutes=30)
        (entry,) = emu.push_log()
        assert len(entry["attempts"]) == 12 and not entry["delivered"]
        assert len(rx.received) == 12
    finally:
        rx.close()


def _body(fields: str, timestamp_ms: int) -> bytes:
    return ("{" + fields + f',"timestamp":{timestamp_ms}' + "}").encode()


def _now_ms(emu: iop.testing.Emulator) -> int:
    return int(emu.now().timestamp() * 1000)


def test_push_type_8_refreshes_a_due_seller_once(emu: iop.testing.Emulator) -> None:
    client = emu.client()
    manager = iop.TokenManager(client)
    for seller in ("1001", "1002"):
        manager.put(seller, client.create_token(emu.authorize(seller)))
    emu.advance(days=16)  # past half of the token's 30-day life
    rx = Receiver(emu.app_key, emu.app_secret, [])
    try:
        emu.push(rx.url, "1001", 8, {})
        body, ours, _, message = rx.received[0]
        assert ours
        before = manager.get("1001")
        outcome = manager.handle_push(message)
        assert outcome is iop.push.Outcome.REFRESHED and outcome == "refreshed"
        assert emu.stats().get(REFRESH) == 1
        after = manager.get("1001")
        assert before is not None and after is not None and before.refresh_token != after.refresh_token
        # The same delivery again: nothing done.
        assert manager.handle_push(message) is iop.push.Outcome.DUPLICATE
        other = iop.push.parse(_body('"seller_id":"1002","message_type":0,"data":{}', _now_ms(emu)))
        assert manager.handle_push(other) is iop.push.Outcome.IGNORED
        assert emu.stats().get(REFRESH) == 1
    finally:
        rx.close()


def test_a_replayed_push_refreshes_at_most_once(emu: iop.testing.Emulator, tmp_path: Any) -> None:
    client = emu.client()
    # Two managers on one directory ("two processes"), with a margin longer than the token's
    # life: due at every delivery, so only the de-duplication stops the replays.
    managers = [iop.TokenManager(client, iop.FileStore(tmp_path / "tokens"), margin=timedelta(days=40)) for _ in range(2)]
    managers[0].put("1001", client.create_token(emu.authorize("1001")))
    body = _body('"seller_id":"1001","message_type":8,"data":{}', _now_ms(emu))
    header = iop.push.signature(emu.app_key, emu.app_secret, body)
    outcomes: List[str] = []

    def deliver(i: int) -> None:
        assert iop.push.verify(emu.app_key, emu.app_secret, body, header)
        outcomes.append(managers[i % 2].handle_push(iop.push.parse(body)))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted(["refreshed"] + ["duplicate"] * 49)
    assert emu.stats().get(REFRESH) == 1


def test_an_old_push_is_stale_and_a_fresh_token_is_not_due(emu: iop.testing.Emulator) -> None:
    client = emu.client()
    manager = iop.TokenManager(client, push_window=timedelta(minutes=5))
    assert manager.push_window == timedelta(minutes=5)
    assert iop.TokenManager(client).push_window == timedelta(minutes=15)
    manager.put("1001", client.create_token(emu.authorize("1001")))
    now = _now_ms(emu)
    fields = '"seller_id":"1001","message_type":8,"data":{}'
    # A fresh token: not refreshed.
    assert manager.handle_push(iop.push.parse(_body(fields, now))) is iop.push.Outcome.NOT_DUE
    emu.advance(days=20)
    now = _now_ms(emu)
    for old in (now - 301_000, now + 301_000, now - 86_400_000):
        assert manager.handle_push(iop.push.parse(_body(fields, old))) is iop.push.Outcome.STALE
    assert manager.handle_push(iop.push.parse(b'{"seller_id":"1001","message_type":8}')) == "stale"
    assert emu.stats().get(REFRESH) is None
    assert manager.handle_push(iop.push.parse(_body(fields, now - 299_000))) == "refreshed"
    for bad in (0, 0.5, timedelta(hours=13), -1):
        with pytest.raises(ValueError):
            iop.TokenManager(client, push_window=bad)
    with pytest.raises(TypeError):
        iop.TokenManager(client, push_window="5m")


def test_a_custom_store_may_keep_the_push_markers(emu: iop.testing.Emulator) -> None:
    class Store:
        def __init__(self, markers: Dict[str, float]) -> None:
            self.data: Dict[str, Dict[str, Any]] = {}
            self.markers = markers
            self.asked: List[Tuple[str, float]] = []

        def load(self, key: str) -> Optional[Dict[str, Any]]:
            return self.data.get(key)

        def save(self, key: str, token: Dict[str, Any]) -> None:
            self.data[key] = token

        def mark_seen(self, marker: str, ttl_seconds: float) -> bool:
            self.asked.append((marker, ttl_seconds))
            if marker in self.markers:
                return False
            self.markers[marker] = ttl_seconds
            return True

    shared: Dict[str, float] = {}  # one database, two hosts
    client = emu.client()
    a, b = Store(shared), Store(shared)
    host_a, host_b = iop.TokenManager(client, a), iop.TokenManager(client, b)
    token = client.create_token(emu.authorize("1001"))
    host_a.put("1001", token)
    host_b.put("1001", token)
    emu.advance(days=20)
    message = iop.push.parse(_body('"seller_id":"1001","message_type":8,"data":{}', _now_ms(emu)))
    assert host_a.handle_push(message) == "refreshed"
    assert host_b.handle_push(message) == "duplicate"
    assert emu.stats().get(REFRESH) == 1
    assert len(a.asked) == 1 and len(b.asked) == 1
    marker, ttl = a.asked[0]
    assert marker.startswith("push:") and ttl == 30 * 60
    # A store whose mark_seen fails: a StoreError, nothing done.

    class Failing(Store):
        def mark_seen(self, marker: str, ttl_seconds: float) -> bool:
            raise RuntimeError("database down")

    failing = Failing({})
    host_c = iop.TokenManager(client, failing)
    host_c.put("1001", client.create_token(emu.authorize("1001")))
    emu.advance(days=20)
    message = iop.push.parse(_body('"seller_id":"1001","message_type":8,"data":{}', _now_ms(emu)))
    with pytest.raises(iop.StoreError, match="database down"):
        host_c.handle_push(message)


def test_push_type_13_close_reports_the_seller_once(emu: iop.testing.Emulator) -> None:
    client = emu.client()
    manager = iop.TokenManager(client)
    manager.put("1001", client.create_token(emu.authorize("1001")))
    calls: List[str] = []
    manager.on_reauthorization_required(lambda key, error: calls.append(key))
    close = iop.push.parse(_body('"seller_id":"1001","message_type":13,"data":{"status":"close"}', _now_ms(emu)))
    assert manager.handle_push(close) == "reauthorization_required"
    assert manager.handle_push(close) == "duplicate"
    assert calls == ["1001"]


def test_callbacks_with_a_wrong_or_missing_state_exchange_nothing(emu: iop.testing.Emulator) -> None:
    manager = iop.TokenManager(emu.client())
    state = iop.new_state()
    code = emu.authorize("1001")
    for callback, reason in [
        (f"https://app.example/cb?code={code}&state=forged", "state_mismatch"),
        (f"https://app.example/cb?code={code}", "state_missing"),
        (f"?state={state}&error=access_denied&error_description=declined", "denied"),
    ]:
        with pytest.raises(iop.AuthorizationError) as info:
            manager.complete_authorization(callback, expected_state=state)
        assert info.value.reason == reason
        assert code not in str(info.value)
    assert emu.stats().get(CREATE) is None, "no code was exchanged"
    token = manager.complete_authorization(f"https://app.example/cb?code={code}&state={state}", expected_state=state)
    assert emu.stats().get(CREATE) == 1
    assert token.seller_id is not None and manager.get(token.seller_id) is not None
    url = iop.authorization_url(emu.app_key, "http://127.0.0.1:9/cb", state=state, base_url=emu.base_url)
    assert url.startswith(emu.base_url + "/oauth/authorize?")
