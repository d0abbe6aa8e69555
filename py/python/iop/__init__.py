"""iop: the SDK for the IOP gateway of AliExpress and Lazada Open Platform.

Signing, a pooled client with typed tokens and errors, a token manager, the vendor-compatible
``IopClient``/``IopRequest``/``IopResponse``, and (``iop.testing``) an offline gateway emulator.
Importing the package writes no file, starts no thread and opens no connection. Log records go
to the standard ``logging`` module under the ``iop`` logger, which carries a ``NullHandler``
only: an application without logging set up sees nothing (no "last resort" lines on stderr for
errors it already caught), one with handlers sees everything.
"""

import logging as _logging
from types import ModuleType

from ._compat import IopClient, IopRequest, IopResponse, LazopClient, LazopRequest, LazopResponse
from ._compat import (
    P_API_AUTHORIZATION_URL,
    P_API_GATEWAY_URL_ID,
    P_API_GATEWAY_URL_MY,
    P_API_GATEWAY_URL_PH,
    P_API_GATEWAY_URL_SG,
    P_API_GATEWAY_URL_TH,
    P_API_GATEWAY_URL_VN,
    P_LOG_LEVEL_DEBUG,
    P_LOG_LEVEL_ERROR,
    P_LOG_LEVEL_INFO,
)
from ._report import AsyncCustomStore, CustomStore, ReauthorizationNotice, RefreshFailure
from ._errors import (
    AccessTokenInvalid,
    AuthorizationError,
    GatewayError,
    IopError,
    RateLimited,
    ReauthorizationRequired,
    ResponseError,
    SignatureRejected,
    StoreError,
    Timeout,
    TransportError,
    UnknownSeller,
)
from ._native import (
    FileStore,
    MemoryStore,
    PostgresStore,
    RedisStore,
    open_store,
    RefreshReport,
    TokenManager,
    ALIEXPRESS,
    LAZADA_AUTH,
    LAZADA_ID,
    LAZADA_MY,
    LAZADA_PH,
    LAZADA_SG,
    LAZADA_TH,
    LAZADA_VN,
    Client,
    Token,
    __version__,
    mask,
    new_state,
    sign,
    string_to_sign,
)
from . import push
from ._onboarding import authorization_url

__all__ = [
    "ALIEXPRESS",
    "AccessTokenInvalid",
    "AsyncCustomStore",
    "AuthorizationError",
    "Client",
    "CustomStore",
    "FileStore",
    "GatewayError",
    "IopClient",
    "IopError",
    "IopRequest",
    "IopResponse",
    "LAZADA_AUTH",
    "LAZADA_ID",
    "LAZADA_MY",
    "LAZADA_PH",
    "LAZADA_SG",
    "LAZADA_TH",
    "LAZADA_VN",
    "LazopClient",
    "LazopRequest",
    "LazopResponse",
    "MemoryStore",
    "P_API_AUTHORIZATION_URL",
    "P_API_GATEWAY_URL_ID",
    "P_API_GATEWAY_URL_MY",
    "P_API_GATEWAY_URL_PH",
    "P_API_GATEWAY_URL_SG",
    "P_API_GATEWAY_URL_TH",
    "P_API_GATEWAY_URL_VN",
    "P_LOG_LEVEL_DEBUG",
    "P_LOG_LEVEL_ERROR",
    "P_LOG_LEVEL_INFO",
    "PostgresStore",
    "RateLimited",
    "RedisStore",
    "ReauthorizationNotice",
    "ReauthorizationRequired",
    "RefreshFailure",
    "RefreshReport",
    "ResponseError",
    "SignatureRejected",
    "StoreError",
    "Timeout",
    "Token",
    "TokenManager",
    "TransportError",
    "UnknownSeller",
    "__version__",
    "authorization_url",
    "mask",
    "new_state",
    "push",
    "open_store",
    "sign",
    "string_to_sign",
]


# Records of the iop loggers reach the application's handlers (propagation is untouched), and
# never Python's last-resort handler.
_logging.getLogger("iop").addHandler(_logging.NullHandler())


def __getattr__(name: str) -> ModuleType:
    # `iop.testing` and `iop.aio` on first use, so `import iop` alone stays light and starts
    # nothing.
    if name in ("testing", "aio"):
        import importlib

        return importlib.import_module(f"iop.{name}")
    raise AttributeError(f"module 'iop' has no attribute {name!r}")
