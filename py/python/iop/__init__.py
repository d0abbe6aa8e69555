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
    Client,
    Token,
    __version__,
    sign,
    string_to_sign,
)

__all__ = [
    "ALIEXPRESS",
    "AccessTokenInvalid",
    "Client",
    "FileStore",
    "GatewayError",
    "IopClient",
    "IopError",
    "IopRequest",
    "IopResponse",
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
    "open_store",
    "sign",
    "string_to_sign",
]


def __getattr__(name: str) -> ModuleType:
    # `iop.testing` on first use, so `import iop` alone stays light and starts nothing.
    if name == "testing":
        import importlib

        return importlib.import_module("iop.testing")
    raise AttributeError(f"module 'iop' has no attribute {name!r}")
