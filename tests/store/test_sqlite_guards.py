"""The sqlite store refuses what it must not use, and outlives another program's lock on its file.

Each case was found against a real server: a second paymock on one file resent every retry and
overwrote the other's attempts; another program's database was switched to WAL and given paymock's
tables; a bad path was a uvicorn traceback; and a write that failed under a lock lost its retry.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from paymock.delivery.dispatcher import Dispatcher
from paymock.delivery.http11 import Http11Sender
from paymock.domain.clock import SystemClock
from paymock.domain.deliveries import Delivery
from paymock.domain.payments import Payment
from paymock.domain.scenarios.loading import load_paths
from paymock.domain.scenarios.model import WebhookPlan
from paymock.domain.scenarios.registry import ScenarioBook
from paymock.domain.webhooks import COMPLETED_EVENT
from paymock.provider import Provider
from paymock.resources import fixtures_dir
from paymock.store.sqlite import SqliteStore, StoreError
from paymock.testing.process import ServerProcess
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import SECRET, SERVER_ENV, payment_body, wait_for_delivery


def test_a_second_store_on_the_same_file_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    path = tmp_path / "one.db"
    first = SqliteStore(path)
    with pytest.raises(StoreError, match="in use by another paymock process"):
        SqliteStore(path)
    first.close_now()
    SqliteStore(path).close_now()  # the lock went with the first store


def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE x (a)")
    with pytest.raises(StoreError, match=r"another program's database \(tables: x\)"):
        SqliteStore(path)
    with sqlite3.connect(path) as db:  # nothing written: no WAL switch, no tables of ours
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert {r[0] for r in db.execute("SELECT name FROM sqlite_master")} == {"x"}


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, but a long enough text to be read as a header " * 4)
    with pytest.raises(StoreError, match="file is not a database"):
        SqliteStore(path)


def test_a_store_made_by_paymock_opens_again_and_a_home_path_is_expanded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    store = SqliteStore("~/stores/p.db")
    assert store.path == str(tmp_path / "stores" / "p.db")  # not a directory named `~`
    store.close_now()
    SqliteStore(tmp_path / "stores" / "p.db").close_now()


@pytest.mark.parametrize("kind", ["directory", "in use", "memory"])
def test_serve_names_a_store_it_cannot_use_in_one_line(tmp_path: Path, kind: str) -> None:
    holder = None
    if kind == "directory":
        spec = f"sqlite:{tmp_path}"
    elif kind == "in use":
        holder = SqliteStore(tmp_path / "held.db")
        spec = f"sqlite:{tmp_path / 'held.db'}"
    else:
        spec = "sqlite::memory:"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "paymock.cli", "serve", "--port", "1", "--store", spec],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        if holder is not None:
            holder.close_now()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    line = [x for x in done.stderr.splitlines() if x.startswith("paymock: PAYMOCK_STORE=")]
    assert len(line) == 1, done.stderr


def test_a_lock_held_by_another_program_is_a_503_and_the_webhook_still_arrives(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    receiver = WebhookReceiver(SECRET)
    server = ServerProcess({**SERVER_ENV, "PAYMOCK_STORE": f"sqlite:{path}"}).wait_ready()
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as c:
            # a retry 1 s after the refused first attempt (10^6 ms at the tests' time scale of 0.001)
            slow = {"name": "retry-in-1s", "description": "d", "webhook": {"retry_schedule_ms": [1_000_000] * 3}}
            assert c.put("/mock/v1/scenarios/retry-in-1s", json=slow).status_code in (200, 201)
            receiver.refuse_next(1)
            body = payment_body("tx_locked", receiver.url())
            created = c.post("/api/v2/payments", json=body, headers={"X-Mock-Scenario": "retry-in-1s"})
            assert created.json()["status"] == "PENDING"

            other = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
            other.execute("BEGIN EXCLUSIVE")  # another program holds the file past the retry's due time
            held_until = time.monotonic() + 3.0
            release = threading.Timer(3.0, other.rollback)
            release.start()
            try:
                busy = c.post("/api/v2/payments", json=payment_body("tx_during_lock", receiver.url()))
                if time.monotonic() < held_until:  # answered while the lock was still held
                    assert busy.status_code == 503, busy.text
                    assert busy.headers["retry-after"] == "1"
                    assert "the store is busy" in busy.json()["detail"]
            finally:
                release.join(10)
                other.close()

            found = wait_for_delivery(c, 20.0, tx_id="tx_locked", state="acknowledged")
            assert found.status_code == 200, found.text  # the retry was not lost with its failed write
            payment = c.get("/mock/v1/payments/pay_tx_locked").json()["payment"]
            assert payment["status"] == "PAYMENT_COMPLETED"
        # the retry came due under the lock: its result could not be written, and it was tried again
        assert "store failed for evt_completed_tx_locked" in server.output()
    finally:
        server.stop()
        receiver.close()


@pytest.mark.parametrize("failure", ["locked at BEGIN", "a write fails inside the transaction"])
def test_a_result_that_could_not_be_stored_is_stored_later_and_the_objects_agree(tmp_path: Path, failure: str) -> None:
    # The live delivery, still referenced here, must not say "acknowledged" while the file says pending:
    # the retry from memory would see it and skip, and the file would keep it pending for good.
    # A lock fails the transaction at BEGIN, before anything changed; a write failing inside it (a
    # trigger on the payments table, as a disk error would) fails after _settle changed the objects.
    path = tmp_path / "revert.db"
    receiver = WebhookReceiver(SECRET)
    store = SqliteStore(path)
    now = time.time()
    payment = Payment(tx_id="tx_rv", order_id=1, user_id=1, amount=5, callback_url=receiver.url(),
                      scenario="default", created_at=now)  # fmt: skip
    delivery = Delivery(tx_id="tx_rv", event=COMPLETED_EVENT, scenario="default", callback_url=receiver.url(),
                        plan=WebhookPlan(), occurred_at=now, created_at=now)  # fmt: skip

    async def acknowledged(d: Delivery) -> None:  # as the provider does: the payment completes with its webhook
        if payment.complete(d.occurred_at):
            await store.save_payment(payment)

    async def scenario() -> None:
        await store.add_payment(payment)
        await store.add_delivery(delivery)
        dispatcher = Dispatcher(store=store, sender=Http11Sender(4), clock=SystemClock(), secret=SECRET,
                                auth_token=None, time_scale=0.001, timeout_s=2.0, max_in_flight=4,
                                on_acknowledged=acknowledged)  # fmt: skip
        await dispatcher.start()
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if failure == "locked at BEGIN":
            other.execute("BEGIN EXCLUSIVE")
        else:  # a temporary trigger lives on the store's own connection only
            store._db.execute(
                "CREATE TEMP TRIGGER fail_payment_update BEFORE UPDATE ON payments "
                "BEGIN SELECT RAISE(ABORT, 'disk'); END"
            )
        try:
            assert await dispatcher.dispatch(delivery, payment) is False  # sent, acknowledged, not storable
            assert (delivery.state, payment.status) == ("pending", "PENDING")
        finally:
            if failure == "locked at BEGIN":
                other.rollback()
            else:
                store._db.execute("DROP TRIGGER temp.fail_payment_update")
            other.close()
        deadline = time.monotonic() + 10
        while (await store.get_delivery(delivery.delivery_id)).state != "acknowledged":  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the retry from memory never stored its result"
            await asyncio.sleep(0.05)
        await dispatcher.stop()
        assert (await store.get_payment("pay_tx_rv")).status == "PAYMENT_COMPLETED"  # type: ignore[union-attr]

    try:
        asyncio.run(scenario())
        assert len(receiver.received) >= 2  # at least once: the unstored answer was asked for again
    finally:
        store.close_now()
        receiver.close()


def test_a_confirm_that_could_not_be_stored_leaves_the_payment_pending(tmp_path: Path) -> None:
    # the transaction rolls back; the live payment must not stay "completed" in memory for later reads
    store = SqliteStore(tmp_path / "confirm.db")
    receiver = WebhookReceiver(SECRET)

    def dispatcher(on_ack: Any) -> Dispatcher:
        return Dispatcher(store=store, sender=Http11Sender(4), clock=SystemClock(), secret=SECRET,
                          auth_token=None, time_scale=0.001, timeout_s=2.0, max_in_flight=4,
                          on_acknowledged=on_ack)  # fmt: skip

    async def scenario() -> None:
        provider = Provider(store=store, book=ScenarioBook(load_paths([fixtures_dir()])), clock=SystemClock(),
                            dispatcher_factory=dispatcher)  # fmt: skip
        await provider.start()
        request = payment_body("tx_cf", receiver.url())
        payment = (await provider.create(request, "manual-confirm")).payment
        store._db.execute(  # a write failing inside the confirm's transaction, as a disk error would
            "CREATE TEMP TRIGGER fail_payment_update BEFORE UPDATE ON payments BEGIN SELECT RAISE(ABORT, 'disk'); END"
        )
        with pytest.raises(sqlite3.Error):
            await provider.confirm("pay_tx_cf", None)
        assert (payment.status, payment.confirmed_at) == ("PENDING", None)
        store._db.execute("DROP TRIGGER temp.fail_payment_update")
        assert (await provider.confirm("pay_tx_cf", None)).status == "PAYMENT_COMPLETED"  # a retry works
        await provider.dispatcher.stop()

    try:
        asyncio.run(scenario())
    finally:
        store.close_now()
        receiver.close()
