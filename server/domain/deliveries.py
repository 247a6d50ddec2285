"""Deliveries: one per webhook event, with the attempts made to deliver it.

Bodies and headers are not stored per attempt: they are derived from the payment, the event and
the attempt's time and faults, which keeps 100k deliveries small in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clock import iso
from .payments import Payment
from .scenarios.model import WebhookPlan
from .webhooks import build_headers, encode, malform, payload, webhook_id

PENDING = "pending"
ACKNOWLEDGED = "acknowledged"
FAILED = "failed"
DROPPED = "dropped"
STATES = (PENDING, ACKNOWLEDGED, FAILED, DROPPED)
SETTLED = (ACKNOWLEDGED, FAILED, DROPPED)

SCHEDULED, DUPLICATE, MANUAL = "scheduled", "duplicate", "manual"


def never_reaches(state: str, wanted: str) -> bool:
    """A delivery in `state` can no longer reach `wanted` (a state, not `settled`/`attempted`) by itself:
    a settled delivery stays as it is unless someone sends it again (redeliver, confirm). Duplicates
    may still follow an acknowledgement, so counted attempts are not judged here."""
    return state in SETTLED and wanted in SETTLED and state != wanted


@dataclass(slots=True)
class Attempt:
    number: int
    kind: str
    at: float
    status_code: int | None = None
    error: str | None = None
    latency_ms: float = 0.0
    simulated: bool = False
    signature: str = "valid"
    body: str = "valid"

    @property
    def acknowledged(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# weakref_slot: the sqlite store keeps live objects in a weak identity map (see store/sqlite.py)
@dataclass(slots=True, weakref_slot=True)
class Delivery:
    tx_id: str
    event: str
    scenario: str
    callback_url: str
    plan: WebhookPlan
    occurred_at: float  # when the event happened: the webhook body's confirmed_at
    created_at: float
    state: str = PENDING
    next_attempt_at: float | None = None  # wall clock, for display and resuming after a restart
    # a tuple: most deliveries have one attempt, and a 1-tuple is smaller than a list
    attempts: tuple[Attempt, ...] = ()
    started: int = 0  # attempts begun (numbers are given out at the start, recorded at the end)
    reason: str | None = None  # why it failed or was dropped
    session_id: str | None = None  # the session its payment belongs to (None: global); never sent

    @property
    def delivery_id(self) -> str:
        """Derived, not stored (one string less per delivery): one delivery per event and payment."""
        return webhook_id(self.event, self.tx_id)

    @property
    def payment_id(self) -> str:
        return "pay_" + self.tx_id

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    def begin(self) -> int:
        self.started += 1
        return self.started

    def record(self, attempt: Attempt) -> None:
        attempts = (*self.attempts, attempt)
        if len(attempts) > 1 and attempts[-2].number > attempt.number:
            attempts = tuple(sorted(attempts, key=lambda a: a.number))
        self.attempts = attempts

    def faults(self) -> list[str]:
        return list(self.plan.fault_labels())

    def body_for(self, payment: Payment, mode: str = "valid") -> bytes:
        body = encode(payload(payment, self.event, self.occurred_at))
        return malform(body) if mode == "malformed" else body

    def headers_for(self, attempt: Attempt, body: bytes, secret: str, auth_token: str | None) -> dict[str, str]:
        return build_headers(
            secret=secret,
            event=self.event,
            msg_id=self.delivery_id,
            body=body,
            now=attempt.at,
            signature=attempt.signature,
            auth_token=auth_token,
        )

    def summary(self) -> dict[str, Any]:
        last = self.last
        return {
            "delivery_id": self.delivery_id,
            "payment_id": self.payment_id,
            "tx_id": self.tx_id,
            "event": self.event,
            "scenario": self.scenario,
            "callback_url": self.callback_url,
            "state": self.state,
            "attempt_count": len(self.attempts),
            "created_at": iso(self.created_at),
            "next_attempt_at": iso(self.next_attempt_at) if self.state == PENDING else None,
            "last_status_code": last.status_code if last else None,
            "last_error": (last.error if last else None) or (self.reason if self.state != ACKNOWLEDGED else None),
            "faults": self.faults(),
            "session_id": self.session_id,
        }

    def detail(self, payment: Payment | None, secret: str, auth_token: str | None) -> dict[str, Any]:
        """Summary plus every attempt with the exact headers and body it sent (token redacted)."""
        out = self.summary()
        attempts = []
        for a in self.attempts:
            body = self.body_for(payment, a.body) if payment else b""
            headers = self.headers_for(a, body, secret, auth_token) if payment else {}
            if "Authorization" in headers:
                headers["Authorization"] = "Bearer ***"
            attempts.append(
                {
                    "number": a.number,
                    "kind": a.kind,
                    "at": iso(a.at),
                    "status_code": a.status_code,
                    "error": a.error,
                    "latency_ms": round(a.latency_ms, 3),
                    "simulated": a.simulated,
                    "signature": a.signature,
                    "body": a.body,
                    "request_headers": {} if a.simulated else headers,
                    "request_body": "" if a.simulated else body.decode("utf-8", "replace"),
                }
            )
        out["attempts"] = attempts
        return out
