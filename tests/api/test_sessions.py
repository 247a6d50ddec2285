"""Control API, sessions tag: create, list, read, claim, end; and every scoped operation seen from a session."""

from __future__ import annotations

import re
import time

from paymock.app import create_app
from tests.conftest import SteppedClock, payment_body, refused_payment, retrying_scenario, settings

S = "X-Mock-Session"


def _open(client, **body):
    answer = client.post("/mock/v1/sessions", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_create_read_list_end(client):
    session = _open(client, label="worker gw1", claims={"user_ids": [7]}, idle_timeout_s=60)
    assert re.fullmatch(r"ses_[A-Za-z0-9_-]{22}", session["session_id"])
    assert session["label"] == "worker gw1" and session["idle_timeout_s"] == 60
    assert session["claims"] == {"tx_id_prefix": None, "order_ids": [], "user_ids": [7]}
    assert session["payments"] == 0 and session["deliveries"] == 0
    sid = session["session_id"]
    assert client.get(f"/mock/v1/sessions/{sid}").json()["session_id"] == sid
    listing = client.get("/mock/v1/sessions").json()
    assert listing["total"] == 1 and [s["session_id"] for s in listing["sessions"]] == [sid]
    ended = client.delete(f"/mock/v1/sessions/{sid}").json()
    assert ended == {"session_id": sid, "payments_removed": 0, "deliveries_removed": 0}
    gone = client.get(f"/mock/v1/sessions/{sid}")
    assert gone.status_code == 404 and gone.json()["type"].endswith("session-not-found")
    assert "unknown or expired session" in gone.json()["detail"]
    assert client.get("/mock/v1/sessions").json()["total"] == 0


def test_unknown_session_header_is_a_404_problem(client, receiver):
    fake = "ses_" + "A" * 22
    for answer in (
        client.post("/api/v2/payments", json=payment_body("t1", receiver.url("/")), headers={S: fake}),
        client.get("/api/v2/pending-payments", headers={S: fake}),
        client.get("/mock/v1/active-scenario", headers={S: fake}),
        client.post("/mock/v1/reset", headers={S: fake}),
        client.get("/mock/v1/deliveries", params={"session": "all"}, headers={S: fake}),  # `all` too
        # filters that can match nothing are answered only after the session is known
        client.get("/mock/v1/deliveries", params={"payment_id": "pay_a", "tx_id": "b"}, headers={S: fake}),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert fake in answer.json()["detail"]
    assert client.get("/api/v2/pending-payments").json()["total"] == 0  # nothing was created anywhere


def test_each_session_has_its_own_scenarios_listing_and_reset(client, receiver):
    a = _open(client, label="a")["session_id"]
    b = _open(client, label="b")["session_id"]
    assert client.put("/mock/v1/active-scenario", json={"name": "declined"}, headers={S: a}).status_code == 200
    assert client.get("/mock/v1/active-scenario", headers={S: b}).json()["name"] == "default"
    assert client.get("/mock/v1/active-scenario").json()["name"] == "default"
    made_a = client.post("/api/v2/payments", json=payment_body("ta", receiver.url("/a")), headers={S: a}).json()
    made_b = client.post("/api/v2/payments", json=payment_body("tb", receiver.url("/b")), headers={S: b}).json()
    made_g = client.post("/api/v2/payments", json=payment_body("tg", receiver.url("/g"))).json()
    assert made_a["status"] == "PAYMENT_FAILED"
    assert made_b["status"] == made_g["status"] == "PAYMENT_COMPLETED"

    def listed(headers):
        return sorted(client.get("/api/v2/pending-payments", headers=headers).json()["payments"])

    assert listed({S: a}) == ["pay_ta"] and listed({S: b}) == ["pay_tb"] and listed({}) == ["pay_tg"]
    # another session's payment and delivery are not there, seen from here
    assert client.get("/mock/v1/payments/pay_tb", headers={S: a}).status_code == 404
    assert client.get("/mock/v1/deliveries/evt_completed_tb", headers={S: a}).status_code == 404
    assert client.get("/mock/v1/payments/pay_ta", headers={S: a}).json()["payment"]["session_id"] == a
    assert [d["tx_id"] for d in client.get("/mock/v1/deliveries", headers={S: b}).json()["deliveries"]] == ["tb"]
    everything = client.get("/mock/v1/deliveries", params={"session": "all"}).json()
    assert {(d["tx_id"], d["session_id"]) for d in everything["deliveries"]} == {("ta", a), ("tb", b), ("tg", None)}
    # a session's reset is its own
    reset = client.post("/mock/v1/reset", headers={S: a}).json()
    assert reset["payments_removed"] == 1 and reset["deliveries_removed"] == 1
    assert client.get("/mock/v1/active-scenario", headers={S: a}).json()["name"] == "default"
    assert listed({S: a}) == [] and listed({S: b}) == ["pay_tb"] and listed({}) == ["pay_tg"]


def test_runtime_scenarios_are_per_session_and_fixtures_are_everywhere(client):
    a = _open(client)["session_id"]
    doc = {"description": "only in a", "payment": {"outcome": "pending"}}
    assert client.put("/mock/v1/scenarios/mine", json=doc, headers={S: a}).status_code == 201
    names_a = {s["name"] for s in client.get("/mock/v1/scenarios", headers={S: a}).json()["scenarios"]}
    names_g = {s["name"] for s in client.get("/mock/v1/scenarios").json()["scenarios"]}
    assert "mine" in names_a and "mine" not in names_g
    assert {"default", "declined"} <= names_g <= names_a
    assert client.get("/mock/v1/scenarios/mine").status_code == 404


def test_claims_route_headerless_creates_and_confirms(client, receiver):
    a = _open(client, claims={"tx_id_prefix": "gw1-", "user_ids": [42]})["session_id"]
    b = _open(client, claims={"tx_id_prefix": "gw2-", "order_ids": [9]})["session_id"]
    client.put("/mock/v1/active-scenario", json={"name": "manual-confirm"}, headers={S: a})
    for tx_id, extra in (("gw1-x", {}), ("gw2-y", {}), ("plain", {"user_id": 42}), ("plain2", {"order_id": 9})):
        assert client.post("/api/v2/payments", json=payment_body(tx_id, receiver.url("/"), **extra)).status_code == 200
    owners = {
        p: client.get(f"/mock/v1/payments/{p}", headers={S: sid}).status_code
        for p, sid in (("pay_gw1-x", a), ("pay_gw2-y", b), ("pay_plain", a), ("pay_plain2", b))
    }
    assert set(owners.values()) == {200}, owners
    # a header-less confirm acts in the payment's own session
    confirmed = client.post("/api/v2/confirm-payment", json={"payment_id": "pay_gw1-x"})
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "PAYMENT_COMPLETED"
    # confirming another session's payment from a session: not there
    other = client.post("/api/v2/confirm-payment", json={"payment_id": "pay_plain2"}, headers={S: a})
    assert other.status_code == 404


def test_a_headerless_confirm_reaches_a_session_payment_only_through_its_claims(client, receiver):
    a = _open(client, claims={"user_ids": [42]})["session_id"]
    client.put("/mock/v1/active-scenario", json={"name": "manual-confirm"}, headers={S: a})
    client.put("/mock/v1/active-scenario", json={"name": "manual-confirm"})
    named = payment_body("named-1", receiver.url("/named"))  # user 1: made by naming the session, unclaimed
    assert client.post("/api/v2/payments", json=named, headers={S: a}).json()["status"] == "PENDING"
    for tx_id in ("claimed-1", "claimed-2"):  # user 42: the session's by its claim, no header
        made = client.post("/api/v2/payments", json=payment_body(tx_id, receiver.url("/claimed"), user_id=42))
        assert made.json()["status"] == "PENDING"
    # from the global session (no header, no claim of its data): not there, and nothing changes
    gone = client.post("/api/v2/confirm-payment", json={"payment_id": "pay_named-1"})
    assert gone.status_code == 404, gone.text
    detail = client.get("/mock/v1/payments/pay_named-1", headers={S: a}).json()
    assert detail["payment"]["status"] == "PENDING" and detail["deliveries"] == []
    # a claimed one is the session's for a header-less caller (an ops server)
    assert client.post("/api/v2/confirm-payment", json={"payment_id": "pay_claimed-1"}).status_code == 200
    # once the session gives up the claim, only the header reaches the other
    assert client.put(f"/mock/v1/sessions/{a}/claims", json={}).status_code == 200
    assert client.post("/api/v2/confirm-payment", json={"payment_id": "pay_claimed-2"}).status_code == 404
    assert (
        client.post("/api/v2/confirm-payment", json={"payment_id": "pay_claimed-2"}, headers={S: a}).status_code == 200
    )


def test_overlapping_claims_are_a_409_naming_the_owner(client):
    a = _open(client, label="owner-a", claims={"tx_id_prefix": "t1-", "order_ids": [5], "user_ids": [6]})
    for claims in ({"order_ids": [5]}, {"user_ids": [1, 6]}, {"tx_id_prefix": "t1-x"}, {"tx_id_prefix": "t"}):
        answer = client.post("/mock/v1/sessions", json={"claims": claims})
        assert answer.status_code == 409, claims
        assert a["session_id"] in answer.json()["detail"] and "owner-a" in answer.json()["detail"]
    b = _open(client, claims={"tx_id_prefix": "t2-"})["session_id"]
    clash = client.put(f"/mock/v1/sessions/{b}/claims", json={"order_ids": [5]})
    assert clash.status_code == 409
    assert client.get(f"/mock/v1/sessions/{b}").json()["claims"]["tx_id_prefix"] == "t2-"  # unchanged
    moved = client.put(f"/mock/v1/sessions/{b}/claims", json={"order_ids": [8]}).json()
    assert moved["claims"] == {"tx_id_prefix": None, "order_ids": [8], "user_ids": []}
    assert client.get("/mock/v1/sessions").json()["total"] == 2  # the refused ones were never created


def test_a_tx_id_of_another_session_is_a_409_without_its_data(client, receiver):
    a = _open(client)["session_id"]
    client.post("/api/v2/payments", json=payment_body("shared", receiver.url("/")), headers={S: a})
    again = client.post("/api/v2/payments", json=payment_body("shared", receiver.url("/")))
    assert again.status_code == 409 and "another session" in again.json()["detail"]
    assert "pay_" not in again.text.replace("pay_shared", "")  # nothing of the stored payment
    # the same session repeating it is idempotent as ever
    same = client.post("/api/v2/payments", json=payment_body("shared", receiver.url("/")), headers={S: a})
    assert same.status_code == 200


def test_ending_a_session_removes_its_data_and_frees_its_tx_ids(client, receiver):
    a = _open(client)["session_id"]
    client.post("/api/v2/payments", json=payment_body("gone", receiver.url("/")), headers={S: a})
    ended = client.delete(f"/mock/v1/sessions/{a}").json()
    assert ended["payments_removed"] == 1 and ended["deliveries_removed"] == 1
    assert client.post("/api/v2/payments", json=payment_body("gone", receiver.url("/"))).status_code == 200
    assert client.get("/api/v2/pending-payments", headers={S: a}).status_code == 404


def test_global_reset_ends_every_session(client):
    a = _open(client)["session_id"]
    assert client.post("/mock/v1/reset").status_code == 200
    assert client.get(f"/mock/v1/sessions/{a}").status_code == 404


def test_bad_session_bodies_are_400(client):
    for body in (
        {"idle_timeout_s": 0},
        {"label": "x" * 101},
        {"claims": {"order_ids": list(range(101))}},
        {"claims": {"tx_id_prefix": "has space"}},
        {"unknown": 1},
    ):
        answer = client.post("/mock/v1/sessions", json=body)
        assert answer.status_code == 400, body
    assert client.get("/mock/v1/sessions").json()["total"] == 0
    assert client.get("/mock/v1/sessions/not-an-id").status_code == 404  # an id its schema refuses names none
    assert client.delete("/mock/v1/sessions/ses_" + "B" * 22).status_code == 404


def test_the_live_session_cap_is_a_429(client):
    from paymock.domain.limits import MAX_SESSIONS

    for _ in range(MAX_SESSIONS):
        _open(client)
    over = client.post("/mock/v1/sessions", json={})
    assert over.status_code == 429 and "256" in over.json()["detail"]
    assert client.get("/mock/v1/sessions").json()["total"] == MAX_SESSIONS


def test_api_fault_counters_are_per_session(client, receiver):
    a = _open(client)["session_id"]
    b = _open(client)["session_id"]
    once = {"description": "one 503", "api": {"error_status": 503, "times": 1}}
    for sid in (a, b):
        assert client.put("/mock/v1/scenarios/once", json=once, headers={S: sid}).status_code == 201
        client.put("/mock/v1/active-scenario", json={"name": "once"}, headers={S: sid})

    def create(tx_id, sid):
        return client.post("/api/v2/payments", json=payment_body(tx_id, receiver.url("/")), headers={S: sid})

    assert create("a1", a).status_code == 503
    assert create("a2", a).status_code == 200  # a's one fault is used up
    assert create("b1", b).status_code == 503  # b's counter is its own
    assert create("b2", b).status_code == 200
    assert client.post("/api/v2/payments", json=payment_body("g1", receiver.url("/"))).status_code == 200


def test_waits_see_only_their_own_session(client, receiver):
    a = _open(client)["session_id"]
    client.post("/api/v2/payments", json=payment_body("wa", receiver.url("/")), headers={S: a})
    mine = client.get("/mock/v1/wait-for-delivery", params={"tx_id": "wa"}, headers={S: a})
    assert mine.status_code == 200 and mine.json()["session_id"] == a
    elsewhere = client.get("/mock/v1/wait-for-delivery", params={"tx_id": "wa", "timeout_ms": 0})
    assert elsewhere.status_code == 404 and "no delivery yet" in elsewhere.json()["detail"]
    assert client.post("/mock/v1/deliveries/evt_completed_wa/redeliver").status_code == 404
    assert client.post("/mock/v1/deliveries/evt_completed_wa/redeliver", headers={S: a}).status_code == 200


def test_an_idle_session_expires_with_its_data_and_retries(receiver):
    clock = SteppedClock()
    app = create_app(settings(), clock=clock)
    with app.test_client() as client:
        sid = _open(client, idle_timeout_s=60, claims={"user_ids": [5]})["session_id"]
        retrying_scenario(client, "far", 86_400_000, session_id=sid)
        refused_payment(client, receiver, "idle-1", "far", session_id=sid)
        clock.offset += 59
        assert client.get(f"/mock/v1/sessions/{sid}").status_code == 200  # renewed: 60 s more from now
        clock.offset += 59
        assert client.get("/mock/v1/sessions").json()["total"] == 1
        clock.offset += 2
        assert client.get("/mock/v1/health").json()["sessions"] == 0  # expired, swept or not
        assert client.get("/mock/v1/sessions").json()["total"] == 0  # idle 61 s: ended
        gone = client.get("/api/v2/pending-payments", headers={S: sid})
        assert gone.status_code == 404 and "unknown or expired" in gone.json()["detail"]
        assert client.get("/mock/v1/deliveries", params={"session": "all"}).json()["total"] == 0
        assert client.get("/mock/v1/health").json()["deliveries_pending"] == 0
        # its claim is free: the same user_id now goes to the global session
        client.post("/api/v2/payments", json=payment_body("after", receiver.url("/"), user_id=5))
        assert list(client.get("/api/v2/pending-payments").json()["payments"]) == ["pay_after"]


def test_health_counts_every_session(client, receiver):
    a = _open(client)["session_id"]
    client.post("/api/v2/payments", json=payment_body("h-a", receiver.url("/")), headers={S: a})
    client.post("/api/v2/payments", json=payment_body("h-g", receiver.url("/")))
    health = client.get("/mock/v1/health").json()
    assert health["sessions"] == 1 and health["payments"] == 2
    assert client.get("/mock/v1/sessions/" + a).json()["payments"] == 1


def test_the_session_header_twice_is_a_400(client):
    a = _open(client)["session_id"]
    b = _open(client)["session_id"]
    answer = client.get("/mock/v1/active-scenario", headers=[(S, a), (S, b)])
    assert answer.status_code == 400 and "sent 2 times" in answer.json()["detail"]


def _expiring_session_with_a_retry(client, receiver, tx_id: str) -> str:
    """A session of idle_timeout_s 60 whose payment's webhook failed once and is retried 60 s later."""
    sid = _open(client, idle_timeout_s=60)["session_id"]
    slow = {"description": "a retry after 60 s", "webhook": {"retry_schedule_ms": [60_000] * 3}}
    client.put("/mock/v1/scenarios/slow", json=slow, headers={S: sid})
    receiver.status_for_path["/down"] = 503
    made = client.post(
        "/api/v2/payments",
        json=payment_body(tx_id, receiver.url("/down")),
        headers={S: sid, "X-Mock-Scenario": "slow"},
    )
    assert made.json()["status"] == "PENDING" and len(receiver.for_path("/down")) == 1
    return sid


def test_an_expired_sessions_data_is_never_listed_even_before_the_sweep(receiver):
    clock = SteppedClock()
    with create_app(settings(), clock=clock).test_client() as client:
        _expiring_session_with_a_retry(client, receiver, "list-1")
        assert client.get("/mock/v1/deliveries", params={"session": "all"}).json()["total"] == 1
        clock.offset += 61  # idle past its expiry; the sweep (every second, real time) has not run yet
        health = client.get("/mock/v1/health").json()
        assert health["payments"] == 0 and health["deliveries_pending"] == 0  # nor counted
        assert client.get("/mock/v1/deliveries", params={"session": "all"}).json()["total"] == 0


def test_an_expired_sessions_due_retry_is_not_sent_even_before_the_sweep(receiver):
    clock = SteppedClock()
    with create_app(settings(), clock=clock).test_client() as client:
        _expiring_session_with_a_retry(client, receiver, "due-1")
        clock.offset += 61  # its retry is due and it is idle past its expiry, both at once
        # a global payment's retry wakes the dispatcher now, rather than at the sweep a second later
        receiver.status_for_path["/global-down"] = 503
        made = client.post("/api/v2/payments", json=payment_body("wake-1", receiver.url("/global-down")))
        assert made.json()["status"] == "PENDING"
        time.sleep(0.5)  # the due retry would have gone out by now (the sweep runs only once a second)
        assert len(receiver.for_path("/down")) == 1  # only the first attempt, made while the session was live
        assert client.get("/mock/v1/health").json()["deliveries_pending"] == 1  # the global one only
