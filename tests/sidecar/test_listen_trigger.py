"""`paymock listen` and `paymock trigger` end to end: real processes on loopback."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from paymock.testing.receiver import WebhookReceiver
from tests.conftest import SECRET, SERVER_ENV, payment_body, wait_for_delivery
from tests.sidecar.helpers import READY_TIMEOUT_S, start_server

PAYMOCK = [sys.executable, "-m", "paymock.cli"]
ENV = {k: v for k, v in os.environ.items() if k not in ("PAYMENT_WEBHOOK_SECRET", "SERVICE_AUTH_TOKEN")}


class Listen:
    """`paymock listen` in a child process; its stdout lines arrive on a queue."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*PAYMOCK, "listen", "--port", "0", "--secret", SECRET, *args],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.status: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.status), daemon=True).start()
        self.warnings: list[str] = []  # stderr lines before "paymock listen: ready on http://127.0.0.1:PORT"
        while True:
            try:
                ready = self.status.get(timeout=READY_TIMEOUT_S)
            except queue.Empty:
                self.stop()
                raise AssertionError("paymock listen never said it was ready") from None
            if "ready on" in ready:
                break
            self.warnings.append(ready)
        match = re.search(r"http://127\.0\.0\.1:(\d+)", ready)
        assert match, f"no ready line: {ready!r}"
        self.url = match.group(0)

    @staticmethod
    def _read(stream: Any, into: queue.Queue[str]) -> None:
        for line in stream:
            into.put(line.rstrip("\n"))

    def next_line(self, timeout: float = 10.0) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("paymock listen printed nothing") from None

    def next_event(self) -> dict[str, Any]:
        return json.loads(self.next_line())

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def listen() -> Iterator[Any]:
    started: list[Listen] = []

    def start(*args: str) -> Listen:
        started.append(Listen(*args))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def trigger(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PAYMOCK, "trigger", *args], env=ENV, capture_output=True, text=True, timeout=30)


def test_trigger_sends_a_verified_event_with_overrides(listen: Any) -> None:
    listener = listen("--json")
    url = listener.url + "/hook"
    done = trigger("payment.completed", url, "--secret", SECRET, "--tx-id", "tx_t1", "--set", "amount=5000")
    assert (done.returncode, done.stdout.strip()) == (0, "200"), done.stderr

    event = listener.next_event()
    assert event["event"] == "payment.completed" and event["webhook_id"] == "evt_completed_tx_t1"
    assert event["seed_signature"] == "ok" and event["standard_signature"] == "ok"
    assert event["path"] == "/hook" and event["answered"] == 200
    assert event["body"]["amount"] == 5000 and event["body"]["status"] == "PAYMENT_COMPLETED"
    assert listener.stop() == 0  # SIGTERM ends it cleanly


def test_trigger_failed_event_and_signature_faults_in_the_one_line_format(listen: Any) -> None:
    listener = listen()
    failed = trigger("payment.failed", listener.url, "--secret", SECRET, "--tx-id", "tx_f", "--failure-reason", "LIMIT")
    assert failed.returncode == 0
    line = listener.next_line()
    assert "payment.failed evt_failed_tx_f tx_id=tx_f amount=1000 status=PAYMENT_FAILED sig=ok/ok -> 200" in line

    assert trigger("payment.completed", listener.url, "--secret", "not-it").returncode == 0
    assert "sig=invalid/invalid -> 200" in listener.next_line()
    assert trigger("payment.completed", listener.url, "--secret", SECRET, "--signature", "missing").returncode == 0
    assert "sig=missing/missing -> 200" in listener.next_line()
    assert trigger("payment.completed", listener.url, "--secret", SECRET, "--signature", "stale").returncode == 0
    assert "sig=ok/stale -> 200" in listener.next_line()  # the seed's scheme has no timestamp to go stale


def test_listen_rejects_invalid_signatures_when_asked(listen: Any) -> None:
    listener = listen("--reject-invalid")
    bad = trigger("payment.completed", listener.url, "--secret", "not-it")
    assert (bad.returncode, bad.stdout.strip()) == (1, "401")
    assert "-> 401" in listener.next_line()
    good = trigger("payment.completed", listener.url, "--secret", SECRET)
    assert (good.returncode, good.stdout.strip()) == (0, "200")


def test_listen_forwards_and_answers_with_the_targets_status(listen: Any) -> None:
    target = WebhookReceiver(SECRET)
    try:
        target.refuse_next(1, 503)
        listener = listen("--forward-to", target.url("/ops"), "--json")
        first = trigger("payment.completed", listener.url, "--secret", SECRET, "--tx-id", "tx_fw")
        second = trigger("payment.completed", listener.url, "--secret", SECRET, "--tx-id", "tx_fw")
        assert [first.stdout.strip(), second.stdout.strip()] == ["503", "200"]
        hooks = target.wait_for(2, path="/ops")
        assert all(h.verified for h in hooks)  # body and signature headers arrive unchanged
        assert [listener.next_event()["forward_status"] for _ in range(2)] == [503, 200]
    finally:
        target.close()


def test_listen_status_drives_paymock_retries(listen: Any) -> None:
    """A real paymock sends to `paymock listen --status 500`: every attempt is printed, same webhook-id."""
    listener = listen("--status", "500", "--json")
    server = start_server({**SERVER_ENV, "PAYMENT_WEBHOOK_SECRET": SECRET})
    try:
        import httpx

        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            scenario = {"name": "three-tries", "description": "2 retries", "webhook": {"retry_schedule_ms": [10, 10]}}
            assert http.put("/mock/v1/scenarios/three-tries", json=scenario).status_code in (200, 201)
            body = payment_body("tx_listen", listener.url + "/webhook")
            answer = http.post("/api/v2/payments", json=body, headers={"X-Mock-Scenario": "three-tries"})
            assert answer.json()["status"] == "PENDING"
            waited = wait_for_delivery(http, tx_id="tx_listen", state="failed")
            assert waited.status_code == 200, waited.text
        events = [listener.next_event() for _ in range(3)]
        assert {e["webhook_id"] for e in events} == {"evt_completed_tx_listen"}
        assert all(e["answered"] == 500 and e["seed_signature"] == "ok" for e in events)
        assert all(e["standard_signature"] == "ok" for e in events)
    finally:
        server.stop()


def test_trigger_reports_an_unreachable_receiver() -> None:
    from paymock.testing.process import free_port

    done = trigger("payment.completed", f"http://127.0.0.1:{free_port()}/x", "--timeout", "2")
    assert done.returncode == 1 and "failed" in done.stderr
    bad = trigger("payment.completed", "http://127.0.0.1:1/x", "--set", "no-equals-sign")
    assert bad.returncode == 2 and "FIELD=VALUE" in bad.stderr


def test_an_empty_secret_is_no_secret_for_serve_listen_and_trigger(listen: Any) -> None:
    """`--secret "$PAYMENT_WEBHOOK_SECRET"` with the variable unset: one rule (resolve_secret) for all three
    commands, so a valid webhook verifies and each command says it fell back to the development secret."""
    listener = listen("--secret", "", "--json")
    assert any("development secret" in line for line in listener.warnings), listener.warnings

    triggered = trigger("payment.completed", listener.url, "--secret", "", "--tx-id", "tx_empty_secret")
    assert (triggered.returncode, triggered.stdout.strip()) == (0, "200"), triggered.stderr
    assert "development secret" in triggered.stderr
    event = listener.next_event()
    assert (event["seed_signature"], event["standard_signature"]) == ("ok", "ok")

    server = start_server({**SERVER_ENV, "PAYMENT_WEBHOOK_SECRET": ""})
    try:
        import httpx

        body = payment_body("tx_served_empty", listener.url + "/webhook")
        answer = httpx.post(server.base_url + "/api/v2/payments", json=body, timeout=30)
        assert answer.json()["status"] == "PAYMENT_COMPLETED", answer.text
    finally:
        server.stop()
    event = listener.next_event()
    assert event["webhook_id"] == "evt_completed_tx_served_empty"
    assert (event["seed_signature"], event["standard_signature"]) == ("ok", "ok")


def test_a_whsec_secret_that_does_not_decode_is_refused_by_listen_and_trigger() -> None:
    for command in (["listen", "--port", "0"], ["trigger", "payment.completed", "http://127.0.0.1:1/x"]):
        done = subprocess.run(
            [*PAYMOCK, *command, "--secret", "whsec_%%%"], env=ENV, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 2 and "whsec_" in done.stderr and "%%%" not in done.stderr, done.stderr
