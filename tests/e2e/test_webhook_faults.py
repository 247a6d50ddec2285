"""Webhook faults end to end: drop, network failures then delivery, delay, duplicates, reorder, bad /
missing / stale signatures and malformed bodies, each checked at a real loopback receiver."""

from __future__ import annotations

import json

import pytest

from paymock.testing.receiver import WebhookReceiver
from tests.e2e.helpers import (
    EARLY_SLACK_S,
    assert_log_matches,
    create_ok,
    delivery,
    listing,
    now,
    put_scenario,
    real_attempts,
    scaled,
    seed_ok,
    standard_error,
    status_of,
    wait_delivery,
)


def test_drop_sends_nothing_and_leaves_the_payment_pending(live, receiver):
    answer = create_ok(live, "tx_drop", receiver.url("/dropped"), amount=4040)  # match rule of webhook-drop
    assert answer["status"] == "PENDING"
    d = wait_delivery(live, tx_id="tx_drop", state="dropped")
    assert d["scenario"] == "webhook-drop"
    assert d["attempts"] == [] and d["attempt_count"] == 0
    assert d["next_attempt_at"] is None
    assert "dropped" in d["faults"]
    assert "never sent" in (d["last_error"] or "")
    # a later webhook to the same receiver arrives on its own: the dropped one never does
    create_ok(live, "tx_after_drop", receiver.url("/later"))
    receiver.wait_for(1, path="/later")
    assert receiver.for_path("/dropped") == []
    assert status_of(live, "pay_tx_drop") == "PENDING"
    assert listing(live)["payments"]["pay_tx_drop"]["status"] == "PENDING"
    assert live.get("/mock/v1/deliveries", params={"state": "dropped"}).json()["total"] == 1
    assert live.get("/mock/v1/health").json()["deliveries_pending"] == 0


def test_flaky_network_fails_three_attempts_then_delivers_once(live, receiver):
    answer = create_ok(live, "tx_flaky", receiver.url(), scenario="webhook-flaky")
    assert answer["status"] == "PENDING"  # the inline first attempt "failed" on purpose
    d = wait_delivery(live, tx_id="tx_flaky", state="acknowledged")
    hooks = receiver.wait_for(1)
    assert len(hooks) == 1  # nothing is sent on a simulated failure
    assert hooks[0].verified
    assert [a["simulated"] for a in d["attempts"]] == [True, True, True, False]
    assert [a["kind"] for a in d["attempts"]] == ["scheduled"] * 4
    for a in d["attempts"][:3]:
        assert a["status_code"] is None
        assert "simulated network failure" in a["error"]
        assert a["request_headers"] == {} and a["request_body"] == ""
    assert d["attempts"][3]["status_code"] == 200
    assert "network failure on first 3 attempt(s)" in d["faults"]
    assert_log_matches(d, hooks)
    assert status_of(live, "pay_tx_flaky") == "PAYMENT_COMPLETED"


def test_flaky_attempts_follow_the_scaled_schedule(live, receiver):
    # 3 network failures, then retries after 100 s and 200 s (0.1 s / 0.2 s scaled): the real
    # attempt cannot come before the sum of the first three delays.
    put_scenario(live, "flaky-timed", webhook={"fail_attempts": 3, "retry_schedule_ms": [100_000, 100_000, 200_000]})
    start = now()
    create_ok(live, "tx_flaky_t", receiver.url(), scenario="flaky-timed")
    [hook] = receiver.wait_for(1)
    assert hook.received_at - start >= scaled(400_000) - EARLY_SLACK_S
    d = wait_delivery(live, tx_id="tx_flaky_t", state="acknowledged")
    assert d["attempt_count"] == 4


def test_webhook_late_fixture_answers_pending_then_delivers(live, receiver):
    assert create_ok(live, "tx_late", receiver.url(), scenario="webhook-late")["status"] == "PENDING"
    wait_delivery(live, tx_id="tx_late", state="acknowledged")
    assert receiver.wait_for(1)[0].verified
    assert status_of(live, "pay_tx_late") == "PAYMENT_COMPLETED"


def test_webhook_delay_holds_the_first_attempt_for_the_scaled_delay(live, receiver):
    delay_ms = 400_000
    put_scenario(live, "late-400", webhook={"delay_ms": delay_ms})
    start = now()
    answer = create_ok(live, "tx_late400", receiver.url(), scenario="late-400")
    assert answer["status"] == "PENDING"  # answered without waiting for the webhook
    [hook] = receiver.wait_for(1)
    assert hook.received_at - start >= scaled(delay_ms) - EARLY_SLACK_S
    d = wait_delivery(live, tx_id="tx_late400", state="acknowledged")
    assert d["attempt_count"] == 1
    assert f"delayed {delay_ms} ms" in d["faults"]
    assert status_of(live, "pay_tx_late400") == "PAYMENT_COMPLETED"


def test_duplicates_arrive_with_the_same_webhook_id(live, receiver):
    answer = create_ok(live, "tx_dup", receiver.url(), scenario="webhook-duplicate")
    assert answer["status"] == "PAYMENT_COMPLETED"
    d = wait_delivery(live, tx_id="tx_dup", state="attempted", min_attempts=3)
    hooks = receiver.wait_for(3)
    assert len(hooks) == 3  # 1 + 2 duplicates
    assert {h.webhook_id for h in hooks} == {"evt_completed_tx_dup"}
    assert len({h.body for h in hooks}) == 1
    assert all(h.verified for h in hooks)
    assert [a["kind"] for a in d["attempts"]] == ["scheduled", "duplicate", "duplicate"]
    assert "2 duplicate(s)" in d["faults"]
    d = delivery(live, "evt_completed_tx_dup")
    assert d["state"] == "acknowledged" and d["next_attempt_at"] is None
    assert_log_matches(d, hooks)
    assert status_of(live, "pay_tx_dup") == "PAYMENT_COMPLETED"


def test_reorder_a_later_webhook_overtakes_the_held_one(live, receiver):
    # hold for up to 30 s (scaled) so only the later webhook can release it
    put_scenario(live, "reorder-long", webhook={"reorder": True, "reorder_hold_ms": 30_000_000})
    first = create_ok(live, "tx_first", receiver.url("/first"), scenario="reorder-long")
    assert first["status"] == "PENDING"
    assert receiver.received == []
    second = create_ok(live, "tx_second", receiver.url("/second"))
    assert second["status"] == "PAYMENT_COMPLETED"
    hooks = receiver.wait_for(2)
    assert [h.path for h in hooks] == ["/second", "/first"]
    assert [h.webhook_id for h in hooks] == ["evt_completed_tx_second", "evt_completed_tx_first"]
    assert all(h.verified for h in hooks)
    d = wait_delivery(live, tx_id="tx_first", state="acknowledged")
    assert "reordered" in d["faults"]
    assert status_of(live, "pay_tx_first") == "PAYMENT_COMPLETED"


def test_reorder_hold_expires_without_a_later_webhook(live, receiver):
    hold_ms = 300_000
    put_scenario(live, "reorder-300", webhook={"reorder": True, "reorder_hold_ms": hold_ms})
    start = now()
    create_ok(live, "tx_alone", receiver.url(), scenario="reorder-300")
    [hook] = receiver.wait_for(1)
    assert hook.received_at - start >= scaled(hold_ms) - EARLY_SLACK_S
    wait_delivery(live, tx_id="tx_alone", state="acknowledged")
    # and the shipped fixture (5 s hold, scaled) gets through on its own as well
    create_ok(live, "tx_alone2", receiver.url("/fixture"), scenario="webhook-reorder")
    wait_delivery(live, tx_id="tx_alone2", state="acknowledged")
    assert receiver.wait_for(1, path="/fixture")[0].verified


def test_invalid_signature_fails_both_schemes_then_a_valid_retry_is_acknowledged(live, receiver):
    receiver.respond = lambda hook: 200 if hook.verified else 401
    answer = create_ok(live, "tx_badsig", receiver.url(), scenario="webhook-bad-signature")
    assert answer["status"] == "PENDING"
    d = wait_delivery(live, tx_id="tx_badsig", state="acknowledged")
    bad, good = receiver.wait_for(2)
    assert not seed_ok(bad)
    assert standard_error(bad) == "No matching signature found"
    assert not bad.seed_signature_ok and bad.standard_signature_error == "no matching v1 signature"
    assert seed_ok(good) and standard_error(good) is None and good.verified
    assert bad.body == good.body
    assert [a["signature"] for a in d["attempts"]] == ["invalid", "valid"]
    assert [a["status_code"] for a in d["attempts"]] == [401, 200]
    assert "signature invalid (first 1 attempt(s) sent)" in d["faults"]
    assert_log_matches(d, [bad, good])
    assert status_of(live, "pay_tx_badsig") == "PAYMENT_COMPLETED"


def test_missing_signature_on_every_attempt_until_the_schedule_ends(live, receiver):
    receiver.respond = lambda hook: 200 if hook.verified else 401
    assert create_ok(live, "tx_nosig", receiver.url(), scenario="webhook-no-signature")["status"] == "PENDING"
    d = wait_delivery(live, tx_id="tx_nosig", state="failed")
    hooks = receiver.wait_for(3)
    assert len(hooks) == 3  # schedule [1000, 2000] -> 3 attempts
    for hook in hooks:
        assert "x-payment-signature" not in hook.headers
        assert "webhook-signature" not in hook.headers
        assert hook.headers["webhook-id"] == "evt_completed_tx_nosig"
        assert not seed_ok(hook)
        assert standard_error(hook) == "Missing required headers"
    assert [a["signature"] for a in d["attempts"]] == ["missing"] * 3
    assert_log_matches(d, hooks)
    assert status_of(live, "pay_tx_nosig") == "PENDING"
    # a redelivery is clean: signed, acknowledged, and the payment completes
    r = live.post("/mock/v1/deliveries/evt_completed_tx_nosig/redeliver")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged"
    assert r.json()["attempts"][-1]["kind"] == "manual"
    assert r.json()["attempts"][-1]["signature"] == "valid"
    fourth = receiver.wait_for(4)[3]
    assert fourth.verified
    assert status_of(live, "pay_tx_nosig") == "PAYMENT_COMPLETED"


def test_stale_signature_fails_standard_webhooks_but_passes_the_seed_check(live, receiver):
    # /seed is an ops server using the seed's check only; /standard uses Standard Webhooks
    def respond(hook):
        if hook.path == "/seed":
            return 200 if seed_ok(hook) else 401
        return 200 if standard_error(hook) is None else 401

    receiver.respond = respond
    seed_answer = create_ok(live, "tx_stale_seed", receiver.url("/seed"), scenario="webhook-stale-signature")
    assert seed_answer["status"] == "PAYMENT_COMPLETED"
    std_answer = create_ok(live, "tx_stale_std", receiver.url("/standard"), scenario="webhook-stale-signature")
    assert std_answer["status"] == "PENDING"
    d = wait_delivery(live, tx_id="tx_stale_std", state="failed")
    hooks = receiver.for_path("/standard")
    assert len(hooks) == 3
    for hook in hooks:
        assert seed_ok(hook)  # the seed's scheme has no timestamp
        assert standard_error(hook) == "Message timestamp too old"
        assert "webhook-timestamp is" in hook.standard_signature_error
        assert now() - int(hook.headers["webhook-timestamp"]) > 3000
    assert [a["signature"] for a in d["attempts"]] == ["stale"] * 3
    assert_log_matches(d, hooks)
    [seed_hook] = receiver.for_path("/seed")
    assert seed_hook.seed_signature_ok and not seed_hook.verified


def test_malformed_body_is_signed_but_not_json_then_a_valid_retry(live, receiver):
    def respond(hook):
        if not hook.verified:
            return 401
        try:
            json.loads(hook.body)
        except ValueError:
            return 400
        return 200

    receiver.respond = respond
    assert create_ok(live, "tx_malformed", receiver.url(), scenario="webhook-malformed")["status"] == "PENDING"
    d = wait_delivery(live, tx_id="tx_malformed", state="acknowledged")
    bad, good = receiver.wait_for(2)
    assert seed_ok(bad) and standard_error(bad) is None  # signed over the broken bytes
    with pytest.raises(ValueError):
        json.loads(bad.body)
    assert good.json()["tx_id"] == "tx_malformed"
    assert good.body.startswith(bad.body[:10])
    assert [a["body"] for a in d["attempts"]] == ["malformed", "valid"]
    assert [a["status_code"] for a in d["attempts"]] == [400, 200]
    assert "body malformed (first 1 attempt(s) sent)" in d["faults"]
    assert_log_matches(d, [bad, good])
    assert status_of(live, "pay_tx_malformed") == "PAYMENT_COMPLETED"


def test_faults_on_every_attempt_when_fault_attempts_is_absent(live, receiver):
    put_scenario(live, "always-bad", webhook={"signature": "invalid", "retry_schedule_ms": [1000]})
    receiver.respond = lambda hook: 200 if hook.verified else 401
    create_ok(live, "tx_always", receiver.url(), scenario="always-bad")
    d = wait_delivery(live, tx_id="tx_always", state="failed")
    assert [a["signature"] for a in real_attempts(d)] == ["invalid", "invalid"]
    assert not any(h.verified for h in receiver.wait_for(2))


def test_signature_fault_applies_to_the_first_attempt_sent_not_the_simulated_one(live, receiver: WebhookReceiver):
    receiver.respond = lambda hook: 200 if hook.verified else 401
    put_scenario(
        live,
        "fail-then-badsig",
        webhook={
            "fail_attempts": 1,
            "signature": "invalid",
            "fault_attempts": 1,
            "retry_schedule_ms": [1000, 1000, 1000],
        },
    )
    assert create_ok(live, "tx_sent", receiver.url(), scenario="fail-then-badsig")["status"] == "PENDING"
    wait_delivery(live, tx_id="tx_sent", state="acknowledged")
    bad, good = receiver.wait_for(2)
    assert not seed_ok(bad) and standard_error(bad) is not None  # was valid: the fault went to the simulated one
    assert seed_ok(good) and standard_error(good) is None
    d = delivery(live, "evt_completed_tx_sent")
    assert [a["simulated"] for a in d["attempts"]] == [True, False, False]
    assert [a["signature"] for a in real_attempts(d)] == ["invalid", "valid"]
    assert [a["status_code"] for a in real_attempts(d)] == [401, 200]
    assert "signature invalid (first 1 attempt(s) sent)" in d["faults"]
    assert len(receiver.received) == 2
