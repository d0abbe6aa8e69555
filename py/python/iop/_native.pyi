"""Stubs of the native module iop._native (hand-written; checked by mypy.stubtest)."""

import os
from datetime import datetime, timedelta
from types import TracebackType
from typing import IO, Any, Callable, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union, final

from ._errors import ReauthorizationRequired
from ._report import CustomStore, ReauthorizationNotice, RefreshFailure
from .push import Message

from .push import Outcome as _PushOutcome

__all__ = [
    "ALIEXPRESS",
    "Client",
    "LAZADA_AUTH",
    "LAZADA_ID",
    "LAZADA_MY",
    "LAZADA_PH",
    "LAZADA_SG",
    "LAZADA_TH",
    "LAZADA_VN",
    "FileStore",
    "MemoryStore",
    "PostgresStore",
    "RedisStore",
    "RefreshReport",
    "Token",
    "TokenManager",
    "_Completions",
    "_aio_call",
    "_aio_configure",
    "_aio_create_token",
    "_aio_log_level",
    "_aio_manager",
    "_aio_manager_call",
    "_aio_refresh_token",
    "_aio_run",
    "_aio_workers",
    "_Emulator",
    "__version__",
    "authorization_url",
    "mask",
    "new_state",
    "push_parse",
    "push_signature",
    "push_verify",
    "open_store",
    "sign",
    "string_to_sign",
]

__version__: str
ALIEXPRESS: str
LAZADA_AUTH: str
LAZADA_SG: str
LAZADA_MY: str
LAZADA_VN: str
LAZADA_TH: str
LAZADA_PH: str
LAZADA_ID: str

# What the runtime converts: bytes, sets and other sequences or mappings as values are refused.
_ParamValue = Union[str, bool, int, float, Dict[str, Any], List[Any], Tuple[Any, ...], None]
_Params = Union[Mapping[str, _ParamValue], Sequence[Tuple[str, _ParamValue]]]
_Seconds = Union[float, int, timedelta]
# timeout=: seconds (the read timeout) or a (connect, read) pair of seconds.
_Timeout = Union[float, Tuple[float, float]]
_F = TypeVar("_F", bound=Callable[[str, ReauthorizationRequired], object])
# A file part of a multipart upload: the data, or (file_name, data[, content_type]).
_Data = Union[bytes, bytearray, str, IO[bytes]]
_File = Union[_Data, Tuple[str, _Data], Tuple[str, _Data, str]]
# What a token manager's store may be: a store URL or directory, a store object, or your own.
_Store = Union[str, os.PathLike[str], MemoryStore, FileStore, RedisStore, PostgresStore, CustomStore, None]

def sign(app_secret: str, params: _Params, *, api: Optional[str] = None, method: Optional[str] = ...) -> str: ...
def string_to_sign(params: _Params, *, api: Optional[str] = None) -> str: ...
def authorization_url(
    app_key: str,
    redirect_uri: str,
    *,
    state: str,
    platform: Optional[str] = None,
    country: Optional[str] = None,
    uuid: Optional[str] = None,
    base_url: Optional[str] = None,
) -> str: ...
def new_state() -> str: ...
def mask(secret: str) -> str: ...
def push_verify(app_key: str, app_secret: str, body: bytes, authorization: Optional[str]) -> bool: ...
def push_signature(app_key: str, app_secret: str, body: bytes) -> str: ...
def push_parse(body: bytes) -> Dict[str, Any]: ...

@final
class Token:
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def needs_refresh(self, margin: Optional[_Seconds] = ..., now: Optional[datetime] = None) -> bool: ...
    def can_refresh(self, now: Optional[datetime] = None) -> bool: ...
    @property
    def expires_at(self) -> Optional[datetime]: ...
    @property
    def refresh_expires_at(self) -> Optional[datetime]: ...
    @property
    def access_token(self) -> Optional[str]: ...
    @property
    def refresh_token(self) -> Optional[str]: ...
    @property
    def expires_in(self) -> Optional[int]: ...
    @property
    def refresh_expires_in(self) -> Optional[int]: ...
    @property
    def expire_time(self) -> Optional[int]: ...
    @property
    def refresh_token_valid_time(self) -> Optional[int]: ...
    @property
    def user_id(self) -> Optional[str]: ...
    @property
    def seller_id(self) -> Optional[str]: ...
    @property
    def havana_id(self) -> Optional[str]: ...
    @property
    def account_id(self) -> Optional[str]: ...
    @property
    def user_nick(self) -> Optional[str]: ...
    @property
    def account(self) -> Optional[str]: ...
    @property
    def account_platform(self) -> Optional[str]: ...
    @property
    def locale(self) -> Optional[str]: ...
    @property
    def sp(self) -> Optional[str]: ...
    @property
    def country(self) -> Optional[str]: ...
    @property
    def request_id(self) -> Optional[str]: ...
    @property
    def code(self) -> Optional[str]: ...
    @property
    def country_user_info(self) -> List[Dict[str, Optional[str]]]: ...

@final
class Client:
    def __new__(
        cls,
        app_key: str,
        app_secret: str,
        *,
        base_url: Optional[str] = ...,
        timeout: Optional[_Timeout] = ...,
        partner_id: Optional[str] = None,
        proxy: Optional[str] = None,
        ca_file: Optional[Union[str, os.PathLike[str]]] = None,
        trust_env: bool = False,
        retries: Optional[int] = None,
    ) -> Client: ...
    def create_token(self, code: str, *, uuid: Optional[str] = None) -> Token: ...
    def refresh_token(self, refresh_token: str) -> Token: ...
    def call(
        self,
        api: str,
        params: Optional[_Params] = None,
        *,
        access_token: Optional[str] = None,
        http_method: Optional[str] = ...,
        files: Optional[Mapping[str, _File]] = None,
    ) -> Dict[str, Any]: ...
    def call_raw(
        self,
        api: str,
        params: Optional[_Params] = None,
        *,
        access_token: Optional[str] = None,
        http_method: Optional[str] = ...,
        files: Optional[Mapping[str, _File]] = None,
    ) -> Dict[str, Any]: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Client: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    def explain(
        self,
        api: str,
        params: Optional[_Params] = None,
        *,
        access_token: Optional[str] = None,
        timestamp_ms: Optional[int] = None,
    ) -> Dict[str, Any]: ...
    def _call_raw(
        self,
        api: str,
        params: _Params,
        access_token: Optional[str],
        http_method: str,
        simplify: bool,
        files: Mapping[str, Any],
    ) -> Dict[str, Any]: ...
    @property
    def app_key(self) -> str: ...
    @property
    def base_url(self) -> str: ...

@final
class MemoryStore:
    def __new__(cls) -> MemoryStore: ...

@final
class FileStore:
    def __new__(cls, directory: Any) -> FileStore: ...
    @property
    def directory(self) -> str: ...

@final
class RedisStore:
    def __new__(cls, url: str, *, prefix: str = "iop:") -> RedisStore: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def prefix(self) -> str: ...

@final
class PostgresStore:
    def __new__(cls, dsn: str, *, table: str = "iop_tokens") -> PostgresStore: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def table(self) -> str: ...

def open_store(url: str) -> Union[MemoryStore, FileStore, RedisStore, PostgresStore]: ...

@final
class RefreshReport:
    @property
    def refreshed(self) -> List[str]: ...
    @property
    def skipped(self) -> List[str]: ...
    @property
    def failed(self) -> List[RefreshFailure]: ...
    @property
    def reauthorization_required(self) -> List[ReauthorizationNotice]: ...

@final
class TokenManager:
    def __new__(
        cls,
        client: Client,
        store: _Store = None,
        *,
        margin: Optional[_Seconds] = ...,
        push_window: Optional[_Seconds] = ...,
    ) -> TokenManager: ...
    @property
    def push_window(self) -> timedelta: ...
    def put(self, key: str, token: Token) -> None: ...
    def get(self, key: str) -> Optional[Token]: ...
    def remove(self, key: str) -> bool: ...
    def access_token(self, key: str) -> str: ...
    def call(
        self,
        key: str,
        api: str,
        params: Optional[_Params] = None,
        *,
        files: Optional[Mapping[str, _File]] = None,
        method: Optional[str] = None,
    ) -> Dict[str, Any]: ...
    def call_raw(
        self,
        key: str,
        api: str,
        params: Optional[_Params] = None,
        *,
        files: Optional[Mapping[str, _File]] = None,
        method: Optional[str] = None,
    ) -> Dict[str, Any]: ...
    def refresh_due(
        self,
        within: Optional[_Seconds] = ...,
        *,
        concurrency: int = 8,
        progress: Optional[Callable[[int, int], object]] = None,
    ) -> RefreshReport: ...
    def on_reauthorization_required(self, callback: _F) -> _F: ...
    def complete_authorization(
        self, callback_url_or_query: str, *, expected_state: str, key: Optional[str] = None
    ) -> Token: ...
    def handle_push(self, message: Any) -> _PushOutcome: ...

@final
class _Emulator:
    def __new__(
        cls,
        app_key: str,
        app_secret: str,
        *,
        access_ttl: _Seconds,
        refresh_ttl: _Seconds,
        rotate_refresh_tokens: bool,
        threads: int,
        start_time: Optional[datetime] = None,
    ) -> _Emulator: ...
    @property
    def base_url(self) -> str: ...
    @property
    def app_key(self) -> str: ...
    @property
    def app_secret(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def authorize(self, seller_id: str) -> str: ...
    def issue_token(self, seller_id: str) -> Token: ...
    def advance(self, by: _Seconds) -> None: ...
    def now(self) -> datetime: ...
    def stats(self) -> Dict[str, int]: ...
    def reset_stats(self) -> None: ...
    def inject(
        self,
        kind: str,
        times: int = 1,
        api: Optional[str] = None,
        ms: Optional[int] = None,
        ban: Optional[_Seconds] = None,
    ) -> None: ...
    def clear_faults(self) -> None: ...
    def revoke_refresh_tokens(self, seller_id: str) -> None: ...
    def push(self, url: str, seller_id: str, message_type: int, data: Any = None) -> Dict[str, Any]: ...
    def push_log(self) -> List[Dict[str, Any]]: ...
    def require_token(self, api: str, required: bool = True) -> None: ...
    def is_current_refresh_token(self, seller_id: str, refresh_token: str) -> bool: ...
    def answer(
        self, api: str, body: Dict[str, Any], seller: Optional[str] = None, params: Optional[_Params] = None
    ) -> None: ...
    def load_answers(self, json: str) -> int: ...
    def clear_answers(self) -> None: ...
    def answers(self) -> List[Dict[str, Any]]: ...
    def client(self, timeout: Optional[_Timeout] = None) -> Client: ...
    def close(self) -> None: ...

# The engine of iop.aio (see py/src/aio.rs); private.
@final
class _Completions:
    def __new__(cls) -> _Completions: ...
    def fileno(self) -> int: ...
    def drain(self) -> None: ...
    def pending(self) -> int: ...

def _aio_configure(max_workers: Optional[int] = None) -> int: ...
def _aio_workers() -> int: ...
def _aio_log_level(level: int) -> None: ...
def _aio_create_token(
    completions: _Completions, future: Any, client: Client, code: str, uuid: Optional[str] = None
) -> None: ...
def _aio_refresh_token(completions: _Completions, future: Any, client: Client, refresh_token: str) -> None: ...
def _aio_call(
    completions: _Completions,
    future: Any,
    client: Client,
    api: str,
    params: Optional[_Params] = None,
    access_token: Optional[str] = None,
    http_method: Optional[str] = None,
    raw: bool = False,
    files: Optional[Dict[str, Any]] = None,
) -> None: ...
def _aio_manager(
    completions: _Completions, future: Any, manager: TokenManager, op: str, key: str, token: Optional[Token] = None
) -> None: ...
def _aio_manager_call(
    completions: _Completions,
    future: Any,
    manager: TokenManager,
    key: str,
    api: str,
    params: Optional[_Params] = None,
    files: Optional[Dict[str, Any]] = None,
    method: Optional[str] = None,
    raw: bool = False,
) -> None: ...
def _aio_run(completions: _Completions, future: Any, function: Callable[..., Any], args: Tuple[Any, ...]) -> None: ...
