"""Offline testing: ``iop.testing.Emulator``, an IOP gateway running inside this process.

The emulator is a real HTTP server on 127.0.0.1 that signs, checks and answers like the gateway
(token create and refresh, any other GOP or TOP call, the gateway's error envelopes), with a
virtual clock, request counters, faults on demand, and business answers a test registers
(``answer``, ``load_answers``) in the gateway's envelopes. Use it to test your own integration
without the internet::

    import iop
    import iop.testing
    import pytest

    @pytest.fixture
    def gateway():
        with iop.testing.Emulator() as emulator:
            yield emulator

    def test_my_refresh_job(gateway):
        client = gateway.client()                     # an iop.Client on the virtual clock
        token = client.create_token(gateway.authorize(seller_id="seller-1"))
        gateway.advance(days=29)
        fresh = client.refresh_token(token.refresh_token)
        assert gateway.stats()["/auth/token/refresh"] == 1

Nothing starts at import: the server starts when ``Emulator()`` is created and stops on
``close()`` or at the end of the ``with`` block.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union

from ._compat import IopClient
from ._native import Client, Token, _Emulator

__all__ = ["Emulator"]

Seconds = Union[float, int, timedelta]
#: ``Emulator(answers=...)``: ``"common"`` (the answers shipped with the emulator), a JSON file's
#: path, or a list of answer dicts ``{"api", "body", "seller", "params"}``.
Answers = Union[str, "os.PathLike[str]", Sequence[Mapping[str, Any]]]


class Emulator:
    """An IOP gateway emulator on 127.0.0.1 (a free port), started at construction.

    ``access_ttl`` / ``refresh_ttl`` are token lifetimes (timedelta or seconds; default 30 and
    60 days); with ``rotate_refresh_tokens`` (default) a refresh invalidates the refresh token it
    used; ``start_time`` (an aware datetime) starts the virtual clock elsewhere than now;
    ``answers`` registers business answers at start (see ``load_answers``).
    """

    def __init__(
        self,
        app_key: str = "test-app-key",
        app_secret: str = "test-app-secret",
        *,
        access_ttl: Seconds = timedelta(days=30),
        refresh_ttl: Seconds = timedelta(days=60),
        rotate_refresh_tokens: bool = True,
        threads: int = 8,
        start_time: Optional[datetime] = None,
        answers: Optional[Answers] = None,
    ) -> None:
        self._native = _Emulator(
            app_key,
            app_secret,
            access_ttl=access_ttl,
            refresh_ttl=refresh_ttl,
            rotate_refresh_tokens=rotate_refresh_tokens,
            threads=threads,
            start_time=start_time,
        )
        if answers is not None:
            try:
                self.load_answers(answers)
            except BaseException:
                self.close()
                raise

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: pass it as ``base_url`` (or ``server_url``) to a client."""
        return self._native.base_url

    @property
    def app_key(self) -> str:
        """The app key the emulator accepts."""
        return self._native.app_key

    @property
    def app_secret(self) -> str:
        """The app secret the emulator checks signatures with."""
        return self._native.app_secret

    def authorize(self, seller_id: str = "seller-1") -> str:
        """A fresh authorization code for ``seller_id`` (single use, valid 30 virtual minutes),
        as the seller's OAuth redirect would deliver it."""
        return self._native.authorize(seller_id)

    def issue_token(self, seller_id: str = "seller-1") -> Token:
        """A token set for ``seller_id`` issued directly (no request counted), e.g. to seed a
        store."""
        return self._native.issue_token(seller_id)

    def advance(
        self,
        seconds: Seconds = 0,
        *,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
    ) -> None:
        """Moves the virtual clock forward (tokens expire on it)."""
        for name, value in (("minutes", minutes), ("hours", hours), ("days", days)):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}")
        if not isinstance(seconds, (int, float, timedelta)) or isinstance(seconds, bool):
            raise TypeError(
                f"seconds must be a number or a timedelta, got {type(seconds).__name__}"
            )
        try:
            total = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
            total += minutes * 60 + hours * 3600 + days * 86400
        except OverflowError:
            # An int too large for a float is a value out of range, not an arithmetic fault.
            raise ValueError("the time to advance by is out of range") from None
        self._native.advance(total)

    def now(self) -> datetime:
        """The virtual now, an aware UTC datetime."""
        return self._native.now()

    def stats(self) -> Dict[str, int]:
        """Requests received per API name, e.g. ``{"/auth/token/refresh": 3}``."""
        return self._native.stats()

    def reset_stats(self) -> None:
        """Sets every counter back to zero."""
        self._native.reset_stats()

    def inject(
        self,
        kind: str,
        times: int = 1,
        api: Optional[str] = None,
        *,
        ms: Optional[int] = None,
        ban: Optional[Seconds] = None,
    ) -> None:
        """The next ``times`` requests (for ``api``, or any API) fail with ``kind``: ``"delay"``
        (``ms`` milliseconds, then a normal answer), ``"reset"`` (connection reset),
        ``"http500"``, ``"html502"`` (a proxy's HTML page), ``"truncated"`` (half a JSON body),
        ``"rate_limit"`` (``ApiCallLimit`` with a ban of ``ban`` seconds)."""
        self._native.inject(kind, times, api, ms, ban)

    def clear_faults(self) -> None:
        """Removes every pending fault and ends every ban."""
        self._native.clear_faults()

    def revoke_refresh_tokens(self, seller_id: str) -> None:
        """Invalidates every refresh token of ``seller_id`` (they answer
        ``IllegalRefreshToken``)."""
        self._native.revoke_refresh_tokens(seller_id)

    def push(self, url: str, seller_id: str, message_type: int, data: Any = None) -> Dict[str, Any]:
        """Sends a Lazada push to the loopback ``http://`` ``url``, signed as Lazada signs it
        (header ``Authorization``: lowercase hex HMAC-SHA256 of app key + body, keyed with the
        app secret). The first attempt is made before this returns; a non-200 answer, or none
        within 500 ms, is retried every 30 minutes of virtual time as ``advance`` moves the
        clock, 12 attempts at most. Returns the push's log entry (see ``push_log``)."""
        return self._native.push(url, seller_id, message_type, data)

    def push_log(self) -> List[Dict[str, Any]]:
        """Every push so far: ``id``, ``url``, ``seller_id``, ``message_type``, ``body`` (the
        exact body signed), ``delivered``, ``attempts`` (each with ``status`` or ``error``)."""
        return self._native.push_log()

    def answer(
        self,
        api: str,
        body: Mapping[str, Any],
        *,
        seller: Optional[str] = None,
        params: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Makes ``api`` answer ``body`` (a dict) instead of the echo, in the gateway's real
        envelope: for a dotted TOP name ``{"<name with . as _>_response": {**body, "request_id":
        …}}`` (the inner object alone with ``simplify=true``; a body holding ``error_response``
        as it is), for a ``/path`` GOP API the body's fields with ``"code": "0"`` and a
        ``request_id``. With ``seller``, only for calls made with that seller's access token;
        with ``params``, only for calls that sent those parameter values (converted as call
        parameters are). The most specific answer wins, then the latest. The token, when one is
        sent, is still checked first."""
        if not isinstance(body, Mapping):
            raise TypeError(f"body must be a dict, got {type(body).__name__}")
        self._native.answer(api, dict(body), seller, None if params is None else dict(params))

    def load_answers(self, answers: Answers) -> int:
        """Registers many answers: ``"common"`` (the ones shipped with the emulator, for
        ``aliexpress.affiliate.category.get``, ``…link.generate``, ``…product.query``,
        ``…productdetail.get``, ``aliexpress.solution.product.list.get``, ``/seller/get``,
        ``/orders/get``, ``/order/get``), the path of a
        JSON file holding a list of ``{"api", "body", "seller", "params"}`` (what
        ``iop-emulator --answers FILE`` reads), or such a list. Returns how many."""
        if isinstance(answers, str) and answers == "common":
            return self._native.load_answers("common")
        if isinstance(answers, (str, os.PathLike)):
            return self._native.load_answers(Path(answers).read_text(encoding="utf-8"))
        if isinstance(answers, (bytes, bytearray)) or not isinstance(answers, Sequence):
            raise TypeError(
                "answers must be 'common', a path or a list of dicts, "
                f"got {type(answers).__name__}"
            )
        import json

        listed: List[Dict[str, Any]] = []
        for answer in answers:
            if not isinstance(answer, Mapping):
                raise TypeError(f"each answer must be a dict, got {type(answer).__name__}")
            listed.append(dict(answer))
        return self._native.load_answers(json.dumps(listed))

    def answers(self) -> List[Dict[str, Any]]:
        """The registered answers, oldest first."""
        registered: List[Dict[str, Any]] = self._native.answers()
        return registered

    def clear_answers(self) -> None:
        """Forgets every registered answer: calls are echoed again."""
        self._native.clear_answers()

    def require_token(self, api: str, required: bool = True) -> None:
        """Makes ``api`` (or ``"*"``: every API) answer ``MissingParameter`` when called without
        a token. By default a call without a token is an app-level call and is answered."""
        self._native.require_token(api, required)

    def is_current_refresh_token(self, seller_id: str, refresh_token: str) -> bool:
        """Whether ``refresh_token`` is the seller's current refresh token (issued, unexpired,
        not rotated away or revoked)."""
        return self._native.is_current_refresh_token(seller_id, refresh_token)

    def client(self, timeout: Union[float, Tuple[float, float]] = 30.0) -> Client:
        """An ``iop.Client`` for this emulator whose requests carry the virtual clock's time
        (``timeout``: seconds, or a ``(connect, read)`` pair)."""
        return self._native.client(timeout)

    def iop_client(self, suffix: str = "/rest", timeout: float = 30) -> IopClient:
        """A vendor-compatible ``iop.IopClient`` for this emulator (virtual clock), with the
        ``server_url`` suffix your code uses (``/rest`` or ``/sync``)."""
        return IopClient._from_client(self._native.client(timeout), self.base_url + suffix)

    def close(self) -> None:
        """Stops the server. Calling it twice is fine."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._native.closed

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.base_url
        return f"Emulator({state}, app_key={self.app_key!r})"
