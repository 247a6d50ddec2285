"""The webhook dispatcher: first attempts inline, retries from one timer heap, faults on purpose.

Pending retries are data in a heap, not sleeping tasks, so thousands of them cost little; at most
`max_in_flight` background attempts run at once (back-pressure), while first attempts run inline
in the request that created the event.

On a store shared by several processes (`store.shared`, postgres) the heap is only this process's
plan: every scheduled attempt first claims its delivery (a lease in the store), and goes out only if
the claim holds, so two processes never attempt one delivery at once. A sweeper claims what nobody
holds any more (a process that died or stalled past its lease) and schedules it here; nothing then
lives only in one process's memory. First attempts inline need no claim: add_delivery wrote the
creating process's lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable

from ..domain.clock import Clock
from ..domain.deliveries import (
    ACKNOWLEDGED,
    DROPPED,
    DUPLICATE,
    FAILED,
    MANUAL,
    PENDING,
    SCHEDULED,
    Attempt,
    Delivery,
)
from ..domain.payments import Payment
from ..domain.retry import give_up_reason, next_delay_ms
from ..store.base import SharedStore, Store
from .senders import Sender, SendResult

log = logging.getLogger("paymock.delivery")

OnAcknowledged = Callable[[Delivery], Awaitable[None]]
# Whether a delivery's session (None: the global one) is still live; may end it, and may raise (store).
SessionLive = Callable[[str | None], Awaitable[bool]]
# A delivery the store failed for is tried again after this, doubling up to the max (real seconds: a
# lock held by another program does not follow the time scale). The max is how late deliveries resume
# after a database outage ends: 10 s, not a minute. Each try while it lasts costs one store call that
# fails within the pool's timeout (PAYMOCK_PG_POOL_TIMEOUT), cheap enough every 10 s per delivery.
STORE_RETRY_S = 0.5
STORE_RETRY_MAX_S = 10.0
# Shared stores: a claim holds an attempt's timeout plus this. Long enough to cover storing the answer
# after the timeout and an event loop stalled by load or a GC pause (an attempt must never outlive its
# claim, or a second process could send it meanwhile); short enough that another process takes over a
# dead one's due webhooks within seconds (their schedule slips by at most this).
CLAIM_MARGIN_S = 10.0


def claim_s(timeout_s: float) -> float:
    """How long a claim (a lease) holds with webhooks timing out after `timeout_s`: the dispatcher's
    claims and the lease a shared store gives a new delivery (its inline first attempt) must agree."""
    return timeout_s + CLAIM_MARGIN_S


# How often the sweeper looks for deliveries nobody holds: a dead process's are late by their lease
# anyway, and each look is one indexed query per process.
SWEEP_S = 0.5
# Shared stores: a long-poll wait also reads the store this often, since another process may be the one
# attempting the delivery (only this process's own attempts wake a waiter at once). One indexed read.
WAIT_POLL_S = 0.1


class Dispatcher:
    def __init__(
        self,
        *,
        store: Store,
        sender: Sender,
        clock: Clock,
        secret: str,
        auth_token: str | None,
        time_scale: float,
        timeout_s: float,
        max_in_flight: int,
        on_acknowledged: OnAcknowledged,
    ) -> None:
        self.store = store
        self.sender = sender
        self.clock = clock
        self.secret = secret
        self.auth_token = auth_token
        self.time_scale = time_scale
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self._on_acknowledged = on_acknowledged
        # set by the provider that owns this dispatcher; alone (tests, benches) every session is live
        self.session_live: SessionLive = _always_live
        self._heap: list[tuple[float, int, str]] = []
        self._due: dict[str, float] = {}  # the one valid heap entry per delivery; others are stale
        self._held: set[str] = set()  # reordered deliveries waiting for a later one to overtake them
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._attempting = 0  # background attempts holding a slot (see _free_slots)
        self._manual: dict[str, asyncio.Future[Delivery]] = {}
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._generation = 0  # bumped by clear(): an attempt that outlives a reset must not write back
        self._forgets = 0  # bumped by forget(): an attempt that outlives its session's end must not write back
        self._store_failures: dict[str, int] = {}  # consecutive store errors per delivery (see _store_failed)
        self._shared: SharedStore | None = store if store.shared else None  # type: ignore[assignment]
        self._sweeper: asyncio.Task[None] | None = None

    # lifecycle
    async def start(self) -> None:
        """Resume what a previous process left pending (durable stores), then run the timer. On a shared
        store the sweeper resumes them instead, as their leases expire: the pending ones may be other
        live processes' own."""
        if self._shared is None:
            now = self.clock.now()
            for delivery in await self.store.pending_deliveries():
                wait_s = max(0.0, (delivery.next_attempt_at or now) - now)
                await self._schedule(delivery, wait_s)
        else:
            self._sweeper = asyncio.create_task(self._sweep(self._shared), name="paymock-sweeper")
        self._runner = asyncio.create_task(self._run(), name="paymock-dispatcher")

    async def stop(self, grace_s: float = 2.0) -> None:
        """Stop the timer, let attempts already sending finish (up to `grace_s`), cancel the rest.

        Nothing new starts; with a durable store, what was still pending resumes on the next start. On a
        shared store this process then hands back the leases of what it still had to attempt: another
        process's next sweep takes those over (on their schedule) instead of a lease later.
        """
        if self._runner:
            self._runner.cancel()
        if self._sweeper:
            self._sweeper.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
        for task in list(self._tasks):
            task.cancel()
        timers = [t for t in (self._runner, self._sweeper) if t is not None]
        await asyncio.gather(*self._tasks, *timers, return_exceptions=True)
        self._tasks.clear()
        if self._shared is not None:
            try:  # after the attempts: none of this process's can still be out while another takes over
                released = await asyncio.wait_for(self._shared.release_leases(), grace_s)
                log.info("handed back the leases of %d pending deliveries", released)
            except Exception as exc:  # the database is away: the leases expire on their own (lease_s past due)
                # expected when the database went first: one line, not a traceback of the pool's internals
                log.warning(
                    "could not hand back the leases of pending deliveries (%s); they expire on their own",
                    type(exc).__name__,
                )
        try:
            await asyncio.wait_for(self.sender.close(), grace_s)  # shutdown must not hang on a peer
        except TimeoutError:
            log.warning("webhook client did not close within %.1f s", grace_s)

    def clear(self) -> None:
        """Forget every scheduled attempt (reset); background attempts are cancelled, and the result of
        one still sending inside a request (a create's first attempt, a redeliver) is dropped when it
        comes back: its delivery belongs to the state the reset wiped, and writing it back would leak
        into the next test's payment of the same tx_id."""
        self._generation += 1
        self._heap.clear()
        self._due.clear()
        self._held.clear()
        self._manual.clear()
        self._store_failures.clear()
        for task in list(self._tasks):
            task.cancel()

    def forget(self, delivery_ids: list[str]) -> None:
        """A session ended or was reset: its pending retries are never attempted, and an attempt of one
        of its deliveries still sending writes nothing back when it returns (its store rows are gone)."""
        self._forgets += 1
        for delivery_id in delivery_ids:
            self._due.pop(delivery_id, None)  # its heap entry is now stale: skipped when it comes up
            self._held.discard(delivery_id)
            self._manual.pop(delivery_id, None)
            self._store_failures.pop(delivery_id, None)

    # entry points
    async def dispatch(self, delivery: Delivery, payment: Payment) -> bool:
        """Start delivering a new, already stored event; True if acknowledged by the inline first attempt."""
        plan = delivery.plan
        if plan.mode == "drop":
            delivery.state = DROPPED
            delivery.reason = "dropped on purpose by the scenario; never sent"
            await self._changed(delivery)
            return False
        wait_ms = max(0.0, (delivery.occurred_at - self.clock.now()) * 1000.0 / self.time_scale) + plan.delay_ms
        if plan.reorder:
            self._held.add(delivery.delivery_id)
            await self._schedule(delivery, (wait_ms + plan.reorder_hold_ms) * self.time_scale / 1000.0)
            return False
        if wait_ms > 0:
            await self._schedule(delivery, wait_ms * self.time_scale / 1000.0)
            return False
        return await self._attempt(delivery, payment, SCHEDULED)

    async def send_now(self, delivery: Delivery, payment: Payment) -> Delivery:
        """A clean attempt right now (redeliver, confirm); concurrent callers share one attempt."""
        running = self._manual.get(delivery.delivery_id)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        self._manual[delivery.delivery_id] = future
        try:
            await self._attempt(delivery, payment, MANUAL)
            future.set_result(delivery)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            if self._manual.get(delivery.delivery_id) is future:  # a reset may have dropped it already
                del self._manual[delivery.delivery_id]
        return delivery

    async def wait_for(
        self, tx_id: str, check: Callable[[], Awaitable[Delivery | None]], timeout_s: float
    ) -> Delivery | None:
        """Long-poll: re-check whenever a delivery of `tx_id` changes, until `check` finds one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            found = await check()
            remaining = deadline - loop.time()
            if found is not None or remaining <= 0:
                return found
            event = asyncio.Event()
            waiters = self._waiters.setdefault(tx_id, set())
            waiters.add(event)
            try:
                await asyncio.wait_for(event.wait(), remaining if self._shared is None else min(remaining, WAIT_POLL_S))
            except TimeoutError:
                pass
            finally:
                waiters.discard(event)
                if not waiters:
                    self._waiters.pop(tx_id, None)

    # the attempt
    async def _attempt(self, delivery: Delivery, payment: Payment, kind: str) -> bool:
        generation, forgets = self._generation, self._forgets
        plan = delivery.plan
        delivery_id = delivery.delivery_id  # derived from the event and tx_id: build it once
        number = delivery.begin()
        ordinal = 1 + sum(1 for a in delivery.attempts if a.kind == SCHEDULED) if kind == SCHEDULED else 0
        faulty = kind == SCHEDULED and plan.faults_apply(ordinal)
        attempt = Attempt(
            number=number,
            kind=kind,
            at=self.clock.now(),
            signature=plan.signature if faulty else "valid",
            body=plan.body if faulty else "valid",
        )
        retry_after: float | None = None
        if kind == SCHEDULED and ordinal <= plan.fail_attempts:
            attempt.simulated = True
            attempt.error = (
                f"simulated network failure ({ordinal} of {plan.fail_attempts}, scenario {delivery.scenario!r})"
            )
        else:
            try:
                body = delivery.body_for(payment, attempt.body)
                headers = delivery.headers_for(attempt, body, self.secret, self.auth_token)
                result = await self.sender.send(delivery.callback_url, body, headers, self.timeout_s)
            except Exception as exc:  # building, signing and sending answer failures as results; an exception
                # is a bug, not the receiver's fault, but the attempt is still recorded and retried, never stuck
                log.exception("webhook attempt failed inside paymock on %s", delivery_id)
                result = SendResult(None, f"paymock error building or sending: {type(exc).__name__}: {exc}", 0.0)
            attempt.status_code, attempt.error, attempt.latency_ms = result.status, result.error, result.latency_ms
            retry_after = result.retry_after_s
            if generation != self._generation:
                return False  # reset while it was sending: see clear()
            if forgets != self._forgets and await self.store.get_delivery(delivery_id) is not delivery:
                return False  # its session ended or was reset while it was sending: see forget()
            await self._release_held(delivery_id)
        delivery.record(attempt)
        # one write: the delivery's state and its payment's completion land together (durable stores)
        try:
            async with self.store.atomic(delivery, payment):  # on failure both say again what the store says
                await self._settle(delivery, payment, attempt, ordinal, retry_after)
                await self._changed(delivery)
        except Exception:  # the store failed (a sqlite file locked by another program): nothing was written
            self._store_failed(delivery_id)
            return False
        self._store_failures.pop(delivery_id, None)
        if not log.isEnabledFor(logging.INFO):
            return attempt.acknowledged  # skip building the record's fields nobody will see
        log.info(
            "webhook attempt %s #%d -> %s",
            delivery_id,
            number,
            attempt.status_code if attempt.status_code is not None else attempt.error,
            extra={
                "kind": "webhook.attempt",
                "delivery_id": delivery_id,
                "attempt": number,
                "attempt_kind": kind,
                "status_code": attempt.status_code,
                "error": attempt.error,
                "latency_ms": round(attempt.latency_ms, 3),
                "state": delivery.state,
                "scenario": delivery.scenario,
            },
        )
        return attempt.acknowledged

    async def _settle(
        self, delivery: Delivery, payment: Payment, attempt: Attempt, ordinal: int, retry_after: float | None
    ) -> None:
        if attempt.acknowledged:
            if delivery.state != ACKNOWLEDGED:
                delivery.state = ACKNOWLEDGED
                delivery.next_attempt_at = None
                delivery.reason = None
                self._due.pop(delivery.delivery_id, None)
                await self._on_acknowledged(delivery)
                if delivery.plan.duplicates and attempt.kind == SCHEDULED:
                    self._spawn(self._duplicates(delivery, payment))
            return
        if attempt.kind != SCHEDULED or delivery.state != PENDING:
            return  # manual and duplicate attempts never move the schedule
        delay_ms = next_delay_ms(delivery.plan, ordinal, attempt.status_code, retry_after)
        if delay_ms is None:
            delivery.state = FAILED
            delivery.next_attempt_at = None
            delivery.reason = give_up_reason(delivery.plan, attempt.status_code)
            return
        await self._schedule(delivery, delay_ms * self.time_scale / 1000.0)

    async def _duplicates(self, delivery: Delivery, payment: Payment) -> None:
        for _ in range(delivery.plan.duplicates):
            await self._attempt(delivery, payment, DUPLICATE)

    # scheduling
    async def _schedule(self, delivery: Delivery, wait_s: float) -> None:
        delivery.next_attempt_at = self.clock.now() + wait_s
        self._plan(delivery.delivery_id, wait_s, wake=False)
        await self.store.save_delivery(delivery)
        self._wake.set()  # once the store has the new schedule: the timer may read it back

    async def _release_held(self, sent_id: str) -> None:
        """A webhook went out: every reordered one held before it may follow now."""
        if not self._held:
            return
        for held_id in list(self._held):
            if held_id != sent_id and (held := await self.store.get_delivery(held_id)) is not None:
                self._held.discard(held_id)
                await self._schedule(held, 0.0)

    async def _run(self) -> None:
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, _, delivery_id = self._heap[0]
            wait_s = due - self.clock.monotonic()
            if wait_s > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait_s)
                continue
            heapq.heappop(self._heap)
            if self._due.get(delivery_id) != due:
                continue  # superseded by a later schedule, acknowledged, or reset
            del self._due[delivery_id]
            await self._slots.acquire()  # back-pressure: bounded background attempts
            self._spawn(self._run_due(delivery_id), slot=True)

    async def _run_due(self, delivery_id: str) -> None:
        self._held.discard(delivery_id)
        try:
            if self._shared is None:
                delivery = await self.store.get_delivery(delivery_id)
            else:  # ours to attempt only while the claim holds; None: another process has it, or it is gone
                until = self.clock.now() + claim_s(self.timeout_s)
                delivery = await self._shared.claim_delivery(delivery_id, until)
            payment = None if delivery is None else await self.store.get_payment(delivery.payment_id)
            # a session idle past its expiry ends now (its data and retries go), not at the next sweep
            if delivery is not None and not await self.session_live(delivery.session_id):
                return
        except Exception:
            self._store_failed(delivery_id)
            return
        if delivery is None or delivery.state != PENDING or payment is None:
            return
        await self._attempt(delivery, payment, SCHEDULED)

    async def _sweep(self, store: SharedStore) -> None:
        """Shared stores: claim the due deliveries nobody holds (their process died, or stalled past its
        lease) and attempt them here. Only as many as this process has free slots for: a claim's lease
        runs from the claim, so one that waits here behind a backlog (a slow receiver) would expire before
        its attempt starts and be claimed again, by another process or by this one, round after round."""
        failing = False  # a database outage is logged when it starts and when it ends, not twice a second
        while True:
            await asyncio.sleep(SWEEP_S)
            free = self._free_slots()
            if free <= 0:
                continue  # busy: what is due stays for the others, or for a later round
            now = self.clock.now()
            try:
                claimed = await store.claim_due(now + claim_s(self.timeout_s), free)
            except Exception as exc:  # the database is away: the next round tries again
                if not failing:
                    failing = True
                    log.warning(
                        "claiming due deliveries failed (%s); trying again every %.1f s", type(exc).__name__, SWEEP_S
                    )
                continue
            if failing:
                failing = False
                log.warning("claiming due deliveries works again")
            for delivery in claimed:
                self._plan(delivery.delivery_id, max(0.0, (delivery.next_attempt_at or now) - now))

    def _free_slots(self) -> int:
        """Background attempts this process has room for: max_in_flight less those running and those on
        the timer due within a claim's lease (they need a slot before a claim made now would run out;
        claim_due also hands out deliveries due a little later, whose leases were given back)."""
        horizon = self.clock.monotonic() + claim_s(self.timeout_s)
        queued = sum(1 for due in self._due.values() if due <= horizon)
        return self.max_in_flight - self._attempting - queued

    def _plan(self, delivery_id: str, wait_s: float, *, wake: bool = True) -> None:
        """Put an attempt on the timer, in memory only (the store has the schedule already, or the caller
        stores it before it wakes the timer: `wake=False`)."""
        due = self.clock.monotonic() + wait_s
        self._due[delivery_id] = due
        heapq.heappush(self._heap, (due, next(self._seq), delivery_id))
        if wake:
            self._wake.set()

    def _store_failed(self, delivery_id: str) -> None:
        """The store could not be read or written for this delivery: try it again later, in memory only
        (writing the schedule would fail too), backing off to STORE_RETRY_MAX_S. At least once: an attempt whose
        answer could not be stored is sent again. Never dropped silently, as a lost timer would be."""
        failures = self._store_failures[delivery_id] = self._store_failures.get(delivery_id, 0) + 1
        wait_s = min(STORE_RETRY_MAX_S, STORE_RETRY_S * 2 ** (failures - 1))
        log.exception("store failed for %s (%d time(s)); trying again in %.1f s", delivery_id, failures, wait_s)
        self._plan(delivery_id, wait_s)

    def _spawn(self, coro, slot: bool = False) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        if slot:
            self._attempting += 1

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if slot:
                self._attempting -= 1
                self._slots.release()
            if not t.cancelled() and t.exception() is not None:
                log.error("webhook task failed", exc_info=t.exception())

        task.add_done_callback(done)

    async def _changed(self, delivery: Delivery) -> None:
        await self.store.save_delivery(delivery)
        for event in self._waiters.get(delivery.tx_id, ()):
            event.set()


async def _always_live(_session_id: str | None) -> bool:
    return True
