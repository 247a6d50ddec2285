"""Sessions in the stores: each session's payments and deliveries apart, session records kept, a restart on
sqlite keeps sessions with their claims, scenarios and active scenario, and a schema-1 file migrates."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from paymock.app import create_app
from paymock.domain.deliveries import Delivery
from paymock.domain.payments import COMPLETED, PENDING
from paymock.domain.scenarios.model import WebhookPlan
from paymock.store.base import ALL_SESSIONS, Store
from paymock.store.sqlite import SqliteStore
from tests.conftest import SteppedClock, in_process, payment_body, refused_payment, retrying_scenario, settings
from tests.store.test_store import StoreFactory, make_store, payment  # noqa: F401  (the fixture)

S = "X-Mock-Session"


async def _add(store: Store, tx_id: str, session: str | None, status: str = PENDING) -> None:
    p = payment(tx_id, status=status)
    p.session_id = session
    assert await store.add_payment(p)
    await store.add_delivery(
        Delivery(
            tx_id=tx_id,
            event="payment.completed",
            scenario="default",
            callback_url=p.callback_url,
            plan=WebhookPlan(),
            occurred_at=1.0,
            created_at=1.0,
            session_id=session,
        )
    )


@pytest.mark.anyio
async def test_each_session_sees_its_own_part(make_store: StoreFactory) -> None:  # noqa: F811
    store = await make_store()
    await _add(store, "g1", None)
    await _add(store, "a1", "ses_a", status=COMPLETED)
    await _add(store, "a2", "ses_a")
    await _add(store, "b1", "ses_b")
    assert [p.tx_id for p in (await store.list_payments())[0]] == ["g1"]
    assert [p.tx_id for p in (await store.list_payments(session="ses_a"))[0]] == ["a1", "a2"]
    assert await store.counts("ses_a") == {PENDING: 1, COMPLETED: 1, "PAYMENT_FAILED": 0}
    assert await store.counts() == {PENDING: 1, COMPLETED: 0, "PAYMENT_FAILED": 0}
    assert (await store.list_deliveries(session="ses_b"))[1] == 1 and await store.delivery_count("ses_a") == 2
    assert {d.tx_id for d in (await store.list_deliveries(session=ALL_SESSIONS))[0]} == {"g1", "a1", "a2", "b1"}
    # lookups by id cross sessions (idempotency is global); the object says whose it is
    found = await store.get_payment("pay_b1")
    assert found is not None and found.session_id == "ses_b"
    assert not await store.add_payment(payment("b1"))  # a tx_id of another session is taken
    assert await store.clear_session("ses_a") == (2, 2)
    assert await store.get_payment("pay_a1") is None and await store.get_delivery("evt_completed_a1") is None
    assert await store.list_payments(session="ses_a") == ([], 0) and (await store.counts("ses_a"))[PENDING] == 0
    assert [p.tx_id for p in (await store.list_payments(session="ses_b"))[0]] == ["b1"]
    assert {d.tx_id for d in await store.pending_deliveries()} == {"g1", "b1"}
    assert await store.add_payment(payment("a1"))  # its tx_ids are free again


@pytest.mark.anyio
async def test_session_records_are_kept(make_store: StoreFactory) -> None:  # noqa: F811
    store = await make_store()
    record = {"session_id": "ses_x", "label": "l", "claims": {"user_ids": [1]}, "idle_timeout_s": 5}
    await store.save_session(record)
    await store.save_session({**record, "label": "renamed"})
    assert await store.load_sessions() == [{**record, "label": "renamed"}]
    await store.delete_session("ses_x")
    assert await store.load_sessions() == []
    await store.save_session(record)
    await store.clear()  # the global reset forgets sessions too
    assert await store.load_sessions() == []


@pytest.mark.anyio
async def test_the_global_sessions_book_is_kept_as_a_record_with_no_session_id(
    make_store: StoreFactory,  # noqa: F811
) -> None:
    store = await make_store()
    session = {"session_id": "ses_a", "label": None, "claims": {}, "idle_timeout_s": 5, "api_calls": {}}
    book = {"session_id": None, "label": None, "claims": None, "idle_timeout_s": 0, "created_at": 0.0}
    book |= {"active_scenario": "mine", "scenarios": {"mine": {"description": "d"}}, "api_calls": {"mine": 1}}
    await store.save_session(session)
    await store.save_session({**book, "active_scenario": "default"})
    await store.save_session(book)  # replaced, as a session's record is
    if store.shared:  # a shared store counts API calls in its own table, not from the saved record
        assert await store.count_api_call(None, "mine", 5)  # type: ignore[attr-defined]
    assert await store.load_sessions() == [session, book]
    await store.clear_session("ses_a")  # a session's reset never touches it
    await store.delete_session("ses_a")
    assert await store.load_sessions() == [book]
    if store.name != "memory":  # a durable store keeps it across a restart
        await store.close()
        store = await make_store()
        assert await store.load_sessions() == [book]
    await store.clear()  # the global reset forgets it
    assert await store.load_sessions() == []


def test_a_restart_on_sqlite_keeps_the_global_scenarios_active_scenario_and_api_faults(
    tmp_path: Path, receiver
) -> None:
    db = f"sqlite:{tmp_path / 'paymock.db'}"
    pending = {"description": "kept across restarts", "payment": {"outcome": "pending"}}
    faults = {"description": "fails twice", "api": {"error_status": 503, "operations": ["listing"], "times": 2}}
    with in_process(store=db) as client:
        assert client.put("/mock/v1/scenarios/mine", json=pending).status_code == 201
        assert client.put("/mock/v1/scenarios/flaky", json=faults).status_code == 201
        assert client.put("/mock/v1/active-scenario", json={"name": "mine"}).status_code == 200
        listing = client.get("/api/v2/pending-payments", headers={"X-Mock-Scenario": "flaky"})
        assert listing.status_code == 503  # the first of its two
    with in_process(store=db) as client:
        assert client.get("/mock/v1/active-scenario").json()["name"] == "mine"
        assert client.get("/mock/v1/scenarios/mine").json()["source"] == "runtime"
        made = client.post("/api/v2/payments", json=payment_body("g-1", receiver.url("/")))
        assert made.json()["status"] == "PENDING"  # the active scenario is in force again
        flaky = {"X-Mock-Scenario": "flaky"}
        assert client.get("/api/v2/pending-payments", headers=flaky).status_code == 503  # the second
        assert client.get("/api/v2/pending-payments", headers=flaky).status_code == 200  # used up
        assert client.post("/mock/v1/reset").status_code == 200  # the global reset forgets it all
    with in_process(store=db) as client:
        assert client.get("/mock/v1/active-scenario").json()["name"] == "default"
        assert client.get("/mock/v1/scenarios/mine").status_code == 404


def test_a_restart_on_sqlite_keeps_sessions_and_their_state(tmp_path: Path, receiver) -> None:
    db = f"sqlite:{tmp_path / 'paymock.db'}"
    with in_process(store=db) as client:
        made = client.post(
            "/mock/v1/sessions", json={"label": "kept", "claims": {"tx_id_prefix": "k-", "user_ids": [77]}}
        ).json()
        sid = made["session_id"]
        doc = {"description": "kept across restarts", "payment": {"outcome": "pending"}}
        assert client.put("/mock/v1/scenarios/mine", json=doc, headers={S: sid}).status_code == 201
        assert client.put("/mock/v1/active-scenario", json={"name": "mine"}, headers={S: sid}).status_code == 200
        assert client.post("/api/v2/payments", json=payment_body("k-1", receiver.url("/"))).status_code == 200
    with in_process(store=db) as client:
        again = client.get(f"/mock/v1/sessions/{sid}").json()
        assert again["label"] == "kept" and again["claims"]["user_ids"] == [77] and again["payments"] == 1
        assert client.get("/mock/v1/active-scenario", headers={S: sid}).json()["name"] == "mine"
        listed = client.get("/api/v2/pending-payments", headers={S: sid}).json()
        assert list(listed["payments"]) == ["pay_k-1"] and listed["pending_count"] == 1
        # claims work again after the restart
        client.post("/api/v2/payments", json=payment_body("other", receiver.url("/"), user_id=77))
        assert client.get("/mock/v1/payments/pay_other", headers={S: sid}).status_code == 200
        assert client.get("/api/v2/pending-payments").json()["total"] == 0  # global saw none of it


def test_a_restart_on_sqlite_keeps_a_sessions_used_up_api_faults(tmp_path: Path, receiver) -> None:
    db = f"sqlite:{tmp_path / 'paymock.db'}"
    doc = {"description": "fails twice", "api": {"error_status": 503, "operations": ["create"], "times": 2}}

    def create(client, tx_id: str, sid: str) -> int:
        return client.post(
            "/api/v2/payments", json=payment_body(tx_id, receiver.url("/")), headers={S: sid}
        ).status_code

    with in_process(store=db) as client:
        sid = client.post("/mock/v1/sessions", json={"label": "faults"}).json()["session_id"]
        assert client.put("/mock/v1/scenarios/flaky", json=doc, headers={S: sid}).status_code == 201
        assert client.put("/mock/v1/active-scenario", json={"name": "flaky"}, headers={S: sid}).status_code == 200
        assert create(client, "f-1", sid) == 503  # the first of its two
    with in_process(store=db) as client:
        assert create(client, "f-2", sid) == 503  # the second: the count survived the restart
        assert create(client, "f-3", sid) == 200  # used up, as it would be without a restart


def test_a_session_that_expired_while_the_server_was_down_is_ended_before_its_retries_resume(
    tmp_path: Path, receiver
) -> None:
    db = f"sqlite:{tmp_path / 'paymock.db'}"
    clock = SteppedClock()
    with create_app(settings(store=db), clock=clock).test_client() as client:
        sid = client.post("/mock/v1/sessions", json={"idle_timeout_s": 60}).json()["session_id"]
        retrying_scenario(client, "far", 86_400_000, session_id=sid)  # 86 s away at the tests' time scale
        refused_payment(client, receiver, "down-1", "far", session_id=sid)
        assert len(receiver.wait_for(1, path="/down")) == 1
    clock.offset += 200  # down past both the session's expiry and the retry's time
    with create_app(settings(store=db), clock=clock).test_client() as client:
        assert client.get("/mock/v1/deliveries", params={"session": "all"}).json()["total"] == 0
        assert client.get("/mock/v1/health").json()["sessions"] == 0
        time.sleep(0.5)
        assert len(receiver.for_path("/down")) == 1  # the expired session's retry was never sent


def test_a_session_the_store_fails_to_clean_up_is_still_held_and_ended_on_the_next_try(
    tmp_path: Path, receiver
) -> None:
    path = tmp_path / "locked.db"
    clock = SteppedClock()
    with create_app(settings(store=f"sqlite:{path}"), clock=clock).test_client() as client:
        ended, expiring = (
            client.post("/mock/v1/sessions", json={"idle_timeout_s": 60}).json()["session_id"] for _ in range(2)
        )
        for sid in (ended, expiring):
            made = client.post("/api/v2/payments", json=payment_body(f"t-{sid}", receiver.url("/")), headers={S: sid})
            assert made.status_code == 200
        other = sqlite3.connect(path, isolation_level=None, timeout=10)
        other.execute("BEGIN EXCLUSIVE")  # another program holds the file: the store's writes fail
        try:
            assert client.delete(f"/mock/v1/sessions/{ended}").status_code == 503
            clock.offset += 30
            assert client.get(f"/mock/v1/sessions/{expiring}").status_code == 200  # renewed (in memory)
            clock.offset += 61  # `ended` is idle past its expiry too, `expiring` as well
            assert client.get("/mock/v1/sessions").status_code == 503  # the sweep could not clean up
        finally:
            other.rollback()
            other.close()
        # nothing was lost track of: both are cleaned up now, data and claims with them
        assert client.get("/mock/v1/sessions").json()["total"] == 0
        assert client.get("/mock/v1/deliveries", params={"session": "all"}).json()["total"] == 0
        assert client.get("/mock/v1/health").json()["payments"] == 0


def test_a_scenario_change_the_store_cannot_keep_is_undone(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with create_app(settings(store=f"sqlite:{path}")).test_client() as client:
        sid = client.post("/mock/v1/sessions", json={}).json()["session_id"]
        kept = {"description": "kept", "payment": {"outcome": "pending"}}
        assert client.put("/mock/v1/scenarios/kept", json=kept, headers={S: sid}).status_code == 201
        other = sqlite3.connect(path, isolation_level=None, timeout=10)
        other.execute("BEGIN EXCLUSIVE")  # another program holds the file: the session's record cannot be written
        try:
            new = {"description": "new", "payment": {"outcome": "fail"}}
            assert client.put("/mock/v1/scenarios/new", json=new, headers={S: sid}).status_code == 503
            assert client.put("/mock/v1/active-scenario", json={"name": "kept"}, headers={S: sid}).status_code == 503
            assert client.delete("/mock/v1/scenarios/kept", headers={S: sid}).status_code == 503
        finally:
            other.rollback()
            other.close()
        # each failed call changed nothing, in memory as in the file
        assert client.get("/mock/v1/scenarios/new", headers={S: sid}).status_code == 404
        assert client.get("/mock/v1/scenarios/kept", headers={S: sid}).status_code == 200
        assert client.get("/mock/v1/active-scenario", headers={S: sid}).json()["name"] == "default"


def test_a_session_reset_the_store_fails_changes_nothing(tmp_path: Path, receiver) -> None:
    path = tmp_path / "locked.db"
    with create_app(settings(store=f"sqlite:{path}")).test_client() as client:
        sid = client.post("/mock/v1/sessions", json={}).json()["session_id"]
        assert client.put("/mock/v1/active-scenario", json={"name": "declined"}, headers={S: sid}).status_code == 200
        made = client.post("/api/v2/payments", json=payment_body("r-1", receiver.url("/")), headers={S: sid})
        assert made.json()["status"] == "PAYMENT_FAILED"
        other = sqlite3.connect(path, isolation_level=None, timeout=10)
        other.execute("BEGIN EXCLUSIVE")
        try:
            assert client.post("/mock/v1/reset", headers={S: sid}).status_code == 503
        finally:
            other.rollback()
            other.close()
        assert client.get("/mock/v1/active-scenario", headers={S: sid}).json()["name"] == "declined"
        assert client.get(f"/mock/v1/sessions/{sid}").json()["payments"] == 1
        reset = client.post("/mock/v1/reset", headers={S: sid}).json()  # and it works once the file is free
        assert reset["payments_removed"] == 1
        assert client.get("/mock/v1/active-scenario", headers={S: sid}).json()["name"] == "default"


# the schema of paymock before sessions (version 1), as it wrote files
V1_SCHEMA = """
CREATE TABLE payments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, payment_id TEXT NOT NULL UNIQUE, tx_id TEXT NOT NULL,
    order_id INTEGER NOT NULL, user_id INTEGER NOT NULL, amount INTEGER NOT NULL, callback_url TEXT NOT NULL,
    scenario TEXT NOT NULL, created_at REAL NOT NULL, status TEXT NOT NULL, confirmed_at REAL, failure_reason TEXT
);
CREATE INDEX payments_status ON payments (status, seq);
CREATE INDEX payments_scenario ON payments (scenario, seq);
CREATE TABLE plans (plan_id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE);
CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL UNIQUE, tx_id TEXT NOT NULL,
    event TEXT NOT NULL, scenario TEXT NOT NULL, callback_url TEXT NOT NULL, plan_id INTEGER NOT NULL,
    occurred_at REAL NOT NULL, created_at REAL NOT NULL, state TEXT NOT NULL, next_attempt_at REAL,
    attempts TEXT NOT NULL, started INTEGER NOT NULL, reason TEXT
);
CREATE INDEX deliveries_tx ON deliveries (tx_id, seq);
CREATE INDEX deliveries_state ON deliveries (state, seq);
"""


@pytest.mark.anyio
async def test_a_schema_1_file_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute(
        "INSERT INTO payments (payment_id, tx_id, order_id, user_id, amount, callback_url, scenario, created_at, "
        "status, confirmed_at, failure_reason) VALUES ('pay_old', 'old', 1, 2, 300, 'http://127.0.0.1:1/h', "
        "'default', 1.0, 'PAYMENT_COMPLETED', 2.0, NULL)"
    )
    db.execute("INSERT INTO plans (plan_id, body) VALUES (1, ?)", ('{"mode":"deliver","retry_schedule_ms":[]}',))
    db.execute(
        "INSERT INTO deliveries (delivery_id, tx_id, event, scenario, callback_url, plan_id, occurred_at, "
        "created_at, state, next_attempt_at, attempts, started, reason) VALUES ('evt_completed_old', 'old', "
        "'payment.completed', 'default', 'http://127.0.0.1:1/h', 1, 2.0, 1.0, 'acknowledged', NULL, '[]', 0, NULL)"
    )
    db.execute("PRAGMA user_version=1")
    db.execute("PRAGMA application_id=0x706D6B31")  # as paymock 1 wrote it (store/sqlite.py)
    db.commit()
    db.close()

    store = SqliteStore(path)
    try:
        old = await store.get_payment("pay_old")
        assert old is not None and old.session_id is None and old.status == COMPLETED
        assert [p.tx_id for p in (await store.list_payments())[0]] == ["old"]
        assert (await store.counts())[COMPLETED] == 1
        delivery = await store.get_delivery("evt_completed_old")
        assert delivery is not None and delivery.session_id is None
        await _add(store, "new", "ses_n")  # the new columns and table take writes
        await store.save_session({"session_id": "ses_n", "claims": {}})
    finally:
        await store.close()
    reopened = SqliteStore(path)
    try:
        assert [p.tx_id for p in (await reopened.list_payments(session="ses_n"))[0]] == ["new"]
        assert await reopened.load_sessions() == [{"session_id": "ses_n", "claims": {}}]
    finally:
        await reopened.close()
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == 3
