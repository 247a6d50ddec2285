"""The mock provider: payments, scenarios and deliveries wired together. No HTTP here.

Handlers call these methods; they raise domain errors that the API layer turns into problems.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .delivery.dispatcher import Dispatcher
from .domain import deliveries as dl
from .domain.clock import Clock
from .domain.deliveries import Delivery
from .domain.errors import Conflict, InjectedFailure, NotFound, WaitTimeout
from .domain.payments import PENDING, Payment, check_callback_url, payment_id_for
from .domain.scenarios.model import Scenario
from .domain.scenarios.registry import ScenarioBook
from .domain.webhooks import COMPLETED_EVENT, FAILED_EVENT, webhook_id
from .store.base import Store


@dataclass(frozen=True, slots=True)
class CreateResult:
    payment: Payment
    created: bool


class Provider:
    def __init__(self, *, store: Store, book: ScenarioBook, clock: Clock, dispatcher_factory) -> None:  # type: ignore[no-untyped-def]
        self.store = store
        self.book = book
        self.clock = clock
        self.dispatcher: Dispatcher = dispatcher_factory(self._acknowledged)
        self.started_at = time.monotonic()
        # first attempts in flight, so concurrent repeats of a tx_id answer what the first one got
        self._creating: dict[str, asyncio.Future[None]] = {}

    @property
    def auth_token(self) -> str | None:
        return self.dispatcher.auth_token

    # API behaviour
    async def misbehave(self, scenario: Scenario, operation: str) -> None:
        """Apply the scenario's API faults: added latency, then an injected error status."""
        if not self.book.count_api_call(scenario, operation):
            return
        plan = scenario.api
        if plan.latency_ms:
            await asyncio.sleep(plan.latency_ms / 1000.0)
        if plan.error_status is not None:
            raise InjectedFailure(plan.error_status, plan.retry_after_s, scenario.name)

    # provider operations
    async def create(self, request: Mapping[str, Any], scenario_header: str | None) -> CreateResult:
        check_callback_url(request["callback_url"])
        scenario = self.book.select(scenario_header, request)
        await self.misbehave(scenario, "create")
        tx_id = request["tx_id"]
        existing = self.store.get_payment(payment_id_for(tx_id))
        if existing is not None:
            existing.check_same_request(request)
            existing.check_same_scenario(scenario_header)
            first = self._creating.get(tx_id)
            if first is not None:
                await asyncio.shield(first)
            return CreateResult(existing, created=False)
        now = self.clock.now()
        payment = Payment(
            tx_id=tx_id,
            order_id=request["order_id"],
            user_id=request["user_id"],
            amount=request["amount"],
            callback_url=request["callback_url"],
            scenario=scenario.name,
            created_at=now,
        )
        if scenario.outcome == "fail":
            payment.fail(scenario.failure_reason)
        # The payment and its first delivery are stored together: a crash between two writes must
        # not leave a payment whose webhook never goes out (durable stores).
        with self.store.atomic():
            if not self.store.add_payment(payment):  # a durable store found it after all
                raise Conflict(f"tx_id {tx_id!r} was created concurrently; repeat the request")
            if scenario.outcome == "pending":
                return CreateResult(payment, created=True)
            delay_s = scenario.payment_delay_ms / 1000.0 * self.dispatcher.time_scale
            # one float shared by the payment and its delivery: two float objects (~64 bytes) less per payment
            occurred_at = now + delay_s if delay_s else now
            delivery = self._new_delivery(payment, scenario, occurred_at, created_at=now)
            self.store.add_delivery(delivery)
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._creating[tx_id] = first
        try:
            await self.dispatcher.dispatch(delivery, payment)
        finally:
            if self._creating.get(tx_id) is first:  # after a reset, a new create of this tx_id may own it
                del self._creating[tx_id]
            first.set_result(None)
        return CreateResult(payment, created=True)

    async def confirm(self, payment_id: str, scenario_header: str | None) -> Payment:
        payment = self.store.get_payment(payment_id)
        if payment is None:
            # an unknown header is still reported as such, and API faults come before the lookup, as a
            # provider's rate limiter or outage would answer without knowing the payment
            await self.misbehave(self.book.select(scenario_header), "confirm")
            raise NotFound(f"no payment {payment_id!r}")
        # API faults are chosen as for a create, with the stored payment's data as the request
        await self.misbehave(self.book.select(scenario_header, payment.identity()), "confirm")
        delivery = self.store.get_delivery(webhook_id(COMPLETED_EVENT, payment.tx_id))
        now = self.clock.now()
        # the payment and its event's time land together (durable stores), or neither object changes
        with self.store.atomic(payment, *([delivery] if delivery else [])):
            if delivery is not None and delivery.occurred_at > now:
                # a delayed completion (slow-completion) confirmed before its time: it happens now
                delivery.occurred_at = now
                self.store.save_delivery(delivery)
            # completed when the event happened, so confirmed_at matches the webhook body
            if payment.complete(delivery.occurred_at if delivery else now):
                self.store.save_payment(payment)
        if delivery is None:
            delivery = self._new_delivery(payment, self.book.scenario(payment.scenario), payment.confirmed_at or 0.0)
            self.store.add_delivery(delivery)
            await self.dispatcher.dispatch(delivery, payment)
        else:
            await self.dispatcher.send_now(delivery, payment)
        return payment

    async def listing(self, scenario_header: str | None, **filters: Any) -> tuple[list[Payment], int, dict[str, int]]:
        await self.misbehave(self.book.select(scenario_header), "listing")
        items, total = self.store.list_payments(**filters)
        return items, total, self.store.counts()

    # control operations
    def payment_detail(self, payment_id: str) -> tuple[Payment, list[Delivery]]:
        payment = self.store.get_payment(payment_id)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        return payment, self.store.deliveries_for(payment.tx_id)

    def delivery(self, delivery_id: str) -> Delivery:
        delivery = self.store.get_delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        return delivery

    def delivery_detail(self, delivery: Delivery) -> dict[str, Any]:
        payment = self.store.get_payment(delivery.payment_id)
        return delivery.detail(payment, self.dispatcher.secret, self.dispatcher.auth_token)

    async def redeliver(self, delivery_id: str) -> Delivery:
        delivery = self.delivery(delivery_id)
        payment = self.store.get_payment(delivery.payment_id)
        if payment is None:
            raise NotFound(f"payment of delivery {delivery_id!r} is gone")
        return await self.dispatcher.send_now(delivery, payment)

    async def wait(
        self, *, tx_id: str, event: str | None, state: str, min_attempts: int, timeout_s: float, asked: str
    ) -> Delivery:
        """The payment's latest delivery (of `event`) once it is in `state` with `min_attempts` attempts.

        NotFound if it has no such delivery when the time is up, WaitTimeout if it is in another state;
        `asked` is how the caller put it, for those messages."""

        def current() -> Delivery | None:
            found = [d for d in self.store.deliveries_for(tx_id) if event is None or d.event == event]
            return found[-1] if found else None

        def reached() -> Delivery | None:
            d = current()
            if d is None or len(d.attempts) < min_attempts:
                return None
            if state == "attempted":  # any state: only the attempts count
                ok = True
            elif state == "settled":
                ok = d.state in dl.SETTLED
            else:
                ok = d.state == state
            return d if ok else None

        found = await self.dispatcher.wait_for(tx_id, reached, timeout_s)
        if found is not None:
            return found
        d = current()
        if d is None:
            of = f" of {event}" if event else ""
            raise NotFound(f"{asked}: payment {payment_id_for(tx_id)!r} has no delivery{of} yet")
        where = f"state {d.state} after {len(d.attempts)} attempt(s)"
        if d.attempts:  # why it is not there yet: the receiver's answer, or why none came
            last = d.attempts[-1]
            where += f"; the last one got {last.status_code}" if last.status_code else f"; the last one: {last.error}"
        raise WaitTimeout(f"{asked}: delivery {d.delivery_id!r} is in {where}", d.state)

    def reset(self) -> tuple[int, int]:
        self.dispatcher.clear()
        self._creating.clear()  # creates still sending belong to the wiped state: a new one must not wait
        self.book.reset()
        return self.store.clear()

    def health(self) -> dict[str, Any]:
        counts = self.store.counts()
        return {
            "status": "ok",
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "store": self.store.name,
            "time_scale": self.dispatcher.time_scale,
            "active_scenario": self.book.active_name,
            "payments": sum(counts.values()),
            "deliveries_pending": len(self.store.pending_deliveries()),
        }

    # internals
    def _new_delivery(
        self, payment: Payment, scenario: Scenario, occurred_at: float, created_at: float | None = None
    ) -> Delivery:
        event = FAILED_EVENT if payment.status == "PAYMENT_FAILED" else COMPLETED_EVENT
        return Delivery(
            tx_id=payment.tx_id,
            event=event,
            scenario=scenario.name,
            callback_url=payment.callback_url,
            plan=scenario.webhook,
            occurred_at=occurred_at,
            created_at=self.clock.now() if created_at is None else created_at,
        )

    def _acknowledged(self, delivery: Delivery) -> None:
        """A completed-event delivery was acknowledged: a PENDING payment completes (as of the event)."""
        if delivery.event != COMPLETED_EVENT:
            return
        payment = self.store.get_payment(payment_id_for(delivery.tx_id))
        if payment is not None and payment.status == PENDING and payment.complete(delivery.occurred_at):
            self.store.save_payment(payment)
