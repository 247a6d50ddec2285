"""The durable store: one SQLite file (stdlib sqlite3, WAL), surviving a crash of the process.

Semantics are the memory store's (insertion order, newest-first deliveries, the same filters and
counts); `tests/store/` runs one suite against both.

Why these choices:
- WAL with `synchronous=NORMAL`: a committed transaction is in the WAL file before the call
  returns, so it survives the process being killed (SIGKILL); only an OS crash or power loss can
  lose the last transactions. Every write is its own transaction (autocommit), so a payment
  answered with 200 was committed before the answer left.
- An identity map of *live* objects (weak references): the provider and the dispatcher mutate the
  Payment/Delivery they got from the store and then call save_*. Two lookups of one id while
  someone still holds the object must return that same object, or one caller's change would be
  lost under the other's. Objects nobody holds are dropped, so memory stays bounded by what is in
  flight, not by what is stored.
- Status counts are kept in memory (read once at open, moved on every insert and status change):
  listings and /health ask for them on every call, and a GROUP BY over 100k rows is milliseconds.
- Plans (a scenario's webhook rules) are shared by many deliveries: stored once in their own table.
- Calls are synchronous on the event loop (inside the async methods of the Store seam, which never
  suspend here): each is tens of microseconds on a local file, cheaper than a hop to a thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import weakref
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from ..domain.deliveries import PENDING, Attempt, Delivery
from ..domain.payments import PENDING as PAY_PENDING
from ..domain.payments import STATUSES, Payment
from ..domain.retry import stored_next_attempt_at
from ..domain.scenarios.model import WebhookPlan
from .base import ALL_SESSIONS, restored_on_failure

# 2: sessions (a table, and session_id on payments and deliveries); 3: the global session's book is a row
# of sessions too (key GLOBAL_KEY), which a paymock of version 2 would take for a session
SCHEMA_VERSION = 3
APPLICATION_ID = 0x706D6B31  # "pmk1" in the file's header: this file is a paymock store
V1_TABLES = ("payments", "plans", "deliveries")
# The sessions row holding the global session's book (its record says session_id None): no session id is
# empty (domain.sessions.new_session_id), and the key column stays NOT NULL UNIQUE as before
GLOBAL_KEY = ""
_DAMAGE_SHOWN = 3  # problems quick_check reports (and a refusal names) at most


class StoreError(Exception):
    """The store cannot be opened as asked; the message names the file and why."""


def _one_writer(path: str) -> int | None:
    """An exclusive flock on the database file for this process's life: a second paymock on the same
    file would resend every retry and overwrite the other's attempts. (SQLite's own locks are fcntl
    locks, separate from flock on Linux.) None where flock does not exist."""
    try:
        import fcntl
    except ImportError:  # not POSIX: one process per store stays a documented rule only
        return None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(f"{path} is in use by another paymock process; one process per store") from None
    return fd


SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id TEXT NOT NULL UNIQUE,
    tx_id TEXT NOT NULL,
    order_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    callback_url TEXT NOT NULL,
    scenario TEXT NOT NULL,
    created_at REAL NOT NULL,
    status TEXT NOT NULL,
    confirmed_at REAL,
    failure_reason TEXT,
    session_id TEXT
);
CREATE INDEX IF NOT EXISTS payments_status ON payments (status, seq);
CREATE INDEX IF NOT EXISTS payments_scenario ON payments (scenario, seq);
CREATE TABLE IF NOT EXISTS plans (
    plan_id INTEGER PRIMARY KEY,
    body TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL UNIQUE,
    tx_id TEXT NOT NULL,
    event TEXT NOT NULL,
    scenario TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    plan_id INTEGER NOT NULL,
    occurred_at REAL NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL,
    next_attempt_at REAL,
    attempts TEXT NOT NULL,
    started INTEGER NOT NULL,
    reason TEXT,
    session_id TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_tx ON deliveries (tx_id, seq);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state, seq);
CREATE INDEX IF NOT EXISTS payments_session ON payments (session_id, seq);
CREATE INDEX IF NOT EXISTS deliveries_session ON deliveries (session_id, seq);
CREATE TABLE IF NOT EXISTS sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL
);
"""
# What schema 1 lacks; added in place, in one transaction with the version change.
MIGRATE_FROM_1 = (
    "ALTER TABLE payments ADD COLUMN session_id TEXT",
    "ALTER TABLE deliveries ADD COLUMN session_id TEXT",
)

_P_COLS = (
    "tx_id, order_id, user_id, amount, callback_url, scenario, created_at, status, confirmed_at, failure_reason, "
    "session_id"
)
_D_COLS = (
    "delivery_id, tx_id, event, scenario, callback_url, plan_id, occurred_at, created_at, state, "
    "next_attempt_at, attempts, started, reason, session_id"
)
_ATTEMPT_FIELDS = tuple(f.name for f in dataclasses.fields(Attempt))
_PLAN_FIELDS = tuple(f.name for f in dataclasses.fields(WebhookPlan))


def _attempts_json(attempts: tuple[Attempt, ...]) -> str:
    # arrays, not objects: attempts are the bulk of a delivery row
    return json.dumps([[getattr(a, f) for f in _ATTEMPT_FIELDS] for a in attempts], separators=(",", ":"))


def _attempts_from(text: str) -> tuple[Attempt, ...]:
    return tuple(Attempt(*row) for row in json.loads(text))


def _plan_json(plan: WebhookPlan) -> str:
    return json.dumps({f: getattr(plan, f) for f in _PLAN_FIELDS}, sort_keys=True, separators=(",", ":"))


def _plan_from(text: str) -> WebhookPlan:
    data = json.loads(text)
    data["retry_schedule_ms"] = tuple(data["retry_schedule_ms"])
    return WebhookPlan(**{k: v for k, v in data.items() if k in _PLAN_FIELDS})


def _prefix_clause(column: str) -> str:
    # substr, not LIKE: tx_ids may contain % and _, and LIKE is case-insensitive
    return f"substr({column}, 1, length(?)) = ?"


class SqliteStore:
    name = "sqlite"
    shared = False

    def __init__(self, path: str | Path) -> None:
        self.path = str(path) if str(path) == ":memory:" else str(Path(path).expanduser())
        self._lock_fd: int | None = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _one_writer(self.path)
        try:
            # autocommit (isolation_level=None): every statement commits before the call returns.
            # check_same_thread=False: the app may open the store in one thread and serve in another;
            # all calls still come from the one event loop, never concurrently.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except BaseException:
            self._unlock()
            raise
        try:
            self._adopt()
        except BaseException:
            self.close_now()  # the connection and the lock: a refused file is left to its owner
            raise
        self._live_payments: weakref.WeakValueDictionary[str, Payment] = weakref.WeakValueDictionary()
        self._live_deliveries: weakref.WeakValueDictionary[str, Delivery] = weakref.WeakValueDictionary()
        self._plan_ids: dict[WebhookPlan, int] = {}
        self._plans: dict[int, WebhookPlan] = {}
        self._counts = self._count_from_db()
        self._count_moves: list[tuple[str | None, str, int]] = []  # undone on rollback
        self._depth = 0  # atomic() nesting
        self._tx_added: list[tuple[weakref.WeakValueDictionary[str, Any], str]] = []  # undone on rollback

    def _adopt(self) -> None:
        """Make the file a paymock store, or refuse it before writing anything to it: an empty file,
        or one paymock made (its application_id; version 1 files from before it, by their tables)."""
        try:
            app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:  # "file is not a database"
            raise StoreError(f"{self.path}: {exc}; choose a new file for the store") from None
        ours = app_id == APPLICATION_ID or (app_id == 0 and version == 1 and tables == set(V1_TABLES))
        if tables and not ours:
            shown = ", ".join(sorted(tables)[:5])
            raise StoreError(f"{self.path} is another program's database (tables: {shown}); choose a new file")
        if ours and version not in (1, 2, SCHEMA_VERSION):
            raise StoreError(f"{self.path}: store schema version {version}, this paymock knows {SCHEMA_VERSION}")
        if tables:
            self._check_intact()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=1000")  # another program's lock: the loop waits at most 1 s per write
        if tables and version == 1:  # a store written by a paymock before sessions: add what they need
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATE_FROM_1:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        # from 2, nothing to change in place: version 3 only adds a row (GLOBAL_KEY) older versions misread
        self._db.executescript(SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")

    def _check_intact(self) -> None:
        """Refuse a damaged file at start (a page overwritten in the middle opens without a word and
        fails only when a query reaches it). quick_check reads every page once but skips the index
        cross-checks of integrity_check: milliseconds per MB."""
        try:
            problems = [row[0] for row in self._db.execute(f"PRAGMA quick_check({_DAMAGE_SHOWN})")]
        except sqlite3.DatabaseError as exc:  # "database disk image is malformed" before any row
            problems = [str(exc)]
        if problems != ["ok"]:
            # one line: a report may span lines ("*** in database main ***\nPage 43: ...")
            lines = [line for p in problems for line in p.splitlines() if line and not line.startswith("***")]
            shown = "; ".join(line[:200] for line in lines[:_DAMAGE_SHOWN])
            raise StoreError(f"{self.path} is damaged ({shown}); restore it from a copy or choose a new file")

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases its flock
            self._lock_fd = None

    def _count_from_db(self) -> dict[str | None, dict[str, int]]:
        counts: dict[str | None, dict[str, int]] = {None: dict.fromkeys(STATUSES, 0)}
        rows = self._db.execute("SELECT session_id, status, COUNT(*) FROM payments GROUP BY session_id, status")
        for session, status, n in rows:
            counts.setdefault(session, dict.fromkeys(STATUSES, 0))[status] = n
        return counts

    def _move(self, session: str | None, status: str, delta: int) -> None:
        """Change a count; inside a transaction, note it so a rollback can take it back."""
        counts = self._counts.get(session)
        if counts is None:
            counts = self._counts[session] = dict.fromkeys(STATUSES, 0)
        counts[status] += delta
        if self._depth:
            self._count_moves.append((session, status, delta))

    # payments
    def _payment(self, row: tuple[Any, ...]) -> Payment:
        pid = "pay_" + row[0]
        live = self._live_payments.get(pid)
        if live is not None:
            return live
        payment = Payment(*row)
        self._live_payments[pid] = payment
        return payment

    async def get_payment(self, payment_id: str) -> Payment | None:
        live = self._live_payments.get(payment_id)
        if live is not None:
            return live
        row = self._db.execute(f"SELECT {_P_COLS} FROM payments WHERE payment_id = ?", (payment_id,)).fetchone()
        return None if row is None else self._payment(row)

    async def add_payment(self, payment: Payment, delivery: Delivery | None = None) -> bool:
        if delivery is None:
            return self._add_payment(payment)
        with self._transaction():
            if not self._add_payment(payment):
                return False
            await self.add_delivery(delivery)
        return True

    def _add_payment(self, payment: Payment) -> bool:
        p = payment
        cursor = self._db.execute(
            f"INSERT OR IGNORE INTO payments (payment_id, {_P_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                p.payment_id,
                p.tx_id,
                p.order_id,
                p.user_id,
                p.amount,
                p.callback_url,
                p.scenario,
                p.created_at,
                p.status,
                p.confirmed_at,
                p.failure_reason,
                p.session_id,
            ),
        )
        if cursor.rowcount != 1:
            return False
        self._live_payments[p.payment_id] = p
        if self._depth:
            self._tx_added.append((self._live_payments, p.payment_id))
        self._move(p.session_id, p.status, 1)
        return True

    async def save_payment(self, payment: Payment) -> bool:
        pid = payment.payment_id
        row = self._db.execute("SELECT status FROM payments WHERE payment_id = ?", (pid,)).fetchone()
        if row is None:
            return True  # removed by a reset meanwhile; nothing to bring back
        self._db.execute(
            "UPDATE payments SET status = ?, confirmed_at = ?, failure_reason = ? WHERE payment_id = ?",
            (payment.status, payment.confirmed_at, payment.failure_reason, pid),
        )
        if row[0] != payment.status:
            self._move(payment.session_id, row[0], -1)
            self._move(payment.session_id, payment.status, 1)
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
        where: list[str] = ["session_id IS ?"]
        args: list[Any] = [session]
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if scenario is not None:
            where.append("scenario = ?")
            args.append(scenario)
        if tx_id_prefix is not None:
            where.append(_prefix_clause("tx_id"))
            args += [tx_id_prefix, tx_id_prefix]
        clause = " WHERE " + " AND ".join(where)
        rows = self._db.execute(
            f"SELECT {_P_COLS} FROM payments{clause} ORDER BY seq LIMIT ? OFFSET ?",
            (*args, -1 if limit is None else limit, offset),
        ).fetchall()
        if scenario is None and tx_id_prefix is None:
            counts = self._counts.get(session, {})
            total = counts.get(status, 0) if status is not None else sum(counts.values())
        else:
            total = self._db.execute(f"SELECT COUNT(*) FROM payments{clause}", args).fetchone()[0]
        return [self._payment(r) for r in rows], total

    async def counts(self, session: str | None = None) -> dict[str, int]:
        if session == ALL_SESSIONS:
            return {status: sum(c[status] for c in self._counts.values()) for status in STATUSES}
        return dict(self._counts.get(session) or dict.fromkeys(STATUSES, 0))

    async def delivery_count(self, session: str | None = None) -> int:
        return self._db.execute("SELECT COUNT(*) FROM deliveries WHERE session_id IS ?", (session,)).fetchone()[0]

    # deliveries
    def _plan_id(self, plan: WebhookPlan) -> int:
        plan_id = self._plan_ids.get(plan)
        if plan_id is None:
            body = _plan_json(plan)
            self._db.execute("INSERT OR IGNORE INTO plans (body) VALUES (?)", (body,))
            plan_id = self._db.execute("SELECT plan_id FROM plans WHERE body = ?", (body,)).fetchone()[0]
            self._plan_ids[plan] = plan_id
            self._plans[plan_id] = plan
        return plan_id

    def _plan(self, plan_id: int) -> WebhookPlan:
        plan = self._plans.get(plan_id)
        if plan is None:
            plan = _plan_from(self._db.execute("SELECT body FROM plans WHERE plan_id = ?", (plan_id,)).fetchone()[0])
            self._plans[plan_id] = plan
            self._plan_ids.setdefault(plan, plan_id)
        return plan

    def _delivery(self, row: tuple[Any, ...]) -> Delivery:
        live = self._live_deliveries.get(row[0])
        if live is not None:
            return live
        (
            delivery_id,
            tx_id,
            event,
            scenario,
            url,
            plan_id,
            occurred,
            created,
            state,
            next_at,
            attempts,
            started,
            reason,
            session_id,
        ) = row
        attempts_made = _attempts_from(attempts)
        last_at = attempts_made[-1].at if attempts_made else created
        delivery = Delivery(
            tx_id=tx_id,
            event=event,
            scenario=scenario,
            callback_url=url,
            plan=self._plan(plan_id),
            occurred_at=occurred,
            created_at=created,
            state=state,
            next_attempt_at=stored_next_attempt_at(next_at, last_at),
            attempts=attempts_made,
            started=started,
            reason=reason,
            session_id=session_id,
        )
        self._live_deliveries[delivery_id] = delivery
        return delivery

    async def add_delivery(self, delivery: Delivery) -> bool:
        d = delivery
        cursor = self._db.execute(
            f"INSERT OR IGNORE INTO deliveries ({_D_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                d.delivery_id,
                d.tx_id,
                d.event,
                d.scenario,
                d.callback_url,
                self._plan_id(d.plan),
                d.occurred_at,
                d.created_at,
                d.state,
                d.next_attempt_at,
                _attempts_json(d.attempts),
                d.started,
                d.reason,
                d.session_id,
            ),
        )
        if cursor.rowcount != 1:
            return False
        self._live_deliveries[d.delivery_id] = d
        if self._depth:
            self._tx_added.append((self._live_deliveries, d.delivery_id))
        return True

    async def save_delivery(self, delivery: Delivery) -> None:
        d = delivery
        self._db.execute(
            # occurred_at too: a confirm moves a delayed completion's event time to now
            "UPDATE deliveries SET state = ?, next_attempt_at = ?, attempts = ?, started = ?, reason = ?, "
            "occurred_at = ? WHERE delivery_id = ?",
            (d.state, d.next_attempt_at, _attempts_json(d.attempts), d.started, d.reason, d.occurred_at, d.delivery_id),
        )

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        live = self._live_deliveries.get(delivery_id)
        if live is not None:
            return live
        row = self._db.execute(f"SELECT {_D_COLS} FROM deliveries WHERE delivery_id = ?", (delivery_id,)).fetchone()
        return None if row is None else self._delivery(row)

    async def deliveries_for(self, tx_id: str) -> list[Delivery]:
        rows = self._db.execute(f"SELECT {_D_COLS} FROM deliveries WHERE tx_id = ? ORDER BY seq", (tx_id,))
        return [self._delivery(r) for r in rows.fetchall()]

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
        where: list[str] = [] if session == ALL_SESSIONS else ["session_id IS ?"]
        args: list[Any] = [] if session == ALL_SESSIONS else [session]
        for column, value in (("tx_id", tx_id), ("state", state), ("event", event), ("scenario", scenario)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = " WHERE " + " AND ".join(where) if where else ""
        rows = self._db.execute(
            f"SELECT {_D_COLS} FROM deliveries{clause} ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*args, -1 if limit is None else limit, offset),
        ).fetchall()
        total = self._db.execute(f"SELECT COUNT(*) FROM deliveries{clause}", args).fetchone()[0]
        return [self._delivery(r) for r in rows], total

    async def pending_deliveries(self) -> list[Delivery]:
        rows = self._db.execute(f"SELECT {_D_COLS} FROM deliveries WHERE state = ? ORDER BY seq", (PENDING,))
        return [self._delivery(r) for r in rows.fetchall()]

    async def clear(self) -> tuple[int, int]:
        payments = self._db.execute("SELECT COUNT(*) FROM payments").fetchone()[0]
        deliveries = self._db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        with self._transaction():
            self._db.execute("DELETE FROM payments")
            self._db.execute("DELETE FROM deliveries")
            self._db.execute("DELETE FROM plans")
            self._db.execute("DELETE FROM sessions")
        # objects still held by in-flight tasks are forgotten: their later saves match no row
        self._live_payments = weakref.WeakValueDictionary()
        self._live_deliveries = weakref.WeakValueDictionary()
        self._plan_ids.clear()
        self._plans.clear()
        self._counts = {None: dict.fromkeys(STATUSES, 0)}
        return payments, deliveries

    async def clear_session(self, session: str) -> tuple[int, int]:
        with self._transaction():
            payments = self._db.execute("DELETE FROM payments WHERE session_id = ?", (session,)).rowcount
            deliveries = self._db.execute("DELETE FROM deliveries WHERE session_id = ?", (session,)).rowcount
        # objects still held by in-flight tasks are forgotten: their later saves match no row
        for live in (self._live_payments, self._live_deliveries):
            for key, obj in list(live.items()):
                if obj.session_id == session:
                    live.pop(key, None)
        self._counts.pop(session, None)
        return payments, deliveries

    # sessions
    async def save_session(self, record: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO sessions (session_id, record) VALUES (?, ?) "
            "ON CONFLICT (session_id) DO UPDATE SET record = excluded.record",
            (record["session_id"] or GLOBAL_KEY, json.dumps(record, separators=(",", ":"))),
        )

    async def delete_session(self, session_id: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))

    async def load_sessions(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self._db.execute("SELECT record FROM sessions ORDER BY seq")]

    @contextlib.asynccontextmanager
    async def atomic(self, *restore: object) -> AsyncIterator[None]:
        """One transaction for the block (nested blocks join the outer one); also one commit
        instead of several, which is most of what a write costs here. On a rollback the objects in
        `restore` get their fields back, as the rows do."""
        with restored_on_failure(restore), self._transaction():
            yield

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            for session, status, delta in reversed(self._count_moves):  # what the rolled-back writes had moved
                self._counts[session][status] -= delta
            for live, key in self._tx_added:
                live.pop(key, None)
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0
            self._tx_added.clear()
            self._count_moves.clear()

    async def close(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        """close() for callers outside an event loop (the CLI's checks, a refused file)."""
        self._db.close()
        self._unlock()
