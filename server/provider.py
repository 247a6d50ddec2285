"""The mock provider: payments, scenarios and deliveries wired together. No HTTP here.

Handlers call these methods; they raise domain errors that the API layer turns into problems.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
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
        self._load_sessions()
        self.dispatcher: Dispatcher = dispatcher_factory(self._acknowledged)
        self.dispatcher.session_live = self.session_live
        self.started_at = time.monotonic()
        # first attempts in flight, so concurrent repeats of a tx_id answer what the first one got
        self._creating: dict[str, asyncio.Future[None]] = {}

    @property
    def auth_token(self) -> str | None:
        return self.dispatcher.auth_token

    # API behaviour
    async def misbehave(self, scenario: Scenario, operation: str, session: Session | None = None) -> None:
        """Apply the scenario's API faults (counted in the session's book): added latency, then an
        injected error status."""
        target = session or self.global_session
        # a counted fault (`api.times`) changes the session's book, which a durable store keeps
        counting = self.changing_book(target) if scenario.api.times is not None else contextlib.nullcontext(target.book)
        with counting as book:
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
        session = self.routed(session_header, request)
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
        existing = self.store.get_payment(payment_id_for(tx_id))
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

    async def confirm(self, payment_id: str, scenario_header: str | None, session_header: str | None = None) -> Payment:
        payment = self.store.get_payment(payment_id)
        if session_header:
            session = self.session(session_header)
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
                self._touch(found)
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
        if self.store.get_payment(payment_id) is None or (
            session.session_id is not None and self.sessions.find(session.session_id) is not session
        ):
            # its session ended (or a reset ran) during the injected latency: the payment is gone, and
            # completing it now would write a delivery and send a webhook for a session that is no more
            raise NotFound(f"no payment {payment_id!r}")
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
            delivery = self._new_delivery(payment, book.scenario(payment.scenario), payment.confirmed_at or 0.0)
            self.store.add_delivery(delivery)
            await self.dispatcher.dispatch(delivery, payment)
        else:
            await self.dispatcher.send_now(delivery, payment)
        return payment

    async def listing(
        self, scenario_header: str | None, session_header: str | None = None, **filters: Any
    ) -> tuple[list[Payment], int, dict[str, int]]:
        session = self.session(session_header)
        await self.misbehave(session.book.select(scenario_header), "listing", session)
        items, total = self.store.list_payments(session=session.session_id, **filters)
        return items, total, self.store.counts(session.session_id)

    # control operations
    def payment_detail(self, payment_id: str, session: Session | None = None) -> tuple[Payment, list[Delivery]]:
        payment = self.store.get_payment(payment_id)
        if payment is None or payment.session_id != (session or self.global_session).session_id:
            raise NotFound(f"no payment {payment_id!r}")
        return payment, self.store.deliveries_for(payment.tx_id)

    def delivery(self, delivery_id: str, session: Session | None = None) -> Delivery:
        delivery = self.store.get_delivery(delivery_id)
        if delivery is None or delivery.session_id != (session or self.global_session).session_id:
            raise NotFound(f"no delivery {delivery_id!r}")
        return delivery

    def delivery_detail(self, delivery: Delivery) -> dict[str, Any]:
        payment = self.store.get_payment(delivery.payment_id)
        return delivery.detail(payment, self.dispatcher.secret, self.dispatcher.auth_token)

    async def redeliver(self, delivery_id: str, session: Session | None = None) -> Delivery:
        delivery = self.delivery(delivery_id, session)
        payment = self.store.get_payment(delivery.payment_id)
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

        def current() -> Delivery | None:
            # another session's delivery is not there, seen from here
            found = [
                d
                for d in self.store.deliveries_for(tx_id)
                if (event is None or d.event == event) and d.session_id == session_id
            ]
            return found[-1] if found else None

        def reached() -> Delivery | None:
            d = current()
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
        d = current()
        if d is None:
            of = f" of {event}" if event else ""
            raise NotFound(f"{asked}: payment {payment_id_for(tx_id)!r} has no delivery{of} yet")
        where = f"state {d.state} after {len(d.attempts)} attempt(s)"
        if d.attempts:  # why it is not there yet: the receiver's answer, or why none came
            last = d.attempts[-1]
            where += f"; the last one got {last.status_code}" if last.status_code else f"; the last one: {last.error}"
        raise WaitTimeout(f"{asked}: delivery {d.delivery_id!r} is in {where}", d.state)

    def reset(self, session: Session | None = None) -> tuple[int, int]:
        """The global reset (no session) forgets everything, every session included, as before sessions
        existed; a session's reset forgets only that session's payments, deliveries and scenarios."""
        if session is not None and session.session_id is not None:
            # data first: a store that fails there leaves the session as it was, scenarios included
            removed = self._clear_session(session.session_id)
            with self.changing_book(session) as book:
                book.reset()
            return removed
        self.dispatcher.clear()
        self._creating.clear()  # creates still sending belong to the wiped state: a new one must not wait
        self.book.reset()
        self.sessions.clear()
        return self.store.clear()

    # sessions
    def session(self, session_id: str | None) -> Session:
        """The session a call names (X-Mock-Session), renewed; the global one when it names none."""
        if not session_id:
            return self.global_session
        session = self.sessions.find(session_id)
        if session is None:
            self.expire()  # an expired one is cleaned up now rather than at the next sweep
            raise SessionNotFound(session_id)
        self._touch(session)
        return session

    def routed(self, session_id: str | None, request: Mapping[str, Any]) -> Session:
        """Where a provider call belongs: the named session, else the one claiming its data, else global."""
        if session_id:
            return self.session(session_id)
        found = self.sessions.claimant(request)
        if found is None:
            return self.global_session
        self._touch(found)
        return found

    def create_session(
        self, *, label: str | None = None, claims: Mapping[str, Any] | None = None, idle_timeout_s: int | None = None
    ) -> Session:
        self.expire()  # expired sessions do not count against the cap, nor hold their claims
        session = self.sessions.create(label=label, claims=Claims.from_dict(claims), idle_timeout_s=idle_timeout_s)
        try:
            self._save_session(session)
        except BaseException:  # not stored: not live either (nothing half-created)
            self.sessions.end(session.session_id)  # type: ignore[arg-type]
            raise
        return session

    def set_claims(self, session_id: str, claims: Mapping[str, Any]) -> Session:
        session = self.session(session_id)
        before = session.claims
        self.sessions.set_claims(session_id, Claims.from_dict(claims))
        try:
            self._save_session(session)
        except BaseException:
            self.sessions.set_claims(session_id, before)
            raise
        return session

    def end_session(self, session_id: str) -> tuple[int, int]:
        """End a session: its payments and deliveries go as a reset's do, its retries are cancelled."""
        # its data goes first: if the store fails, the session is still live (and holds its claims),
        # so the caller can end it again, rather than its payments and retries outliving it unseen
        session = self.sessions.get(session_id)
        removed = self._purge(session)
        self.sessions.drop(session)
        return removed

    def expire(self) -> int:
        """End every session idle past its expiry; returns how many. One the store fails to clean up
        stays held (refused to callers, as expired) and is cleaned up by the next sweep."""
        gone = self.sessions.expired()
        for session in gone:
            self._purge(session)
            self.sessions.drop(session)
        return len(gone)

    def session_live(self, session_id: str | None) -> bool:
        """Whether a session still holds its data (the dispatcher asks before a due attempt). One idle
        past its expiry is ended now, not at the next sweep: its retries must not go out meanwhile."""
        if session_id is None or self.sessions.find(session_id) is not None:
            return True
        self.expire()
        return False

    def all_sessions(self) -> str:
        """The store's scope for every session's data, once sessions idle past their expiry have ended
        (their data must not show meanwhile)."""
        self.expire()
        return ALL_SESSIONS

    def live_sessions(self) -> list[Session]:
        self.expire()
        return list(self.sessions)

    def describe(self, session: Session) -> dict[str, Any]:
        sid = session.session_id
        return session.describe(sum(self.store.counts(sid).values()), self.store.delivery_count(sid))

    def _purge(self, session: Session) -> tuple[int, int]:
        assert session.session_id is not None
        removed = self._clear_session(session.session_id)
        self.store.delete_session(session.session_id)
        return removed

    def _clear_session(self, session_id: str) -> tuple[int, int]:
        waiting, _ = self.store.list_deliveries(session=session_id, state=dl.PENDING, limit=None)
        pending = [d.delivery_id for d in waiting]
        removed = self.store.clear_session(session_id)
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
                self._touch(session)
            session.busy -= 1

    def _touch(self, session: Session) -> None:
        if not self.sessions.touch(session):
            return
        try:
            self._save_session(session)
        except Exception:  # the renewal holds in memory; a store that fails now must not fail the call
            session.saved_used_at = 0.0  # written again on the next call
            log.warning("could not store the renewal of %s", session.session_id, exc_info=True)

    def _save_session(self, session: Session) -> None:
        self.store.save_session(
            {
                "session_id": session.session_id,
                "label": session.label,
                "claims": session.claims.to_dict(),
                "idle_timeout_s": session.idle_timeout_s,
                "created_at": session.created_at,
                "last_used_at": session.last_used_at,
                "active_scenario": session.book.active_name,
                "scenarios": session.book.runtime_documents(),
                "api_calls": session.book.api_calls(),
            }
        )

    @contextlib.contextmanager
    def changing_book(self, session: Session) -> Iterator[ScenarioBook]:
        """Around a change to a session's scenarios or active scenario: a durable store keeps it; if it
        cannot, the change is undone, so a failed call changed nothing. The global book is not stored."""
        if session.session_id is None:
            yield session.book
            return
        before = session.book.state()
        yield session.book
        try:
            self._save_session(session)
        except BaseException:
            session.book.put_back(before)
            raise

    def _load_sessions(self) -> None:
        """Sessions a durable store kept across a restart come back live (their expiry still counts)."""
        for record in self.store.load_sessions():
            book = self.book.fresh(MAX_SESSION_SCENARIOS)
            try:
                book.restore(
                    record.get("scenarios") or {}, record.get("active_scenario") or "", record.get("api_calls")
                )
            except Exception:  # a stored scenario this version no longer takes: the session keeps the rest
                book.reset()
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

    def health(self) -> dict[str, Any]:
        counts = self.store.counts(self.all_sessions())  # sessions idle past their expiry end first
        return {
            "status": "ok",
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "store": self.store.name,
            "time_scale": self.dispatcher.time_scale,
            "active_scenario": self.book.active_name,
            "payments": sum(counts.values()),
            "deliveries_pending": len(self.store.pending_deliveries()),
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

    def _acknowledged(self, delivery: Delivery) -> None:
        """A completed-event delivery was acknowledged: a PENDING payment completes (as of the event)."""
        if delivery.event != COMPLETED_EVENT:
            return
        payment = self.store.get_payment(payment_id_for(delivery.tx_id))
        if payment is not None and payment.status == PENDING and payment.complete(delivery.occurred_at):
            self.store.save_payment(payment)
