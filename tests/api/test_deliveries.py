"""Control API, deliveries tag: log, detail with attempts, redeliver, wait, payment detail."""

from __future__ import annotations

import json

from tests.conftest import SECRET, in_process, payment_body, wait_for_delivery


def test_delivery_detail_shows_exactly_what_was_sent(client, receiver):
    client.post("/api/v2/payments", json=payment_body("tx_d", receiver.url("/d")))
    (hook,) = receiver.wait_for(1)
    detail = client.get("/mock/v1/deliveries/evt_completed_tx_d").json()
    assert detail["state"] == "acknowledged" and detail["faults"] == []
    (attempt,) = detail["attempts"]
    assert attempt["status_code"] == 200 and attempt["kind"] == "scheduled" and not attempt["simulated"]
    assert attempt["request_body"].encode() == hook.body
    sent = {k.lower(): v for k, v in attempt["request_headers"].items()}
    for name in ("x-payment-signature", "webhook-id", "webhook-timestamp", "webhook-signature", "x-payment-event"):
        assert sent[name] == hook.headers[name]


def test_filters_and_payment_detail(client, receiver):
    receiver.status_for_path["/down"] = 500
    client.post("/api/v2/payments", json=payment_body("ok_1", receiver.url("/up")))
    client.post(
        "/api/v2/payments",
        json=payment_body("bad_1", receiver.url("/down")),
        headers={"X-Mock-Scenario": "webhook-short-retries"},
    )
    client.get("/mock/v1/wait-for-delivery", params={"tx_id": "bad_1", "state": "failed"})
    failed = client.get("/mock/v1/deliveries", params={"state": "failed"}).json()
    assert [d["tx_id"] for d in failed["deliveries"]] == ["bad_1"]
    assert failed["deliveries"][0]["scenario"] == "webhook-short-retries"
    assert (
        "retry schedule exhausted" in failed["deliveries"][0]["last_error"]
        or failed["deliveries"][0]["last_status_code"] == 500
    )
    detail = client.get("/mock/v1/payments/pay_bad_1").json()
    assert detail["payment"]["scenario"] == "webhook-short-retries"
    assert len(detail["deliveries"][0]["attempts"]) == 3
    # filters combine: two payments' ids match nothing (a schema-valid query is answered, not refused)
    both = client.get("/mock/v1/deliveries", params={"payment_id": "pay_ok_1", "tx_id": "bad_1"})
    assert both.status_code == 200 and both.json() == {"total": 0, "next_offset": None, "deliveries": []}
    same = client.get("/mock/v1/deliveries", params={"payment_id": "pay_bad_1", "tx_id": "bad_1"}).json()
    assert [d["tx_id"] for d in same["deliveries"]] == ["bad_1"]


def test_redeliver_a_failed_delivery_completes_the_payment(client, receiver):
    receiver.status_for_path["/x"] = 500
    client.post(
        "/api/v2/payments",
        json=payment_body("tx_x", receiver.url("/x")),
        headers={"X-Mock-Scenario": "webhook-short-retries"},
    )
    waited = client.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_x", "state": "failed"})
    assert waited.status_code == 200
    receiver.status_for_path.clear()
    again = client.post("/mock/v1/deliveries/evt_completed_tx_x/redeliver").json()
    assert again["state"] == "acknowledged"
    assert again["attempts"][-1]["kind"] == "manual"
    assert client.get("/api/v2/pending-payments").json()["payments"]["pay_tx_x"]["status"] == "PAYMENT_COMPLETED"


def test_wait_ends_with_404_when_no_delivery_came(client):
    r = client.get("/mock/v1/wait-for-delivery", params={"tx_id": "never", "timeout_ms": 50})
    assert r.status_code == 404
    assert r.json()["detail"] == "not settled within 50 ms: payment 'pay_never' has no delivery yet"
    r = client.get("/mock/v1/wait-for-delivery", params={"tx_id": "never", "event": "payment.failed", "timeout_ms": 0})
    assert "has no delivery of payment.failed yet" in r.json()["detail"]


def test_wait_ends_with_409_naming_the_state_it_is_in(client):
    """A delivery not sent yet when the time is up: 409, with where it stands."""
    late = {"description": "held a day", "webhook": {"delay_ms": 86_400_000}}
    assert client.put("/mock/v1/scenarios/qa-held", json=late).status_code == 201
    body = payment_body("tx_slow", "http://127.0.0.1:9/never-reached")
    assert client.post("/api/v2/payments", json=body, headers={"X-Mock-Scenario": "qa-held"}).status_code == 200
    r = client.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_slow", "state": "acknowledged", "timeout_ms": 0})
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["state"] == "pending"
    assert (
        problem["detail"]
        == "not acknowledged within 0 ms: delivery 'evt_completed_tx_slow' is in state pending after 0 attempt(s)"
    )


def test_unknown_delivery_and_payment_are_404(client):
    assert client.get("/mock/v1/deliveries/evt_completed_nope").status_code == 404
    assert client.post("/mock/v1/deliveries/evt_completed_nope/redeliver").status_code == 404
    assert client.get("/mock/v1/payments/pay_nope").status_code == 404


def test_webhook_body_sent_is_signed_with_the_configured_secret(receiver):
    with in_process(webhook_secret="another-secret") as client:
        client.post("/api/v2/payments", json=payment_body("tx_s", receiver.url()))
        (hook,) = receiver.wait_for(1)
        assert not hook.seed_signature_ok  # the receiver verifies with SECRET, not another-secret
        assert json.loads(hook.body)["tx_id"] == "tx_s"
    assert SECRET != "another-secret"


def test_waiting_for_a_state_a_settled_delivery_cannot_reach_is_a_409_at_once(client, receiver):
    """A dropped or failed delivery stays so unless it is sent again: the wait answers now, naming the final
    state, instead of when timeout_ms is up (whose 409 would say where it stands, not that it is final)."""
    client.post(
        "/api/v2/payments", json=payment_body("tx_dr", receiver.url("/d")), headers={"X-Mock-Scenario": "webhook-drop"}
    )
    waited = client.get(
        "/mock/v1/wait-for-delivery", params={"tx_id": "tx_dr", "state": "acknowledged", "timeout_ms": 2000}
    )
    assert waited.status_code == 409, waited.text
    assert waited.headers["content-type"] == "application/problem+json"
    problem = waited.json()
    assert problem["state"] == "dropped"
    assert "'evt_completed_tx_dr' is dropped" in problem["detail"] and "a final state" in problem["detail"]
    # one that settles while the wait runs: pending (retrying) when asked, failed a few ms later
    receiver.status_for_path["/f"] = 500
    client.post(
        "/api/v2/payments",
        json=payment_body("tx_fl", receiver.url("/f")),
        headers={"X-Mock-Scenario": "webhook-short-retries"},
    )
    waited = wait_for_delivery(client, 30.0, tx_id="tx_fl", state="acknowledged")
    assert (waited.status_code, waited.json()["state"]) == (409, "failed"), waited.text
    assert "a final state" in waited.json()["detail"]
    # the state it is in, and `settled`, still answer 200
    for state in ("failed", "settled"):
        assert client.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_fl", "state": state}).status_code == 200
