"""Fuzzes the Python surface of iop with atheris: values built from fuzz data go through
iop.Token.from_dict, the parameter conversion of iop.sign / iop.string_to_sign, and (where the
package has it) iop.push.parse / iop.push.verify. The only exceptions allowed are the documented
TypeError, ValueError and iop.IopError; anything else (or a crash of the interpreter) fails.

usage: python fuzz_iop.py [-max_total_time=SECONDS] [-runs=N] [libFuzzer flags...]
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, List

import atheris

with atheris.instrument_imports():
    import iop

ALLOWED = (TypeError, ValueError, iop.IopError)
KEYS = ["access_token", "refresh_token", "expires_in", "refresh_expires_in", "expire_time",
        "refresh_token_valid_time", "user_id", "seller_id", "account", "country", "code",
        "country_user_info", "country_user_info_list", "request_id", "sp", "locale"]


def value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    """A Python value of any of the shapes a caller might pass."""
    kind = fdp.ConsumeIntInRange(0, 11 if depth < 3 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 20))
    if kind == 3:
        return fdp.ConsumeFloat()
    if kind == 4:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40))
    if kind == 5:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 40))  # may hold lone surrogates
    if kind == 6:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 20))
    if kind == 7:
        return str(fdp.ConsumeIntInRange(-(2**63), 2**63))
    if kind == 8:
        return [value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    if kind == 9:
        return tuple(value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3)))
    return mapping(fdp, depth + 1)


def mapping(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Dict[Any, Any]:
    out: Dict[Any, Any] = {}
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        key: Any = fdp.PickValueInList(KEYS) if fdp.ConsumeBool() else value(fdp, 3)
        try:
            out[key] = value(fdp, depth)
        except TypeError:  # an unhashable key
            pass
    return out


def checks(fdp: atheris.FuzzedDataProvider) -> List[Callable[[], Any]]:
    data = mapping(fdp)
    params: Any = data if fdp.ConsumeBool() else list(data.items())
    api = value(fdp, 3) if fdp.ConsumeBool() else fdp.PickValueInList(
        [None, "/auth/token/refresh", "aliexpress.solution.product.list.get", ""])
    secret = value(fdp, 3)
    method = fdp.PickValueInList(["sha256", "md5", "SHA256", "", None, 3])
    body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300))
    header = value(fdp, 3)
    calls: List[Callable[[], Any]] = [
        lambda: iop.Token.from_dict(data).to_dict(),
        lambda: iop.sign(secret, params, api=api, method=method),
        lambda: iop.string_to_sign(params, api=api),
    ]
    push = getattr(iop, "push", None)
    if push is not None:
        calls.append(lambda: push.parse(body))
        calls.append(lambda: push.verify("key", "secret", body, header))
    return calls


def test_one_input(raw: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(raw)
    for call in checks(fdp):
        try:
            call()
        except ALLOWED:
            pass


def main() -> None:
    # Coverage of this harness's own value builders guides the fuzzer to new shapes of input.
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
