"""The shared store: PostgreSQL (psycopg 3, its async connection pool), for several paymock processes
acting as one provider.

Semantics are the memory and sqlite stores' (insertion order, newest-first deliveries, the same filters
and counts); `tests/store/` runs one suite against all three. What only a shared store has (leases on
deliveries, API-fault counters, a version of the session state) is `SharedStore` in base.py.

Why these choices:
- Asyncio all the way: every call awaits the pool, never blocks the event loop. Calls outside
  `atomic()` run on a pooled connection in autocommit, one statement each where it can be (several
  writes that must land together are one statement with data-modifying CTEs), so a call is one round
  trip. `atomic()` holds one connection in one transaction for the block, bound to the task that
  opened it (a ContextVar): the store calls inside it use it, tasks it spawns do not.
- Status counts are a GROUP BY over the (session_id, status) index, not a counts table: every create
  would otherwise update one of a few hot counter rows, serialising the creates of all processes on
  that row's lock (and risking deadlocks between the PENDING and COMPLETED rows). The GROUP BY is an
  index-only scan of one session's payments, paid by listings and /health only (measured here: ~16 ms
  for 100k payments in one session, ~1.7 ms for a 100-row status listing), and is right whatever any
  process did.
- An identity map of live objects (weak references), as sqlite has: the provider and the dispatcher
  mutate the Payment/Delivery they got and then save it, so one id is one object while someone holds
  it. Unlike sqlite, every get/list refreshes that object in place from its row, since another process
  may have changed it, except while this process is writing it (a save in flight, or a transaction not
  yet committed): a row read before our own write landed must not undo it. Attempts and `started` are
  merged (both sides' kept), the rest is the row's.
- Incarnations: a reset (here or in another process) removes rows that tasks still hold objects of (an
  attempt in flight, a confirm), and tests reuse a tx_id right after one: the new row has the old id.
  The store remembers each live object's row by its seq (an identity column, never reused: TRUNCATE
  keeps the sequence going), and writes an object back only onto that row. An object of a removed row
  writes nothing (its attempts are not added, its payment not completed); a read of the new row gives a
  new object, never the old one refreshed.
- Timeouts: a slow or gone database fails a call (503 to the client) instead of hanging it; see the
  constants below.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import uuid
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ..domain.clock import Clock, SystemClock
from ..domain.deliveries import PENDING, Attempt, Delivery
from ..domain.payments import COMPLETED, STATUSES, Payment
from ..domain.payments import PENDING as PAY_PENDING
from ..domain.retry import stored_next_attempt_at
from ..domain.scenarios.model import WebhookPlan
from ..settings import PostgresSettings
from . import pg_migrations
from .base import ALL_SESSIONS, restored_on_failure
from .pg_url import masked, scrub

CONNECT_TIMEOUT_S = 5  # libpq connect_timeout: whole seconds
# A database host that vanished without closing connections (a partition, a killed VM): TCP notices
# in ~10 s instead of the kernel's default ~15 min, and the call fails instead of hanging.
TCP_USER_TIMEOUT_MS = 10_000
# A delivery leased to this process stays ours this long past its due time; another process takes it
# over once it has passed (this process died or hangs).
LEASE_S = 10.0
# pg_advisory_xact_lock key ("pmk" + 2; migrations use + 1): changes of sessions' claims, one at a time
CLAIMS_LOCK_KEY = 0x706D6B02

GLOBAL = ""  # session_id column of the global session (None in objects): see pg_migrations

_P_COLS = (
    "tx_id, order_id, user_id, amount, callback_url, scenario, created_at, status, confirmed_at, failure_reason, "
    "session_id"
)
# a delivery row with its attempts, oldest first, as one JSON array of arrays (one round trip)
_D_COLS = (
    "d.delivery_id, d.tx_id, d.event, d.scenario, d.callback_url, d.plan, d.occurred_at, d.created_at, d.state, "
    "d.next_attempt_at, d.started, d.reason, d.session_id, "
    "(SELECT coalesce(json_agg(json_build_array(a.number, a.kind, a.at, a.status_code, a.error, a.latency_ms, "
    "a.simulated, a.signature, a.body) ORDER BY a.number, a.at, a.id), '[]') FROM attempts a "
    "WHERE a.delivery_id = d.delivery_id), d.seq"
)


# the attempts of one delivery as parallel arrays, inserted with unnest; stored ones are skipped. `p` prefixes
# the parameters' names, so that several writes can share one statement (see _writes)
def _attempts_insert(source: str, p: str = "") -> str:
    return (
        "INSERT INTO attempts (delivery_id, number, kind, at, status_code, error, latency_ms, simulated, signature, "
        f"body) SELECT t.delivery_id, x.* FROM {source} t, unnest(%({p}a_number)s::integer[], %({p}a_kind)s::text[], "
        f"%({p}a_at)s::float8[], %({p}a_code)s::integer[], %({p}a_error)s::text[], %({p}a_latency)s::float8[], "
        f"%({p}a_simulated)s::boolean[], %({p}a_signature)s::text[], %({p}a_body)s::text[]) AS x "
        "ON CONFLICT (delivery_id, number, kind, at) DO NOTHING"
    )


# a new delivery, leased to this process; `source` is "" (VALUES) or "FROM p" (only if that CTE has a row)
_D_INSERT = (
    "INSERT INTO deliveries (delivery_id, tx_id, event, scenario, callback_url, plan, occurred_at, created_at, state, "
    "next_attempt_at, started, reason, session_id, lease_owner, lease_until) SELECT %(id)s, %(tx_id)s, %(event)s, "
    "%(scenario)s, %(url)s, %(plan)s, %(occurred)s, %(created)s, %(state)s, %(next)s, %(started)s, %(reason)s, "
    "%(session)s, %(owner)s, %(until)s {source} ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id, seq"
)
_BUMP = "UPDATE state_version SET version = version + 1"
_PLAN_FIELDS = WebhookPlan.__dataclass_fields__.keys()
_PLANS_CACHED = 1024  # distinct plans kept parsed (a run has a handful)


class StoreError(Exception):
    """The store cannot be opened as asked; the message names the database (password masked) and why."""


def _equal_to(*filters: tuple[str, Any]) -> tuple[list[str], list[Any]]:
    """A listing's WHERE terms and their arguments: each column equal to its value, where one is given."""
    given = [(column, value) for column, value in filters if value is not None]
    return [f"{column} = %s" for column, _ in given], [value for _, value in given]


def _key(session: str | None) -> str:
    return GLOBAL if session is None else session


def _session(key: str) -> str | None:
    return None if key == GLOBAL else key


def _attempt_params(attempts: tuple[Attempt, ...], p: str = "") -> dict[str, list[Any]]:
    return {
        f"{p}a_number": [a.number for a in attempts],
        f"{p}a_kind": [a.kind for a in attempts],
        f"{p}a_at": [a.at for a in attempts],
        f"{p}a_code": [a.status_code for a in attempts],
        f"{p}a_error": [a.error for a in attempts],
        f"{p}a_latency": [a.latency_ms for a in attempts],
        f"{p}a_simulated": [a.simulated for a in attempts],
        f"{p}a_signature": [a.signature for a in attempts],
        f"{p}a_body": [a.body for a in attempts],
    }


def _merged(local: tuple[Attempt, ...], stored: tuple[Attempt, ...]) -> tuple[Attempt, ...]:
    """Every attempt either side has (this process's not yet saved, another's), in number order."""
    if local == stored or not local:
        return stored
    seen = {(a.number, a.kind, a.at) for a in stored}
    extra = [a for a in local if (a.number, a.kind, a.at) not in seen]
    if not extra:
        return stored
    return tuple(sorted((*stored, *extra), key=lambda a: (a.number, a.at)))


# a write nobody awaits an answer of: a delivery to save, or (payment id, completed at, the payment's row seq
# if known) to complete
_Write = Delivery | tuple[str, float, int | None]


@dataclass(eq=False)
class _Tx:
    """One atomic() block: its connection, the task it belongs to, what it added and wrote. Writes whose
    answer nobody awaits (save_delivery, complete_payment) wait in `deferred`, by row, and go out as one
    statement before the block's next statement or at its end. BEGIN goes out only before a statement
    whose answer is awaited: a block of deferred writes only (a webhook attempt's outcome) is one
    statement, atomic by itself, with no BEGIN and COMMIT round trips."""

    conn: psycopg.AsyncConnection
    task: asyncio.Task[Any] | None
    added: list[tuple[weakref.WeakValueDictionary[str, Any], str]] = field(default_factory=list)
    writing: list[str] = field(default_factory=list)
    deferred: dict[str, _Write] = field(default_factory=dict)
    transaction: contextlib.AsyncExitStack | None = None
    stale: list[str] = field(default_factory=list)  # payments completed here but not in the store: reload
    closed: bool = False


class PostgresStore:
    name = "postgres"
    shared = True

    def __init__(
        self,
        url: str,
        *,
        owner: str | None = None,
        lease_s: float = LEASE_S,
        clock: Clock | None = None,
        settings: PostgresSettings | None = None,
    ) -> None:
        self.url = url
        self.where = masked(url)
        self.owner = owner or uuid.uuid4().hex
        self.lease_s = lease_s
        self.clock = clock or SystemClock()
        settings = settings or PostgresSettings()
        self._connect_kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "paymock",
            # a transaction left idle (a hung task inside atomic()) holds its row locks for at most a minute
            "options": f"-c statement_timeout={int(settings.statement_timeout_s * 1000)} "
            "-c idle_in_transaction_session_timeout=60000",
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
        }
        self._pool = AsyncConnectionPool(
            url,
            kwargs=self._connect_kwargs,
            min_size=1,
            max_size=settings.pool_max,
            timeout=settings.pool_timeout_s,
            open=False,
            name="paymock",
        )
        # a ContextVar per store: a block of one store must not lend its connection to another store
        self._tx_var: contextvars.ContextVar[_Tx | None] = contextvars.ContextVar(
            f"paymock_pg_{id(self)}", default=None
        )
        self._live_payments: weakref.WeakValueDictionary[str, Payment] = weakref.WeakValueDictionary()
        self._live_deliveries: weakref.WeakValueDictionary[str, Delivery] = weakref.WeakValueDictionary()
        # the row (seq) each live object is of, by id (see Incarnations in the module doc); entries of dead
        # objects are pruned as the dicts grow
        self._payment_seqs: dict[str, int] = {}
        self._delivery_seqs: dict[str, int] = {}
        self._plans: dict[str, WebhookPlan] = {}
        self._plan_bodies: dict[WebhookPlan, str] = {}
        # refresh guard (see the module doc): writes in flight by key, when each key's last write ended,
        # and the start marks of reads in flight
        self._gen = 0
        self._saving: Counter[str] = Counter()
        self._written: dict[str, int] = {}
        self._reads: Counter[int] = Counter()

    # opening and closing
    async def open(self) -> PostgresStore:
        """Connect, migrate the schema, open the pool. StoreError (one line, password masked) if the
        database cannot be reached or is not one this paymock can use."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, **self._connect_kwargs)
        except psycopg.Error as exc:
            reason = scrub(" ".join(str(exc).split()), self.url)
            raise StoreError(f"cannot connect to PostgreSQL at {self.where}: {reason}") from None
        try:
            async with conn:
                await pg_migrations.migrate(conn, self.where)
        except pg_migrations.SchemaError as exc:
            raise StoreError(str(exc)) from None
        except psycopg.Error as exc:
            reason = scrub(" ".join(str(exc).split()), self.url)
            raise StoreError(f"cannot prepare the paymock schema in {self.where}: {reason}") from None
        await self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        return self

    async def close(self) -> None:
        await self._pool.close()

    # connections and transactions
    def _tx(self) -> _Tx | None:
        tx = self._tx_var.get()
        if tx is None or tx.closed or tx.task is not asyncio.current_task():
            return None
        return tx

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[psycopg.AsyncConnection]:
        tx = self._tx()
        if tx is not None:
            if tx.transaction is None:
                tx.transaction = contextlib.AsyncExitStack()
                await tx.transaction.enter_async_context(tx.conn.transaction())
            if tx.deferred:  # they were asked for before this statement, so they go before it
                await self._flush(tx)
            yield tx.conn
            return
        async with self._pool.connection() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def atomic(self, *restore: object) -> AsyncIterator[None]:
        """One transaction on one connection for the block (nested blocks join the outer one), begun
        lazily (see _Tx). On a rollback the objects in `restore` get their fields back, as the rows do."""
        if self._tx() is not None:
            with restored_on_failure(restore):
                yield
            return
        with restored_on_failure(restore):
            async with self._pool.connection() as conn:
                tx = _Tx(conn, asyncio.current_task())
                token = self._tx_var.set(tx)
                try:
                    try:
                        yield
                        if tx.deferred:  # in the transaction if one began, else one statement on its own
                            await self._flush(tx)
                    except BaseException as exc:
                        if tx.transaction is not None:  # rolls back
                            await tx.transaction.__aexit__(type(exc), exc, exc.__traceback__)
                        raise
                    if tx.transaction is not None:  # commits
                        await tx.transaction.aclose()
                except BaseException:
                    for live, key in tx.added:
                        live.pop(key, None)
                    raise
                finally:
                    tx.closed = True
                    self._tx_var.reset(token)
                    for key in tx.writing:
                        self._wrote(key)
        await self._reload(tx.stale)

    async def _flush(self, tx: _Tx) -> None:
        writes, tx.deferred = tx.deferred, {}
        tx.stale += await self._writes(tx.conn, list(writes.values()))

    async def _writes(self, conn: psycopg.AsyncConnection, writes: list[_Write]) -> list[str]:
        """Several writes as one statement (data-modifying CTEs); the ids of the payments a completion
        found no longer PENDING (another process completed it first, or it is gone)."""
        ctes: list[str] = []
        params: dict[str, Any] = {}
        completions: list[tuple[str, str]] = []
        updates: dict[str, str] = {}  # payment id -> the CTE saving its delivery in this statement
        for n, write in enumerate(writes):
            if isinstance(write, Delivery):
                ctes += self._delivery_update(write, f"w{n}_", params)
                updates[write.payment_id] = f"w{n}_t"
        for n, write in enumerate(writes):
            p = f"w{n}_"
            if not isinstance(write, Delivery):
                payment_id, at, seq = write
                # the row the payment's object was read from; and with its acknowledged delivery saved alongside,
                # only if that delivery's row is the one it was read from (a reset may have made both anew)
                same = "" if seq is None else f" AND seq = %({p}seq)s"
                if payment_id in updates:
                    same += f" AND EXISTS (SELECT FROM {updates[payment_id]})"
                ctes.append(
                    f"{p}u AS (UPDATE payments SET status = %({p}done)s, confirmed_at = coalesce(confirmed_at, "
                    f"%({p}at)s) WHERE payment_id = %({p}id)s AND status = %({p}pending)s{same} RETURNING 1)"
                )
                params.update(
                    {
                        f"{p}done": COMPLETED,
                        f"{p}at": at,
                        f"{p}id": payment_id,
                        f"{p}pending": PAY_PENDING,
                        f"{p}seq": seq,
                    }
                )
                completions.append((payment_id, f"{p}u"))
        counts = ", ".join(f"(SELECT count(*) FROM {name})" for _, name in completions) or "1"
        cur = await conn.execute(f"WITH {', '.join(ctes)} SELECT {counts}", params)
        row = await cur.fetchone()
        return [payment_id for (payment_id, _), n in zip(completions, row or (), strict=False) if not n]

    async def _reload(self, payment_ids: list[str]) -> None:
        """Completed here, not in the store: the object takes the row's values (those of whoever completed
        it). Best effort: the write is done, and the next read refreshes the object anyway."""
        for payment_id in payment_ids:
            with contextlib.suppress(psycopg.Error):
                await self.get_payment(payment_id)

    # the refresh guard
    @contextlib.contextmanager
    def _writing(self, key: str) -> Iterator[None]:
        """Around a write of one row: reads meanwhile must not refresh its object from the row."""
        self._saving[key] += 1
        try:
            yield
        finally:
            tx = self._tx()
            if tx is not None:  # visible to other connections at commit only
                tx.writing.append(key)
            else:
                self._wrote(key)

    def _wrote(self, key: str) -> None:
        self._saving[key] -= 1
        if self._saving[key] <= 0:
            del self._saving[key]
        self._gen += 1
        self._written[key] = self._gen
        if len(self._written) > 4096:  # forget marks no read in flight can be older than
            oldest = min(self._reads, default=self._gen)
            self._written = {k: g for k, g in self._written.items() if g > oldest}

    @contextlib.contextmanager
    def _reading(self) -> Iterator[int]:
        mark = self._gen
        self._reads[mark] += 1
        try:
            yield mark
        finally:
            self._reads[mark] -= 1
            if self._reads[mark] <= 0:
                del self._reads[mark]

    def _may_refresh(self, key: str, mark: int) -> bool:
        return key not in self._saving and self._written.get(key, -1) <= mark

    async def _fetch(self, query: str, params: Any = None) -> tuple[list[tuple[Any, ...]], int]:
        with self._reading() as mark:
            async with self._conn() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall(), mark

    async def _row(self, query: str, params: Any = None) -> tuple[Any, ...] | None:
        async with self._conn() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchone()

    async def _scalar(self, query: str, params: Any = None) -> Any:
        row = await self._row(query, params)
        return None if row is None else row[0]

    # payments
    def _payment(self, row: tuple[Any, ...], mark: int) -> Payment:
        pid = "pay_" + row[0]
        live = self._live_payments.get(pid)
        if live is None or self._payment_seqs.get(pid) != row[11]:  # none held, or one of another row
            payment = Payment(*row[:10], session_id=_session(row[10]))
            if self._newer(live, self._payment_seqs, pid, row[11]):
                self._live(self._live_payments, self._payment_seqs, pid, payment, row[11])
            return payment
        if self._may_refresh("p" + pid, mark):
            live.status, live.confirmed_at, live.failure_reason = row[7], row[8], row[9]
        return live

    async def get_payment(self, payment_id: str) -> Payment | None:
        rows, mark = await self._fetch(f"SELECT {_P_COLS}, seq FROM payments WHERE payment_id = %s", (payment_id,))
        return self._payment(rows[0], mark) if rows else None

    async def add_payment(self, payment: Payment, delivery: Delivery | None = None) -> bool:
        """One statement, with the first delivery too when given (its insert selects from the payment's,
        so it happens only if the payment was new): no BEGIN/COMMIT round trips around two inserts."""
        p = payment
        params = {
            "pid": p.payment_id,
            "ptx": p.tx_id,
            "order": p.order_id,
            "user": p.user_id,
            "amount": p.amount,
            "purl": p.callback_url,
            "pscenario": p.scenario,
            "pcreated": p.created_at,
            "status": p.status,
            "confirmed": p.confirmed_at,
            "failure": p.failure_reason,
            "psession": _key(p.session_id),
        }
        insert = (
            f"INSERT INTO payments (payment_id, {_P_COLS}) VALUES (%(pid)s, %(ptx)s, %(order)s, %(user)s, %(amount)s, "
            "%(purl)s, %(pscenario)s, %(pcreated)s, %(status)s, %(confirmed)s, %(failure)s, %(psession)s) "
            "ON CONFLICT (payment_id) DO NOTHING RETURNING seq"
        )
        if delivery is None:
            added, delivered = await self._scalar(insert, params), None
        else:
            params.update(self._delivery_params(delivery))
            attempts = self._with_attempts(delivery, params)
            row = await self._row(
                f"WITH p AS ({insert}), t AS ({_D_INSERT.format(source='FROM p')}){attempts} "
                "SELECT (SELECT seq FROM p), (SELECT seq FROM t)",
                params,
            )
            added, delivered = row  # type: ignore[misc]
        if added is None:
            return False
        self._added(self._live_payments, self._payment_seqs, p.payment_id, p, added)
        if delivered is not None:
            self._added(self._live_deliveries, self._delivery_seqs, delivery.delivery_id, delivery, delivered)  # type: ignore[union-attr]
        return True

    def _added(
        self, live: weakref.WeakValueDictionary[str, Any], seqs: dict[str, int], key: str, obj: object, seq: int
    ) -> None:
        self._live(live, seqs, key, obj, seq)
        tx = self._tx()
        if tx is not None:  # forgotten again if the transaction rolls back
            tx.added.append((live, key))

    @staticmethod
    def _live(
        live: weakref.WeakValueDictionary[str, Any], seqs: dict[str, int], key: str, obj: object, seq: int
    ) -> None:
        """`obj` is the live object of row `seq` (see Incarnations in the module doc)."""
        live[key] = obj
        seqs[key] = seq
        if len(seqs) > 2 * len(live) + 1024:  # forget the rows of objects gone (amortised: rarely, all at once)
            for gone in [k for k in seqs if k not in live]:
                del seqs[gone]

    @staticmethod
    def _newer(live: object | None, seqs: dict[str, int], key: str, seq: int) -> bool:
        """Whether a row read is to be its id's live object: none is held, or the held one is of an older row
        (removed by a reset). A row older than the held one's (read before a reset, answered after a new row
        of its id was added here) gets an object of its own that writes nothing, and the new one stays."""
        known = seqs.get(key)
        return live is None or known is None or seq > known

    @staticmethod
    def _seq(live: weakref.WeakValueDictionary[str, Any], seqs: dict[str, int], key: str, obj: object) -> int | None:
        """The row `obj` was read from; None if it is no longer the live object of its id (a reset here forgot
        it, or a read found a new row of its id): then it writes nothing."""
        return seqs.get(key) if live.get(key) is obj else None

    async def save_payment(self, payment: Payment) -> bool:
        """Only a PENDING row moves on. False when the row had moved on already to something else (another
        process completed it first), or is gone (a reset removed it, and maybe a new row has its id): nothing
        written; True when written or unchanged."""
        p = payment
        seq = self._seq(self._live_payments, self._payment_seqs, p.payment_id, p)
        if seq is None:
            return False
        params = (p.status, p.confirmed_at, p.failure_reason, seq, PAY_PENDING, seq)
        with self._writing("p" + p.payment_id):
            async with self._conn() as conn:
                cur = await conn.execute(
                    "WITH u AS (UPDATE payments SET status = %s, confirmed_at = %s, failure_reason = %s "
                    "WHERE seq = %s AND status = %s RETURNING 1) "
                    "SELECT (SELECT count(*) FROM u), status, confirmed_at, failure_reason FROM payments "
                    "WHERE seq = %s",
                    params,
                )
                row = await cur.fetchone()
        if row is None:
            return False
        if row[0]:
            return True
        return (row[1], row[2], row[3]) == (p.status, p.confirmed_at, p.failure_reason)

    async def complete_payment(self, payment_id: str, at: float) -> None:
        """The live object completes at once; the row when it is still PENDING (inside atomic(), with the
        block's other writes: _Tx). Found no longer PENDING, the object is reloaded from it afterwards."""
        live = self._live_payments.get(payment_id)
        changed = live is not None and live.status == PAY_PENDING and live.complete(at)
        seq = None if live is None else self._payment_seqs.get(payment_id)  # its row, as read here
        key = "p" + payment_id
        with self._writing(key):
            tx = self._tx()
            if tx is not None:
                tx.deferred.setdefault(key, (payment_id, at, seq))  # completed once: the first time is kept
                return
            async with self._pool.connection() as conn:
                stale = await self._writes(conn, [(payment_id, at, seq)])
        if changed:
            await self._reload(stale)

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
        where, args = _equal_to(("session_id", _key(session)), ("status", status), ("scenario", scenario))
        if tx_id_prefix is not None:
            where.append("starts_with(tx_id, %s)")  # not LIKE: tx_ids may hold % and _
            args.append(tx_id_prefix)
        clause = " WHERE " + " AND ".join(where)
        with self._reading() as mark:
            rows, total = await self._page(
                f"SELECT {_P_COLS}, seq FROM payments{clause} ORDER BY seq",
                f"FROM payments{clause}",
                args,
                limit,
                offset,
            )
            return [self._payment(r, mark) for r in rows], total

    async def counts(self, session: str | None = None) -> dict[str, int]:
        if session == ALL_SESSIONS:
            rows, _ = await self._fetch("SELECT status, count(*) FROM payments GROUP BY status")
        else:
            rows, _ = await self._fetch(
                "SELECT status, count(*) FROM payments WHERE session_id = %s GROUP BY status", (_key(session),)
            )
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({status: n for status, n in rows if status in counts})
        return counts

    async def delivery_count(self, session: str | None = None) -> int:
        return await self._scalar("SELECT count(*) FROM deliveries WHERE session_id = %s", (_key(session),))

    # deliveries
    def _plan_body(self, plan: WebhookPlan) -> str:
        body = self._plan_bodies.get(plan)
        if body is None:
            fields = {f: getattr(plan, f) for f in _PLAN_FIELDS}
            body = json.dumps(fields, sort_keys=True, separators=(",", ":"))
            self._cache_plan(body, plan)
        return body

    def _plan(self, body: str) -> WebhookPlan:
        plan = self._plans.get(body)
        if plan is None:
            data = json.loads(body)
            data["retry_schedule_ms"] = tuple(data["retry_schedule_ms"])
            plan = WebhookPlan(**{k: v for k, v in data.items() if k in _PLAN_FIELDS})
            self._cache_plan(body, plan)
        return plan

    def _cache_plan(self, body: str, plan: WebhookPlan) -> None:
        if len(self._plans) >= _PLANS_CACHED:
            self._plans.clear()
            self._plan_bodies.clear()
        self._plans[body] = plan
        self._plan_bodies[plan] = body

    def _delivery(self, row: tuple[Any, ...], mark: int) -> Delivery:
        (
            delivery_id,
            tx_id,
            event,
            scenario,
            url,
            plan,
            occurred,
            created,
            state,
            next_at,
            started,
            reason,
            session_key,
            attempts_json,
            seq,
        ) = row
        # JSON gives 3 for 3.0: floats back as floats
        attempts = tuple(
            Attempt(n, k, float(at), code, error, float(ms), *rest)
            for n, k, at, code, error, ms, *rest in attempts_json
        )
        last_at = attempts[-1].at if attempts else created
        next_at = stored_next_attempt_at(next_at, last_at)
        live = self._live_deliveries.get(delivery_id)
        if live is None or self._delivery_seqs.get(delivery_id) != seq:  # none held, or one of another row
            delivery = Delivery(
                tx_id=tx_id,
                event=event,
                scenario=scenario,
                callback_url=url,
                plan=self._plan(plan),
                occurred_at=occurred,
                created_at=created,
                state=state,
                next_attempt_at=next_at,
                attempts=attempts,
                started=started,
                reason=reason,
                session_id=_session(session_key),
            )
            if self._newer(live, self._delivery_seqs, delivery_id, seq):
                self._live(self._live_deliveries, self._delivery_seqs, delivery_id, delivery, seq)
            return delivery
        if self._may_refresh("d" + delivery_id, mark):
            live.state, live.next_attempt_at, live.reason = state, next_at, reason
            live.occurred_at = min(live.occurred_at, occurred)  # a confirm elsewhere moved the event earlier
            live.attempts = _merged(live.attempts, attempts)
            live.started = max(live.started, started)
        return live

    def _lease_from(self, d: Delivery) -> float:
        return (d.next_attempt_at if d.next_attempt_at is not None else self.clock.now()) + self.lease_s

    def _delivery_params(self, d: Delivery) -> dict[str, Any]:
        return {
            "id": d.delivery_id,
            "tx_id": d.tx_id,
            "event": d.event,
            "scenario": d.scenario,
            "url": d.callback_url,
            "plan": self._plan_body(d.plan),
            "occurred": d.occurred_at,
            "created": d.created_at,
            "state": d.state,
            "next": d.next_attempt_at,
            "started": d.started,
            "reason": d.reason,
            "session": _key(d.session_id),
            "owner": self.owner if d.state == PENDING else None,
            "until": self._lease_from(d) if d.state == PENDING else None,
        }

    @staticmethod
    def _with_attempts(d: Delivery, params: dict[str, Any]) -> str:
        """The CTE adding a new delivery's attempts (after the one named t), if it has any: a first
        delivery has none, and nine empty arrays cost dumping and unnesting for nothing."""
        if not d.attempts:
            return ""
        params.update(_attempt_params(d.attempts))
        return f", a AS ({_attempts_insert('t')})"

    async def add_delivery(self, delivery: Delivery) -> bool:
        """Insert with its attempts, leased to this process; False (nothing changed) if the id exists."""
        params = self._delivery_params(delivery)
        attempts = self._with_attempts(delivery, params)
        added = await self._scalar(f"WITH t AS ({_D_INSERT.format(source='')}){attempts} SELECT seq FROM t", params)
        if added is None:
            return False
        self._added(self._live_deliveries, self._delivery_seqs, delivery.delivery_id, delivery, added)
        return True

    async def save_delivery(self, delivery: Delivery) -> None:
        """State, next attempt, reason; `started` never goes back; attempts are added to the stored ones.
        The lease follows a save of ours (or of a delivery nobody holds): due time + lease_s while
        pending, cleared when settled. Another process's lease is left as it is. Inside atomic() the
        write waits for the block's next statement or its end (_Tx): its values are taken then."""
        key = "d" + delivery.delivery_id
        with self._writing(key):
            tx = self._tx()
            if tx is not None:
                tx.deferred[key] = delivery
                return
            async with self._pool.connection() as conn:
                await self._writes(conn, [delivery])

    def _delivery_update(self, d: Delivery, p: str, params: dict[str, Any]) -> list[str]:
        """save_delivery's write as CTEs named and with parameters prefixed by `p`; its parameters go in."""
        pending = d.state == PENDING
        params.update(
            {
                f"{p}id": d.delivery_id,
                # the row it was read from: none (-1) if it is no longer the live object of its id
                f"{p}seq": self._seq(self._live_deliveries, self._delivery_seqs, d.delivery_id, d) or -1,
                f"{p}state": d.state,
                f"{p}next": d.next_attempt_at,
                f"{p}started": d.started,
                f"{p}occurred": d.occurred_at,
                f"{p}reason": d.reason,
                f"{p}owner": self.owner,
                f"{p}new_owner": self.owner if pending else None,
                f"{p}until": self._lease_from(d) if pending else None,
            }
        )
        # A state only moves forward (pending -> acknowledged/failed/dropped, failed -> acknowledged): a
        # process whose copy went stale while its attempt was out (another one acknowledged the delivery
        # meanwhile) must not write it back to pending, or a settled webhook would be retried. Its
        # attempts are still added; the row keeps its state, schedule and reason.
        keep = f"(deliveries.state = 'acknowledged' OR (deliveries.state <> 'pending' AND %({p}state)s = 'pending'))"
        update = (
            f"{p}t AS (UPDATE deliveries SET state = CASE WHEN {keep} THEN deliveries.state ELSE %({p}state)s END, "
            f"next_attempt_at = CASE WHEN {keep} THEN deliveries.next_attempt_at ELSE %({p}next)s END, "
            f"reason = CASE WHEN {keep} THEN deliveries.reason ELSE %({p}reason)s END, "
            f"started = GREATEST(started, %({p}started)s), "
            # a confirm moves a delayed completion's event time to now; never later (a stale copy)
            f"occurred_at = LEAST(occurred_at, %({p}occurred)s), "
            f"lease_until = CASE WHEN lease_owner IS NULL OR lease_owner = %({p}owner)s THEN %({p}until)s "
            "ELSE lease_until END, "
            f"lease_owner = CASE WHEN lease_owner IS NULL OR lease_owner = %({p}owner)s THEN %({p}new_owner)s "
            f"ELSE lease_owner END WHERE delivery_id = %({p}id)s AND seq = %({p}seq)s RETURNING delivery_id)"
        )
        if not d.attempts:
            return [update]
        params.update(_attempt_params(d.attempts, p))
        # one statement: the row is locked by the update, so a reset cannot remove it under the attempts
        return [update, f"{p}a AS ({_attempts_insert(p + 't', p)})"]

    async def _deliveries(self, query: str, params: Any = None) -> list[Delivery]:
        rows, mark = await self._fetch(query, params)
        return [self._delivery(r, mark) for r in rows]

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        found = await self._deliveries(f"SELECT {_D_COLS} FROM deliveries d WHERE delivery_id = %s", (delivery_id,))
        return found[0] if found else None

    async def deliveries_for(self, tx_id: str) -> list[Delivery]:
        return await self._deliveries(f"SELECT {_D_COLS} FROM deliveries d WHERE tx_id = %s ORDER BY seq", (tx_id,))

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
        where, args = _equal_to(
            ("session_id", None if session == ALL_SESSIONS else _key(session)),
            ("tx_id", tx_id),
            ("state", state),
            ("event", event),
            ("scenario", scenario),
        )
        clause = " WHERE " + " AND ".join(where) if where else ""
        with self._reading() as mark:
            rows, total = await self._page(
                f"SELECT {_D_COLS} FROM deliveries d{clause} ORDER BY seq DESC",
                f"FROM deliveries{clause}",
                args,
                limit,
                offset,
            )
            return [self._delivery(r, mark) for r in rows], total

    async def _page(
        self, select: str, source: str, args: list[Any], limit: int | None, offset: int
    ) -> tuple[list[Any], int]:
        """One page of `select`'s rows (LIMIT NULL: all) and how many rows `source` holds in all."""
        async with self._conn() as conn:
            cur = await conn.execute(f"{select} LIMIT %s OFFSET %s", (*args, limit, offset))
            rows = await cur.fetchall()
            cur = await conn.execute(f"SELECT count(*) {source}", args)
            total = (await cur.fetchone())[0]  # type: ignore[index]
        return rows, total

    async def pending_deliveries(self) -> list[Delivery]:
        return await self._deliveries(f"SELECT {_D_COLS} FROM deliveries d WHERE state = %s ORDER BY seq", (PENDING,))

    async def claim_delivery(self, delivery_id: str, until: float) -> Delivery | None:
        """Exclusive while the lease holds: concurrent claims of one row queue on its row lock, and the
        later one re-checks the lease against the row the first committed."""
        found = await self._deliveries(
            "UPDATE deliveries d SET lease_owner = %(owner)s, lease_until = %(until)s "
            "WHERE delivery_id = %(id)s AND state = %(pending)s AND (lease_owner IS NULL OR lease_owner = %(owner)s "
            "OR lease_until IS NULL OR lease_until < %(now)s) "
            f"RETURNING {_D_COLS}",
            {"owner": self.owner, "until": until, "id": delivery_id, "pending": PENDING, "now": self.clock.now()},
        )
        return found[0] if found else None

    async def claim_due(self, until: float, limit: int) -> list[Delivery]:
        found = await self._deliveries(
            "WITH due AS (SELECT seq FROM deliveries WHERE state = %(pending)s "
            "AND (lease_until IS NULL OR lease_until < %(now)s) "
            "ORDER BY next_attempt_at NULLS FIRST, seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
            # one due after `until` (a released lease) stays ours until a lease past its due time, as its owner's
            # would: not taken again by every sweep meanwhile (GREATEST skips the NULL of one due now)
            "UPDATE deliveries d SET lease_owner = %(owner)s, "
            "lease_until = GREATEST(%(until)s, d.next_attempt_at + %(lease)s) FROM due "
            f"WHERE d.seq = due.seq RETURNING {_D_COLS}",
            {
                "owner": self.owner,
                "until": until,
                "lease": self.lease_s,
                "pending": PENDING,
                "now": self.clock.now(),
                "limit": limit,
            },
        )
        # RETURNING keeps no order
        return sorted(found, key=lambda d: (d.next_attempt_at is not None, d.next_attempt_at or 0.0))

    async def release_leases(self) -> int:
        """Expire now the leases of this process's pending deliveries (a graceful stop). The owner stays, so
        another process's save (a redeliver) still leaves the schedule to whoever claims it next."""
        return await self._scalar(
            "WITH r AS (UPDATE deliveries SET lease_until = '-Infinity' "
            "WHERE lease_owner = %(owner)s AND state = %(pending)s RETURNING 1) SELECT count(*) FROM r",
            {"owner": self.owner, "pending": PENDING},
        )

    # resets
    async def clear(self) -> tuple[int, int]:
        async with self._conn() as conn, conn.transaction():
            # waits for writes in flight, and keeps new ones out until the tables are empty
            await conn.execute(
                "LOCK TABLE payments, deliveries, attempts, sessions, api_calls IN ACCESS EXCLUSIVE MODE"
            )
            cur = await conn.execute("SELECT (SELECT count(*) FROM payments), (SELECT count(*) FROM deliveries)")
            payments, deliveries = await cur.fetchone()  # type: ignore[misc]
            await conn.execute("TRUNCATE payments, deliveries, attempts, sessions, api_calls")
            await conn.execute(_BUMP)
        # objects still held by in-flight tasks are forgotten: their later saves write nothing
        self._live_payments = weakref.WeakValueDictionary()
        self._live_deliveries = weakref.WeakValueDictionary()
        self._payment_seqs, self._delivery_seqs = {}, {}
        return payments, deliveries

    async def clear_session(self, session: str) -> tuple[int, int]:
        async with self._conn() as conn:
            cur = await conn.execute(
                "WITH p AS (DELETE FROM payments WHERE session_id = %(s)s RETURNING 1), "
                "d AS (DELETE FROM deliveries WHERE session_id = %(s)s RETURNING 1), "
                f"v AS ({_BUMP}) "
                "SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM d)",
                {"s": _key(session)},
            )
            payments, deliveries = await cur.fetchone()  # type: ignore[misc]
        for live in (self._live_payments, self._live_deliveries):
            for key, obj in list(live.items()):
                if obj.session_id == session:
                    live.pop(key, None)
        return payments, deliveries

    # sessions
    async def save_session(self, record: dict[str, Any]) -> None:
        """api_calls are counted in their own table (count_api_call): the record keeps only that it had them."""
        stored = {**record, "api_calls": {}} if "api_calls" in record else record
        async with self._conn() as conn:
            await conn.execute(
                "WITH s AS (INSERT INTO sessions (session_id, record) VALUES (%s, %s) "
                "ON CONFLICT (session_id) DO UPDATE SET record = excluded.record) "
                f"{_BUMP}",
                (_key(record["session_id"]), Jsonb(stored)),
            )

    async def delete_session(self, session_id: str) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "WITH s AS (DELETE FROM sessions WHERE session_id = %(s)s), "
                "a AS (DELETE FROM api_calls WHERE session_id = %(s)s) "
                f"{_BUMP}",
                {"s": _key(session_id)},
            )

    async def _records(self, where: str, params: Any) -> list[dict[str, Any]]:
        rows, _ = await self._fetch(
            "SELECT s.session_id, s.record, (SELECT json_object_agg(scenario, used) FROM api_calls a "
            f"WHERE a.session_id = s.session_id) FROM sessions s {where} ORDER BY seq",
            params,
        )
        records = []
        for key, record, api_calls in rows:
            record["session_id"] = _session(key)
            if "api_calls" in record:
                record["api_calls"] = api_calls or {}
            records.append(record)
        return records

    async def load_sessions(self) -> list[dict[str, Any]]:
        return await self._records("", None)

    async def load_session(self, session_id: str | None) -> dict[str, Any] | None:
        found = await self._records("WHERE s.session_id = %s", (_key(session_id),))
        return found[0] if found else None

    async def lock_claims(self) -> None:
        """A transaction-scoped advisory lock: held until the atomic() block commits or rolls back (waiting
        for it is bounded by the statement timeout)."""
        if self._tx() is None:
            raise RuntimeError("lock_claims() holds only inside atomic()")
        async with self._conn() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIMS_LOCK_KEY,))

    async def count_api_call(self, session_id: str | None, scenario: str, times: int) -> bool:
        """One statement: concurrent calls queue on the counter's row, each sees the last one's count."""
        if times <= 0:
            return False
        used = await self._scalar(
            "INSERT INTO api_calls (session_id, scenario, used) VALUES (%(s)s, %(n)s, 1) "
            "ON CONFLICT (session_id, scenario) DO UPDATE SET used = api_calls.used + 1 "
            "WHERE api_calls.used < %(times)s RETURNING used",
            {"s": _key(session_id), "n": scenario, "times": times},
        )
        return used is not None

    async def reset_api_calls(self, session_id: str | None, names: list[str] | None) -> None:
        only = "" if names is None else " AND scenario = ANY(%(names)s)"
        async with self._conn() as conn:
            await conn.execute(
                f"WITH a AS (DELETE FROM api_calls WHERE session_id = %(s)s{only}) {_BUMP}",
                {"s": _key(session_id), "names": names},
            )

    async def state_version(self) -> int:
        return await self._scalar("SELECT version FROM state_version")
