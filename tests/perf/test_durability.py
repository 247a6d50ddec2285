"""SIGKILL `paymock serve --store sqlite:PATH` mid-burst, restart it on the same file: every payment
answered 200 is there, and every webhook not yet acknowledged resumes and is delivered."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import httpx

from paymock.testing.process import ServerProcess
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import SECRET, SERVER_ENV, payment_body


async def _burst(base_url: str, callback: str, server: ServerProcess, kill_after: int) -> set[str]:
    """Create payments from 16 workers; SIGKILL the server once `kill_after` were answered."""
    answered: set[str] = set()
    next_index = 0
    deadline = time.monotonic() + 20

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index
        while time.monotonic() < deadline and server.process.poll() is None:
            tx_id = f"dur_{next_index}"
            next_index += 1
            try:
                r = await client.post("/api/v2/payments", json=payment_body(tx_id, callback))
            except httpx.HTTPError:
                return  # the server is gone
            assert r.status_code == 200, r.text
            answered.add(tx_id)
            if len(answered) >= kill_after and server.process.poll() is None:
                os.kill(server.process.pid, signal.SIGKILL)  # mid-burst: others are in flight

    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(16)))
    return answered


def test_sigkill_mid_burst_then_restart_loses_nothing(tmp_path: Path) -> None:
    accepting = threading.Event()
    receiver = WebhookReceiver(SECRET, respond=lambda _hook: 200 if accepting.is_set() else 503)
    env = {
        **SERVER_ENV,
        "PAYMOCK_STORE": f"sqlite:{tmp_path / 'paymock.db'}",
        "PAYMOCK_TIME_SCALE": "0.0001",  # the whole retry schedule in ~10 s: still retrying at the kill
        "PAYMOCK_ACCESS_LOG": "false",
    }
    first = ServerProcess(env).wait_ready()
    second: ServerProcess | None = None
    try:
        answered = asyncio.run(_burst(first.base_url, receiver.url(), first, kill_after=150))
        first.process.wait(10)
        assert first.process.returncode == -signal.SIGKILL
        assert len(answered) >= 150
        refused_before = len(receiver.received)
        assert refused_before > 0 and all(h.answered == 503 for h in receiver.received)

        accepting.set()
        second = ServerProcess(env).wait_ready()
        with httpx.Client(base_url=second.base_url, timeout=10) as client:
            for tx_id in sorted(answered):
                assert client.get(f"/mock/v1/payments/pay_{tx_id}").status_code == 200, tx_id
            stored = client.get("/api/v2/pending-payments", params={"limit": 1}).json()["total"]
            assert stored >= len(answered)  # plus any committed while their answer was in flight

            # every delivery in the file resumes and is acknowledged (bounded by the scaled schedule)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                settled = client.get("/mock/v1/deliveries", params={"state": "acknowledged", "limit": 1}).json()
                if settled["total"] >= stored:
                    break
                time.sleep(0.1)
            assert settled["total"] == stored
            for state in ("pending", "failed"):
                assert client.get("/mock/v1/deliveries", params={"state": state}).json()["total"] == 0
            listing = client.get("/api/v2/pending-payments", params={"limit": 1}).json()
            assert listing["completed_count"] == stored and listing["pending_count"] == 0

        acked = {h.webhook_id for h in receiver.received if h.answered == 200}
        assert {f"evt_completed_{tx}" for tx in answered} <= acked
        assert all(h.verified for h in receiver.received)
    finally:
        if first.process.poll() is None:
            first.stop()
        if second is not None:
            second.stop()
        receiver.close()
