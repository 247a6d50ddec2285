"""The mock provider: payments, scenarios and deliveries wired together. No HTTP here.

Handlers call these methods; they raise domain errors that the API layer turns into problems.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from .delivery.dispatcher import Dispatcher
from .domain import deliveries as dl
from .domain.clock import Clock
from .domain.deliveries import Delivery
from .domain.errors import Conflict, InjectedFailure, NeverReached, NotFound, WaitTimeout
from .domain.limits import MAX_SESSION_SCENARIOS
from .domain.payments import PENDING, Payment, check_callback_host, check_callback_url, payment_id_for
from .domain.scenarios.model import Scenario
from .domain.scenarios.registry import ScenarioBook
from .domain.sessions import Claims, Session, SessionNotFound, Sessions, new_session_id
from .domain.webhooks import COMPLETED_EVENT, FAILED_EVENT, webhook_id
from .store.base import ALL_SESSIONS, Store

log = logging.getLogger("paymock.sessions")


@dataclass(frozen=True, slots=True)
class CreateResult:
    payment: Payment
    created: bool


class Provider:
    def __init__(  # type: ignore[no-untyped-def]
        self,
        *,
        store: Store,
        book: ScenarioBook,
        clock: Clock,
        dispatcher_factory,
        callback_hosts: frozenset[str] = frozenset(),  # PAYMOCK_CALLBACK_HOSTS; empty: any host
        new_session_id=new_session_id,
    ) -> None:
        self.store = store
        self.callback_hosts = callback_hosts
        self.book = book
        self.clock = clock
        self.global_session = Session(None, book)
        self.sessions = Sessions(clock=clock, new_book=lambda: book.fresh(MAX_SESSION_SCENARIOS), new_id=new_session_id)
        self.dispatcher: Dispatcher = dispatcher_factory(self._acknowledged)
        self.dispatcher.session_live = self.session_live
        self.started_at = time.monotonic()
        # first attempts in flight, so concurrent repeats of a tx_id answer what the first one got
        self._creating: dict[str, asyncio.Future[None]] = {}

    @property
    def auth_token(self) -> str | None:
        return self.dispatcher.auth_token

    async def start(self) -> None:
        """What a durable store kept comes back (sessions, the global book); sessions that expired
        while the server was down end before their pending retries resume; then the dispatcher runs."""
        await self._load_sessions()
        await self.expire()
        await self.dispatcher.start()

    # API behaviour
    async def misbehave(self, scenario: Scenario, operation: str, session: Session | None = None) -> None:
        """Apply the scenario's API faults (counted in the session's book): added latency, then an
        injected error status."""
        target = session or self.global_session
        # a counted fault (`api.times`) changes the session's book, which a durable store keeps
        counting = self.changing_book(target) if scenario.api.times is not None else contextlib.nullcontext(target.book)
        async with counting as book:
            misbehaving = book.count_api_call(scenario, operation)
        if not misbehaving:
            return
        plan = scenario.api
        if plan.latency_ms:
            async with self._in_use(session):
                await asyncio.sleep(plan.latency_ms / 1000.0)
        if plan.error_status is not None:
            raise InjectedFailure(plan.error_status, plan.retry_after_s, scenario.name)

    # provider operations
    async def create(
        self, request: Mapping[str, Any], scenario_header: str | None, session_header: str | None = None
    ) -> CreateResult:
        check_callback_url(request["callback_url"])
        check_callback_host(request["callback_url"], self.callback_hosts)
        session = await self.routed(session_header, request)
        scenario = session.book.select(scenario_header, request)
        await self.misbehave(scenario, "create", session)
        if session.session_id is not None and self.sessions.find(session.session_id) is not session:
            # ended during the injected latency: store nothing for it. Named by the header, that is the
            # caller's 404; routed by a claim, the claim is gone, so the create is routed again as it would
            # be now (global, most often): a 404 naming the session would tell an ops server sessions exist
            if session_header:
                raise SessionNotFound(session.session_id)
            return await self.create(request, scenario_header)
        tx_id = request["tx_id"]
        existing = await self.store.get_payment(payment_id_for(tx_id))
        if existing is not None:
            if existing.session_id != session.session_id:
                # idempotency is global (tx_id is the provider's key), and another session's payment is
                # not this caller's to read: a conflict that says so, and nothing of the payment
                raise Conflict(
                    f"tx_id {tx_id!r} is taken by a payment of another session; tx_ids are unique across this "
                    "server (the provider's idempotency key): use another tx_id"
                )
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
            session_id=session.session_id,
        )
        if scenario.outcome == "fail":
            payment.fail(scenario.failure_reason)
        # The payment and its first delivery are stored together: a crash between two writes must
        # not leave a payment whose webhook never goes out (durable stores).
        async with self.store.atomic():
            if not await self.store.add_payment(payment):  # a durable store found it after all
                raise Conflict(f"tx_id {tx_id!r} was created concurrently; repeat the request")
            if scenario.outcome == "pending":
                return CreateResult(payment, created=True)
            delay_s = scenario.payment_delay_ms / 1000.0 * self.dispatcher.time_scale
            # one float shared by the payment and its delivery: two float objects (~64 bytes) less per payment
            occurred_at = now + delay_s if delay_s else now
            delivery = self._new_delivery(payment, scenario, occurred_at, created_at=now)
            await self.store.add_delivery(delivery)
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._creating[tx_id] = first
        try:
            await self.dispatcher.dispatch(delivery, payment)
        finally:
            if self._creating.get(tx_id) is first:  # after a reset, a new create of this tx_id may own it
                del self._creating[tx_id]
            first.set_result(None)
        return CreateResult(payment, created=True)

    async def confirm(self, payment_id: str, scenario_header: str | None, session_header: str | None = None) -> Payment:
        payment = await self.store.get_payment(payment_id)
        if session_header:
            session = await self.session(session_header)
            if payment is not None and payment.session_id != session.session_id:
                payment = None  # another session's: not there, seen from here
        elif payment is not None and payment.session_id is not None:
            # No header (an ops server forwards nothing of ours): routed as a header-less create is, by
            # the claims its payment's data matches. The payment's own session when that session claims
            # it; otherwise the call is the global session's, where another session's payment is not
            # there (a header-less caller must not confirm a payment a test made by naming its session).
            found = self.sessions.claimant(payment.identity())
            if found is not None and found.session_id == payment.session_id:
                session = found
                await self._touch(found)
            else:
                session = self.global_session
                payment = None
        else:
            session = self.global_session
        book = session.book
        if payment is None:
            # an unknown header is still reported as such, and API faults come before the lookup, as a
            # provider's rate limiter or outage would answer without knowing the payment
            await self.misbehave(book.select(scenario_header), "confirm", session)
            raise NotFound(f"no payment {payment_id!r}")
        # API faults are chosen as for a create, with the stored payment's data as the request
        await self.misbehave(book.select(scenario_header, payment.identity()), "confirm", session)
        if await self.store.get_payment(payment_id) is None or (
            session.session_id is not None and self.sessions.find(session.session_id) is not session
        ):
            # its session ended (or a reset ran) during the injected latency: the payment is gone, and
            # completing it now would write a delivery and send a webhook for a session that is no more
            raise NotFound(f"no payment {payment_id!r}")
        delivery = await self.store.get_delivery(webhook_id(COMPLETED_EVENT, payment.tx_id))
        now = self.clock.now()
        # the payment and its event's time land together (durable stores), or neither object changes
        async with self.store.atomic(payment, *([delivery] if delivery else [])):
            if delivery is not None and delivery.occurred_at > now:
                # a delayed completion (slow-completion) confirmed before its time: it happens now
                delivery.occurred_at = now
                await self.store.save_delivery(delivery)
            # completed when the event happened, so confirmed_at matches the webhook body
            if payment.complete(delivery.occurred_at if delivery else now):
                await self.store.save_payment(payment)
        if delivery is None:
            delivery = self._new_delivery(payment, book.scenario(payment.scenario), payment.confirmed_at or 0.0)
            await self.store.add_delivery(delivery)
            await self.dispatcher.dispatch(delivery, payment)
        else:
            await self.dispatcher.send_now(delivery, payment)
        return payment

    async def listing(
        self, scenario_header: str | None, session_header: str | None = None, **filters: Any
    ) -> tuple[list[Payment], int, dict[str, int]]:
        session = await self.session(session_header)
        await self.misbehave(session.book.select(scenario_header), "listing", session)
        items, total = await self.store.list_payments(session=session.session_id, **filters)
        return items, total, await self.store.counts(session.session_id)

    # control operations
    async def payment_detail(self, payment_id: str, session: Session | None = None) -> tuple[Payment, list[Delivery]]:
        payment = await self.store.get_payment(payment_id)
        if payment is None or payment.session_id != (session or self.global_session).session_id:
            raise NotFound(f"no payment {payment_id!r}")
        return payment, await self.store.deliveries_for(payment.tx_id)

    async def delivery(self, delivery_id: str, session: Session | None = None) -> Delivery:
        delivery = await self.store.get_delivery(delivery_id)
        if delivery is None or delivery.session_id != (session or self.global_session).session_id:
            raise NotFound(f"no delivery {delivery_id!r}")
        return delivery

    async def delivery_detail(self, delivery: Delivery) -> dict[str, Any]:
        payment = await self.store.get_payment(delivery.payment_id)
        return delivery.detail(payment, self.dispatcher.secret, self.dispatcher.auth_token)

    async def redeliver(self, delivery_id: str, session: Session | None = None) -> Delivery:
        delivery = await self.delivery(delivery_id, session)
        payment = await self.store.get_payment(delivery.payment_id)
        if payment is None:
            raise NotFound(f"payment of delivery {delivery_id!r} is gone")
        return await self.dispatcher.send_now(delivery, payment)

    async def wait(
        self,
        *,
        tx_id: str,
        event: str | None,
        state: str,
        min_attempts: int,
        timeout_s: float,
        asked: str,
        session: Session | None = None,
    ) -> Delivery:
        """The payment's latest delivery (of `event`) once it is in `state` with `min_attempts` attempts.

        NeverReached as soon as it settles in another final state; NotFound if it has no such delivery
        when the time is up, WaitTimeout if it is in another state; `asked` is how the caller put it,
        for those messages."""

        session_id = (session or self.global_session).session_id

        async def current() -> Delivery | None:
            # another session's delivery is not there, seen from here
            found = [
                d
                for d in await self.store.deliveries_for(tx_id)
                if (event is None or d.event == event) and d.session_id == session_id
            ]
            return found[-1] if found else None

        async def reached() -> Delivery | None:
            d = await current()
            if d is None:
                return None
            if dl.never_reaches(d.state, state):  # checked on every change: answered as soon as it settles
                raise NeverReached(d.delivery_id, d.state, state, len(d.attempts))
            if len(d.attempts) < min_attempts:
                return None
            if state == "attempted":  # any state: only the attempts count
                ok = True
            elif state == "settled":
                ok = d.state in dl.SETTLED
            else:
                ok = d.state == state
            return d if ok else None

        async with self._in_use(session):  # a wait longer than its idle timeout must not outlive it
            found = await self.dispatcher.wait_for(tx_id, reached, timeout_s)
        if found is not None:
            return found
        d = await current()
        if d is None:
            of = f" of {event}" if event else ""
            raise NotFound(f"{asked}: payment {payment_id_for(tx_id)!r} has no delivery{of} yet")
        where = f"state {d.state} after {len(d.attempts)} attempt(s)"
        if d.attempts:  # why it is not there yet: the receiver's answer, or why none came
            last = d.attempts[-1]
            where += f"; the last one got {last.status_code}" if last.status_code else f"; the last one: {last.error}"
        raise WaitTimeout(f"{asked}: delivery {d.delivery_id!r} is in {where}", d.state)

    async def reset(self, session: Session | None = None) -> tuple[int, int]:
        """The global reset (no session) forgets everything, every session included, as before sessions
        existed; a session's reset forgets only that session's payments, deliveries and scenarios."""
        if session is not None and session.session_id is not None:
            # data first: a store that fails there leaves the session as it was, scenarios included
            removed = await self._clear_session(session.session_id)
            async with self.changing_book(session) as book:
                book.reset()
            return removed
        self.dispatcher.clear()
        self._creating.clear()  # creates still sending belong to the wiped state: a new one must not wait
        self.book.reset()
        self.sessions.clear()
        return await self.store.clear()

    # sessions
    async def session(self, session_id: str | None) -> Session:
        """The session a call names (X-Mock-Session), renewed; the global one when it names none."""
        if not session_id:
            return self.global_session
        session = self.sessions.find(session_id)
        if session is None:
            await self.expire()  # an expired one is cleaned up now rather than at the next sweep
            raise SessionNotFound(session_id)
        await self._touch(session)
        return session

    async def routed(self, session_id: str | None, request: Mapping[str, Any]) -> Session:
        """Where a provider call belongs: the named session, else the one claiming its data, else global."""
        if session_id:
            return await self.session(session_id)
        found = self.sessions.claimant(request)
        if found is None:
            return self.global_session
        await self._touch(found)
        return found

    async def create_session(
        self, *, label: str | None = None, claims: Mapping[str, Any] | None = None, idle_timeout_s: int | None = None
    ) -> Session:
        await self.expire()  # expired sessions do not count against the cap, nor hold their claims
        session = self.sessions.create(label=label, claims=Claims.from_dict(claims), idle_timeout_s=idle_timeout_s)
        try:
            await self._save_session(session)
        except BaseException:  # not stored: not live either (nothing half-created)
            self.sessions.end(session.session_id)  # type: ignore[arg-type]
            raise
        return session

    async def set_claims(self, session_id: str, claims: Mapping[str, Any]) -> Session:
        session = await self.session(session_id)
        before = session.claims
        self.sessions.set_claims(session_id, Claims.from_dict(claims))
        try:
            await self._save_session(session)
        except BaseException:
            self.sessions.set_claims(session_id, before)
            raise
        return session

    async def end_session(self, session_id: str) -> tuple[int, int]:
        """End a session: its payments and deliveries go as a reset's do, its retries are cancelled."""
        # its data goes first: if the store fails, the session is still live (and holds its claims),
        # so the caller can end it again, rather than its payments and retries outliving it unseen
        session = self.sessions.get(session_id)
        removed = await self._purge(session)
        self.sessions.drop(session)
        return removed

    async def expire(self) -> int:
        """End every session idle past its expiry; returns how many. One the store fails to clean up
        stays held (refused to callers, as expired) and is cleaned up by the next sweep."""
        gone = self.sessions.expired()
        for session in gone:
            await self._purge(session)
            self.sessions.drop(session)
        return len(gone)

    async def session_live(self, session_id: str | None) -> bool:
        """Whether a session still holds its data (the dispatcher asks before a due attempt). One idle
        past its expiry is ended now, not at the next sweep: its retries must not go out meanwhile."""
        if session_id is None or self.sessions.find(session_id) is not None:
            return True
        await self.expire()
        return False

    async def all_sessions(self) -> str:
        """The store's scope for every session's data, once sessions idle past their expiry have ended
        (their data must not show meanwhile)."""
        await self.expire()
        return ALL_SESSIONS

    async def live_sessions(self) -> list[Session]:
        await self.expire()
        return list(self.sessions)

    async def describe(self, session: Session) -> dict[str, Any]:
        sid = session.session_id
        return session.describe(sum((await self.store.counts(sid)).values()), await self.store.delivery_count(sid))

    async def _purge(self, session: Session) -> tuple[int, int]:
        assert session.session_id is not None
        removed = await self._clear_session(session.session_id)
        await self.store.delete_session(session.session_id)
        return removed

    async def _clear_session(self, session_id: str) -> tuple[int, int]:
        waiting, _ = await self.store.list_deliveries(session=session_id, state=dl.PENDING, limit=None)
        pending = [d.delivery_id for d in waiting]
        removed = await self.store.clear_session(session_id)
        self.dispatcher.forget(pending)
        return removed

    @contextlib.asynccontextmanager
    async def _in_use(self, session: Session | None) -> AsyncIterator[None]:
        """A call still running in a session keeps it from expiring, and renews it when it ends: idle
        means no call, and a wait of 120 s in a session of idle_timeout_s 60 is not idle."""
        if session is None or session.session_id is None:
            yield
            return
        session.busy += 1
        try:
            yield
        finally:
            if self.sessions.find(session.session_id) is session:  # not ended meanwhile
                await self._touch(session)
            session.busy -= 1

    async def _touch(self, session: Session) -> None:
        if not self.sessions.touch(session):
            return
        try:
            await self._save_session(session)
        except Exception:  # the renewal holds in memory; a store that fails now must not fail the call
            session.saved_used_at = 0.0  # written again on the next call
            log.warning("could not store the renewal of %s", session.session_id, exc_info=True)

    async def _save_session(self, session: Session) -> None:
        book = session.book
        if session.session_id is None:  # the global session's book: no label, claims nor expiry
            record = {"session_id": None, "label": None, "claims": None, "idle_timeout_s": 0}
            record |= {"created_at": 0.0, "last_used_at": 0.0}
        else:
            record = {
                "session_id": session.session_id,
                "label": session.label,
                "claims": session.claims.to_dict(),
                "idle_timeout_s": session.idle_timeout_s,
                "created_at": session.created_at,
                "last_used_at": session.last_used_at,
            }
        record |= {
            "active_scenario": book.active_name,
            "scenarios": book.runtime_documents(),
            "api_calls": book.api_calls(),
        }
        await self.store.save_session(record)

    @contextlib.asynccontextmanager
    async def changing_book(self, session: Session) -> AsyncIterator[ScenarioBook]:
        """Around a change to a session's scenarios or active scenario (the global session's too): a
        durable store keeps it; if it cannot, the change is undone, so a failed call changed nothing."""
        before = session.book.state()
        yield session.book
        try:
            await self._save_session(session)
        except BaseException:
            session.book.put_back(before)
            raise

    async def _load_sessions(self) -> None:
        """Sessions a durable store kept across a restart come back live (their expiry still counts),
        and the global session's run-time scenarios, active scenario and API-fault counters."""
        for record in await self.store.load_sessions():
            if record["session_id"] is None:
                self._restore_book(self.book, record)
                continue
            book = self.book.fresh(MAX_SESSION_SCENARIOS)
            self._restore_book(book, record)
            session = Session(
                record["session_id"],
                book,
                record.get("label"),
                Claims.from_dict(record.get("claims")),
                int(record["idle_timeout_s"]),
                float(record["created_at"]),
                float(record["last_used_at"]),
                float(record["last_used_at"]),
            )
            self.sessions.adopt(session)

    @staticmethod
    def _restore_book(book: ScenarioBook, record: Mapping[str, Any]) -> None:
        try:
            book.restore(record.get("scenarios") or {}, record.get("active_scenario") or "", record.get("api_calls"))
        except Exception:  # a stored scenario this version no longer takes: the session keeps the rest
            book.reset()

    async def health(self) -> dict[str, Any]:
        counts = await self.store.counts(await self.all_sessions())  # sessions idle past their expiry end first
        return {
            "status": "ok",
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "store": self.store.name,
            "time_scale": self.dispatcher.time_scale,
            "active_scenario": self.book.active_name,
            "payments": sum(counts.values()),
            "deliveries_pending": len(await self.store.pending_deliveries()),
            # live ones: a session idle past its expiry is not, even before the sweep ends it
            "sessions": sum(1 for s in self.sessions if not s.expired(self.clock.now())),
        }

    # internals
    def _new_delivery(
        self, payment: Payment, scenario: Scenario, occurred_at: float, created_at: float | None = None
    ) -> Delivery:
        event = FAILED_EVENT if payment.status == "PAYMENT_FAILED" else COMPLETED_EVENT
        return Delivery(
            session_id=payment.session_id,
            tx_id=payment.tx_id,
            event=event,
            scenario=scenario.name,
            callback_url=payment.callback_url,
            plan=scenario.webhook,
            occurred_at=occurred_at,
            created_at=self.clock.now() if created_at is None else created_at,
        )

    async def _acknowledged(self, delivery: Delivery) -> None:
        """A completed-event delivery was acknowledged: a PENDING payment completes (as of the event)."""
        if delivery.event != COMPLETED_EVENT:
            return
        payment = await self.store.get_payment(payment_id_for(delivery.tx_id))
        if payment is not None and payment.status == PENDING and payment.complete(delivery.occurred_at):
            await self.store.save_payment(payment)
