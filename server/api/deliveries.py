"""Control API handlers for payments' deliveries (/mock/v1/deliveries, /wait-for-delivery, ...)."""

from __future__ import annotations

from typing import Any

from ..domain.errors import BadRequest, WaitTimeout
from ..domain.payments import tx_id_of
from ..domain.webhooks import webhook_id
from ..store.base import ALL_SESSIONS
from .context import next_offset, no_body, ok, provider
from .context import session as current_session


async def payment_detail(payment_id: str) -> tuple[Any, int, dict[str, str]]:
    mock = provider()
    payment, deliveries = mock.payment_detail(payment_id, current_session())
    detail = {**payment.to_dict(), "session_id": payment.session_id}  # control answers only: not the provider's
    return ok({"payment": detail, "deliveries": [mock.delivery_detail(d) for d in deliveries]})


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
    if payment_id is not None:
        if tx_id is not None and tx_id != tx_id_of(payment_id):
            raise BadRequest(f"payment_id {payment_id!r} and tx_id {tx_id!r} name different payments")
        tx_id = tx_id_of(payment_id)
    mock = provider()
    scope = ALL_SESSIONS if session == "all" else current_session().session_id
    items, total = mock.store.list_deliveries(
        tx_id=tx_id, state=state, event=event, scenario=scenario, offset=offset, limit=limit, session=scope
    )
    page = {"total": total, "next_offset": next_offset(offset, len(items), total)}
    return ok({**page, "deliveries": [d.summary() for d in items]})


async def get_one(delivery_id: str) -> tuple[Any, int, dict[str, str]]:
    mock = provider()
    return ok(mock.delivery_detail(mock.delivery(delivery_id, current_session())))


async def redeliver(delivery_id: str) -> tuple[Any, int, dict[str, str]]:
    await no_body("redeliver")  # before anything is sent
    mock = provider()
    return ok(mock.delivery_detail(await mock.redeliver(delivery_id, current_session())))


SELECTORS = ("delivery_id", "payment_id", "tx_id")


def check_wait(selectors: dict[str, str | None], event: str | None, state: str, min_attempts: int) -> None:
    """A 400 for a wait-for-delivery query where one parameter makes another meaningless."""
    named = [name for name in SELECTORS if selectors[name] is not None]
    if not named:
        raise BadRequest("name what to wait for: exactly one of delivery_id, payment_id or tx_id")
    if len(named) > 1:
        given = [f"{name}={selectors[name]!r}" for name in named]
        listed = ", ".join(given[:-1]) + " and " + given[-1]
        raise BadRequest(f"{listed} each name what to wait for: give exactly one of delivery_id, payment_id or tx_id")
    delivery_id = selectors["delivery_id"]
    # the id holds its event already (evt_completed_... / evt_failed_...): an event that agrees is harmless
    if delivery_id is not None and event is not None and not delivery_id.startswith(webhook_id(event, "")):
        raise BadRequest(
            f"event={event!r} contradicts delivery_id={delivery_id!r}, which names one delivery and its event: "
            "drop event, or name the payment (payment_id or tx_id) instead of the delivery"
        )
    if min_attempts != 1 and state != "attempted":  # 1 (the default) asks for nothing; clients send it
        default = " (the default)" if state == "settled" else ""
        raise BadRequest(
            f"min_attempts={min_attempts} counts only with state=attempted, not state={state}{default}: "
            "send state=attempted, or drop min_attempts"
        )


async def wait(
    delivery_id: str | None = None,
    payment_id: str | None = None,
    tx_id: str | None = None,
    event: str | None = None,
    state: str = "settled",
    min_attempts: int = 1,
    timeout_ms: int = 10_000,
) -> tuple[Any, int, dict[str, str]]:
    check_wait({"delivery_id": delivery_id, "payment_id": payment_id, "tx_id": tx_id}, event, state, min_attempts)
    mock = provider()
    found, where = await mock.wait(
        delivery_id=delivery_id,
        tx_id=tx_id_of(payment_id) if payment_id else tx_id,
        event=event,
        state=state,
        min_attempts=min_attempts,
        timeout_s=timeout_ms / 1000.0,
        session=current_session(),
    )
    if found is None:
        raise WaitTimeout(f"not {state} within {timeout_ms} ms: {where}")
    return ok(mock.delivery_detail(found))
