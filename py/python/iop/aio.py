"""``iop.aio``: the client and the token manager for asyncio applications.

``iop.aio.Client`` and ``iop.aio.TokenManager`` have the constructors, errors and logging of
``iop.Client`` and ``iop.TokenManager``; their network and store methods are coroutines::

    import iop, iop.aio

    client = iop.aio.Client(APP_KEY, APP_SECRET)
    tokens = iop.aio.TokenManager(client, iop.FileStore("/var/lib/myapp/tokens"))

    async def handler(seller_id: str) -> dict:
        token = await tokens.access_token(seller_id)
        return await client.call("/seller/get", access_token=token)

How it runs: each call is queued to a fixed pool of native worker threads (default 32,
``configure(max_workers=N)``; never a thread per call) that run the blocking core call without
the GIL; the result comes back to the event loop through a socket the loop watches, and is
delivered there. The loop is never blocked by the network or by a store. Works with the
standard loop and with uvloop.

Cancellation: cancelling the awaiting task (``task.cancel()``, ``asyncio.timeout()``,
``wait_for``) cancels only the wait. The call runs to its end on its worker: a refresh that
was under way is completed and its rotated token saved, and the next caller gets it.

Single flight: an ``iop.aio.TokenManager`` is an ``iop.TokenManager`` underneath (``.sync``),
so there is one refresh per seller at a time across tasks, loops, threads and sync callers of
the same store (and, with ``FileStore``, across processes).

Stores: ``None`` (memory), a store URL or directory (``"redis://…"``, ``"/var/lib/app/tokens"``),
``iop.MemoryStore``, ``iop.FileStore``, or your own object with
``load(key)`` / ``save(key, token_dict)`` (``keys()`` for ``refresh_due``, ``remove(key)`` for
``remove``). Its methods may be plain functions (run on a worker thread) or coroutine functions:
a worker then runs each coroutine on the event loop the store was first used from
(``asyncio.run_coroutine_threadsafe(...).result()``), so an async store belongs to that one
loop. Never call a worker-bound store method from the loop thread itself: it would wait on the
loop it is blocking (``iop.aio`` refuses it with a ``StoreError`` rather than hang).
"""

from __future__ import annotations

import asyncio
import collections.abc
import functools
import inspect
import logging
import threading
import weakref
import os
from datetime import timedelta
from types import TracebackType
from typing import IO, Any, Callable, Dict, Mapping, Optional, Tuple, Type, TypeVar, Union

from . import _native
from ._native import Client as _SyncClient
from ._native import FileStore, MemoryStore, PostgresStore, RedisStore, RefreshReport, Token
from ._native import TokenManager as _SyncTokenManager
from ._native import _Completions
from ._errors import ReauthorizationRequired
from ._report import AsyncCustomStore, CustomStore

__all__ = ["Client", "TokenManager", "configure"]

_Seconds = Union[float, int, timedelta]
# timeout=: seconds (the read timeout) or a (connect, read) pair.
_Timeout = Union[float, Tuple[float, float]]
# What a token manager's store may be: a store URL or directory, a store object, or your own.
_Store = Union[
    str,
    "os.PathLike[str]",
    MemoryStore,
    FileStore,
    RedisStore,
    PostgresStore,
    CustomStore,
    AsyncCustomStore,
    None,
]
_Data = Union[bytes, bytearray, str, IO[bytes]]
# A file part of a multipart upload: the data, or (file_name, data[, content_type]).
_File = Union[_Data, Tuple[str, _Data], Tuple[str, _Data, str]]
_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[[str, ReauthorizationRequired], object])

# One completion queue per event loop, registered with loop.add_reader on first use.
_queues: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Completions]" = (
    weakref.WeakKeyDictionary()
)
_queues_lock = threading.Lock()


def configure(max_workers: Optional[int] = None) -> int:
    """Sets the number of native worker threads shared by every ``iop.aio`` object (1 to
    1024, default 32; they start on first use and are resized at once if running) and returns
    it. With no argument, only returns it. At most this many calls are on the network at once;
    more wait in a queue."""
    return _native._aio_configure(max_workers)


# Python's logging empties every logger's level cache on each setLevel() and disable(): while
# this logger's cache is filled, no level changed since the workers were told.
_level_sentinel = logging.getLogger("iop.aio")


def _tell_log_level() -> None:
    """Tells the native workers the lowest level enabled on the ``iop`` loggers, so that they
    drop disabled records without taking the GIL (a change applies to calls started after it)."""
    if getattr(_level_sentinel, "_cache", None):
        return
    _level_sentinel.isEnabledFor(logging.CRITICAL)  # fill first: a change from now on empties it
    manager = logging.Logger.manager
    level = logging.getLogger("iop").getEffectiveLevel()
    for name, logger in list(manager.loggerDict.items()):
        if name.startswith("iop.") and isinstance(logger, logging.Logger):
            level = min(level, logger.getEffectiveLevel())
    _native._aio_log_level(max(level, manager.disable + 1))


def _begin() -> Tuple[asyncio.AbstractEventLoop, _Completions, "asyncio.Future[Any]"]:
    """The running loop, its completion queue and a new future on it."""
    _tell_log_level()
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        with _queues_lock:
            queue = _queues.get(loop)
            if queue is None:
                queue = _Completions()
                loop.add_reader(queue.fileno(), queue.drain)
                _queues[loop] = queue
    return loop, queue, loop.create_future()


class Client:
    """An ``iop.Client`` whose network methods are coroutines. Same constructor (network
    settings included: ``proxy``, ``ca_file``, ``trust_env``, ``timeout`` as seconds or a
    ``(connect, read)`` pair, ``retries``) and errors; ``from_client`` wraps an existing sync
    client (sharing its connections), e.g. ``iop.testing.Emulator().client()``.
    ``async with iop.aio.Client(...) as client:`` closes its connections at the end."""

    __slots__ = ("_client",)

    def __init__(
        self,
        app_key: str,
        app_secret: str,
        *,
        base_url: Optional[str] = None,
        timeout: Optional[_Timeout] = None,
        partner_id: Optional[str] = None,
        proxy: Optional[str] = None,
        ca_file: Optional[Union[str, "os.PathLike[str]"]] = None,
        trust_env: bool = False,
        retries: Optional[int] = None,
    ) -> None:
        self._client = _SyncClient(
            app_key,
            app_secret,
            base_url=base_url,
            timeout=timeout,
            partner_id=partner_id,
            proxy=proxy,
            ca_file=ca_file,
            trust_env=trust_env,
            retries=retries,
        )

    @classmethod
    def from_client(cls, client: _SyncClient) -> "Client":
        """An async client over ``client`` (an ``iop.Client``): same app, gateway, timeouts,
        clock and connection pool."""
        if not isinstance(client, _SyncClient):
            raise TypeError("client must be an iop.Client")
        made = cls.__new__(cls)
        made._client = client
        return made

    @property
    def sync(self) -> _SyncClient:
        """The ``iop.Client`` underneath, for sync code."""
        return self._client

    @property
    def app_key(self) -> str:
        """The app key."""
        return self._client.app_key

    @property
    def base_url(self) -> str:
        """The gateway base URL, without ``/rest`` or ``/sync``."""
        return self._client.base_url

    async def create_token(self, code: str, *, uuid: Optional[str] = None) -> Token:
        """``/auth/token/create``: exchanges an authorization code for a token set."""
        _, queue, future = _begin()
        _native._aio_create_token(queue, future, self._client, code, uuid)
        token: Token = await future
        return token

    async def refresh_token(self, refresh_token: str) -> Token:
        """``/auth/token/refresh``: a new token set. Store its refresh token: the old one may be
        dead. Cancelling the wait does not cancel the refresh."""
        _, queue, future = _begin()
        _native._aio_refresh_token(queue, future, self._client, refresh_token)
        token: Token = await future
        return token

    async def call(
        self,
        api: str,
        params: Optional[_native._Params] = None,
        *,
        access_token: Optional[str] = None,
        http_method: Optional[str] = None,
        files: Optional[Mapping[str, _File]] = None,
    ) -> Dict[str, Any]:
        """Calls any API (GOP path or TOP dotted name) and returns the body as a dict; gateway
        error envelopes raise ``GatewayError`` and its subclasses. ``params`` is read before the
        first ``await``: changing it afterwards does not change the request.

        ``files`` makes the call a multipart upload (POST): field name to ``bytes``, a
        ``(file_name, data)`` or ``(file_name, data, content_type)`` tuple, or a file object
        (its ``name``'s last part is the file name). The parts are read on a worker thread, not
        on the event loop: keep a file object open until the call returns."""
        _, queue, future = _begin()
        _native._aio_call(
            queue, future, self._client, api, params, access_token, http_method, False,
            _files_arg(files),
        )
        body: Dict[str, Any] = await future
        return body

    async def call_raw(
        self,
        api: str,
        params: Optional[_native._Params] = None,
        *,
        access_token: Optional[str] = None,
        http_method: Optional[str] = None,
        files: Optional[Mapping[str, _File]] = None,
    ) -> Dict[str, Any]:
        """As ``call``, but a gateway error envelope is returned as the body instead of raised
        (what the vendor SDKs' ``execute`` does). Transport failures still raise. ``files`` as
        for ``call``."""
        _, queue, future = _begin()
        _native._aio_call(
            queue, future, self._client, api, params, access_token, http_method, True,
            _files_arg(files),
        )
        body: Dict[str, Any] = await future
        return body

    def explain(
        self,
        api: str,
        params: Optional[_native._Params] = None,
        *,
        access_token: Optional[str] = None,
        timestamp_ms: Optional[int] = None,
    ) -> Dict[str, Any]:
        """``iop.Client.explain`` (nothing is sent, so not a coroutine)."""
        return self._client.explain(
            api, params, access_token=access_token, timestamp_ms=timestamp_ms
        )

    async def aclose(self) -> None:
        """Closes the pooled connections; later calls raise ``ValueError``."""
        self._client.close()

    def close(self) -> None:
        """``aclose`` for sync code (closing never waits on the network)."""
        self._client.close()

    @property
    def closed(self) -> bool:
        """Whether the client was closed."""
        return self._client.closed

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"iop.aio.{self._client!r}"


def _files_arg(files: Optional[Mapping[str, _File]]) -> Optional[Dict[str, _File]]:
    """``files`` as a dict of its own (any mapping is accepted; later changes do not count)."""
    if files is None:
        return None
    if not isinstance(files, collections.abc.Mapping):
        raise TypeError(f"files must be a mapping or None, got {type(files).__name__}")
    return dict(files)


class _AsyncStore:
    """A store whose methods are coroutine functions, seen by the core as a sync store: each
    call, made on a worker thread, runs the coroutine on the store's loop and waits for it."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_thread: Optional[int] = None
        self._lock = threading.Lock()
        # Only the methods the object has, so that the core's "no keys()/remove()" errors stay.
        for name in ("load", "save", "keys", "remove"):
            if hasattr(store, name):
                setattr(self, name, functools.partial(self._call, name))

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Binds the store to the running loop of its first use (or a new one once that loop
        is closed); another loop is refused."""
        with self._lock:
            if self._loop is loop:
                return
            if self._loop is None or self._loop.is_closed():
                self._loop = loop
                self._loop_thread = threading.get_ident()
                return
        raise RuntimeError(
            "this async store is bound to the event loop it was first used on; "
            "use one store object per event loop"
        )

    def _call(self, name: str, *args: Any) -> Any:
        value = getattr(self._store, name)(*args)
        if not inspect.isawaitable(value):
            return value
        loop = self._loop
        if loop is None or loop.is_closed():
            _close(value)
            raise RuntimeError("an async store is used through iop.aio only, on a running loop")
        if threading.get_ident() == self._loop_thread:
            _close(value)
            raise RuntimeError(
                "an async store was called on its event loop's own thread (a sync call from "
                "the loop?): waiting there would block the loop forever"
            )
        return asyncio.run_coroutine_threadsafe(_awaited(value), loop).result()


async def _awaited(value: Any) -> Any:
    return await value


def _close(value: Any) -> None:
    close = getattr(value, "close", None)
    if callable(close):
        close()


# One adapter per async store object, so that every manager over it shares its locks.
_async_stores: "weakref.WeakValueDictionary[int, _AsyncStore]" = weakref.WeakValueDictionary()


def _is_async_store(store: Any) -> bool:
    return any(
        inspect.iscoroutinefunction(getattr(store, name, None))
        for name in ("load", "save", "keys", "remove")
    )


def _adapt(store: Any) -> Tuple[Any, Optional[_AsyncStore]]:
    if store is None or not _is_async_store(store):
        return store, None
    with _queues_lock:
        adapter = _async_stores.get(id(store))
        if adapter is None or adapter._store is not store:
            adapter = _AsyncStore(store)
            _async_stores[id(store)] = adapter
    return adapter, adapter


class TokenManager:
    """An ``iop.TokenManager`` whose methods are coroutines: keeps sellers' tokens valid,
    refreshing inside ``margin`` (default 3 days), one refresh per seller at a time. ``client``
    is an ``iop.aio.Client`` or an ``iop.Client``; ``store`` as for ``iop.TokenManager``, and
    it may also be an object whose ``load``/``save``/``keys``/``remove`` are coroutines."""

    __slots__ = ("_manager", "_async_store", "_loop", "__weakref__")

    def __init__(
        self,
        client: Union[Client, _SyncClient],
        store: _Store = None,
        *,
        margin: Optional[_Seconds] = None,
    ) -> None:
        sync_client = client._client if isinstance(client, Client) else client
        if not isinstance(sync_client, _SyncClient):
            raise TypeError("client must be an iop.aio.Client or an iop.Client")
        native_store, self._async_store = _adapt(store)
        self._manager = _SyncTokenManager(sync_client, native_store, margin=margin)
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    @property
    def sync(self) -> _SyncTokenManager:
        """The ``iop.TokenManager`` underneath (same store, same per-seller locks), for sync
        code such as a cron job or a worker thread."""
        return self._manager

    def _begin(self) -> Tuple[asyncio.AbstractEventLoop, _Completions, "asyncio.Future[Any]"]:
        loop, queue, future = _begin()
        self._loop = loop
        if self._async_store is not None:
            self._async_store.bind(loop)
        return loop, queue, future

    async def put(self, key: str, token: Token) -> None:
        """Stores ``token`` for ``key``, replacing what is there."""
        _, queue, future = self._begin()
        _native._aio_manager(queue, future, self._manager, "put", key, token)
        await future

    async def get(self, key: str) -> Optional[Token]:
        """The stored token of ``key``, or None."""
        _, queue, future = self._begin()
        _native._aio_manager(queue, future, self._manager, "get", key)
        token: Optional[Token] = await future
        return token

    async def remove(self, key: str) -> bool:
        """Forgets ``key``; returns whether something was stored. A custom store needs a
        ``remove(key)`` method for this."""
        _, queue, future = self._begin()
        _native._aio_manager(queue, future, self._manager, "remove", key)
        removed: bool = await future
        return removed

    async def access_token(self, key: str) -> str:
        """A valid access token for ``key``, refreshing first when it expires within the
        margin (once, however many tasks ask at the same time). Raises
        ``ReauthorizationRequired`` when the seller must authorize again. Cancelling the wait
        does not cancel a refresh under way: its token is saved."""
        _, queue, future = self._begin()
        _native._aio_manager(queue, future, self._manager, "access_token", key)
        token: str = await future
        return token

    async def call(
        self,
        key: str,
        api: str,
        params: Optional[_native._Params] = None,
        *,
        files: Optional[Mapping[str, _File]] = None,
        method: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Calls any API for the seller ``key`` (see ``iop.TokenManager.call``): a valid access
        token, the call, and when the gateway refuses that token, one refresh (shared by every
        caller refused the same token, tasks and threads alike) and one retry. ``method`` is the
        HTTP method; ``files`` as for ``Client.call`` (read on a worker thread)."""
        _, queue, future = self._begin()
        _native._aio_manager_call(
            queue, future, self._manager, key, api, params, _files_arg(files), method, False
        )
        body: Dict[str, Any] = await future
        return body

    async def call_raw(
        self,
        key: str,
        api: str,
        params: Optional[_native._Params] = None,
        *,
        files: Optional[Mapping[str, _File]] = None,
        method: Optional[str] = None,
    ) -> Dict[str, Any]:
        """As ``call``, but a gateway error envelope is returned as the body instead of raised."""
        _, queue, future = self._begin()
        _native._aio_manager_call(
            queue, future, self._manager, key, api, params, _files_arg(files), method, True
        )
        body: Dict[str, Any] = await future
        return body

    async def refresh_due(
        self,
        within: Optional[_Seconds] = None,
        *,
        concurrency: int = 8,
        progress: Optional[Callable[[int, int], object]] = None,
    ) -> RefreshReport:
        """Refreshes every stored token expiring within ``within`` (default 3 days),
        ``concurrency`` (1 to 1024) at a time. ``progress(done, total)`` is called on the event
        loop after each seller."""
        loop, queue, future = self._begin()
        relay: Optional[Callable[[int, int], None]] = None
        if progress is not None:
            if not callable(progress):
                raise TypeError("progress must be callable")
            callback = progress

            def relay(done: int, total: int) -> None:
                try:
                    loop.call_soon_threadsafe(callback, done, total)
                except RuntimeError:
                    pass  # the loop is closed: nobody is listening any more

        run = functools.partial(
            self._manager.refresh_due, within, concurrency=concurrency, progress=relay
        )
        _native._aio_run(queue, future, run, ())
        report: RefreshReport = await future
        return report

    def on_reauthorization_required(self, callback: _F) -> _F:
        """Registers ``callback(key, error)``, called once each time a seller is found to need
        authorizing again (``error`` is an ``iop.ReauthorizationRequired``). It is called on the
        event loop of the call that found it; a coroutine function is run there as a task.
        Returns the callback, so it can be used as a decorator."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        is_coroutine = inspect.iscoroutinefunction(callback)
        manager = weakref.ref(self)

        def relay(key: str, error: Any) -> None:
            owner = manager()
            loop = owner._loop if owner is not None else None
            if loop is None or loop.is_closed():
                if not is_coroutine:
                    callback(key, error)
                return
            try:
                if is_coroutine:
                    asyncio.run_coroutine_threadsafe(_awaited(callback(key, error)), loop)
                else:
                    loop.call_soon_threadsafe(callback, key, error)
            except RuntimeError:
                pass  # the loop closed meanwhile

        self._manager.on_reauthorization_required(relay)
        return callback

    def __repr__(self) -> str:
        return f"iop.aio.{self._manager!r}"
