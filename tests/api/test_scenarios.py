"""Control API, scenarios tag: list, read, put (and dry run), delete, active."""

from __future__ import annotations

from tests.conftest import payment_body


def test_list_has_fixtures_with_descriptions_and_the_active_one(client):
    body = client.get("/mock/v1/scenarios").json()
    assert body["active"] == "default"
    names = [s["name"] for s in body["scenarios"]]
    assert names[0] == "default" and len(names) >= 12
    declined = next(s for s in body["scenarios"] if s["name"] == "declined")
    assert declined["source"] == "fixture:declined.yaml" and declined["match"] == {"amount": 4002}


def test_get_one_and_unknown(client):
    info = client.get("/mock/v1/scenarios/webhook-flaky").json()
    assert info["scenario"]["webhook"]["fail_attempts"] == 3 and info["active"] is False
    r = client.get("/mock/v1/scenarios/nope")
    assert r.status_code == 404 and "default" in r.json()["known_scenarios"]


def test_put_validates_creates_replaces_and_dry_run_saves_nothing(client):
    doc = {"name": "qa-1", "description": "QA", "webhook": {"duplicates": 1}}
    dry = client.put("/mock/v1/scenarios/qa-1", params={"dry_run": "true"}, json=doc)
    assert dry.status_code == 200
    assert client.get("/mock/v1/scenarios/qa-1").status_code == 404
    assert client.put("/mock/v1/scenarios/qa-1", json=doc).status_code == 201
    assert client.put("/mock/v1/scenarios/qa-1", json={**doc, "description": "QA 2"}).status_code == 200
    assert client.get("/mock/v1/scenarios/qa-1").json()["scenario"]["description"] == "QA 2"


def test_bad_scenario_is_a_400_naming_the_key_and_saves_nothing(client):
    r = client.put(
        "/mock/v1/scenarios/qa-bad", json={"name": "qa-bad", "description": "x", "webhook": {"delay_ms": -1}}
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert "delay_ms" in r.json()["detail"]
    assert client.get("/mock/v1/scenarios/qa-bad").status_code == 404


def test_keys_without_effect_are_dropped_and_named_in_the_warnings(client):
    """Schema-valid keys that do nothing with the others: saved without them, and the answer says so."""
    doc = {"description": "x", "payment": {"outcome": "complete", "delay_ms": 500}, "api": {"retry_after_s": 5}}
    r = client.put("/mock/v1/scenarios/qa-extra", json=doc)
    assert r.status_code == 201, r.text
    assert r.json()["warnings"] == [
        "payment.delay_ms: ignored, only used with outcome 'delayed', not 'complete'",
        "api.retry_after_s: ignored, only used together with api.error_status",
    ]
    stored = client.get("/mock/v1/scenarios/qa-extra").json()["scenario"]
    assert "delay_ms" not in stored["payment"] and "retry_after_s" not in stored["api"]


def test_delete_runtime_only(client):
    client.put("/mock/v1/scenarios/qa-del", json={"name": "qa-del", "description": "x"})
    assert client.delete("/mock/v1/scenarios/qa-del").status_code == 204
    assert client.delete("/mock/v1/scenarios/qa-del").status_code == 404
    assert client.delete("/mock/v1/scenarios/default").status_code == 409


def test_active_scenario_drives_the_next_payment(client, receiver):
    assert client.put("/mock/v1/active-scenario", json={"name": "declined"}).json() == {"name": "declined"}
    r = client.post("/api/v2/payments", json=payment_body("tx_act", receiver.url()))
    assert r.json()["status"] == "PAYMENT_FAILED" and r.json()["failure_reason"] == "CARD_DECLINED"
    unknown = client.put("/mock/v1/active-scenario", json={"name": "nope"})
    assert unknown.status_code == 404 and "declined" in unknown.json()["known_scenarios"]
    assert client.get("/mock/v1/active-scenario").json() == {"name": "declined"}
