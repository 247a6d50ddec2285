"""Request bodies end to end: chunked, over 1 MiB, media types in any case, an unknown charset, integers
past Python's conversion limit, a JSON key given twice, and bodies on operations that take none."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_problem, payment_body
from tests.e2e.helpers import (
    MIB,
    SCENARIO_HEADER,
    chunks,
    create_ok,
    delivery,
    listing,
    nothing_stored,
    post_chunked,
    status_of,
)


def test_chunked_create_is_read_and_stored(live, receiver):
    data = json.dumps(payment_body("tx_chunked", receiver.url())).encode()
    r = post_chunked(live, "/api/v2/payments", data, {"Content-Type": "application/json"})
    assert r.request.headers.get("transfer-encoding") == "chunked"  # really sent chunked
    assert "content-length" not in r.request.headers
    assert r.status_code == 200, r.text
    assert r.json()["payment_id"] == "pay_tx_chunked"
    detail = live.get("/mock/v1/payments/pay_tx_chunked")
    assert detail.status_code == 200, detail.text
    assert detail.json()["payment"]["amount"] == 1000
    assert list(listing(live)["payments"]) == ["pay_tx_chunked"]


def test_chunked_body_over_1_mib_is_413_and_nothing_is_stored(live, receiver):
    body = payment_body("tx_big_chunked", receiver.url())
    body["padding"] = "x" * MIB  # over the limit whatever the schema says of the extra field
    data = json.dumps(body).encode()
    assert len(data) > MIB
    r = post_chunked(live, "/api/v2/payments", data, {"Content-Type": "application/json"})
    problem = assert_problem(r, 413)
    assert "1,048,576" in problem["detail"]
    nothing_stored(live)
    assert receiver.received == []


def test_chunked_body_without_content_type_is_415(live, receiver):
    data = json.dumps(payment_body("tx_chunked_noct", receiver.url())).encode()
    r = post_chunked(live, "/api/v2/payments", data, {})
    assert "content-type" not in r.request.headers
    problem = assert_problem(r, 415)
    assert "Content-Type" in problem["detail"]
    nothing_stored(live)


def test_content_length_over_1_mib_is_413_naming_the_size(live, receiver):
    body = payment_body("tx_big", receiver.url())
    body["padding"] = "x" * MIB
    data = json.dumps(body).encode()
    r = live.post("/api/v2/payments", content=data, headers={"Content-Type": "application/json"})
    assert r.request.headers["content-length"] == str(len(data))
    problem = assert_problem(r, 413)
    assert f"{len(data):,} bytes" in problem["detail"]
    nothing_stored(live)
    assert receiver.received == []


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "Application/Json; charset=utf-8"])
def test_media_type_in_any_case_is_json_on_create_and_confirm(live, receiver, content_type: str):
    headers = {"Content-Type": content_type, SCENARIO_HEADER: "manual-confirm"}
    data = json.dumps(payment_body("tx_case", receiver.url(), amount=4321)).encode()
    r = live.post("/api/v2/payments", content=data, headers=headers)
    assert r.status_code == 200, r.text  # was a 500: the handler got raw bytes
    assert r.json() == {"ok": True, "tx_id": "tx_case", "status": "PENDING", "payment_id": "pay_tx_case"}
    assert listing(live)["payments"]["pay_tx_case"]["amount"] == 4321
    data = json.dumps({"payment_id": "pay_tx_case"}).encode()
    r = live.post("/api/v2/confirm-payment", content=data, headers={"Content-Type": content_type})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["ok"], answer["payment_id"], answer["status"]) == (True, "pay_tx_case", "PAYMENT_COMPLETED")
    assert answer["confirmed_at"]
    assert status_of(live, "pay_tx_case") == "PAYMENT_COMPLETED"


def test_amount_with_5000_digits_is_a_400_naming_the_limit(live, receiver):
    body = payment_body("tx_digits", receiver.url())
    del body["amount"]
    data = (json.dumps(body)[:-1] + ', "amount": ' + "1" * 5000 + "}").encode()  # json.dumps cannot write it
    r = live.post("/api/v2/payments", content=data, headers={"Content-Type": "application/json"})
    problem = assert_problem(r, 400)
    assert "4300" in problem["detail"], problem["detail"]
    nothing_stored(live)


def test_an_unknown_charset_is_a_415(live):
    body = json.dumps(payment_body("tx_charset", "http://127.0.0.1:9/x"))
    # no space: Connexion reads a charset only right after the `;` (with one, it decodes UTF-8 anyway)
    r = live.post("/api/v2/payments", content=body, headers={"Content-Type": "application/json;charset=bogus"})
    problem = assert_problem(r, 415)
    assert "bogus" in problem["detail"]
    nothing_stored(live)


def test_redeliver_refuses_a_chunked_body_and_takes_an_empty_one(live, receiver):
    create_ok(live, "tx_redeliver_body", receiver.url())
    receiver.wait_for(1)
    path = "/mock/v1/deliveries/evt_completed_tx_redeliver_body/redeliver"
    problem = assert_problem(live.post(path, content=chunks(b'{"scenario": "declined"}')), 400)
    assert "no request body" in problem["detail"] and "24 bytes" in problem["detail"], problem["detail"]
    assert len(delivery(live, "evt_completed_tx_redeliver_body")["attempts"]) == 1  # nothing was sent
    # a chunked form: Connexion reads forms for every operation, so a second read would wait for the
    # client to hang up (it used to: a timeout here)
    multipart = b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n'
    for form_type, form in (
        ("application/x-www-form-urlencoded", b"a=1"),
        ("multipart/form-data; boundary=x", multipart),
    ):
        r = live.post(path, content=chunks(form), headers={"Content-Type": form_type}, timeout=5)
        assert "takes no request body, and this one is a form" in assert_problem(r, 400)["detail"]
    assert len(delivery(live, "evt_completed_tx_redeliver_body")["attempts"]) == 1
    assert live.post(path, content=chunks(b"")).status_code == 200
    receiver.wait_for(2)


def test_reset_refuses_a_body_and_resets_nothing(live, receiver):
    create_ok(live, "tx_reset_body", receiver.url())
    receiver.wait_for(1)
    r = live.post("/mock/v1/reset", json={"keep_scenarios": True})  # options it does not have
    assert "reset takes no request body" in assert_problem(r, 400)["detail"]
    assert listing(live)["total"] == 1  # nothing was reset
    assert live.post("/mock/v1/reset").json()["payments_removed"] == 1


# a JSON key given twice: json.loads keeps the last value, so the client's intent is unknowable


def test_a_repeated_json_key_is_a_400_and_stores_nothing(live, receiver):
    body = json.dumps(payment_body("tx_twice", receiver.url()))
    # the amount twice: 1000 as the client meant it, or 999999 as a merge bug left it?
    data = body[:-1] + ', "amount": 999999}'
    r = live.post("/api/v2/payments", content=data, headers={"Content-Type": "application/json"})
    problem = assert_problem(r, 400)
    assert "the key 'amount' is given twice in one object" in problem["detail"], problem["detail"]
    nothing_stored(live)
    # nested objects too, on the control API: a scenario whose webhook says two things
    scenario = '{"description": "d", "webhook": {"fail_attempts": 1, "fail_attempts": 0}}'
    r = live.put("/mock/v1/scenarios/qa-twice", content=scenario, headers={"Content-Type": "application/json"})
    assert "'fail_attempts' is given twice" in assert_problem(r, 400)["detail"]
    assert live.get("/mock/v1/scenarios/qa-twice").status_code == 404
    # a byte order mark (json.loads refuses it): still a clear 400
    r = live.post("/api/v2/payments", content=("\ufeff" + body).encode(), headers={"Content-Type": "application/json"})
    assert "byte order mark" in assert_problem(r, 400)["detail"]
    nothing_stored(live)
    # the same keys once each still work
    assert live.post("/api/v2/payments", content=body, headers={"Content-Type": "application/json"}).status_code == 200
    receiver.wait_for(1)
