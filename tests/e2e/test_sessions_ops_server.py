"""Issue 16, proof through an ops server: one shared `paymock serve`, one shared ops server (the example's,
which takes orders and calls the provider itself, forwarding nothing of ours), and two concurrent "tests"
(threads). Each claims its own user_id in its own session and sets the opposite active scenario; each sees
only its own outcomes, payments and webhooks, and the global state sees none of it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from examples.ops_server.ops_server import OpsServer
from paymock.testing.client import PaymockClient
from paymock.testing.process import ServerProcess
from tests.conftest import SECRET, SERVER_ENV

ORDERS = 6  # per test, interleaved with the other test's
TESTS = {  # name -> (claimed user_id, active scenario in its session, status its payments get, event sent)
    "checkout-ok": (101, "default", "PAYMENT_COMPLETED", "payment.completed"),
    "checkout-declined": (202, "declined", "PAYMENT_FAILED", "payment.failed"),
}


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[ServerProcess, OpsServer]]:
    server = ServerProcess(SERVER_ENV).wait_ready(timeout=60)
    ops = OpsServer(SECRET, provider_url=server.base_url)
    try:
        yield server, ops
    finally:
        ops.close()
        server.stop()


def one_test(base_url: str, ops: OpsServer, name: str, start: threading.Barrier, seen: dict[str, Any]) -> None:
    """What a test does: its session claims its user, sets its scenario, orders through the ops server."""
    user_id, scenario, _, _ = TESTS[name]
    first_order = 1000 if user_id == 101 else 2000
    with PaymockClient(base_url) as control:
        session = control.create_session(label=name, claims={"user_ids": [user_id]})
        with control.in_session(session["session_id"]) as mine, httpx.Client(timeout=30) as shop:
            mine.set_scenario(scenario)
            start.wait(timeout=30)  # both scenarios are set before either test orders: opposite, at once
            answers = []
            for n in range(ORDERS):
                order = {"order_id": first_order + n, "user_id": user_id, "amount": 1000}
                answers.append(shop.post(ops.orders_url, json=order))
            seen[name] = {
                "answers": [(a.status_code, a.json()) for a in answers],
                "active": mine.active_scenario(),
                "payments": mine.payments().json()["payments"],
                "deliveries": mine.deliveries(),
                "session": mine.get_session(session["session_id"]),
            }
        seen[name]["ended"] = control.end_session(session["session_id"])


def test_two_tests_share_an_ops_server_and_each_sees_only_its_own(shared: tuple[ServerProcess, OpsServer]) -> None:
    server, ops = shared
    start = threading.Barrier(len(TESTS))
    seen: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            one_test(server.base_url, ops, name, start, seen)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=run, args=(name,)) for name in TESTS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    for name, (user_id, scenario, status, event) in TESTS.items():
        mine = seen[name]
        assert mine["active"] == scenario  # the other test's opposite scenario never leaked in
        assert [code for code, _ in mine["answers"]] == [200] * ORDERS
        assert {answer["payment_status"] for _, answer in mine["answers"]} == {status}
        payments = mine["payments"].values()
        assert len(payments) == ORDERS  # all of its own, none of the other test's
        assert {(p["user_id"], p["status"], p["scenario"]) for p in payments} == {(user_id, status, scenario)}
        deliveries = mine["deliveries"]
        assert len(deliveries) == ORDERS and {d["event"] for d in deliveries} == {event}
        assert {d["state"] for d in deliveries} == {"acknowledged"}  # the ops server took each webhook
        assert mine["session"]["payments"] == ORDERS
        assert mine["ended"]["payments_removed"] == ORDERS
        orders = [answer["order_id"] for _, answer in mine["answers"]]
        # the ops server got exactly the webhook its scenario sends, once, for each of this test's orders
        assert [ops.events[o] for o in orders] == [[event]] * ORDERS

    assert sorted(ops.paid_orders) == [1000 + n for n in range(ORDERS)]  # only the completed test's orders paid
    with PaymockClient(server.base_url) as global_view:
        assert global_view.payments().json()["payments"] == {}  # claimed traffic never reached the global state
        assert global_view.active_scenario() == "default"
        assert global_view.list_sessions()["total"] == 0
