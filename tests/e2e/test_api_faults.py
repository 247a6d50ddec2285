"""API faults end to end: injected error statuses with Retry-After for the first N calls (nothing
processed), for every call, and added latency."""

from __future__ import annotations

import time

from tests.conftest import assert_problem
from tests.e2e.helpers import confirm, create, create_ok, listing, put_scenario, status_of


def _assert_injected(r, status: int, retry_after: str | None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers.get("retry-after") == retry_after
    problem = r.json()
    assert problem["status"] == status
    assert "nothing was processed" in problem["detail"]


def test_api_unavailable_for_the_first_two_calls_then_works_and_stores_nothing_before(live, receiver):
    url = receiver.url()
    for _ in range(2):
        r = create(live, "tx_503", url, amount=5030)  # match rule of api-unavailable
        _assert_injected(r, 503, "1")
        page = listing(live)
        assert page["payments"] == {} and page["total"] == 0
        assert live.get("/mock/v1/deliveries").json()["total"] == 0
        assert receiver.received == []
    answer = create_ok(live, "tx_503", url, amount=5030)
    assert answer["status"] == "PAYMENT_COMPLETED"
    [hook] = receiver.wait_for(1)
    assert hook.verified
    page = listing(live)
    assert list(page["payments"]) == ["pay_tx_503"]
    assert page["payments"]["pay_tx_503"]["scenario"] == "api-unavailable"
    # used up: later calls under the scenario work too
    assert create(live, "tx_503b", url, amount=5030).status_code == 200


def test_api_rate_limited_refuses_every_create_and_confirm_while_active(live, receiver):
    create_ok(live, "manual_rl", receiver.url())  # pending, to confirm later
    assert live.put("/mock/v1/active-scenario", json={"name": "api-rate-limited"}).status_code == 200
    for i in range(3):
        _assert_injected(create(live, f"tx_rl_{i}", receiver.url()), 429, "2")
    _assert_injected(confirm(live, "pay_manual_rl", scenario="api-rate-limited"), 429, "2")
    assert status_of(live, "pay_manual_rl") == "PENDING"
    assert listing(live)["total"] == 1  # listing is not among its operations; nothing new stored
    assert receiver.received == []
    # a header naming another scenario still gets through
    assert create(live, "tx_rl_ok", receiver.url(), scenario="default").status_code == 200


def test_api_error_for_the_first_n_calls_of_a_runtime_scenario(live, receiver):
    put_scenario(live, "flaky-api", api={"error_status": 500, "times": 1})
    _assert_injected(create(live, "tx_500", receiver.url(), scenario="flaky-api"), 500, None)
    assert listing(live)["total"] == 0
    assert create(live, "tx_500", receiver.url(), scenario="flaky-api").status_code == 200
    assert status_of(live, "pay_tx_500") == "PAYMENT_COMPLETED"


def test_api_latency_delays_the_answer_for_the_first_call_only(live, receiver):
    put_scenario(live, "lag", api={"latency_ms": 1000, "times": 1})
    start = time.monotonic()
    assert create(live, "tx_lag", receiver.url(), scenario="lag").status_code == 200
    slow = time.monotonic() - start
    start = time.monotonic()
    assert create(live, "tx_lag2", receiver.url(), scenario="lag").status_code == 200
    fast = time.monotonic() - start
    assert slow >= 1.0, slow  # latency is real time, not scaled
    assert fast < 1.0, fast
    assert len(receiver.wait_for(2)) == 2


def test_api_slow_fixture_slows_the_listing(live):
    start = time.monotonic()
    r = live.get("/api/v2/pending-payments", headers={"X-Mock-Scenario": "api-slow"})
    assert r.status_code == 200
    assert time.monotonic() - start >= 2.0


def test_active_rate_limit_refuses_confirm_without_a_header(live, receiver):
    # api-rate-limited says: "Answer 429 with Retry-After 2 to every create and confirm call" while active.
    # Confirm selects like create, on the stored payment's data: no match rule fits rl2, so the active one counts.
    r = live.post(
        "/api/v2/payments",
        json={"tx_id": "rl2", "order_id": 1, "user_id": 1, "amount": 1000, "callback_url": receiver.url()},
        headers={"X-Mock-Scenario": "manual-confirm"},
    )
    assert r.json()["status"] == "PENDING"
    assert live.put("/mock/v1/active-scenario", json={"name": "api-rate-limited"}).status_code == 200
    _assert_injected(confirm(live, "pay_rl2"), 429, "2")
    assert status_of(live, "pay_rl2") == "PENDING"
    assert receiver.received == []
    # a match rule on the stored data still beats the active scenario: manual_ payments pick manual-confirm
    live.put("/mock/v1/active-scenario", json={"name": "default"})
    create_ok(live, "manual_rl3", receiver.url())
    live.put("/mock/v1/active-scenario", json={"name": "api-rate-limited"})
    assert confirm(live, "pay_manual_rl3").status_code == 200


def test_rate_limited_confirm_of_an_unknown_payment_is_429_not_404(live):
    r = confirm(live, "pay_unknown_rl", scenario="api-rate-limited")
    problem = assert_problem(r, 429)
    assert r.headers.get("retry-after") == "2"
    assert "pay_unknown_rl" not in problem["detail"]  # answered before the lookup
    # without the fault the same call is the 404
    assert_problem(confirm(live, "pay_unknown_rl"), 404)
