"""Lazada push messages: verify the signature over the raw body, then parse.

Lazada POSTs JSON to your callback URL with an ``Authorization`` header holding the lowercase hex
HMAC-SHA256 of (app key + the raw body), keyed with the app secret. Verify the bytes exactly as
received, **before** parsing: a parsed and re-serialised body has other bytes and never verifies.
Answer HTTP 200 within 500 ms (else Lazada retries every 30 minutes, up to 12 times) and do the
work on your own queue; delivery is at least once, so drop messages whose ``dedup_key`` you have
already handled. ``TokenManager.handle_push`` does that for the token lifecycle: it refuses messages
outside its window and answers a repeat as ``Outcome.DUPLICATE`` (see ``Outcome``).

AliExpress push messages are not covered: their signature scheme is not documented.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional

from . import _native

__all__ = ["Message", "Outcome", "parse", "signature", "verify", "MESSAGE_TYPES"]

#: The ``message_type`` numbers Lazada documents, with their names.
MESSAGE_TYPES = {
    0: "trade_order",
    1: "product_qc",
    3: "product_created",
    4: "product_updated",
    5: "product_deleted",
    8: "authorization_expiring",
    10: "reverse_order",
    12: "category_tree",
    13: "seller_status",
    35: "jit_purchase_order",
}


@dataclass(frozen=True)
class Message:
    """A parsed push message.

    ``message_type`` is the number as sent; ``type_name`` its name (``"other"`` for numbers not
    in ``MESSAGE_TYPES``, which are kept, not rejected). ``data`` is the payload as sent.
    ``timestamp`` is epoch milliseconds. ``dedup_key`` names the event, the same for every
    delivery of it. ``seller_status`` is the status of a type 13 message (e.g. ``"close"``).
    """

    seller_id: Optional[str]
    message_type: int
    type_name: str
    data: Any
    timestamp: Optional[int]
    site: Optional[str]
    dedup_key: str
    seller_status: Optional[str] = None


class Outcome(str, Enum):
    """What ``TokenManager.handle_push`` did with a message. A ``str``: each member equals its value
    (``Outcome.REFRESHED == "refreshed"``).
    """

    #: Type 8 for a due token (past half of its life, or within the margin): refreshed now.
    REFRESHED = "refreshed"
    #: Type 8 for a token that is not due: nothing was sent to the gateway.
    NOT_DUE = "not_due"
    #: Type 8 for a due token that cannot be refreshed, or type 13 ``close``: the seller must
    #: authorize again (the reauthorization callback fired, once per stored token).
    REAUTHORIZATION_REQUIRED = "reauthorization_required"
    #: The same message (its ``dedup_key``) was handled already within the window, by this manager
    #: or by another one sharing the store: nothing was done.
    DUPLICATE = "duplicate"
    #: Refused: the timestamp is missing or further from now than the manager's ``push_window``
    #: (an old message replayed): nothing was done.
    STALE = "stale"
    #: Nothing for the token lifecycle: another type, or a seller the store does not hold.
    IGNORED = "ignored"

    def __str__(self) -> str:
        return self.value


def verify(app_key: str, app_secret: str, body: bytes, authorization: Optional[str]) -> bool:
    """True when ``authorization`` (the request's ``Authorization`` header, or None) is this app's
    signature of ``body``, the raw request body as received. Constant time; either hex case."""
    return _native.push_verify(app_key, app_secret, body, authorization)


def signature(app_key: str, app_secret: str, body: bytes) -> str:
    """The ``Authorization`` value Lazada sends with ``body`` (to test a receiver)."""
    return _native.push_signature(app_key, app_secret, body)


def parse(body: bytes) -> Message:
    """Parses a push body (verify it first). ``ValueError`` when it is not a push message."""
    fields = _native.push_parse(body)
    return Message(**fields)
