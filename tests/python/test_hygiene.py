"""No secret in reprs, exception texts or log records; no import-time side effects; clear
errors for bad arguments."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, List

import pytest

import iop
import iop.testing

from conftest import APP_SECRET


def assert_no_secret(texts: Iterable[str], secrets: Iterable[str]) -> None:
    secrets = [s for s in secrets if s]
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into: {text[:200]}"


def test_no_secret_in_reprs_errors_or_logs(
    caplog: pytest.LogCaptureFixture, emulator: iop.testing.Emulator
) -> None:
    caplog.set_level(logging.DEBUG, logger="iop")
    client = emulator.client()
    code = emulator.authorize(seller_id="seller-h")
    token = client.create_token(code)
    secrets = [APP_SECRET, code, token.access_token or "", token.refresh_token or ""]
    texts: List[str] = [repr(client), repr(token), str(token), repr(emulator)]

    fresh = client.refresh_token(token.refresh_token or "")
    secrets += [fresh.access_token or "", fresh.refresh_token or ""]
    texts += [repr(fresh)]
    client.call("/seller/info/get", {"x": "1"}, access_token=fresh.access_token)
    client.call("/seller/info/get", {"x": "1"}, access_token=fresh.access_token, http_method="GET")

    failures: List[BaseException] = []
    for attempt in (
        lambda: client.refresh_token(token.refresh_token or ""),  # rotated away: IllegalRefreshToken
        lambda: client.create_token(code),  # used code: InvalidCode
        lambda: iop.Client(emulator.app_key, "wrong-" + APP_SECRET, base_url=emulator.base_url).refresh_token(
            fresh.refresh_token or ""
        ),
    ):
        with pytest.raises(iop.IopError) as info:
            attempt()
        failures.append(info.value)
    emulator.advance(days=31)
    with pytest.raises(iop.AccessTokenInvalid) as info2:
        client.call("/seller/info/get", access_token=fresh.access_token)
    failures.append(info2.value)

    manager = iop.TokenManager(client)
    manager.put("k", fresh)
    texts += [repr(manager), repr(iop.MemoryStore())]
    emulator.revoke_refresh_tokens("seller-h")
    with pytest.raises(iop.ReauthorizationRequired) as info3:
        manager.access_token("k")
    failures.append(info3.value)

    for exc in failures:
        texts += [str(exc), repr(exc), repr(exc.args), repr(vars(exc))]
    records = caplog.records
    assert any(r.name.startswith("iop.") for r in records), "no log record from the Rust core"
    texts += [r.getMessage() for r in records] + [r.name for r in records]
    assert_no_secret(texts, secrets)


def test_log_records_are_under_the_iop_logger(caplog: pytest.LogCaptureFixture, emulator: iop.testing.Emulator) -> None:
    caplog.set_level(logging.DEBUG, logger="iop")
    client = emulator.client()
    client.create_token(emulator.authorize())
    names = {r.name for r in caplog.records}
    assert "iop.client" in names
    assert all(n == "iop" or n.startswith("iop.") for n in names if not n.startswith("lazop"))


def test_only_a_null_handler_is_installed() -> None:
    handlers = logging.getLogger("iop").handlers
    assert [type(h) for h in handlers] == [logging.NullHandler]
    assert logging.getLogger("iop").propagate
    assert logging.getLogger("iop.client").handlers == []


SILENT_PROBE = r"""
import iop, iop.testing
with iop.testing.Emulator() as gateway:
    client = iop.IopClient(gateway.base_url + "/rest", gateway.app_key, gateway.app_secret)
    request = iop.IopRequest("/auth/token/refresh")
    request.add_api_param("refresh_token", "not-a-refresh-token")
    response = client.execute(request)           # the core logs a warning for this failure
    assert response.code == "IllegalRefreshToken", response.body
    try:
        gateway.client().refresh_token("not-a-refresh-token")
    except iop.ReauthorizationRequired:
        pass                                     # caught: nothing should be printed
print("done")
"""


def test_an_application_without_logging_set_up_sees_no_stray_warnings(tmp_path: Path) -> None:
    # Without a handler on `iop`, Python's last-resort handler printed the core's warnings for
    # failures the caller had caught (even through the vendor-compatible IopClient).
    out = subprocess.run(
        [sys.executable, "-c", SILENT_PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
    assert out.stderr == "", out.stderr


def test_log_fields_are_stable_lower_case_names(
    caplog: pytest.LogCaptureFixture, emulator: iop.testing.Emulator
) -> None:
    caplog.set_level(logging.DEBUG, logger="iop")
    client = emulator.client()
    client.create_token(emulator.authorize())
    client.call("aliexpress.trade.order.get")
    styles = [
        field.split("=", 1)[1]
        for r in caplog.records
        for field in r.getMessage().split()
        if field.startswith("style=")
    ]
    assert styles and set(styles) <= {"gop", "top"}, styles
    assert "top" in styles and "gop" in styles


IMPORT_PROBE = r"""
import os, socket, sys, threading
def refuse(*a, **k):
    raise AssertionError("network at import")
socket.socket.connect = refuse
before = set(os.listdir("."))
import iop
assert "iop.testing" not in sys.modules
assert iop.testing.Emulator is not None  # loaded on first use
assert set(os.listdir(".")) == before, "files written in the working directory"
assert threading.active_count() == 1, "Python threads started"
assert len(os.listdir("/proc/self/task")) == 1, "native threads started"
assert not os.path.exists(os.path.expanduser("~/logs")), "~/logs created"
print("clean", iop.__version__)
"""


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("clean ")
    assert list(home.iterdir()) == []


def test_client_bad_arguments(emulator: iop.testing.Emulator) -> None:
    url = emulator.base_url
    cases = [
        (lambda: iop.Client(None, "s"), TypeError, "app_key must be str, got None"),
        (lambda: iop.Client("k", b"s"), TypeError, "app_secret must be str, got bytes"),
        (lambda: iop.Client("", "s"), ValueError, "app_key must not be empty"),
        (lambda: iop.Client("k", "s", base_url="http://example.com"), ValueError, "http"),
        (lambda: iop.Client("k", "s", base_url="ftp://x"), ValueError, ""),
        (lambda: iop.Client("k", "s", timeout=-1), ValueError, "timeout"),
        (lambda: iop.Client("k", "s", timeout="30"), TypeError, "timeout"),
    ]
    client = emulator.client()
    cases += [
        (lambda: client.call(""), ValueError, "api must not be empty"),
        (lambda: client.call(None), TypeError, "api must be str, got None"),
        (lambda: client.call(b"/x"), TypeError, "api must be str, got bytes"),
        (lambda: client.call("/x/"), ValueError, ""),
        (lambda: client.call("/x", 5), TypeError, "params must be a dict"),
        (lambda: client.call("/x", {"a": b"1"}), TypeError, "bytes"),
        (lambda: client.call("/x", http_method="PUT"), ValueError, "'POST' or 'GET'"),
        (lambda: client.call("/x", access_token=b"t"), TypeError, "access_token must be str"),
        (lambda: client.create_token(None), TypeError, "code must be str, got None"),
        (lambda: client.create_token(""), ValueError, "code must not be empty"),
        (lambda: client.refresh_token(123), TypeError, "refresh_token must be str, got int"),
        (lambda: iop.Token.from_dict([1]), TypeError, "dict"),
        (lambda: iop.Token.from_dict({"a": 1}).needs_refresh(now=datetime(2030, 1, 1)), ValueError, "aware"),
        (lambda: iop.Token.from_dict({"a": 1}).needs_refresh(margin="1d"), TypeError, "margin"),
        (lambda: emulator.inject("meteor"), ValueError, "kind must be one of"),
    ]
    for call, error, text in cases:
        with pytest.raises(error) as info:
            call()
        assert text in str(info.value)
    del url


def test_emulator_lifecycle() -> None:
    emulator = iop.testing.Emulator()
    assert emulator.base_url.startswith("http://127.0.0.1:")
    assert not emulator.closed
    start = emulator.now()
    emulator.advance(hours=2)
    assert (emulator.now() - start).total_seconds() >= 7200
    emulator.close()
    emulator.close()
    assert emulator.closed
    with pytest.raises(RuntimeError, match="closed"):
        emulator.authorize()


def test_emulator_refuses_unusable_lifetimes_with_value_error() -> None:
    # A setting the emulator refuses is a bad argument (ValueError), not an OSError.
    with pytest.raises(ValueError, match="at most 1000 years"):
        iop.testing.Emulator(access_ttl=timedelta(days=366 * 1000))
    with pytest.raises(ValueError, match="at most 1000 years"):
        iop.testing.Emulator(refresh_ttl=1e15)


def test_emulator_counts_out_of_range_raise_value_error() -> None:
    # Negative or huge counts were OverflowErrors from the integer conversion.
    for threads in (0, -1, 10**6):
        with pytest.raises(ValueError, match="threads must be"):
            iop.testing.Emulator(threads=threads)
    with iop.testing.Emulator() as emulator:
        with pytest.raises(ValueError, match="times must be"):
            emulator.inject("reset", times=-1)
        with pytest.raises(ValueError, match="ms must not be negative"):
            emulator.inject("delay", ms=-5)
        # Ints past 64 bits were OverflowErrors.
        for times in (2**32, 10**20, -(10**20)):
            with pytest.raises(ValueError, match="times must be"):
                emulator.inject("reset", times=times)
        for ms in (2**63, 10**30, -(10**30)):
            with pytest.raises(ValueError, match="ms must not be negative"):
                emulator.inject("delay", ms=ms)
        with pytest.raises(TypeError, match="times must be an int"):
            emulator.inject("reset", times=1.5)  # type: ignore[arg-type]
        for huge in (10**400, -(10**400)):
            with pytest.raises(ValueError):
                emulator.advance(huge)
            with pytest.raises(ValueError):
                emulator.advance(days=huge)
            with pytest.raises(ValueError, match="ban"):
                emulator.inject("rate_limit", ban=huge)
            with pytest.raises(ValueError, match="timeout must be at most"):
                emulator.client(timeout=huge)
        emulator.inject("reset", times=0)
    for threads in (10**20, -(10**30)):
        with pytest.raises(ValueError, match="threads must be"):
            iop.testing.Emulator(threads=threads)


def test_emulator_advance_refuses_text() -> None:
    # float("5") used to turn a str into seconds; "5" * 60 made minutes a string.
    with iop.testing.Emulator() as emulator:
        start = emulator.now()
        with pytest.raises(TypeError, match="seconds must be"):
            emulator.advance("5")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="minutes must be"):
            emulator.advance(minutes="5")  # type: ignore[arg-type]
        emulator.advance(1, minutes=1)
        assert (emulator.now() - start).total_seconds() >= 61


def test_huge_timeouts_are_refused_not_panicking(emulator: iop.testing.Emulator) -> None:
    # A timeout past what Instant can hold made the first call panic (PanicException).
    for make in (
        lambda: iop.Client(emulator.app_key, emulator.app_secret, base_url=emulator.base_url, timeout=1.8e19),
        lambda: emulator.client(timeout=1e19),
        lambda: iop.IopClient(emulator.base_url + "/rest", emulator.app_key, emulator.app_secret, timeout=1e19),
    ):
        with pytest.raises(ValueError, match="timeout must be at most"):
            make()
    client = iop.Client(emulator.app_key, emulator.app_secret, base_url=emulator.base_url, timeout=1e9)
    with pytest.raises(iop.GatewayError):
        client.call("/seller/info/get", access_token="not-a-token")


def test_lazada_gateways_are_exported() -> None:
    # Only iop.ALIEXPRESS was exported: Lazada users had to type the hosts.
    expected = {
        "LAZADA_AUTH": "https://auth.lazada.com",
        "LAZADA_SG": "https://api.lazada.sg",
        "LAZADA_MY": "https://api.lazada.com.my",
        "LAZADA_VN": "https://api.lazada.vn",
        "LAZADA_TH": "https://api.lazada.co.th",
        "LAZADA_PH": "https://api.lazada.com.ph",
        "LAZADA_ID": "https://api.lazada.co.id",
    }
    for name, url in expected.items():
        assert getattr(iop, name) == url
        assert name in iop.__all__
    assert iop.ALIEXPRESS == "https://api-sg.aliexpress.com"
    client = iop.Client("k", "s", base_url=iop.LAZADA_TH)
    assert "lazada.co.th" in repr(client)


def test_token_from_dict_never_repeats_its_input() -> None:
    # A malformed error_response became a ResponseError whose snippet held the whole dict.
    for data in ({"error_response": "SECRET-in-the-dict"}, {"error_response": ["SECRET-in-the-dict"]}):
        with pytest.raises(ValueError, match="not a token set") as info:
            iop.Token.from_dict(data)
        assert "SECRET" not in str(info.value)
        assert "SECRET" not in repr(info.value)
