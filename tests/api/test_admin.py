"""Control API, admin tag: health and reset."""

from __future__ import annotations

from tests.conftest import payment_body


def test_health_reports_version_store_and_counts(client, receiver):
    client.post("/api/v2/payments", json=payment_body("tx_h", receiver.url()))
    health = client.get("/mock/v1/health").json()
    assert health["status"] == "ok"
    assert health["store"] == "memory"
    assert health["payments"] == 1
    assert health["active_scenario"] == "default"
    assert health["auth_required"] is False
    assert health["version"]


def test_reset_forgets_everything_and_restores_the_default(client, receiver):
    client.post("/api/v2/payments", json=payment_body("tx_r", "http://127.0.0.1:9/down"))
    client.put("/mock/v1/scenarios/qa-temp", json={"name": "qa-temp", "description": "temp"})
    client.put("/mock/v1/active-scenario", json={"name": "qa-temp"})
    r = client.post("/mock/v1/reset")
    assert r.status_code == 200
    assert r.json() == {"ok": True, "payments_removed": 1, "deliveries_removed": 1}
    assert client.get("/mock/v1/active-scenario").json() == {"name": "default"}
    assert client.get("/mock/v1/scenarios/qa-temp").status_code == 404
    assert client.get("/api/v2/pending-payments").json()["total"] == 0
    assert client.get("/mock/v1/health").json()["deliveries_pending"] == 0
