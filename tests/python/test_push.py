"""iop.push against signatures computed here with Python's own hmac (an independent
implementation), and iop.authorization_url / iop.new_state."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import iop
import iop.push

APP_KEY = "123456"
APP_SECRET = "push-secret-0123456789"


def lazada_signature(app_key: str, secret: str, body: bytes) -> str:
    """docs/src/concepts/protocol.md#push-messages, written independently: hex(HMAC-SHA256(secret, app_key + body))."""
    return hmac.new(secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


BODIES = [
    b'{"seller_id":"1001","message_type":0,"data":{"trade_order_id":"260","trade_order_line_id":"261","order_status":"shipped","status_update_time":1700000000},"timestamp":1700000000123,"site":"lazada_vn"}',
    # Non-ASCII text, as UTF-8 and as \\u escapes, with odd whitespace and key order.
    '{ "site" : "lazada_th",\n  "data": {"note": "ส่งแล้ว – déjà 🚚"}, "message_type": 4, "seller_id": 42,\t"timestamp": "1700000000000" }'.encode(),
    b'{"message_type":12,"data":{"note":"\\u00e9"},"timestamp":1}',
]


@pytest.mark.parametrize("body", BODIES)
def test_independent_signatures_verify_in_either_case(body: bytes) -> None:
    good = lazada_signature(APP_KEY, APP_SECRET, body)
    assert iop.push.verify(APP_KEY, APP_SECRET, body, good)
    assert iop.push.verify(APP_KEY, APP_SECRET, body, good.upper())
    assert iop.push.signature(APP_KEY, APP_SECRET, body) == good


@pytest.mark.parametrize("body", BODIES)
def test_what_must_fail_fails(body: bytes) -> None:
    good = lazada_signature(APP_KEY, APP_SECRET, body)
    reserialised = json.dumps(json.loads(body)).encode()
    assert reserialised != body
    assert not iop.push.verify(APP_KEY, APP_SECRET, reserialised, good)
    assert not iop.push.verify("654321", APP_SECRET, body, good)
    assert not iop.push.verify(APP_KEY, "other-secret", body, good)
    other = BODIES[(BODIES.index(body) + 1) % len(BODIES)]
    assert not iop.push.verify(APP_KEY, APP_SECRET, body, lazada_signature(APP_KEY, APP_SECRET, other))
    for header in [None, "", good[:63], good + "00", "z" * 64, "é" * 64]:
        assert not iop.push.verify(APP_KEY, APP_SECRET, body, header)
    bad_header: Any = 12345
    assert not iop.push.verify(APP_KEY, APP_SECRET, body, bad_header)


def test_body_must_be_bytes() -> None:
    body: Any = BODIES[0].decode()
    with pytest.raises(TypeError, match="raw request body"):
        iop.push.verify(APP_KEY, APP_SECRET, body, "00" * 32)
    with pytest.raises(TypeError):
        iop.push.parse(body)


def test_parse_types_known_and_unknown() -> None:
    order = iop.push.parse(BODIES[0])
    assert order.seller_id == "1001" and order.message_type == 0 and order.type_name == "trade_order"
    assert order.data["trade_order_line_id"] == "261" and order.site == "lazada_vn"
    assert order.timestamp == 1700000000123
    product = iop.push.parse(BODIES[1])
    assert product.seller_id == "42" and product.type_name == "product_updated"
    assert product.data == {"note": "ส่งแล้ว – déjà 🚚"}
    unknown = iop.push.parse(b'{"message_type":77,"seller_id":"1","data":{"x":[1,2]}}')
    assert unknown.message_type == 77 and unknown.type_name == "other" and unknown.data == {"x": [1, 2]}
    closed = iop.push.parse(b'{"message_type":13,"seller_id":"1","data":{"status":"close"}}')
    assert closed.seller_status == "close"
    for name in iop.push.MESSAGE_TYPES.values():
        assert isinstance(name, str)


def test_dedup_key_is_per_event() -> None:
    again = json.dumps({**json.loads(BODIES[0]), "timestamp": 1700000099999}).encode()
    assert iop.push.parse(BODIES[0]).dedup_key == iop.push.parse(again).dedup_key
    later = BODIES[0].replace(b'"shipped"', b'"delivered"')
    assert iop.push.parse(BODIES[0]).dedup_key != iop.push.parse(later).dedup_key


@pytest.mark.parametrize("body", [b"", b"[]", b"{}", b"not json 50001secret", b'{"message_type":"x"}', b"\xff"])
def test_bad_bodies_are_value_errors_that_do_not_echo(body: bytes) -> None:
    with pytest.raises(ValueError) as info:
        iop.push.parse(body)
    assert "50001secret" not in str(info.value)


def test_authorization_urls() -> None:
    state = iop.new_state()
    assert len(state) == 48 and state != iop.new_state()
    url = iop.authorization_url(APP_KEY, "https://app.example/cb?a=1", state=state)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "api-sg.aliexpress.com", "/oauth/authorize")
    assert parse_qs(parts.query) == {
        "response_type": ["code"], "force_auth": ["true"], "redirect_uri": ["https://app.example/cb?a=1"],
        "client_id": [APP_KEY], "state": [state],
    }
    lazada = iop.authorization_url(APP_KEY, "https://app.example/cb", state=state, platform="lazada", country="vn")
    assert lazada.startswith("https://auth.lazada.com/oauth/authorize?") and lazada.endswith("&country=vn")
    assert iop.authorization_url(APP_KEY, "https://a.example/cb", state="s", uuid="u1").endswith("&uuid=u1")
    with pytest.raises(ValueError):
        iop.authorization_url(APP_KEY, "https://a.example/cb", state="s", platform="ebay")
    with pytest.raises(ValueError):
        iop.authorization_url(APP_KEY, "https://a.example/cb", state="s", platform="aliexpress", country="vn")
    with pytest.raises(ValueError):
        iop.authorization_url(APP_KEY, "https://a.example/cb", state="")
    with pytest.raises(ValueError):
        iop.authorization_url(APP_KEY, "/relative", state="s")
