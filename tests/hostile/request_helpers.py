"""Helpers for hostile-request tests: a raw loopback HTTP client, the server's RSS, and a /healthz probe
that runs while an attack does. Used by tests/hostile/ and bench/hostile_requests.py, bench/slow_bodies.py."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

TOKEN = "hostile-token"  # the control token of the attacked server (tests/hostile/conftest.py); stalled_put sends it


def rss_mb(pid: int) -> float:
    """The resident memory of process `pid` in MB (Linux: /proc)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class RawAnswer:
    status_code: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:  # as httpx.Response.text: assertion messages show it
        return self.body.decode("utf-8", "replace")


def parse_answer(data: bytes) -> RawAnswer:
    """The first answer in `data`; status 0 when there is none (the server said nothing)."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/"):
        return RawAnswer(0, {}, data)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(body)))
    return RawAnswer(int(lines[0].split()[1]), headers, body[:length])


def _answer_complete(data: bytes) -> bool:
    """The first answer is all there (by its Content-Length)."""
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return False
    lengths = [int(line[15:]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    return bool(lengths) and len(body) >= lengths[0]


def read_until(sock: socket.socket, deadline: float, done: Callable[[bytes], bool] = lambda _data: False) -> bytes:
    """What the server sends until `done(what came so far)`, it closes the connection, or the deadline."""
    sock.setblocking(True)
    data = b""
    while time.monotonic() < deadline and not done(data):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break  # the server closed after its answer
        data += chunk
    return data


def raw_request(port: int, head: bytes, filler: bytes = b"", filler_bytes: int = 0, timeout: float = 30.0) -> RawAnswer:
    """Send `head`, then `filler` repeated up to `filler_bytes` (a header or URL that keeps growing),
    then read the answer. Sending stops early once the server answers and closes (refused mid-way)."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        sent = 0
        try:
            while sent < filler_bytes and time.monotonic() < deadline:
                sock.sendall(filler)
                sent += len(filler)
        except OSError:  # the server answered and closed: the rest of the attack goes nowhere
            pass
        return parse_answer(read_until(sock, deadline, _answer_complete))


@dataclass
class Probe:
    """While running, GETs /healthz every `interval` s and samples the server's RSS; `worst` is the slowest
    answer (one still missing at the end counts for as long as it has waited). The first probe starts
    with the attack, and its answer is awaited, so even a short attack has one."""

    base_url: str
    pid: int
    interval: float = 0.05
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    max_rss_mb: float = 0.0
    worst: float = 0.0  # max_latency when the probe stopped

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="healthz-probe", daemon=True)
        self._pending_since: float | None = None
        self._answered = threading.Event()  # at least one /healthz answered (or failed)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=60) as client:
            while not self._stop.is_set():
                self.max_rss_mb = max(self.max_rss_mb, rss_mb(self.pid))
                self._pending_since = started = time.monotonic()
                try:
                    status = client.get("/healthz").status_code
                    if status != 200:
                        self.failures.append(f"/healthz answered {status}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"/healthz: {exc!r}")
                self.latencies.append(time.monotonic() - started)
                self._pending_since = None
                self._answered.set()
                self._stop.wait(self.interval)

    @property
    def max_latency(self) -> float:
        waiting = time.monotonic() - self._pending_since if self._pending_since is not None else 0.0
        return max([waiting, *self.latencies])

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        # an attack over before the first probe came back: that probe (sent during it) still counts
        self._answered.wait(60)
        self.max_rss_mb = max(self.max_rss_mb, rss_mb(self.pid))
        self.worst = self.max_latency  # read before the thread gets the answer it may still wait for
        self._stop.set()
        self._thread.join(120)


def stalled_put(port: int, declared: int = 1_000_000, sent: int = 200_000) -> socket.socket:
    """A PUT of a scenario (dry run) announcing `declared` bytes of body, sending `sent` of them (as much
    as the socket takes at once), then nothing. Its token: TOKEN."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = (
        "PUT /mock/v1/scenarios/u?dry_run=true HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode("ascii"))
    sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):  # as much as the socket takes now: the server may not read it
        sock.send(b'{"description": "' + b"x" * (sent - 17))
    return sock
