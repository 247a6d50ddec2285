"""Control API handlers for payments' deliveries (/mock/v1/deliveries, /wait-for-delivery, ...)."""

from __future__ import annotations

from typing import Any

from ..domain.payments import tx_id_of
from .context import next_offset, no_body, ok, provider
from .context import session as current_session


async def payment_detail(payment_id: str) -> tuple[Any, int, dict[str, str]]:
    mock = provider()
    payment, deliveries = await mock.payment_detail(payment_id, await current_session())
    detail = {**payment.to_dict(), "session_id": payment.session_id}  # control answers only: not the provider's
    return ok({"payment": detail, "deliveries": [await mock.delivery_detail(d) for d in deliveries]})


async def list_all(
    payment_id: str | None = None,
    tx_id: str | None = None,
    state: str | None = None,
    event: str | None = None,
    scenario: str | None = None,
    offset: int = 0,
    limit: int = 100,
    session: str | None = None,  # `all`: every session's (the console's view)
) -> tuple[Any, int, dict[str, str]]:
    mock = provider()
    named = await current_session()  # an unknown session named is a 404, `all` or not, whatever the filters
    if payment_id is not None:
        if tx_id is not None and tx_id != tx_id_of(payment_id):  # filters combine: different payments
            return ok({"total": 0, "next_offset": None, "deliveries": []})
        tx_id = tx_id_of(payment_id)
    scope = await mock.all_sessions() if session == "all" else named.session_id
    items, total = await mock.store.list_deliveries(
        tx_id=tx_id, state=state, event=event, scenario=scenario, offset=offset, limit=limit, session=scope
    )
    page = {"total": total, "next_offset": next_offset(offset, len(items), total)}
    return ok({**page, "deliveries": [d.summary() for d in items]})


async def get_one(delivery_id: str) -> tuple[Any, int, dict[str, str]]:
    mock = provider()
    return ok(await mock.delivery_detail(await mock.delivery(delivery_id, await current_session())))


async def redeliver(delivery_id: str) -> tuple[Any, int, dict[str, str]]:
    await no_body("redeliver")  # before anything is sent
    mock = provider()
    return ok(await mock.delivery_detail(await mock.redeliver(delivery_id, await current_session())))


async def wait(
    tx_id: str,
    event: str | None = None,
    state: str = "settled",
    min_attempts: int | None = None,
    timeout_ms: int = 2_000,
) -> tuple[Any, int, dict[str, str]]:
    mock = provider()
    if min_attempts is None:  # `attempted` alone means at least one; the other states ask for none
        min_attempts = 1 if state == "attempted" else 0
    attempts = f" with {min_attempts}+ attempts" if min_attempts > 1 else ""
    found = await mock.wait(
        tx_id=tx_id,
        event=event,
        state=state,
        min_attempts=min_attempts,
        timeout_s=timeout_ms / 1000.0,
        session=await current_session(),
        asked=f"not {state}{attempts} within {timeout_ms} ms",
    )
    return ok(await mock.delivery_detail(found))
