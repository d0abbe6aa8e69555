"""Canned business answers of iop.testing.Emulator: registered per API, per seller and per
parameter, loaded from the shipped set or a file, in the gateway's real envelopes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import iop
import iop.testing

CATEGORIES = "aliexpress.affiliate.category.get"


def categories(name: str) -> dict:  # type: ignore[type-arg]
    return {"resp_result": {"resp_code": 200, "resp_msg": "Call succeeds", "result": {
        "total_result_count": 1, "categories": {"category": [{"category_id": 3, "category_name": name}]}}}}


def test_an_answer_comes_in_the_top_envelope(emulator: iop.testing.Emulator) -> None:
    client = emulator.client()
    emulator.answer(CATEGORIES, categories("Apparel"))
    body = client.call(CATEGORIES)
    inner = body["aliexpress_affiliate_category_get_response"]
    assert inner["resp_result"]["result"]["categories"]["category"][0]["category_name"] == "Apparel"
    assert inner["request_id"]
    # The vendor-style client with set_simplify(): the inner object alone.
    request = iop.IopRequest(CATEGORIES)
    request.set_simplify()
    simple = emulator.iop_client("/sync").execute(request)
    assert simple.body is not None and simple.body["resp_result"]["resp_code"] == 200


def test_answers_per_seller_and_per_parameter(emulator: iop.testing.Emulator) -> None:
    client = emulator.client()
    emulator.answer("/seller/get", {"data": {"name": "anyone"}})
    emulator.answer("/seller/get", {"data": {"name": "first"}}, seller="shop-1")
    emulator.answer("/orders/get", {"data": {"count": 0}}, params={"status": "canceled", "limit": 10})
    one = client.create_token(emulator.authorize(seller_id="shop-1"))
    two = client.create_token(emulator.authorize(seller_id="shop-2"))
    assert client.call("/seller/get", access_token=one.access_token)["data"]["name"] == "first"
    assert client.call("/seller/get", access_token=two.access_token)["data"]["name"] == "anyone"
    body = client.call("/seller/get", access_token=one.access_token)
    assert body["code"] == "0" and body["request_id"]
    canceled = client.call("/orders/get", {"status": "canceled", "limit": 10})
    assert canceled["data"]["count"] == 0
    echoed = client.call("/orders/get", {"status": "pending", "limit": 10})
    assert echoed["params"]["status"] == "pending", "no answer applies: the echo"
    # The token is still checked before any answer.
    with pytest.raises(iop.AccessTokenInvalid):
        client.call("/seller/get", access_token="not-a-token")
    assert len(emulator.answers()) == 3
    emulator.clear_answers()
    assert client.call("/seller/get")["api"] == "/seller/get"


def test_answer_sets_load_at_start_from_the_shipped_set_or_a_file(tmp_path: Path) -> None:
    with iop.testing.Emulator(answers="common") as emulator:
        link = emulator.client().call("aliexpress.affiliate.link.generate", {"source_values": "x"})
        result = link["aliexpress_affiliate_link_generate_response"]["resp_result"]["result"]
        assert result["promotion_links"]["promotion_link"][0]["promotion_link"].startswith("https://")
        orders = emulator.client().call("/orders/get")
        assert orders["data"]["orders"][0]["order_id"]
    path = tmp_path / "answers.json"
    path.write_text(json.dumps([{"api": "/seller/get", "body": {"data": {"name": "from file"}}}]))
    for answers in (path, str(path), [{"api": "/seller/get", "body": {"data": {"name": "from file"}}}]):
        with iop.testing.Emulator(answers=answers) as emulator:
            assert emulator.client().call("/seller/get")["data"]["name"] == "from file"


def test_bad_answers_are_refused(emulator: iop.testing.Emulator, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="body must be a dict"):
        emulator.answer("/x", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="api must not be empty"):
        emulator.answer("", {})
    bad = tmp_path / "bad.json"
    bad.write_text('[{"api": "/x", "body": 5}]')
    with pytest.raises(ValueError, match="JSON object"):
        emulator.load_answers(bad)
    with pytest.raises(TypeError, match="answers must be"):
        emulator.load_answers(42)  # type: ignore[arg-type]
    assert emulator.answers() == []
