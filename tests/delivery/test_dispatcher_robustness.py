"""A webhook client that raises instead of answering a SendResult must not wedge a delivery.

The dispatcher runs in the real in-process app; the sender is injected through `create_app(sender=...)`
and is deliberately broken (it raises), then delivers to a real loopback receiver with the built-in
http11 sender. Without the guard the inline first attempt raised out of the request and the delivery
stayed pending with no attempt recorded, never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from paymock.app import create_app
from paymock.delivery.http11 import Http11Sender
from paymock.delivery.senders import SendResult
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import payment_body, settings, wait_for_delivery

BUG = "sender bug on purpose"


class RaisesThenDelivers:
    """Raises RuntimeError on its first `failures` calls, then sends for real (http11, loopback)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self._inner: Http11Sender | None = None  # made on first use, in the app's event loop

    async def send(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> SendResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"{BUG} (call {self.calls})")
        if self._inner is None:
            self._inner = Http11Sender(4)
        return await self._inner.send(url, body, headers, timeout_s)

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


@pytest.fixture
def app_with() -> Iterator[Any]:
    """Start the in-process app (lifespan run: the dispatcher starts) with a given sender."""
    with contextlib.ExitStack() as stack:
        yield lambda sender: stack.enter_context(create_app(settings(), sender=sender).test_client())


def test_a_raising_sender_is_recorded_retried_and_then_acknowledged(app_with: Any, receiver: WebhookReceiver) -> None:
    sender = RaisesThenDelivers(failures=1)
    client = app_with(sender)
    created = client.post("/api/v2/payments", json=payment_body("tx_raise", receiver.url("/hook")))
    assert created.status_code == 200, created.text  # the sender's bug is not the API caller's error
    assert created.json()["status"] == "PENDING"  # the inline first attempt did not deliver

    waited = wait_for_delivery(client, tx_id="tx_raise", state="acknowledged")
    assert waited.status_code == 200, waited.text
    first, second = waited.json()["attempts"]
    assert first["status_code"] is None and not first["simulated"]
    assert "RuntimeError" in first["error"] and BUG in first["error"]
    assert second["status_code"] == 200 and second["error"] is None
    assert [a["kind"] for a in (first, second)] == ["scheduled", "scheduled"]

    (hook,) = receiver.wait_for(1)  # only the second call reached the network
    assert hook.verified and hook.webhook_id == "evt_completed_tx_raise"
    assert sender.calls == 2
    assert client.get("/mock/v1/payments/pay_tx_raise").json()["payment"]["status"] == "PAYMENT_COMPLETED"
    assert client.get("/mock/v1/health").json()["deliveries_pending"] == 0


def test_a_sender_that_always_raises_ends_failed_with_every_attempt_recorded(
    app_with: Any, receiver: WebhookReceiver
) -> None:
    sender = RaisesThenDelivers(failures=1_000)
    client = app_with(sender)
    created = client.post(
        "/api/v2/payments",
        json=payment_body("tx_always", receiver.url("/hook")),
        headers={"X-Mock-Scenario": "webhook-short-retries"},  # 3 attempts, then give up
    )
    assert created.status_code == 200, created.text
    waited = wait_for_delivery(client, tx_id="tx_always", state="failed")
    assert waited.status_code == 200, waited.text
    attempts = waited.json()["attempts"]
    assert len(attempts) == 3 == sender.calls  # never stuck pending: each call is one recorded attempt
    assert all(a["status_code"] is None and BUG in a["error"] for a in attempts)
    assert receiver.received == []
    assert client.get("/mock/v1/health").json()["deliveries_pending"] == 0


@pytest.mark.parametrize("url", ["http://a..b/x", "http://" + "a" * 64 + ".example/x"])
def test_http11_sender_answers_an_unencodable_host_with_an_error_result(url: str) -> None:
    # the resolver raises UnicodeError (a ValueError) for an empty or over-long label: a result, not a raise
    async def scenario() -> SendResult:
        sender = Http11Sender(4)
        try:
            return await sender.send(url, b"{}", {"Content-Type": "application/json"}, 5.0)
        finally:
            await sender.close()

    result = asyncio.run(asyncio.wait_for(scenario(), 15))
    assert result.status is None
    assert result.error is not None and "cannot connect" in result.error, result.error
