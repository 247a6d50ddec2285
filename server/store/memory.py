"""The default store: plain dicts, in insertion order. Fast, and gone when the process ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from itertools import islice

from ..domain.deliveries import PENDING, Delivery
from ..domain.payments import STATUSES, Payment, tx_id_of

PAYMENT_ID_PREFIX = "pay_"


class MemoryStore:
    name = "memory"

    def __init__(self) -> None:
        self._empty()

    def _empty(self) -> None:
        # Keyed by tx_id, the payment's own string: a "pay_..." key would be one more string per
        # payment (two, after a status change), ~170 bytes of 100k payments' memory.
        self._payments: dict[str, Payment] = {}
        # tx_ids by status, so counts and status filters never scan everything
        self._by_status: dict[str, dict[str, None]] = {s: {} for s in STATUSES}
        self._deliveries: dict[str, Delivery] = {}
        # tuples, not lists: almost every tx_id has one delivery, and a 1-tuple is half a list's size
        self._by_tx: dict[str, tuple[Delivery, ...]] = {}
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
        self._by_status[payment.status][tx_id] = None
        return True

    def save_payment(self, payment: Payment) -> None:
        tx_id = payment.tx_id
        if tx_id in self._by_status[payment.status] or self._payments.get(tx_id) is not payment:
            return  # unchanged, or removed by a reset meanwhile (nothing to bring back)
        for ids in self._by_status.values():
            ids.pop(tx_id, None)
        self._by_status[payment.status][tx_id] = None

    def list_payments(
        self,
        *,
        status: str | None = None,
        scenario: str | None = None,
        tx_id_prefix: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[Payment], int]:
        if status is not None:
            source = (self._payments[tx_id] for tx_id in self._by_status[status])
            total = len(self._by_status[status])
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
        return {status: len(ids) for status, ids in self._by_status.items()}

    # deliveries
    def add_delivery(self, delivery: Delivery) -> None:
        delivery.callback_url = self._urls.setdefault(delivery.callback_url, delivery.callback_url)
        self._deliveries[delivery.delivery_id] = delivery
        self._by_tx[delivery.tx_id] = (*self._by_tx.get(delivery.tx_id, ()), delivery)

    def save_delivery(self, delivery: Delivery) -> None:
        """Objects are shared, so there is nothing to write."""

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        return self._deliveries.get(delivery_id)

    def deliveries_for(self, tx_id: str) -> list[Delivery]:
        return list(self._by_tx.get(tx_id, ()))

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
        source = self._by_tx.get(tx_id, ()) if tx_id is not None else self._deliveries.values()
        matching = [
            d
            for d in reversed(list(source))
            if (state is None or d.state == state)
            and (event is None or d.event == event)
            and (scenario is None or d.scenario == scenario)
        ]
        return matching[offset : offset + limit], len(matching)

    def pending_deliveries(self) -> list[Delivery]:
        return [d for d in self._deliveries.values() if d.state == PENDING]

    def clear(self) -> tuple[int, int]:
        removed = (len(self._payments), len(self._deliveries))
        self._empty()
        return removed

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Nothing to group: the event loop never interleaves synchronous writes."""
        yield

    def close(self) -> None:
        """Nothing to release."""
