"""The README's iop.testing example, as users will copy it."""

import pytest

import iop
import iop.testing


@pytest.fixture
def gateway():  # type: ignore[no-untyped-def]
    with iop.testing.Emulator() as emulator:
        yield emulator


def test_tokens_are_refreshed_before_they_expire(gateway):  # type: ignore[no-untyped-def]
    client = gateway.client()
    manager = iop.TokenManager(client)
    manager.put("shop-1", client.create_token(gateway.authorize(seller_id="shop-1")))
    gateway.advance(days=28)
    assert manager.access_token("shop-1")
    assert gateway.stats()["/auth/token/refresh"] == 1


def test_my_code_survives_a_flaky_gateway(gateway):  # type: ignore[no-untyped-def]
    gateway.inject("http500", times=1)
    client = iop.Client(gateway.app_key, gateway.app_secret, base_url=gateway.base_url)
    token = client.create_token(gateway.authorize(seller_id="shop-2"))  # retried once after the 500
    assert token.seller_id == "shop-2"
    assert gateway.stats()["/auth/token/create"] == 2
