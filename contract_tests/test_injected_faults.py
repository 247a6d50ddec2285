"""Fault scenarios in the contract tests: fuzzed data never selects one by its fixture's match rule
(support.py loads the fixtures without them), and a fault asked for by name is a documented answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from schemathesis.checks import not_a_server_error

from contract_tests import support

CREATE = "/api/v2/payments"


def body(tx_id: str, amount: int = 1000) -> dict[str, Any]:
    return {"tx_id": tx_id, "order_id": 1, "user_id": 1, "amount": amount, "callback_url": "http://127.0.0.1:9/hook"}


@pytest.fixture
def c() -> Iterator[Any]:
    with support.client(support.OPEN_APP) as client:
        yield client


# The shipped fixtures' match values: api-unavailable, declined, webhook-drop, insufficient-funds,
# manual-confirm.
@pytest.mark.parametrize(
    ("tx_id", "amount"), [("tx_5030", 5030), ("tx_4002", 4002), ("tx_4040", 4040), ("tx_9995", 9995), ("manual_1", 1)]
)
def test_fixture_match_values_pick_no_scenario(c, tx_id, amount):
    response = c.post(CREATE, json=body(tx_id, amount))
    assert response.status_code == 200, response.text
    payment = c.get(f"/mock/v1/payments/pay_{tx_id}").json()["payment"]
    assert payment["scenario"] == "default"
    assert payment["failure_reason"] is None


def test_fault_scenarios_still_load_by_name(c):
    names = {s["name"]: s for s in c.get("/mock/v1/scenarios").json()["scenarios"]}
    assert names.keys() >= support.FIXTURE_NAMES
    assert not any(s.get("match") for s in names.values())


def test_injected_503_is_a_documented_problem(c):
    """A 503 injected on purpose is problem+json with Retry-After, as the spec documents: every
    Schemathesis check passes but not_a_server_error, which cannot tell a deliberate 503 from a crash
    (so fuzzing must never select the scenario by accident)."""
    case = support.PROVIDER[CREATE.removeprefix("/api/v2")]["POST"].Case(
        body=body("tx_503"), headers={"X-Mock-Scenario": "api-unavailable"}
    )
    for _ in range(2):  # the fixture's `times: 2`
        response = case.call()
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == ["application/problem+json"]
        assert response.headers["retry-after"] == ["1"]
        problem = response.json()
        assert problem["status"] == 503 and problem["title"] == "Injected Service Unavailable"
        assert "api-unavailable" in problem["detail"]
        case.validate_response(response, excluded_checks=[not_a_server_error])
    assert c.get("/mock/v1/payments/pay_tx_503").status_code == 404  # nothing was processed
    response = case.call()
    assert response.status_code == 200, response.text
    case.validate_response(response)
