"""Sessions against a real `paymock serve` process and real receivers: two "tests" sharing one server
through claims only (no header, as an ops server that forwards nothing of ours would call), each
with the opposite active scenario, see only their own outcomes, listings and webhooks; a claimed
tx_id prefix routes a header-less create; ending a session cancels its retries."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from paymock.testing.client import PaymockClient
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import SECRET, payment_body, refused_payment, retrying_scenario

S = "X-Mock-Session"
PER_SESSION = 12


def test_two_sessions_creating_at_once_see_only_their_own(live, live_server):
    client = PaymockClient(live_server.base_url)
    receivers = {name: WebhookReceiver(SECRET) for name in ("a", "b")}
    try:
        a = client.create_session(label="test a", claims={"user_ids": [1001]})["session_id"]
        b = client.create_session(label="test b", claims={"user_ids": [2002]})["session_id"]
        with client.in_session(a) as in_a:
            in_a.set_scenario("declined")
        with client.in_session(b) as in_b:
            assert in_b.active_scenario() == "default"
        users = {"a": 1001, "b": 2002}

        def ops_server_creates(name: str, n: int) -> int:
            # no X-Mock-Session: only the claimed user_id says whose payment this is
            tx_id = f"{name}-{n}"
            body = payment_body(tx_id, receivers[name].url(f"/{name}"), user_id=users[name], order_id=n)
            with httpx.Client(base_url=live_server.base_url, timeout=30) as ops:
                return ops.post("/api/v2/payments", json=body).status_code

        jobs = [(name, n) for n in range(PER_SESSION) for name in ("a", "b")]  # interleaved
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda job: ops_server_creates(*job), jobs))
        assert statuses == [200] * len(jobs)

        for name, sid, status, event in (
            ("a", a, "PAYMENT_FAILED", "payment.failed"),
            ("b", b, "PAYMENT_COMPLETED", "payment.completed"),
        ):
            listing = live.get("/api/v2/pending-payments", headers={S: sid}).json()
            assert sorted(listing["payments"]) == sorted(f"pay_{name}-{n}" for n in range(PER_SESSION))
            assert {p["status"] for p in listing["payments"].values()} == {status}
            receivers[name].wait_for(PER_SESSION)
            time.sleep(0.2)  # anything misrouted would arrive by now
            hooks = receivers[name].received
            assert len(hooks) == PER_SESSION
            assert {h.json()["tx_id"] for h in hooks} == {f"{name}-{n}" for n in range(PER_SESSION)}
            assert {h.headers["x-payment-event"] for h in hooks} == {event}
            assert all(h.verified for h in hooks)
            # webhook payloads and headers say nothing of sessions
            assert all("session" not in h.body.decode() and not any("session" in k for k in h.headers) for h in hooks)
            deliveries = live.get("/mock/v1/deliveries", headers={S: sid}, params={"limit": 1000}).json()
            assert deliveries["total"] == PER_SESSION
            assert {d["session_id"] for d in deliveries["deliveries"]} == {sid}
        # the global session saw none of it
        assert live.get("/api/v2/pending-payments").json()["total"] == 0
        everything = live.get("/mock/v1/deliveries", params={"session": "all", "limit": 1000}).json()
        assert everything["total"] == 2 * PER_SESSION
    finally:
        client.close()
        for r in receivers.values():
            r.close()


def test_a_claimed_tx_id_prefix_routes_a_headerless_create(live, receiver):
    session = live.post("/mock/v1/sessions", json={"claims": {"tx_id_prefix": "ci42-"}}).json()
    sid = session["session_id"]
    live.put("/mock/v1/active-scenario", json={"name": "manual-confirm"}, headers={S: sid})
    made = live.post("/api/v2/payments", json=payment_body("ci42-order-1", receiver.url()))
    assert made.json()["status"] == "PENDING"  # the session's active scenario ran
    plain = live.post("/api/v2/payments", json=payment_body("other-1", receiver.url()))
    assert plain.json()["status"] == "PAYMENT_COMPLETED"  # the global session's
    assert list(live.get("/api/v2/pending-payments", headers={S: sid}).json()["payments"]) == ["pay_ci42-order-1"]
    assert list(live.get("/api/v2/pending-payments").json()["payments"]) == ["pay_other-1"]
    after = live.get(f"/mock/v1/sessions/{sid}")
    assert after.status_code == 200 and after.json()["payments"] == 1, after.text


def test_ending_a_session_cancels_its_retries(live, receiver):
    sid = live.post("/mock/v1/sessions", json={"label": "retries"}).json()["session_id"]
    retrying_scenario(live, "slow-retries", 1_000_000, retries=5, session_id=sid)  # 1 s apart at scale 0.001
    refused_payment(live, receiver, "retry-1", "slow-retries", session_id=sid)
    assert len(receiver.wait_for(1)) == 1  # the inline first attempt
    ended = live.delete(f"/mock/v1/sessions/{sid}").json()
    assert ended["payments_removed"] == 1 and ended["deliveries_removed"] == 1
    time.sleep(2.5)  # two retries would have come by now
    assert len(receiver.received) == 1
    health = live.get("/mock/v1/health").json()
    assert health["deliveries_pending"] == 0
    assert live.get("/mock/v1/deliveries", params={"session": "all"}).json()["total"] == 0


def test_a_confirm_whose_session_ends_during_its_latency_writes_nothing_back(live, receiver):
    sid = live.post("/mock/v1/sessions", json={"label": "slow confirm"}).json()["session_id"]
    slow = {"description": "pending, slow confirm", "payment": {"outcome": "pending"}}
    slow["api"] = {"latency_ms": 1000, "operations": ["confirm"]}
    assert live.put("/mock/v1/scenarios/slow-confirm", json=slow, headers={S: sid}).status_code == 201
    assert live.put("/mock/v1/active-scenario", json={"name": "slow-confirm"}, headers={S: sid}).status_code == 200
    made = live.post("/api/v2/payments", json=payment_body("late-1", receiver.url("/late")), headers={S: sid})
    assert made.json()["status"] == "PENDING"
    with ThreadPoolExecutor(1) as pool:
        confirming = pool.submit(
            live.post, "/api/v2/confirm-payment", json={"payment_id": "pay_late-1"}, headers={S: sid}
        )
        time.sleep(0.3)  # inside the confirm's injected latency
        assert live.delete(f"/mock/v1/sessions/{sid}").json()["payments_removed"] == 1
        answer = confirming.result(timeout=10)
    assert answer.status_code == 404, answer.text  # its payment went with the session
    time.sleep(0.3)
    assert receiver.for_path("/late") == []  # no webhook for a payment of an ended session
    assert live.get("/mock/v1/deliveries", params={"session": "all"}).json()["total"] == 0


def test_a_claim_routed_create_whose_session_ends_during_its_latency_answers_as_global(live, receiver):
    sid = live.post("/mock/v1/sessions", json={"claims": {"tx_id_prefix": "gone-"}}).json()["session_id"]
    slow = {"description": "declined, slow create", "payment": {"outcome": "fail"}}
    slow["api"] = {"latency_ms": 1000, "operations": ["create"]}
    assert live.put("/mock/v1/scenarios/slow-create", json=slow, headers={S: sid}).status_code == 201
    assert live.put("/mock/v1/active-scenario", json={"name": "slow-create"}, headers={S: sid}).status_code == 200
    with ThreadPoolExecutor(1) as pool:
        # no header, as an ops server that knows nothing of sessions calls: its claim routes it
        creating = pool.submit(live.post, "/api/v2/payments", json=payment_body("gone-1", receiver.url("/g")))
        time.sleep(0.3)  # inside the create's injected latency
        assert live.delete(f"/mock/v1/sessions/{sid}").status_code == 200
        answer = creating.result(timeout=10)
    # the claim is gone: routed again, to the global session, whose answer names no session
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "PAYMENT_COMPLETED" and "ses_" not in answer.text
    assert live.get("/mock/v1/payments/pay_gone-1").json()["payment"]["session_id"] is None
    assert len(receiver.wait_for(1)) == 1 and receiver.for_path("/g")


def test_a_wait_longer_than_the_idle_timeout_keeps_its_session(live, receiver):
    sid = live.post("/mock/v1/sessions", json={"idle_timeout_s": 1}).json()["session_id"]
    live.put("/mock/v1/active-scenario", json={"name": "manual-confirm"}, headers={S: sid})
    made = live.post("/api/v2/payments", json=payment_body("busy-1", receiver.url("/")), headers={S: sid})
    assert made.json()["status"] == "PENDING"  # no delivery until confirmed: the wait runs to its timeout
    waited = live.get("/mock/v1/wait-for-delivery", params={"tx_id": "busy-1", "timeout_ms": 2000}, headers={S: sid})
    assert waited.status_code == 404 and "no delivery" in waited.json()["detail"]
    # 2 s in one call, past the 1 s idle timeout and a sweep meanwhile: not idle, and renewed at its end
    after = live.get(f"/mock/v1/sessions/{sid}")
    assert after.status_code == 200 and after.json()["payments"] == 1, after.text


def test_a_session_expires_when_idle(live):
    sid = live.post("/mock/v1/sessions", json={"idle_timeout_s": 1}).json()["session_id"]
    assert live.get(f"/mock/v1/sessions/{sid}").status_code == 200
    deadline = time.monotonic() + 5
    while live.get("/mock/v1/sessions").json()["total"] and time.monotonic() < deadline:
        time.sleep(0.2)
    gone = live.get("/api/v2/pending-payments", headers={S: sid})
    assert gone.status_code == 404 and "expired" in json.loads(gone.text)["detail"]


def test_the_python_client_drives_sessions(live, live_server, receiver):
    from paymock.testing.client import PaymockError

    with PaymockClient(live_server.base_url) as client:
        made = client.create_session(label="client", claims={"order_ids": [31337]}, idle_timeout_s=120)
        sid = made["session_id"]
        assert client.get_session(sid)["label"] == "client"
        assert [s["session_id"] for s in client.list_sessions()["sessions"]] == [sid]
        assert client.set_claims(sid, {"tx_id_prefix": "cl-"})["claims"]["tx_id_prefix"] == "cl-"
        with client.in_session(sid) as mine:
            assert "session=" in repr(mine)
            assert mine.create_payment("cl-1", receiver.url()).status_code == 200
            assert mine.wait_for_delivery(tx_id="cl-1")["state"] == "acknowledged"
            assert mine.payment("pay_cl-1")["payment"]["session_id"] == sid
            assert list(mine.payments().json()["payments"]) == ["pay_cl-1"]
        assert client.payments().json()["total"] == 0  # the unbound client is the global session's
        assert client.end_session(sid)["payments_removed"] == 1
        try:
            client.get_session(sid)
        except PaymockError as exc:
            assert exc.status_code == 404 and "unknown or expired" in (exc.detail or "")
        else:
            raise AssertionError("an ended session is still there")
