"""The deliveries log end to end: paging with next_offset, and a wait-for-delivery 409 that says why."""

from __future__ import annotations

from tests.conftest import assert_problem
from tests.e2e.helpers import create_ok, put_scenario, wait_delivery


def test_deliveries_page_with_next_offset(live, receiver):
    for i in range(3):
        create_ok(live, f"tx_page_{i}", receiver.url())
    receiver.wait_for(3)
    first = live.get("/mock/v1/deliveries", params={"limit": 1})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["total"], body["next_offset"], len(body["deliveries"])) == (3, 1, 1)
    middle = live.get("/mock/v1/deliveries", params={"limit": 1, "offset": 1}).json()
    assert middle["next_offset"] == 2
    last = live.get("/mock/v1/deliveries", params={"limit": 1, "offset": 2}).json()
    assert (last["next_offset"], len(last["deliveries"])) == (None, 1)
    whole = live.get("/mock/v1/deliveries").json()
    assert (whole["total"], whole["next_offset"]) == (3, None)
    seen = [p["deliveries"][0]["delivery_id"] for p in (body, middle, last)]
    assert seen == [d["delivery_id"] for d in whole["deliveries"]]


def test_wait_for_delivery_timeout_names_the_last_status(live, receiver):
    receiver.respond = lambda hook: 503  # every attempt refused: never acknowledged
    put_scenario(live, "slow-retries", webhook={"retry_schedule_ms": [60_000_000]})  # the retry 60 s away
    assert create_ok(live, "tx_409", receiver.url(), scenario="slow-retries")["status"] == "PENDING"
    wait_delivery(live, tx_id="tx_409", state="attempted", min_attempts=1)  # the 503 is recorded
    r = live.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_409", "state": "acknowledged", "timeout_ms": 300})
    problem = assert_problem(r, 409)
    assert "the last one got 503" in problem["detail"], problem["detail"]


def test_wait_for_delivery_timeout_names_the_last_error(live):
    put_scenario(live, "slow-retries", webhook={"retry_schedule_ms": [60_000_000]})
    closed = "http://127.0.0.1:9/closed"  # discard port: nothing listens, the connection is refused
    assert create_ok(live, "tx_409e", closed, scenario="slow-retries")["status"] == "PENDING"
    wait_delivery(live, tx_id="tx_409e", state="attempted", min_attempts=1)
    r = live.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_409e", "state": "acknowledged", "timeout_ms": 300})
    problem = assert_problem(r, 409)
    assert "the last one: cannot connect" in problem["detail"], problem["detail"]
