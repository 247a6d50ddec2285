"""The retry engine end to end: the scaled schedule, 410, Retry-After, giving up, redelivery and the
attempt log, against a receiver that refuses on purpose."""

from __future__ import annotations

from paymock.testing.process import free_port
from tests.e2e.helpers import (
    EARLY_SLACK_S,
    assert_log_matches,
    create_ok,
    delivery,
    now,
    payment_detail,
    put_scenario,
    scaled,
    status_of,
    wait_delivery,
)


def test_refused_webhook_is_retried_on_the_scaled_schedule_and_the_ack_completes_the_payment(live, receiver):
    receiver.refuse_next(2, 503)
    start = now()
    answer = create_ok(live, "tx_retry", receiver.url())
    assert answer["status"] == "PENDING"  # the inline first attempt was refused

    d = wait_delivery(live, tx_id="tx_retry", state="acknowledged")
    hooks = receiver.wait_for(3)
    assert len(hooks) == 3
    assert [h.answered for h in hooks] == [503, 503, 200]
    # default schedule: attempt 2 after 5 s, attempt 3 after 5 min (0.005 s and 0.3 s scaled)
    assert hooks[1].received_at - hooks[0].received_at >= scaled(5_000) - EARLY_SLACK_S
    assert hooks[2].received_at - hooks[1].received_at >= scaled(300_000) - EARLY_SLACK_S
    assert hooks[2].received_at - start < 10
    assert {h.webhook_id for h in hooks} == {"evt_completed_tx_retry"}
    assert len({h.body for h in hooks}) == 1
    assert all(h.verified for h in hooks)
    assert [a["status_code"] for a in d["attempts"]] == [503, 503, 200]
    assert [a["number"] for a in d["attempts"]] == [1, 2, 3]
    assert all(a["kind"] == "scheduled" and a["error"] is None for a in d["attempts"])
    assert_log_matches(d, hooks)
    detail = payment_detail(live, "pay_tx_retry")
    assert detail["payment"]["status"] == "PAYMENT_COMPLETED"
    assert detail["payment"]["confirmed_at"] is not None


def test_410_gone_stops_at_once(live, receiver):
    receiver.status_for_path["/gone"] = 410
    assert create_ok(live, "tx_gone", receiver.url("/gone"))["status"] == "PENDING"
    d = wait_delivery(live, tx_id="tx_gone", state="failed")
    assert d["attempt_count"] == 1
    assert d["last_status_code"] == 410
    assert "410" in d["last_error"]
    assert d["next_attempt_at"] is None
    assert len(receiver.received) == 1
    assert status_of(live, "pay_tx_gone") == "PENDING"
    assert live.get("/mock/v1/health").json()["deliveries_pending"] == 0


def test_retry_after_is_honoured_and_scaled(live, receiver):
    # Retry-After: 200 s beats the schedule's 5 s: the next attempt comes 0.2 s (scaled) later
    receiver.refuse_next(1, 503, {"Retry-After": "200"})
    create_ok(live, "tx_retry_after", receiver.url())
    first, second = receiver.wait_for(2)
    gap = second.received_at - first.received_at
    assert gap >= scaled(200_000) - EARLY_SLACK_S, gap
    assert gap < scaled(300_000) + 2, gap  # not the schedule's following step either
    d = wait_delivery(live, tx_id="tx_retry_after", state="acknowledged")
    assert [a["status_code"] for a in d["attempts"]] == [503, 200]
    assert status_of(live, "pay_tx_retry_after") == "PAYMENT_COMPLETED"


def test_short_retry_after_does_not_shorten_the_schedule(live, receiver):
    # Retry-After shorter than the schedule's delay: the schedule wins (5 min -> 0.3 s scaled)
    receiver.refuse_next(2, 429, {"Retry-After": "1"})
    create_ok(live, "tx_ra_short", receiver.url())
    hooks = receiver.wait_for(3)
    assert hooks[2].received_at - hooks[1].received_at >= scaled(300_000) - EARLY_SLACK_S
    wait_delivery(live, tx_id="tx_ra_short", state="acknowledged")


def test_exhausted_schedule_fails_the_delivery_then_redeliver_completes_the_payment(live, receiver):
    receiver.status_for_path["/down"] = 500
    answer = create_ok(live, "tx_exhaust", receiver.url("/down"), scenario="webhook-short-retries")
    assert answer["status"] == "PENDING"
    d = wait_delivery(live, tx_id="tx_exhaust", state="failed")
    hooks = receiver.wait_for(3)
    assert len(hooks) == 3  # schedule [1000, 2000] -> 3 attempts, then give up
    assert [a["status_code"] for a in d["attempts"]] == [500, 500, 500]
    assert "exhausted" in d["last_error"]
    assert d["next_attempt_at"] is None
    assert_log_matches(d, hooks)

    failed = live.get("/mock/v1/deliveries", params={"state": "failed"}).json()
    assert failed["total"] == 1
    assert failed["deliveries"][0]["delivery_id"] == "evt_completed_tx_exhaust"
    assert failed["deliveries"][0]["scenario"] == "webhook-short-retries"
    assert status_of(live, "pay_tx_exhaust") == "PENDING"

    del receiver.status_for_path["/down"]
    r = live.post("/mock/v1/deliveries/evt_completed_tx_exhaust/redeliver")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["state"] == "acknowledged"
    assert d["attempts"][-1]["kind"] == "manual"
    assert d["attempts"][-1]["status_code"] == 200
    hooks = receiver.wait_for(4)
    assert hooks[3].verified and hooks[3].webhook_id == "evt_completed_tx_exhaust"
    assert_log_matches(d, hooks)
    assert status_of(live, "pay_tx_exhaust") == "PAYMENT_COMPLETED"
    assert live.get("/mock/v1/deliveries", params={"state": "failed"}).json()["total"] == 0


def test_network_errors_are_logged_and_retried(live):
    # nobody listens on this port: every attempt is a connection error, recorded as such
    url = f"http://127.0.0.1:{free_port()}/nobody"
    put_scenario(live, "two-tries", webhook={"retry_schedule_ms": [1000]})
    assert create_ok(live, "tx_noconn", url, scenario="two-tries")["status"] == "PENDING"
    d = wait_delivery(live, tx_id="tx_noconn", state="failed")
    assert d["attempt_count"] == 2
    for a in d["attempts"]:
        assert a["status_code"] is None
        assert a["error"]
        assert a["simulated"] is False
        assert a["request_body"]  # it was really tried, so the request is in the log


def test_redeliver_an_acknowledged_delivery_sends_it_again(live, receiver):
    create_ok(live, "tx_resend", receiver.url())
    r = live.post("/mock/v1/deliveries/evt_completed_tx_resend/redeliver")
    assert r.status_code == 200
    hooks = receiver.wait_for(2)
    assert hooks[0].body == hooks[1].body and hooks[1].verified
    d = delivery(live, "evt_completed_tx_resend")
    assert [a["kind"] for a in d["attempts"]] == ["scheduled", "manual"]
    assert d["state"] == "acknowledged"
    assert live.post("/mock/v1/deliveries/evt_completed_nope/redeliver").status_code == 404


def test_acknowledged_retry_of_payment_failed_leaves_the_payment_failed(live, receiver):
    receiver.refuse_next(1, 500)
    assert create_ok(live, "tx_fail_retry", receiver.url(), amount=4002)["status"] == "PAYMENT_FAILED"
    d = wait_delivery(live, tx_id="tx_fail_retry", state="acknowledged")
    assert [a["status_code"] for a in d["attempts"]] == [500, 200]
    assert all(h.event == "payment.failed" for h in receiver.wait_for(2))
    assert status_of(live, "pay_tx_fail_retry") == "PAYMENT_FAILED"


def test_confirmed_at_of_a_payment_completed_by_a_retry_matches_the_webhook(live, receiver):
    # The webhook told the receiver when the payment completed; the listing must not say otherwise.
    receiver.refuse_next(2, 503)
    create_ok(live, "tx_when", receiver.url())
    wait_delivery(live, tx_id="tx_when", state="acknowledged")
    hooks = receiver.wait_for(3)
    sent = {h.json()["confirmed_at"] for h in hooks}
    assert len(sent) == 1
    assert payment_detail(live, "pay_tx_when")["payment"]["confirmed_at"] == sent.pop()
