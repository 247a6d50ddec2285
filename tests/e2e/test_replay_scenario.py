"""A repeated tx_id under another scenario, end to end: an explicit X-Mock-Scenario that differs from
the one the payment was created under is a 409 (the QA engineer would otherwise believe the new
scenario ran); no header, or the same name, still answers the stored payment."""

from __future__ import annotations

from tests.e2e.helpers import create, create_ok, payment_detail, put_scenario, wait_delivery


def _assert_conflict(r, stored: str, requested: str) -> None:
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    detail = r.json()["detail"]
    assert repr(stored) in detail and repr(requested) in detail
    assert "new tx_id" in detail


def test_replay_naming_another_scenario_is_a_409_and_changes_nothing(live, receiver):
    url = receiver.url()
    first = create_ok(live, "tx_replay", url, scenario="default")
    wait_delivery(live, tx_id="tx_replay", state="acknowledged")

    _assert_conflict(create(live, "tx_replay", url, scenario="declined"), "default", "declined")

    detail = payment_detail(live, "pay_tx_replay")
    assert detail["payment"]["scenario"] == "default"
    assert detail["payment"]["status"] == "PAYMENT_COMPLETED"
    assert len(detail["deliveries"]) == 1 and detail["deliveries"][0]["attempt_count"] == 1
    assert len(receiver.received) == 1
    # the same header, or none, is an ordinary replay
    assert create_ok(live, "tx_replay", url, scenario="default") == first
    assert create_ok(live, "tx_replay", url) == first
    assert len(receiver.received) == 1


def test_replay_of_a_match_rule_payment_only_the_explicit_header_counts(live, receiver):
    url = receiver.url()
    # amount 4002 picks `declined` by its match rule
    first = create_ok(live, "tx_rule", url, amount=4002)
    assert first["status"] == "PAYMENT_FAILED"
    # rules and the active scenario may change meanwhile: a replay without the header stays a replay
    live.put("/mock/v1/active-scenario", json={"name": "manual-confirm"})
    put_scenario(live, "rule-4002", match={"amount": 4002, "user_id": 1})
    assert create_ok(live, "tx_rule", url, amount=4002) == first
    assert create_ok(live, "tx_rule", url, scenario="declined", amount=4002) == first
    _assert_conflict(create(live, "tx_rule", url, scenario="rule-4002", amount=4002), "declined", "rule-4002")


def test_different_fields_are_reported_before_the_scenario(live, receiver):
    url = receiver.url()
    create_ok(live, "tx_both", url)
    r = create(live, "tx_both", url, scenario="declined", amount=2000)
    assert r.status_code == 409
    assert "amount" in r.json()["detail"]


def test_unknown_scenario_on_a_replay_is_still_a_404(live, receiver):
    url = receiver.url()
    create_ok(live, "tx_unknown", url)
    r = create(live, "tx_unknown", url, scenario="no-such-scenario")
    assert r.status_code == 404 and "default" in r.json()["known_scenarios"]
