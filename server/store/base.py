"""The Store seam: what the server needs from storage, whatever the engine."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..domain.deliveries import Delivery
from ..domain.payments import Payment

# `session=` of list_deliveries: every session's deliveries (the console's "all" view). Elsewhere
# `session` is a session id, or None for the global session.
ALL_SESSIONS = "*"

# What a store keeps of a session (see domain/sessions.py): session_id, label, claims (a dict),
# idle_timeout_s, created_at, last_used_at, active_scenario, scenarios (name -> document).
SessionRecord = dict[str, Any]


class Store(Protocol):
    name: str

    def get_payment(self, payment_id: str) -> Payment | None: ...

    def add_payment(self, payment: Payment) -> bool:
        """Insert; False (and nothing changed) if the payment id exists."""
        ...

    def save_payment(self, payment: Payment) -> None:
        """Persist a changed payment (status, confirmed_at)."""
        ...

    def list_payments(
        self,
        *,
        status: str | None = None,
        scenario: str | None = None,
        tx_id_prefix: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        session: str | None = None,
    ) -> tuple[list[Payment], int]:
        """The session's matching payments oldest first, and how many match in all."""
        ...

    def counts(self, session: str | None = None) -> dict[str, int]:
        """Number of the session's (or ALL_SESSIONS') payments by status."""
        ...

    def delivery_count(self, session: str | None = None) -> int:
        """Number of the session's deliveries."""
        ...

    def add_delivery(self, delivery: Delivery) -> None: ...

    def save_delivery(self, delivery: Delivery) -> None:
        """Persist a changed delivery (state, attempts, next attempt)."""
        ...

    def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    def deliveries_for(self, tx_id: str) -> list[Delivery]: ...

    def list_deliveries(
        self,
        *,
        tx_id: str | None = None,
        state: str | None = None,
        event: str | None = None,
        scenario: str | None = None,
        offset: int = 0,
        limit: int | None = 100,
        session: str | None = None,
    ) -> tuple[list[Delivery], int]:
        """The session's (or ALL_SESSIONS') matching deliveries newest first, and how many match in all."""
        ...

    def pending_deliveries(self) -> list[Delivery]:
        """Deliveries still to be attempted, every session's (to resume after a restart)."""
        ...

    def clear(self) -> tuple[int, int]:
        """Forget everything, sessions included; returns (payments, deliveries) removed."""
        ...

    def clear_session(self, session: str) -> tuple[int, int]:
        """Forget one session's payments and deliveries; returns (payments, deliveries) removed."""
        ...

    # get_payment, get_delivery and deliveries_for look across every session: tx_ids are unique in the
    # server (idempotency is global); callers check the object's session_id.

    def save_session(self, record: SessionRecord) -> None:
        """Insert or replace a session's record."""
        ...

    def delete_session(self, session_id: str) -> None: ...

    def load_sessions(self) -> list[SessionRecord]:
        """Every stored session, oldest first (expired ones too: the caller ends those)."""
        ...

    def atomic(self, *restore: object) -> AbstractContextManager[None]:
        """Writes inside the block land together or not at all (a payment and its first delivery),
        so a crash between them cannot leave a payment whose webhook is never sent. The objects named
        in `restore`, which the block changes, get their fields back if it fails (`restored_on_failure`)."""
        ...

    def close(self) -> None: ...


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@contextlib.contextmanager
def restored_on_failure(objects: Iterable[object]) -> Iterator[None]:
    """If the block raises, each object (a Payment, a Delivery) gets back the field values it had when
    the block began. Live objects must say what the store says: in memory they are its records, and a
    durable store's rolled-back transaction leaves them changed otherwise (a delivery "acknowledged" in
    memory but pending in the file would skip its own retry)."""
    saved = [(obj, [(name, getattr(obj, name)) for name in _field_names(type(obj))]) for obj in objects]
    try:
        yield
    except BaseException:
        for obj, values in saved:
            for name, value in values:
                setattr(obj, name, value)
        raise
