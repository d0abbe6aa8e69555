"""The vendor-compatible API, run with code written as the vendor's README shows it, against the
emulator, and side by side with the vendor's own lazop-sdk."""

from __future__ import annotations

import importlib
import io
from pathlib import Path
from typing import Any, Dict

import pytest

import iop
import iop.testing


def vendor_readme_flow(url: str, appkey: str, appSecret: str, access_token: str) -> Any:
    # Written as the vendor README / test_demo.py writes it (prints replaced by a return).
    client = iop.IopClient(url, appkey, appSecret)
    request = iop.IopRequest('aliexpress.logistics.redefining.getlogisticsselleraddresses', 'POST')
    request.set_simplify()
    request.add_api_param('seller_address_query', 'pickup')
    response = client.execute(request, access_token)
    return response


def test_vendor_readme_code_runs_unchanged(emulator: iop.testing.Emulator) -> None:
    token = emulator.client().create_token(emulator.authorize(seller_id="seller-v"))
    for suffix in ("/sync", "/rest", ""):
        response = vendor_readme_flow(emulator.base_url + suffix, emulator.app_key, emulator.app_secret, token.access_token)
        assert isinstance(response, iop.IopResponse)
        assert isinstance(response.body, dict)
        # A TOP success body has no top-level code/type/message: the vendor leaves them None.
        assert response.type is None and response.code is None and response.message is None
        # set_simplify(): the result comes without the `<method>_response` envelope.
        assert response.body["result"]["params"] == {"seller_address_query": "pickup"}
        assert response.request_id == response.body["request_id"]
    assert emulator.stats()["aliexpress.logistics.redefining.getlogisticsselleraddresses"] == 3
    assert str(response).startswith("type=None code=None message=None requestId=")


def test_token_calls_through_the_compat_client(emulator: iop.testing.Emulator) -> None:
    # The vendor's token flow: a /sync or /rest server_url, GOP path API, routed by name.
    client = iop.IopClient(emulator.base_url + "/sync", emulator.app_key, emulator.app_secret)
    request = iop.IopRequest('/auth/token/create')
    request.add_api_param('code', emulator.authorize(seller_id="seller-c"))
    response = client.execute(request)
    assert response.code == "0"
    assert response.type is None
    assert response.request_id
    assert response.body is not None and response.body["access_token"]

    refresh = iop.IopRequest('/auth/token/refresh')
    refresh.add_api_param('refresh_token', response.body["refresh_token"])
    again = client.execute(refresh)
    assert again.code == "0" and again.body is not None
    assert again.body["refresh_token"] != response.body["refresh_token"]


def test_gateway_errors_come_back_in_the_response(emulator: iop.testing.Emulator) -> None:
    client = iop.IopClient(emulator.base_url + "/rest", emulator.app_key, emulator.app_secret)
    request = iop.IopRequest('/auth/token/refresh')
    request.add_api_param('refresh_token', 'not-a-refresh-token')
    response = client.execute(request)
    assert response.code == "IllegalRefreshToken"
    assert response.type == "ISV"
    assert response.message
    assert response.request_id
    assert response.body is not None and response.body["code"] == "IllegalRefreshToken"

    bad = iop.IopClient(emulator.base_url + "/rest", emulator.app_key, "wrong-secret")
    rejected = bad.execute(iop.IopRequest('/auth/token/create'))
    assert rejected.code in ("MissingParameter", "IncompleteSignature")

    top = client.execute(iop.IopRequest('aliexpress.solution.product.list.get'), "not-a-token")
    assert top.body is not None and "error_response" in top.body
    assert top.code is None  # the vendor reads only the top level


def test_values_are_converted_as_users_expect(emulator: iop.testing.Emulator) -> None:
    token = emulator.client().create_token(emulator.authorize())
    client = iop.IopClient(emulator.base_url + "/rest", emulator.app_key, emulator.app_secret)
    request = iop.IopRequest('/product/update', 'GET')
    request.add_api_param('active', True)
    request.add_api_param('hidden', False)
    request.add_api_param('qty', 7)
    request.add_api_param('price', 9.5)
    request.add_api_param('skus', [{"id": 1}])
    request.add_api_param('attrs', {"color": "red"})
    request.add_api_param('nothing', None)
    request.add_api_param('blank', '')
    response = client.execute(request, token.access_token)
    assert response.code == "0", response.body
    assert response.body is not None
    assert response.body["params"] == {
        "active": "true",
        "hidden": "false",
        "qty": "7",
        "price": "9.5",
        "skus": '[{"id":1}]',
        "attrs": '{"color":"red"}',
    }


def test_file_params_are_sent_as_multipart(emulator: iop.testing.Emulator) -> None:
    token = emulator.client().create_token(emulator.authorize())
    client = iop.IopClient(emulator.base_url + "/rest", emulator.app_key, emulator.app_secret)
    request = iop.IopRequest('/image/upload')
    request.add_api_param('kind', 'main')
    request.add_file_param('image', b'\x89PNG fake bytes')
    request.add_file_param('extra', ('a.jpg', io.BytesIO(b'jpeg'), 'image/jpeg'))
    response = client.execute(request, token.access_token)
    assert response.code == "0", response.body
    assert response.body is not None
    assert response.body["params"] == {"kind": "main"}
    assert set(response.body["files"]) == {"image", "extra"}


def test_a_file_object_that_changes_the_file_params_does_not_panic(emulator: iop.testing.Emulator) -> None:
    # Reading a file part runs Python code; one that resized the file dict made pyo3's live dict
    # iterator panic (PanicException).
    token = emulator.client().create_token(emulator.authorize())
    client = iop.IopClient(emulator.base_url + "/rest", emulator.app_key, emulator.app_secret)
    request = iop.IopRequest('/image/upload')

    class Sneaky(io.BytesIO):
        def read(self, *args: Any) -> bytes:
            request._file_params["late-%d" % len(request._file_params)] = b"x"
            return super().read(*args)

    request.add_file_param('image', Sneaky(b'png'))
    request.add_file_param('other', b'data')
    response = client.execute(request, token.access_token)
    assert response.code == "0", response.body
    assert response.body is not None and set(response.body["files"]) == {"image", "other"}


def test_file_params_make_a_post_whatever_the_http_method(emulator: iop.testing.Emulator) -> None:
    # The vendor SDK posts multipart whenever files are attached, even for IopRequest(api, 'GET').
    token = emulator.client().create_token(emulator.authorize())
    client = iop.IopClient(emulator.base_url + "/rest", emulator.app_key, emulator.app_secret)
    request = iop.IopRequest('/image/upload', 'GET')
    request.add_api_param('kind', 'main')
    request.add_file_param('image', b'\x89PNG fake bytes')
    response = client.execute(request, token.access_token)
    assert response.code == "0", response.body
    assert response.body is not None and set(response.body["files"]) == {"image"}


def test_network_failures_raise(emulator: iop.testing.Emulator) -> None:
    client = iop.IopClient(emulator.base_url + "/rest", emulator.app_key, emulator.app_secret)
    emulator.inject("html502", 5)
    with pytest.raises(iop.ResponseError):
        client.execute(iop.IopRequest('/auth/token/create'))
    emulator.clear_faults()


def test_bad_compat_arguments() -> None:
    with pytest.raises(TypeError, match="api_name must be str"):
        iop.IopRequest(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="api_name must not be empty"):
        iop.IopRequest("")
    with pytest.raises(TypeError, match="parameter names must be str"):
        iop.IopRequest("/x").add_api_param(1, "v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="app_key must be str"):
        iop.IopClient("https://api-sg.aliexpress.com/rest", None, "s")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        iop.IopClient("http://api-sg.aliexpress.com/rest", "k", "s")  # plain http off loopback
    client = iop.IopClient("https://api-sg.aliexpress.com/sync", "k", "s")
    with pytest.raises(TypeError, match="IopRequest"):
        client.execute("aliexpress.x.y")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="format must be str"):
        iop.IopRequest("/x").set_format(None)  # type: ignore[arg-type]
    request = iop.IopRequest("/x")
    request.add_api_param("v", b"bytes")
    with pytest.raises(TypeError, match="bytes"):
        client.execute(request)


@pytest.fixture
def lazop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    # lazop writes ~/logs at import: keep it inside the test's temporary HOME.
    monkeypatch.setenv("HOME", str(tmp_path))
    return importlib.import_module("lazop_sdk")


def test_same_fields_as_the_vendor_sdk(emulator: iop.testing.Emulator, lazop: Any) -> None:
    ours = iop.IopClient(emulator.base_url + "/rest", emulator.app_key, emulator.app_secret)
    theirs = lazop.LazopClient(emulator.base_url + "/rest", emulator.app_key, emulator.app_secret)

    def both(api: str, params: Dict[str, str]) -> Any:
        a = iop.IopRequest(api)
        b = lazop.LazopRequest(api)
        for k, v in params.items():
            a.add_api_param(k, v)
            b.add_api_param(k, v)
        return ours.execute(a), theirs.execute(b)

    for params in ({"refresh_token": "nope"}, {}):
        a, b = both("/auth/token/refresh", params)
        assert (a.type, a.code, a.message) == (b.type, b.code, b.message)
        assert (a.request_id is None) == (b.request_id is None)
        assert set(a.body) == set(b.body)

    # Authorization codes are single use: one each.
    a_req, b_req = iop.IopRequest("/auth/token/create"), lazop.LazopRequest("/auth/token/create")
    a_req.add_api_param("code", emulator.authorize(seller_id="s-1"))
    b_req.add_api_param("code", emulator.authorize(seller_id="s-1"))
    a, b = ours.execute(a_req), theirs.execute(b_req)
    assert (a.type, a.code, a.message) == (b.type, b.code, b.message) == (None, "0", None)
    assert set(a.body) == set(b.body)


def lazada_readme_flow(lazop: Any, url: str, appkey: str, appSecret: str, access_token: str) -> Any:
    # Written as the Lazada SDK's README writes it (`import lazop`; prints replaced by returns).
    # params 1 : gateway url, params 2 : appkey, params 3 : appSecret
    client = lazop.LazopClient(url, appkey, appSecret)
    # create a api request set GET mehotd; default http method is POST
    request = lazop.LazopRequest('/orders/get', 'GET')
    # simple type params, Number, String
    request.add_api_param('created_after', '2018-02-10T16:00:00+08:00')
    request.add_api_param('status', 'shipped')
    response = client.execute(request, access_token)
    # response type nil, ISP, ISV, SYSTEM; response code, 0 is no error
    return response.type, response.code, response.body


def lazada_readme_auth_flow(lazop: Any, appkey: str, appSecret: str, code: str, url: str) -> Any:
    # The README's token call: /auth/token/create on the auth host.
    client = lazop.LazopClient(url, appkey, appSecret)
    request = lazop.LazopRequest('/auth/token/create')
    request.add_api_param('code', code)
    response = client.execute(request)
    return response.type, response.code, response.body


def test_lazada_readme_code_runs_with_import_iop_as_lazop(emulator: iop.testing.Emulator, lazop: Any) -> None:
    import iop as ours  # the one changed line: `import iop as lazop` instead of `import lazop`

    url = emulator.base_url + "/rest"
    for module in (ours, lazop):
        kind, code, body = lazada_readme_auth_flow(
            module, emulator.app_key, emulator.app_secret, emulator.authorize(seller_id="lz-1"), url
        )
        assert (kind, code) == (None, "0"), body
        assert body["seller_id"] == "lz-1"
        kind, code, body = lazada_readme_flow(module, url, emulator.app_key, emulator.app_secret, body["access_token"])
        assert (kind, code) == (None, "0"), body
        assert body["params"] == {"created_after": "2018-02-10T16:00:00+08:00", "status": "shipped"}
        assert body["seller_id"] == "lz-1"
        # A refused token comes back in the response, as the vendor's does.
        kind, code, body = lazada_readme_flow(module, url, emulator.app_key, emulator.app_secret, "not-a-token")
        assert (kind, code) == ("ISV", "IllegalAccessToken"), body
    response = ours.LazopClient(url, emulator.app_key, emulator.app_secret).execute(ours.LazopRequest("/x"))
    assert isinstance(response, ours.LazopResponse) and isinstance(response, ours.IopResponse)
    assert str(response).startswith("type=")
    # The SDK's constants, as its README and code name them.
    assert ours.P_API_GATEWAY_URL_SG == lazop.P_API_GATEWAY_URL_SG == "https://api.lazada.sg/rest"
    assert ours.P_API_AUTHORIZATION_URL == lazop.P_API_AUTHORIZATION_URL
    for name in ("MY", "VN", "TH", "PH", "ID"):
        assert getattr(ours, f"P_API_GATEWAY_URL_{name}") == getattr(lazop, f"P_API_GATEWAY_URL_{name}")
    for level in ("DEBUG", "INFO", "ERROR"):
        assert getattr(ours, f"P_LOG_LEVEL_{level}") == getattr(lazop, f"P_LOG_LEVEL_{level}")
    client = ours.LazopClient(ours.P_API_GATEWAY_URL_SG, "k", "s")
    client.log_level = ours.P_LOG_LEVEL_DEBUG  # accepted; records go to the `iop` logger
    assert "api.lazada.sg" in repr(client)


def test_lazada_gateways_route_token_calls_to_the_auth_host() -> None:
    # Token calls made on a country gateway go to auth.lazada.com, as Lazada requires.
    client = iop.LazopClient(iop.P_API_GATEWAY_URL_TH, "k", "s")
    assert client._client.base_url == "https://api.lazada.co.th"
    explained = client._client.explain("/auth/token/refresh", {"refresh_token": "r"})
    assert explained["url"].startswith("https://auth.lazada.com/rest/auth/token/refresh")
