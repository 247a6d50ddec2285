"""Payment outcomes end to end: complete (the seed), fail, pending until confirmed, delayed completion,
and the Authorization header, against a real `paymock serve` process and a real loopback receiver."""

from __future__ import annotations

import json
import time
from datetime import datetime

import httpx
import pytest

from paymock.testing.receiver import WebhookReceiver
from tests.conftest import SECRET
from tests.e2e.helpers import (
    AUTH_TOKEN,
    EARLY_SLACK_S,
    assert_log_matches,
    confirm,
    create,
    create_ok,
    delivery,
    listing,
    now,
    payment_detail,
    put_scenario,
    scaled,
    seed_ok,
    standard_error,
    status_of,
    verify_webhook_signature,
    wait_delivery,
)


def test_default_completes_and_delivers_a_webhook_both_verifiers_accept(live, receiver):
    answer = create_ok(live, "tx_1001", receiver.url("/hook/tx_1001"))
    assert answer == {"ok": True, "tx_id": "tx_1001", "status": "PAYMENT_COMPLETED", "payment_id": "pay_tx_1001"}

    [hook] = receiver.wait_for(1)  # first attempt is inline: already there
    assert hook.path == "/hook/tx_1001"
    # the seed's own snippet, verbatim
    assert verify_webhook_signature(hook.body, hook.headers["x-payment-signature"], SECRET)
    assert not verify_webhook_signature(hook.body, hook.headers["x-payment-signature"], SECRET + "x")
    # the standardwebhooks package's verifier with the whsec_ form of the same secret
    assert standard_error(hook) is None
    assert hook.verified  # and the receiver's own checks agree
    assert hook.headers["content-type"] == "application/json"
    assert hook.headers["x-payment-event"] == "payment.completed"
    assert hook.headers["webhook-id"] == "evt_completed_tx_1001"
    assert "authorization" not in hook.headers  # no SERVICE_AUTH_TOKEN on this server

    body = json.loads(hook.body)
    assert body["event"] == "payment.completed"
    assert body["payment_id"] == "pay_tx_1001"
    assert body["tx_id"] == "tx_1001"
    assert (body["order_id"], body["user_id"], body["amount"]) == (123, 1, 1000)
    assert body["status"] == "PAYMENT_COMPLETED"
    assert body["confirmed_at"] is not None
    assert body.get("failure_reason") is None

    d = delivery(live, "evt_completed_tx_1001")
    assert d["state"] == "acknowledged"
    assert d["scenario"] == "default"
    assert d["faults"] == []
    assert [a["kind"] for a in d["attempts"]] == ["scheduled"]
    assert d["attempts"][0]["status_code"] == 200
    assert_log_matches(d, [hook])

    page = listing(live)
    assert page["completed_count"] == 1 and page["pending_count"] == 0
    assert page["payments"]["pay_tx_1001"]["status"] == "PAYMENT_COMPLETED"


def test_repeating_a_tx_id_sends_nothing_new(live, receiver):
    url = receiver.url()
    first = create_ok(live, "tx_again", url)
    again = create_ok(live, "tx_again", url)
    assert again == first
    # first attempts are inline, so a second webhook would already be here
    assert len(receiver.received) == 1
    assert delivery(live, "evt_completed_tx_again")["attempt_count"] == 1
    conflict = create(live, "tx_again", url, amount=2000)
    assert conflict.status_code == 409
    assert conflict.headers["content-type"].startswith("application/problem+json")
    assert "amount" in conflict.json()["detail"]


@pytest.mark.parametrize(
    ("amount", "scenario", "reason"),
    [(4002, "declined", "CARD_DECLINED"), (9995, "insufficient-funds", "INSUFFICIENT_FUNDS")],
)
def test_fail_outcome_answers_payment_failed_and_sends_payment_failed(live, receiver, amount, scenario, reason):
    tx = f"tx_fail_{amount}"
    answer = create_ok(live, tx, receiver.url(), amount=amount)
    assert answer == {
        "ok": True,
        "tx_id": tx,
        "status": "PAYMENT_FAILED",
        "payment_id": f"pay_{tx}",
        "failure_reason": reason,
    }
    [hook] = receiver.wait_for(1)
    assert hook.verified and seed_ok(hook) and standard_error(hook) is None
    assert hook.headers["x-payment-event"] == "payment.failed"
    assert hook.webhook_id == f"evt_failed_{tx}"
    body = hook.json()
    assert body["event"] == "payment.failed"
    assert body["status"] == "PAYMENT_FAILED"
    assert body["failure_reason"] == reason
    assert body["confirmed_at"] is None

    detail = payment_detail(live, f"pay_{tx}")
    assert detail["payment"]["status"] == "PAYMENT_FAILED"
    assert detail["payment"]["failure_reason"] == reason
    assert detail["payment"]["scenario"] == scenario
    assert [d["delivery_id"] for d in detail["deliveries"]] == [f"evt_failed_{tx}"]
    assert detail["deliveries"][0]["state"] == "acknowledged"
    page = listing(live)
    assert page["failed_count"] == 1 and page["completed_count"] == 0
    # a failed payment cannot be confirmed, and stays failed
    r = confirm(live, f"pay_{tx}")
    assert r.status_code == 409, r.text
    assert status_of(live, f"pay_{tx}") == "PAYMENT_FAILED"


def test_manual_confirm_stays_pending_until_confirmed_then_delivers(live, receiver):
    answer = create_ok(live, "manual_42", receiver.url())  # tx_id prefix manual_ picks manual-confirm
    assert answer["status"] == "PENDING"
    # no delivery exists at all (the create made none; nothing is scheduled): asked now, not after a wait,
    # the 404 says where it stands
    r = live.get("/mock/v1/wait-for-delivery", params={"tx_id": "manual_42", "timeout_ms": 0})
    assert r.status_code == 404
    assert "no delivery yet" in r.json()["detail"]
    assert payment_detail(live, "pay_manual_42")["deliveries"] == []
    assert receiver.received == []
    page = listing(live)
    assert page["pending_count"] == 1
    assert page["payments"]["pay_manual_42"]["scenario"] == "manual-confirm"

    r = confirm(live, "pay_manual_42")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "PAYMENT_COMPLETED"
    assert r.json()["confirmed_at"]
    [hook] = receiver.wait_for(1)
    assert hook.verified and seed_ok(hook) and standard_error(hook) is None
    assert hook.webhook_id == "evt_completed_manual_42"
    assert hook.json()["status"] == "PAYMENT_COMPLETED"
    d = wait_delivery(live, tx_id="manual_42", state="acknowledged")
    assert d["scenario"] == "manual-confirm"
    assert status_of(live, "pay_manual_42") == "PAYMENT_COMPLETED"


def test_auto_complete_false_in_a_runtime_scenario_behaves_like_pending(live, receiver):
    put_scenario(live, "no-auto", payment={"auto_complete": False})
    assert create_ok(live, "tx_noauto", receiver.url(), scenario="no-auto")["status"] == "PENDING"
    assert receiver.received == []
    assert confirm(live, "pay_tx_noauto").status_code == 200
    receiver.wait_for(1)
    assert status_of(live, "pay_tx_noauto") == "PAYMENT_COMPLETED"


def test_slow_completion_fixture_completes_later(live, receiver):
    answer = create_ok(live, "tx_slow", receiver.url(), scenario="slow-completion")
    assert answer["status"] == "PENDING"
    d = wait_delivery(live, tx_id="tx_slow", state="acknowledged")
    [hook] = receiver.wait_for(1)
    assert hook.verified
    assert d["scenario"] == "slow-completion"
    assert status_of(live, "pay_tx_slow") == "PAYMENT_COMPLETED"


def test_delayed_completion_arrives_after_the_scaled_delay_not_before(live, receiver):
    delay_ms = 400_000  # 400 s, i.e. 0.4 s on the test server's clock
    put_scenario(live, "slow-400", payment={"outcome": "delayed", "delay_ms": delay_ms})
    start = now()
    answer = create_ok(live, "tx_slow400", receiver.url(), scenario="slow-400")
    assert answer["status"] == "PENDING"  # the API does not wait for the completion

    [hook] = receiver.wait_for(1, timeout=10)
    assert hook.received_at - start >= scaled(delay_ms) - EARLY_SLACK_S
    assert hook.received_at - start < scaled(delay_ms) + 5  # and not on some unrelated schedule
    assert hook.verified
    wait_delivery(live, tx_id="tx_slow400", state="acknowledged")
    assert status_of(live, "pay_tx_slow400") == "PAYMENT_COMPLETED"


def test_service_auth_token_guards_both_apis_and_is_sent_with_webhooks(auth_server):
    receiver = WebhookReceiver(SECRET)
    try:
        with httpx.Client(base_url=auth_server.base_url, timeout=30) as anon:
            body = {
                "version": "v2",
                "tx_id": "tx_auth",
                "order_id": 1,
                "user_id": 1,
                "amount": 1000,
                "callback_url": receiver.url(),
            }
            assert anon.post("/api/v2/payments", json=body).status_code == 401
            assert anon.get("/mock/v1/scenarios").status_code == 401
            wrong = {"Authorization": "Bearer not-the-token"}
            assert anon.post("/api/v2/payments", json=body, headers=wrong).status_code == 401
            assert receiver.received == []
        headers = {"Authorization": f"Bearer {AUTH_TOKEN}"}
        with httpx.Client(base_url=auth_server.base_url, timeout=30, headers=headers) as c:
            assert c.post("/mock/v1/reset").status_code == 200
            assert c.get("/mock/v1/health").json()["auth_required"] is True
            r = c.post("/api/v2/payments", json=body)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "PAYMENT_COMPLETED"
            [hook] = receiver.wait_for(1)
            assert hook.headers["authorization"] == f"Bearer {AUTH_TOKEN}"
            assert hook.verified and seed_ok(hook) and standard_error(hook) is None
            d = c.get("/mock/v1/deliveries/evt_completed_tx_auth").json()
            assert d["attempts"][0]["request_headers"]["Authorization"] == "Bearer ***"  # never leaked
            assert_log_matches(d, [hook])
    finally:
        receiver.close()


def test_confirm_before_a_delayed_completion_sends_now_and_cancels_the_timer(live, receiver):
    put_scenario(live, "very-slow", payment={"outcome": "delayed", "delay_ms": 30_000_000})  # 30 s scaled
    assert create_ok(live, "tx_early", receiver.url(), scenario="very-slow")["status"] == "PENDING"
    r = confirm(live, "pay_tx_early")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "PAYMENT_COMPLETED"
    [hook] = receiver.wait_for(1)
    assert hook.verified and hook.webhook_id == "evt_completed_tx_early"
    d = wait_delivery(live, tx_id="tx_early", state="acknowledged")
    assert [a["kind"] for a in d["attempts"]] == ["manual"]
    assert d["next_attempt_at"] is None
    assert live.get("/mock/v1/health").json()["deliveries_pending"] == 0


def test_confirm_of_a_completed_payment_sends_the_webhook_again(live, receiver):
    create_ok(live, "tx_twice", receiver.url())
    r = confirm(live, "pay_tx_twice")
    assert r.status_code == 200 and r.json()["status"] == "PAYMENT_COMPLETED"
    first, second = receiver.wait_for(2)
    assert first.body == second.body and second.verified
    assert [a["kind"] for a in delivery(live, "evt_completed_tx_twice")["attempts"]] == ["scheduled", "manual"]
    assert confirm(live, "pay_unknown").status_code == 404


def _utc(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_confirming_a_delayed_completion_early_completes_it_now(live, receiver):
    # slow-completion's 3 s are 3 ms on this server's clock: a run-time one waits long enough to confirm first
    put_scenario(live, "slow-long", payment={"outcome": "delayed", "delay_ms": 60_000_000})  # 60 s scaled
    assert create_ok(live, "tx_early", receiver.url(), scenario="slow-long")["status"] == "PENDING"
    r = confirm(live, "pay_tx_early")
    after = time.time()
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["status"] == "PAYMENT_COMPLETED"
    confirmed_at = _utc(answer["confirmed_at"])
    assert confirmed_at <= after + 0.001, (answer["confirmed_at"], after)  # was the scheduled time, ~60 s ahead
    d = wait_delivery(live, tx_id="tx_early", state="acknowledged", timeout_ms=10_000)
    [hook] = receiver.wait_for(1)
    assert hook.verified
    assert hook.json()["confirmed_at"] == answer["confirmed_at"]
    assert d["state"] == "acknowledged"
    assert live.get("/mock/v1/payments/pay_tx_early").json()["payment"]["confirmed_at"] == answer["confirmed_at"]
