"""iop.TokenManager with memory, file and custom Python stores, against the emulator."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

import iop
import iop.testing


class DictStore:
    """A custom store, as a user keeping tokens in Redis or SQL would write one."""

    def __init__(self) -> None:
        self.data: Dict[str, Dict[str, Any]] = {}
        self.saves: List[str] = []
        self.loads: List[str] = []

    def load(self, key: str) -> Optional[Dict[str, Any]]:
        self.loads.append(key)
        return self.data.get(key)

    def save(self, key: str, token: Dict[str, Any]) -> None:
        self.saves.append(key)
        self.data[key] = token

    def keys(self) -> List[str]:
        return list(self.data)


def seeded(emulator: iop.testing.Emulator, client: iop.Client, store: Any = None, **kw: Any) -> Tuple[iop.TokenManager, iop.Token]:
    manager = iop.TokenManager(client, store, **kw)
    token = client.create_token(emulator.authorize(seller_id="seller-1"))
    manager.put("seller-1", token)
    return manager, token


def assert_one_refresh_for_all(
    emulator: iop.testing.Emulator, managers: List[iop.TokenManager], token: iop.Token
) -> None:
    """Asks each manager for seller-1's access token from its own thread, all at once: every
    caller gets the same new token, and the emulator saw exactly one refresh."""
    results: List[str] = []
    errors: List[BaseException] = []

    def ask(manager: iop.TokenManager) -> None:
        try:
            results.append(manager.access_token("seller-1"))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=ask, args=(m,)) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == len(managers) and len(set(results)) == 1
    assert results[0] != token.access_token
    assert emulator.stats()["/auth/token/refresh"] == 1


def test_put_get_and_no_refresh_when_fresh(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    manager, token = seeded(emulator, client)
    stored = manager.get("seller-1")
    assert stored is not None and stored.access_token == token.access_token
    assert manager.get("nobody") is None
    assert manager.access_token("seller-1") == token.access_token
    assert emulator.stats().get("/auth/token/refresh", 0) == 0


def test_refreshes_when_due_and_saves_first(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    manager, token = seeded(emulator, client)
    emulator.advance(days=28)  # 2 days left: inside the 3-day margin
    fresh = manager.access_token("seller-1")
    assert fresh != token.access_token
    assert emulator.stats()["/auth/token/refresh"] == 1
    stored = manager.get("seller-1")
    assert stored is not None
    assert stored.access_token == fresh
    assert stored.refresh_token != token.refresh_token
    assert manager.access_token("seller-1") == fresh
    assert emulator.stats()["/auth/token/refresh"] == 1


def test_margin_argument(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    manager, token = seeded(emulator, client, margin=timedelta(days=10))
    emulator.advance(days=21)
    assert manager.access_token("seller-1") != token.access_token
    assert emulator.stats()["/auth/token/refresh"] == 1


def test_many_threads_one_refresh(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    manager, token = seeded(emulator, client)
    emulator.advance(days=28)
    assert_one_refresh_for_all(emulator, [manager] * 16, token)


def test_custom_python_store(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    store = DictStore()
    manager, token = seeded(emulator, client, store)
    assert store.saves == ["seller-1"]
    assert store.data["seller-1"]["refresh_token"] == token.refresh_token
    emulator.advance(days=28)
    fresh = manager.access_token("seller-1")
    assert store.data["seller-1"]["access_token"] == fresh
    # The put, the save that proves the store can save before the refresh (the same record
    # again), and the refreshed token set.
    assert store.saves.count("seller-1") == 3
    assert store.loads
    report = manager.refresh_due(within=timedelta(days=60))
    assert report.refreshed == ["seller-1"]


def test_managers_sharing_a_custom_store_make_one_refresh(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    # Two managers over one custom store object (e.g. one per web worker thread) share its
    # per-key lock: one refresh in all, not one per manager.
    class SlowStore(DictStore):
        def load(self, key: str) -> Optional[Dict[str, Any]]:
            time.sleep(0.02)
            return super().load(key)

    store = SlowStore()
    first, token = seeded(emulator, client, store)
    second = iop.TokenManager(client, store)
    emulator.advance(days=28)
    assert_one_refresh_for_all(emulator, [first, second] * 8, token)


def test_custom_store_failures_are_store_errors(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    class Broken(DictStore):
        def load(self, key: str) -> Optional[Dict[str, Any]]:
            raise ConnectionError("redis is down")

    manager = iop.TokenManager(client, Broken())
    with pytest.raises(iop.StoreError) as info:
        manager.access_token("seller-9")
    assert info.value.key == "seller-9"
    assert "redis is down" in str(info.value)


def test_custom_store_returning_a_self_containing_dict_is_a_store_error(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    class Looping(DictStore):
        def load(self, key: str) -> Optional[Dict[str, Any]]:
            token: Dict[str, Any] = {"access_token": "A" * 20}
            token["extra"] = token
            return token

    manager = iop.TokenManager(client, Looping())
    with pytest.raises(iop.StoreError) as info:
        manager.get("seller-9")
    assert info.value.key == "seller-9"
    assert "nested more than" in str(info.value)


def test_custom_store_values_that_are_not_token_sets_are_described_never_quoted(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    # What a store returns can hold tokens anywhere, also where a number belongs: an error
    # describes the shape of the value, never its contents.
    secret = "50000601a2b3c4SECRETinTheWrongField0123456789"
    bad_values: List[Any] = [
        {"access_token": "A" * 20, "expires_in": secret},
        {"access_token": secret, "expires_in": [secret, float("nan")]},
        {"access_token": secret, "refresh_token": secret.encode()},
        {"access_token": secret, 7: secret},
        {"access_token": secret, "expires_in": 10**30},
        [secret],
        secret,
        42,
    ]

    class Returning(DictStore):
        def __init__(self, value: Any) -> None:
            super().__init__()
            self.value = value

        def load(self, key: str) -> Any:
            return self.value

    for value in bad_values:
        manager = iop.TokenManager(client, Returning(value))
        for call in (lambda: manager.get("seller-1"), lambda: manager.access_token("seller-1")):
            try:
                call()
            except iop.IopError as e:
                assert isinstance(e, (iop.StoreError, iop.ReauthorizationRequired)), repr(e)
                assert secret not in str(e) and secret not in repr(e), (value, repr(e))
                assert secret not in repr(e.args), (value, e.args)
        report = manager.refresh_due(within=timedelta(days=60))
        assert secret not in repr(report.failed), (value, report.failed)


def test_a_corrupt_value_in_a_custom_store_can_be_removed(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    # remove() used to read the value first, and so failed on the very entry it is for.
    class Corrupted(DictStore):
        def load(self, key: str) -> Any:
            return "not a token set" if key in self.data else None

        def remove(self, key: str) -> None:
            self.data.pop(key, None)

    store = Corrupted()
    store.data["seller-1"] = {}
    manager = iop.TokenManager(client, store)
    with pytest.raises(iop.StoreError, match="must return a dict or None"):
        manager.get("seller-1")
    assert manager.remove("seller-1") is True
    assert "seller-1" not in store.data
    assert manager.get("seller-1") is None
    assert manager.remove("seller-1") is False


def test_file_store(tmp_path: Path, emulator: iop.testing.Emulator, client: iop.Client) -> None:
    store = iop.FileStore(tmp_path / "tokens")
    manager, token = seeded(emulator, client, store)
    assert store.directory == str(tmp_path / "tokens")
    files = [p for p in (tmp_path / "tokens").iterdir() if p.is_file()]
    assert files
    again = iop.TokenManager(client, iop.FileStore(str(tmp_path / "tokens")))
    stored = again.get("seller-1")
    assert stored is not None and stored.access_token == token.access_token


def test_reauthorization_callback(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    manager, token = seeded(emulator, client, iop.MemoryStore())
    calls: List[Tuple[str, BaseException]] = []

    @manager.on_reauthorization_required
    def alert(key: str, error: iop.ReauthorizationRequired) -> None:
        calls.append((key, error))

    emulator.revoke_refresh_tokens("seller-1")
    emulator.advance(days=31)  # the access token is dead: nothing left to return
    with pytest.raises(iop.ReauthorizationRequired) as info:
        manager.access_token("seller-1")
    assert info.value.key == "seller-1"
    with pytest.raises(iop.ReauthorizationRequired):
        manager.access_token("seller-1")
    assert len(calls) == 1
    key, error = calls[0]
    assert key == "seller-1"
    assert isinstance(error, iop.ReauthorizationRequired)
    # Never retried: one refresh call in all.
    assert emulator.stats()["/auth/token/refresh"] == 1


def test_refresh_due_report(emulator: iop.testing.Emulator, client: iop.Client) -> None:
    manager = iop.TokenManager(client)
    for i in range(5):
        manager.put(f"s{i}", client.create_token(emulator.authorize(seller_id=f"s{i}")))
    emulator.advance(days=20)
    manager.put("late", client.create_token(emulator.authorize(seller_id="late")))
    progress: List[Tuple[int, int]] = []
    report = manager.refresh_due(within=timedelta(days=15), concurrency=3, progress=lambda d, t: progress.append((d, t)))
    assert sorted(report.refreshed) == [f"s{i}" for i in range(5)]
    assert report.skipped == ["late"]
    assert report.failed == []
    assert report.reauthorization_required == []
    assert sorted(progress)[-1] == (6, 6)
    assert emulator.stats()["/auth/token/refresh"] == 5
    assert "refreshed=5" in repr(report)


def test_manager_bad_arguments(client: iop.Client) -> None:
    with pytest.raises(TypeError, match="iop.Client"):
        iop.TokenManager("client")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="store must be"):
        iop.TokenManager(client, object())
    with pytest.raises(TypeError, match="margin"):
        iop.TokenManager(client, margin="3 days")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="margin"):
        iop.TokenManager(client, margin=timedelta(days=-1))
    manager = iop.TokenManager(client)
    with pytest.raises(TypeError, match="key must be str"):
        manager.access_token(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key must not be empty"):
        manager.get("")
    with pytest.raises(TypeError, match="iop.Token"):
        manager.put("k", {"access_token": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        manager.on_reauthorization_required(42)  # type: ignore[arg-type]
    # A seller nothing is stored for: a typed error that is also a KeyError, not a StoreError.
    with pytest.raises(iop.UnknownSeller) as unknown:
        manager.access_token("never-stored")
    assert isinstance(unknown.value, KeyError) and isinstance(unknown.value, iop.IopError)
    assert not isinstance(unknown.value, iop.StoreError)
    assert unknown.value.key == "never-stored"
    assert str(unknown.value).startswith('unknown seller "never-stored"')
    # 10**30 and -10**30 were OverflowErrors from the integer conversion.
    for concurrency in (0, -1, 1025, 10**6, 10**30, -(10**30), 2**63, 2**64):
        with pytest.raises(ValueError, match="concurrency must be at least 1"):
            manager.refresh_due(concurrency=concurrency)
    for not_an_int in (2.0, True, "8"):
        with pytest.raises(TypeError, match="concurrency must be an int"):
            manager.refresh_due(concurrency=not_an_int)  # type: ignore[arg-type]
    for huge in (10**400, -(10**400)):
        with pytest.raises(ValueError, match="within"):
            manager.refresh_due(within=huge)
        with pytest.raises(ValueError, match="margin"):
            iop.TokenManager(client, margin=huge)
    assert manager.refresh_due(concurrency=1).refreshed == []


def run_with_timeout(work: Callable[[], None], seconds: float = 20.0) -> None:
    """Runs `work` in a daemon thread and fails (rather than hangs) if it does not finish in
    `seconds`; re-raises what it raised."""
    errors: List[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "deadlock: the operation did not finish"
    if errors:
        raise errors[0]


def test_remove_memory_file_and_custom_stores(
    tmp_path: Path, emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    class RemovableStore(DictStore):
        def remove(self, key: str) -> None:  # answers nothing: what load found stands
            self.data.pop(key, None)

    for store in (None, iop.MemoryStore(), iop.FileStore(tmp_path / "tokens"), RemovableStore()):
        manager, token = seeded(emulator, client, store)
        assert manager.remove("seller-1") is True
        assert manager.get("seller-1") is None
        with pytest.raises(iop.UnknownSeller):
            manager.access_token("seller-1")
        assert manager.remove("seller-1") is False
        # A corrupted entry is replaced by removing it and putting a good one.
        manager.put("seller-1", token)
        assert manager.access_token("seller-1") == token.access_token
    with pytest.raises(ValueError, match="key must not be empty"):
        manager.remove("")
    with pytest.raises(TypeError, match="key must be str"):
        manager.remove(None)  # type: ignore[arg-type]


def test_remove_from_a_custom_store_without_remove_is_a_store_error(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    store = DictStore()
    manager, _ = seeded(emulator, client, store)
    with pytest.raises(iop.StoreError, match="no remove"):
        manager.remove("seller-1")
    assert "seller-1" in store.data

    class Answering(DictStore):
        def remove(self, key: str) -> bool:
            return self.data.pop(key, None) is not None

    manager, _ = seeded(emulator, client, Answering())
    assert manager.remove("seller-1") is True
    assert manager.remove("seller-1") is False


def test_custom_store_calling_back_into_the_manager_does_not_deadlock(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    # save() asking the manager for the token it is saving used to hang for good (the store's
    # mutex was held during the Python call), and every later operation on the store with it.
    class Auditing(DictStore):
        def __init__(self) -> None:
            super().__init__()
            self.manager: Optional[iop.TokenManager] = None
            self.seen: List[Optional[str]] = []

        def save(self, key: str, token: Dict[str, Any]) -> None:
            previous = self.manager.get(key) if self.manager is not None else None
            self.seen.append(previous.access_token if previous is not None else None)
            super().save(key, token)

    store = Auditing()
    manager = iop.TokenManager(client, store)
    store.manager = manager
    token = client.create_token(emulator.authorize(seller_id="seller-1"))
    run_with_timeout(lambda: manager.put("seller-1", token))
    assert store.seen == [None]
    emulator.advance(days=28)  # due: the refresh saves through the same callback
    fresh: List[str] = []
    run_with_timeout(lambda: fresh.append(manager.access_token("seller-1")))
    assert fresh[0] != token.access_token
    # The put, the save proving the store can save (before the refresh), the refreshed set.
    assert store.seen == [None, token.access_token, token.access_token]
    assert store.data["seller-1"]["access_token"] == fresh[0]
    # Every other operation still works, from another thread and from a second manager.
    other = iop.TokenManager(client, store)
    run_with_timeout(lambda: fresh.append(other.access_token("seller-1")))
    assert fresh[1] == fresh[0]
    run_with_timeout(lambda: other.put("seller-2", token))
    assert run_refresh_due(other).failed == []


def run_refresh_due(manager: iop.TokenManager) -> iop.RefreshReport:
    reports: List[iop.RefreshReport] = []
    run_with_timeout(lambda: reports.append(manager.refresh_due(within=timedelta(seconds=1))))
    return reports[0]


def test_custom_store_saving_the_same_key_again_is_an_error_not_a_hang(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    # A put of the key being saved, from inside save, would wait on a lock this very call holds.
    class Echoing(DictStore):
        def __init__(self) -> None:
            super().__init__()
            self.manager: Optional[iop.TokenManager] = None
            self.errors: List[BaseException] = []

        def save(self, key: str, token: Dict[str, Any]) -> None:
            super().save(key, token)
            if self.manager is not None:
                manager, self.manager = self.manager, None
                try:
                    manager.put(key, iop.Token.from_dict(token))
                except iop.StoreError as e:
                    self.errors.append(e)

    store = Echoing()
    first = iop.TokenManager(client, store)
    second = iop.TokenManager(client, store)
    token = client.create_token(emulator.authorize(seller_id="seller-1"))
    # Through a second manager over the same store object, then through the same manager.
    for manager in (second, first):
        store.manager = manager
        run_with_timeout(lambda: first.put("seller-1", token))
        assert len(store.errors) == 1 and "called back" in str(store.errors[0])
        assert store.errors[0].key == "seller-1"  # type: ignore[attr-defined]
        store.errors.clear()
    assert first.get("seller-1") is not None

    # refresh_due from inside save would have its workers wait for this thread: refused too.
    class Sweeping(DictStore):
        def __init__(self) -> None:
            super().__init__()
            self.manager: Optional[iop.TokenManager] = None
            self.errors: List[BaseException] = []

        def save(self, key: str, token: Dict[str, Any]) -> None:
            super().save(key, token)
            if self.manager is not None:
                try:
                    self.manager.refresh_due()
                except iop.StoreError as e:
                    self.errors.append(e)

    sweeping = Sweeping()
    manager = iop.TokenManager(client, sweeping)
    sweeping.manager = manager
    run_with_timeout(lambda: manager.put("seller-1", token))
    assert len(sweeping.errors) == 1
    # Outside a store call everything works as usual.
    sweeping.manager = None
    run_with_timeout(lambda: manager.put("seller-2", token))
    assert manager.access_token("seller-1") == token.access_token


def test_unrefreshable_token_is_reported_ahead(client: iop.Client) -> None:
    manager = iop.TokenManager(client)
    lazada_style = iop.Token.from_dict(
        {"access_token": "A" * 24, "refresh_token": "R" * 24, "expires_in": 86400,
         "refresh_expires_in": 0, "country": "sg", "code": "0"}
    )
    manager.put("lazada-sg", lazada_style)
    report = manager.refresh_due(within=timedelta(days=3))
    assert report.refreshed == [] and report.failed == []
    ((key, left),) = report.reauthorization_required
    assert key == "lazada-sg"
    assert isinstance(left, timedelta)
    assert timedelta(hours=23) < left <= timedelta(days=1)
    # Its access token still works until then.
    assert manager.access_token("lazada-sg") == "A" * 24


def test_a_custom_store_that_cannot_save_is_never_refreshed(
    emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    """The manager proves the save before the gateway rotates anything: a custom store whose
    save fails (a read-only database, a replica) fails the call with a StoreError, and the
    seller's refresh token is not spent."""

    class ReadOnly(DictStore):
        read_only = False

        def save(self, key: str, token: Dict[str, Any]) -> None:
            if self.read_only:
                raise PermissionError("read-only replica")
            super().save(key, token)

    store = ReadOnly()
    manager, token = seeded(emulator, client, store)
    emulator.advance(days=28)
    store.read_only = True
    with pytest.raises(iop.StoreError) as info:
        manager.access_token("seller-1")
    assert info.value.key == "seller-1"
    assert "read-only replica" in str(info.value)
    assert emulator.stats().get("/auth/token/refresh", 0) == 0
    report = manager.refresh_due(within=timedelta(days=40))
    assert report.refreshed == [] and [key for key, *_ in report.failed] == ["seller-1"]
    assert emulator.stats().get("/auth/token/refresh", 0) == 0
    # Writable again: the stored refresh token still works.
    store.read_only = False
    assert manager.access_token("seller-1") != token.access_token
    assert emulator.stats()["/auth/token/refresh"] == 1
