"""iop.Client and iop.Token against iop.testing.Emulator: the token lifecycle, calls, every
error class, and threads."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List

import pytest

import iop
import iop.testing

from conftest import APP_KEY, APP_SECRET


def test_create_refresh_call(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    token = client.create_token(emulator.authorize(seller_id="seller-a"))
    assert isinstance(token, iop.Token)
    assert token.seller_id == "seller-a"
    assert token.access_token and token.refresh_token
    assert token.code == "0"
    assert isinstance(token.expires_in, int) and token.expires_in > 0
    assert token.request_id

    emulator.advance(days=29)
    fresh = client.refresh_token(token.refresh_token)
    assert fresh.seller_id == "seller-a"
    assert fresh.access_token != token.access_token
    assert fresh.expires_at is not None and token.expires_at is not None
    assert fresh.expires_at > token.expires_at

    body = client.call("/seller/info/get", {"verbose": True, "n": 2, "skip": None}, access_token=fresh.access_token)
    assert body["code"] == "0"
    assert body["params"] == {"verbose": "true", "n": "2"}
    assert body["seller_id"] == "seller-a"

    top = client.call("aliexpress.solution.product.list.get", [("page", 1)], access_token=fresh.access_token)
    assert isinstance(top, dict) and top

    get = client.call("/seller/info/get", {"q": "x y"}, access_token=fresh.access_token, http_method="GET")
    assert get["params"] == {"q": "x y"}

    stats = emulator.stats()
    assert stats["/auth/token/create"] == 1
    assert stats["/auth/token/refresh"] == 1
    assert stats["/seller/info/get"] == 2
    assert stats["aliexpress.solution.product.list.get"] == 1


def test_token_model(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    token = client.create_token(emulator.authorize(seller_id="seller-m"))
    for name in (
        "access_token", "refresh_token", "expires_in", "refresh_expires_in", "expire_time",
        "refresh_token_valid_time", "user_id", "seller_id", "havana_id", "user_nick", "account",
        "account_platform", "locale", "sp", "country", "request_id",
    ):
        assert hasattr(token, name), name
    assert token.expires_at is not None and token.refresh_expires_at is not None
    assert token.expires_at.tzinfo is not None
    assert token.expires_at.utcoffset() == timedelta(0)
    assert token.refresh_expires_at > token.expires_at

    at = token.expires_at
    assert not token.needs_refresh(now=at - timedelta(days=4))
    assert token.needs_refresh(now=at - timedelta(days=2))
    assert token.needs_refresh(margin=timedelta(days=5), now=at - timedelta(days=4))
    assert not token.needs_refresh(margin=0, now=at - timedelta(seconds=1))
    assert token.needs_refresh(margin=timedelta(0), now=at + timedelta(seconds=1))
    assert token.can_refresh(now=at)

    data = token.to_dict()
    assert data["access_token"] == token.access_token
    assert data["seller_id"] == "seller-m"
    again = iop.Token.from_dict(data)
    assert again.to_dict() == data
    assert again.expires_at == token.expires_at

    text = repr(token)
    assert "seller-m" in text
    assert token.access_token not in text and token.refresh_token not in text


def test_token_from_wire_dict_with_strings() -> None:
    token = iop.Token.from_dict(
        {"access_token": "A" * 20, "refresh_token": "R" * 20, "expires_in": "3600",
         "refresh_expires_in": 0, "user_id": 12345, "country": "sg", "code": "0"}
    )
    assert token.expires_in == 3600
    assert token.user_id == "12345"
    assert token.refresh_expires_in == 0
    assert token.refresh_expires_at is None
    assert not token.can_refresh()
    assert token.expires_at is not None
    now = datetime.now(timezone.utc)
    assert now < token.expires_at <= now + timedelta(seconds=3601)


def test_token_from_dict_refuses_self_containing_and_too_deep_values() -> None:
    # Used to recurse without limit and overflow the stack (a segfault of the interpreter).
    loop: Dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="nested more than"):
        iop.Token.from_dict({"access_token": "A" * 20, "extra": loop})
    deep: Dict[str, Any] = {}
    cur = deep
    for _ in range(100_000):
        cur["x"] = {}
        cur = cur["x"]
    with pytest.raises(ValueError, match="nested more than"):
        iop.Token.from_dict({"access_token": "A" * 20, "extra": deep})
    with pytest.raises(TypeError, match="dict keys must be str"):
        iop.Token.from_dict({"access_token": "A" * 20, 1: "x"})


def test_token_from_dict_survives_a_value_that_resizes_the_dict() -> None:
    # Converting a list subclass runs its __iter__; if that resized the dict being read, pyo3's
    # live dict iterator panicked (PanicException, a BaseException).
    data: Dict[str, Any] = {}

    class Growing(list):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            data["added-%d" % len(data)] = 1
            return super().__iter__()

    data.update({"access_token": "A" * 20, "extra": Growing([1, 2]), "seller_id": "7"})
    token = iop.Token.from_dict(data)
    assert token.seller_id == "7"


def test_signature_rejected(emulator: iop.testing.Emulator) -> None:
    wrong = iop.Client(APP_KEY, "not-the-secret-at-all", base_url=emulator.base_url)
    with pytest.raises(iop.SignatureRejected) as info:
        wrong.create_token(emulator.authorize())
    err = info.value
    assert isinstance(err, iop.GatewayError) and isinstance(err, iop.IopError)
    assert err.code == "IncompleteSignature"
    assert err.type == "ISV"
    assert err.request_id
    assert err.message
    assert "IncompleteSignature" in str(err)


def test_reauthorization_required(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    with pytest.raises(iop.ReauthorizationRequired) as info:
        client.create_token("0_not_a_code")
    assert info.value.code == "InvalidCode"

    token = client.create_token(emulator.authorize(seller_id="seller-r"))
    emulator.revoke_refresh_tokens("seller-r")
    with pytest.raises(iop.ReauthorizationRequired) as info:
        client.refresh_token(token.refresh_token)
    assert info.value.code == "IllegalRefreshToken"
    assert info.value.request_id


def test_access_token_invalid(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    token = client.create_token(emulator.authorize(seller_id="seller-x"))
    emulator.advance(days=31)
    with pytest.raises(iop.AccessTokenInvalid) as info:
        client.call("/seller/info/get", access_token=token.access_token)
    assert info.value.code == "IllegalAccessToken"


def test_plain_gateway_error_for_client_mistakes(emulator: iop.testing.Emulator) -> None:
    stranger = iop.Client("unknown-app", APP_SECRET, base_url=emulator.base_url)
    with pytest.raises(iop.GatewayError) as info:
        stranger.create_token(emulator.authorize())
    assert type(info.value) is iop.GatewayError
    assert info.value.code == "InvalidAppKey"


def test_rate_limited(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    emulator.inject("rate_limit", 1, "/auth/token/create", ban=120)
    with pytest.raises(iop.RateLimited) as info:
        client.create_token(emulator.authorize())
    assert info.value.retry_after == 120.0
    assert info.value.code in ("ApiCallLimit", "AppCallLimit")
    emulator.clear_faults()


def test_response_error(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    emulator.inject("truncated", 5)
    with pytest.raises(iop.ResponseError) as info:
        client.create_token(emulator.authorize())
    assert info.value.status == 200
    assert info.value.snippet.startswith("{")

    emulator.clear_faults()
    emulator.inject("html502", 5)
    with pytest.raises(iop.ResponseError) as info:
        client.call("/seller/info/get")
    assert info.value.status == 502
    assert "<" in info.value.snippet
    emulator.clear_faults()


def test_transport_error(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    emulator.inject("reset", 5)
    with pytest.raises(iop.TransportError) as info:
        client.create_token(emulator.authorize())
    assert isinstance(info.value, iop.IopError)
    assert isinstance(info.value.sent, bool)
    emulator.clear_faults()


def test_timeout(emulator: iop.testing.Emulator) -> None:
    quick = emulator.client(timeout=0.2)
    emulator.inject("delay", 5, ms=1500)
    with pytest.raises(iop.Timeout) as info:
        quick.create_token(emulator.authorize())
    assert isinstance(info.value, iop.TransportError)
    assert info.value.after is not None and info.value.after > 0
    emulator.clear_faults()


def test_retries_transient_failures(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    emulator.inject("http500", 1, "/auth/token/create")
    token = client.create_token(emulator.authorize())
    assert token.access_token
    assert emulator.stats()["/auth/token/create"] == 2


def test_sixteen_threads_share_one_client(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    rounds = 5
    errors: List[BaseException] = []
    seeds = [client.create_token(emulator.authorize(seller_id=f"seller-{i}")) for i in range(16)]

    def work(token: iop.Token) -> None:
        try:
            for _ in range(rounds):
                token = client.refresh_token(token.refresh_token)
                assert token.access_token
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert emulator.stats()["/auth/token/refresh"] == 16 * rounds


def test_gil_is_released_during_calls(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    token = client.create_token(emulator.authorize())
    emulator.inject("delay", 1, "/slow/api", ms=3000)
    started = threading.Event()

    def slow() -> None:
        started.set()
        client.call("/slow/api", access_token=token.access_token)

    t = threading.Thread(target=slow)
    t.start()
    started.wait(10)
    # While the slow call waits on the network, this thread runs Python and makes its own call.
    while emulator.stats().get("/slow/api", 0) == 0:
        threading.Event().wait(0.01)
    body = client.call("/fast/api", access_token=token.access_token)
    assert body["code"] == "0"
    assert t.is_alive(), "the fast call had to wait for the slow one: the GIL was held"
    t.join(30)


def test_exceptions_pickle_with_their_attributes(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    import pickle

    emulator.inject("rate_limit", 1, ban=90)
    with pytest.raises(iop.RateLimited) as info:
        client.create_token(emulator.authorize())
    emulator.clear_faults()
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is iop.RateLimited
    assert (again.code, again.retry_after, again.request_id, str(again)) == (
        info.value.code, 90.0, info.value.request_id, str(info.value)
    )


def test_explain_names_the_classic_mistakes() -> None:
    client = iop.Client("123456", "helloworld", base_url="https://api-sg.aliexpress.com/sync")
    report = client.explain("/auth/token/refresh", {"refresh_token": "R-secret-value", "note": " "},
                            timestamp_ms=1517820392000)
    assert report["url"] == "https://api-sg.aliexpress.com/rest/auth/token/refresh"
    assert report["style"] == "GOP"
    assert report["http_method"] == "POST"
    assert "refresh_token" in report["signed_keys"] and "note" not in report["signed_keys"]
    assert "R-secret-value" not in report["string_to_sign"]
    assert "helloworld" not in repr(report)
    assert report["string_to_sign"].startswith("/auth/token/refresh")
    assert any("/sync" in w for w in report["warnings"])
    assert any("note" in w for w in report["warnings"])
