"""The exceptions of the iop package.

Defined in Python (so they subclass ``Exception`` on every supported version) and raised from the
native module. No message or attribute ever holds a secret.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

__all__ = [
    "IopError",
    "GatewayError",
    "SignatureRejected",
    "ReauthorizationRequired",
    "AccessTokenInvalid",
    "RateLimited",
    "TransportError",
    "Timeout",
    "ResponseError",
    "StoreError",
    "UnknownSeller",
    "AuthorizationError",
]


class IopError(Exception):
    """Base of everything the package raises at run time (bad arguments raise TypeError or
    ValueError instead)."""

    def __reduce__(self) -> Tuple[Any, ...]:
        # Keeps the attributes through pickling (e.g. across multiprocessing workers).
        return (type(self), self.args, dict(self.__dict__))


class GatewayError(IopError):
    """The gateway answered with an error envelope (GOP or TOP style), kept intact.

    Attributes: ``code`` (e.g. ``"IllegalRefreshToken"``), ``type`` (``ISV``, ``ISP`` or
    ``SYSTEM``), ``message``, ``sub_code`` and ``sub_msg`` (TOP), ``request_id``, ``status`` (the
    HTTP status).
    """

    code: Optional[str]
    type: Optional[str]
    message: Optional[str]
    sub_code: Optional[str]
    sub_msg: Optional[str]
    request_id: Optional[str]
    status: Optional[int]

    def __init__(
        self,
        text: str,
        *,
        code: Optional[str] = None,
        type: Optional[str] = None,
        message: Optional[str] = None,
        sub_code: Optional[str] = None,
        sub_msg: Optional[str] = None,
        request_id: Optional[str] = None,
        status: Optional[int] = None,
    ) -> None:
        super().__init__(text)
        self.code = code
        self.type = type
        self.message = message
        self.sub_code = sub_code
        self.sub_msg = sub_msg
        self.request_id = request_id
        self.status = status


class SignatureRejected(GatewayError):
    """``IncompleteSignature``: wrong app secret or a signing mistake. Not retried."""


class ReauthorizationRequired(GatewayError):
    """The seller must authorize the app again (``InvalidCode``, ``IllegalRefreshToken``, or a
    refresh token known to be dead). From the token manager, ``key`` names the seller and
    ``reason`` says why."""

    key: Optional[str]
    reason: Optional[str]

    def __init__(
        self,
        text: str,
        *,
        key: Optional[str] = None,
        reason: Optional[str] = None,
        code: Optional[str] = None,
        type: Optional[str] = None,
        message: Optional[str] = None,
        sub_code: Optional[str] = None,
        sub_msg: Optional[str] = None,
        request_id: Optional[str] = None,
        status: Optional[int] = None,
    ) -> None:
        super().__init__(
            text,
            code=code,
            type=type,
            message=message,
            sub_code=sub_code,
            sub_msg=sub_msg,
            request_id=request_id,
            status=status,
        )
        self.key = key
        self.reason = reason


class AccessTokenInvalid(GatewayError):
    """``IllegalAccessToken``: the access token is invalid or expired; refresh it."""


class RateLimited(GatewayError):
    """Rate limited; ``retry_after`` is the ban in seconds, when the gateway said."""

    retry_after: Optional[float]

    def __init__(
        self,
        text: str,
        *,
        retry_after: Optional[float] = None,
        code: Optional[str] = None,
        type: Optional[str] = None,
        message: Optional[str] = None,
        sub_code: Optional[str] = None,
        sub_msg: Optional[str] = None,
        request_id: Optional[str] = None,
        status: Optional[int] = None,
    ) -> None:
        super().__init__(
            text,
            code=code,
            type=type,
            message=message,
            sub_code=sub_code,
            sub_msg=sub_msg,
            request_id=request_id,
            status=status,
        )
        self.retry_after = retry_after


class TransportError(IopError):
    """The request could not be delivered or its answer not read. ``sent`` tells whether it may
    have reached the gateway."""

    sent: bool

    def __init__(self, text: str, *, sent: bool = False) -> None:
        super().__init__(text)
        self.sent = sent


class Timeout(TransportError):
    """A connect, read or overall deadline passed; ``after`` is the limit in seconds."""

    after: Optional[float]

    def __init__(self, text: str, *, after: Optional[float] = None, sent: bool = True) -> None:
        super().__init__(text, sent=sent)
        self.after = after


class ResponseError(IopError):
    """The body was not the gateway's JSON (an HTML page from a proxy, empty, truncated).
    ``status`` is the HTTP status, ``snippet`` the first bytes of the body."""

    status: int
    snippet: str

    def __init__(self, text: str, *, status: int = 0, snippet: str = "") -> None:
        super().__init__(text)
        self.status = status
        self.snippet = snippet


class StoreError(IopError):
    """A token store failed to load or save the token of ``key`` (corrupt file, I/O error,
    failing custom store)."""

    key: Optional[str]

    def __init__(self, text: str, *, key: Optional[str] = None) -> None:
        super().__init__(text)
        self.key = key


class UnknownSeller(IopError, KeyError):
    """No token set is stored for the seller ``key``: it never authorized the app here, or was
    removed. Nothing was sent. Also a ``KeyError``, as a missing key of a mapping is."""

    key: Optional[str]

    def __init__(self, text: str, *, key: Optional[str] = None) -> None:
        super().__init__(text)
        self.key = key

    def __str__(self) -> str:
        # KeyError would show the message quoted, as a repr.
        return str(self.args[0]) if self.args else ""


class AuthorizationError(IopError):
    """A redirect back from the authorization page was refused, and no code was exchanged.

    ``reason`` is ``"state_missing"``, ``"state_mismatch"`` (a forged or stale redirect: login
    CSRF), ``"denied"`` (the platform's ``error``, in ``error`` and ``error_description``),
    ``"code_missing"`` or ``"malformed"``.
    """

    reason: Optional[str]
    error: Optional[str]
    error_description: Optional[str]

    def __init__(
        self,
        text: str,
        *,
        reason: Optional[str] = None,
        error: Optional[str] = None,
        error_description: Optional[str] = None,
    ) -> None:
        super().__init__(text)
        self.reason = reason
        self.error = error
        self.error_description = error_description
