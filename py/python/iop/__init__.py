"""iop: the SDK for the IOP gateway of AliExpress and Lazada Open Platform.

Signing, a pooled client with typed tokens and errors, a token manager, the vendor-compatible
``IopClient``/``IopRequest``/``IopResponse``, and (``iop.testing``) an offline gateway emulator.
Importing the package writes no file, starts no thread and opens no connection. Log records go
to the standard ``logging`` module under the ``iop`` logger; no handler is installed.
"""

from types import ModuleType

from ._compat import IopClient, IopRequest, IopResponse
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
    new_state,
    sign,
    string_to_sign,
)
from . import push
from ._onboarding import authorization_url

__all__ = [
    "ALIEXPRESS",
    "AccessTokenInvalid",
    "AuthorizationError",
    "Client",
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
    "MemoryStore",
    "PostgresStore",
    "RateLimited",
    "RedisStore",
    "ReauthorizationRequired",
    "RefreshReport",
    "ResponseError",
    "SignatureRejected",
    "StoreError",
    "Timeout",
    "Token",
    "TokenManager",
    "TransportError",
    "__version__",
    "authorization_url",
    "new_state",
    "push",
    "open_store",
    "sign",
    "string_to_sign",
]


def __getattr__(name: str) -> ModuleType:
    # `iop.testing` and `iop.aio` on first use, so `import iop` alone stays light and starts
    # nothing.
    if name in ("testing", "aio"):
        import importlib

        return importlib.import_module(f"iop.{name}")
    raise AttributeError(f"module 'iop' has no attribute {name!r}")
