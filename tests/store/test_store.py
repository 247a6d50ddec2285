"""One suite, every store: memory, sqlite and postgres must behave the same (order, counts, filters, clear)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from paymock.domain.deliveries import ACKNOWLEDGED, FAILED, PENDING, SCHEDULED, Attempt, Delivery
from paymock.domain.payments import COMPLETED, Payment
from paymock.domain.payments import FAILED as PAY_FAILED
from paymock.domain.payments import PENDING as PAY_PENDING
from paymock.domain.scenarios.model import WebhookPlan
from paymock.store.base import Store
from paymock.store.memory import MemoryStore
from paymock.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

StoreFactory = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """A factory: sqlite reopens the same file, postgres the same database, so a second call sees what the
    first stored. postgres: a throwaway cluster of the test session, a new database per test (conftest)."""
    opened: list[Store] = []
    # skips the postgres cases, saying why, where no PostgreSQL server binaries exist
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""

    async def factory() -> Store:
        store: Store
        if request.param == "memory":
            store = MemoryStore()
        elif request.param == "sqlite":
            store = SqliteStore(tmp_path / "paymock.db")
        else:
            from paymock.store.postgres import PostgresStore

            store = await PostgresStore(url).open()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


@pytest.fixture
async def store(make_store: StoreFactory) -> Store:
    return await make_store()


def payment(tx_id: str, status: str = PAY_PENDING, scenario: str = "default", at: float = 1.0) -> Payment:
    p = Payment(
        tx_id=tx_id,
        order_id=7,
        user_id=3,
        amount=1000,
        callback_url="http://127.0.0.1:1/hook",
        scenario=scenario,
        created_at=at,
    )
    if status == PAY_FAILED:
        p.fail("CARD_DECLINED")
    elif status == COMPLETED:
        p.complete(at + 1)
    return p


PLAN = WebhookPlan(fail_attempts=2, duplicates=1, retry_schedule_ms=(10, 20))


def delivery(tx_id: str, event: str = "payment.completed", scenario: str = "default", plan: WebhookPlan = PLAN):
    return Delivery(
        tx_id=tx_id,
        event=event,
        scenario=scenario,
        callback_url="http://127.0.0.1:1/hook",
        plan=plan,
        occurred_at=2.0,
        created_at=2.5,
    )


# payments
async def test_add_get_and_duplicate_id(store: Store) -> None:
    p = payment("a")
    assert await store.add_payment(p)
    assert await store.get_payment("pay_a") is p
    twin = payment("a", scenario="other")
    assert not await store.add_payment(twin)
    got = await store.get_payment("pay_a")
    assert got is p and got.scenario == "default"
    assert await store.get_payment("pay_missing") is None
    assert await store.counts() == {PAY_PENDING: 1, COMPLETED: 0, PAY_FAILED: 0}


async def test_status_changes_move_counts(store: Store) -> None:
    for i in range(3):
        await store.add_payment(payment(f"t{i}"))
    await store.add_payment(payment("f", status=PAY_FAILED))
    p = await store.get_payment("pay_t1")
    assert p is not None and p.complete(5.0)
    await store.save_payment(p)
    await store.save_payment(p)  # saving an unchanged payment changes nothing
    assert await store.counts() == {PAY_PENDING: 2, COMPLETED: 1, PAY_FAILED: 1}
    assert (await store.get_payment("pay_t1")).status == COMPLETED  # type: ignore[union-attr]
    items, total = await store.list_payments(status=COMPLETED)
    assert [x.tx_id for x in items] == ["t1"] and total == 1


async def test_list_payments_order_filters_and_pages(store: Store) -> None:
    for i in range(10):
        await store.add_payment(payment(f"run1_{i:02d}", scenario="declined" if i % 3 == 0 else "default"))
    await store.add_payment(payment("run2_00"))
    await store.add_payment(payment("ru%_x"))  # LIKE metacharacters are plain characters in a prefix
    items, total = await store.list_payments()
    assert total == 12 and [p.tx_id for p in items][:3] == ["run1_00", "run1_01", "run1_02"]
    assert items[-1].tx_id == "ru%_x"
    items, total = await store.list_payments(offset=2, limit=3)
    assert [p.tx_id for p in items] == ["run1_02", "run1_03", "run1_04"] and total == 12
    items, total = await store.list_payments(tx_id_prefix="run1_")
    assert total == 10 and len(items) == 10
    items, total = await store.list_payments(tx_id_prefix="ru%")
    assert [p.tx_id for p in items] == ["ru%_x"] and total == 1
    items, total = await store.list_payments(tx_id_prefix="RUN1")
    assert total == 0 and items == []
    items, total = await store.list_payments(scenario="declined", limit=2)
    assert [p.tx_id for p in items] == ["run1_00", "run1_03"] and total == 4
    items, total = await store.list_payments(scenario="declined", tx_id_prefix="run1_0", offset=1)
    assert [p.tx_id for p in items] == ["run1_03", "run1_06", "run1_09"] and total == 4
    items, total = await store.list_payments(status=PAY_PENDING, offset=12, limit=5)
    assert items == [] and total == 12
    items, total = await store.list_payments(status=COMPLETED)
    assert items == [] and total == 0


async def test_status_filter_lists_oldest_first_whatever_the_order_of_changes(store: Store) -> None:
    for i in range(4):
        await store.add_payment(payment(f"s{i}"))
    for tx in ("s2", "s0"):  # completed out of creation order
        p = await store.get_payment(f"pay_{tx}")
        assert p is not None and p.complete(5.0)
        await store.save_payment(p)
    items, total = await store.list_payments(status=COMPLETED)
    assert [p.tx_id for p in items] == ["s0", "s2"] and total == 2
    items, total = await store.list_payments(status=COMPLETED, offset=1, limit=5)
    assert [p.tx_id for p in items] == ["s2"] and total == 2
    items, total = await store.list_payments(status=PAY_PENDING)
    assert [p.tx_id for p in items] == ["s1", "s3"] and total == 2
    items, total = await store.list_payments(status=COMPLETED, tx_id_prefix="s2")
    assert [p.tx_id for p in items] == ["s2"] and total == 1
    assert await store.counts() == {PAY_PENDING: 2, COMPLETED: 2, PAY_FAILED: 0}


async def test_list_payments_returns_live_objects(store: Store) -> None:
    await store.add_payment(payment("x"))
    held = await store.get_payment("pay_x")
    items, _ = await store.list_payments()
    assert items[0] is held


# deliveries
async def test_deliveries_order_filters_and_totals(store: Store) -> None:
    await store.add_delivery(delivery("a"))
    await store.add_delivery(delivery("b", scenario="flaky"))
    await store.add_delivery(delivery("a", event="payment.failed"))
    await store.add_delivery(delivery("c"))
    items, total = await store.list_deliveries()
    assert [d.delivery_id for d in items] == ["evt_completed_c", "evt_failed_a", "evt_completed_b", "evt_completed_a"]
    assert total == 4
    items, total = await store.list_deliveries(tx_id="a")
    assert [d.delivery_id for d in items] == ["evt_failed_a", "evt_completed_a"] and total == 2
    items, total = await store.list_deliveries(event="payment.completed", offset=1, limit=1)
    assert [d.delivery_id for d in items] == ["evt_completed_b"] and total == 3
    items, total = await store.list_deliveries(scenario="flaky")
    assert [d.tx_id for d in items] == ["b"] and total == 1
    assert [d.delivery_id for d in await store.deliveries_for("a")] == ["evt_completed_a", "evt_failed_a"]
    assert await store.deliveries_for("nobody") == []
    assert (await store.get_delivery("evt_completed_b")).scenario == "flaky"  # type: ignore[union-attr]
    assert await store.get_delivery("evt_nothing_b") is None
    assert await store.get_delivery("evt_completed_") is None
    assert await store.get_delivery("nonsense") is None and await store.get_delivery("") is None


async def test_adding_a_delivery_again_is_refused_and_changes_nothing(make_store: StoreFactory) -> None:
    """False for an id that exists: on a shared store, another process's confirm made it first."""
    store = await make_store()
    assert await store.add_delivery(delivery("a"))
    assert await store.add_delivery(delivery("b"))
    again = delivery("a", scenario="flaky")
    again.state = ACKNOWLEDGED
    assert not await store.add_delivery(again)
    assert (await store.get_delivery("evt_completed_a")) is not again
    stores = [store]
    if store.name != "memory":  # and so it stays, in what a durable store wrote
        await store.close()
        stores = [await make_store()]
    for s in stores:
        items, total = await s.list_deliveries()
        assert [(d.tx_id, d.scenario, d.state) for d in items] == [
            ("b", "default", PENDING),
            ("a", "default", PENDING),
        ]
        assert total == 2 and len(await s.deliveries_for("a")) == 1
        assert (await s.get_delivery("evt_completed_a")).scenario == "default"  # type: ignore[union-attr]
        assert (await s.list_deliveries(scenario="flaky"))[1] == 0


async def test_a_payment_added_with_its_first_delivery_lands_with_it_or_not_at_all(make_store: StoreFactory) -> None:
    """add_payment(payment, delivery): both stored (one write), or, for a payment id that exists, neither."""
    store = await make_store()
    first = delivery("a")
    first.record(Attempt(number=1, kind=SCHEDULED, at=3.0, status_code=500))
    assert await store.add_payment(payment("a"), first)
    assert await store.get_delivery("evt_completed_a") is first
    twin_payment, twin_delivery = payment("a", scenario="other"), delivery("a", scenario="flaky")
    assert not await store.add_payment(twin_payment, twin_delivery)
    # a delivery whose payment was refused is not stored, even under an id of its own
    assert not await store.add_payment(payment("a"), delivery("a", event="payment.failed"))
    assert await store.add_payment(payment("b"), None)
    stores = [store]
    if store.name != "memory":  # and so it stays, in what a durable store wrote
        await store.close()
        stores = [await make_store()]
    for s in stores:
        assert (await s.get_payment("pay_a")).scenario == "default"  # type: ignore[union-attr]
        items, total = await s.list_deliveries()
        assert total == 1 and items[0].scenario == "default" and items[0].state == PENDING
        assert [(a.number, a.status_code) for a in items[0].attempts] == [(1, 500)]
        assert await s.deliveries_for("b") == []
        assert sum((await s.counts()).values()) == 2


async def test_saving_a_payment_says_it_was_saved(store: Store) -> None:
    """save_payment is False only on a shared store whose row another process completed first."""
    p = payment("s")
    await store.add_payment(p)
    assert p.complete(3.0)
    assert await store.save_payment(p) is True
    assert (await store.counts())[COMPLETED] == 1


async def test_completing_a_payment_moves_only_a_pending_one(make_store: StoreFactory) -> None:
    """complete_payment (an acknowledged completed-event webhook): PENDING -> COMPLETED as of the event;
    a completed one keeps when it completed, a failed one stays failed, an unknown id is nothing."""
    store = await make_store()
    pending, done, failed = payment("p"), payment("c", COMPLETED, at=1.0), payment("f", PAY_FAILED)
    for p in (pending, done, failed):
        assert await store.add_payment(p)
    for payment_id in ("pay_p", "pay_c", "pay_f", "pay_missing"):
        await store.complete_payment(payment_id, 9.0)
    assert (pending.status, pending.confirmed_at) == (COMPLETED, 9.0)  # the live object at once
    async with store.atomic(pending):  # and inside a block, with the block's other writes
        await store.complete_payment("pay_p", 10.0)
        await store.save_delivery(delivery("p"))
    stores = [store]
    if store.name != "memory":
        await store.close()
        stores = [await make_store()]
    for s in stores:
        got = {tx: await s.get_payment(f"pay_{tx}") for tx in "pcf"}
        assert [(p.status, p.confirmed_at) for p in got.values()] == [  # type: ignore[union-attr]
            (COMPLETED, 9.0),
            (COMPLETED, 2.0),
            (PAY_FAILED, None),
        ]
        assert await s.counts() == {PAY_PENDING: 0, COMPLETED: 2, PAY_FAILED: 1}


async def test_delivery_changes_persist_and_pending_list(store: Store) -> None:
    for tx in ("a", "b", "c"):
        await store.add_delivery(delivery(tx))
    d = await store.get_delivery("evt_completed_b")
    assert d is not None
    d.begin()
    d.record(Attempt(number=1, kind=SCHEDULED, at=3.0, status_code=200, latency_ms=1.5))
    d.state = ACKNOWLEDGED
    await store.save_delivery(d)
    f = await store.get_delivery("evt_completed_c")
    assert f is not None
    f.state, f.reason = FAILED, "gave up"
    await store.save_delivery(f)
    a = await store.get_delivery("evt_completed_a")
    assert a is not None
    a.next_attempt_at = 99.0
    await store.save_delivery(a)
    assert [x.delivery_id for x in await store.pending_deliveries()] == ["evt_completed_a"]
    items, total = await store.list_deliveries(state=ACKNOWLEDGED)
    assert [x.delivery_id for x in items] == ["evt_completed_b"] and total == 1
    assert items[0].attempts[0].status_code == 200 and items[0].attempts[0].acknowledged


async def test_clear_forgets_everything(store: Store) -> None:
    for i in range(3):
        await store.add_payment(payment(f"t{i}"))
        await store.add_delivery(delivery(f"t{i}"))
    kept = await store.get_payment("pay_t0")
    assert await store.clear() == (3, 3)
    assert await store.counts() == {PAY_PENDING: 0, COMPLETED: 0, PAY_FAILED: 0}
    assert await store.list_payments() == ([], 0)
    assert await store.list_deliveries() == ([], 0)
    assert await store.get_payment("pay_t0") is None and await store.get_delivery("evt_completed_t0") is None
    assert await store.pending_deliveries() == []
    # a task that still held an object and saves it afterwards does not bring it back
    assert kept is not None and kept.complete(9.0)
    await store.save_payment(kept)
    assert await store.counts() == {PAY_PENDING: 0, COMPLETED: 0, PAY_FAILED: 0}
    assert await store.get_payment("pay_t0") is None
    # and the id is free again
    assert await store.add_payment(payment("t0"))
    assert await store.clear() == (1, 0)


async def test_same_object_while_live_and_saved_state_after(store: Store) -> None:
    """The dispatcher mutates what it got and then saves: lookups must share the object meanwhile."""
    await store.add_payment(payment("x"))
    await store.add_delivery(delivery("x"))
    first = await store.get_delivery("evt_completed_x")
    second = await store.get_delivery("evt_completed_x")
    assert first is second is (await store.list_deliveries())[0][0] is (await store.deliveries_for("x"))[0]
    assert first is not None
    first.begin()  # a change not yet saved is still seen through another lookup
    assert (await store.get_delivery("evt_completed_x")).started == 1  # type: ignore[union-attr]
    first.record(Attempt(number=1, kind=SCHEDULED, at=3.0, error="refused"))
    await store.save_delivery(first)
    del first, second
    gc.collect()
    again = await store.get_delivery("evt_completed_x")
    assert again is not None and again.started == 1 and again.attempts[0].error == "refused"
    assert await store.get_payment("pay_x") is await store.get_payment("pay_x")


async def test_an_event_time_a_confirm_moved_earlier_is_stored(store: Store) -> None:
    """A delayed completion confirmed before its time happens then (Provider.confirm): its webhook body's
    confirmed_at is that time, in every later attempt too, once nobody holds the object any more (a
    redeliver after a restart, or from another process)."""
    await store.add_payment(payment("early"))
    d = delivery("early")
    d.occurred_at = 50.0  # due later
    await store.add_delivery(d)
    d.occurred_at = 10.0  # confirmed now
    await store.save_delivery(d)
    del d
    gc.collect()
    again = await store.get_delivery("evt_completed_early")
    assert again is not None and again.occurred_at == 10.0


# durability (stores that have it)
async def test_reopen_keeps_everything(make_store: StoreFactory) -> None:
    store = await make_store()
    if store.name == "memory":
        pytest.skip("the memory store is gone with its process, by design")
    await store.add_payment(payment("keep", status=COMPLETED))
    await store.add_payment(payment("fail", status=PAY_FAILED))
    d = delivery("keep", plan=WebhookPlan(reorder=True, signature="stale", fault_attempts=1))
    await store.add_delivery(d)
    d.begin()
    d.record(Attempt(number=1, kind=SCHEDULED, at=3.0, status_code=503, latency_ms=0.25, signature="stale"))
    d.next_attempt_at = 42.0
    await store.save_delivery(d)
    await store.close()

    reopened = await make_store()
    p = await reopened.get_payment("pay_keep")
    assert p is not None and p.status == COMPLETED and p.confirmed_at == 2.0
    assert await reopened.counts() == {PAY_PENDING: 0, COMPLETED: 1, PAY_FAILED: 1}
    (pending,) = await reopened.pending_deliveries()
    assert pending.plan == WebhookPlan(reorder=True, signature="stale", fault_attempts=1)
    assert pending.next_attempt_at == 42.0 and pending.started == 1 and pending.state == PENDING
    assert pending.attempts == (
        Attempt(number=1, kind=SCHEDULED, at=3.0, status_code=503, latency_ms=0.25, signature="stale"),
    )
    assert not await reopened.add_payment(payment("keep"))
