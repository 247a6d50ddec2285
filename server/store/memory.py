"""The default store: plain dicts, in insertion order. Fast, and gone when the process ends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from itertools import islice
from typing import Any

from ..domain.deliveries import PENDING, Delivery
from ..domain.payments import COMPLETED, STATUSES, Payment, tx_id_of
from ..domain.payments import PENDING as PAY_PENDING
from .base import ALL_SESSIONS, restored_on_failure

PAYMENT_ID_PREFIX = "pay_"
# Statuses with their own index. Completed payments are the bulk and get none: a status filter
# for them scans (~10 ms at 100k), and 100k index entries would cost ~5 MB.
INDEXED = tuple(s for s in STATUSES if s != COMPLETED)


class _Part:
    """One session's payments and deliveries (the global session's too): listings, counts and resets of
    a session touch its own part only, whatever the others hold."""

    __slots__ = ("deliveries", "open", "payments")

    def __init__(self) -> None:
        # Keyed by tx_id, the payment's own string: a "pay_..." key would be one more string per
        # payment (two, after a status change), ~170 bytes of 100k payments' memory.
        self.payments: dict[str, Payment] = {}
        # tx_ids of payments that are not completed, by status, so counts and filters never scan.
        # Insertion order is creation order: payments are created pending or failed and only ever
        # move on to completed (a status reached later would list in order of change).
        self.open: dict[str, dict[str, None]] = {s: {} for s in INDEXED}
        # this part's deliveries in creation order
        self.deliveries: list[Delivery] = []


class MemoryStore:
    """Memory per payment is what the RSS target is about, hence the compact shapes below."""

    name = "memory"
    shared = False

    def __init__(self) -> None:
        self._sessions: dict[str | None, dict[str, Any]] = {}
        self._empty()

    def _empty(self) -> None:
        self._global = _Part()
        self._parts: dict[str, _Part] = {}  # by session id
        # tx_id -> session id, for payments of sessions only: tx_ids are unique across the server
        # (idempotency is global), and a global payment costs no entry here
        self._owner: dict[str, str] = {}
        # every delivery in creation order: a list, not a dict keyed by id (ids are derived from the
        # event and tx_id, so lookups go through _by_tx)
        self._deliveries: list[Delivery] = []
        # the delivery itself when a tx_id has one (almost always), a tuple when it has several
        self._by_tx: dict[str, Delivery | tuple[Delivery, ...]] = {}
        # one string per distinct callback URL (a run has a handful), not one per payment
        self._urls: dict[str, str] = {}

    def _part(self, session: str | None) -> _Part | None:
        return self._global if session is None else self._parts.get(session)

    def _part_for(self, session: str | None) -> _Part:
        if session is None:
            return self._global
        part = self._parts.get(session)
        if part is None:
            part = self._parts[session] = _Part()
        return part

    # payments
    async def get_payment(self, payment_id: str) -> Payment | None:
        if not payment_id.startswith(PAYMENT_ID_PREFIX):
            return None
        tx_id = tx_id_of(payment_id)
        found = self._global.payments.get(tx_id)
        if found is not None or not self._owner:
            return found
        part = self._parts.get(self._owner.get(tx_id, ""))
        return None if part is None else part.payments.get(tx_id)

    async def add_payment(self, payment: Payment, delivery: Delivery | None = None) -> bool:
        if not self._add_payment(payment):
            return False
        if delivery is not None:
            await self.add_delivery(delivery)
        return True

    def _add_payment(self, payment: Payment) -> bool:
        tx_id = payment.tx_id
        if tx_id in self._global.payments or tx_id in self._owner:
            return False
        part = self._part_for(payment.session_id)
        payment.callback_url = self._urls.setdefault(payment.callback_url, payment.callback_url)
        part.payments[tx_id] = payment
        if payment.session_id is not None:
            self._owner[tx_id] = payment.session_id
        if payment.status in part.open:
            part.open[payment.status][tx_id] = None
        return True

    async def save_payment(self, payment: Payment) -> bool:
        tx_id = payment.tx_id
        part = self._part(payment.session_id)
        if part is None or part.payments.get(tx_id) is not payment:
            return True  # removed by a reset meanwhile (nothing to bring back)
        for status, ids in part.open.items():
            if status == payment.status:
                ids[tx_id] = None  # keeps its place if it was there already
            else:
                ids.pop(tx_id, None)
        return True

    async def complete_payment(self, payment_id: str, at: float) -> None:
        payment = await self.get_payment(payment_id)
        if payment is not None and payment.status == PAY_PENDING and payment.complete(at):
            await self.save_payment(payment)

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
        part = self._part(session) or _Part()
        source: Iterator[Payment]
        if status in part.open:
            source = (part.payments[tx_id] for tx_id in part.open[status])
            total = len(part.open[status])
        elif status is not None:
            source = (p for p in part.payments.values() if p.status == status)
            total = self._counts(session).get(status, 0)
        else:
            source = iter(part.payments.values())
            total = len(part.payments)
        if scenario is not None or tx_id_prefix is not None:
            matching = [
                p
                for p in source
                if (scenario is None or p.scenario == scenario)
                and (tx_id_prefix is None or p.tx_id.startswith(tx_id_prefix))
            ]
            total = len(matching)
            source = iter(matching)
        stop = None if limit is None else offset + limit
        return list(islice(source, offset, stop)), total

    async def counts(self, session: str | None = None) -> dict[str, int]:
        return self._counts(session)

    def _counts(self, session: str | None) -> dict[str, int]:
        if session == ALL_SESSIONS:
            each = [self._counts(s) for s in (None, *self._parts)]
            return {status: sum(c[status] for c in each) for status in STATUSES}
        part = self._part(session) or _Part()
        counts = {status: len(part.open[status]) if status in part.open else 0 for status in STATUSES}
        counts[COMPLETED] = len(part.payments) - sum(counts.values())
        return counts

    async def delivery_count(self, session: str | None = None) -> int:
        part = self._part(session)
        return 0 if part is None else len(part.deliveries)

    # deliveries
    def _for(self, tx_id: str) -> tuple[Delivery, ...]:
        found = self._by_tx.get(tx_id)
        if found is None:
            return ()
        return (found,) if isinstance(found, Delivery) else found

    async def add_delivery(self, delivery: Delivery) -> bool:
        tx_id, delivery_id = delivery.tx_id, delivery.delivery_id
        existing = self._for(tx_id)
        if any(d.delivery_id == delivery_id for d in existing):
            return False
        delivery.callback_url = self._urls.setdefault(delivery.callback_url, delivery.callback_url)
        part = self._part_for(delivery.session_id)
        self._by_tx[tx_id] = (*existing, delivery) if existing else delivery
        self._deliveries.append(delivery)
        part.deliveries.append(delivery)
        return True

    async def save_delivery(self, delivery: Delivery) -> None:
        """Objects are shared, so there is nothing to write."""

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        parts = delivery_id.split("_", 2)
        if len(parts) < 3:
            return None
        return next((d for d in self._for(parts[2]) if d.delivery_id == delivery_id), None)

    async def deliveries_for(self, tx_id: str) -> list[Delivery]:
        return list(self._for(tx_id))

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
        source: list[Delivery] | tuple[Delivery, ...]
        if tx_id is not None:
            source = [d for d in self._for(tx_id) if session == ALL_SESSIONS or d.session_id == session]
        elif session == ALL_SESSIONS:
            source = self._deliveries
        else:
            part = self._part(session)
            source = part.deliveries if part is not None else []
        matching = [
            d
            for d in reversed(source)
            if (state is None or d.state == state)
            and (event is None or d.event == event)
            and (scenario is None or d.scenario == scenario)
        ]
        return matching[offset : None if limit is None else offset + limit], len(matching)

    async def pending_deliveries(self) -> list[Delivery]:
        return [d for d in self._deliveries if d.state == PENDING]

    async def clear(self) -> tuple[int, int]:
        payments = len(self._global.payments) + sum(len(p.payments) for p in self._parts.values())
        removed = (payments, len(self._deliveries))
        self._empty()
        self._sessions.clear()
        return removed

    async def clear_session(self, session: str) -> tuple[int, int]:
        """Forget one session's payments and deliveries; returns how many of each were removed."""
        part = self._parts.pop(session, None)
        if part is None:
            return 0, 0
        for tx_id in part.payments:
            self._owner.pop(tx_id, None)
        gone = {id(d) for d in part.deliveries}
        for d in part.deliveries:
            self._by_tx.pop(d.tx_id, None)  # every delivery of a tx_id belongs to that tx_id's session
        self._deliveries = [d for d in self._deliveries if id(d) not in gone]
        return len(part.payments), len(part.deliveries)

    # sessions (records, see base.SessionRecord; the global session's book under None)
    async def save_session(self, record: dict[str, Any]) -> None:
        self._sessions[record["session_id"]] = dict(record)

    async def delete_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    async def load_sessions(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._sessions.values()]

    @contextlib.asynccontextmanager
    async def atomic(self, *restore: object) -> AsyncIterator[None]:
        """Nothing to group: the event loop never interleaves synchronous writes. The objects are the
        records here, so putting back their fields is the rollback."""
        with restored_on_failure(restore):
            yield

    async def close(self) -> None:
        """Nothing to release."""
