"""Provider API handlers (/api/v2): thin wrappers over Provider."""

from __future__ import annotations

from typing import Any

from ..domain.clock import iso
from .context import next_offset, ok, provider, scenario_header, session_header


async def create(body: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    payment = (await provider().create(body, scenario_header(), session_header())).payment
    answer: dict[str, Any] = {
        "ok": True,
        "tx_id": payment.tx_id,
        "status": payment.status,
        "payment_id": payment.payment_id,
    }
    if payment.failure_reason:
        answer["failure_reason"] = payment.failure_reason
    return ok(answer)


async def confirm(body: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    payment = await provider().confirm(body["payment_id"], scenario_header(), session_header())
    return ok(
        {
            "ok": True,
            "payment_id": payment.payment_id,
            "status": payment.status,
            "confirmed_at": iso(payment.confirmed_at),
        }
    )


async def listing(
    status: str | None = None,
    scenario: str | None = None,
    tx_id_prefix: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[Any, int, dict[str, str]]:
    items, total, counts = await provider().listing(
        scenario_header(),
        session_header(),
        status=status,
        scenario=scenario,
        tx_id_prefix=tx_id_prefix,
        offset=offset,
        limit=limit,
    )
    return ok(
        {
            "pending_count": counts["PENDING"],
            "completed_count": counts["PAYMENT_COMPLETED"],
            "failed_count": counts["PAYMENT_FAILED"],
            "total": total,
            "next_offset": next_offset(offset, len(items), total),
            "payments": {p.payment_id: p.to_dict() for p in items},
        }
    )
