"""Two paymock instances on one PostgreSQL database act as one provider (issue 17, items 2-4): each is the
whole app (lifespan, validation on) with its own store connection pool and owner id, in this test
process; webhooks go to a real receiver on 127.0.0.1. What one instance does, the other sees; where
they race, the database decides, and exactly one webhook goes out."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from paymock.app import create_app
from paymock.testing.process import ServerProcess
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import (
    SERVER_ENV,
    SteppedClock,
    payment_body,
    refused_payment,
    retrying_scenario,
    settings,
    wait_for_delivery,
)

pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")

S = "X-Mock-Session"
# The bound is 1 s (a change through one process in force on all); bench/propagation.py measures
# it. Tests only check that changes are followed, with a bound a busy 2-core machine cannot miss.
FOLLOW_S = 5.0


@contextlib.contextmanager
def instance(url: str, clock: SteppedClock | None = None) -> Iterator[Any]:
    with create_app(settings(store=url), clock=clock).test_client() as client:
        yield client


@pytest.fixture
def pair(postgres_url: str) -> Iterator[tuple[Any, Any]]:
    with instance(postgres_url) as a, instance(postgres_url) as b:
        yield a, b


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment, one thread each (each instance's client in its own thread)."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def within(seconds: float, check: Callable[[], bool]) -> float:
    """How long until `check()` held (asserting it did within `seconds`)."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < seconds, f"not within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - began


def test_a_duplicate_create_sent_to_both_makes_one_payment_one_webhook_and_one_answer(pair, receiver) -> None:
    a, b = pair
    for n in range(8):
        body = payment_body(f"dup-{n}", receiver.url("/hook"))
        answers = together(
            lambda c=a, body=body: c.post("/api/v2/payments", json=body),
            lambda c=b, body=body: c.post("/api/v2/payments", json=body),
        )
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        assert answers[0].json() == answers[1].json()  # the loser answers what the winner got
        assert answers[0].json()["status"] == "PAYMENT_COMPLETED"
    receiver.wait_for(8)
    time.sleep(0.3)  # a second webhook of any of them would have come by now
    assert sorted(h.webhook_id for h in receiver.received) == sorted(f"evt_completed_dup-{n}" for n in range(8))
    assert a.get("/api/v2/pending-payments").json()["total"] == 8 == b.get("/api/v2/pending-payments").json()["total"]


def test_a_repeat_on_the_other_instance_waits_for_the_first_attempt_and_answers_the_same(pair, receiver) -> None:
    a, b = pair
    receiver.status_for_path["/refuse"] = 503
    body = payment_body("rep-1", receiver.url("/refuse"))
    first = a.post("/api/v2/payments", json=body).json()
    assert first["status"] == "PENDING"  # refused: retried in the background
    assert b.post("/api/v2/payments", json=body).json() == first
    body = payment_body("rep-2", receiver.url("/hook"))
    assert a.post("/api/v2/payments", json=body).json() == b.post("/api/v2/payments", json=body).json()
    # another request under a taken tx_id is still a 409 on either instance
    other = {**body, "amount": 1}
    assert (
        a.post("/api/v2/payments", json=other).status_code == 409 == b.post("/api/v2/payments", json=other).status_code
    )


def test_confirms_racing_on_both_complete_the_payment_once(pair, receiver) -> None:
    """One completion, one delivery: a confirm that loses the race answers the winner's completion and
    sends nothing of its own. (A confirm that comes after the other's delivery exists resends it, as
    any later confirm does by design: a manual attempt of that one delivery, never a second event.)"""
    a, b = pair
    attempts = 0
    for n in range(5):
        tx = f"conf-{n}"
        made = a.post(
            "/api/v2/payments",
            json=payment_body(tx, receiver.url("/hook")),
            headers={"X-Mock-Scenario": "manual-confirm"},
        )
        assert made.json()["status"] == "PENDING"
        answers = together(
            lambda c=a, tx=tx: c.post("/api/v2/confirm-payment", json={"payment_id": f"pay_{tx}"}),
            lambda c=b, tx=tx: c.post("/api/v2/confirm-payment", json={"payment_id": f"pay_{tx}"}),
        )
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        assert answers[0].json() == answers[1].json()  # one completion: the same confirmed_at
        assert answers[0].json()["status"] == "PAYMENT_COMPLETED"
        detail = b.get(f"/mock/v1/payments/pay_{tx}").json()
        (delivery,) = detail["deliveries"]
        assert delivery["state"] == "acknowledged"
        kinds = [x["kind"] for x in delivery["attempts"]]
        assert kinds.count("scheduled") == 1 and set(kinds) <= {"scheduled", "manual"}, kinds
        attempts += len(kinds)
    time.sleep(0.3)
    hooks = receiver.for_path("/hook")
    assert len(hooks) == attempts  # every webhook sent is an attempt of the one delivery, recorded
    assert {h.webhook_id for h in hooks} == {f"evt_completed_conf-{n}" for n in range(5)}
    assert all(h.answered == 200 for h in hooks)


def test_a_confirm_on_one_racing_the_others_retry_completes_the_payment_once(pair, receiver) -> None:
    a, b = pair
    retrying_scenario(a, "soon", 300_000)  # retries in 0.3 s
    refused_payment(a, receiver, "race-1", "soon", path="/race")
    out, answer = threading.Event(), threading.Event()

    def held(_hook: Any) -> int:
        out.set()
        answer.wait(10)
        return 200

    receiver.respond = held
    del receiver.status_for_path["/race"]
    assert out.wait(10)  # a's retry is out: the confirm on b comes before its answer does
    try:
        confirmed = b.post("/api/v2/confirm-payment", json={"payment_id": "pay_race-1"}).json()
    finally:
        answer.set()
    assert confirmed["status"] == "PAYMENT_COMPLETED"
    waited = wait_for_delivery(a, tx_id="race-1", state="acknowledged")
    assert waited.status_code == 200, waited.text
    time.sleep(0.5)  # a's retry, acknowledged, has completed the payment too if it came second
    for c in (a, b):  # one completion: the time the confirm answered is the one stored, seen from both
        payment = c.get("/mock/v1/payments/pay_race-1").json()["payment"]
        assert payment["status"] == "PAYMENT_COMPLETED" and payment["confirmed_at"] == confirmed["confirmed_at"]
    assert {h.webhook_id for h in receiver.for_path("/race")} == {"evt_completed_race-1"}


def test_a_session_made_on_one_is_usable_on_the_other_at_once_and_its_claims_within_a_second(pair, receiver) -> None:
    a, b = pair
    made = a.post("/mock/v1/sessions", json={"label": "shared", "claims": {"tx_id_prefix": "sh-"}}).json()
    sid = made["session_id"]
    assert b.get(f"/mock/v1/sessions/{sid}").json()["label"] == "shared"  # named: read through at once
    waited = within(
        FOLLOW_S, lambda: any(s["session_id"] == sid for s in b.get("/mock/v1/sessions").json()["sessions"])
    )
    print(f"session listed on the other instance after {waited * 1000:.0f} ms")
    created = b.post("/api/v2/payments", json=payment_body("sh-1", receiver.url("/hook")))  # routed by its claim
    assert created.status_code == 200
    assert a.get("/mock/v1/payments/pay_sh-1", headers={S: sid}).status_code == 200
    assert a.get("/api/v2/pending-payments").json()["total"] == 0  # not the global session's
    # ended on b: gone on a too (its claim with it)
    assert b.delete(f"/mock/v1/sessions/{sid}").status_code == 200
    within(FOLLOW_S, lambda: a.get(f"/mock/v1/sessions/{sid}").status_code == 404)
    a.post("/api/v2/payments", json=payment_body("sh-2", receiver.url("/hook")))
    assert a.get("/api/v2/pending-payments").json()["total"] == 1  # global now


def test_scenarios_and_the_active_scenario_set_on_one_are_in_force_on_the_other_within_a_second(pair, receiver) -> None:
    a, b = pair
    assert a.put("/mock/v1/active-scenario", json={"name": "declined"}).status_code == 200
    waited = within(FOLLOW_S, lambda: b.get("/mock/v1/active-scenario").json()["name"] == "declined")
    print(f"active scenario in force on the other instance after {waited * 1000:.0f} ms")
    assert (
        b.post("/api/v2/payments", json=payment_body("act-1", receiver.url("/hook"))).json()["status"]
        == "PAYMENT_FAILED"
    )
    pending = {"description": "stays pending", "payment": {"outcome": "pending"}}
    sid = b.post("/mock/v1/sessions", json={}).json()["session_id"]
    assert b.put("/mock/v1/scenarios/mine", json=pending, headers={S: sid}).status_code == 201
    assert b.put("/mock/v1/active-scenario", json={"name": "mine"}, headers={S: sid}).status_code == 200
    within(FOLLOW_S, lambda: a.get("/mock/v1/active-scenario", headers={S: sid}).json()["name"] == "mine")
    made = a.post("/api/v2/payments", json=payment_body("act-2", receiver.url("/hook")), headers={S: sid})
    assert made.json()["status"] == "PENDING"
    # a global reset on a forgets the global run-time state on b too
    assert a.post("/mock/v1/reset").status_code == 200
    within(FOLLOW_S, lambda: b.get("/mock/v1/active-scenario").json()["name"] == "default")
    assert b.get(f"/mock/v1/sessions/{sid}").status_code == 404


def test_an_api_fault_with_times_is_counted_across_both(pair) -> None:
    a, b = pair
    flaky = {"description": "fails thrice", "api": {"error_status": 503, "operations": ["listing"], "times": 3}}
    assert a.put("/mock/v1/scenarios/flaky", json=flaky).status_code == 201
    header = {"X-Mock-Scenario": "flaky"}
    within(FOLLOW_S, lambda: b.get("/mock/v1/scenarios/flaky").status_code == 200)
    codes = [c.get("/api/v2/pending-payments", headers=header).status_code for c in (a, b, a, b, a)]
    assert codes == [503, 503, 503, 200, 200]
    # put again (on b): its count starts again, on both
    assert b.put("/mock/v1/scenarios/flaky", json=flaky).status_code == 200
    assert a.get("/api/v2/pending-payments", headers=header).status_code == 503


def test_a_reset_on_one_stops_the_others_retries(pair, receiver) -> None:
    a, b = pair
    retrying_scenario(a, "often", 50_000, retries=50)  # retries every 50 ms
    refused_payment(a, receiver, "rst-1", "often", path="/refuse")
    receiver.wait_for(3, path="/refuse")
    seen = len(receiver.for_path("/refuse"))
    assert b.post("/mock/v1/reset").json()["payments_removed"] == 1
    # that no retry comes has no event to wait for: a window of some eighteen retries' worth. It cannot fail
    # spuriously (a slow machine only sends fewer); the one attempt that may have been out at the reset
    # (one delivery: one attempt at a time) may still land
    time.sleep(0.9)
    assert len(receiver.for_path("/refuse")) <= seen + 1


def test_a_wait_on_one_sees_what_the_other_delivers(pair, receiver) -> None:
    a, b = pair
    retrying_scenario(a, "soon", 500_000)  # retries in 0.5 s
    refused_payment(a, receiver, "wait-1", "soon", path="/later")
    del receiver.status_for_path["/later"]  # a's retry in 0.5 s is acknowledged
    began = time.monotonic()
    waited = b.get(
        "/mock/v1/wait-for-delivery", params={"tx_id": "wait-1", "state": "acknowledged", "timeout_ms": 2000}
    )
    assert waited.status_code == 200 and waited.json()["state"] == "acknowledged"
    assert time.monotonic() - began < 1.5  # not at the wait's own timeout: b read what a stored


def test_a_session_kept_in_use_on_one_is_not_ended_as_idle_by_the_other(postgres_url: str) -> None:
    clock_a, clock_b = SteppedClock(), SteppedClock()
    with instance(postgres_url, clock_a) as a, instance(postgres_url, clock_b) as b:
        sid = a.post("/mock/v1/sessions", json={"idle_timeout_s": 5}).json()["session_id"]
        assert b.get(f"/mock/v1/sessions/{sid}").status_code == 200
        for _ in range(3):
            time.sleep(0.3)  # a has followed everything so far
            for _ in range(2):  # 6 s without a call on a, past its 5 s; but used on b every 3 s
                clock_a.offset += 3
                clock_b.offset += 3
                assert b.get(f"/mock/v1/sessions/{sid}").status_code == 200  # renewed (and stored) on b
            # at once, before a's refresher has most likely followed b's last renewal: a re-reads the
            # session's record before ending it as idle
            assert a.get(f"/mock/v1/sessions/{sid}").status_code == 200
        clock_a.offset += 6
        clock_b.offset += 6
        assert a.get(f"/mock/v1/sessions/{sid}").status_code == 404  # idle on both now: ended
        assert b.get(f"/mock/v1/sessions/{sid}").status_code == 404


def test_a_retry_handed_back_by_a_stopped_instance_is_sent_by_the_other_at_its_time(
    postgres_url: str, receiver: WebhookReceiver
) -> None:
    """A graceful stop hands its leases back: the other takes the retry over at its next sweep, and sends it
    on its schedule (not before its time, nor a lease after it). A lease that runs out: the killed test below."""
    import psycopg

    def owner() -> str | None:
        with psycopg.connect(postgres_url) as conn:
            return conn.execute("SELECT lease_owner FROM deliveries").fetchone()[0]  # type: ignore[index]

    clock_b = SteppedClock()
    with instance(postgres_url, clock_b) as b:
        with instance(postgres_url) as a:
            retrying_scenario(a, "later", 60_000_000)  # retries in a minute
            refused_payment(a, receiver, "left-1", "later")
            a_owner = owner()
        # a stopped gracefully with its retry a minute away, and handed that lease back
        del receiver.status_for_path["/down"]
        within(FOLLOW_S, lambda: owner() not in (None, a_owner))  # b's next sweep took it over
        assert len(receiver.for_path("/down")) == 1  # ... and keeps its schedule: nothing before its time
        clock_b.offset += 61  # past the retry's time, inside the lease b took (which runs from that time)
        # b's timer sleeps in real time until something is planned: a retry of another payment wakes it
        receiver.status_for_path["/wake"] = 503
        assert b.post("/api/v2/payments", json=payment_body("wake-1", receiver.url("/wake"))).status_code == 200
        (first, second) = receiver.wait_for(2, path="/down")
        assert first.webhook_id == second.webhook_id == "evt_completed_left-1"
        assert (first.answered, second.answered) == (503, 200)
        detail = b.get("/mock/v1/payments/pay_left-1").json()
        assert detail["payment"]["status"] == "PAYMENT_COMPLETED"
        assert [x["status_code"] for x in detail["deliveries"][0]["attempts"]] == [503, 200]


def test_a_retry_of_an_instance_killed_is_sent_by_the_other_once_its_lease_runs_out(
    postgres_url: str, receiver: WebhookReceiver
) -> None:
    """No graceful stop: a `paymock serve` SIGKILLed hands nothing back, its lease stays in the store, and
    the other takes the retry over only when that lease has run out, with the same webhook-id."""
    import psycopg

    a = ServerProcess(env={**SERVER_ENV, "PAYMOCK_STORE": postgres_url}).wait_ready()
    try:
        with httpx.Client(base_url=a.base_url, timeout=10) as http:
            retrying_scenario(http, "later", 60_000_000)  # retries in a minute
            refused_payment(http, receiver, "killed-1", "later", path="/killed")
    finally:
        a.process.kill()  # SIGKILL: no hand-back of its leases
        a.process.wait(10)
    with psycopg.connect(postgres_url) as conn:
        lease = conn.execute("SELECT lease_owner, lease_until, next_attempt_at FROM deliveries").fetchall()
    ((owner, lease_until, due),) = lease
    assert owner is not None and lease_until > due > time.time()  # a's, and past the retry's time
    del receiver.status_for_path["/killed"]
    clock_b = SteppedClock()
    with instance(postgres_url, clock_b) as b:
        clock_b.offset = lease_until - time.time() + 1  # past the retry's time and the dead one's lease
        (first, second) = receiver.wait_for(2, timeout=15.0, path="/killed")
        assert first.webhook_id == second.webhook_id == "evt_completed_killed-1"
        assert (first.answered, second.answered) == (503, 200)
        waited = wait_for_delivery(b, tx_id="killed-1", state="acknowledged")
        assert waited.status_code == 200, waited.text
        detail = b.get("/mock/v1/payments/pay_killed-1").json()
        assert detail["payment"]["status"] == "PAYMENT_COMPLETED"
        assert [x["status_code"] for x in detail["deliveries"][0]["attempts"]] == [503, 200]


def test_a_first_attempt_out_longer_than_the_lease_time_is_not_sent_by_the_other_too(
    postgres_url: str, receiver: WebhookReceiver
) -> None:
    """The lease a create writes is the claim of its inline first attempt: it lasts as long as that attempt
    may (the webhook timeout), not only the store's lease time, or the other's sweeper sends it meanwhile."""
    arrived, answer = threading.Event(), threading.Event()
    calls: list[str | None] = []

    def slow(hook: Any) -> int:
        calls.append(hook.webhook_id)
        arrived.set()
        answer.wait(30)
        return 200

    receiver.respond = slow
    clock_b = SteppedClock()
    patient = settings(store=postgres_url, webhook_timeout_s=30.0)
    with create_app(patient).test_client() as a, create_app(patient, clock=clock_b).test_client() as b:
        with ThreadPoolExecutor(1) as pool:
            made = pool.submit(a.post, "/api/v2/payments", json=payment_body("long-1", receiver.url("/slow")))
            assert arrived.wait(10)
            clock_b.offset += 15  # past the store's lease time (10 s), well inside a's attempt (30 s)
            time.sleep(1.5)  # three sweeps of b
            answer.set()
            assert made.result(30).json()["status"] == "PAYMENT_COMPLETED"
        assert b.get("/mock/v1/payments/pay_long-1").json()["payment"]["status"] == "PAYMENT_COMPLETED"
    assert calls == ["evt_completed_long-1"]


def test_a_graceful_stop_hands_its_pending_deliveries_to_the_other_at_once(
    postgres_url: str, receiver: WebhookReceiver
) -> None:
    """A stopping instance releases the leases of what it still had to retry: the other takes those over at
    its next sweep, on their schedule, instead of a lease (10 s or more) past their due time."""
    with instance(postgres_url) as b:
        with instance(postgres_url) as a:
            retrying_scenario(a, "soon", 1_000_000)  # retries in 1 s
            for n in range(3):
                refused_payment(a, receiver, f"stop-{n}", "soon", path="/stop")
        stopped = time.monotonic()  # a stopped gracefully with three retries due in about a second
        del receiver.status_for_path["/stop"]
        delivered = receiver.wait_for(6, timeout=15.0, path="/stop")
        took = time.monotonic() - stopped
        print(f"the other instance delivered the stopped one's retries {took * 1000:.0f} ms after its stop")
        assert took < 3.0  # due in ~1 s, swept within 0.5 s; not a 10 s lease later
        ids = [h.webhook_id for h in delivered]
        assert sorted(ids) == sorted(f"evt_completed_stop-{n}" for n in range(3) for _ in range(2))
        assert sorted(h.answered for h in delivered) == [200] * 3 + [503] * 3
        for n in range(3):
            waited = wait_for_delivery(b, tx_id=f"stop-{n}", state="acknowledged")
            assert waited.status_code == 200, waited.text
            assert b.get(f"/mock/v1/payments/pay_stop-{n}").json()["payment"]["status"] == "PAYMENT_COMPLETED"


def test_overlapping_claims_raced_on_both_are_given_to_one_session(pair) -> None:
    """Claims are checked against every instance's sessions, in the database: of two creates (or claim
    changes) racing with overlapping claims, exactly one succeeds; the other is a 409 naming its owner."""
    a, b = pair
    overlaps = [
        ({"tx_id_prefix": "ovl-"}, {"tx_id_prefix": "ovl-x"}),
        ({"order_ids": [41, 42]}, {"order_ids": [42]}),
        ({"user_ids": [51]}, {"user_ids": [52, 51]}),
    ]
    for mine, theirs in overlaps * 2:
        answers = together(
            lambda mine=mine: a.post("/mock/v1/sessions", json={"label": "on a", "claims": mine}),
            lambda theirs=theirs: b.post("/mock/v1/sessions", json={"label": "on b", "claims": theirs}),
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 409], [r.text for r in answers]
        (won,) = [r.json() for r in answers if r.status_code == 201]
        (lost,) = [r.json() for r in answers if r.status_code == 409]
        assert won["session_id"] in lost["detail"] and won["label"] in lost["detail"], lost
        maker = a if won["label"] == "on a" else b
        assert maker.delete(f"/mock/v1/sessions/{won['session_id']}").status_code == 200
    # and two live sessions, one on each, changing their claims to overlapping ones at once
    one = a.post("/mock/v1/sessions", json={"label": "one"}).json()["session_id"]
    two = b.post("/mock/v1/sessions", json={"label": "two"}).json()["session_id"]
    for n in range(4):
        answers = together(
            lambda n=n: a.put(f"/mock/v1/sessions/{one}/claims", json={"order_ids": [100 + n]}),
            lambda n=n: b.put(f"/mock/v1/sessions/{two}/claims", json={"order_ids": [100 + n]}),
        )
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        won = next(r.json() for r in answers if r.status_code == 200)
        lost = next(r.json() for r in answers if r.status_code == 409)
        assert won["session_id"] in lost["detail"]
        for c, sid in ((a, one), (b, two)):  # free both again
            assert c.put(f"/mock/v1/sessions/{sid}/claims", json={}).status_code == 200


def test_the_live_session_cap_counts_every_instances_sessions_even_when_the_last_place_is_raced(pair) -> None:
    """The cap on live sessions is the server's, not each process's: with one place left, two creates
    racing on both instances make one session and one 429, and once full, neither instance opens more."""
    from paymock.domain.limits import MAX_SESSIONS

    a, b = pair
    for n in range(MAX_SESSIONS - 1):
        assert (a if n % 2 else b).post("/mock/v1/sessions", json={}).status_code == 201
    within(FOLLOW_S, lambda: all(c.get("/mock/v1/sessions").json()["total"] == MAX_SESSIONS - 1 for c in (a, b)))
    answers = together(lambda: a.post("/mock/v1/sessions", json={}), lambda: b.post("/mock/v1/sessions", json={}))
    assert sorted(r.status_code for r in answers) == [201, 429], [r.text for r in answers]
    (refused,) = [r for r in answers if r.status_code == 429]
    assert f"{MAX_SESSIONS} live sessions" in refused.json()["detail"]
    for c in (a, b):
        assert c.post("/mock/v1/sessions", json={}).status_code == 429
    within(FOLLOW_S, lambda: all(c.get("/mock/v1/sessions").json()["total"] == MAX_SESSIONS for c in (a, b)))


def test_an_attempt_in_flight_across_a_reset_on_the_other_writes_nothing_onto_the_new_payment(pair, receiver) -> None:
    """Tests reuse tx_ids right after a reset: an attempt that was out on one instance when the other reset
    must not acknowledge (nor complete) the new payment of the same tx_id when its answer comes back."""
    a, b = pair
    out, answer = threading.Event(), threading.Event()

    def held(_hook: Any) -> int:
        out.set()
        answer.wait(5)
        return 200

    receiver.respond = held
    body = payment_body("inc-1", receiver.url("/held"))
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(a.post, "/api/v2/payments", json=body)
        assert out.wait(5)  # a's first attempt is out, waiting for its answer
        assert b.post("/mock/v1/reset").status_code == 200
        again = b.post("/api/v2/payments", json=body, headers={"X-Mock-Scenario": "manual-confirm"})
        assert again.status_code == 200 and again.json()["status"] == "PENDING"
        answer.set()
        assert first.result(10).status_code == 200
    for c in (a, b):
        detail = c.get("/mock/v1/payments/pay_inc-1").json()
        assert detail["payment"]["status"] == "PENDING" and detail["payment"]["scenario"] == "manual-confirm"
        assert detail["deliveries"] == []


def test_a_session_made_on_one_can_be_ended_on_the_other_at_once(pair, receiver) -> None:
    """Behind a load balancer the DELETE may reach the other instance before it followed the create."""
    a, b = pair
    for n in range(3):
        sid = a.post("/mock/v1/sessions", json={"claims": {"tx_id_prefix": f"end{n}-"}}).json()["session_id"]
        assert a.post("/api/v2/payments", json=payment_body(f"end{n}-1", receiver.url("/hook")), headers={S: sid})
        ended = b.delete(f"/mock/v1/sessions/{sid}")
        assert ended.status_code == 200, ended.text
        assert ended.json()["payments_removed"] == 1
        within(FOLLOW_S, lambda sid=sid: a.get(f"/mock/v1/sessions/{sid}").status_code == 404)


def test_a_renewal_on_one_neither_undoes_a_change_made_on_the_other_nor_brings_an_ended_session_back(
    postgres_url: str,
) -> None:
    """A call renews its session (a write at most once a second): on a shared store it moves the stored
    record's last use only, not this instance's whole view of the session, which may predate a change the
    other made a moment ago and this one has not followed yet."""
    clock_a, clock_b = SteppedClock(), SteppedClock()
    loose_s = 5.0  # what is followed shows well within this even on a busy machine; a change undone never does
    with instance(postgres_url, clock_a) as a, instance(postgres_url, clock_b) as b:
        sid = a.post("/mock/v1/sessions", json={}).json()["session_id"]
        assert b.get(f"/mock/v1/sessions/{sid}").status_code == 200
        for n in range(3):
            within(loose_s, lambda: a.get("/mock/v1/scenarios", headers={S: sid}).status_code == 200)
            clock_a.offset += 2
            clock_b.offset += 2  # a renewal is due on each
            doc = {"description": f"number {n}"}
            assert b.put(f"/mock/v1/scenarios/s{n}", json=doc, headers={S: sid}).status_code == 201
            a.get("/mock/v1/active-scenario", headers={S: sid})  # at once: a renews it
            within(loose_s, lambda n=n: a.get(f"/mock/v1/scenarios/s{n}", headers={S: sid}).status_code == 200)
            assert b.get(f"/mock/v1/scenarios/s{n}", headers={S: sid}).status_code == 200
        clock_a.offset += 2
        clock_b.offset += 2
        assert b.delete(f"/mock/v1/sessions/{sid}").status_code == 200
        a.get("/mock/v1/active-scenario", headers={S: sid})  # at once: a renews what it has not seen end
        within(loose_s, lambda: a.get(f"/mock/v1/sessions/{sid}").status_code == 404)
        assert b.get(f"/mock/v1/sessions/{sid}").status_code == 404


def test_scenario_changes_sent_one_after_another_to_alternate_instances_are_all_kept(pair) -> None:
    """As a load balancer sends a test's setup calls, round robin: each instance changes the book as the store
    has it, not its own copy of it, which misses what the other changed a moment ago (not followed yet)."""
    a, b = pair
    sid = a.post("/mock/v1/sessions", json={}).json()["session_id"]
    for headers in ({S: sid}, {}):
        for n, c in enumerate((a, b, a, b)):
            doc = {"description": f"number {n}"}
            assert c.put(f"/mock/v1/scenarios/s{n}", json=doc, headers=headers).status_code == 201
        assert b.put("/mock/v1/active-scenario", json={"name": "s0"}, headers=headers).status_code == 200
        assert a.delete("/mock/v1/scenarios/s3", headers=headers).status_code == 204
        for c in (a, b):  # reads follow within the refresher's round: a loose bound, as nothing is undone

            def kept(c: Any = c, headers: dict[str, str] = headers) -> bool:
                listed = c.get("/mock/v1/scenarios", headers=headers).json()
                runtime = sorted(x["name"] for x in listed["scenarios"] if x["source"] == "runtime")
                return runtime == ["s0", "s1", "s2"] and listed["active"] == "s0"

            within(5.0, kept)


def test_claims_set_on_one_keep_the_scenarios_the_other_put_a_moment_before(pair) -> None:
    a, b = pair
    sid = a.post("/mock/v1/sessions", json={}).json()["session_id"]
    assert b.get(f"/mock/v1/sessions/{sid}").status_code == 200
    assert a.put("/mock/v1/scenarios/mine", json={"description": "kept"}, headers={S: sid}).status_code == 201
    claimed = b.put(f"/mock/v1/sessions/{sid}/claims", json={"tx_id_prefix": "mine-"})  # at once, on the other
    assert claimed.status_code == 200, claimed.text
    for c in (a, b):
        within(5.0, lambda c=c: c.get("/mock/v1/scenarios/mine", headers={S: sid}).status_code == 200)
        within(5.0, lambda c=c: c.get(f"/mock/v1/sessions/{sid}").json()["claims"]["tx_id_prefix"] == "mine-")


def test_a_busy_instance_claims_only_what_it_has_free_slots_for(postgres_url: str, receiver: WebhookReceiver) -> None:
    """The sweeper claims what it can start: with its slots taken by slow attempts, the rest of a backlog
    stays unclaimed (for the others), rather than leased here and left waiting until the lease runs out."""
    import psycopg

    out, answer = threading.Semaphore(0), threading.Event()

    def held(_hook: Any) -> int:
        out.release()
        answer.wait(30)
        return 200

    narrow = settings(store=postgres_url, max_in_flight=2, webhook_timeout_s=30.0)
    try:
        with create_app(narrow).test_client() as b:
            with instance(postgres_url) as a:
                retrying_scenario(a, "soon", 1_000_000)  # retries in 1 s
                for n in range(6):
                    refused_payment(a, receiver, f"busy-{n}", "soon", path="/busy")
            # a stopped, handing back six retries due in about a second: b has two slots for them
            receiver.respond = held
            del receiver.status_for_path["/busy"]
            assert out.acquire(timeout=15) and out.acquire(timeout=15)  # b's two attempts are out, held
            # what must not happen has no event to wait for: three sweeps of b, each of which claimed two more
            time.sleep(1.5)
            with psycopg.connect(postgres_url) as conn:
                leased = conn.execute(
                    "SELECT count(*) FROM deliveries WHERE state = 'pending' "
                    "AND lease_until > extract(epoch FROM clock_timestamp())"
                ).fetchone()
            assert leased == (2,)  # the two out; the other four unclaimed, free for another instance
            answer.set()
            for n in range(6):
                waited = wait_for_delivery(b, tx_id=f"busy-{n}", state="acknowledged")
                assert waited.status_code == 200, waited.text
                attempts = b.get(f"/mock/v1/payments/pay_busy-{n}").json()["deliveries"][0]["attempts"]
                assert [x["status_code"] for x in attempts] == [503, 200]
    finally:
        answer.set()
