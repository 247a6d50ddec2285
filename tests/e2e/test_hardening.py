"""Hardening end to end: request bodies (chunked, over 1 MiB, media type case, huge integers), callback
URLs no webhook could reach, auth and method challenges, confirming a delayed completion early, API faults
before the lookup, delivery paging, the 408's reason, faults that count attempts actually sent, and query
strings and bodies Connexion took silently (repeats, loose integers, a body on redeliver)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from paymock.testing.client import PaymockClient, PaymockError
from paymock.testing.process import ServerProcess
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import SERVER_ENV, payment_body
from tests.e2e.helpers import (
    SCENARIO_HEADER,
    confirm,
    create,
    create_ok,
    delivery,
    listing,
    put_scenario,
    real_attempts,
    seed_ok,
    standard_error,
    status_of,
    wait_delivery,
)

MIB = 1 << 20
TOKEN = "hardening-token"
PROBLEM = "application/problem+json"


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A generator body: httpx sends it with Transfer-Encoding: chunked and no Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _post_chunked(live: httpx.Client, path: str, data: bytes, headers: dict[str, str]) -> httpx.Response:
    return live.post(path, content=_chunks(data), headers=headers)


def _assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    problem = r.json()
    assert problem["status"] == status
    return problem


def _nothing_stored(live: httpx.Client) -> None:
    assert listing(live)["total"] == 0
    assert live.get("/mock/v1/deliveries").json()["total"] == 0


def _utc(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# 1. bodies: chunked, too large


def test_chunked_create_is_read_and_stored(live, receiver):
    data = json.dumps(payment_body("tx_chunked", receiver.url())).encode()
    r = _post_chunked(live, "/api/v2/payments", data, {"Content-Type": "application/json"})
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
    r = _post_chunked(live, "/api/v2/payments", data, {"Content-Type": "application/json"})
    problem = _assert_problem(r, 413)
    assert "1,048,576" in problem["detail"]
    _nothing_stored(live)
    assert receiver.received == []


def test_chunked_body_without_content_type_is_415(live, receiver):
    data = json.dumps(payment_body("tx_chunked_noct", receiver.url())).encode()
    r = _post_chunked(live, "/api/v2/payments", data, {})
    assert "content-type" not in r.request.headers
    problem = _assert_problem(r, 415)
    assert "Content-Type" in problem["detail"]
    _nothing_stored(live)


def test_content_length_over_1_mib_is_413_naming_the_size(live, receiver):
    body = payment_body("tx_big", receiver.url())
    body["padding"] = "x" * MIB
    data = json.dumps(body).encode()
    r = live.post("/api/v2/payments", content=data, headers={"Content-Type": "application/json"})
    assert r.request.headers["content-length"] == str(len(data))
    problem = _assert_problem(r, 413)
    assert f"{len(data):,} bytes" in problem["detail"]
    _nothing_stored(live)
    assert receiver.received == []


# 2. media types are case-insensitive


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


# 3. integers past Python's conversion limit


def test_amount_with_5000_digits_is_a_400_naming_the_limit(live, receiver):
    body = payment_body("tx_digits", receiver.url())
    del body["amount"]
    data = (json.dumps(body)[:-1] + ', "amount": ' + "1" * 5000 + "}").encode()  # json.dumps cannot write it
    r = live.post("/api/v2/payments", content=data, headers={"Content-Type": "application/json"})
    problem = _assert_problem(r, 400)
    assert "4300" in problem["detail"], problem["detail"]
    _nothing_stored(live)


def test_listing_limit_with_5000_digits_is_a_short_400_naming_limit(live):
    r = live.get("/api/v2/pending-payments", params={"limit": "9" * 5000})
    _assert_problem(r, 400)
    assert len(r.content) < 1024, len(r.content)  # the value is not echoed whole
    assert "'limit'" in r.text


# 4. callback URLs no webhook could reach or should carry


@pytest.mark.parametrize("url", ["http://a..b/", "http://" + "a" * 64 + ".com/", "http://:80/"])
def test_unreachable_callback_url_is_a_400_and_nothing_is_stored(live, url: str):
    problem = _assert_problem(create(live, "tx_badurl", url), 400)
    assert "callback_url" in problem["detail"]
    _nothing_stored(live)


def test_scenario_header_sent_twice_is_a_400_and_nothing_is_stored(live, receiver):
    # taking the first would quietly run `declined` for a test that also sent a typo
    body = payment_body("tx_twice", receiver.url())
    headers = [(SCENARIO_HEADER, "declined"), (SCENARIO_HEADER, "BAD!"), ("Content-Type", "application/json")]
    problem = _assert_problem(live.post("/api/v2/payments", content=json.dumps(body), headers=headers), 400)
    assert "sent 2 times" in problem["detail"] and "'BAD!'" in problem["detail"]
    _nothing_stored(live)
    assert receiver.received == []


@pytest.mark.parametrize(
    "url",
    [
        "http://user:s3cretpw@127.0.0.1:9/x",
        "http://user:s3cretpw@127.0.0.1:99999/x",  # a bad port too: its message quotes the URL
        "http://user:s3cretpw@127.0.0.1:0/x",
        "http://user:s3cretpw@[::1/x",  # urlsplit itself refuses this one, quoting it
    ],
)
def test_callback_url_with_credentials_is_a_400_that_does_not_repeat_them(live, url: str):
    r = create(live, "tx_creds", url)
    problem = _assert_problem(r, 400)
    assert "credentials" in problem["detail"] or "***@" in problem["detail"]  # refused, or its contract error masked
    assert "s3cretpw" not in r.text
    _nothing_stored(live)


def test_an_unknown_charset_is_a_415(live):
    body = json.dumps(payment_body("tx_charset", "http://127.0.0.1:9/x"))
    # no space: Connexion reads a charset only right after the `;` (with one, it decodes UTF-8 anyway)
    r = live.post("/api/v2/payments", content=body, headers={"Content-Type": "application/json;charset=bogus"})
    problem = _assert_problem(r, 415)
    assert "bogus" in problem["detail"]
    _nothing_stored(live)


# 5. challenges: WWW-Authenticate on 401, Allow on 405


@pytest.fixture(scope="module")
def auth_server() -> Iterator[ServerProcess]:
    server = ServerProcess({**SERVER_ENV, "SERVICE_AUTH_TOKEN": TOKEN}).wait_ready()
    yield server
    server.stop()


def test_401_carries_a_bearer_challenge(auth_server):
    with httpx.Client(base_url=auth_server.base_url, timeout=30) as anon:
        missing = anon.get("/api/v2/pending-payments")
        _assert_problem(missing, 401)
        assert missing.headers["www-authenticate"] == 'Bearer realm="paymock"'
        wrong = anon.get("/mock/v1/scenarios", headers={"Authorization": "Bearer not-the-token"})
        _assert_problem(wrong, 401)
        assert wrong.headers["www-authenticate"] == 'Bearer realm="paymock", error="invalid_token"'
        for malformed in ("Basic dXNlcjpwdw==", "Bearer"):  # not `Bearer <token>` at all
            r = anon.get("/api/v2/pending-payments", headers={"Authorization": malformed})
            _assert_problem(r, 401)
            assert r.headers["www-authenticate"] == 'Bearer realm="paymock", error="invalid_request"', malformed
        good = anon.get("/api/v2/pending-payments", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200, good.text
        assert "www-authenticate" not in good.headers


def test_405_names_get_and_head_and_head_works(live):
    r = live.post("/api/v2/pending-payments", json={})
    _assert_problem(r, 405)
    assert r.headers["allow"] == "GET, HEAD"
    head = live.head("/api/v2/pending-payments")
    assert head.status_code == 200
    assert head.content == b""


# 6. confirming a delayed completion before its time


def test_confirming_a_delayed_completion_early_completes_it_now(live, receiver):
    # slow-completion's 3 s are 3 ms on this server's clock: a run-time one waits long enough to confirm first
    put_scenario(live, "slow-long", payment={"outcome": "delayed", "delay_ms": 60_000_000})  # 60 s scaled
    assert create_ok(live, "tx_early", receiver.url(), scenario="slow-long")["status"] == "PENDING"
    r = confirm(live, "pay_tx_early")
    after = time.time()
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["status"] == "PAYMENT_COMPLETED"
    confirmed_at = _utc(answer["confirmed_at"])
    assert confirmed_at <= after + 0.001, (answer["confirmed_at"], after)  # was the scheduled time, ~60 s ahead
    d = wait_delivery(live, tx_id="tx_early", state="acknowledged", timeout_ms=10_000)
    [hook] = receiver.wait_for(1)
    assert hook.verified
    assert hook.json()["confirmed_at"] == answer["confirmed_at"]
    assert d["state"] == "acknowledged"
    assert live.get("/mock/v1/payments/pay_tx_early").json()["payment"]["confirmed_at"] == answer["confirmed_at"]


# 7. API faults before the lookup


def test_rate_limited_confirm_of_an_unknown_payment_is_429_not_404(live):
    r = confirm(live, "pay_unknown_rl", scenario="api-rate-limited")
    problem = _assert_problem(r, 429)
    assert r.headers.get("retry-after") == "2"
    assert "pay_unknown_rl" not in problem["detail"]  # answered before the lookup
    # without the fault the same call is the 404
    _assert_problem(confirm(live, "pay_unknown_rl"), 404)


# 8. delivery paging


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


# 9. the 408 says why


def test_wait_for_delivery_timeout_names_the_last_status(live, receiver):
    receiver.respond = lambda hook: 503  # every attempt refused: never acknowledged
    put_scenario(live, "slow-retries", webhook={"retry_schedule_ms": [60_000_000]})  # the retry 60 s away
    assert create_ok(live, "tx_408", receiver.url(), scenario="slow-retries")["status"] == "PENDING"
    wait_delivery(live, tx_id="tx_408", state="attempted", min_attempts=1)  # the 503 is recorded
    r = live.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_408", "state": "acknowledged", "timeout_ms": 300})
    problem = _assert_problem(r, 408)
    assert "the last one got 503" in problem["detail"], problem["detail"]


def test_wait_for_delivery_timeout_names_the_last_error(live):
    put_scenario(live, "slow-retries", webhook={"retry_schedule_ms": [60_000_000]})
    closed = "http://127.0.0.1:9/closed"  # discard port: nothing listens, the connection is refused
    assert create_ok(live, "tx_408e", closed, scenario="slow-retries")["status"] == "PENDING"
    wait_delivery(live, tx_id="tx_408e", state="attempted", min_attempts=1)
    r = live.get("/mock/v1/wait-for-delivery", params={"tx_id": "tx_408e", "state": "acknowledged", "timeout_ms": 300})
    problem = _assert_problem(r, 408)
    assert "the last one: cannot connect" in problem["detail"], problem["detail"]


# 10. faults count attempts actually sent


def test_signature_fault_applies_to_the_first_attempt_sent_not_the_simulated_one(live, receiver: WebhookReceiver):
    receiver.respond = lambda hook: 200 if hook.verified else 401
    put_scenario(
        live,
        "fail-then-badsig",
        webhook={
            "fail_attempts": 1,
            "signature": "invalid",
            "fault_attempts": 1,
            "retry_schedule_ms": [1000, 1000, 1000],
        },
    )
    assert create_ok(live, "tx_sent", receiver.url(), scenario="fail-then-badsig")["status"] == "PENDING"
    wait_delivery(live, tx_id="tx_sent", state="acknowledged")
    bad, good = receiver.wait_for(2)
    assert not seed_ok(bad) and standard_error(bad) is not None  # was valid: the fault went to the simulated one
    assert seed_ok(good) and standard_error(good) is None
    d = delivery(live, "evt_completed_tx_sent")
    assert [a["simulated"] for a in d["attempts"]] == [True, False, False]
    assert [a["signature"] for a in real_attempts(d)] == ["invalid", "valid"]
    assert [a["status_code"] for a in real_attempts(d)] == [401, 200]
    assert "signature invalid (first 1 attempt(s) sent)" in d["faults"]
    assert len(receiver.received) == 2


# reset while a request's first attempt is still sending


def _held_receiver(receiver: WebhookReceiver) -> tuple[threading.Event, threading.Event]:
    """The receiver holds every webhook to /held until released; `arrived` is set by the first."""
    arrived, release = threading.Event(), threading.Event()

    def respond(hook: Any) -> int:
        if hook.path == "/held":
            arrived.set()
            release.wait(10)  # bounded: a hang ends as an answer anyway
        return 200

    receiver.respond = respond
    return arrived, release


def _in_thread(call: Any) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def test_a_first_attempt_outliving_a_reset_leaves_the_next_payment_of_its_tx_id_alone(live, live_server, receiver):
    arrived, release = _held_receiver(receiver)
    with httpx.Client(base_url=live_server.base_url, timeout=30) as other:
        thread, old = _in_thread(lambda: create(other, "tx_reset", receiver.url("/held")))
        try:
            assert arrived.wait(10), "the first attempt never reached the receiver"
            assert live.post("/mock/v1/reset").status_code == 200
            # the next test reuses the tx_id; its payment waits for a confirm
            new = create_ok(live, "tx_reset", receiver.url("/new"), scenario="manual-confirm")
            assert new["status"] == "PENDING"
        finally:
            release.set()
            thread.join(15)
    assert old and old[0].status_code == 200, old  # the old request ends cleanly
    # the old attempt's 200 was for the wiped payment: the new one is still waiting for its confirm
    assert status_of(live, "pay_tx_reset") == "PENDING"
    assert live.get("/mock/v1/deliveries", params={"tx_id": "tx_reset"}).json()["total"] == 0


def test_two_creates_of_one_tx_id_across_a_reset_both_answer(live, live_server, receiver):
    # the second create owned the in-flight entry the first one deleted on its way out: a 500 (KeyError)
    arrived, release = _held_receiver(receiver)
    with (
        httpx.Client(base_url=live_server.base_url, timeout=30) as a,
        httpx.Client(base_url=live_server.base_url, timeout=30) as b,
    ):
        first, first_answer = _in_thread(lambda: create(a, "tx_twice_reset", receiver.url("/held")))
        try:
            assert arrived.wait(10)
            assert live.post("/mock/v1/reset").status_code == 200
            second, second_answer = _in_thread(lambda: create(b, "tx_twice_reset", receiver.url("/held")))
            deadline = time.monotonic() + 10  # until the second create has stored its delivery and is sending
            while not live.get("/mock/v1/deliveries", params={"tx_id": "tx_twice_reset"}).json()["total"]:
                assert time.monotonic() < deadline, "the second create never stored its delivery"
                time.sleep(0.05)
        finally:
            release.set()
            first.join(15)
            second.join(15)
    assert [r.status_code for r in first_answer + second_answer] == [200, 200], first_answer + second_answer
    found = live.get(
        "/mock/v1/wait-for-delivery", params={"tx_id": "tx_twice_reset", "state": "acknowledged", "timeout_ms": 5000}
    )
    assert found.status_code == 200, found.text
    assert status_of(live, "pay_tx_twice_reset") == "PAYMENT_COMPLETED"


# the control API and the Python client


def test_delete_scenario_is_a_bare_204(live):
    put_scenario(live, "gone-soon")
    r = live.delete("/mock/v1/scenarios/gone-soon")
    assert r.status_code == 204 and r.content == b""
    assert "content-type" not in r.headers  # was application/problem+json


def test_client_escapes_ids_and_restores_the_active_scenario(live, live_server):
    with PaymockClient(live_server.base_url) as client:
        with pytest.raises(PaymockError) as info:
            client.delivery("../health")  # one id, not the health route
        assert info.value.status_code in (400, 404)
        with pytest.raises(ValueError, match="name"):
            client.put_scenario({"description": "no name"})
        assert client.put_scenario({"name": "mine", "description": "d"}, dry_run=True)["source"] == "runtime"
        assert "mine" not in {s["name"] for s in client.scenarios()["scenarios"]}  # dry run stored nothing
        client.put_scenario({"name": "mine", "description": "d"})
        client.set_scenario("mine")
        # the block resets (as a test's setup may): restoring `mine`, now gone, must not mask the failure
        with pytest.raises(AssertionError, match="the test's own"), client.scenario("declined"):
            client.reset()
            raise AssertionError("the test's own failure")
        assert client.active_scenario() == "default"
        client.put_scenario({"name": "mine", "description": "d"})
        client.delete_scenario("mine")
        assert "mine" not in {s["name"] for s in client.scenarios()["scenarios"]}


# 11. query strings and bodies Connexion took silently


@pytest.mark.parametrize(
    ("query_string", "mentions"),
    [
        ("status=PENDING&status=PAYMENT_FAILED", ("'status' is given 2 times",)),
        ("limit=1_0", ("'limit' is '1_0'", "plain decimal digits")),
        ("limit=+10", ("'limit' is ' 10'",)),  # a raw `+` is a space in a query string
        ("limit=%2B10", ("'limit' is '+10'",)),
        ("offset=-0", ("'offset' is '-0'",)),
    ],
)
def test_repeated_and_loosely_written_query_parameters_are_400s(live, query_string: str, mentions: tuple[str, ...]):
    problem = _assert_problem(live.get(f"/api/v2/pending-payments?{query_string}"), 400)
    for mention in mentions:
        assert mention in problem["detail"], problem["detail"]


def test_redeliver_refuses_a_chunked_body_and_takes_an_empty_one(live, receiver):
    create_ok(live, "tx_redeliver_body", receiver.url())
    receiver.wait_for(1)
    path = "/mock/v1/deliveries/evt_completed_tx_redeliver_body/redeliver"
    problem = _assert_problem(live.post(path, content=_chunks(b'{"scenario": "declined"}')), 400)
    assert "no request body" in problem["detail"] and "24 bytes" in problem["detail"], problem["detail"]
    assert len(delivery(live, "evt_completed_tx_redeliver_body")["attempts"]) == 1  # nothing was sent
    # a chunked form: Connexion reads forms for every operation, so a second read would wait for the
    # client to hang up (it used to: a timeout here)
    multipart = b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n'
    for form_type, form in (
        ("application/x-www-form-urlencoded", b"a=1"),
        ("multipart/form-data; boundary=x", multipart),
    ):
        r = live.post(path, content=_chunks(form), headers={"Content-Type": form_type}, timeout=5)
        assert "takes no request body, and this one is a form" in _assert_problem(r, 400)["detail"]
    assert len(delivery(live, "evt_completed_tx_redeliver_body")["attempts"]) == 1
    assert live.post(path, content=_chunks(b"")).status_code == 200
    receiver.wait_for(2)


def test_reset_refuses_a_body_and_resets_nothing(live, receiver):
    create_ok(live, "tx_reset_body", receiver.url())
    receiver.wait_for(1)
    r = live.post("/mock/v1/reset", json={"keep_scenarios": True})  # options it does not have
    assert "reset takes no request body" in _assert_problem(r, 400)["detail"]
    assert listing(live)["total"] == 1  # nothing was reset
    assert live.post("/mock/v1/reset").json()["payments_removed"] == 1


def test_client_waits_keep_working_and_contradictions_are_400s(live, live_server, receiver):
    create_ok(live, "tx_client_wait", receiver.url())
    with PaymockClient(live_server.base_url) as client:
        # the client always sends min_attempts (1 by default): with any state that asks for nothing more
        assert client.wait_for_delivery(tx_id="tx_client_wait", state="acknowledged")["state"] == "acknowledged"
        found = client.wait_for_delivery(tx_id="tx_client_wait", event="payment.completed", state="attempted")
        assert found["delivery_id"] == "evt_completed_tx_client_wait"
        with pytest.raises(PaymockError) as info:
            client.wait_for_delivery(tx_id="tx_client_wait", state="acknowledged", min_attempts=3)
        assert info.value.status_code == 400
        assert "min_attempts=3" in str(info.value) and "state=acknowledged" in str(info.value)
        with pytest.raises(PaymockError) as info:
            client.wait_for_delivery(delivery_id="evt_completed_tx_client_wait", event="payment.failed")
        assert info.value.status_code == 400 and "drop event" in str(info.value)


# 12. a JSON key given twice: json.loads keeps the last value, so the client's intent is unknowable


def test_a_repeated_json_key_is_a_400_and_stores_nothing(live, receiver):
    body = json.dumps(payment_body("tx_twice", receiver.url()))
    # the amount twice: 1000 as the client meant it, or 999999 as a merge bug left it?
    data = body[:-1] + ', "amount": 999999}'
    r = live.post("/api/v2/payments", content=data, headers={"Content-Type": "application/json"})
    problem = _assert_problem(r, 400)
    assert "the key 'amount' is given twice in one object" in problem["detail"], problem["detail"]
    _nothing_stored(live)
    # nested objects too, on the control API: a scenario whose webhook says two things
    scenario = '{"description": "d", "webhook": {"fail_attempts": 1, "fail_attempts": 0}}'
    r = live.put("/mock/v1/scenarios/qa-twice", content=scenario, headers={"Content-Type": "application/json"})
    assert "'fail_attempts' is given twice" in _assert_problem(r, 400)["detail"]
    assert live.get("/mock/v1/scenarios/qa-twice").status_code == 404
    # a byte order mark (json.loads refuses it): still a clear 400
    r = live.post("/api/v2/payments", content=("\ufeff" + body).encode(), headers={"Content-Type": "application/json"})
    assert "byte order mark" in _assert_problem(r, 400)["detail"]
    _nothing_stored(live)
    # the same keys once each still work
    assert live.post("/api/v2/payments", content=body, headers={"Content-Type": "application/json"}).status_code == 200
    receiver.wait_for(1)
