"""iop.aio against iop.testing.Emulator, under the standard event loop and under uvloop."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

import pytest

import iop
import iop.aio
import iop.testing

from conftest import APP_KEY, APP_SECRET, REPO_ROOT

T = TypeVar("T")
Runner = Callable[[Callable[[], Awaitable[T]]], T]

REFRESH = "/auth/token/refresh"


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    uvloop = pytest.importorskip("uvloop")
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Runner[Any]:
    """Runs a coroutine function on a new loop of the parametrized kind."""
    factory: Callable[[], asyncio.AbstractEventLoop] = (
        asyncio.new_event_loop if request.param == "asyncio" else _uvloop_factory()
    )

    def runner(main: Callable[[], Awaitable[T]]) -> T:
        loop = factory()
        try:
            return loop.run_until_complete(main())
        finally:
            loop.close()

    return runner


@pytest.fixture
def emulator() -> Iterator[iop.testing.Emulator]:
    with iop.testing.Emulator(APP_KEY, APP_SECRET, threads=8) as emu:
        yield emu


def _seed(emulator: iop.testing.Emulator, manager: iop.TokenManager, n: int) -> List[str]:
    keys = [f"seller-{i}" for i in range(n)]
    for key in keys:
        manager.put(key, emulator.issue_token(key))
    return keys


def _near_expiry(emulator: iop.testing.Emulator) -> None:
    # Access tokens live 30 days; the default margin is 3 days.
    emulator.advance(days=28)
    emulator.reset_stats()


def test_thousand_concurrent_access_tokens_for_hundred_sellers_refresh_each_once(
    run: Runner[Any], emulator: iop.testing.Emulator
) -> None:
    manager = iop.aio.TokenManager(emulator.client())
    keys = _seed(emulator, manager.sync, 100)
    before = {k: manager.sync.get(k) for k in keys}
    _near_expiry(emulator)
    callers = keys * 10
    random.Random(16).shuffle(callers)

    async def main() -> List[str]:
        return await asyncio.gather(*(manager.access_token(k) for k in callers))

    tokens = run(main)
    assert emulator.stats().get(REFRESH, 0) == 100
    for key, token in zip(callers, tokens):
        stored = manager.sync.get(key)
        assert stored is not None and stored.access_token == token
        old = before[key]
        assert old is not None and old.access_token != token


def test_cancelled_refresh_still_completes_and_is_saved(
    run: Runner[Any], emulator: iop.testing.Emulator
) -> None:
    manager = iop.aio.TokenManager(emulator.client())
    _seed(emulator, manager.sync, 2)
    old = {k: manager.sync.get(k) for k in ("seller-0", "seller-1")}
    reauthorized: List[str] = []
    manager.on_reauthorization_required(lambda key, error: reauthorized.append(key))
    _near_expiry(emulator)
    # Both refreshes are held by the gateway for 600 ms, longer than anyone waits here.
    emulator.inject("delay", times=2, api=REFRESH, ms=600)

    async def main() -> Tuple[str, str]:
        task = asyncio.ensure_future(manager.access_token("seller-0"))
        await asyncio.sleep(0.15)  # the refresh is on the wire now
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Same with a timeout around the call.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(manager.access_token("seller-1"), 0.15)
        # The refreshes finish on their workers and are saved; the next callers get them.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            t0, t1 = await manager.get("seller-0"), await manager.get("seller-1")
            if all(
                t is not None and o is not None and t.access_token != o.access_token
                for t, o in ((t0, old["seller-0"]), (t1, old["seller-1"]))
            ):
                break
            await asyncio.sleep(0.02)
        return await manager.access_token("seller-0"), await manager.access_token("seller-1")

    fresh0, fresh1 = run(main)
    assert emulator.stats().get(REFRESH, 0) == 2  # one each, none repeated
    for key, fresh in (("seller-0", fresh0), ("seller-1", fresh1)):
        stored = manager.sync.get(key)
        previous = old[key]
        assert stored is not None and previous is not None
        assert stored.access_token == fresh != previous.access_token
        # The rotated refresh token was saved too: refreshing with it works.
        assert emulator.client().refresh_token(stored.refresh_token or "").access_token
    assert reauthorized == []


async def _heartbeat(gaps: List[float], stop: asyncio.Event) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


def _lag_during(
    run: Runner[Any], manager: iop.aio.TokenManager, keys: List[str], where: str
) -> None:
    """Runs a 1 ms heartbeat alone (the baseline), then during `access_token` for every key
    (each a refresh held 50 ms by the gateway), and checks the gaps (see the lag tests)."""

    async def main() -> Tuple[List[float], List[float], int]:
        baseline: List[float] = []
        stop = asyncio.Event()
        beat = asyncio.ensure_future(_heartbeat(baseline, stop))
        await asyncio.sleep(1.0)
        stop.set()
        await beat
        gaps: List[float] = []
        stop = asyncio.Event()
        beat = asyncio.ensure_future(_heartbeat(gaps, stop))
        await asyncio.sleep(0.02)
        tokens = await asyncio.gather(*(manager.access_token(k) for k in keys))
        stop.set()
        await beat
        return baseline, gaps, len(set(tokens))

    baseline, gaps, n = run(main)
    assert n == len(keys)
    gaps.sort()
    baseline.sort()
    largest, median, p99 = gaps[-1], gaps[len(gaps) // 2], gaps[int(len(gaps) * 0.99)]
    base_largest, base_p99 = baseline[-1], baseline[int(len(baseline) * 0.99)]
    figures = (
        f"heartbeat during {len(keys)} refreshes ({where}): largest gap {largest * 1000:.2f} ms, "
        f"p99 {p99 * 1000:.2f} ms, median {median * 1000:.2f} ms over {len(gaps)} beats; "
        f"baseline (no work): largest {base_largest * 1000:.2f} ms, p99 {base_p99 * 1000:.2f} ms"
    )
    print(figures)
    if os.environ.get("IOP_AIO_STRICT_LAG") == "1":
        assert largest < 0.005, figures
    else:
        assert median < 0.002, figures
        assert p99 < 0.005 + base_p99, figures


def test_loop_lag_stays_low_during_500_refreshes(
    run: Runner[Any], emulator: iop.testing.Emulator
) -> None:
    """A 1 ms heartbeat while 500 refreshes are in flight: its largest gap must stay under
    5 ms. That bound is asserted with IOP_AIO_STRICT_LAG=1 (a quiet machine). On the shared
    2-core box this was written on (load 7-14 from other builds), the OS alone delays such a
    heartbeat by 7-60 ms now and then with no iop work at all (the baseline, measured first in
    this test), so by default the test asserts what a blocked loop cannot pass: the median gap
    under 2 ms and the 99th percentile under 5 ms plus the baseline's; the figures are printed
    (pytest -s). A loop blocked by the calls would stall for whole round trips (50 ms each).
    Here the emulator runs inside this process, and each of its log records takes the GIL on
    its own threads: see the next test for the gateway in its own process, as in production."""
    manager = iop.aio.TokenManager(emulator.client())
    keys = _seed(emulator, manager.sync, 500)
    _near_expiry(emulator)
    # Each refresh is held 50 ms by the gateway, so that many stay in flight together.
    emulator.inject("delay", times=500, api=REFRESH, ms=50)
    _lag_during(run, manager, keys, "in-process emulator")
    assert emulator.stats().get(REFRESH, 0) == 500


def _emulator_binary() -> Optional[Path]:
    """IOP_EMULATOR if set (the test script sets it), else a build in cargo's target directory
    (CARGO_TARGET_DIR, or the checkout's target/)."""
    given = os.environ.get("IOP_EMULATOR")
    if given:
        return Path(given)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO_ROOT / "target")
    for profile in ("release", "debug"):
        path = target / profile / "iop-emulator"
        if os.access(path, os.X_OK):
            return path
    return None


def test_loop_lag_with_the_emulator_binary_in_its_own_process(run: Runner[Any]) -> None:
    """The lag test against `iop-emulator` in its own process (skipped when not built:
    `cargo build -p iop-emulator`). Access tokens live 2.3 days, inside the 3-day margin, so
    every first access_token refreshes."""
    binary = _emulator_binary()
    if binary is None:
        pytest.skip("iop-emulator is not built (cargo build -p iop-emulator)")
    env = dict(os.environ, IOP_EMULATOR_APP_SECRET=APP_SECRET)
    proc = subprocess.Popen(
        [str(binary), "--app-key", APP_KEY, "--access-ttl", "200000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()

        def control(path: str) -> Dict[str, Any]:
            request = urllib.request.Request(base_url + path, method="POST", data=b"")
            with urllib.request.urlopen(request) as answer:
                body: Dict[str, Any] = json.load(answer)
            return body

        client = iop.Client(APP_KEY, APP_SECRET, base_url=base_url)
        manager = iop.aio.TokenManager(client)
        keys = [f"seller-{i}" for i in range(500)]
        for key in keys:
            code = control(f"/_emulator/authorize?seller_id={key}")["code"]
            manager.sync.put(key, client.create_token(code))
        control(f"/_emulator/fault?kind=delay&times=500&api={REFRESH}&ms=50")
        _lag_during(run, manager, keys, f"{binary.parent.name} emulator binary")
        with urllib.request.urlopen(base_url + "/_emulator/stats") as answer:
            assert json.load(answer).get(REFRESH) == 500
    finally:
        proc.kill()
        proc.wait()


# Every error class, raised by iop.aio as iop.Client/iop.TokenManager raise it.


class _FailingStore:
    def load(self, key: str) -> Optional[Dict[str, Any]]:
        raise OSError("disk on fire")

    def save(self, key: str, token: Dict[str, Any]) -> None:
        raise OSError("disk on fire")


def _error_cases(
    emulator: iop.testing.Emulator, token: iop.Token
) -> Dict[str, Tuple[Optional[Tuple[str, int]], Type_, str, Tuple[Any, ...]]]:
    """name → (fault to inject before each call, expected class, method, args)."""
    access = token.access_token
    return {
        "signature": (None, iop.SignatureRejected, "call", ("/seller/get", access, "wrong-secret")),
        "reauthorize": (None, iop.ReauthorizationRequired, "refresh_token", ("bogus",)),
        "access_token": (None, iop.AccessTokenInvalid, "call", ("/seller/get", "bogus")),
        "rate_limited": (("rate_limit", 20), iop.RateLimited, "call", ("/seller/get", access)),
        "timeout": (("delay", 1), iop.Timeout, "refresh_token", (token.refresh_token,)),
        "reset": (("reset", 20), iop.TransportError, "call", ("/seller/get", access)),
        "http500": (("http500", 20), iop.GatewayError, "call", ("/seller/get", access)),
        "html502": (("html502", 20), iop.ResponseError, "call", ("/seller/get", access)),
        "truncated": (("truncated", 20), iop.ResponseError, "call", ("/seller/get", access)),
        "refused": (None, iop.TransportError, "refused", ()),
        "http_method": (None, ValueError, "call_put", ("/seller/get",)),
        "empty_api": (None, ValueError, "call", ("", access)),
        "bad_param": (None, TypeError, "call_bytes", ("/seller/get",)),
        "empty_code": (None, ValueError, "create_token", ("",)),
        "missing_seller": (None, iop.UnknownSeller, "access_token", ("nobody",)),
        "empty_key": (None, ValueError, "access_token", ("",)),
        "failing_store": (None, iop.StoreError, "failing_store", ("x",)),
        "not_a_token": (None, TypeError, "put", ("x", "nope")),
    }


Type_ = type


def _sync_call(emulator: iop.testing.Emulator, method: str, args: Tuple[Any, ...]) -> Any:
    client = emulator.client(timeout=0.3)
    manager = iop.TokenManager(client)
    if method == "call":
        if len(args) == 3:
            client = iop.Client(APP_KEY, args[2], base_url=emulator.base_url)
        return client.call(args[0], access_token=args[1])
    if method == "call_put":
        return client.call(args[0], http_method="PUT")
    if method == "call_bytes":
        return client.call(args[0], {"file": b"x"})
    if method == "refused":
        return iop.Client(APP_KEY, APP_SECRET, base_url="http://127.0.0.1:1").call("/seller/get")
    if method == "failing_store":
        return iop.TokenManager(client, _FailingStore()).access_token(args[0])
    if method in ("access_token", "put"):
        return getattr(manager, method)(*args)
    return getattr(client, method)(*args)


async def _async_call(emulator: iop.testing.Emulator, method: str, args: Tuple[Any, ...]) -> Any:
    client = iop.aio.Client.from_client(emulator.client(timeout=0.3))
    manager = iop.aio.TokenManager(client)
    if method == "call":
        if len(args) == 3:
            client = iop.aio.Client(APP_KEY, args[2], base_url=emulator.base_url)
        return await client.call(args[0], access_token=args[1])
    if method == "call_put":
        return await client.call(args[0], http_method="PUT")
    if method == "call_bytes":
        return await client.call(args[0], {"file": b"x"})  # type: ignore[dict-item]
    if method == "refused":
        other = iop.aio.Client(APP_KEY, APP_SECRET, base_url="http://127.0.0.1:1")
        return await other.call("/seller/get")
    if method == "failing_store":
        return await iop.aio.TokenManager(client, _FailingStore()).access_token(args[0])
    if method in ("access_token", "put"):
        return await getattr(manager, method)(*args)
    return await getattr(client, method)(*args)


def test_every_error_class_is_raised_as_the_sync_client_raises_it(
    run: Runner[Any], emulator: iop.testing.Emulator
) -> None:
    token = emulator.issue_token("seller-1")
    for name, (fault, expected, method, args) in _error_cases(emulator, token).items():
        raised: List[BaseException] = []
        for mode in ("sync", "async"):
            emulator.clear_faults()
            if fault is not None:
                kind, times = fault
                emulator.inject(kind, times=times, ms=1000 if kind == "delay" else None)
            try:
                if mode == "sync":
                    _sync_call(emulator, method, args)
                else:
                    run(lambda: _async_call(emulator, method, args))
            except Exception as e:  # noqa: BLE001 - compared below
                raised.append(e)
            else:
                pytest.fail(f"{name} ({mode}): nothing raised")
        sync_error, async_error = raised
        assert type(sync_error) is type(async_error), name
        assert isinstance(async_error, expected), (name, async_error)
        if isinstance(sync_error, iop.GatewayError):
            assert isinstance(async_error, iop.GatewayError)
            assert (sync_error.code, sync_error.sub_code) == (async_error.code, async_error.sub_code)
        if not isinstance(sync_error, (iop.GatewayError, iop.TransportError, iop.ResponseError)):
            assert str(sync_error) == str(async_error), name
    emulator.clear_faults()


FAULTS = (("reset", 10), ("http500", 10), ("delay", 1))


def _outcome(old: Optional[iop.Token], call: Callable[[], str]) -> str:
    try:
        token = call()
    except iop.IopError as e:
        return type(e).__name__
    assert old is not None
    return "old token" if token == old.access_token else "refreshed"


def test_emulator_faults_during_refresh_behave_as_with_the_sync_manager(
    run: Runner[Any], emulator: iop.testing.Emulator
) -> None:
    """reset, 500 and a delay past the client timeout during a refresh, then the next call:
    iop.aio ends every step as iop.TokenManager does."""
    sync_manager = iop.TokenManager(emulator.client(timeout=0.3))
    aio_manager = iop.aio.TokenManager(iop.aio.Client.from_client(emulator.client(timeout=0.3)))
    for i, _ in enumerate(FAULTS):
        for side in ("sync", "aio"):
            key = f"{side}-{i}"
            sync_manager.put(key, emulator.issue_token(key))
            aio_manager.sync.put(key, emulator.issue_token(key))
    _near_expiry(emulator)
    outcomes: Dict[str, List[str]] = {"sync": [], "aio": []}
    for side in ("sync", "aio"):
        for i, (kind, times) in enumerate(FAULTS):
            key = f"{side}-{i}"
            old = sync_manager.get(key) if side == "sync" else aio_manager.sync.get(key)
            for attempt in ("faulted", "next"):
                if attempt == "faulted":
                    emulator.inject(kind, times=times, api=REFRESH, ms=1000 if kind == "delay" else None)
                if side == "sync":
                    outcome = _outcome(old, lambda: sync_manager.access_token(key))
                else:
                    outcome = _outcome(old, lambda: run(lambda: aio_manager.access_token(key)))
                outcomes[side].append(f"{kind} {attempt}: {outcome}")
                emulator.clear_faults()
                time.sleep(1.0 if kind == "delay" and attempt == "faulted" else 0)
    assert outcomes["aio"] == outcomes["sync"]
    # The faulted refresh did not happen (the still-valid token was kept), and after a reset or a
    # 500 the next call refreshes.
    assert outcomes["aio"][0] == "reset faulted: old token"
    assert outcomes["aio"][1] == "reset next: refreshed"
    assert outcomes["aio"][3] == "http500 next: refreshed"
    print(outcomes["aio"])


def test_mixed_sync_and_async_callers_on_one_file_store_refresh_once(
    run: Runner[Any], emulator: iop.testing.Emulator, tmp_path: Path
) -> None:
    store = iop.FileStore(tmp_path)
    other = iop.FileStore(tmp_path)  # another handle on the directory, as another process has
    client = emulator.client()
    aio_manager = iop.aio.TokenManager(client, store)
    sync_manager = iop.TokenManager(client, store)
    sync_other = iop.TokenManager(client, other)
    sync_manager.put("seller-1", emulator.issue_token("seller-1"))
    _near_expiry(emulator)
    emulator.inject("delay", times=1, api=REFRESH, ms=300)
    results: List[str] = []
    lock = threading.Lock()

    def sync_caller(manager: iop.TokenManager) -> None:
        token = manager.access_token("seller-1")
        with lock:
            results.append(token)

    async def main() -> List[str]:
        threads = [
            threading.Thread(target=sync_caller, args=(m,))
            for m in (sync_manager, sync_other) * 4
        ]
        for t in threads:
            t.start()
        tokens = await asyncio.gather(*(aio_manager.access_token("seller-1") for _ in range(20)))
        for t in threads:
            await asyncio.get_running_loop().run_in_executor(None, t.join)
        return tokens

    tokens = run(main)
    assert emulator.stats().get(REFRESH, 0) == 1
    assert len(set(tokens + results)) == 1 and len(results) == 8


class _AsyncDictStore:
    """A custom store whose methods are coroutines (as on an async database driver)."""

    def __init__(self) -> None:
        self.data: Dict[str, Dict[str, Any]] = {}
        self.threads: set[int] = set()

    async def load(self, key: str) -> Optional[Dict[str, Any]]:
        self.threads.add(threading.get_ident())
        await asyncio.sleep(0)
        return self.data.get(key)

    async def save(self, key: str, token: Dict[str, Any]) -> None:
        self.threads.add(threading.get_ident())
        await asyncio.sleep(0)
        self.data[key] = token

    async def keys(self) -> List[str]:
        return list(self.data)

    async def remove(self, key: str) -> bool:
        return self.data.pop(key, None) is not None


def test_async_custom_store(run: Runner[Any], emulator: iop.testing.Emulator) -> None:
    store = _AsyncDictStore()
    manager = iop.aio.TokenManager(emulator.client(), store)
    twin = iop.aio.TokenManager(emulator.client(), store)  # shares its per-seller locks
    keys = [f"seller-{i}" for i in range(10)]
    progress: List[Tuple[int, int, int]] = []

    async def main() -> Tuple[int, List[str], Any, bool, Optional[iop.Token], int]:
        loop_thread = threading.get_ident()
        for key in keys:
            await manager.put(key, emulator.issue_token(key))
        _near_expiry(emulator)
        managers = (manager, twin)
        tokens = await asyncio.gather(*(managers[i % 2].access_token(k) for i, k in enumerate(keys * 10)))
        refreshes = emulator.stats().get(REFRESH, 0)
        emulator.advance(days=28)
        report = await manager.refresh_due(
            progress=lambda done, total: progress.append((done, total, threading.get_ident()))
        )
        await asyncio.sleep(0.05)  # progress calls are queued to the loop
        removed = await manager.remove("seller-0")
        gone = await manager.get("seller-0")
        return refreshes, tokens, report, removed, gone, loop_thread

    refreshes, tokens, report, removed, gone, loop_thread = run(main)
    assert refreshes == 10
    assert len(set(tokens)) == 10  # every caller of a seller got its one refreshed token
    assert sorted(report.refreshed) == sorted(keys)
    assert len(progress) == 10 and progress[-1][1] == 10
    assert {p[2] for p in progress} == {loop_thread}  # called on the loop
    assert store.threads == {loop_thread}  # the store's coroutines ran on the loop
    assert removed is True and gone is None


def test_async_store_called_from_its_loop_thread_is_an_error_not_a_hang(
    run: Runner[Any], emulator: iop.testing.Emulator
) -> None:
    store = _AsyncDictStore()
    manager = iop.aio.TokenManager(emulator.client(), store)

    async def main() -> None:
        await manager.put("seller-1", emulator.issue_token("seller-1"))
        with pytest.raises(iop.StoreError, match="event loop"):
            manager.sync.get("seller-1")  # a blocking call on the loop thread

    run(main)


def test_sync_custom_store_and_reauthorization_callbacks(
    run: Runner[Any], emulator: iop.testing.Emulator
) -> None:
    data: Dict[str, Dict[str, Any]] = {}

    class Store:
        def load(self, key: str) -> Optional[Dict[str, Any]]:
            return data.get(key)

        def save(self, key: str, token: Dict[str, Any]) -> None:
            data[key] = token

    manager = iop.aio.TokenManager(iop.aio.Client.from_client(emulator.client()), Store())
    seen: List[Tuple[str, str, int]] = []

    @manager.on_reauthorization_required
    async def on_reauth(key: str, error: Any) -> None:
        seen.append((key, type(error).__name__, threading.get_ident()))

    async def main() -> int:
        await manager.put("seller-1", emulator.issue_token("seller-1"))
        emulator.revoke_refresh_tokens("seller-1")
        _near_expiry(emulator)
        with pytest.raises(iop.ReauthorizationRequired):
            await manager.access_token("seller-1")
        await asyncio.sleep(0.05)
        return threading.get_ident()

    loop_thread = run(main)
    assert seen == [("seller-1", "ReauthorizationRequired", loop_thread)]


def test_client_coroutines(run: Runner[Any], emulator: iop.testing.Emulator) -> None:
    client = iop.aio.Client.from_client(emulator.client())

    async def main() -> Tuple[iop.Token, iop.Token, Dict[str, Any], Dict[str, Any]]:
        created = await client.create_token(emulator.authorize("seller-1"))
        refreshed = await client.refresh_token(created.refresh_token or "")
        params: Dict[str, Any] = {"a": 1}
        pending = asyncio.ensure_future(client.call("/seller/get", params, access_token=refreshed.access_token))
        await asyncio.sleep(0)
        params["a"] = "changed later"  # the request was built already
        body = await pending
        raw = await client.call_raw("/auth/token/refresh", {"refresh_token": "bogus"})
        return created, refreshed, body, raw

    created, refreshed, body, raw = run(main)
    assert created.seller_id == refreshed.seller_id == "seller-1"
    assert created.access_token != refreshed.access_token
    assert body.get("code") == "0"
    assert raw["code"] == "IllegalRefreshToken"
    assert repr(client).startswith("iop.aio.Client(") and APP_SECRET not in repr(client)
    assert client.app_key == APP_KEY and client.base_url == emulator.base_url
    assert emulator.stats() == {"/auth/token/create": 1, REFRESH: 2, "/seller/get": 1}


def test_client_uploads_files_as_the_sync_client_does(
    run: Runner[Any], emulator: iop.testing.Emulator, tmp_path: Path
) -> None:
    client = iop.aio.Client.from_client(emulator.client())
    token = emulator.issue_token("seller-1").access_token
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG" + bytes(range(256)) * 40)
    read_on: List[int] = []

    class Recording(io.BytesIO):
        def read(self, *args: Any) -> bytes:
            read_on.append(threading.get_ident())
            return super().read(*args)

    def parts(body: Dict[str, Any]) -> Dict[str, Any]:
        files: Dict[str, Any] = body["files"]
        return files

    async def main() -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any], int]:
        with open(photo, "rb") as image:
            files: Dict[str, Any] = {
                "image": image,
                "thumb": ("t.jpg", Recording(b"jpeg"), "image/jpeg"),
                "raw": b"\x00\x01\x02",
            }
            pending = asyncio.ensure_future(
                client.call_raw("/image/upload", {"kind": "main"}, access_token=token, files=files)
            )
            await asyncio.sleep(0)
            files["late"] = b"added after the call"  # the parts were taken already
            raw = await pending
        called = await client.call("/image/upload", access_token=token, files={"doc": ("a.txt", "text")})
        # Any mapping will do; a mapping of nothing is a plain call.
        plain = await client.call("/image/upload", access_token=token, files={})
        return raw, called, plain, threading.get_ident()

    raw, called, plain, loop_thread = run(main)
    assert raw["params"] == {"kind": "main"}
    assert parts(raw) == {
        "image": {"filename": "photo.png", "size": photo.stat().st_size},
        "thumb": {"filename": "t.jpg", "size": 4},
        "raw": {"filename": "raw", "size": 3},
    }
    assert parts(called) == {"doc": {"filename": "a.txt", "size": 4}}
    assert not plain.get("files")
    # The file objects were read on a worker, not on the event loop.
    assert read_on and loop_thread not in read_on
    # The sync client (behind the vendor-style IopClient) sends the same parts.
    with open(photo, "rb") as image:
        sync = client.sync._call_raw(
            "/image/upload", {"kind": "main"}, token, "POST", False,
            {"image": image, "thumb": ("t.jpg", io.BytesIO(b"jpeg"), "image/jpeg"), "raw": b"\x00\x01\x02"},
        )
    assert parts(sync) == parts(raw)

    # Bad parts raise what the sync client raises, at the await.
    async def failing(files: Any, http_method: Optional[str] = None) -> BaseException:
        try:
            await client.call_raw("/image/upload", access_token=token, http_method=http_method, files=files)
        except BaseException as e:  # noqa: BLE001
            return e
        raise AssertionError("no error")

    def sync_failing(files: Any, http_method: str = "POST") -> BaseException:
        try:
            client.sync._call_raw("/image/upload", {}, token, http_method, False, files)
        except BaseException as e:  # noqa: BLE001
            return e
        raise AssertionError("no error")

    for files, method in (
        ({"image": 42}, None),
        ({"image": ("only-a-name",)}, None),
        ({"": b"x"}, None),
        ({"image": b"x"}, "GET"),
    ):
        error = run(lambda: failing(files, method))
        expected = sync_failing(files, method or "POST")
        assert type(error) is type(expected), (files, method, error, expected)
        assert str(error) == str(expected)
    with pytest.raises(TypeError, match="files must be a mapping"):
        run(lambda: client.call("/image/upload", files=[("image", b"x")]))  # type: ignore[arg-type]


def test_the_pool_is_bounded_and_configurable(run: Runner[Any], emulator: iop.testing.Emulator) -> None:
    from iop import _native

    client = iop.aio.Client.from_client(emulator.client())
    token = emulator.issue_token("seller-1").access_token
    previous = iop.aio.configure()
    try:
        assert iop.aio.configure(4) == 4
        for bad in (0, -1, 10**30, 1025):
            with pytest.raises(ValueError):
                iop.aio.configure(bad)
        with pytest.raises(TypeError):
            iop.aio.configure("8")  # type: ignore[arg-type]

        async def main() -> int:
            bodies = await asyncio.gather(*(client.call("/seller/get", access_token=token) for _ in range(200)))
            return len(bodies)

        assert run(main) == 200
        assert _native._aio_workers() == 4
    finally:
        iop.aio.configure(previous)


def test_importing_iop_aio_starts_no_thread() -> None:
    code = (
        "import threading, iop, iop.aio, os;"
        "print(iop._native._aio_workers(), len(os.listdir('/proc/self/task')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "1"]


def test_coroutines_need_a_running_loop(emulator: iop.testing.Emulator) -> None:
    client = iop.aio.Client.from_client(emulator.client())
    coroutine = client.call("/seller/get")
    with pytest.raises(RuntimeError):
        coroutine.send(None)
    coroutine.close()
    with pytest.raises(TypeError):
        iop.aio.Client.from_client("not a client")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        iop.aio.TokenManager("not a client")  # type: ignore[arg-type]


def test_logging_is_the_sync_clients_and_follows_level_changes(
    run: Runner[Any], emulator: iop.testing.Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    client = iop.aio.Client.from_client(emulator.client())
    token = emulator.issue_token("seller-1")

    async def call() -> None:
        await client.call("/seller/get", access_token=token.access_token)

    caplog.set_level(logging.WARNING, logger="iop")
    run(call)
    assert [r for r in caplog.records if r.name.startswith("iop")] == []
    caplog.set_level(logging.DEBUG, logger="iop")  # after calls at WARNING: seen at once
    run(call)
    records = [r for r in caplog.records if r.name.startswith("iop")]
    assert records and all(r.levelno == logging.DEBUG for r in records)
    assert token.access_token not in caplog.text
    caplog.clear()
    logging.getLogger("iop").setLevel(logging.WARNING)
    caplog.set_level(logging.DEBUG, logger="iop.client")  # a child logger only
    run(call)
    assert caplog.records and {r.name for r in caplog.records} == {"iop.client"}


def test_single_flight_across_loops_in_several_threads(emulator: iop.testing.Emulator) -> None:
    """One manager used from four threads, each with its own loop (two of them uvloop when
    installed), 25 callers each, plus a sync caller: one refresh."""
    manager = iop.aio.TokenManager(emulator.client())
    manager.sync.put("seller-1", emulator.issue_token("seller-1"))
    _near_expiry(emulator)
    emulator.inject("delay", times=1, api=REFRESH, ms=200)
    try:
        import uvloop

        factories: List[Callable[[], asyncio.AbstractEventLoop]] = [
            asyncio.new_event_loop,
            uvloop.new_event_loop,
        ] * 2
    except ImportError:
        factories = [asyncio.new_event_loop] * 4
    results: List[str] = []
    lock = threading.Lock()

    def on_own_loop(factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
        async def main() -> List[str]:
            return await asyncio.gather(*(manager.access_token("seller-1") for _ in range(25)))

        loop = factory()
        try:
            tokens = loop.run_until_complete(main())
        finally:
            loop.close()
        with lock:
            results.extend(tokens)

    threads = [threading.Thread(target=on_own_loop, args=(f,)) for f in factories]
    for t in threads:
        t.start()
    results.append(manager.sync.access_token("seller-1"))
    for t in threads:
        t.join()
    assert len(results) == 101 and len(set(results)) == 1
    assert emulator.stats().get(REFRESH, 0) == 1


@pytest.mark.skipif(not hasattr(asyncio, "timeout"), reason="asyncio.timeout is Python 3.11+")
def test_asyncio_timeout_around_a_refresh_leaves_it_to_complete(
    run: Runner[Any], emulator: iop.testing.Emulator
) -> None:
    manager = iop.aio.TokenManager(emulator.client())
    _seed(emulator, manager.sync, 1)
    old = manager.sync.get("seller-0")
    _near_expiry(emulator)
    emulator.inject("delay", times=1, api=REFRESH, ms=400)

    async def main() -> str:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):  # type: ignore[attr-defined]
                await manager.access_token("seller-0")
        await asyncio.sleep(0.6)  # the refresh ends on its worker meanwhile
        return await manager.access_token("seller-0")

    fresh = run(main)
    assert old is not None and fresh != old.access_token
    assert emulator.stats().get(REFRESH, 0) == 1
