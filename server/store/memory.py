"""The default store: plain dicts, in insertion order. Fast, and gone when the process ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from itertools import islice

from ..domain.deliveries import PENDING, Delivery
from ..domain.payments import COMPLETED, STATUSES, Payment, tx_id_of
from .base import restored_on_failure

PAYMENT_ID_PREFIX = "pay_"
# Statuses with their own index. Completed payments are the bulk and get none: a status filter
# for them scans (~10 ms at 100k), and 100k index entries would cost ~5 MB.
INDEXED = tuple(s for s in STATUSES if s != COMPLETED)


class MemoryStore:
    """Memory per payment is what the RSS target is about, hence the compact shapes below."""

    name = "memory"

    def __init__(self) -> None:
        self._empty()

    def _empty(self) -> None:
        # Keyed by tx_id, the payment's own string: a "pay_..." key would be one more string per
        # payment (two, after a status change), ~170 bytes of 100k payments' memory.
        self._payments: dict[str, Payment] = {}
        # tx_ids of payments that are not completed, by status, so counts and filters never scan.
        # Insertion order is creation order: payments are created pending or failed and only ever
        # move on to completed (a status reached later would list in order of change).
        self._open: dict[str, dict[str, None]] = {s: {} for s in INDEXED}
        # every delivery in creation order: a list, not a dict keyed by id (ids are derived from the
        # event and tx_id, so lookups go through _by_tx)
        self._deliveries: list[Delivery] = []
        # the delivery itself when a tx_id has one (almost always), a tuple when it has several
        self._by_tx: dict[str, Delivery | tuple[Delivery, ...]] = {}
        # one string per distinct callback URL (a run has a handful), not one per payment
        self._urls: dict[str, str] = {}

    # payments
    def get_payment(self, payment_id: str) -> Payment | None:
        if not payment_id.startswith(PAYMENT_ID_PREFIX):
            return None
        return self._payments.get(tx_id_of(payment_id))

    def add_payment(self, payment: Payment) -> bool:
        tx_id = payment.tx_id
        if tx_id in self._payments:
            return False
        payment.callback_url = self._urls.setdefault(payment.callback_url, payment.callback_url)
        self._payments[tx_id] = payment
        if payment.status in self._open:
            self._open[payment.status][tx_id] = None
        return True

    def save_payment(self, payment: Payment) -> None:
        tx_id = payment.tx_id
        if self._payments.get(tx_id) is not payment:
            return  # removed by a reset meanwhile (nothing to bring back)
        for status, ids in self._open.items():
            if status == payment.status:
                ids[tx_id] = None  # keeps its place if it was there already
            else:
                ids.pop(tx_id, None)

    def list_payments(
        self,
        *,
        status: str | None = None,
        scenario: str | None = None,
        tx_id_prefix: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[Payment], int]:
        source: Iterator[Payment]
        if status in self._open:
            source = (self._payments[tx_id] for tx_id in self._open[status])
            total = len(self._open[status])
        elif status is not None:
            source = (p for p in self._payments.values() if p.status == status)
            total = self.counts().get(status, 0)
        else:
            source = iter(self._payments.values())
            total = len(self._payments)
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

    def counts(self) -> dict[str, int]:
        counts = {status: len(self._open[status]) if status in self._open else 0 for status in STATUSES}
        counts[COMPLETED] = len(self._payments) - sum(counts.values())
        return counts

    # deliveries
    def _for(self, tx_id: str) -> tuple[Delivery, ...]:
        found = self._by_tx.get(tx_id)
        if found is None:
            return ()
        return (found,) if isinstance(found, Delivery) else found

    def add_delivery(self, delivery: Delivery) -> None:
        delivery.callback_url = self._urls.setdefault(delivery.callback_url, delivery.callback_url)
        tx_id, delivery_id = delivery.tx_id, delivery.delivery_id
        existing = self._for(tx_id)
        if any(d.delivery_id == delivery_id for d in existing):  # a replacement keeps its place
            self._by_tx[tx_id] = tuple(delivery if d.delivery_id == delivery_id else d for d in existing)
            self._deliveries = [delivery if d.delivery_id == delivery_id else d for d in self._deliveries]
            return
        self._by_tx[tx_id] = (*existing, delivery) if existing else delivery
        self._deliveries.append(delivery)

    def save_delivery(self, delivery: Delivery) -> None:
        """Objects are shared, so there is nothing to write."""

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        parts = delivery_id.split("_", 2)
        if len(parts) < 3:
            return None
        return next((d for d in self._for(parts[2]) if d.delivery_id == delivery_id), None)

    def deliveries_for(self, tx_id: str) -> list[Delivery]:
        return list(self._for(tx_id))

    def list_deliveries(
        self,
        *,
        tx_id: str | None = None,
        state: str | None = None,
        event: str | None = None,
        scenario: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Delivery], int]:
        source = self._for(tx_id) if tx_id is not None else self._deliveries
        matching = [
            d
            for d in reversed(source)
            if (state is None or d.state == state)
            and (event is None or d.event == event)
            and (scenario is None or d.scenario == scenario)
        ]
        return matching[offset : offset + limit], len(matching)

    def pending_deliveries(self) -> list[Delivery]:
        return [d for d in self._deliveries if d.state == PENDING]

    def clear(self) -> tuple[int, int]:
        removed = (len(self._payments), len(self._deliveries))
        self._empty()
        return removed

    @contextlib.contextmanager
    def atomic(self, *restore: object) -> Iterator[None]:
        """Nothing to group: the event loop never interleaves synchronous writes. The objects are the
        records here, so putting back their fields is the rollback."""
        with restored_on_failure(restore):
            yield

    def close(self) -> None:
        """Nothing to release."""
