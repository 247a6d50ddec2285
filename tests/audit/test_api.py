"""POST /mock/v1/audit on the in-process app (request and response validation on), against real receivers."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import SECRET, in_process

from .receivers import Receiver


@pytest.fixture
def sound() -> Iterator[Receiver]:
    receiver = Receiver(SECRET)  # the in-process server signs with tests.conftest.SECRET
    yield receiver
    receiver.close()


def test_the_server_audits_a_receiver_and_answers_the_report(client, sound: Receiver) -> None:
    r = client.post("/mock/v1/audit", json={"url": sound.url, "state": {"url": sound.state_url, "field": "paid"}})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["ok"] is True
    assert (report["passed"], report["warned"], report["failed"]) == (13, 0, 0)
    assert report["timeout_s"] == 2.0  # the server's PAYMOCK_WEBHOOK_TIMEOUT
    assert report["checks"][0]["id"] == "valid-completed"
    assert "paid 0 -> 1" in report["checks"][0]["detail"]
    assert all(c["why"] and c["fix"] for c in report["checks"])


def test_a_flawed_receiver_is_reported_not_refused(client) -> None:
    flawed = Receiver(SECRET, "no_verify")
    try:
        r = client.post("/mock/v1/audit", json={"url": flawed.url, "timeout_s": 1.5})
    finally:
        flawed.close()
    assert r.status_code == 200
    report = r.json()
    assert report["ok"] is False and report["timeout_s"] == 1.5
    failed = {c["id"] for c in report["checks"] if c["grade"] == "fail"}
    assert failed == {"wrong-key", "unsigned", "tampered-body", "foreign-signature"}


def test_a_host_outside_paymock_callback_hosts_is_403_and_nothing_is_sent(sound: Receiver) -> None:
    with in_process(callback_hosts=frozenset({"localhost"})) as client:
        r = client.post("/mock/v1/audit", json={"url": sound.url})
        state = {"url": sound.state_url.replace("127.0.0.1", "localhost"), "field": "paid"}
        r2 = client.post("/mock/v1/audit", json={"url": sound.url.replace("127.0.0.1", "localhost"), "state": state})
        state_elsewhere = {"url": "http://example.com/orders/{order_id}", "field": "paid"}
        r3 = client.post(
            "/mock/v1/audit", json={"url": sound.url.replace("127.0.0.1", "localhost"), "state": state_elsewhere}
        )
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert "'127.0.0.1' is not in PAYMOCK_CALLBACK_HOSTS (localhost)" in r.json()["detail"]
    assert r2.status_code == 200 and r2.json()["ok"] is True  # the allowed spelling of the same host
    assert r3.status_code == 403 and "'example.com'" in r3.json()["detail"]
    assert sound.requests == 12  # r2's 12 webhooks only: the refused audits sent nothing


def test_nothing_listening_is_a_409_naming_the_url(client) -> None:
    r = client.post("/mock/v1/audit", json={"url": "http://127.0.0.1:9/webhook"})
    assert r.status_code == 409
    assert r.json()["detail"].startswith("cannot reach http://127.0.0.1:9/webhook: cannot connect")


def test_a_state_url_naming_no_field_is_a_409_and_nothing_is_sent(client, sound: Receiver) -> None:
    state = {"url": sound.base + "/orders/{secret}", "field": "paid"}
    r = client.post("/mock/v1/audit", json={"url": sound.url, "state": state})
    assert r.status_code == 409
    assert "'secret' is not a field; use {order_id}" in r.json()["detail"]
    assert sound.requests == 0


def test_a_state_url_placeholder_with_a_format_spec_is_a_409_and_nothing_is_sent(client, sound: Receiver) -> None:
    # `{order_id:>300000000}` (a 150-byte request) formatted a 300 MB URL per case: 7 GB of RSS
    state = {"url": sound.base + "/orders/{order_id:>1000}", "field": "paid"}
    r = client.post("/mock/v1/audit", json={"url": sound.url, "state": state})
    assert r.status_code == 409, r.text
    assert "'{order_id:>1000}' is not a field; use {order_id}" in r.json()["detail"]
    assert sound.requests == 0


def test_the_servers_report_shows_a_state_that_is_not_a_number_only_by_its_type(client) -> None:
    # The server reads the state URL a caller names: echoing what it read made POST /mock/v1/audit a way
    # to read 40 characters of any JSON field any URL the server reaches answers (a metadata service's keys).
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLE"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"SecretAccessKey": secret, "count": 7}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        hidden = client.post(
            "/mock/v1/audit",
            json={"url": base + "/x", "state": {"url": base + "/{order_id}", "field": "SecretAccessKey"}},
        )
        shown = client.post(
            "/mock/v1/audit", json={"url": base + "/x", "state": {"url": base + "/{order_id}", "field": "count"}}
        )
    finally:
        server.shutdown()
        server.server_close()
    assert hidden.status_code == 200, hidden.text
    assert secret[:10] not in hidden.text
    assert "SecretAccessKey did not change (a string, not shown -> a string, not shown)" in hidden.text
    assert "count did not change (7 -> 7)" in shown.text  # numbers (a paid count) are shown


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://xn--a/hook"},  # schema-valid; httpx refuses the host (idna) when it builds the request
        {"url": "http://127.0.0.1:9/hook", "state": {"url": "http://xn--a/{order_id}", "field": "paid"}},
    ],
)
def test_a_host_httpx_cannot_encode_is_a_409_not_a_500(body: dict) -> None:
    with in_process(callback_hosts=frozenset()) as client:  # no allowlist: the host is not refused before
        r = client.post("/mock/v1/audit", json=body)
    assert r.status_code == 409, r.text
    assert "xn--a" in r.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": "ftp://127.0.0.1/x"},
        {"url": "http://user:pw@127.0.0.1/x"},
        {"url": "http://127.0.0.1:70000/x"},
        {"url": "http://127.0.0.1/x", "timeout_s": 0},
        {"url": "http://127.0.0.1/x", "state": {"url": "http://127.0.0.1/orders/{order_id}"}},
        {"url": "http://127.0.0.1/x", "state": {"url": "http://{order_id}.evil/", "field": "paid"}},
        {"url": "http://127.0.0.1/x", "extra": 1},
    ],
)
def test_a_request_the_contract_refuses_is_a_400(client, body: dict) -> None:
    r = client.post("/mock/v1/audit", json=body)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"


@contextlib.contextmanager
def four_audits_held(client) -> Iterator[tuple[list[Receiver], list[int]]]:
    """Four audits running at once on `client`'s app, each held at its first webhook until the block
    ends; yields the holding receivers and the audits' statuses (filled in as they end, after the block)."""
    held = [Receiver(SECRET, "hold") for _ in range(4)]
    answers: list[int] = []

    def audit(receiver: Receiver) -> None:
        answers.append(client.post("/mock/v1/audit", json={"url": receiver.url}).status_code)

    threads = [threading.Thread(target=audit, args=(r,)) for r in held]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while sum(r.held for r in held) < 4 and time.monotonic() < deadline:  # each audit's first webhook is in
            time.sleep(0.02)
        assert sum(r.held for r in held) == 4
        yield held, answers
    finally:
        for receiver in held:
            receiver.release.set()
        for thread in threads:
            thread.join(30)
        for receiver in held:
            receiver.close()


def test_a_fifth_audit_at_once_is_a_429_with_retry_after(client) -> None:
    with four_audits_held(client) as (held, answers):
        busy = client.post("/mock/v1/audit", json={"url": held[0].url})
    assert busy.status_code == 429
    assert busy.headers["Retry-After"] == "5"
    assert "4 audits are running" in busy.json()["detail"]
    assert answers == [200, 200, 200, 200]  # the four ran to their end
    assert client.post("/mock/v1/audit", json={"url": "http://127.0.0.1:9/x"}).status_code == 409  # a slot again


def test_two_apps_in_one_process_count_their_audits_apart(client) -> None:
    # the count was a module global: four audits on one app made every other app in the process answer 429
    with four_audits_held(client) as (held, _):
        assert client.post("/mock/v1/audit", json={"url": held[0].url}).status_code == 429  # this app is full
        with in_process() as other:
            r = other.post("/mock/v1/audit", json={"url": "http://127.0.0.1:9/x"})
    assert r.status_code == 409, r.text  # the other app ran it: nothing listens there
