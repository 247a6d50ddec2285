"""Payments: the record, its state machine and the idempotency rule. No I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .clock import iso
from .errors import BadRequest, Conflict, Forbidden

PENDING = "PENDING"
COMPLETED = "PAYMENT_COMPLETED"
FAILED = "PAYMENT_FAILED"
STATUSES = (PENDING, COMPLETED, FAILED)

# Fields that make two creates of one tx_id "the same request".
IDENTITY_FIELDS = ("order_id", "user_id", "amount", "callback_url")


def payment_id_for(tx_id: str) -> str:
    return "pay_" + tx_id


def tx_id_of(payment_id: str) -> str:
    return payment_id[4:]


# scheme://authority: what urlsplit calls the netloc, found without it (it may raise, quoting the URL)
_AUTHORITY = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://)?([^/?#]*)")


def check_callback_url(url: str) -> None:
    """What the contract's `uri` format and pattern let through but no webhook could reach or should
    carry: a port outside 1-65535, no host, a host name DNS cannot encode (an empty label, one over 63
    characters), or credentials (`user:pass@`), which paymock would not send and listings would show.
    Refused at create, rather than failing every delivery attempt until the end."""
    if "@" in _AUTHORITY.match(url)[1]:  # type: ignore[index]  # first: every message below quotes the URL
        # not echoed: problems are logged, and this URL holds a password
        raise BadRequest("callback_url must not carry credentials (user:password@): paymock would not send them")
    quoted = repr(url[:200])
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadRequest(f"callback_url {quoted}: {exc}") from None
    if port == 0:
        raise BadRequest(f"callback_url {quoted}: port 0 cannot be connected to")
    host = parts.hostname
    if not host:
        raise BadRequest(f"callback_url {quoted}: has no host")
    try:
        host.encode("idna")  # what the resolver does with it; asyncio raises UnicodeError too
    except UnicodeError as exc:
        raise BadRequest(f"callback_url {quoted}: host {host[:80]!r} is not a valid host name ({exc})") from None


def callback_host(url: str) -> str:
    """The host a webhook to `url` goes to, as PAYMOCK_CALLBACK_HOSTS lists it (lower case)."""
    return (urlsplit(url).hostname or "").lower()


def check_callback_host(url: str, allowed: frozenset[str]) -> None:
    """With an allowlist (PAYMOCK_CALLBACK_HOSTS), a callback_url elsewhere is refused at create: its
    webhooks would never be sent, and the payment would wait out the whole retry schedule (~27 h at
    time scale 1) as PENDING."""
    if not allowed:
        return
    host = callback_host(url)
    if host not in allowed:
        raise Forbidden(
            f"callback_url host {host[:80]!r} is not one this paymock sends webhooks to; "
            f"PAYMOCK_CALLBACK_HOSTS allows: {', '.join(sorted(allowed))}. Nothing was stored"
        )


# weakref_slot: the sqlite store keeps live objects in a weak identity map (see store/sqlite.py)
@dataclass(slots=True, weakref_slot=True)
class Payment:
    tx_id: str
    order_id: int
    user_id: int
    amount: int
    callback_url: str
    scenario: str
    created_at: float
    status: str = PENDING
    confirmed_at: float | None = None
    failure_reason: str | None = None
    session_id: str | None = None  # the session it was created in (None: global); never in webhooks

    @property
    def payment_id(self) -> str:
        return payment_id_for(self.tx_id)

    def identity(self) -> dict[str, Any]:
        """The request fields this payment was created from (what match rules look at)."""
        return {"tx_id": self.tx_id, **{f: getattr(self, f) for f in IDENTITY_FIELDS}}

    def check_same_request(self, request: dict[str, Any]) -> None:
        """A repeat of tx_id must carry the same fields; anything else is a conflict, never an overwrite."""
        differing = [f for f in IDENTITY_FIELDS if request[f] != getattr(self, f)]
        if differing:
            raise Conflict(
                f"tx_id {self.tx_id!r} already exists with different {', '.join(differing)}; "
                "a repeated tx_id must repeat the same fields"
            )

    def check_same_scenario(self, requested: str | None) -> None:
        """A repeat that names a scenario must name this payment's: the stored payment is answered and
        no scenario runs again, so a different one would look run when it was not. Only an explicit
        name counts; match rules and the active scenario may have changed since the create."""
        if requested and requested != self.scenario:  # "" is no header, as in ScenarioBook.select
            raise Conflict(
                f"tx_id {self.tx_id!r} already exists, created under scenario {self.scenario!r}; this request "
                f"names scenario {requested!r}, but a repeated tx_id only answers the stored payment and "
                f"runs no scenario: use a new tx_id to run {requested!r}"
            )

    def complete(self, at: float) -> bool:
        """Mark completed; returns False if it already was. A failed payment cannot complete."""
        if self.status == FAILED:
            raise Conflict(f"payment {self.payment_id} failed ({self.failure_reason}); it cannot be confirmed")
        if self.status == COMPLETED:
            return False
        self.status = COMPLETED
        if self.confirmed_at is None:
            self.confirmed_at = at
        return True

    def fail(self, reason: str) -> None:
        self.status = FAILED
        self.failure_reason = reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "order_id": self.order_id,
            "tx_id": self.tx_id,
            "user_id": self.user_id,
            "amount": self.amount,
            "status": self.status,
            "created_at": iso(self.created_at),
            "confirmed_at": iso(self.confirmed_at),
            "callback_url": self.callback_url,
            "scenario": self.scenario,
            "failure_reason": self.failure_reason,
        }
