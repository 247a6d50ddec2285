"""Concurrency correctness on a real server process, for both stores: one payment per tx_id, no
double completion, every attempt recorded exactly once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from paymock.testing.process import ServerProcess
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import SERVER_ENV, payment_body, wait_for_delivery


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    store = "memory" if request.param == "memory" else f"sqlite:{tmp_path_factory.mktemp('db') / 'p.db'}"
    process = ServerProcess({**SERVER_ENV, "PAYMOCK_STORE": store, "PAYMOCK_ACCESS_LOG": "false"}).wait_ready()
    yield process
    process.stop()


@pytest.fixture
def base_url(server: ServerProcess) -> str:
    assert httpx.post(server.base_url + "/mock/v1/reset").status_code == 200
    return server.base_url


async def _together(count: int, call: Any) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=count)) as client:
        return await asyncio.gather(*(call(client) for _ in range(count)))


def _delivery(base_url: str, delivery_id: str) -> dict[str, Any]:
    r = httpx.get(f"{base_url}/mock/v1/deliveries/{delivery_id}")
    assert r.status_code == 200, r.text
    return r.json()


def _assert_attempts_once(delivery: dict[str, Any], requests_seen: int) -> None:
    numbers = [a["number"] for a in delivery["attempts"]]
    assert numbers == list(range(1, len(numbers) + 1))  # each attempt recorded once, in order
    assert len(numbers) == delivery["attempt_count"] == requests_seen


def test_fifty_concurrent_creates_of_one_tx_id(base_url: str, receiver: WebhookReceiver) -> None:
    body = payment_body("same_tx", receiver.url())
    answers = asyncio.run(_together(50, lambda c: c.post(base_url + "/api/v2/payments", json=body)))
    assert {r.status_code for r in answers} == {200}
    assert {(r.json()["payment_id"], r.json()["status"]) for r in answers} == {("pay_same_tx", "PAYMENT_COMPLETED")}
    listing = httpx.get(base_url + "/api/v2/pending-payments").json()
    assert listing["total"] == 1 and list(listing["payments"]) == ["pay_same_tx"]
    # each create answers after its inline first attempt (the receiver records a webhook before answering
    # it): with every answer in and the delivery acknowledged, no webhook for this payment is still to come
    with httpx.Client(base_url=base_url) as http:
        found = wait_for_delivery(http, 5.0, tx_id="same_tx", state="acknowledged")
    assert found.status_code == 200, found.text
    assert len(receiver.received) == 1
    deliveries = httpx.get(base_url + "/mock/v1/deliveries", params={"tx_id": "same_tx"}).json()
    assert deliveries["total"] == 1
    _assert_attempts_once(_delivery(base_url, "evt_completed_same_tx"), 1)


def test_concurrent_confirms_complete_once(base_url: str, receiver: WebhookReceiver) -> None:
    created = httpx.post(base_url + "/api/v2/payments", json=payment_body("manual_cc", receiver.url()))
    assert created.json()["status"] == "PENDING"
    answers = asyncio.run(
        _together(20, lambda c: c.post(base_url + "/api/v2/confirm-payment", json={"payment_id": "pay_manual_cc"}))
    )
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["confirmed_at"] for r in answers}) == 1  # completed once: one confirmation time
    payment = httpx.get(base_url + "/mock/v1/payments/pay_manual_cc").json()
    assert payment["payment"]["status"] == "PAYMENT_COMPLETED"
    assert len(payment["deliveries"]) == 1  # one event, however many confirms
    delivery = _delivery(base_url, "evt_completed_manual_cc")
    assert delivery["state"] == "acknowledged"
    _assert_attempts_once(delivery, len(receiver.received))
    listing = httpx.get(base_url + "/api/v2/pending-payments").json()
    assert (listing["completed_count"], listing["pending_count"], listing["total"]) == (1, 0, 1)


def test_redeliver_while_a_retry_is_running(base_url: str, receiver: WebhookReceiver) -> None:
    # first attempt refused; the scheduled retry is held inside the receiver while we redeliver
    receiver.refuse_next(1)
    in_flight, release = threading.Event(), threading.Event()

    def hold_the_retry(_hook: Any) -> int:
        if not in_flight.is_set():  # the scheduled retry: the redeliveries start only once it is here
            in_flight.set()
            release.wait(10)  # bounded: a hang ends as an answer anyway
        return 200

    receiver.respond = hold_the_retry
    created = httpx.post(base_url + "/api/v2/payments", json=payment_body("rr_tx", receiver.url()))
    assert created.json()["status"] == "PENDING"
    # the retry is now in flight: held in the receiver, not yet answered (nor recorded)
    assert in_flight.wait(10), "the scheduled retry never reached the receiver"
    try:
        answers = asyncio.run(
            _together(5, lambda c: c.post(base_url + "/mock/v1/deliveries/evt_completed_rr_tx/redeliver"))
        )
    finally:
        release.set()
    assert {r.status_code for r in answers} == {200}
    # every redelivery is recorded (each answered after its attempt); the held retry ends the count
    manual = [a["kind"] for a in _delivery(base_url, "evt_completed_rr_tx")["attempts"]].count("manual")
    with httpx.Client(base_url=base_url) as http:
        found = wait_for_delivery(
            http, tx_id="rr_tx", event="payment.completed", state="attempted", min_attempts=manual + 2
        )
    assert found.status_code == 200, found.text
    delivery = _delivery(base_url, "evt_completed_rr_tx")
    assert delivery["state"] == "acknowledged"
    _assert_attempts_once(delivery, len(receiver.received))
    kinds = [a["kind"] for a in delivery["attempts"]]
    assert kinds.count("scheduled") == 2 and kinds.count("manual") >= 1
    payment = httpx.get(base_url + "/mock/v1/payments/pay_rr_tx").json()["payment"]
    assert payment["status"] == "PAYMENT_COMPLETED"
    listing = httpx.get(base_url + "/api/v2/pending-payments").json()
    assert (listing["completed_count"], listing["total"]) == (1, 1)
