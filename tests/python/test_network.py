"""Network settings of iop.Client and iop.aio.Client through a real forward proxy (tinyproxy,
with credentials; as an http and an https proxy) and a gateway behind TLS with a private CA made
in the test (tests/net/front.py): proxy=, ca_file=, trust_env= (HTTPS_PROXY, NO_PROXY,
SSL_CERT_FILE), and failures that say what failed without the proxy password."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Iterator

import pytest

import iop
import iop.aio
import iop.testing

from conftest import APP_KEY, APP_SECRET, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tests" / "net"))
from front import Front  # noqa: E402


@pytest.fixture(scope="module")
def gateway() -> Iterator[iop.testing.Emulator]:
    with iop.testing.Emulator(APP_KEY, APP_SECRET) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def front(gateway: iop.testing.Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    port = int(gateway.base_url.rsplit(":", 1)[1])
    with Front(("127.0.0.1", port), tmp_path_factory.mktemp("net")) as f:
        yield f


def client(front: Front, **settings: object) -> iop.Client:
    return iop.Client(APP_KEY, APP_SECRET, base_url=front.https_url, retries=0, **settings)  # type: ignore[arg-type]


def test_a_private_ca_is_trusted_only_when_given(gateway: iop.testing.Emulator, front: Front) -> None:
    with pytest.raises(iop.TransportError) as info:
        client(front).create_token(gateway.authorize())
    assert "TLS" in str(info.value) or "certificate" in str(info.value)
    assert info.value.sent is False, "a refused certificate means nothing was sent"
    for ca_file in (str(front.ca_file), front.ca_file):
        token = client(front, ca_file=ca_file).create_token(gateway.authorize(seller_id="ca"))
        assert token.seller_id == "ca"
    # The name in the certificate is checked as well as its issuer.
    assert client(front, ca_file=front.ca_file).create_token(gateway.authorize()).access_token
    localhost = iop.Client(APP_KEY, APP_SECRET, base_url=front.https_localhost_url, ca_file=front.ca_file)
    assert localhost.create_token(gateway.authorize()).access_token


def test_calls_go_through_an_http_and_an_https_proxy(gateway: iop.testing.Emulator, front: Front) -> None:
    for proxy in (front.proxy_url, front.https_proxy_url):
        before = front.connects(front.gateway_target)
        through = client(front, proxy=proxy, ca_file=front.ca_file)
        token = through.create_token(gateway.authorize(seller_id="proxied"))
        through.call("/seller/get", access_token=token.access_token)
        assert token.seller_id == "proxied"
        assert front.connects(front.gateway_target) == before + 1, "one tunnel, kept alive"
        assert front.proxy_password not in repr(through)


def test_refused_proxy_credentials_say_so_without_the_password(
    gateway: iop.testing.Emulator, front: Front
) -> None:
    with pytest.raises(iop.TransportError) as info:
        client(front, proxy=front.proxy_url_wrong_password, ca_file=front.ca_file).create_token(
            gateway.authorize()
        )
    text = str(info.value)
    assert "proxy CONNECT failed" in text and "credentials" in text, text
    assert "127.0.0.1" in text
    assert "wrong-pw-SECRET" not in text and "wrong-pw-SECRET" not in repr(info.value)
    assert info.value.sent is False


def test_trust_env_reads_https_proxy_no_proxy_and_ssl_cert_file(
    gateway: iop.testing.Emulator, front: Front, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", front.proxy_url)
    monkeypatch.setenv("SSL_CERT_FILE", str(front.ca_file))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    # Off by default: the environment is ignored (so the private CA is unknown).
    before = front.connects(front.gateway_target)
    with pytest.raises(iop.TransportError):
        client(front).create_token(gateway.authorize())
    assert front.connects(front.gateway_target) == before
    # On: through the proxy, trusting the CA file.
    assert client(front, trust_env=True).create_token(gateway.authorize()).access_token
    assert front.connects(front.gateway_target) == before + 1
    # NO_PROXY names the host: reached directly.
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert client(front, trust_env=True).create_token(gateway.authorize()).access_token
    assert front.connects(front.gateway_target) == before + 1
    # Explicit settings win over the environment.
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTPS_PROXY", front.proxy_url_wrong_password)
    through = client(front, trust_env=True, proxy=front.proxy_url)
    assert through.create_token(gateway.authorize()).access_token


def test_the_aio_client_takes_the_same_settings(gateway: iop.testing.Emulator, front: Front) -> None:
    async def main() -> str:
        async with iop.aio.Client(
            APP_KEY,
            APP_SECRET,
            base_url=front.https_url,
            proxy=front.https_proxy_url,
            ca_file=front.ca_file,
            timeout=(5, 10),
            retries=1,
        ) as c:
            token = await c.create_token(gateway.authorize(seller_id="aio"))
            return token.seller_id or ""

    before = front.connects(front.gateway_target)
    assert asyncio.run(main()) == "aio"
    assert front.connects(front.gateway_target) == before + 1


def test_a_token_manager_works_through_the_proxy(gateway: iop.testing.Emulator, front: Front) -> None:
    through = client(front, proxy=front.proxy_url, ca_file=front.ca_file)
    manager = iop.TokenManager(through, "memory:")
    manager.put("m", through.create_token(gateway.authorize(seller_id="m")))
    assert manager.call("m", "/seller/get")["seller_id"] == "m"
