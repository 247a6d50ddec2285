"""paymock as a CI sidecar: real processes on loopback, configured by env and mounted files only.

Ready and shutdown times are printed (`-s`), not asserted tightly: they depend on the machine's load.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from paymock.testing.process import free_port
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import SECRET, SERVER_ENV, payment_body, wait_for_delivery
from tests.sidecar.helpers import start_server, wait_answering


def _json_lines(output: str) -> list[dict[str, Any]]:
    lines = [line for line in output.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON log line: {line!r}\n--- whole output ---\n{output}")
    return parsed


def test_ready_fast_configured_by_env_and_mounted_scenarios(tmp_path: Path) -> None:
    mounted = tmp_path / "scenarios"
    mounted.mkdir()
    (mounted / "ci-refund-window.yaml").write_text(
        "name: ci-refund-window\ndescription: A scenario from a mounted directory.\nwebhook:\n  duplicates: 1\n"
    )
    env = {**SERVER_ENV, "PAYMOCK_SCENARIOS": str(mounted), "PAYMOCK_TIME_SCALE": "0.5", "LOG_LEVEL": "WARNING"}
    server = start_server(env)
    try:
        print(f"\n[sidecar] ready after {server.ready_after * 1000:.0f} ms (process start to first /healthz 200)")
        with httpx.Client(base_url=server.base_url) as http:
            names = [s["name"] for s in http.get("/mock/v1/scenarios").json()["scenarios"]]
            assert "ci-refund-window" in names
            assert http.get("/mock/v1/health").json()["time_scale"] == 0.5
    finally:
        assert server.stop() == 0


def test_bad_configuration_fails_fast_with_the_variable_named() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "paymock.cli", "serve", "--port", str(free_port())],
        env={**os.environ, **SERVER_ENV, "PAYMOCK_TIME_SCALE": "fast"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "PAYMOCK_TIME_SCALE" in done.stderr


def test_sigterm_finishes_in_flight_requests_stops_retry_timers_and_exits_0() -> None:
    receiver = WebhookReceiver(SECRET)
    entered = threading.Event()

    def slow(_hook: Any) -> int:
        entered.set()
        time.sleep(1.0)  # the payment request stays in flight while its first attempt waits on us
        return 200

    receiver.status_for_path["/refuses"] = 503
    # realistic retry timing: the refused delivery's next attempt is seconds away when SIGTERM comes
    server = start_server({**SERVER_ENV, "PAYMOCK_TIME_SCALE": "1", "LOG_FORMAT": "json"})
    try:
        http = httpx.Client(base_url=server.base_url, timeout=30)
        refused = http.post("/api/v2/payments", json=payment_body("tx_refused", receiver.url("/refuses")))
        assert refused.json()["status"] == "PENDING"
        assert http.get("/mock/v1/health").json()["deliveries_pending"] == 1  # a retry timer is set

        receiver.respond = slow
        answer: dict[str, httpx.Response] = {}
        in_flight = threading.Thread(
            target=lambda: answer.setdefault(
                "r", http.post("/api/v2/payments", json=payment_body("tx_in_flight", receiver.url("/slow")))
            )
        )
        in_flight.start()
        assert entered.wait(10), "the in-flight payment's webhook never arrived"
        refused_before = len(receiver.for_path("/refuses"))
        stop_started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(10)
        stopped_after = time.monotonic() - stop_started
        in_flight.join(10)
        print(f"\n[sidecar] exit {code} {stopped_after * 1000:.0f} ms after SIGTERM (1 s request in flight)")

        assert code == 0, server.output()
        assert answer["r"].status_code == 200 and answer["r"].json()["status"] == "PAYMENT_COMPLETED"
        assert stopped_after < 5
        assert len(receiver.for_path("/refuses")) == refused_before, "no retry may be sent after shutdown"
        lines = _json_lines(server.output())  # complete: the process has exited
        # the server's own account, rather than a wait for a retry that might still arrive: one attempt
        # logged for the refused delivery, its first; the timer set for the next one was stopped
        refused_attempts = [
            line["attempt"]
            for line in lines
            if line.get("kind") == "webhook.attempt" and line.get("delivery_id") == "evt_completed_tx_refused"
        ]
        assert refused_attempts == [1], refused_attempts
        messages = [line.get("msg", "") for line in lines]
        assert "Application shutdown complete." in messages
    finally:
        server.stop()
        receiver.close()


def test_json_log_has_one_line_per_request_and_per_delivery_attempt() -> None:
    receiver = WebhookReceiver(SECRET)
    server = start_server({**SERVER_ENV, "LOG_FORMAT": "json", "PAYMOCK_ACCESS_LOG": "true"})
    sent: list[httpx.Request] = []  # a wait may take more than one long-poll: count what was sent
    try:
        with httpx.Client(base_url=server.base_url, timeout=30, event_hooks={"request": [sent.append]}) as http:
            receiver.refuse_next(2)  # 2 refused attempts, then acknowledged: 3 attempts
            http.post("/api/v2/payments", json=payment_body("tx_log_1", receiver.url()))
            assert wait_for_delivery(http, tx_id="tx_log_1", state="acknowledged").status_code == 200
            http.post("/api/v2/payments", json=payment_body("tx_log_2", receiver.url()))
            assert wait_for_delivery(http, tx_id="tx_log_2", state="acknowledged").status_code == 200
            assert http.get("/api/v2/pending-payments").status_code == 200
            assert http.post("/api/v2/confirm-payment", json={"payment_id": "pay_nope"}).status_code == 404
            attempts = sum(d["attempt_count"] for d in http.get("/mock/v1/deliveries").json()["deliveries"])
        requests = 1 + len(sent)  # and wait_ready's successful /healthz
        assert attempts == 4
    finally:
        assert server.stop() == 0
        receiver.close()
    lines = _json_lines(server.output())
    kinds = Counter(line.get("kind") for line in lines)
    assert kinds["http.request"] == requests
    assert kinds["webhook.attempt"] == attempts
    access = [line for line in lines if line.get("kind") == "http.request"]
    assert {"method", "path", "status", "client", "ts", "level"} <= set(access[0])
    assert ("POST", "/api/v2/confirm-payment", 404) in {(a["method"], a["path"], a["status"]) for a in access}
    attempt_lines = [line for line in lines if line.get("kind") == "webhook.attempt"]
    assert [a["status_code"] for a in attempt_lines if a["delivery_id"] == "evt_completed_tx_log_1"] == [503, 503, 200]
    assert {"delivery_id", "attempt", "latency_ms", "state", "scenario"} <= set(attempt_lines[0])


PAYMOCK_ALL = [sys.executable, "-m", "paymock.cli", "all", "--host", "127.0.0.1"]


@pytest.mark.skipif(importlib.util.find_spec("streamlit") is None, reason="the console extra is not installed")
def test_all_runs_server_and_console_together_and_stops_both_on_sigterm() -> None:
    """`paymock all`: the seed's single container (API on one port, console on another)."""
    api_port, console_port = free_port(), free_port()
    process = subprocess.Popen(
        [*PAYMOCK_ALL, "--port", str(api_port), "--console-port", str(console_port)],
        env={**os.environ, **SERVER_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for url in (f"http://127.0.0.1:{api_port}/healthz", f"http://127.0.0.1:{console_port}/_stcore/health"):
            wait_answering(url, process, "paymock all")
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        for port in (api_port, console_port):
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@functools.cache
def _can_be_pid_1() -> bool:
    """A new PID namespace (what a container gives its command) needs unshare and privileges."""
    try:
        done = subprocess.run(["unshare", "--fork", "--pid", "--mount-proc", "true"], timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists()


def _pid_1_of(unshare: subprocess.Popen[bytes]) -> int:
    """The host pid of the namespace's PID 1: the one child of the unshare process."""
    deadline = time.monotonic() + 10
    children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children")
    while not (found := children.read_text().split()):
        assert time.monotonic() < deadline, "unshare started no child"
        time.sleep(0.05)
    return int(found[0])


@pytest.mark.parametrize("command", ["serve", "console", "all"])
def test_every_command_stops_on_sigterm_as_pid_1(command: str, tmp_path: Path) -> None:
    """In a container the command is PID 1, which the kernel shields from signals it has no handler
    for: `docker stop` must still stop each command cleanly without `--init`."""
    if not _can_be_pid_1():
        pytest.skip("no PID namespace here (unshare missing or not privileged)")
    if command != "serve" and importlib.util.find_spec("streamlit") is None:
        pytest.skip("the console extra is not installed")
    port = free_port()
    args = {
        "serve": ["serve", "--port", str(port)],
        "console": ["console", "--port", str(port), "--address", "127.0.0.1"],
        "all": ["all", "--host", "127.0.0.1", "--port", str(free_port()), "--console-port", str(port)],
    }[command]
    health = f"http://127.0.0.1:{port}" + ("/healthz" if command == "serve" else "/_stcore/health")
    log = tmp_path / "output.log"
    with log.open("wb") as out:
        unshare = subprocess.Popen(
            ["unshare", "--fork", "--pid", "--mount-proc", sys.executable, "-m", "paymock.cli", *args],
            env={**os.environ, **SERVER_ENV},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    pid_1 = 0
    try:
        pid_1 = _pid_1_of(unshare)
        wait_answering(health, unshare, f"paymock {command}", log.read_text)
        os.kill(pid_1, signal.SIGTERM)
        assert unshare.wait(20) == 0, log.read_text()
    finally:
        if unshare.poll() is None:
            if pid_1:
                os.kill(pid_1, signal.SIGKILL)  # the namespace's init: everything in it goes too
            unshare.kill()
            unshare.wait()
