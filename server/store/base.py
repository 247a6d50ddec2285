"""The Store seam: what the server needs from storage, whatever the engine."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from ..domain.deliveries import Delivery
from ..domain.payments import Payment

# `session=` of list_deliveries: every session's deliveries (the console's "all" view). Elsewhere
# `session` is a session id, or None for the global session.
ALL_SESSIONS = "*"

# What a store keeps of a session (see domain/sessions.py): session_id, label, claims (a dict),
# idle_timeout_s, created_at, last_used_at, active_scenario, scenarios (name -> document), api_calls.
# session_id None is the global session's book (active_scenario, scenarios, api_calls; label and claims
# None, idle_timeout_s 0): stored like a session, so a durable store keeps it across a restart.
SessionRecord = dict[str, Any]


class Store(Protocol):
    """Every data method is a coroutine: a store may talk to a server (postgres). Memory and sqlite do
    their work without suspending, so between two awaits of theirs nothing else runs, as before."""

    name: str
    # True for a store several processes share (postgres): see SharedStore
    shared: bool

    async def get_payment(self, payment_id: str) -> Payment | None: ...

    async def add_payment(self, payment: Payment, delivery: Delivery | None = None) -> bool:
        """Insert; False (and nothing changed) if the payment id exists. With `delivery` (the payment's
        first webhook) both land together or neither: a crash between two writes must not leave a
        payment whose webhook never goes out; on a server store it is also one round trip, not a
        transaction of four. A stored delivery of that id is left as it is (add_delivery's rule)."""
        ...

    async def save_payment(self, payment: Payment) -> bool:
        """Persist a changed payment (status, confirmed_at). A payment only ever moves on from PENDING
        once: False (nothing written) when the stored one was no longer PENDING, completed by another
        process, or is no longer the row the object was read from, removed by a reset (shared stores):
        the caller reloads it. Memory and sqlite: always True."""
        ...

    async def complete_payment(self, payment_id: str, at: float) -> None:
        """A completed-event webhook was acknowledged: the payment, if still PENDING, completes as of `at`
        (its live object too); one that moved on already (completed by a confirm, or by another process)
        keeps what it has. No answer to await: a server store may send it with the block's other writes
        (postgres: a webhook attempt's outcome is one statement)."""
        ...

    async def list_payments(
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

    async def counts(self, session: str | None = None) -> dict[str, int]:
        """Number of the session's (or ALL_SESSIONS') payments by status."""
        ...

    async def delivery_count(self, session: str | None = None) -> int:
        """Number of the session's deliveries."""
        ...

    async def add_delivery(self, delivery: Delivery) -> bool:
        """Insert; False (and nothing changed) if the delivery id exists: another process's confirm
        made it first (shared stores)."""
        ...

    async def save_delivery(self, delivery: Delivery) -> None:
        """Persist a changed delivery (state, attempts, next attempt). Shared stores: only onto the row it
        was read from; the object of a row a reset removed writes nothing, even when its id is used again."""
        ...

    async def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    async def deliveries_for(self, tx_id: str) -> list[Delivery]: ...

    async def list_deliveries(
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

    async def pending_deliveries(self) -> list[Delivery]:
        """Deliveries still to be attempted, every session's (to resume after a restart)."""
        ...

    async def clear(self) -> tuple[int, int]:
        """Forget everything, sessions included; returns (payments, deliveries) removed."""
        ...

    async def clear_session(self, session: str) -> tuple[int, int]:
        """Forget one session's payments and deliveries; returns (payments, deliveries) removed."""
        ...

    # get_payment, get_delivery and deliveries_for look across every session: tx_ids are unique in the
    # server (idempotency is global); callers check the object's session_id.

    async def save_session(self, record: SessionRecord) -> None:
        """Insert or replace a session's record (session_id None: the global session's book)."""
        ...

    async def delete_session(self, session_id: str) -> None: ...

    async def load_sessions(self) -> list[SessionRecord]:
        """Every stored session, oldest first (expired ones too: the caller ends those), and the global
        session's book (session_id None) if it was saved."""
        ...

    def atomic(self, *restore: object) -> AbstractAsyncContextManager[None]:
        """Writes inside the block land together or not at all (a payment and its first delivery),
        so a crash between them cannot leave a payment whose webhook is never sent. The objects named
        in `restore`, which the block changes, get their fields back if it fails (`restored_on_failure`).
        `async with store.atomic(...)`."""
        ...

    async def close(self) -> None: ...


class SharedStore(Store, Protocol):
    """What only a store shared by processes has (postgres): leases on deliveries, API-fault counters
    counted in the store, and a version number of the shared session state to poll."""

    owner: str  # this process's id (leases)

    async def claim_delivery(self, delivery_id: str, until: float) -> Delivery | None:
        """Lease a pending delivery to this process up to `until` (epoch s) if its lease is ours or
        expired; the (refreshed) delivery, or None (another process holds it, settled, or gone)."""
        ...

    async def claim_due(self, until: float, limit: int) -> list[Delivery]:
        """Pending deliveries whose lease expired (a dead or slow process's), leased to this process up
        to `until` (one due later: up to a lease past its due time); oldest next_attempt_at first; FOR UPDATE
        SKIP LOCKED."""
        ...

    async def lock_claims(self) -> None:
        """Inside atomic(): until the block ends, no other process (nor task) changes sessions' claims or
        books; the block reads what it changes as stored (every session's claims, a session's book), changes
        it, and saves."""
        ...

    async def release_leases(self) -> int:
        """A graceful stop: the leases of this process's pending deliveries expire now, so another process
        takes them over at its next sweep; how many."""
        ...

    async def count_api_call(self, session_id: str | None, scenario: str, times: int) -> bool:
        """Atomically use one of a scenario's `api.times` calls; True if one was left."""
        ...

    async def reset_api_calls(self, session_id: str | None, names: list[str] | None) -> None:
        """Forget the counts of those scenarios (None: all of the session's)."""
        ...

    async def state_version(self) -> int:
        """Bumped by every change to sessions, the global book, api-call resets, clear and
        clear_session: processes poll it (cheap) and reload sessions when it moved."""
        ...

    async def load_session(self, session_id: str | None) -> SessionRecord | None:
        """One session's record (None: the global session's book), or None if it has none stored."""
        ...


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
