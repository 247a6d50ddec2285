"""Control API handlers for sessions (/mock/v1/sessions): thin wrappers over Provider."""

from __future__ import annotations

from typing import Any

from .context import next_offset, no_body, ok, provider


async def create(body: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    mock = provider()
    session = await mock.create_session(
        label=body.get("label"), claims=body.get("claims"), idle_timeout_s=body.get("idle_timeout_s")
    )
    return ok(await mock.describe(session), 201)


async def list_all(offset: int = 0, limit: int = 100) -> tuple[Any, int, dict[str, str]]:
    mock = provider()
    live = await mock.live_sessions()
    page = live[offset : offset + limit]
    return ok(
        {
            "total": len(live),
            "next_offset": next_offset(offset, len(page), len(live)),
            "sessions": [await mock.describe(s) for s in page],
        }
    )


async def get_one(session_id: str) -> tuple[Any, int, dict[str, str]]:
    mock = provider()
    return ok(await mock.describe(await mock.session(session_id)))


async def set_claims(session_id: str, body: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    mock = provider()
    return ok(await mock.describe(await mock.set_claims(session_id, body)))


async def end(session_id: str) -> tuple[Any, int, dict[str, str]]:
    await no_body("ending a session")  # options sent here would look applied: it takes none
    payments, deliveries = await provider().end_session(session_id)
    return ok({"session_id": session_id, "payments_removed": payments, "deliveries_removed": deliveries})
