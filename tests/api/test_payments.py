"""The provider API (/api/v2) in-process, validation on, webhooks to a real loopback receiver."""

from __future__ import annotations

import re

from tests.conftest import in_process, payment_body

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def create(client, tx_id, receiver, **overrides):
    return client.post("/api/v2/payments", json=payment_body(tx_id, receiver.url(f"/hook/{tx_id}"), **overrides))


def test_create_completes_and_delivers_a_signed_webhook(client, receiver):
    r = create(client, "tx_1001", receiver)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"ok": True, "tx_id": "tx_1001", "status": "PAYMENT_COMPLETED", "payment_id": "pay_tx_1001"}
    (hook,) = receiver.wait_for(1)
    assert hook.verified
    assert hook.event == "payment.completed"
    assert hook.headers["content-type"] == "application/json"
    assert "authorization" not in hook.headers
    body = hook.json()
    assert (body["payment_id"], body["status"], body["amount"]) == ("pay_tx_1001", "PAYMENT_COMPLETED", 1000)
    assert ISO_UTC.match(body["created_at"]) and ISO_UTC.match(body["confirmed_at"])


def test_unacknowledged_webhook_answers_pending_then_a_retry_completes_it(client, receiver):
    receiver.refuse_next(1, 500)
    r = create(client, "tx_retry", receiver)
    assert r.json()["status"] == "PENDING"
    waited = client.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_retry", "state": "acknowledged"})
    assert waited.status_code == 200, waited.text
    assert [a["status_code"] for a in waited.json()["attempts"]] == [500, 200]
    listing = client.get("/api/v2/pending-payments").json()
    assert listing["payments"]["pay_tx_retry"]["status"] == "PAYMENT_COMPLETED"
    hooks = receiver.wait_for(2)
    assert hooks[0].webhook_id == hooks[1].webhook_id == "evt_completed_tx_retry"


def test_unreachable_receiver_answers_pending(client):
    r = client.post("/api/v2/payments", json=payment_body("tx_down", "http://127.0.0.1:9/unreachable"))
    assert r.status_code == 200
    assert r.json()["status"] == "PENDING"


def test_same_tx_id_returns_the_stored_payment_without_a_new_webhook(client, receiver):
    first = create(client, "tx_dup", receiver)
    receiver.wait_for(1)
    again = create(client, "tx_dup", receiver)
    assert again.status_code == 200
    assert again.json() == first.json()
    deliveries = client.get("/mock/v1/deliveries", params={"tx_id": "tx_dup"}).json()
    assert deliveries["total"] == 1 and deliveries["deliveries"][0]["attempt_count"] == 1
    assert len(receiver.received) == 1


def test_same_tx_id_with_different_fields_is_a_409_and_nothing_changes(client, receiver):
    create(client, "tx_conflict", receiver)
    r = create(client, "tx_conflict", receiver, amount=2000)
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert "amount" in r.json()["detail"]
    stored = client.get("/api/v2/pending-payments").json()["payments"]["pay_tx_conflict"]
    assert stored["amount"] == 1000


def test_confirm_completes_a_pending_payment_and_resends(client, receiver):
    receiver.status_for_path["/hook/tx_c"] = 503
    assert create(client, "tx_c", receiver, amount=77).json()["status"] == "PENDING"
    receiver.status_for_path.clear()
    r = client.post("/api/v2/confirm-payment", json={"payment_id": "pay_tx_c"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["ok"], body["payment_id"], body["status"]) == (True, "pay_tx_c", "PAYMENT_COMPLETED")
    assert ISO_UTC.match(body["confirmed_at"])
    assert receiver.for_path("/hook/tx_c")[-1].answered == 200


def test_confirm_unknown_payment_is_404_problem(client):
    r = client.post("/api/v2/confirm-payment", json={"payment_id": "pay_nope"})
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert "pay_nope" in r.json()["detail"]


def test_confirm_failed_payment_is_409(client, receiver):
    assert create(client, "tx_f", receiver, amount=4002).json()["status"] == "PAYMENT_FAILED"
    r = client.post("/api/v2/confirm-payment", json={"payment_id": "pay_tx_f"})
    assert r.status_code == 409
    assert "CARD_DECLINED" in r.json()["detail"]


def test_listing_has_the_seed_shape_and_counts(client, receiver):
    create(client, "tx_a", receiver)
    create(client, "tx_b", receiver, amount=4002)
    client.post("/api/v2/payments", json=payment_body("tx_p", "http://127.0.0.1:9/x"))
    r = client.get("/api/v2/pending-payments")
    assert r.status_code == 200
    body = r.json()
    assert (body["pending_count"], body["completed_count"], body["failed_count"], body["total"]) == (1, 1, 1, 3)
    assert list(body["payments"]) == ["pay_tx_a", "pay_tx_b", "pay_tx_p"]
    a = body["payments"]["pay_tx_a"]
    assert set(a) >= {
        "payment_id",
        "order_id",
        "tx_id",
        "user_id",
        "amount",
        "status",
        "created_at",
        "confirmed_at",
        "callback_url",
    }
    assert body["payments"]["pay_tx_p"]["confirmed_at"] is None
    assert body["payments"]["pay_tx_b"]["failure_reason"] == "CARD_DECLINED"


def test_listing_filters_and_pages(client, receiver):
    for i in range(5):
        create(client, f"page_{i}", receiver)
    create(client, "other_1", receiver, amount=4002)
    page = client.get("/api/v2/pending-payments", params={"status": "PAYMENT_COMPLETED", "limit": 2, "offset": 2})
    body = page.json()
    assert list(body["payments"]) == ["pay_page_2", "pay_page_3"]
    assert (body["total"], body["next_offset"]) == (5, 4)
    last = client.get("/api/v2/pending-payments", params={"tx_id_prefix": "page_", "limit": 10}).json()
    assert last["total"] == 5 and last["next_offset"] is None
    assert list(client.get("/api/v2/pending-payments", params={"scenario": "declined"}).json()["payments"]) == [
        "pay_other_1"
    ]


def test_bearer_token_guards_every_api_call_but_not_healthz(receiver):
    with in_process(auth_token="s3cret-token") as client:
        body = payment_body("tx_auth", receiver.url())
        assert client.get("/healthz").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0"}):
            r = client.post("/api/v2/payments", json=body, headers=headers)
            assert r.status_code == 401, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert client.get("/mock/v1/health", headers=headers).status_code == 401
        good = {"Authorization": "Bearer s3cret-token"}
        listing = client.get("/api/v2/pending-payments", headers=good).json()
        assert listing["total"] == 0  # nothing was stored by the refused calls
        assert client.post("/api/v2/payments", json=body, headers=good).status_code == 200
        (hook,) = receiver.wait_for(1)
        assert hook.headers["authorization"] == "Bearer s3cret-token"
        detail = client.get("/mock/v1/deliveries/evt_completed_tx_auth", headers=good).json()
        assert detail["attempts"][0]["request_headers"]["Authorization"] == "Bearer ***"
        assert "s3cret-token" not in client.get("/mock/v1/health", headers=good).text


def test_docs_and_spec_are_served(client):
    assert client.get("/docs", follow_redirects=False).headers["location"] == "/api/v2/docs/"
    assert client.get("/api/v2/docs/").status_code == 200
    spec = client.get("/api/v2/openapi.json").json()
    assert spec["openapi"] == "3.0.3"
    assert "callbacks" in spec["paths"]["/payments"]["post"]
    assert client.get("/mock/v1/openapi.json").json()["info"]["title"] == "paymock control API"


def test_same_tx_id_under_another_explicit_scenario_is_a_409(client, receiver):
    create(client, "tx_scn", receiver)  # no header: the default scenario
    receiver.wait_for(1)
    r = client.post(
        "/api/v2/payments",
        json=payment_body("tx_scn", receiver.url("/hook/tx_scn")),
        headers={"X-Mock-Scenario": "declined"},
    )
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    detail = r.json()["detail"]
    assert "'default'" in detail and "'declined'" in detail and "new tx_id" in detail
    stored = client.get("/api/v2/pending-payments").json()["payments"]["pay_tx_scn"]
    assert (stored["status"], stored["scenario"]) == ("PAYMENT_COMPLETED", "default")
    same = client.post(
        "/api/v2/payments",
        json=payment_body("tx_scn", receiver.url("/hook/tx_scn")),
        headers={"X-Mock-Scenario": "default"},
    )
    assert same.status_code == 200 and same.json()["status"] == "PAYMENT_COMPLETED"
    assert len(receiver.received) == 1


def test_a_callback_host_outside_the_allowlist_is_a_403_naming_the_allowed_hosts(client):
    """Allowlist 127.0.0.1,localhost (tests/conftest.py): a webhook to ops.example would never be sent and
    the payment would wait out the whole retry schedule, so the create is refused and nothing is stored."""
    r = client.post("/api/v2/payments", json=payment_body("tx_elsewhere", "https://OPS.example:8443/hook"))
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/problem+json"
    detail = r.json()["detail"]
    assert "'ops.example'" in detail and "PAYMOCK_CALLBACK_HOSTS allows: 127.0.0.1, localhost" in detail
    assert client.get("/api/v2/pending-payments").json()["total"] == 0
    assert client.get("/mock/v1/deliveries").json()["total"] == 0


def test_without_an_allowlist_any_callback_host_is_taken():
    with in_process(callback_hosts=frozenset()) as c:
        r = c.post("/api/v2/payments", json=payment_body("tx_anywhere", "http://127.0.0.1:9/hook"))
        assert r.status_code == 200, r.text
