"""The mock provider: payments, scenarios and deliveries wired together. No HTTP here.

Handlers call these methods; they raise domain errors that the API layer turns into problems.

On a store several processes share (`store.shared`, postgres) each process is one of many acting as
one provider: a refresher follows the sessions and the global book the others change (polling the
store's state version), API-fault counters are counted in the store, a session is re-read before it
is ended as expired, and where two processes race (a duplicate create, two confirms) the store's
answer decides and the loser answers what the winner stored, sending nothing. With memory and sqlite
none of these paths run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Container, Iterator, Mapping, Sequence
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
from .domain.session_records import check_claims_among, follow, live_count, record_of, restore_book, session_from
from .domain.sessions import Claims, Session, SessionNotFound, Sessions, new_session_id
from .domain.webhooks import COMPLETED_EVENT, FAILED_EVENT, webhook_id
from .store.base import ALL_SESSIONS, SessionRecord, SharedStore, Store

log = logging.getLogger("paymock.sessions")

# Shared stores: how often a process asks whether another changed sessions or scenarios (one cheap
# query): a change is in force everywhere within about this, well inside the 1 s promised.
REFRESH_S = 0.25
# A repeat of a create another process is still sending polls the store this often for that first
# attempt's result, so both answer the same.
REPEAT_POLL_S = 0.02


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
        self._shared: SharedStore | None = store if store.shared else None  # type: ignore[assignment]
        self._refresher: asyncio.Task[None] | None = None
        self._seen_version: int | None = None
        # changes of this process's sessions in flight, and how many ended: the refresher must not
        # apply records read before one of them landed (it would undo it until the next round)
        self._changes_in_flight = 0
        self._changes_done = 0

    @property
    def auth_token(self) -> str | None:
        return self.dispatcher.auth_token

    async def start(self) -> None:
        """What a durable store kept comes back (sessions, the global book); sessions that expired
        while the server was down end before their pending retries resume; then the dispatcher runs."""
        if self._shared is not None:
            self._seen_version = await self._shared.state_version()  # before the load: no change missed
        await self._load_sessions()
        await self.expire()
        await self.dispatcher.start()
        if self._shared is not None:
            self._refresher = asyncio.create_task(self._follow(self._shared), name="paymock-refresher")

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        await self.dispatcher.stop()

    # API behaviour
    async def misbehave(self, scenario: Scenario, operation: str, session: Session | None = None) -> None:
        """Apply the scenario's API faults (counted in the session's book): added latency, then an
        injected error status."""
        target = session or self.global_session
        plan = scenario.api
        if plan.times is not None and self._shared is not None:  # counted across every process
            misbehaving = plan.applies_to(operation) and await self._shared.count_api_call(
                target.session_id, scenario.name, plan.times
            )
        else:
            # a counted fault (`api.times`) changes the session's book, which a durable store keeps
            counting = self.changing_book(target) if plan.times is not None else contextlib.nullcontext(target.book)
            async with counting as book:
                misbehaving = book.count_api_call(scenario, operation)
        if not misbehaving:
            return
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
        delivery = None
        if scenario.outcome != "pending":
            delay_s = scenario.payment_delay_ms / 1000.0 * self.dispatcher.time_scale
            # one float shared by the payment and its delivery: two float objects (~64 bytes) less per payment
            occurred_at = now + delay_s if delay_s else now
            delivery = self._new_delivery(payment, scenario, occurred_at, created_at=now)
        # Written first, looked up only if the tx_id was taken: a new payment (nearly every create) is one
        # write, one round trip on a server store. The payment and its first delivery land together: a
        # crash between two writes must not leave a payment whose webhook never goes out (durable stores).
        if not await self.store.add_payment(payment, delivery):
            # a repeat: of an earlier create, or (shared stores) of one another process won; the store decided
            stored = await self.store.get_payment(payment.payment_id)
            if stored is None:  # reset meanwhile
                raise Conflict(f"tx_id {tx_id!r} was created concurrently; repeat the request")
            return await self._repeat(stored, request, scenario_header, session)
        if delivery is None:
            return CreateResult(payment, created=True)
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._creating[tx_id] = first
        try:
            await self.dispatcher.dispatch(delivery, payment)
        finally:
            if self._creating.get(tx_id) is first:  # after a reset, a new create of this tx_id may own it
                del self._creating[tx_id]
            first.set_result(None)
        return CreateResult(payment, created=True)

    async def _repeat(
        self, existing: Payment, request: Mapping[str, Any], scenario_header: str | None, session: Session
    ) -> CreateResult:
        """A create of a tx_id that exists: the stored payment if it is the same request, a 409 if not."""
        if existing.session_id != session.session_id:
            # idempotency is global (tx_id is the provider's key), and another session's payment is
            # not this caller's to read: a conflict that says so, and nothing of the payment
            raise Conflict(
                f"tx_id {existing.tx_id!r} is taken by a payment of another session; tx_ids are unique across "
                "this server (the provider's idempotency key): use another tx_id"
            )
        existing.check_same_request(request)
        existing.check_same_scenario(scenario_header)
        first = self._creating.get(existing.tx_id)
        if first is not None:
            await asyncio.shield(first)
        elif self._shared is not None:
            existing = await self._first_attempt_result(existing)
        return CreateResult(existing, created=False)

    async def _first_attempt_result(self, payment: Payment) -> Payment:
        """Shared stores: a repeat of a create whose first attempt another process may still be sending
        answers what that process will, once the attempt is stored (at most the webhook timeout)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.dispatcher.timeout_s + 1.0
        while payment.status == PENDING and loop.time() < deadline:
            delivery = await self.store.get_delivery(webhook_id(COMPLETED_EVENT, payment.tx_id))
            if delivery is None or delivery.state != dl.PENDING or delivery.attempts or not _inline(delivery):
                break
            await asyncio.sleep(REPEAT_POLL_S)
        return await self.store.get_payment(payment.payment_id) or payment

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
        saved = True
        # the payment and its event's time land together (durable stores), or neither object changes
        async with self.store.atomic(payment, *([delivery] if delivery else [])):
            if delivery is not None and delivery.occurred_at > now:
                # a delayed completion (slow-completion) confirmed before its time: it happens now
                delivery.occurred_at = now
                await self.store.save_delivery(delivery)
            # completed when the event happened, so confirmed_at matches the webhook body
            if payment.complete(delivery.occurred_at if delivery else now):
                saved = await self.store.save_payment(payment)
        if not saved:  # another process completed it first (shared stores): its completion, its webhook
            return await self.store.get_payment(payment_id) or payment
        if delivery is None:
            delivery = self._new_delivery(payment, book.scenario(payment.scenario), payment.confirmed_at or 0.0)
            if not await self.store.add_delivery(delivery):  # another process's confirm made it first
                return await self.store.get_payment(payment_id) or payment
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
            async with self.changing_book(session, counts_reset=None) as book:
                book.reset()
            return removed
        self.dispatcher.clear()
        self._creating.clear()  # creates still sending belong to the wiped state: a new one must not wait
        self.book.reset()
        self.sessions.clear()
        with self._changing():
            try:
                return await self.store.clear()
            except BaseException:
                # the store kept everything (a shared one: the database refused): follow what it has again at
                # the refresher's next round, rather than serve the state wiped above until something changes
                self._seen_version = None
                raise

    # sessions
    async def session(self, session_id: str | None) -> Session:
        """The session a call names (X-Mock-Session), renewed; the global one when it names none."""
        if not session_id:
            return self.global_session
        session = self.sessions.find(session_id)
        if session is None:
            await self.expire()  # an expired one is cleaned up now rather than at the next sweep
            session = await self._made_elsewhere(session_id)
            if session is None:
                raise SessionNotFound(session_id)
        await self._touch(session)
        return session

    async def _made_elsewhere(self, session_id: str) -> Session | None:
        """Shared stores: a session another process made (or renewed) since the last refresh, read
        through now, so it is usable here at once; None if there is none (or the store is not shared)."""
        if self._shared is None:
            return None
        found = self.sessions.find(session_id)  # renewed elsewhere: expire() took that in
        if found is not None:
            return found
        record = await self._shared.load_session(session_id)
        found = self.sessions.find(session_id)  # the refresher may have adopted it meanwhile
        if found is not None or record is None:
            return found
        session = session_from(record, self.book.fresh(MAX_SESSION_SCENARIOS))
        if session.expired(self.clock.now()) or self.sessions.held(session_id) is not None:
            return None  # expired, or an expired one is still held here until its clean-up
        # a change of this process's sessions, as the refresher counts them: a round that read the records
        # before the other process stored this one would otherwise apply them after this adoption and drop
        # the session again (a 404 for a session that exists). Only the adoption counts (no await in it), so
        # lookups of unknown sessions never hold the refresher back
        with self._changing():
            self.sessions.adopt(session)
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
        wanted = Claims.from_dict(claims)
        session: Session | None = None
        with self._changing():
            try:
                async with self._claiming(wanted) as live:
                    session = self.sessions.create(
                        label=label, claims=wanted, idle_timeout_s=idle_timeout_s, among=live
                    )
                    await self._save_session(session)
            except BaseException:  # not stored: not live either (nothing half-created)
                if session is not None:
                    self.sessions.drop(session)
                raise
        return session

    async def set_claims(self, session_id: str, claims: Mapping[str, Any]) -> Session:
        session = await self.session(session_id)
        before = session.claims
        wanted = Claims.from_dict(claims)
        with self._changing():
            try:
                async with self._claiming(wanted, session) as live:
                    self.sessions.set_claims(session_id, wanted, among=live)
                    await self._save_session(session)
            except BaseException:
                if session.claims is not before:  # set here, not stored: as it was
                    self.sessions.reindex(session, before)
                raise
        return session

    @contextlib.asynccontextmanager
    async def _claiming(self, claims: Claims, session: Session | None = None) -> AsyncIterator[Container[str] | None]:
        """Around setting claims (of `session`, or of a new one: None) until they are stored. Shared stores:
        one process at a time (a lock in the database, held until the block's transaction ends), checked
        against every process's sessions as the store has them, which another process's claims set a moment
        ago are in even before this one follows them; and the session's book is taken as stored, since its
        whole record is saved (this process's copy may miss a scenario put elsewhere a moment ago). Yields the
        ids of the sessions the store has: the local check counts only those (one ended elsewhere, not yet
        dropped here, claims nothing). A new session is counted against the cap there too, under the same
        lock, so two processes opening the last place at once get one session and one 429, not two
        sessions. Elsewhere, the local check alone (None)."""
        if self._shared is None:
            yield None
            return
        session_id = None if session is None else session.session_id
        async with self.store.atomic():
            await self._shared.lock_claims()
            records = await self._shared.load_sessions()
            now = self.clock.now()
            if session is None:
                self.sessions.check_room(live_count(records, now))
            check_claims_among(records, claims, session_id, now)
            if session is not None:
                stored = next((r for r in records if r["session_id"] == session_id), None)
                if stored is None:
                    raise SessionNotFound(session_id)  # ended elsewhere: not brought back
                restore_book(session.book, stored)
            yield {r["session_id"] for r in records if r["session_id"] is not None}

    async def end_session(self, session_id: str) -> tuple[int, int]:
        """End a session: its payments and deliveries go as a reset's do, its retries are cancelled."""
        # its data goes first: if the store fails, the session is still live (and holds its claims),
        # so the caller can end it again, rather than its payments and retries outliving it unseen
        # (shared stores: one another process made a moment ago, not yet followed here, is read through)
        session = self.sessions.find(session_id) or await self._made_elsewhere(session_id)
        if session is None:
            raise SessionNotFound(session_id)
        with self._changing():
            removed = await self._purge(session)
            self.sessions.drop(session)
        return removed

    async def expire(self) -> int:
        """End every session idle past its expiry; returns how many. One the store fails to clean up
        stays held (refused to callers, as expired) and is cleaned up by the next sweep."""
        ended = 0
        for session in self.sessions.expired():
            if await self._renewed_elsewhere(session):
                continue
            with self._changing():
                await self._purge(session)
                self.sessions.drop(session)
            ended += 1
        return ended

    async def _renewed_elsewhere(self, session: Session) -> bool:
        """Shared stores: whether another process used the session since this one last heard (its record
        expires later): then it is renewed here too, not ended."""
        if self._shared is None or session.session_id is None:
            return False
        record = await self._shared.load_session(session.session_id)
        if record is None:
            return False
        used = float(record["last_used_at"])
        if used + int(record["idle_timeout_s"]) <= self.clock.now():
            return False
        session.last_used_at = max(session.last_used_at, used)
        session.saved_used_at = max(session.saved_used_at, used)
        return True

    async def session_live(self, session_id: str | None) -> bool:
        """Whether a session still holds its data (the dispatcher asks before a due attempt). One idle
        past its expiry is ended now, not at the next sweep: its retries must not go out meanwhile."""
        if session_id is None or self.sessions.find(session_id) is not None:
            return True
        await self.expire()
        return await self._made_elsewhere(session_id) is not None

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
            if self._shared is None:
                await self._save_session(session)
            else:
                await self._store_renewal(self._shared, session)
        except Exception:  # the renewal holds in memory; a store that fails now must not fail the call
            session.saved_used_at = 0.0  # written again on the next call
            log.warning("could not store the renewal of %s", session.session_id, exc_info=True)

    async def _store_renewal(self, store: SharedStore, session: Session) -> None:
        """Shared stores: a renewal moves the stored record's last use only. This process's whole record
        may predate a change another one stored a moment ago and this one has not followed yet (a scenario
        put, claims set, the session ended): written back, it would undo that change everywhere."""
        assert session.session_id is not None
        async with self._locked_record(store, session.session_id) as record:
            if record is None or float(record["last_used_at"]) >= session.last_used_at:
                return  # ended elsewhere (not brought back), or renewed later elsewhere
            await self.store.save_session({**record, "last_used_at": session.last_used_at})

    @contextlib.asynccontextmanager
    async def _locked_record(self, store: SharedStore, session_id: str | None) -> AsyncIterator[SessionRecord | None]:
        """Shared stores: a session's record (None: the global book's) as stored, read in a transaction
        holding the lock every change of a record takes (lock_claims): no other change lands in between."""
        async with self.store.atomic():
            await store.lock_claims()
            yield await store.load_session(session_id)

    async def _save_session(self, session: Session) -> None:
        await self.store.save_session(record_of(session))

    @contextlib.asynccontextmanager
    async def changing_book(
        self, session: Session, *, counts_reset: Sequence[str] | None = ()
    ) -> AsyncIterator[ScenarioBook]:
        """Around a change to a session's scenarios or active scenario (the global session's too): a
        durable store keeps it; if it cannot, the change is undone, so a failed call changed nothing.
        `counts_reset`: the scenarios whose API-fault counters the change starts again (None: all), which
        a shared store counts itself."""
        with self._changing():
            if self._shared is None:
                before = session.book.state()
                yield session.book
                try:
                    await self._save_session(session)
                except BaseException:
                    session.book.put_back(before)
                    raise
                return
            # Shared stores: the change is made to the book as the store has it, one process at a time. This
            # process's copy may miss a change another one stored a moment ago (not followed yet): written
            # back, it would undo it (a test's setup calls, round robin over two processes, lost every other one).
            async with self._locked_record(self._shared, session.session_id) as record:
                if record is None and session.session_id is not None:
                    raise SessionNotFound(session.session_id)  # ended elsewhere: not brought back
                before = session.book.state()
                if record is not None:
                    restore_book(session.book, record)
                try:
                    yield session.book
                    await self._save_session(session)
                    if counts_reset is None or counts_reset:
                        names = None if counts_reset is None else list(counts_reset)
                        await self._shared.reset_api_calls(session.session_id, names)
                except BaseException:
                    session.book.put_back(before)
                    raise

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Around a change of sessions or books this process is storing (see _follow)."""
        self._changes_in_flight += 1
        try:
            yield
        finally:
            self._changes_in_flight -= 1
            self._changes_done += 1

    async def _follow(self, store: SharedStore) -> None:
        """Shared stores: follow the sessions and global book other processes change, within REFRESH_S.
        Records read while this process was storing a change of its own are not applied (they may
        predate it): the next round reads again. Store errors wait for the next round."""
        failing = False  # a database outage is logged when it starts and when it ends, not 4 times a second
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                version = await store.state_version()
                if failing:
                    failing = False
                    log.warning("reading the shared session state works again")
                if version == self._seen_version:
                    continue
                done = self._changes_done
                records = await store.load_sessions()
            except Exception as exc:
                if not failing:
                    failing = True
                    log.warning(
                        "reading the shared session state failed (%s); trying again every %.2f s",
                        type(exc).__name__,
                        REFRESH_S,
                    )
                continue
            if self._changes_in_flight or done != self._changes_done:
                continue
            try:
                ended = follow(self.sessions, self.book, records, lambda: self.book.fresh(MAX_SESSION_SCENARIOS))
            except Exception:  # a record this version cannot read: the others are followed next round
                log.exception("following the shared session state failed; trying again in %.2f s", REFRESH_S)
                continue
            self._seen_version = version
            if ended:
                # their rows are gone: attempts in flight must not write back, and due ones find nothing to
                # claim (claim_delivery answers None for a row that is gone)
                self.dispatcher.forget([])

    async def _load_sessions(self) -> None:
        """Sessions a durable store kept across a restart come back live (their expiry still counts),
        and the global session's run-time scenarios, active scenario and API-fault counters."""
        for record in await self.store.load_sessions():
            if record["session_id"] is None:
                restore_book(self.book, record)
            else:
                self.sessions.adopt(session_from(record, self.book.fresh(MAX_SESSION_SCENARIOS)))

    async def health(self) -> dict[str, Any]:
        counts = await self.store.counts(await self.all_sessions())  # sessions idle past their expiry end first
        # counted by the store, not loaded: a backlog's deliveries (with their attempts) per health call
        _none, pending = await self.store.list_deliveries(state=dl.PENDING, limit=0, session=ALL_SESSIONS)
        return {
            "status": "ok",
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "store": self.store.name,
            "time_scale": self.dispatcher.time_scale,
            "active_scenario": self.book.active_name,
            "payments": sum(counts.values()),
            "deliveries_pending": pending,
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
        # no read first: the store completes it only if still PENDING (another process's completion wins)
        await self.store.complete_payment(payment_id_for(delivery.tx_id), delivery.occurred_at)


def _inline(delivery: Delivery) -> bool:
    """Whether the create that made this delivery sends its first attempt inline (Dispatcher.dispatch)."""
    plan = delivery.plan
    return not (plan.reorder or plan.delay_ms or delivery.occurred_at > delivery.created_at)
