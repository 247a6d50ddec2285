"""`paymock serve --workers 2` on a PostgreSQL store: two processes on one port are one provider.

Each request is sent while the other process is stopped (SIGSTOP), so the test knows which process
answered without anything added to the server for it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from paymock.testing.process import ServerProcess, free_port
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import SERVER_ENV, payment_body
from tests.e2e.helpers import children_of, only_one_accepting, wait_gone

pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")

STARTED = "Application startup complete."


@pytest.fixture
def two_workers(postgres_url: str) -> Iterator[tuple[ServerProcess, list[int]]]:
    server = ServerProcess({**SERVER_ENV, "PAYMOCK_STORE": postgres_url}, args=["--workers", "2"]).wait_ready(30)
    try:
        deadline = time.monotonic() + 30
        while server.output().count(STARTED) < 2:  # both past their start-up, not only the first to answer
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        children = children_of(server.process.pid)
        assert len(children) == 2
        yield server, children
    finally:
        status = server.stop()
    assert status == 0, server.output()


def test_a_payment_created_through_one_worker_is_the_same_payment_through_the_other(
    two_workers: tuple[ServerProcess, list[int]], receiver: WebhookReceiver
) -> None:
    server, (first, second) = two_workers
    body = payment_body("tx_two_workers", receiver.url())
    with only_one_accepting(first, [first, second]):
        created = httpx.post(server.base_url + "/api/v2/payments", json=body, timeout=10)
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "PAYMENT_COMPLETED"
    with only_one_accepting(second, [first, second]):
        again = httpx.post(server.base_url + "/api/v2/payments", json=body, timeout=10)  # a duplicate create
        listed = httpx.get(server.base_url + "/api/v2/pending-payments", timeout=10).json()
        conflict = httpx.post(server.base_url + "/api/v2/payments", json={**body, "amount": body["amount"] + 1})
    assert again.status_code == 200 and again.json() == created.json()  # the stored payment, same answer
    payment_id = created.json()["payment_id"]
    assert listed["completed_count"] == 1 and payment_id in listed["payments"]
    assert conflict.status_code == 409  # the same tx_id with other fields, decided on the other process's data
    (webhook,) = receiver.wait_for(1)
    assert webhook.verified
    time.sleep(0.3)  # a second webhook would have been sent by now (time scale 0.001)
    assert len(receiver.received) == 1


def test_each_worker_leases_what_it_creates_as_a_process_of_its_own(
    two_workers: tuple[ServerProcess, list[int]], receiver: WebhookReceiver, postgres_url: str
) -> None:
    import psycopg

    server, children = two_workers
    receiver.status_for_path["/down"] = 503  # first attempts fail: each delivery stays pending, leased
    for n, worker in enumerate(children):
        with only_one_accepting(worker, children):
            body = payment_body(f"tx_lease_{n}", receiver.url("/down"))
            assert httpx.post(server.base_url + "/api/v2/payments", json=body, timeout=10).status_code == 200
    with psycopg.connect(postgres_url) as conn:
        owners = conn.execute("SELECT lease_owner FROM deliveries WHERE state = 'pending'").fetchall()
    assert len(owners) == 2 and None not in {o for (o,) in owners}
    assert len({o for (o,) in owners}) == 2  # two processes, two lease owners


def test_workers_refuse_an_unreachable_database_once_before_starting_any() -> None:
    port = free_port()  # nothing listens there
    server = ServerProcess(
        {**SERVER_ENV, "PAYMOCK_STORE": f"postgresql://paymock:pw-not-shown@127.0.0.1:{port}/paymock"},
        args=["--workers", "2"],
    )
    status = server.process.wait(60)
    out = server.output()
    assert status == 2, out
    assert "pw-not-shown" not in out and "Traceback" not in out
    assert out.count("cannot connect to PostgreSQL") == 1
    wait_gone(children_of(server.process.pid))
