"""The control API end to end: run-time scenarios (create, replace, dry run, validation, delete), the
active scenario, reset, wait-for-delivery, and bad control requests."""

from __future__ import annotations

import time

import pytest

from tests.conftest import assert_problem
from tests.e2e.helpers import create_ok, listing, put_scenario, scaled, status_of, wait_delivery


def test_put_creates_then_replaces_and_the_scenario_drives_payments(live, receiver):
    doc = {"name": "qa-fail", "description": "QA: decline", "payment": {"outcome": "fail", "failure_reason": "QA_1"}}
    r = live.put("/mock/v1/scenarios/qa-fail", json=doc)
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "runtime"
    assert r.json()["scenario"]["payment"]["failure_reason"] == "QA_1"
    assert create_ok(live, "tx_qa1", receiver.url(), scenario="qa-fail")["failure_reason"] == "QA_1"

    doc["payment"]["failure_reason"] = "QA_2"
    r = live.put("/mock/v1/scenarios/qa-fail", json=doc)
    assert r.status_code == 200, r.text
    assert create_ok(live, "tx_qa2", receiver.url(), scenario="qa-fail")["failure_reason"] == "QA_2"

    got = live.get("/mock/v1/scenarios/qa-fail").json()
    assert got["source"] == "runtime" and got["active"] is False
    assert got["scenario"]["payment"]["failure_reason"] == "QA_2"
    summary = live.get("/mock/v1/scenarios").json()
    names = [s["name"] for s in summary["scenarios"]]
    assert names[0] == "default" and names[-1] == "qa-fail"  # fixtures first, run-time ones after
    assert summary["active"] == "default"


def test_put_without_name_in_body_takes_the_paths(live):
    r = live.put("/mock/v1/scenarios/from-path", json={"name": "from-path", "description": "x"})
    assert r.status_code == 201
    r = live.put("/mock/v1/scenarios/from-path", json={"name": "other", "description": "x"})
    problem = assert_problem(r, 409)  # a body for another scenario conflicts with its target
    assert "name: 'other' differs from the path's 'from-path'" in problem["detail"]


def test_dry_run_validates_without_saving(live):
    doc = {"name": "dry", "description": "only checked", "webhook": {"duplicates": 3}}
    r = live.put("/mock/v1/scenarios/dry", params={"dry_run": "true"}, json=doc)
    assert r.status_code == 200, r.text
    assert r.json()["scenario"]["webhook"]["duplicates"] == 3
    assert live.get("/mock/v1/scenarios/dry").status_code == 404
    bad = {"name": "dry", "description": "x", "payment": {"outcome": "later"}}
    problem = assert_problem(live.put("/mock/v1/scenarios/dry", params={"dry_run": "true"}, json=bad), 400)
    assert "payment.outcome" in problem["detail"]
    odd = {"name": "dry", "description": "x", "payment": {"delay_ms": 10}}
    r = live.put("/mock/v1/scenarios/dry", params={"dry_run": "true"}, json=odd)
    assert r.status_code == 200 and r.json()["warnings"][0].startswith("payment.delay_ms: ignored")
    assert live.get("/mock/v1/scenarios/dry").status_code == 404


@pytest.mark.parametrize(
    ("extra", "key", "expected"),
    [
        ({"webhook": {"retries": 3}}, "retries", "not allowed"),  # unknown key
        ({"colour": "red"}, "colour", "not allowed"),  # unknown top-level key
        ({"webhook": {"duplicates": "two"}}, "webhook.duplicates", "integer"),  # wrong type
        ({"payment": {"outcome": "explode"}}, "payment.outcome", "complete"),  # bad enum lists the choices
        ({"webhook": {"signature": "forged"}}, "webhook.signature", "valid"),
        ({"api": {"error_status": 418}}, "api.error_status", "503"),
        ({"webhook": {"fail_attempts": -1}}, "webhook.fail_attempts", "minimum"),
        ({"match": {}}, "match", ""),  # a match rule needs at least one key
    ],
)
def test_bad_scenario_bodies_are_400_problems_naming_the_key(live, extra, key, expected):
    body = {"name": "bad-one", "description": "broken on purpose", **extra}
    problem = assert_problem(live.put("/mock/v1/scenarios/bad-one", json=body), 400)
    text = problem["detail"] + " ".join(problem.get("errors", []))
    assert key in text, text
    assert expected in text, text
    assert live.get("/mock/v1/scenarios/bad-one").status_code == 404


@pytest.mark.parametrize(
    ("extra", "warning"),
    [
        ({"payment": {"outcome": "delayed"}}, "payment.delay_ms: not given"),
        ({"payment": {"failure_reason": "X"}}, "payment.failure_reason: ignored"),
        ({"payment": {"auto_complete": False, "outcome": "fail"}}, "payment.auto_complete: false is ignored"),
        ({"webhook": {"mode": "drop", "duplicates": 1}}, "webhook: mode 'drop' sends nothing"),
        ({"webhook": {"reorder_hold_ms": 10}}, "webhook.reorder_hold_ms: ignored"),
        ({"api": {"retry_after_s": 3}}, "api.retry_after_s: ignored"),
        ({"api": {"times": 3}}, "api.times: ignored"),
    ],
)
def test_keys_without_effect_are_saved_without_them_and_named(live, extra, warning):
    """The contract allows these bodies, so they are taken; what would do nothing is dropped and named."""
    r = live.put("/mock/v1/scenarios/odd-one", json={"description": "keys that do nothing", **extra})
    assert r.status_code == 201, r.text
    assert r.json()["warnings"][0].startswith(warning), r.json()["warnings"]


def test_bad_scenario_requests_without_a_valid_body(live):
    assert_problem(live.put("/mock/v1/scenarios/x", json={"name": "x"}), 400)  # no description
    r = live.put("/mock/v1/scenarios/x", content=b"name: x\n", headers={"Content-Type": "application/yaml"})
    assert r.status_code == 415
    r = live.put("/mock/v1/scenarios/x", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    assert_problem(live.put("/mock/v1/scenarios/Bad Name", json={"name": "Bad Name", "description": "x"}), 400)
    assert_problem(live.get("/mock/v1/scenarios/nope"), 404)


def test_delete_runtime_scenarios_but_not_fixtures(live):
    put_scenario(live, "temp")
    assert live.put("/mock/v1/active-scenario", json={"name": "temp"}).status_code == 200
    assert live.delete("/mock/v1/scenarios/temp").status_code == 204
    assert live.get("/mock/v1/scenarios/temp").status_code == 404
    assert live.get("/mock/v1/active-scenario").json() == {"name": "default"}  # fell back
    assert_problem(live.delete("/mock/v1/scenarios/temp"), 404)
    problem = assert_problem(live.delete("/mock/v1/scenarios/declined"), 409)
    assert "fixture" in problem["detail"]
    assert live.get("/mock/v1/scenarios/declined").status_code == 200


def test_runtime_scenario_can_override_a_fixture_until_deleted(live, receiver):
    r = live.put(
        "/mock/v1/scenarios/default",
        json={"name": "default", "description": "override", "payment": {"outcome": "fail", "failure_reason": "OVR"}},
    )
    assert r.status_code == 200, r.text  # replaced, not created
    assert create_ok(live, "tx_ovr", receiver.url())["failure_reason"] == "OVR"
    assert live.delete("/mock/v1/scenarios/default").status_code == 204
    assert live.get("/mock/v1/scenarios/default").json()["source"] == "fixture:default.yaml"
    assert create_ok(live, "tx_ovr2", receiver.url())["status"] == "PAYMENT_COMPLETED"


def test_set_active_unknown_and_bad_bodies(live):
    problem = assert_problem(live.put("/mock/v1/active-scenario", json={"name": "nope"}), 404)
    assert "default" in problem["known_scenarios"]
    assert_problem(live.put("/mock/v1/active-scenario", json={}), 400)
    assert_problem(live.put("/mock/v1/active-scenario", json={"name": "default", "extra": 1}), 400)
    assert_problem(live.put("/mock/v1/active-scenario", json={"name": "UPPER"}), 400)
    assert live.get("/mock/v1/active-scenario").json() == {"name": "default"}
    r = live.put("/mock/v1/active-scenario", json={"name": "declined"})
    assert r.json() == {"name": "declined"}
    scenarios = live.get("/mock/v1/scenarios").json()
    assert scenarios["active"] == "declined"
    assert live.get("/mock/v1/scenarios/declined").json()["active"] is True
    assert live.get("/mock/v1/health").json()["active_scenario"] == "declined"


def test_reset_forgets_everything_and_restores_the_default(live, receiver):
    put_scenario(live, "keep-me-not", payment={"auto_complete": False})
    live.put("/mock/v1/active-scenario", json={"name": "keep-me-not"})
    live.put("/mock/v1/scenarios/default", json={"name": "default", "description": "ovr", "webhook": {"duplicates": 1}})
    create_ok(live, "tx_r1", receiver.url())
    receiver.refuse_next(10, 503)
    create_ok(live, "tx_r2", receiver.url(), scenario="default")  # retrying in the background
    create_ok(live, "tx_r3", receiver.url(), amount=4040)  # dropped delivery
    wait_delivery(live, tx_id="tx_r2", state="attempted", min_attempts=2)  # next retry is 0.3 s away
    assert live.get("/mock/v1/health").json()["deliveries_pending"] == 1

    r = live.post("/mock/v1/reset")
    assert r.status_code == 200
    assert r.json() == {"ok": True, "payments_removed": 3, "deliveries_removed": 2}
    assert live.get("/mock/v1/scenarios/keep-me-not").status_code == 404
    assert live.get("/mock/v1/active-scenario").json() == {"name": "default"}
    assert live.get("/mock/v1/scenarios/default").json()["source"] == "fixture:default.yaml"
    page = listing(live)
    assert page["total"] == 0 and page["pending_count"] == page["completed_count"] == page["failed_count"] == 0
    assert live.get("/mock/v1/deliveries").json()["total"] == 0
    health = live.get("/mock/v1/health").json()
    assert health["deliveries_pending"] == 0 and health["payments"] == 0
    # and the default works as shipped again
    receiver.clear()
    assert create_ok(live, "tx_r1", receiver.url())["status"] == "PAYMENT_COMPLETED"
    assert len(receiver.wait_for(1)) == 1


def test_wait_for_delivery_returns_as_soon_as_the_state_is_reached(live, receiver):
    delay_ms = 300_000  # 0.3 s scaled
    put_scenario(live, "late-300", webhook={"delay_ms": delay_ms})
    start = time.monotonic()
    create_ok(live, "tx_wait", receiver.url(), scenario="late-300")
    r = live.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_wait", "state": "acknowledged"})
    took = time.monotonic() - start
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged"
    assert r.json()["attempts"][0]["status_code"] == 200
    assert scaled(delay_ms) - 0.05 <= took < 5, took  # answered on arrival, far before the timeout
    assert len(receiver.received) == 1  # the webhook was there by the time the long-poll answered
    assert status_of(live, "pay_tx_wait") == "PAYMENT_COMPLETED"
    # asking for attempts also works; a reached state answers at once
    r = live.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_wait", "state": "attempted", "min_attempts": 1})
    assert r.status_code == 200 and r.json()["delivery_id"] == "evt_completed_tx_wait"
    r = live.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_wait", "event": "payment.completed"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"


def test_wait_for_delivery_ends_with_409_or_404_saying_where_it_stands(live, receiver):
    receiver.status_for_path["/refuse"] = 503
    create_ok(live, "tx_stuck", receiver.url("/refuse"))
    start = time.monotonic()
    r = live.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_stuck", "state": "acknowledged", "timeout_ms": 300})
    took = time.monotonic() - start
    problem = assert_problem(r, 409)
    assert problem["state"] == "pending" and "attempt" in problem["detail"]
    assert 0.25 <= took < 5, took
    r = live.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_none", "timeout_ms": 0})
    assert "no delivery yet" in assert_problem(r, 404)["detail"]


def test_bad_control_requests(live):
    assert_problem(live.get("/mock/v1/wait-for-delivery"), 400)  # names nothing
    assert_problem(live.get("/mock/v1/wait-for-delivery", params={"tx_id": "a", "payment_id": "pay_a"}), 400)
    assert_problem(live.get("/mock/v1/wait-for-delivery", params={"tx_id": "a", "timeout_ms": 2001}), 400)
    assert_problem(live.get("/mock/v1/wait-for-delivery", params={"tx_id": "a", "state": "done"}), 400)
    assert_problem(live.get("/mock/v1/wait-for-delivery", params={"delivery_id": "evt_completed_a"}), 400)
    assert_problem(live.get("/mock/v1/deliveries", params={"state": "bogus"}), 400)
    assert_problem(live.get("/mock/v1/deliveries", params={"limit": 0}), 400)
    assert live.get("/mock/v1/deliveries", params={"payment_id": "pay_a", "tx_id": "b"}).json()["total"] == 0
    assert_problem(live.get("/mock/v1/deliveries/evt_completed_nope"), 404)
    assert_problem(live.get("/mock/v1/deliveries/not-an-id"), 404)  # an id that cannot exist is not found either
    assert_problem(live.get("/mock/v1/payments/pay_nope"), 404)
    assert_problem(live.post("/mock/v1/deliveries/evt_failed_nope/redeliver"), 404)


def test_get_scenario_shows_it_as_loaded_with_defaults_filled_in(live):
    # control.yaml: "200: The scenario as loaded (defaults filled in)."
    got = live.get("/mock/v1/scenarios/webhook-drop").json()["scenario"]
    assert got["match"] == {"amount": 4040}
    assert got["webhook"]["mode"] == "drop"
    assert got["payment"]["outcome"] == "complete"
    default = live.get("/mock/v1/scenarios/default").json()["scenario"]
    assert default["webhook"]["retry_schedule_ms"] == [
        5_000,
        300_000,
        1_800_000,
        7_200_000,
        18_000_000,
        36_000_000,
        36_000_000,
    ]
    assert default["webhook"]["signature"] == "valid"


def test_delete_scenario_is_a_bare_204(live):
    put_scenario(live, "gone-soon")
    r = live.delete("/mock/v1/scenarios/gone-soon")
    assert r.status_code == 204 and r.content == b""
    assert "content-type" not in r.headers  # was application/problem+json
