"""The vendor-compatible API: ``IopClient``, ``IopRequest``, ``IopResponse`` (the AliExpress
SDK) and ``LazopClient``, ``LazopRequest``, ``LazopResponse`` with the ``P_*`` gateway and log
level constants (the Lazada SDK, ``lazop``).

Code written for the vendor's Python SDKs keeps working: AliExpress code (``import iop``)
unchanged, Lazada code with ``import iop as lazop`` for ``import lazop``. The calls, argument
names and response fields are the vendor's. Underneath is the pooled, signed client of
this package: no log files under ``~/logs``, TLS always verified, the API name decides the
endpoint (``/rest`` path or ``/sync`` dotted name) whatever suffix ``server_url`` carries, and
parameter values are converted as users expect (bool to ``true``/``false``, numbers in decimal,
dict/list to JSON, ``None`` left out).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ._native import Client

__all__ = [
    "IopClient",
    "IopRequest",
    "IopResponse",
    "LazopClient",
    "LazopRequest",
    "LazopResponse",
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
]

#: Lazada's gateways as the Lazada SDK names them (with the ``/rest`` suffix it appends API paths
#: to; accepted as they are, as any suffix is).
P_API_GATEWAY_URL_SG = "https://api.lazada.sg/rest"
P_API_GATEWAY_URL_MY = "https://api.lazada.com.my/rest"
P_API_GATEWAY_URL_VN = "https://api.lazada.vn/rest"
P_API_GATEWAY_URL_TH = "https://api.lazada.co.th/rest"
P_API_GATEWAY_URL_PH = "https://api.lazada.com.ph/rest"
P_API_GATEWAY_URL_ID = "https://api.lazada.co.id/rest"
#: Lazada's token host (``/auth/token/create``, ``/auth/token/refresh``).
P_API_AUTHORIZATION_URL = "https://auth.lazada.com/rest"

#: Values of ``LazopClient.log_level``, kept for code that sets it: records go to the ``iop``
#: logger whatever its value, and no file is written.
P_LOG_LEVEL_DEBUG = "DEBUG"
P_LOG_LEVEL_INFO = "INFO"
P_LOG_LEVEL_ERROR = "ERROR"


class IopRequest:
    """One API call: ``IopRequest(api_name, http_method='POST')``."""

    def __init__(self, api_name: str, http_method: str = "POST") -> None:
        if not isinstance(api_name, str):
            raise TypeError(f"api_name must be str, got {type(api_name).__name__}")
        if not api_name.strip():
            raise ValueError("api_name must not be empty")
        if not isinstance(http_method, str):
            raise TypeError(f"http_method must be str, got {type(http_method).__name__}")
        self._api_params: Dict[str, Any] = {}
        self._file_params: Dict[str, Any] = {}
        self._api_pame = api_name
        self._http_method = http_method
        self._simplify = "false"
        self._format = "json"

    def add_api_param(self, key: str, value: Any) -> None:
        """Adds (or replaces) a business parameter."""
        if not isinstance(key, str):
            raise TypeError(f"parameter names must be str, got {type(key).__name__}")
        self._api_params[key] = value

    def add_file_param(self, key: str, value: Any) -> None:
        """Adds a file part: bytes, a file object, or a ``(file_name, data[, content_type])``
        tuple. The request is then sent as multipart."""
        if not isinstance(key, str):
            raise TypeError(f"file parameter names must be str, got {type(key).__name__}")
        self._file_params[key] = value

    def set_simplify(self) -> None:
        """Asks a ``/sync`` (TOP) API for the simplified response shape."""
        self._simplify = "true"

    def set_format(self, value: str) -> None:
        """The response format; only ``json`` is supported (responses are parsed as JSON)."""
        if not isinstance(value, str):
            raise TypeError(f"format must be str, got {type(value).__name__}")
        self._format = value


class IopResponse:
    """A response: ``type``, ``code``, ``message``, ``request_id`` taken from the top level of
    the body as the vendor SDK does (``None`` when absent), and ``body``, the whole body."""

    def __init__(self) -> None:
        self.type: Optional[Any] = None
        self.code: Optional[Any] = None
        self.message: Optional[Any] = None
        self.request_id: Optional[Any] = None
        self.body: Optional[Dict[str, Any]] = None

    def __str__(self) -> str:
        return (
            f"type={self.type} code={self.code} message={self.message} "
            f"requestId={self.request_id}"
        )

    def __repr__(self) -> str:
        return (
            f"IopResponse(type={self.type!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class IopClient:
    """``IopClient(server_url, app_key, app_secret, timeout=30)``; ``server_url`` may end in
    ``/rest`` or ``/sync`` (or neither)."""

    #: Kept for code that sets it; records go to the ``iop`` logger whatever its value.
    log_level: str = "ERROR"

    #: The response class ``execute`` answers.
    _response_type = IopResponse

    def __init__(self, server_url: str, app_key: str, app_secret: str, timeout: float = 30) -> None:
        self._client = Client(app_key, app_secret, base_url=server_url, timeout=timeout)
        self._server_url = server_url
        self._app_key = app_key
        self._timeout = timeout

    @classmethod
    def _from_client(cls, client: Client, server_url: str) -> "IopClient":
        """An IopClient over an existing ``iop.Client`` (e.g. an emulator's)."""
        self = cls.__new__(cls)
        self._client = client
        self._server_url = server_url
        self._app_key = client.app_key
        self._timeout = 30
        return self

    def execute(self, request: IopRequest, access_token: Optional[str] = None) -> IopResponse:
        """Sends ``request`` (for a seller when ``access_token`` is given). Gateway errors come
        back in the response; network failures raise ``iop.TransportError``, bodies that are not
        JSON ``iop.ResponseError``."""
        if not isinstance(request, IopRequest):
            raise TypeError(f"request must be an IopRequest, got {type(request).__name__}")
        if request._format.lower() != "json":
            raise ValueError(f"only the json format is supported, got {request._format!r}")
        if access_token == "":
            access_token = None
        # As the vendor SDK: a request with files is a multipart POST whatever its http_method.
        http_method = "POST" if request._file_params else request._http_method
        body = self._client._call_raw(
            request._api_pame,
            request._api_params,
            access_token,
            http_method,
            request._simplify == "true",
            request._file_params,
        )
        response = self._response_type()
        if "code" in body:
            response.code = body["code"]
        if "type" in body:
            response.type = body["type"]
        if "message" in body:
            response.message = body["message"]
        if "request_id" in body:
            response.request_id = body["request_id"]
        response.body = body
        return response

    def __repr__(self) -> str:
        return f"IopClient(server_url={self._server_url!r}, app_key={self._app_key!r})"


class LazopRequest(IopRequest):
    """One Lazada API call, as the Lazada SDK spells it: ``LazopRequest(api_name,
    http_method='POST')`` with ``add_api_param(key, value)`` and ``add_file_param(key, value)``."""


class LazopResponse(IopResponse):
    """A response of ``LazopClient.execute``: ``type``, ``code``, ``message``, ``request_id``
    and ``body``, as ``IopResponse``."""


class LazopClient(IopClient):
    """``LazopClient(server_url, app_key, app_secret, timeout=30)``, the Lazada SDK's client:
    ``server_url`` is a ``P_API_GATEWAY_URL_*`` (or ``P_API_AUTHORIZATION_URL`` for token calls,
    which go to Lazada's token host whatever the URL). ``execute(request, access_token=None)``
    answers a ``LazopResponse``; gateway errors come back in it, not as exceptions."""

    _response_type = LazopResponse

    def execute(self, request: IopRequest, access_token: Optional[str] = None) -> LazopResponse:
        """Sends ``request`` (for a seller when ``access_token`` is given); see
        ``IopClient.execute``."""
        response = super().execute(request, access_token)
        assert isinstance(response, LazopResponse)
        return response

    def __repr__(self) -> str:
        return f"LazopClient(server_url={self._server_url!r}, app_key={self._app_key!r})"
