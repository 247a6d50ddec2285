"""Control API handlers for reset and health."""

from __future__ import annotations

from typing import Any

from .. import __version__
from .context import no_body, ok, provider, session


async def reset() -> tuple[Any, int, dict[str, str]]:
    await no_body("reset")  # options sent here would look applied: reset takes none
    payments, deliveries = await provider().reset(await session())
    return ok({"ok": True, "payments_removed": payments, "deliveries_removed": deliveries})


async def health() -> tuple[Any, int, dict[str, str]]:
    mock = provider()
    return ok({**(await mock.health()), "version": __version__, "auth_required": mock.auth_token is not None})
