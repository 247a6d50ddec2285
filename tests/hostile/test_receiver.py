"""Hostile receivers cost bounded time and memory (issue 14, rows 2 and 3, and the receiver-side rule).

Two levels, both against the real hostile receiver of `receivers.py` on 127.0.0.1:
- each sender (http11 on both loops, httpx) sending one webhook to each attack: the attempt
  ends within its timeout, holds a bounded number of bytes at its peak (tracemalloc), and leaves
  nothing big for the garbage collector (no reference cycle keeps what it read);
- a real `paymock serve` process (default sender, 5 s webhook timeout as shipped) with payments
  pointing at each attack: its RSS stays under RSS_BOUND_MB over its idle size and /healthz answers
  within HEALTHZ_BOUND_S while the attack runs; afterwards the API answers every read and a
  redeliver properly (no 500).

Bounds are loose (a busy 2-core machine must not flake them); on 604d23d an endless header line took
~180 MB per attempt and stalled the event loop for seconds. bench/hostile_receiver.py records the
figures themselves.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from paymock.delivery.http11 import Http11Sender
from paymock.delivery.limits import MAX_BODY, MAX_HEAD_BYTES
from paymock.delivery.senders import HttpxSender, Sender, SendResult
from paymock.domain.scenarios.model import MAX_DELAY_MS
from paymock.testing.process import ServerProcess
from tests.conftest import SERVER_ENV, TIME_SCALE, payment_body
from tests.hostile.receiver_attack import PAYMENTS, Attack, attack, prepare, reads_after, tx_ids
from tests.hostile.receivers import HostileReceiver

SENDERS = ("http11", "http11@uvloop", "httpx")
SEND_TIMEOUT_S = 2.0
SLACK_S = 3.0  # past the timeout, on a busy machine (a stalled sender would need +30 s)
ATTEMPT_PEAK_BYTES = 8 * MAX_BODY  # what one attempt may hold at its peak, all buffers counted
GARBAGE_BYTES = 2 * MAX_HEAD_BYTES  # bytes an attempt may leave to the garbage collector

SERVE_TIMEOUT_S = 5  # PAYMOCK_WEBHOOK_TIMEOUT as shipped: what an attack gets per attempt
RSS_BOUND_MB = 120.0  # growth over the idle server while 5 attacks run (604d23d: +900 MB)
HEALTHZ_BOUND_S = 2.5  # slowest /healthz while they run (604d23d: 6 s)


# 1. each sender, in this process


def _sender(kind: str) -> Sender:
    if kind.startswith("http11"):
        return Http11Sender(8)
    return HttpxSender(8)


@dataclass
class Measured:
    result: SendResult
    elapsed_s: float
    peak_bytes: int
    garbage_bytes: int
    garbage_types: set[str] = field(default_factory=set)


def _big_garbage(objects: list[Any]) -> tuple[int, set[str]]:
    size, types = 0, set()
    for obj in objects:
        types.add(type(obj).__name__)
        if isinstance(obj, bytes | bytearray | memoryview):
            size += sys.getsizeof(obj)
    return size, types


def _send_once(kind: str, url: str) -> Measured:
    """One send under tracemalloc, then what a collection would find unreachable (collector paused)."""

    async def scenario() -> Measured:
        sender = _sender(kind)
        try:
            gc.collect()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            started = time.monotonic()
            # the outer bound only keeps a broken sender from hanging the test: it must end far earlier
            result = await asyncio.wait_for(sender.send(url, b"{}", {}, SEND_TIMEOUT_S), SEND_TIMEOUT_S + 30)
            elapsed = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1] - base
            await asyncio.sleep(0.1)  # the closed connection's callbacks (connection_lost) run
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                gc.collect()
                garbage, types = _big_garbage(gc.garbage)
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
            return Measured(result, elapsed, peak, garbage, types)
        finally:
            await sender.close()

    loop_factory = None
    if kind.endswith("@uvloop"):
        loop_factory = pytest.importorskip("uvloop").new_event_loop
    gc.disable()
    tracemalloc.start()
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(scenario())
    finally:
        tracemalloc.stop()
        gc.enable()


EXPECTED_ERROR = {
    "endless_header": "response header",  # each sender words it its own way; all fail the attempt
    "endless_continue": None,
    "endless_body": None,
    "half_close": None,
}


@pytest.mark.parametrize("mode", ["endless_header", "endless_continue", "endless_body", "half_close"])
@pytest.mark.parametrize("kind", SENDERS)
def test_one_attempt_is_bounded_in_time_and_bytes_and_leaves_no_cycle(kind: str, mode: str) -> None:
    with HostileReceiver(mode, max_s=SEND_TIMEOUT_S + 30) as rx:
        m = _send_once(kind, rx.url())
    assert m.elapsed_s < SEND_TIMEOUT_S + SLACK_S, (m.elapsed_s, m.result)
    assert m.result.status is None or not 200 <= m.result.status < 300, m.result
    assert m.peak_bytes < ATTEMPT_PEAK_BYTES, f"{m.peak_bytes / 1e6:.1f} MB held at the peak ({m.result})"
    assert m.garbage_bytes < GARBAGE_BYTES, f"{m.garbage_bytes / 1e6:.1f} MB left to the collector"
    if kind.startswith("http11"):
        # the built-in sender: no cycle at all through the connection, and the cap's own words
        assert not {"_Connection", "HttpResponseParser"} & m.garbage_types, m.garbage_types
        if mode == "endless_header":
            assert m.result.error == f"invalid HTTP response: response headers over {MAX_HEAD_BYTES} bytes"
            assert m.elapsed_s < SEND_TIMEOUT_S, m.elapsed_s  # refused at the cap, not at the timeout
        if mode == "endless_continue":
            assert m.result.error == "invalid HTTP response: more than 8 interim (1xx) responses"
        if mode == "endless_body":
            assert m.result.status == 500 and m.result.error is None  # the status stands; the rest is dropped


@pytest.mark.parametrize("kind", SENDERS)
def test_a_redirect_is_an_answer_not_followed(kind: str) -> None:
    with HostileReceiver("redirect_loop") as rx:
        m = _send_once(kind, rx.url())
        assert (m.result.status, m.result.error) == (307, None)
        assert rx.requests == 1


@pytest.mark.parametrize("value", ["1e400", "1e20", "inf", "-5", "nan", "9" * 5000])
@pytest.mark.parametrize("kind", SENDERS)
def test_a_retry_after_that_is_no_number_of_seconds_is_ignored(kind: str, value: str) -> None:
    with HostileReceiver("retry_after", retry_after=value) as rx:
        m = _send_once(kind, rx.url())
    assert m.result.status == 503
    assert m.result.retry_after_s is None


def _http11_answer(raw: bytes) -> SendResult:
    """What the built-in sender makes of `raw` written in one piece by a loopback server."""

    async def scenario() -> SendResult:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(2)  # the body: b"{}"
            writer.write(raw)
            await writer.drain()
            await reader.read()  # until the sender closes
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        sender = Http11Sender(4)
        try:
            url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
            return await asyncio.wait_for(sender.send(url, b"{}", {}, SEND_TIMEOUT_S), SEND_TIMEOUT_S + 5)
        finally:
            await sender.close()
            server.close()

    return asyncio.run(scenario())


def _head(status: str, headers: list[str]) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (_head("500 x", [f"X-{n}: v" for n in range(129)]), "more than 128 response headers"),
        (_head("500 x", ["X-Long: " + "a" * 8200]), "a response header over 8190 bytes"),
        (_head("100 Continue", []) * 9 + _head("200 OK", ["Content-Length: 0"]), "more than 8 interim"),
    ],
)
def test_http11_caps_each_part_of_the_head(raw: bytes, error: str) -> None:
    result = _http11_answer(raw)
    assert result.status is None and result.error is not None and error in result.error, result


def test_http11_takes_a_large_but_capped_answer_whole() -> None:
    # 100 headers of ~500 bytes (a 50 KB head, under the 64 KiB cap), 8 interim responses and a 2 MiB body,
    # all in one write: the status stands (the body is read up to its cap), nothing is refused
    headers = ["Content-Length: 2097152", *(f"X-{n}: " + "h" * 490 for n in range(99))]
    raw = _head("100 Continue", []) * 8 + _head("200 OK", headers) + b"b" * 2097152
    result = _http11_answer(raw)
    assert (result.status, result.error) == (200, None)


# 2. a real server process under attack


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    env = {**SERVER_ENV, "PAYMOCK_WEBHOOK_TIMEOUT": str(SERVE_TIMEOUT_S)}
    proc = ServerProcess(env).wait_ready()
    try:
        prepare(proc.base_url)
        yield proc
    finally:
        proc.stop()


def run_attack(server: ServerProcess, url: str, tag: str) -> Attack:
    assert server.process is not None
    figures = attack(server.base_url, server.process.pid, url, tag)
    grown = figures.rss_growth_mb
    assert grown < RSS_BOUND_MB, f"RSS grew {grown:.0f} MB under attack ({figures})"
    assert figures.healthz_max_s < HEALTHZ_BOUND_S, f"/healthz took {figures.healthz_max_s:.2f} s ({figures})"
    assert len(figures.healthz_s) >= 2, figures  # it was probed while the attack ran, not only after
    assert figures.settled, figures
    assert figures.creates == [200] * PAYMENTS, figures
    assert set(figures.answers) == {200}, figures.answers  # the API answered during the attack too
    return figures


def assert_api_answers(server: ServerProcess, tag: str) -> list[dict[str, Any]]:
    """Every read the attack touched answers 200 (a 500 here was row 2), and a redeliver answers."""
    statuses, details = reads_after(server.base_url, tag)
    assert set(statuses) == {200}, statuses
    assert len(details) == PAYMENTS, details
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        again = c.post(f"/mock/v1/deliveries/{details[0]['delivery_id']}/redeliver")
        assert again.status_code == 200, again.text
        assert c.get("/mock/v1/health").status_code == 200
    return details


def _attempts(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in detail["attempts"] if a["kind"] == "scheduled"]


def test_endless_header_line(server: ServerProcess) -> None:
    with HostileReceiver("endless_header") as rx:
        run_attack(server, rx.url(), "hdr")
        for d in assert_api_answers(server, "hdr"):
            assert d["state"] == "failed"
            for a in _attempts(d):
                assert a["error"] == f"invalid HTTP response: response headers over {MAX_HEAD_BYTES} bytes"
                assert a["latency_ms"] < SERVE_TIMEOUT_S * 1000  # refused at the cap, not at the timeout


def test_endless_100_continue(server: ServerProcess) -> None:
    with HostileReceiver("endless_continue") as rx:
        run_attack(server, rx.url(), "cont")
        for d in assert_api_answers(server, "cont"):
            assert d["state"] == "failed"
            for a in _attempts(d):
                assert a["error"] == "invalid HTTP response: more than 8 interim (1xx) responses"
                assert a["latency_ms"] < SERVE_TIMEOUT_S * 1000


@pytest.mark.parametrize("value", ["1e400", "1e20", "99999999999"])
def test_huge_or_non_finite_retry_after(server: ServerProcess, value: str) -> None:
    with HostileReceiver("retry_after", retry_after=value) as rx:
        started = time.time()
        with httpx.Client(base_url=server.base_url, timeout=60) as c:
            for tx_id in tx_ids("ra"):
                body = payment_body(tx_id, rx.url())
                # the default schedule: a second attempt is due, so next_attempt_at is shown
                assert c.post("/api/v2/payments", json=body).status_code == 200
        found = assert_api_answers(server, "ra")
    latest = started + 60 + MAX_DELAY_MS / 1000 * TIME_SCALE  # the redeliver's minute, and the clamp
    for d in found:
        assert d["state"] == "pending", d
        due = datetime.fromisoformat(d["next_attempt_at"].replace("Z", "+00:00")).timestamp()
        assert started <= due <= latest, d["next_attempt_at"]


def test_a_body_that_never_ends(server: ServerProcess) -> None:
    with HostileReceiver("endless_body") as rx:
        run_attack(server, rx.url(), "body")
        for d in assert_api_answers(server, "body"):
            assert d["state"] == "failed"
            assert {a["status_code"] for a in _attempts(d)} == {500}  # the status stands, the body is dropped


def test_a_half_closed_connection(server: ServerProcess) -> None:
    with HostileReceiver("half_close") as rx:
        run_attack(server, rx.url(), "half")
        for d in assert_api_answers(server, "half"):
            assert d["state"] == "failed"
            for a in _attempts(d):
                assert a["error"] is not None and a["error"].startswith("connection closed"), a


def test_a_redirect_loop(server: ServerProcess) -> None:
    with HostileReceiver("redirect_loop") as rx:
        run_attack(server, rx.url(), "loop")
        for d in assert_api_answers(server, "loop"):
            assert d["state"] == "failed"
            assert [a["status_code"] for a in _attempts(d)] == [307, 307]  # answers, never followed
        assert rx.requests == PAYMENTS * 2 + 1  # two attempts each, and the redeliver


def test_the_bench_script_records_each_attack(tmp_path: Path) -> None:
    from bench.hostile_receiver import main

    out = tmp_path / "hostile.json"
    assert main(["--modes", "endless_header", "--payments", "1", "--timeout", "2", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["mode"] for r in rows] == ["polite_503", "endless_header"]
    # the listing, the payment, its delivery, the provider's listing: all answered
    assert all(r["settled"] and r["reads_after"] == {"200": 4} and r["attempts"] == 2 for r in rows), rows
