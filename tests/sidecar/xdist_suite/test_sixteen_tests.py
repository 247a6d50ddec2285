"""Sixteen independent tests, as a user writes them with the `paymock` fixture: each sets its own active
scenario, creates payments and expects to see exactly them listed, with the outcome its scenario gives.

The failing case of issue 16: serially they passed; under `pytest -n 4` against one shared server every
test's fixture reset the server and flipped the active scenario under the others. The main suite runs
this module serially on the plugin's in-process server; tests/sidecar/test_parallel_sessions.py runs it
serially and under `-n 4` against one `paymock serve` (it is self-contained: it is copied there).
Half the tests send their payments as an ops server would, without naming the session: they reach it
through the user_id their marker claims.
"""

from __future__ import annotations

import os
import uuid

import httpx
import pytest

# scenario -> the status it gives a payment (match rules stay out of the way: amount 1000 matches none)
OUTCOMES = {
    "default": "PAYMENT_COMPLETED",
    "declined": "PAYMENT_FAILED",
    "manual-confirm": "PENDING",
    "insufficient-funds": "PAYMENT_FAILED",
}
SCENARIOS = list(OUTCOMES)
ROUNDS = 3  # each test sets its scenario and checks it several times: room for another test to interleave
USER_BASE = 7_000


def unique_tx(number: int) -> str:
    # unique per run: a shared server keeps other runs' payments (tx_id is global, like the provider's key)
    return f"x{number}-{uuid.uuid4().hex[:12]}"


def check_round(paymock, scenario: str, sent: set[str]) -> None:  # type: ignore[no-untyped-def]
    assert paymock.active_scenario() == scenario  # nobody flipped it
    listing = paymock.payments().json()
    assert set(listing["payments"]) == sent  # exactly this test's payments: none lost, none of others'
    for payment in listing["payments"].values():
        assert payment["status"] == OUTCOMES[scenario], payment
        assert payment["scenario"] == scenario


@pytest.mark.parametrize("number", range(8))
def test_direct_calls_stay_in_the_tests_session(paymock, webhook_receiver, number: int) -> None:  # type: ignore[no-untyped-def]
    scenario = SCENARIOS[number % len(SCENARIOS)]
    paymock.set_scenario(scenario)
    sent: set[str] = set()
    for _ in range(ROUNDS):
        tx_id = unique_tx(number)
        answer = paymock.create_payment(tx_id, webhook_receiver.url(), user_id=number + 1)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == OUTCOMES[scenario]
        sent.add(f"pay_{tx_id}")
        check_round(paymock, scenario, sent)
    hooks = [d["tx_id"] for d in paymock.deliveries()]
    expected = 0 if scenario == "manual-confirm" else ROUNDS  # manual-confirm sends no webhook until confirmed
    assert len(hooks) == expected and {f"pay_{t}" for t in hooks} <= sent


def claiming(number: int) -> object:
    """One parameter with its own claim: each test claims the user_id its "ops server" traffic carries."""
    return pytest.param(number, marks=pytest.mark.paymock(claims={"user_ids": [USER_BASE + number]}))


@pytest.mark.parametrize("number", [claiming(n) for n in range(8)])
def test_ops_server_traffic_reaches_the_session_that_claims_it(  # type: ignore[no-untyped-def]
    request, paymock, paymock_session, paymock_server, webhook_receiver, number: int
) -> None:
    user_id = USER_BASE + number
    assert paymock_session["claims"]["user_ids"] == [user_id]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # xdist names its workers gw0, gw1, ...
    label = paymock_session["label"]  # who owns it, for the console's list (a long node id keeps its tail)
    assert label.startswith(f"[{worker}] ") and label.endswith(request.node.name)
    scenario = SCENARIOS[(number + 1) % len(SCENARIOS)]
    paymock.set_scenario(scenario)
    sent: set[str] = set()
    token = paymock_server.auth_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # a plain client: no X-Mock-Session, as an ops server that forwards nothing of ours calls the provider
    with httpx.Client(base_url=paymock_server.base_url, headers=headers, timeout=30) as ops:
        for _ in range(ROUNDS):
            tx_id = unique_tx(number + 100)
            body = {
                "version": "v2",
                "tx_id": tx_id,
                "order_id": number,
                "user_id": user_id,
                "amount": 1000,
                "callback_url": webhook_receiver.url(),
            }
            answer = ops.post("/api/v2/payments", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == OUTCOMES[scenario]  # the claiming session's active scenario
            sent.add(f"pay_{tx_id}")
            check_round(paymock, scenario, sent)
