"""TokenManager.call / call_raw (sync and iop.aio): a call for a seller with a fresh token, and
when the gateway refuses the access token, one single-flight refresh and one retry; unknown
sellers as a typed error; stores named by a string; typed report entries."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import iop
import iop.aio
import iop.testing

REFRESH = "/auth/token/refresh"


def count(emulator: iop.testing.Emulator, api: str) -> int:
    return emulator.stats().get(api, 0)


def refused_token(emulator: iop.testing.Emulator, client: iop.Client, seller: str) -> iop.Token:
    """The seller's real token set with an access token the gateway does not know (revoked,
    replaced elsewhere): it looks valid for weeks, so only the gateway can refuse it."""
    data = client.create_token(emulator.authorize(seller_id=seller)).to_dict()
    data["access_token"] = f"revoked-access-token-of-{seller}"
    return iop.Token.from_dict(data)


def test_call_for_a_seller_uses_its_token(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    manager = iop.TokenManager(client)
    manager.put("shop-1", client.create_token(emulator.authorize(seller_id="shop-1")))
    body = manager.call("shop-1", "/orders/get", {"status": "pending"})
    assert body["seller_id"] == "shop-1"
    assert body["params"] == {"status": "pending"}
    # GET, TOP and files, as Client.call takes them.
    top = manager.call("shop-1", "aliexpress.trade.order.get", method="GET")
    assert top["aliexpress_trade_order_get_response"]["result"]["seller_id"] == "shop-1"
    upload = manager.call("shop-1", "/image/upload", files={"image": ("a.png", b"12345", "image/png")})
    assert upload["files"] == {"image": {"filename": "a.png", "size": 5}}
    assert count(emulator, REFRESH) == 0


def test_a_refused_access_token_is_refreshed_once_and_retried(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    manager = iop.TokenManager(client)
    reports: List[str] = []
    manager.on_reauthorization_required(lambda key, error: reports.append(key))
    stale = refused_token(emulator, client, "shop-1")
    manager.put("shop-1", stale)
    body = manager.call("shop-1", "/orders/get")
    assert body["seller_id"] == "shop-1"
    assert count(emulator, REFRESH) == 1
    assert count(emulator, "/orders/get") == 2
    stored = manager.get("shop-1")
    assert stored is not None and stored.access_token != stale.access_token
    # call_raw: a refusal is handled; another envelope comes back as a dict.
    manager.put("shop-2", refused_token(emulator, client, "shop-2"))
    raw = manager.call_raw("shop-2", "/orders/get")
    assert raw["seller_id"] == "shop-2"
    assert count(emulator, REFRESH) == 2
    emulator.inject("rate_limit", api="/order/get", ban=600)
    envelope = manager.call_raw("shop-2", "/order/get")
    assert envelope["code"] == "ApiCallLimit"
    with pytest.raises(iop.RateLimited):
        manager.call("shop-2", "/order/get")
    assert reports == []


def test_refused_callers_on_many_threads_share_one_refresh(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    manager = iop.TokenManager(client)
    manager.put("shop-1", refused_token(emulator, client, "shop-1"))
    barrier = threading.Barrier(8)
    sellers: List[str] = []

    def worker() -> None:
        barrier.wait()
        sellers.append(manager.call("shop-1", "/orders/get")["seller_id"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sellers == ["shop-1"] * 8
    assert count(emulator, REFRESH) == 1


def test_a_dead_refresh_token_reaches_the_reauthorization_callback(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    manager = iop.TokenManager(client)
    reports: List[Tuple[str, str]] = []

    @manager.on_reauthorization_required
    def alert(key: str, error: iop.ReauthorizationRequired) -> None:
        reports.append((key, type(error).__name__))

    manager.put("shop-1", refused_token(emulator, client, "shop-1"))
    emulator.revoke_refresh_tokens("shop-1")
    for _ in range(2):
        with pytest.raises(iop.ReauthorizationRequired) as info:
            manager.call("shop-1", "/orders/get")
        assert info.value.key == "shop-1"
    assert reports == [("shop-1", "ReauthorizationRequired")]
    assert count(emulator, REFRESH) == 1


def test_an_unknown_seller_is_a_key_error_and_sends_nothing(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    manager = iop.TokenManager(client)
    with pytest.raises(iop.UnknownSeller) as info:
        manager.call("nobody", "/orders/get")
    assert isinstance(info.value, KeyError) and isinstance(info.value, iop.IopError)
    assert info.value.key == "nobody"
    assert 'unknown seller "nobody"' in str(info.value)
    with pytest.raises(KeyError):
        manager.access_token("nobody")
    assert emulator.stats() == {}


def test_the_aio_manager_calls_for_sellers_too(emulator: iop.testing.Emulator) -> None:
    client = iop.aio.Client.from_client(emulator.client())
    tokens = iop.aio.TokenManager(client)

    async def main() -> List[Dict[str, Any]]:
        await tokens.put("shop-1", refused_token(emulator, client.sync, "shop-1"))
        answers = await asyncio.gather(*(tokens.call("shop-1", "/orders/get") for _ in range(16)))
        raw = await tokens.call_raw("shop-1", "/image/upload", files={"f": b"abc"}, method="POST")
        with pytest.raises(iop.UnknownSeller):
            await tokens.call("nobody", "/orders/get")
        return [*answers, raw]

    answers = asyncio.run(main())
    assert all(a["seller_id"] == "shop-1" for a in answers)
    assert answers[-1]["files"]["f"]["size"] == 3
    assert count(emulator, REFRESH) == 1


def test_token_manager_accepts_a_store_string(
    emulator: iop.testing.Emulator, client: iop.Client, tmp_path: Path
) -> None:
    token = client.create_token(emulator.authorize(seller_id="shop-1"))
    directory = tmp_path / "tokens"
    for store in ("memory:", str(directory), directory, f"file:{directory}"):
        manager = iop.TokenManager(client, store)
        manager.put("shop-1", token)
        assert manager.access_token("shop-1") == token.access_token
    # The directory is one store whichever way it was named.
    assert iop.TokenManager(client, iop.FileStore(directory)).get("shop-1") is not None
    assert iop.aio.TokenManager(client, str(directory)).sync.get("shop-1") is not None
    with pytest.raises(iop.StoreError):
        iop.TokenManager(client, "ftp://user:SECRET@host/x")
    with pytest.raises(ValueError):
        iop.TokenManager(client, "")


def test_report_entries_are_named_tuples(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    manager = iop.TokenManager(client)
    for seller in ("ok", "dead"):
        manager.put(seller, client.create_token(emulator.authorize(seller_id=seller)))
    emulator.revoke_refresh_tokens("dead")
    emulator.advance(days=29)
    report = manager.refresh_due(within=timedelta(days=3))
    assert report.refreshed == ["ok"]
    notices = report.reauthorization_required
    assert [n.key for n in notices] == ["dead"]
    assert isinstance(notices[0], iop.ReauthorizationNotice) and isinstance(notices[0], tuple)
    assert notices[0].time_left is not None and notices[0].time_left > timedelta(0)
    key, time_left = notices[0]
    assert (key, time_left) == (notices[0].key, notices[0].time_left)

    emulator.inject("http500", times=1000, api=REFRESH)
    report = manager.refresh_due(within=timedelta(days=60))
    assert [f.key for f in report.failed] == ["ok"]
    failure = report.failed[0]
    assert isinstance(failure, iop.RefreshFailure) and isinstance(failure, tuple)
    assert failure.error_class == "retryable"
    assert "ServiceUnavailable" in failure.message
    key, error_class, message = failure
    assert (key, error_class, message) == (failure.key, failure.error_class, failure.message)


def test_masks_show_the_last_four_characters() -> None:
    # The same rule as Rust (iop_core::secret::mask), C (iop_mask) and the CLI.
    assert iop.mask("50000501a2b3c4d5e6f7k3Fz") == "\u2026k3Fz"
    assert iop.mask("50001601a2b3c4d5e6f7Q9wX") == "\u2026Q9wX"
    assert iop.mask("short") == "\u2026"
    with pytest.raises(TypeError):
        iop.mask(None)  # type: ignore[arg-type]
