"""Reset while a create's first attempt is still sending: the old request ends cleanly and leaves the next
payment of its tx_id alone."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from paymock.testing.receiver import WebhookReceiver
from tests.conftest import wait_for_delivery
from tests.e2e.helpers import create, create_ok, status_of


def _held_receiver(receiver: WebhookReceiver) -> tuple[threading.Event, threading.Event]:
    """The receiver holds every webhook to /held until released; `arrived` is set by the first."""
    arrived, release = threading.Event(), threading.Event()

    def respond(hook: Any) -> int:
        if hook.path == "/held":
            arrived.set()
            release.wait(10)  # bounded: a hang ends as an answer anyway
        return 200

    receiver.respond = respond
    return arrived, release


def _in_thread(call: Any) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def test_a_first_attempt_outliving_a_reset_leaves_the_next_payment_of_its_tx_id_alone(live, live_server, receiver):
    arrived, release = _held_receiver(receiver)
    with httpx.Client(base_url=live_server.base_url, timeout=30) as other:
        thread, old = _in_thread(lambda: create(other, "tx_reset", receiver.url("/held")))
        try:
            assert arrived.wait(10), "the first attempt never reached the receiver"
            assert live.post("/mock/v1/reset").status_code == 200
            # the next test reuses the tx_id; its payment waits for a confirm
            new = create_ok(live, "tx_reset", receiver.url("/new"), scenario="manual-confirm")
            assert new["status"] == "PENDING"
        finally:
            release.set()
            thread.join(15)
    assert old and old[0].status_code == 200, old  # the old request ends cleanly
    # the old attempt's 200 was for the wiped payment: the new one is still waiting for its confirm
    assert status_of(live, "pay_tx_reset") == "PENDING"
    assert live.get("/mock/v1/deliveries", params={"tx_id": "tx_reset"}).json()["total"] == 0


def test_two_creates_of_one_tx_id_across_a_reset_both_answer(live, live_server, receiver):
    # the second create owned the in-flight entry the first one deleted on its way out: a 500 (KeyError)
    arrived, release = _held_receiver(receiver)
    with (
        httpx.Client(base_url=live_server.base_url, timeout=30) as a,
        httpx.Client(base_url=live_server.base_url, timeout=30) as b,
    ):
        first, first_answer = _in_thread(lambda: create(a, "tx_twice_reset", receiver.url("/held")))
        try:
            assert arrived.wait(10)
            assert live.post("/mock/v1/reset").status_code == 200
            second, second_answer = _in_thread(lambda: create(b, "tx_twice_reset", receiver.url("/held")))
            deadline = time.monotonic() + 10  # until the second create has stored its delivery and is sending
            while not live.get("/mock/v1/deliveries", params={"tx_id": "tx_twice_reset"}).json()["total"]:
                assert time.monotonic() < deadline, "the second create never stored its delivery"
                time.sleep(0.05)
        finally:
            release.set()
            first.join(15)
            second.join(15)
    assert [r.status_code for r in first_answer + second_answer] == [200, 200], first_answer + second_answer
    found = wait_for_delivery(live, 5.0, tx_id="tx_twice_reset", state="acknowledged")
    assert found.status_code == 200, found.text
    assert status_of(live, "pay_tx_twice_reset") == "PAYMENT_COMPLETED"
