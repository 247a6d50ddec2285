"""The audit against a hostile receiver: `paymock audit` and POST /mock/v1/audit send through the webhook
sender, so a receiver streaming `100 Continue` forever costs each request a few hundred bytes (the 1xx cap),
not its whole time limit of CPU. With httpx, four server-run audits against it used 50 s of server CPU in
60 s; one `paymock audit` burned CPU for its whole --max-time."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

from tests.conftest import SECRET

from .receivers import HostileReceiver

JSON = ("--format", "json")
INTERIM_CAP = "more than 8 interim (1xx) responses"


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_paymock_audit_stops_each_request_at_the_1xx_cap(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PAYMENT_WEBHOOK_SECRET": SECRET, "SERVICE_AUTH_TOKEN": ""}
    with HostileReceiver("endless_continue", max_s=60) as rx:
        cpu_before = _children_cpu_s()
        done = subprocess.run(
            [sys.executable, "-m", "paymock.cli", "audit", rx.url(), "--timeout", "1", "--max-time", "20", *JSON],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        cpu_s = _children_cpu_s() - cpu_before
    assert done.returncode == 1, done.stderr  # every check fails: the receiver never answers
    assert "Traceback" not in done.stderr
    details = [c["detail"] for c in json.loads(done.stdout)["checks"] if c["id"] != "answer-time"]
    # every case was sent and refused at the cap, none left unsent by the time limit
    assert details and all(INTERIM_CAP in detail for detail in details), details
    # loose: start-up and 13 short failures; with httpx it was CPU-bound for the whole 20 s
    assert cpu_s < 8.0, f"{cpu_s:.1f} s of CPU"


def test_the_server_run_audit_stops_each_request_at_the_1xx_cap(client) -> None:  # type: ignore[no-untyped-def]
    with HostileReceiver("endless_continue", max_s=90) as rx:
        started = time.monotonic()
        r = client.post("/mock/v1/audit", json={"url": rx.url(), "timeout_s": 1})
        elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    checks = r.json()["checks"]
    assert checks and all(c["grade"] == "fail" for c in checks)
    details = [c["detail"] for c in checks if c["id"] != "answer-time"]  # a summary: "no answer at all"
    assert details and all(INTERIM_CAP in detail for detail in details), details
    # loose: with httpx every request waited out its 3 s limit, the audit its 60 s
    assert elapsed < 30, f"{elapsed:.1f} s"
