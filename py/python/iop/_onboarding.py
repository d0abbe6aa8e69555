"""Seller onboarding: the authorization URL (the state check and code exchange are
``TokenManager.complete_authorization``)."""

from __future__ import annotations

from typing import Optional

from . import _native


def authorization_url(
    app_key: str,
    redirect_uri: str,
    *,
    state: str,
    platform: str = "aliexpress",
    country: Optional[str] = None,
    uuid: Optional[str] = None,
    base_url: Optional[str] = None,
) -> str:
    """The URL of the platform's authorization page for a seller.

    ``platform`` is ``"aliexpress"`` or ``"lazada"``; ``country`` (Lazada: sg, my, th, vn, ph, id,
    cb) and ``uuid`` (AliExpress) are optional. ``state`` is what you expect back in the redirect:
    make it with ``iop.new_state()`` and keep it with the seller's session. ``base_url`` puts the
    page on another host (``iop.testing.Emulator``'s ``base_url`` in tests). Bad arguments raise
    ``ValueError``/``TypeError``.
    """
    return _native.authorization_url(
        app_key, redirect_uri, state=state, platform=platform, country=country, uuid=uuid, base_url=base_url
    )
