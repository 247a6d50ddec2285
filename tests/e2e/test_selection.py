"""Scenario selection end to end: header > match rules (most keys first, then name) > active > default,
unknown names, and the chosen scenario recorded on payments and deliveries."""

from __future__ import annotations

import json

from tests.conftest import assert_problem, payment_body
from tests.e2e.helpers import (
    SCENARIO_HEADER,
    confirm,
    create,
    create_ok,
    listing,
    nothing_stored,
    payment_detail,
    put_scenario,
)


def _scenario_of(live, payment_id: str) -> str:
    return payment_detail(live, payment_id)["payment"]["scenario"]


def test_default_when_nothing_else_applies(live, receiver):
    create_ok(live, "tx_plain", receiver.url())
    assert _scenario_of(live, "pay_tx_plain") == "default"


def test_header_beats_match_rule_beats_active_beats_default(live, receiver):
    url = receiver.url()
    assert live.put("/mock/v1/active-scenario", json={"name": "declined"}).json() == {"name": "declined"}
    assert live.get("/mock/v1/active-scenario").json() == {"name": "declined"}

    # active beats default
    assert create_ok(live, "tx_active", url)["status"] == "PAYMENT_FAILED"
    assert _scenario_of(live, "pay_tx_active") == "declined"
    # a match rule beats the active scenario (4040 -> webhook-drop)
    assert create_ok(live, "tx_match", url, amount=4040)["status"] == "PENDING"
    assert _scenario_of(live, "pay_tx_match") == "webhook-drop"
    # the header beats a match rule (4002 would be declined)
    live.put("/mock/v1/active-scenario", json={"name": "webhook-duplicate"})
    assert create_ok(live, "tx_header", url, scenario="default", amount=4002)["status"] == "PAYMENT_COMPLETED"
    assert _scenario_of(live, "pay_tx_header") == "default"
    # the header beats the active scenario too
    create_ok(live, "tx_header2", url, scenario="manual-confirm")
    assert _scenario_of(live, "pay_tx_header2") == "manual-confirm"
    # back to default: the match rule still applies, plain payments complete again
    live.put("/mock/v1/active-scenario", json={"name": "default"})
    assert create_ok(live, "tx_back", url)["status"] == "PAYMENT_COMPLETED"
    assert create_ok(live, "tx_back_decl", url, amount=4002)["status"] == "PAYMENT_FAILED"


def test_match_rules_most_keys_first_then_by_name(live, receiver):
    url = receiver.url()
    put_scenario(live, "b-amount", match={"amount": 31337}, payment={"outcome": "fail", "failure_reason": "B"})
    put_scenario(live, "a-amount", match={"amount": 31337}, payment={"outcome": "fail", "failure_reason": "A"})
    put_scenario(
        live,
        "z-amount-user",
        match={"amount": 31337, "user_id": 7},
        payment={"outcome": "fail", "failure_reason": "Z"},
    )
    put_scenario(live, "prefix-vip", match={"tx_id_prefix": "vip_"}, payment={"auto_complete": False})
    assert create_ok(live, "tx_m1", url, amount=31337, user_id=7)["failure_reason"] == "Z"  # two keys win
    assert create_ok(live, "tx_m2", url, amount=31337, user_id=8)["failure_reason"] == "A"  # tie: by name
    assert _scenario_of(live, "pay_tx_m2") == "a-amount"
    assert create_ok(live, "vip_1", url)["status"] == "PENDING"
    assert _scenario_of(live, "pay_vip_1") == "prefix-vip"
    assert create_ok(live, "tx_vip_not_prefix", url)["status"] == "PAYMENT_COMPLETED"
    # order_id is a match key as well
    put_scenario(live, "by-order", match={"order_id": 9090}, payment={"outcome": "fail"})
    assert create_ok(live, "tx_order", url, order_id=9090)["failure_reason"] == "CARD_DECLINED"


def test_unknown_header_is_a_404_listing_known_scenarios_and_stores_nothing(live, receiver):
    r = create(live, "tx_unknown", receiver.url(), scenario="no-such-scenario")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert "no-such-scenario" in problem["detail"]
    known = set(problem["known_scenarios"])
    assert {"default", "declined", "webhook-drop", "webhook-flaky", "manual-confirm"} <= known
    assert listing(live)["total"] == 0
    assert receiver.received == []
    # run-time scenarios are known too
    put_scenario(live, "fresh-one")
    r = create(live, "tx_unknown", receiver.url(), scenario="no-such-scenario")
    assert "fresh-one" in r.json()["known_scenarios"]
    # confirm and listing check the header as well
    assert confirm(live, "pay_nobody", scenario="no-such-scenario").status_code == 404
    r = live.get("/api/v2/pending-payments", headers={"X-Mock-Scenario": "no-such-scenario"})
    assert r.status_code == 404


def test_scenario_is_recorded_on_payment_listing_and_deliveries(live, receiver):
    url = receiver.url()
    create_ok(live, "tx_rec_dup", url, scenario="webhook-duplicate")
    create_ok(live, "tx_rec_def", url)
    create_ok(live, "tx_rec_fail", url, amount=4002)
    receiver.wait_for(4)

    page = listing(live)
    assert page["payments"]["pay_tx_rec_dup"]["scenario"] == "webhook-duplicate"
    assert page["payments"]["pay_tx_rec_def"]["scenario"] == "default"
    assert page["payments"]["pay_tx_rec_fail"]["scenario"] == "declined"
    filtered = listing(live, scenario="declined")
    assert list(filtered["payments"]) == ["pay_tx_rec_fail"]

    detail = payment_detail(live, "pay_tx_rec_dup")
    assert detail["payment"]["scenario"] == "webhook-duplicate"
    assert [d["scenario"] for d in detail["deliveries"]] == ["webhook-duplicate"]

    deliveries = live.get("/mock/v1/deliveries", params={"scenario": "declined"}).json()
    assert deliveries["total"] == 1
    only = deliveries["deliveries"][0]
    assert (only["delivery_id"], only["event"], only["scenario"]) == (
        "evt_failed_tx_rec_fail",
        "payment.failed",
        "declined",
    )
    by_event = live.get("/mock/v1/deliveries", params={"event": "payment.completed"}).json()
    assert {d["tx_id"] for d in by_event["deliveries"]} == {"tx_rec_dup", "tx_rec_def"}
    by_payment = live.get("/mock/v1/deliveries", params={"payment_id": "pay_tx_rec_def"}).json()
    assert [d["delivery_id"] for d in by_payment["deliveries"]] == ["evt_completed_tx_rec_def"]
    by_tx = live.get("/mock/v1/deliveries", params={"tx_id": "tx_rec_def"}).json()
    assert by_tx == by_payment


def test_confirm_keeps_the_payments_scenario(live, receiver):
    create_ok(live, "manual_keep", receiver.url())
    live.put("/mock/v1/active-scenario", json={"name": "webhook-duplicate"})
    assert confirm(live, "pay_manual_keep").status_code == 200
    detail = payment_detail(live, "pay_manual_keep")
    assert detail["payment"]["scenario"] == "manual-confirm"
    assert [d["scenario"] for d in detail["deliveries"]] == ["manual-confirm"]


def test_scenario_header_sent_twice_is_a_400_and_nothing_is_stored(live, receiver):
    # taking the first would quietly run `declined` for a test that also sent a typo
    body = payment_body("tx_twice", receiver.url())
    headers = [(SCENARIO_HEADER, "declined"), (SCENARIO_HEADER, "BAD!"), ("Content-Type", "application/json")]
    problem = assert_problem(live.post("/api/v2/payments", content=json.dumps(body), headers=headers), 400)
    assert "sent 2 times" in problem["detail"] and "'BAD!'" in problem["detail"]
    nothing_stored(live)
    assert receiver.received == []
