"""iop.sign and iop.string_to_sign against the shared vectors and the vendor's own sign()."""

from __future__ import annotations

import hashlib
import hmac
from types import MappingProxyType
from typing import Any, Dict, List, Tuple

import pytest

import iop

from conftest import load_vectors

VECTORS = load_vectors()


def signed_params(vector: Dict[str, Any]) -> Dict[str, str]:
    params: Dict[str, str] = vector["params"]
    if vector["empty_value_policy"] == "skip":
        return {k: v for k, v in params.items() if v.strip()}
    return dict(params)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_every_vector(vector: Dict[str, Any]) -> None:
    params = signed_params(vector)
    prefix = vector["sign_prefix"] or None
    assert iop.string_to_sign(params, api=prefix) == vector["string_to_sign"]
    assert iop.sign(vector["secret"], params, api=prefix, method=vector["sign_method"]) == vector["expected_sign"]
    # The API name itself gives the same prefix rule: a path is the prefix, a dotted name none.
    assert iop.sign(vector["secret"], params, api=vector["api"]) == vector["expected_sign"]
    # A list of pairs signs like the dict, in any order.
    pairs: List[Tuple[str, str]] = sorted(params.items(), reverse=True)
    assert iop.sign(vector["secret"], pairs, api=vector["api"]) == vector["expected_sign"]


def test_wrong_variants_do_not_match() -> None:
    base = next(v for v in VECTORS["vectors"] if v["name"] == VECTORS["must_not_match_base"])
    ours = iop.sign(base["secret"], signed_params(base), api=base["sign_prefix"] or None)
    assert ours == base["expected_sign"]
    for wrong in VECTORS["must_not_match"]:
        assert ours != wrong["sign"], wrong["name"]


def test_md5_is_the_legacy_top_scheme() -> None:
    params = {"method": "aliexpress.x.y", "app_key": "123456", "timestamp": "1517820392000"}
    base = "".join(k + params[k] for k in sorted(params))
    expected = hashlib.md5(("helloworld" + base + "helloworld").encode()).hexdigest().upper()
    assert iop.sign("helloworld", params, method="md5") == expected
    assert iop.sign("helloworld", params, method="MD5") == expected


def test_keys_sort_by_bytes_not_case() -> None:
    params = {"alpha": "1", "Zeta": "2", "_under": "3", "a1": "4", "access_token": "5"}
    assert iop.string_to_sign(params) == "Zeta2_under3a14access_token5alpha1"


def test_values_convert_like_every_call() -> None:
    params = {
        "flag": True,
        "off": False,
        "count": 3,
        "big": 2**70,
        "price": 1.5,
        "ids": [1, 2],
        "obj": {"k": "vé"},
        "missing": None,
        "text": "x",
    }
    assert iop.string_to_sign(params) == (
        'big1180591620717411303424count3flagtrueids[1,2]obj{"k":"vé"}offfalseprice1.5textx'
    )
    expected = hmac.new(
        b"s", iop.string_to_sign(params, api="/a/b").encode(), hashlib.sha256
    ).hexdigest().upper()
    assert iop.sign("s", params, api="/a/b") == expected


def test_non_finite_floats_inside_json_values_are_refused() -> None:
    # json.dumps would write NaN/Infinity, which is not JSON; a bare float is refused the same way.
    for value in ({"k": float("nan")}, [1.0, float("inf")], ({"x": -float("inf")},)):
        with pytest.raises(ValueError, match="not JSON-serializable"):
            iop.sign("s", {"v": value})
    with pytest.raises(ValueError, match="finite"):
        iop.sign("s", {"v": float("nan")})


def test_any_mapping_is_accepted_as_params() -> None:
    # The stubs take a Mapping; a read-only view or other non-dict mapping signs like the dict.
    params = {"b": "2", "a": 1, "skip": None}
    assert iop.sign("s", MappingProxyType(params), api="/x") == iop.sign("s", params, api="/x")
    assert iop.string_to_sign(MappingProxyType(params)) == "a1b2"
    token = iop.Token.from_dict(MappingProxyType({"access_token": "A" * 20, "seller_id": "7"}))
    assert token.access_token == "A" * 20 and token.seller_id == "7"


def test_unicode_is_signed_as_utf8() -> None:
    params = {"title": "Größe 🚀", "app_key": "k"}
    message = "/p/up" + "app_keyk" + "titleGröße 🚀"
    expected = hmac.new(b"secret", message.encode("utf-8"), hashlib.sha256).hexdigest().upper()
    assert iop.sign("secret", params, api="/p/up") == expected


def test_matches_the_vendor_sign_function() -> None:
    base = next(v for v in VECTORS["vectors"] if v["name"] == "lazop_token_refresh")
    from lazop_sdk.base import sign as lazop_sign  # noqa: PLC0415

    assert lazop_sign(base["secret"], base["api"], base["params"]) == iop.sign(
        base["secret"], base["params"], api=base["api"]
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "text"),
    [
        ((None, {"a": "1"}), {}, TypeError, "app_secret must be str, got None"),
        ((b"secret", {"a": "1"}), {}, TypeError, "app_secret must be str, got bytes"),
        (("", {"a": "1"}), {}, ValueError, "app_secret must not be empty"),
        (("s", {"a": b"1"}), {}, TypeError, "bytes"),
        (("s", {1: "1"}), {}, TypeError, "parameter names must be str"),
        (("s", "a=1"), {}, TypeError, "params must be a dict"),
        (("s", None), {}, TypeError, "params must be a dict"),
        (("s", [("a", "1", "2")]), {}, ValueError, "two items"),
        (("s", [["a", "1"]]), {}, TypeError, "tuples"),
        (("s", {"a": object()}), {}, TypeError, "got object"),
        (("s", {"a": float("nan")}), {}, ValueError, "finite"),
        (("s", {"a": "1"}), {"method": "sha1"}, ValueError, "'sha256' or 'md5'"),
        (("s", {"a": "1"}), {"api": b"/x"}, TypeError, "api must be str"),
    ],
)
def test_bad_arguments(args: Tuple[Any, ...], kwargs: Dict[str, Any], error: type, text: str) -> None:
    with pytest.raises(error) as info:
        iop.sign(*args, **kwargs)
    assert text in str(info.value)


def test_string_to_sign_bad_arguments() -> None:
    with pytest.raises(TypeError, match="params must be a dict"):
        iop.string_to_sign(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes"):
        iop.string_to_sign({"a": bytearray(b"1")})


# iop.sign parses its own arguments (the fast calling convention) and borrows the text of an
# all-str dict in place: every call form and every dict shape behaves as the general path does.


def test_every_call_form_gives_the_same_signature() -> None:
    params = {"b": "2", "a": "1"}
    expected = hmac.new(b"s", b"/x/ya1b2", hashlib.sha256).hexdigest().upper()
    assert iop.sign("s", params, api="/x/y") == expected
    assert iop.sign("s", params=params, api="/x/y") == expected
    assert iop.sign(app_secret="s", params=params, api="/x/y") == expected
    assert iop.sign(params=params, app_secret="s", method="sha256", api="/x/y") == expected
    assert iop.sign("s", params, api="/x/y", method=None) == expected
    assert iop.sign("s", params, api=None) == iop.sign("s", list(params.items()))


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (lambda: iop.sign("s"), "sign() missing 1 required positional argument: 'params'"),
        (lambda: iop.sign(), "sign() missing 2 required positional arguments: 'app_secret' and 'params'"),
        (lambda: iop.sign(params={}), "missing 1 required positional argument: 'app_secret'"),
        (lambda: iop.sign("s", {}, "/x"), "sign() takes 2 positional arguments but 3 were given"),
        (lambda: iop.sign("s", {}, apii="/x"), "sign() got an unexpected keyword argument 'apii'"),
        (lambda: iop.sign("s", {}, params={}), "sign() got multiple values for argument 'params'"),
        (lambda: iop.sign("s", app_secret="t", params={}), "multiple values for argument 'app_secret'"),
    ],
)
def test_wrong_calls_are_type_errors(call: Any, text: str) -> None:
    with pytest.raises(TypeError) as info:
        call()
    assert text in str(info.value)


def test_introspection_shows_the_signature() -> None:
    import inspect  # noqa: PLC0415

    assert str(inspect.signature(iop.sign)) == "(app_secret, params, *, api=None, method=None)"
    assert iop.sign.__name__ == "sign"
    assert iop.sign.__module__ == "iop._native"
    assert iop.sign.__doc__ is not None and iop.sign.__doc__.startswith("The signature of `params`")


class Text(str):
    """A str subclass: signed by its text."""


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"k": ""},
        {Text("b"): Text("2"), "a": "1"},
        {f"key{i:03}": f"value-{i}" for i in range(32)},
        {f"key{i:03}": f"value-{i}" for i in range(33)},
        {f"key{i:03}": f"value-{i}" for i in range(200)},
        {"a": "1", "n": 5, "none": None, "b": "é"},
        {"é": "ü", "z": "🚀"},
    ],
    ids=["empty", "empty-value", "str-subclass", "32", "33", "200", "mixed", "non-ascii"],
)
def test_dicts_sign_as_their_pairs(params: Dict[str, Any]) -> None:
    pairs = [(str(k), v) for k, v in params.items()]
    message = "/p" + iop.string_to_sign(pairs)
    expected = hmac.new(b"s", message.encode(), hashlib.sha256).hexdigest().upper()
    assert iop.sign("s", params, api="/p") == expected
    assert iop.sign("s", pairs, api="/p") == expected
    assert iop.string_to_sign(params, api="/p") == message


def test_text_that_is_not_utf8_is_an_error_not_a_crash() -> None:
    with pytest.raises(UnicodeEncodeError):
        iop.sign("s", {"a": "\ud800"})
    with pytest.raises(UnicodeEncodeError):
        iop.sign("s", {"\udfff": "1"})
    with pytest.raises(UnicodeEncodeError):
        iop.sign("s", {"a": "1"}, api="/x\ud800")
    assert iop.sign("s", {"a": "1"}) == iop.sign("s", [("a", "1")])
