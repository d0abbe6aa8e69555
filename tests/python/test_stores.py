"""iop.RedisStore, iop.PostgresStore and iop.open_store against real servers.

Run under scripts/with-servers (scripts/test does), which sets IOP_TEST_REDIS_URL and
IOP_TEST_POSTGRES_URL; without them the server tests fail rather than skip.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.parse
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Callable, List, Union

import pytest

import iop
import iop.testing

AnyStore = Union[iop.RedisStore, iop.PostgresStore]


def required_env(name: str) -> str:
    value = os.environ.get(name)
    assert value, f"{name} is not set: run the tests under scripts/with-servers"
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def redis_store() -> iop.RedisStore:
    return iop.RedisStore(required_env("IOP_TEST_REDIS_URL"), prefix=f"py{uuid.uuid4().hex[:12]}:")


def postgres_store() -> iop.PostgresStore:
    return iop.PostgresStore(required_env("IOP_TEST_POSTGRES_URL"), table=f"py_{uuid.uuid4().hex[:12]}")


def test_open_store_names_every_kind(tmp_path: Path) -> None:
    assert isinstance(iop.open_store("memory:"), iop.MemoryStore)
    directory = tmp_path / "tokens"
    store = iop.open_store(str(directory))
    assert isinstance(store, iop.FileStore)
    assert directory.is_dir()
    assert isinstance(iop.open_store(required_env("IOP_TEST_REDIS_URL")), iop.RedisStore)
    pg = iop.open_store(required_env("IOP_TEST_POSTGRES_URL"))
    assert isinstance(pg, iop.PostgresStore)
    assert pg.table == "iop_tokens"
    with pytest.raises(iop.StoreError, match="scheme"):
        iop.open_store("mysql://u:hunter2@db/x")


def test_server_down_names_host_and_port_and_hides_the_password() -> None:
    port = free_port()
    for make in (
        lambda: iop.RedisStore(f"redis://:hunter2secret@127.0.0.1:{port}/0"),
        lambda: iop.PostgresStore(f"postgres://u:hunter2secret@127.0.0.1:{port}/db"),
    ):
        started = time.monotonic()
        with pytest.raises(iop.StoreError) as raised:
            make()
        assert time.monotonic() - started < 10
        text = f"{raised.value} {raised.value!r}"
        assert f"127.0.0.1:{port}" in text
        assert "hunter2secret" not in text


def test_repr_hides_the_password() -> None:
    store = redis_store()
    assert store.prefix.startswith("py")
    assert repr(store).startswith('RedisStore("redis://127.0.0.1:')
    url = required_env("IOP_TEST_POSTGRES_URL")
    password = url.split("@")[0].rsplit(":", 1)[1]
    pg = postgres_store()
    assert password not in repr(pg) and password not in pg.endpoint


@pytest.mark.parametrize("make", [redis_store, postgres_store], ids=["redis", "postgres"])
def test_managers_on_separate_connections_share_one_refresh(
    make: Callable[[], AnyStore], emulator: iop.testing.Emulator, client: iop.Client
) -> None:
    store = make()
    first = iop.TokenManager(client, store)
    token = client.create_token(emulator.authorize(seller_id="seller-1"))
    first.put("seller-1", token)
    assert first.get("seller-1") is not None
    emulator.advance(days=28)
    # Managers over separate connections to the same namespace, as on separate hosts.
    again: AnyStore
    if isinstance(store, iop.RedisStore):
        again = iop.RedisStore(required_env("IOP_TEST_REDIS_URL"), prefix=store.prefix)
    else:
        again = iop.PostgresStore(required_env("IOP_TEST_POSTGRES_URL"), table=store.table)
    managers = [first, iop.TokenManager(client, again)] * 8
    results: List[str] = []
    threads = [threading.Thread(target=lambda m=m: results.append(m.access_token("seller-1"))) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert results[0] != token.access_token
    assert emulator.stats()["/auth/token/refresh"] == 1
    report = first.refresh_due(within=timedelta(days=60))
    assert report.refreshed == ["seller-1"]


@pytest.mark.parametrize(
    "text, hint",
    [
        ("tokens", "./tokens"),
        ("memory", "memory:"),
        ("~/tokens", "shells"),
        ("host=db.internal user=iop password=hunter2 dbname=app", "postgres://"),
        ("redis:/:hunter2@db.internal", "redis://"),
        ("postgres:iop:hunter2@db.internal/app", "postgres://"),
        ("mysql://iop:hunter2@db.internal/app", "mysql://"),
    ],
)
def test_open_store_refuses_what_is_not_a_store_string(
    text: str, hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(iop.StoreError) as raised:
        iop.open_store(text)
    shown = f"{raised.value} {raised.value!r}"
    assert hint in shown and "hunter2" not in shown
    assert list(tmp_path.iterdir()) == []
    # A relative directory says so.
    assert isinstance(iop.open_store("./tokens"), iop.FileStore)
    assert (tmp_path / "tokens").is_dir()


def test_tls_stores_take_a_ca_file_from_the_url_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    ca = required_env("IOP_TEST_REDIS_CA")
    encoded = urllib.parse.quote(ca, safe="")
    postgres = required_env("IOP_TEST_POSTGRES_URL").split("?")[0]
    monkeypatch.delenv("IOP_STORE_CA_FILE", raising=False)
    for url, kind in [
        (required_env("IOP_TEST_REDISS_URL"), iop.RedisStore),
        (f"{postgres}?sslmode=verify-full", iop.PostgresStore),
    ]:
        with pytest.raises(iop.StoreError, match="(?i)certificate"):
            iop.open_store(url)
        separator = "&" if "?" in url else "?"
        assert isinstance(iop.open_store(f"{url}{separator}ca_file={encoded}"), kind)
        monkeypatch.setenv("IOP_STORE_CA_FILE", ca)
        assert isinstance(iop.open_store(url), kind)
        monkeypatch.setenv("IOP_STORE_CA_FILE", "/nonexistent/ca.pem")
        with pytest.raises(iop.StoreError, match="/nonexistent/ca.pem"):
            iop.open_store(url)
        monkeypatch.delenv("IOP_STORE_CA_FILE")


def test_store_options_live_in_the_url() -> None:
    url = required_env("IOP_TEST_REDIS_URL")
    assert isinstance(iop.open_store(f"{url}?durability=relaxed"), iop.RedisStore)
    with pytest.raises(iop.StoreError, match="durability"):
        iop.open_store(f"{url}?durability=sometimes")
    postgres = required_env("IOP_TEST_POSTGRES_URL")
    with pytest.raises(iop.StoreError, match="sslmode"):
        iop.open_store(postgres.replace("sslmode=disable", "sslmode=allow"))
