"""Starting the server as users do: `paymock serve`, `uvicorn paymock.app:app`; settings from env."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from paymock.testing.process import ServerProcess, free_port
from tests.conftest import SERVER_ENV, payment_body


def test_serve_without_secret_warns_and_names_the_variable():
    env = {**SERVER_ENV, "PAYMENT_WEBHOOK_SECRET": ""}
    server = ServerProcess(env).wait_ready()
    server.stop()
    out = server.output()
    assert "PAYMENT_WEBHOOK_SECRET is not set" in out


def test_secret_and_token_never_logged_and_log_level_honoured(receiver):
    env = {**SERVER_ENV, "SERVICE_AUTH_TOKEN": "tok-never-logged", "LOG_LEVEL": "DEBUG"}
    server = ServerProcess(env).wait_ready()
    try:
        headers = {"Authorization": "Bearer tok-never-logged"}
        r = httpx.post(
            server.base_url + "/api/v2/payments", json=payment_body("tx_log", receiver.url()), headers=headers
        )
        assert r.status_code == 200
        receiver.wait_for(1)
    finally:
        server.stop()
    out = server.output()
    assert "webhook attempt evt_completed_tx_log" in out
    assert "tok-never-logged" not in out
    assert SERVER_ENV["PAYMENT_WEBHOOK_SECRET"] not in out

    quiet = ServerProcess({**SERVER_ENV, "LOG_LEVEL": "WARNING"}).wait_ready()
    httpx.get(quiet.base_url + "/api/v2/pending-payments")
    quiet.stop()
    assert " INFO " not in quiet.output()


def test_serve_tunes_the_garbage_collector_unless_told_not_to(receiver):
    for mode, tuned in (("tuned", True), ("default", False)):
        server = ServerProcess({**SERVER_ENV, "PAYMOCK_GC": mode}).wait_ready()
        try:
            r = httpx.post(server.base_url + "/api/v2/payments", json=payment_body(f"tx_gc_{mode}", receiver.url()))
            assert r.json()["status"] == "PAYMENT_COMPLETED"
        finally:
            server.stop()
        assert ("garbage collector tuned" in server.output()) is tuned
    assert all(w.verified for w in receiver.wait_for(2))


def test_bad_setting_stops_startup_with_the_variable_named():
    env = {**SERVER_ENV, "PAYMOCK_TIME_SCALE": "fast"}
    done = subprocess.run(
        [sys.executable, "-m", "paymock.cli", "serve", "--port", str(free_port())],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "PAYMOCK_TIME_SCALE='fast': expected a number" in done.stderr


def test_port_already_taken_is_a_startup_failure_not_a_success():
    """`paymock serve` builds uvicorn's Server itself: a server that never started must still exit 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "paymock.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **SERVER_ENV},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 3  # uvicorn's STARTUP_FAILURE, as `uvicorn.run` exits
    assert "address already in use" in done.stderr.lower()


def test_uvicorn_on_the_app_import_path(receiver):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "paymock.app:app", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **SERVER_ENV},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "uvicorn paymock.app:app never became ready"
                time.sleep(0.05)
        r = httpx.post(base + "/api/v2/payments", json=payment_body("tx_uv", receiver.url()))
        assert r.json()["status"] == "PAYMENT_COMPLETED"
        assert receiver.wait_for(1)[0].verified
    finally:
        proc.terminate()
        proc.wait(10)
