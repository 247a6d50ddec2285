"""What only the PostgreSQL store has: versioned migrations, and several processes (here: several stores,
each with its own pool and owner id, as processes have) on one database. The behaviour it shares with
memory and sqlite is tests/store/test_store.py's, which runs on it too."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")

import psycopg

from paymock.domain.deliveries import ACKNOWLEDGED, FAILED, MANUAL, PENDING, SCHEDULED, Attempt, Delivery
from paymock.domain.payments import COMPLETED
from paymock.domain.scenarios.model import WebhookPlan
from paymock.settings import Settings, SettingsError
from paymock.store import pg_migrations
from paymock.store.pg_url import masked, scrub
from paymock.store.postgres import PostgresStore, StoreError
from tests.store.test_store import payment

pytestmark = pytest.mark.anyio

LEASE_S = 5.0


class Clock:
    """Wall time that moves only when the test says."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


Opener = Callable[..., Awaitable[PostgresStore]]


@pytest.fixture
async def open_store(postgres_url: str) -> AsyncIterator[Opener]:
    """Opens stores on the test's database: each one is a process of its own (owner, pool, live objects)."""
    opened: list[PostgresStore] = []

    async def opener(owner: str | None = None, clock: Clock | None = None, url: str = postgres_url) -> PostgresStore:
        store = PostgresStore(url, owner=owner, lease_s=LEASE_S, clock=clock or Clock())
        await store.open()
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()


def delivery(tx_id: str, next_attempt_at: float | None = None) -> Delivery:
    return Delivery(
        tx_id=tx_id,
        event="payment.completed",
        scenario="default",
        callback_url="http://127.0.0.1:1/hook",
        plan=WebhookPlan(retry_schedule_ms=(10, 20)),
        occurred_at=2.0,
        created_at=2.5,
        next_attempt_at=next_attempt_at,
    )


async def _rows(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchall() if cur.description else []


# migrations
async def test_migrations_are_recorded_once_whoever_starts_first(open_store: Opener, postgres_url: str) -> None:
    # two processes starting at once on an empty database: the advisory lock makes one wait
    await asyncio.gather(open_store(), open_store())
    recorded = await _rows(postgres_url, f"SELECT version FROM {pg_migrations.TABLE} ORDER BY version")
    assert recorded == [(m.version,) for m in pg_migrations.MIGRATIONS]
    store = await open_store()  # and a later start applies nothing again
    assert await _rows(postgres_url, f"SELECT count(*) FROM {pg_migrations.TABLE}") == [(len(recorded),)]
    assert await store.add_payment(payment("still-works"))


async def test_a_database_from_a_newer_paymock_is_refused_naming_both_versions(
    open_store: Opener, postgres_url: str, postgres_cluster: Any
) -> None:
    await open_store()
    newer = pg_migrations.LATEST + 1
    await _rows(postgres_url, f"INSERT INTO {pg_migrations.TABLE} (version, name) VALUES (%s, 'future')", (newer,))
    with_password = postgres_cluster.url(postgres_url.rsplit("/", 1)[1], password="s3cret-pw")
    with pytest.raises(StoreError) as refused:
        await PostgresStore(with_password).open()
    message = str(refused.value)
    assert f"version {newer}" in message and f"up to {pg_migrations.LATEST}" in message and "newer paymock" in message
    assert "s3cret-pw" not in message and "postgres:***@" in message


async def test_another_programs_tables_are_refused(postgres_url: str) -> None:
    await _rows(postgres_url, "CREATE TABLE payments (id int)")
    with pytest.raises(StoreError, match=r"tables paymock did not create \(payments\)"):
        await PostgresStore(postgres_url).open()


async def test_an_unreachable_database_is_one_line_with_the_password_masked(postgres_cluster: Any) -> None:
    from paymock.testing.process import free_port

    url = f"postgresql://me:hunter2-pw@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(StoreError) as refused:
        await PostgresStore(url).open()
    message = str(refused.value)
    assert message.startswith(f"cannot connect to PostgreSQL at postgresql://me:***@127.0.0.1:{url.split(':')[3]}")
    assert "hunter2-pw" not in message and "\n" not in message


def test_settings_take_both_schemes_and_never_echo_a_password() -> None:
    for url in ("postgresql://u:pw@db.example:5432/paymock", "postgres://u@db.example/paymock"):
        assert Settings.from_env({"PAYMOCK_STORE": url}).store == url
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"PAYMOCK_STORE": "mysql://u:hunter2@db.example/paymock"})
    assert "hunter2" not in str(refused.value) and "mysql://u:***@db.example/paymock" in str(refused.value)
    assert "postgresql://USER@HOST:PORT/DB" in str(refused.value)


def test_without_psycopg_serve_names_the_extra_to_install() -> None:
    # psycopg made unimportable in a child process (a None entry in sys.modules is what Python documents
    # for "import fails"), as on an install without the postgres extra
    code = (
        "import sys; sys.modules['psycopg'] = None; from paymock.cli.main import main; "
        "sys.exit(main(['serve', '--port', '1', '--store', 'postgresql://u:hunter2@127.0.0.1:1/db']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("paymock: PAYMOCK_STORE=postgresql://u:***@127.0.0.1:1/db: a postgresql:// store needs")
    assert "pip install 'paymock[postgres]'" in line and "hunter2" not in line


def test_masked_urls() -> None:
    assert masked("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert masked("postgres://u@h/db") == "postgres://u@h/db"
    assert masked("postgresql://h/db?password=x&sslmode=require") == "postgresql://h/db?password=***&sslmode=require"


def test_a_password_holding_url_delimiters_is_masked_as_libpq_reads_it() -> None:
    # libpq ends the credentials at the first '@' before the first '/': a password may hold '?' or '#' unencoded
    # (urllib would read a query or a fragment there, and see no password at all)
    for secret in ("pa?ss", "pa#ss", "p@ss", "pa?ss#w@rd"):
        url = f"postgresql://u:{secret}@h:5432/db?sslmode=require"
        assert masked(url) == "postgresql://u:***@h:5432/db?sslmode=require", url
        assert secret not in scrub(f"connection to {secret} failed", url)
    # a '/' ends libpq's authority (it then reads no credentials and fails): still not shown
    assert "pa/ss" not in masked("postgresql://u:pa/ss@h/db")


# several processes on one database
async def test_claim_delivery_is_exclusive_while_the_lease_holds(open_store: Opener) -> None:
    clock_a, clock_b = Clock(), Clock()
    a = await open_store("A", clock_a)
    b = await open_store("B", clock_b)
    assert await a.add_delivery(delivery("x", next_attempt_at=1_000.0))  # leased to A until 1_005
    assert await b.claim_delivery("evt_completed_x", until=2_000.0) is None
    again = await a.claim_delivery("evt_completed_x", until=1_010.0)  # A may extend its own
    assert again is not None
    clock_b.t = 1_011.0  # A's lease ran out (A died or hangs)
    taken = await b.claim_delivery("evt_completed_x", until=1_020.0)
    assert taken is not None and taken.delivery_id == "evt_completed_x" and taken.state == PENDING
    clock_a.t = 1_012.0
    assert await a.claim_delivery("evt_completed_x", until=1_030.0) is None  # now B holds it
    # a settled delivery is nobody's to claim
    taken.state = ACKNOWLEDGED
    await b.save_delivery(taken)
    clock_a.t = 5_000.0
    assert await a.claim_delivery("evt_completed_x", until=6_000.0) is None
    assert await a.claim_delivery("evt_completed_missing", until=6_000.0) is None


async def test_concurrent_claims_of_one_delivery_give_it_to_one(open_store: Opener) -> None:
    stores = [await open_store(f"P{i}", Clock(10_000.0)) for i in range(4)]
    for round_ in range(5):
        d = delivery(f"r{round_}", next_attempt_at=1.0)  # its lease (1 + 5) long gone at 10_000
        assert await stores[0].add_delivery(d)
        got = await asyncio.gather(*(s.claim_delivery(d.delivery_id, until=20_000.0) for s in stores))
        assert sum(g is not None for g in got) == 1


async def test_claim_due_gives_concurrent_claimers_disjoint_sets(open_store: Opener, postgres_url: str) -> None:
    a = await open_store("A", Clock(10_000.0))
    b = await open_store("B", Clock(10_000.0))
    for i in range(40):
        await a.add_delivery(delivery(f"d{i:02d}", next_attempt_at=float(i)))  # leases expired long ago
    got_a, got_b = await asyncio.gather(a.claim_due(until=20_000.0, limit=25), b.claim_due(until=20_000.0, limit=25))
    ids_a, ids_b = {d.delivery_id for d in got_a}, {d.delivery_id for d in got_b}
    assert not ids_a & ids_b and len(ids_a | ids_b) == 40
    got = got_a if len(got_a) == 25 else got_b
    assert [d.next_attempt_at for d in got] == sorted(d.next_attempt_at for d in got)  # oldest due first
    assert await a.claim_due(until=20_000.0, limit=25) == []  # all leased now, until 20_000
    # rows another transaction has locked are skipped, not waited for
    late = await open_store("C", Clock(30_000.0))
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cur = await conn.execute("SELECT delivery_id FROM deliveries ORDER BY seq LIMIT 10 FOR UPDATE")
        locked = {r[0] for r in await cur.fetchall()}
        claimed = await asyncio.wait_for(late.claim_due(until=40_000.0, limit=100), timeout=5)
        assert {d.delivery_id for d in claimed} == {f"evt_completed_d{i:02d}" for i in range(40)} - locked
        await conn.rollback()


async def test_attempts_recorded_by_two_processes_are_all_kept(open_store: Opener) -> None:
    a = await open_store("A")
    b = await open_store("B")
    assert await a.add_delivery(delivery("x"))
    mine, theirs = await a.get_delivery("evt_completed_x"), await b.get_delivery("evt_completed_x")
    assert mine is not None and theirs is not None and mine is not theirs
    n = mine.begin()
    mine.record(Attempt(number=n, kind=SCHEDULED, at=3.0, status_code=503))
    m = theirs.begin()  # a redeliver on the other process, from the same stored state
    theirs.record(Attempt(number=m, kind=MANUAL, at=3.5, status_code=200))
    theirs.state = ACKNOWLEDGED
    await b.save_delivery(theirs)
    await a.save_delivery(mine)
    fresh = await open_store("C")
    stored = await fresh.get_delivery("evt_completed_x")
    assert stored is not None
    # by number, then time
    assert [(x.number, x.kind, x.status_code) for x in stored.attempts] == [(1, SCHEDULED, 503), (1, MANUAL, 200)]
    # A's copy still said pending when it saved: the acknowledged delivery is not put back to be retried
    assert stored.state == ACKNOWLEDGED
    # A's live object took in B's attempt too, and saving it again adds nothing twice
    again = await a.get_delivery("evt_completed_x")
    assert again is mine and len(mine.attempts) == 2
    await a.save_delivery(mine)
    assert len((await fresh.get_delivery("evt_completed_x")).attempts) == 2  # type: ignore[union-attr]


async def test_a_stale_copy_never_moves_a_settled_delivery_back(open_store: Opener) -> None:
    a = await open_store("A")
    b = await open_store("B")
    assert await a.add_delivery(delivery("x"))
    stale = await a.get_delivery("evt_completed_x")
    settled = await b.get_delivery("evt_completed_x")
    assert stale is not None and settled is not None
    settled.state, settled.reason = FAILED, "gave up"
    await b.save_delivery(settled)
    stale.next_attempt_at = 50.0  # A rescheduled it from its stale copy
    await a.save_delivery(stale)
    fresh = await (await open_store("C")).get_delivery("evt_completed_x")
    assert fresh is not None and (fresh.state, fresh.reason) == (FAILED, "gave up")
    settled.state, settled.reason = ACKNOWLEDGED, None  # a redeliver of a failed one is acknowledged
    await b.save_delivery(settled)
    fresh = await (await open_store("D")).get_delivery("evt_completed_x")
    assert fresh is not None and fresh.state == ACKNOWLEDGED


async def test_saves_keep_the_lease_with_its_owner(open_store: Opener, postgres_url: str) -> None:
    a = await open_store("A", Clock(100.0))
    b = await open_store("B", Clock(100.0))
    d = delivery("x", next_attempt_at=100.0)
    assert await a.add_delivery(d)
    lease = "SELECT lease_owner, lease_until FROM deliveries WHERE delivery_id = 'evt_completed_x'"
    assert await _rows(postgres_url, lease) == [("A", 105.0)]
    d.next_attempt_at = 200.0
    await a.save_delivery(d)  # the owner's save moves its lease with the schedule
    assert await _rows(postgres_url, lease) == [("A", 205.0)]
    other = await b.get_delivery("evt_completed_x")
    assert other is not None
    other.next_attempt_at = 300.0
    await b.save_delivery(other)  # another process's save leaves the lease alone
    assert await _rows(postgres_url, lease) == [("A", 205.0)]
    d.state = ACKNOWLEDGED
    await a.save_delivery(d)  # settled: nobody's
    assert await _rows(postgres_url, lease) == [(None, None)]


async def test_released_leases_are_claimed_by_the_next_sweep_of_another(open_store: Opener, postgres_url: str) -> None:
    a = await open_store("A", Clock(100.0))
    b = await open_store("B", Clock(100.0))
    for tx in ("a1", "a2", "done"):
        assert await a.add_delivery(delivery(tx, next_attempt_at=150.0))  # A's until 155
    assert await b.add_delivery(delivery("b1", next_attempt_at=150.0))
    settled = await a.get_delivery("evt_completed_done")
    assert settled is not None
    settled.state = ACKNOWLEDGED
    await a.save_delivery(settled)
    assert await b.claim_due(until=1_000.0, limit=10) == []  # every lease holds
    assert await a.release_leases() == 2  # A stops: its two pending ones, not B's, not the settled one
    taken = await b.claim_due(until=1_000.0, limit=10)
    assert sorted(d.delivery_id for d in taken) == ["evt_completed_a1", "evt_completed_a2"]
    owners = await _rows(postgres_url, "SELECT delivery_id, lease_owner, lease_until FROM deliveries ORDER BY seq")
    assert owners == [
        ("evt_completed_a1", "B", 1_000.0),
        ("evt_completed_a2", "B", 1_000.0),
        ("evt_completed_done", None, None),
        ("evt_completed_b1", "B", 155.0),
    ]


async def test_a_delivery_claimed_before_its_time_stays_claimed_until_a_lease_past_it(
    open_store: Opener, postgres_url: str
) -> None:
    """A sweep takes over released deliveries whatever their due time: one due long after the claim's `until`
    stays the claimer's until its due time and a lease past it, as its owner's would, not taken again by
    every sweep meanwhile (each one a write, and a timer entry in the claimer)."""
    a = await open_store("A", Clock(100.0))
    b = await open_store("B", Clock(100.0))
    c = await open_store("C", Clock(200.0))
    assert await a.add_delivery(delivery("later", next_attempt_at=500.0))
    assert await a.release_leases() == 1  # A stops
    (taken,) = await b.claim_due(until=120.0, limit=10)  # B plans it for 500
    assert taken.next_attempt_at == 500.0
    assert await c.claim_due(until=220.0, limit=10) == []  # at 200: still B's
    lease = "SELECT lease_owner, lease_until FROM deliveries"
    assert await _rows(postgres_url, lease) == [("B", 505.0)]


async def test_add_payment_racing_from_two_processes_inserts_once(open_store: Opener) -> None:
    a, b = await open_store("A"), await open_store("B")
    for round_ in range(5):
        tx = f"dup-{round_}"
        results = await asyncio.gather(*(s.add_payment(payment(tx)) for s in (a, b) for _ in range(5)))
        assert sum(results) == 1
    assert (await a.counts())["PENDING"] == 5


async def test_add_delivery_racing_from_two_processes_inserts_once(open_store: Opener) -> None:
    a, b = await open_store("A"), await open_store("B")
    results = await asyncio.gather(*(s.add_delivery(delivery("once")) for s in (a, b) for _ in range(4)))
    assert sum(results) == 1 and (await a.list_deliveries())[1] == 1


async def test_count_api_call_racing_uses_exactly_times_calls(open_store: Opener) -> None:
    a, b = await open_store("A"), await open_store("B")
    results = await asyncio.gather(*(s.count_api_call(None, "flaky", 5) for s in (a, b) for _ in range(8)))
    assert sum(results) == 5
    assert not await a.count_api_call(None, "flaky", 5)
    assert await a.count_api_call("ses_x", "flaky", 1)  # each session counts its own
    assert not await b.count_api_call("ses_x", "flaky", 1)
    assert not await a.count_api_call(None, "never", 0)
    await b.reset_api_calls(None, ["flaky"])
    assert await a.count_api_call(None, "flaky", 5)
    assert not await a.count_api_call("ses_x", "flaky", 1)  # another session's count stays
    await a.reset_api_calls("ses_x", None)
    assert await b.count_api_call("ses_x", "flaky", 1)


async def test_state_version_moves_on_every_session_change(open_store: Opener) -> None:
    a, b = await open_store("A"), await open_store("B")
    seen = [await b.state_version()]

    async def moved() -> bool:
        now = await b.state_version()
        changed = now > seen[-1]
        seen.append(now)
        return changed

    await a.save_session({"session_id": "ses_a", "label": None, "claims": {}, "idle_timeout_s": 5})
    assert await moved()
    await a.save_session({"session_id": None, "active_scenario": "mine", "scenarios": {}, "api_calls": {}})
    assert await moved()
    await a.reset_api_calls(None, None)
    assert await moved()
    await a.clear_session("ses_a")
    assert await moved()
    await a.delete_session("ses_a")
    assert await moved()
    await a.clear()
    assert await moved()
    await a.add_payment(payment("p"))  # payments are not session state
    assert not await moved()
    # and another process reads what changed
    await a.save_session({"session_id": "ses_b", "label": "x", "claims": {}, "idle_timeout_s": 5, "api_calls": {}})
    await a.count_api_call("ses_b", "s", 3)
    assert await b.load_session("ses_b") == {
        "session_id": "ses_b",
        "label": "x",
        "claims": {},
        "idle_timeout_s": 5,
        "api_calls": {"s": 1},
    }
    assert await b.load_session("ses_nobody") is None


async def test_another_processs_changes_show_in_the_live_object(open_store: Opener) -> None:
    a, b = await open_store("A"), await open_store("B")
    mine = payment("x")
    assert await a.add_payment(mine)
    theirs = await b.get_payment("pay_x")
    assert theirs is not None and theirs.complete(5.0)
    assert await b.save_payment(theirs)
    # a confirm racing it here: refused, and the held object now says what the store says
    late = await a.get_payment("pay_x")
    assert late is mine and mine.status == COMPLETED and mine.confirmed_at == 5.0
    mine.confirmed_at = 6.0
    assert not await a.save_payment(mine)
    assert (await b.get_payment("pay_x")).confirmed_at == 5.0  # type: ignore[union-attr]


async def test_a_rolled_back_block_leaves_nothing_and_binds_only_its_task(open_store: Opener) -> None:
    a, b = await open_store("A"), await open_store("B")
    p = payment("t")
    with pytest.raises(RuntimeError):
        async with a.atomic(p):
            assert await a.add_payment(p)
            assert await a.add_delivery(delivery("t"))
            assert await a.get_payment("pay_t") is p  # the block sees its own writes
            assert await b.get_payment("pay_t") is None  # others do not, yet
            raise RuntimeError("fail in the middle")
    assert await a.get_payment("pay_t") is None and await a.get_delivery("evt_completed_t") is None
    assert await a.add_payment(payment("t"))  # the id is free

    other_task_saw: list[object] = []
    async with a.atomic():
        assert await a.add_payment(payment("u"))
        # a task started inside the block runs on its own connection: it cannot see the uncommitted row
        await asyncio.create_task(_get(a, "pay_u", other_task_saw))
        async with a.atomic():  # nested: joins the outer transaction
            assert await a.add_payment(payment("v"))
    assert other_task_saw == [None]
    assert {p.tx_id for p in (await b.list_payments())[0]} == {"t", "u", "v"}


async def _get(store: PostgresStore, payment_id: str, into: list[object]) -> None:
    into.append(await store.get_payment(payment_id))


# a webhook attempt's outcome: writes nobody awaits an answer of, sent as one statement
async def test_writes_deferred_in_a_block_land_together_at_its_end_or_not_at_all(
    open_store: Opener, postgres_url: str
) -> None:
    a = await open_store("A")
    p, d = payment("o"), delivery("o")
    assert await a.add_payment(p, d)
    state = "SELECT p.status, p.confirmed_at, d.state, (SELECT count(*) FROM attempts) FROM payments p, deliveries d"
    d.record(Attempt(number=1, kind=SCHEDULED, at=3.0, status_code=500))
    with pytest.raises(RuntimeError):
        async with a.atomic(d, p):
            await a.complete_payment("pay_o", 2.0)
            d.state = ACKNOWLEDGED
            await a.save_delivery(d)
            raise RuntimeError("fails before the block's end")
    assert (p.status, d.state) == ("PENDING", PENDING)  # the objects say again what the store says
    assert await _rows(postgres_url, state) == [("PENDING", None, PENDING, 0)]

    async with a.atomic(d, p):
        await a.complete_payment("pay_o", 2.0)
        d.state = ACKNOWLEDGED
        await a.save_delivery(d)
        assert await _rows(postgres_url, state) == [("PENDING", None, PENDING, 0)]  # not before the end
    assert await _rows(postgres_url, state) == [(COMPLETED, 2.0, ACKNOWLEDGED, 1)]


async def test_a_statement_after_deferred_writes_sees_them_and_a_failure_undoes_both(
    open_store: Opener, postgres_url: str
) -> None:
    a, b = await open_store("A"), await open_store("B")
    p, d = payment("q"), delivery("q")
    assert await a.add_payment(p, d)
    with pytest.raises(RuntimeError):
        async with a.atomic(d, p):
            d.record(Attempt(number=1, kind=SCHEDULED, at=3.0, status_code=500))
            await a.save_delivery(d)
            await a.complete_payment("pay_q", 2.0)
            # they were asked for first, so they go first, in the block's transaction
            assert [x.tx_id for x in (await a.list_payments(status=COMPLETED))[0]] == ["q"]
            assert (await b.get_payment("pay_q")).status == "PENDING"  # type: ignore[union-attr]
            raise RuntimeError("fails after them")
    assert await _rows(postgres_url, "SELECT status FROM payments") == [("PENDING",)]
    assert await _rows(postgres_url, "SELECT count(*) FROM attempts") == [(0,)]


async def test_a_completion_another_process_made_first_wins_and_the_object_follows(open_store: Opener) -> None:
    a, b = await open_store("A"), await open_store("B")
    mine, mine_too = payment("r"), payment("s")
    assert await a.add_payment(mine) and await a.add_payment(mine_too)
    for tx_id in ("r", "s"):
        theirs = await b.get_payment(f"pay_{tx_id}")
        assert theirs is not None and theirs.complete(5.0) and await b.save_payment(theirs)
    async with a.atomic(mine):
        await a.complete_payment("pay_r", 7.0)
    await a.complete_payment("pay_s", 7.0)  # outside a block too
    assert (mine.status, mine.confirmed_at) == (COMPLETED, 5.0)
    assert (mine_too.status, mine_too.confirmed_at) == (COMPLETED, 5.0)


# a reset on one process while another still holds objects of the rows it removed (tests reuse tx_ids)
async def _stored(url: str) -> list[tuple[Any, ...]]:
    return await _rows(
        url,
        "SELECT d.state, d.next_attempt_at, d.reason, d.started, p.status, p.confirmed_at, "
        "(SELECT count(*) FROM attempts) FROM deliveries d, payments p",
    )


async def test_a_stale_incarnation_writes_nothing_onto_a_new_row_of_its_id(
    open_store: Opener, postgres_url: str
) -> None:
    a, b = await open_store("A"), await open_store("B")
    assert await a.add_payment(payment("re"), delivery("re"))
    # A reads what it will write back (an attempt in flight, a confirm); B resets and the tx_id is used again
    stale_d, stale_p = await a.get_delivery("evt_completed_re"), await a.get_payment("pay_re")
    assert stale_d is not None and stale_p is not None
    assert await b.clear() == (1, 1)
    assert await b.add_payment(payment("re"), delivery("re"))
    before = await _stored(postgres_url)
    assert before == [(PENDING, None, None, 0, "PENDING", None, 0)]
    # A's attempt comes back: acknowledged, with its attempt, and its payment completed
    n = stale_d.begin()
    stale_d.record(Attempt(number=n, kind=SCHEDULED, at=3.0, status_code=200))
    stale_d.state = ACKNOWLEDGED
    async with a.atomic(stale_d, stale_p):
        await a.complete_payment("pay_re", 2.0)
        await a.save_delivery(stale_d)
    assert await _stored(postgres_url) == before
    await a.save_delivery(stale_d)  # outside a block too
    stale_p.confirmed_at = 4.0  # a confirm's change
    assert not await a.save_payment(stale_p)  # a confirm's: nothing written, the caller reloads
    assert await _stored(postgres_url) == before
    # A reads the new row: a new object, not the stale one refreshed, and the stale one still writes nothing
    fresh_d, fresh_p = await a.get_delivery("evt_completed_re"), await a.get_payment("pay_re")
    assert fresh_d is not stale_d and fresh_p is not stale_p
    assert fresh_d is not None and fresh_d.state == PENDING and fresh_d.attempts == ()
    assert fresh_p is not None and fresh_p.status == "PENDING"
    stale_d.next_attempt_at = 99.0
    await a.save_delivery(stale_d)
    assert not await a.save_payment(stale_p)
    async with a.atomic(stale_d):  # the stale delivery's acknowledgement does not complete the new payment
        await a.complete_payment("pay_re", 2.0)
        await a.save_delivery(stale_d)
    assert await _stored(postgres_url) == before
    assert fresh_p.status == "PENDING"  # the live object says again what its row says
    # the new incarnation's own objects write as ever
    fresh_d.state, fresh_d.reason = FAILED, "gave up"
    await a.save_delivery(fresh_d)
    assert fresh_p.complete(5.0) and await a.save_payment(fresh_p)
    assert await _stored(postgres_url) == [(FAILED, None, "gave up", 0, COMPLETED, 5.0, 0)]


async def test_objects_a_reset_here_forgot_write_nothing_onto_the_new_rows(
    open_store: Opener, postgres_url: str
) -> None:
    a = await open_store("A")
    assert await a.add_payment(payment("here"), delivery("here"))
    held_d, held_p = await a.get_delivery("evt_completed_here"), await a.get_payment("pay_here")
    assert held_d is not None and held_p is not None
    await a.clear()
    assert await a.add_payment(payment("here"), delivery("here"))
    held_d.state = ACKNOWLEDGED
    held_d.record(Attempt(number=held_d.begin(), kind=SCHEDULED, at=3.0, status_code=200))
    await a.save_delivery(held_d)
    assert held_p.complete(4.0)
    assert not await a.save_payment(held_p)
    assert await _stored(postgres_url) == [(PENDING, None, None, 0, "PENDING", None, 0)]
