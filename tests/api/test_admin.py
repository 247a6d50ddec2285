"""Control API, admin tag: health and reset."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import in_process, payment_body


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


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_health_counts_the_pending_deliveries_of_every_session(kind: str, receiver, tmp_path, request: Any) -> None:
    """Every store counts them (not loads them): a global and a session's waiting retry, not an acknowledged one."""
    store = {"memory": lambda: "memory", "sqlite": lambda: f"sqlite:{tmp_path / 'h.db'}"}.get(kind)
    with in_process(store=store() if store else request.getfixturevalue("postgres_url")) as client:
        slow = {"description": "a retry after 60 s", "webhook": {"retry_schedule_ms": [60_000] * 3}}
        sid = client.post("/mock/v1/sessions", json={}).json()["session_id"]
        receiver.status_for_path["/down"] = 503
        for tx_id, headers in (("hp-global", {}), ("hp-session", {"X-Mock-Session": sid})):
            assert client.put("/mock/v1/scenarios/slow", json=slow, headers=headers).status_code in (200, 201)
            made = client.post(
                "/api/v2/payments",
                json=payment_body(tx_id, receiver.url("/down")),
                headers={**headers, "X-Mock-Scenario": "slow"},
            )
            assert made.json()["status"] == "PENDING", made.text
        done = client.post("/api/v2/payments", json=payment_body("hp-acked", receiver.url("/")))
        assert done.json()["status"] == "PAYMENT_COMPLETED"
        health = client.get("/mock/v1/health").json()
        assert health["deliveries_pending"] == 2 and health["payments"] == 3, health
