"""Helpers for the end-to-end tests: the seed's verifier, the Standard Webhooks verifier and small
wrappers over the provider and control APIs of a real `paymock serve` process."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook, WebhookVerificationError

from paymock.domain.webhooks import standard_secret
from paymock.testing.receiver import ReceivedWebhook
from tests.conftest import SECRET, TIME_SCALE, payment_body, wait_for_delivery

SCENARIO_HEADER = "X-Mock-Scenario"
AUTH_TOKEN = "e2e-service-token"  # what the `auth_server` fixture (tests/e2e/conftest.py) requires
# Timer slack when checking "not before": the scheduler may fire a hair early on a coarse clock.
EARLY_SLACK_S = 0.02


# Copied from the seed README ("서명 검증"; only a trailing space dropped): what an ops server written
# against the seed runs.
# fmt: off
def verify_webhook_signature(payload: bytes, signature: str, secret: str) -> bool:
    expected = hmac.new(
        secret.encode('utf-8'),
        payload,
        hashlib.sha256
    ).digest()
    expected_b64 = base64.b64encode(expected).decode('ascii')
    return hmac.compare_digest(signature, expected_b64)
# fmt: on


def seed_ok(hook: ReceivedWebhook, secret: str = SECRET) -> bool:
    """The seed's check as an ops server runs it: a missing header is a failed check."""
    signature = hook.headers.get("x-payment-signature")
    return signature is not None and verify_webhook_signature(hook.body, signature, secret)


def standard_error(hook: ReceivedWebhook, secret: str = SECRET) -> str | None:
    """The `standardwebhooks` package's own verifier: None when valid, else its error message."""
    try:
        Webhook(standard_secret(secret)).verify(hook.body, hook.headers, json_parse=False)
    except WebhookVerificationError as exc:
        return str(exc) or type(exc).__name__
    return None


def create(live: httpx.Client, tx_id: str, url: str, scenario: str | None = None, **fields: Any) -> httpx.Response:
    headers = {SCENARIO_HEADER: scenario} if scenario else {}
    return live.post("/api/v2/payments", json=payment_body(tx_id, url, **fields), headers=headers)


def create_ok(live: httpx.Client, tx_id: str, url: str, scenario: str | None = None, **fields: Any) -> dict[str, Any]:
    r = create(live, tx_id, url, scenario, **fields)
    assert r.status_code == 200, r.text
    return r.json()


def confirm(live: httpx.Client, payment_id: str, scenario: str | None = None) -> httpx.Response:
    headers = {SCENARIO_HEADER: scenario} if scenario else {}
    return live.post("/api/v2/confirm-payment", json={"payment_id": payment_id}, headers=headers)


def wait_delivery(live: httpx.Client, timeout_ms: int = 10_000, **params: Any) -> dict[str, Any]:
    """Long-poll the control API until the delivery reaches `state` (default settled)."""
    r = wait_for_delivery(live, timeout_ms / 1000, **params)
    assert r.status_code == 200, r.text
    return r.json()


def delivery(live: httpx.Client, delivery_id: str) -> dict[str, Any]:
    r = live.get(f"/mock/v1/deliveries/{delivery_id}")
    assert r.status_code == 200, r.text
    return r.json()


def payment_detail(live: httpx.Client, payment_id: str) -> dict[str, Any]:
    r = live.get(f"/mock/v1/payments/{payment_id}")
    assert r.status_code == 200, r.text
    return r.json()


def listing(live: httpx.Client, **params: Any) -> dict[str, Any]:
    r = live.get("/api/v2/pending-payments", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def status_of(live: httpx.Client, payment_id: str) -> str:
    return payment_detail(live, payment_id)["payment"]["status"]


def put_scenario(live: httpx.Client, name: str, **document: Any) -> dict[str, Any]:
    body = {"name": name, "description": f"e2e scenario {name}", **document}
    r = live.put(f"/mock/v1/scenarios/{name}", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def scaled(ms: float) -> float:
    """Seconds a scenario's millisecond value takes on the test server's scaled clock."""
    return ms * TIME_SCALE / 1000.0


def real_attempts(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in d["attempts"] if not a["simulated"]]


def assert_log_matches(d: dict[str, Any], hooks: list[ReceivedWebhook]) -> None:
    """Every attempt that was really sent shows exactly the headers and body the receiver got."""
    sent = real_attempts(d)
    assert len(sent) == len(hooks), (len(sent), len(hooks))
    for attempt, hook in zip(sent, hooks, strict=True):
        assert attempt["request_body"].encode("utf-8") == hook.body
        for key, value in attempt["request_headers"].items():
            if key.lower() == "authorization":
                assert value == "Bearer ***"  # redacted in the log
                continue
            assert hook.headers.get(key.lower()) == value, (attempt["number"], key)
        assert attempt["status_code"] == hook.answered
        assert attempt["latency_ms"] >= 0


def now() -> float:
    return time.time()


MIB = 1 << 20


def nothing_stored(live: httpx.Client) -> None:
    assert listing(live)["total"] == 0
    assert live.get("/mock/v1/deliveries").json()["total"] == 0


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A generator body: httpx sends it with Transfer-Encoding: chunked and no Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def post_chunked(live: httpx.Client, path: str, data: bytes, headers: dict[str, str]) -> httpx.Response:
    return live.post(path, content=chunks(data), headers=headers)


# --- processes (`paymock serve --workers N`) -------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:  # the field after the state is the parent's pid
            found.append(int(stat.parent.name))
    return sorted(found)


def healthz(base_url: str) -> int:
    # a new connection each time: the kernel hands it to a process that is accepting
    return httpx.get(base_url + "/healthz", timeout=5).status_code


def wait_gone(pids: list[int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        assert time.monotonic() < deadline, f"still running: {pids}"
        time.sleep(0.05)


@contextlib.contextmanager
def only_one_accepting(serving: int, children: list[int]) -> Iterator[None]:
    """Every child but `serving` stopped (SIGSTOP) meanwhile: each new connection to their shared port is
    accepted by `serving`, which is how a test addresses one process without a header of its own."""
    frozen = [pid for pid in children if pid != serving]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
