"""Typed entries of ``iop.RefreshReport`` and the shape of a custom token store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Dict, Mapping, NamedTuple, Optional, Protocol, runtime_checkable

__all__ = ["AsyncCustomStore", "CustomStore", "ReauthorizationNotice", "RefreshFailure"]


class RefreshFailure(NamedTuple):
    """A seller whose refresh failed in ``refresh_due``: its ``key``, the ``error_class`` (one
    of ``"signature"``, ``"refresh"``, ``"rate_limited"``, ``"retryable"``, ``"client"``,
    ``"unknown"``) and the ``message`` (no secret)."""

    key: str
    error_class: str
    message: str


class ReauthorizationNotice(NamedTuple):
    """A seller who must authorize the app again: its ``key`` and the ``time_left`` before its
    access token dies (``None``: already dead)."""

    key: str
    time_left: Optional[timedelta]


@runtime_checkable
class CustomStore(Protocol):
    """A token store of your own, for ``iop.TokenManager(client, store)``: ``load`` answers the
    token dict saved for ``key`` (or ``None``), ``save`` keeps it. Optional methods the manager
    uses when present: ``keys()`` (for ``refresh_due``) and ``remove(key)`` (for ``remove``)."""

    def load(self, key: str) -> Optional[Mapping[str, Any]]: ...

    def save(self, key: str, token: Dict[str, Any]) -> object: ...


@runtime_checkable
class AsyncCustomStore(Protocol):
    """A custom store whose methods are coroutines, for ``iop.aio.TokenManager``."""

    async def load(self, key: str) -> Optional[Mapping[str, Any]]: ...

    async def save(self, key: str, token: Dict[str, Any]) -> object: ...
