"""Issue 16, proof through an ops server: one shared `paymock serve`, one shared ops server (the example's,
which takes orders and calls the provider itself, forwarding nothing of ours), and two concurrent "tests"
(threads). Each claims its own user_id in its own session and sets the opposite active scenario; each sees
only its own outcomes, payments and webhooks, and the global state sees none of it. Twice: the tests as
threads around an in-process ops server, then every part a process of its own (two xdist workers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  # loaded before pytester runs: see tests/sidecar/test_pytest_plugin.py
import httpx
import pytest

from examples.ops_server.ops_server import OpsServer
from paymock.testing.client import PaymockClient
from paymock.testing.process import ServerProcess, free_port
from tests.conftest import SECRET, SERVER_ENV
from tests.sidecar.helpers import wait_answering

pytest_plugins = ["pytester"]

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


# The same proof with every part a process of its own, as CI would have it: paymock serve, the ops server
# (`python -m examples.ops_server.ops_server PORT PROVIDER_URL`), and the two tests as two pytest-xdist workers
# using the plugin's `paymock` fixture with a claims marker. A file rendezvous makes them order at once.
WORKER_TESTS = '''
import json
import os
import time
from pathlib import Path

import httpx
import pytest

OPS = os.environ["OPS_URL"]
MEET = Path(os.environ["MEET_DIR"])
ORDERS = 6
CASES = {  # name -> user_id it claims, its scenario, the status and event its payments get, first order id
    "ok": (101, "default", "PAYMENT_COMPLETED", "payment.completed", 1000),
    "declined": (202, "declined", "PAYMENT_FAILED", "payment.failed", 2000),
}


def meet(name):
    """Wait (bounded) until the other test is here too: both have set their scenarios before either orders."""
    (MEET / name).write_text("here")
    deadline = time.monotonic() + 60
    while len(list(MEET.iterdir())) < len(CASES):
        assert time.monotonic() < deadline, "the other test never came"
        time.sleep(0.01)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.paymock(claims={"user_ids": [c[0]]})) for n, c in CASES.items()]
)
def test_checkout(paymock, name):
    user_id, scenario, status, event, first = CASES[name]
    paymock.set_scenario(scenario)
    meet(name)
    started = time.time()
    for n in range(ORDERS):
        order = {"order_id": first + n, "user_id": user_id, "amount": 1000}
        assert httpx.post(OPS + "/api/orders", json=order, timeout=30).json()["payment_status"] == status
    assert paymock.active_scenario() == scenario
    payments = list(paymock.payments().json()["payments"].values())
    assert len(payments) == ORDERS and {(p["user_id"], p["status"]) for p in payments} == {(user_id, status)}
    deliveries = paymock.deliveries()
    assert len(deliveries) == ORDERS and {(d["event"], d["state"]) for d in deliveries} == {(event, "acknowledged")}
    for n in range(ORDERS):
        assert httpx.get(f"{OPS}/api/orders/{first + n}", timeout=30).json()["events"] == [event]
    (MEET / f"{name}.times").write_text(json.dumps([started, time.time()]))
'''


def test_two_xdist_workers_share_an_ops_server_process(
    shared: tuple[ServerProcess, OpsServer], pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = shared
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    with (pytester.path / "ops.log").open("wb") as log:
        ops = subprocess.Popen(
            [sys.executable, "-m", "examples.ops_server.ops_server", str(port), server.base_url],
            cwd=root,
            env={**os.environ, "PAYMENT_WEBHOOK_SECRET": SECRET},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        ops_url = f"http://127.0.0.1:{port}"
        wait_answering(ops_url + "/api/orders/1", ops, "the ops server", (pytester.path / "ops.log").read_text)
        meet = pytester.mkdir("meet")
        monkeypatch.setenv("OPS_URL", ops_url)
        monkeypatch.setenv("MEET_DIR", str(meet))
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        pytester.makepyfile(test_two_workers=WORKER_TESTS)
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "-p", "paymock.testing.pytest_plugin", "-p", "xdist", "-n", "2",
            f"--paymock-url={server.base_url}", f"--paymock-secret={SECRET}",
        )  # fmt: skip
        result.assert_outcomes(passed=2)
        spans = [json.loads((meet / f"{name}.times").read_text()) for name in ("ok", "declined")]
        assert max(start for start, _ in spans) < min(end for _, end in spans)  # they did order at the same time
        paid = [httpx.get(f"{ops_url}/api/orders/{o}", timeout=30).json()["paid_count"] for o in (1000, 2000)]
        assert paid == [1, 0]  # the completed test's order paid once, the declined one's never
    finally:
        ops.terminate()
        ops.wait(30)
    with PaymockClient(server.base_url) as global_view:
        assert global_view.payments().json()["payments"] == {}
        assert global_view.list_sessions()["total"] == 0
