"""End to end with paymock's pytest plugin: no sleeps, the control API's long-poll tells when it is over."""

from __future__ import annotations

import httpx
import pytest

from .ops_server import OpsServer


def test_payment_is_completed_and_webhook_verified(paymock, ops_server: OpsServer) -> None:
    answer = paymock.create_payment("tx_ops_1", ops_server.webhook_url, order_id=42, amount=5000)

    assert answer.json()["status"] == "PAYMENT_COMPLETED"  # the ops server acknowledged the first attempt
    assert ops_server.paid_orders == {42: 1}
    assert ops_server.log == [("evt_completed_tx_ops_1", 200)]


def test_duplicate_webhooks_pay_once(paymock, ops_server: OpsServer) -> None:
    paymock.set_scenario("webhook-duplicate")  # acknowledged attempt, then 2 copies with the same webhook-id

    paymock.create_payment("tx_ops_dup", ops_server.webhook_url, order_id=7)
    delivery = paymock.wait_for_delivery(tx_id="tx_ops_dup", state="attempted", min_attempts=3)

    assert [a["kind"] for a in delivery["attempts"]] == ["scheduled", "duplicate", "duplicate"]
    assert [a["status_code"] for a in delivery["attempts"]] == [200, 200, 200]
    assert ops_server.paid_orders == {7: 1}


def test_bad_signature_is_rejected_then_retry_accepted(paymock, ops_server: OpsServer) -> None:
    paymock.set_scenario("webhook-bad-signature")  # attempt 1 signed with a wrong key, retries valid

    answer = paymock.create_payment("tx_ops_sig", ops_server.webhook_url, order_id=8)
    assert answer.json()["status"] == "PENDING"  # the ops server refused attempt 1

    delivery = paymock.wait_for_delivery(tx_id="tx_ops_sig", state="acknowledged")
    assert [a["status_code"] for a in delivery["attempts"]] == [401, 200]
    assert [a["signature"] for a in delivery["attempts"]] == ["invalid", "valid"]
    assert ops_server.paid_orders == {8: 1}
    payments = paymock.payments().json()["payments"]
    assert payments["pay_tx_ops_sig"]["status"] == "PAYMENT_COMPLETED"


def test_tampered_body_is_rejected(paymock, ops_server: OpsServer, webhook_receiver) -> None:
    # The same check without paymock's help: a body altered after signing must not verify.
    paymock.create_payment("tx_ops_raw", webhook_receiver.url())
    hook = webhook_receiver.wait_for(1)[0]
    assert ops_server.handle("/webhooks/payment", hook.headers, hook.body) == 200
    assert ops_server.handle("/webhooks/payment", hook.headers, hook.body.replace(b"1000", b"9999")) == 401


def test_the_ops_server_passes_paymocks_audit(paymock_audit, ops_server: OpsServer) -> None:
    """Every hostile and malformed delivery refused, duplicates and unknown events acknowledged, effects read
    back from the ops server's own order API (`paymock audit` in a test)."""
    report = paymock_audit(ops_server.webhook_url, state_url=ops_server.order_url, state_field="paid_count")
    report.assert_passed(allow_warnings=False)
    assert report.check("duplicate").detail.endswith("paid_count unchanged")  # paid once, not twice


@pytest.mark.paymock(claims={"user_ids": [7]})  # this test's session claims user 7's payments
def test_checkout_through_the_ops_server_reaches_this_tests_session(paymock, ops_server: OpsServer) -> None:
    paymock.set_scenario("declined")  # in this test's session only: tests running beside it keep theirs

    # the ops server calls the provider itself and forwards nothing of ours: the claim routes its payment
    answer = httpx.post(ops_server.orders_url, json={"order_id": 9, "user_id": 7, "amount": 1000}, timeout=30)

    assert answer.json()["payment_status"] == "PAYMENT_FAILED"
    payments = paymock.payments().json()["payments"].values()
    assert [(p["user_id"], p["status"]) for p in payments] == [(7, "PAYMENT_FAILED")]
    assert ops_server.events == {9: ["payment.failed"]}
