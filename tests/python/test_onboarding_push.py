"""Onboarding and push through TokenManager and iop.testing.Emulator: the emulator pushes to a
real HTTP receiver (the standard library's), which verifies with iop.push and with Python's own
hmac, parses and acknowledges; type 8 drives a refresh; a callback with a wrong or missing state
never gets its code exchanged."""

from __future__ import annotations

import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, List, Tuple

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


def test_push_type_8_refreshes_exactly_that_seller(emu: iop.testing.Emulator) -> None:
    client = emu.client()
    manager = iop.TokenManager(client)
    for seller in ("1001", "1002"):
        manager.put(seller, client.create_token(emu.authorize(seller)))
    rx = Receiver(emu.app_key, emu.app_secret, [])
    try:
        emu.push(rx.url, "1001", 8, {})
        body, ours, _, message = rx.received[0]
        assert ours
        before = manager.get("1001")
        assert manager.handle_push(message) == "refreshed"
        assert emu.stats().get(REFRESH) == 1
        after = manager.get("1001")
        assert before is not None and after is not None and before.refresh_token != after.refresh_token
        assert manager.handle_push(iop.push.parse(b'{"seller_id":"1002","message_type":0,"data":{}}')) == "ignored"
        assert emu.stats().get(REFRESH) == 1
    finally:
        rx.close()


def test_push_type_13_close_reports_the_seller_once(emu: iop.testing.Emulator) -> None:
    client = emu.client()
    manager = iop.TokenManager(client)
    manager.put("1001", client.create_token(emu.authorize("1001")))
    calls: List[str] = []
    manager.on_reauthorization_required(lambda key, error: calls.append(key))
    close = iop.push.parse(b'{"seller_id":"1001","message_type":13,"data":{"status":"close"}}')
    assert manager.handle_push(close) == "reauthorization_required"
    assert manager.handle_push(close) == "reauthorization_required"
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
