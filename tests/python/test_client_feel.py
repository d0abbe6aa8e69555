"""One feel for both clients: files= and call_raw on the sync client, context managers that close
the pools, timeout as seconds or a (connect, read) pair, retries=, and clear errors for bad
network settings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Set

import pytest

import iop
import iop.aio
import iop.testing


def established_to(port: int) -> int:
    """TCP connections of this process's network namespace in ESTABLISHED state whose remote
    end is 127.0.0.1:`port` (the client side of connections to the emulator)."""
    found = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                found += 1
    return found


def port_of(emulator: iop.testing.Emulator) -> int:
    return int(emulator.base_url.rsplit(":", 1)[1])


def test_the_sync_client_takes_files_and_has_call_raw(emulator: iop.testing.Emulator) -> None:
    client = emulator.client()
    token = client.create_token(emulator.authorize(seller_id="s"))
    body = client.call(
        "/image/upload", {"title": "t"}, access_token=token.access_token, files={"image": b"\x89PNG"}
    )
    assert body["files"] == {"image": {"filename": "image", "size": 4}}
    envelope = client.call_raw("/seller/get", access_token="not-a-token")
    assert envelope["code"] == "IllegalAccessToken"
    with pytest.raises(iop.AccessTokenInvalid):
        client.call("/seller/get", access_token="not-a-token")
    with pytest.raises(TypeError, match="files must be a dict"):
        client.call("/image/upload", files=[("image", b"x")])  # type: ignore[arg-type]


def test_with_closes_the_pool(emulator: iop.testing.Emulator) -> None:
    port = port_of(emulator)
    with iop.Client(emulator.app_key, emulator.app_secret, base_url=emulator.base_url) as client:
        assert client.create_token(emulator.authorize()).access_token
        assert established_to(port) >= 1, "a kept-alive connection while open"
        assert not client.closed
    assert client.closed
    assert established_to(port) == 0, "the pool was closed at the end of the block"
    with pytest.raises(ValueError, match="closed"):
        client.create_token(emulator.authorize())
    client.close()  # twice is fine


def test_async_with_closes_the_pool(emulator: iop.testing.Emulator) -> None:
    port = port_of(emulator)

    async def main() -> iop.aio.Client:
        async with iop.aio.Client(
            emulator.app_key, emulator.app_secret, base_url=emulator.base_url
        ) as client:
            await client.create_token(emulator.authorize())
            assert established_to(port) >= 1
        return client

    client = asyncio.run(main())
    assert client.closed and client.sync.closed
    assert established_to(port) == 0


def test_timeout_as_a_connect_read_pair(emulator: iop.testing.Emulator) -> None:
    client = iop.Client(
        emulator.app_key, emulator.app_secret, base_url=emulator.base_url, timeout=(2, 0.5)
    )
    emulator.inject("delay", ms=1500)
    with pytest.raises(iop.Timeout) as info:
        client.create_token(emulator.authorize())
    assert info.value.after == 0.5, "the read timeout of the pair"
    emulator.clear_faults()
    with pytest.raises(ValueError, match=r"\(connect, read\)"):
        iop.Client("k", "s", timeout=(1, 2, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        iop.Client("k", "s", timeout=(0, 2))


def test_retries_sets_the_attempts(emulator: iop.testing.Emulator) -> None:
    def client(retries: int) -> iop.Client:
        return iop.Client(emulator.app_key, emulator.app_secret, base_url=emulator.base_url, retries=retries)

    emulator.inject("http500", times=1, api="/auth/token/create")
    with pytest.raises(iop.GatewayError):
        client(0).create_token(emulator.authorize())
    assert emulator.stats()["/auth/token/create"] == 1
    emulator.reset_stats()
    emulator.inject("http500", times=2, api="/auth/token/create")
    assert client(2).create_token(emulator.authorize()).access_token
    assert emulator.stats()["/auth/token/create"] == 3
    with pytest.raises(ValueError, match="retries"):
        client(-1)


def test_bad_network_settings_are_clear_and_keep_passwords_out() -> None:
    cases = [
        (dict(proxy=""), ValueError, "proxy must not be empty"),
        (dict(proxy=b"http://p:1"), TypeError, "proxy must be str"),
        (dict(proxy="socks5://u:pw-SECRET@h:1"), ValueError, "invalid proxy URL"),
        (dict(ca_file=42), TypeError, "ca_file must be a str or os.PathLike"),
        (dict(ca_file="/nonexistent/iop-ca.pem"), ValueError, "/nonexistent/iop-ca.pem"),
        (dict(trust_env="yes"), TypeError, "trust_env must be a bool"),
        (dict(retries=1.5), TypeError, "retries must be an int"),
    ]
    for kwargs, error, text in cases:
        with pytest.raises(error) as info:
            iop.Client("k", "s", **kwargs)  # type: ignore[arg-type]
        assert text in str(info.value), (kwargs, str(info.value))
        assert "pw-SECRET" not in str(info.value)
    client = iop.Client("k", "s", proxy="http://user:pw-SECRET@proxy.example:3128")
    shown: Set[str] = {repr(client), repr(iop.aio.Client.from_client(client))}
    for text in shown:
        assert "pw-SECRET" not in text and "proxy.example:3128" in text, text
