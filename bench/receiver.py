"""A fast loopback webhook receiver for the benchmark and the loss test, run as its own process.

Raw asyncio + httptools (uvloop when installed): it must take thousands of webhooks a second on
a shared core without becoming what the benchmark measures. It can misbehave on purpose: refuse
a fraction of attempts at random (503), and go down entirely (listener closed, connections
reset) for a few seconds.

    python bench/receiver.py [--port 0] [--refuse 0.3] [--seed 1]   # prints "PORT <n>" when ready

Control (same port): GET /_stats, GET /_acks (first-ack time per webhook-id, CLOCK_MONOTONIC, which
is shared by every process on the machine), POST /_config?refuse=0.3, POST /_down?seconds=3,
POST /_reset. Any other POST is a webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httptools

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
REFUSED = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"


class State:
    def __init__(self, refuse: float, seed: int) -> None:
        self.refuse = refuse
        self.random = random.Random(seed)
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.refused = 0
        self.acks = 0
        self.first_ack: dict[str, float] = {}  # webhook-id -> monotonic time of its first 2xx
        self.ack_count: dict[str, int] = {}

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "refused": self.refused,
            "acks": self.acks,
            "acked_ids": len(self.first_ack),
            "duplicate_acks": self.acks - len(self.first_ack),
        }


class Receiver:
    def __init__(self, state: State, port: int) -> None:
        self.state = state
        self.port = port
        self.server: asyncio.AbstractServer | None = None
        self.connections: set[Connection] = set()

    async def listen(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: Connection(self), "127.0.0.1", self.port, reuse_address=True, backlog=1024
        )
        self.port = self.server.sockets[0].getsockname()[1]

    def go_down(self, seconds: float) -> None:
        """Refuse connections entirely for a while: close the listener, reset open connections."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.connections):
            conn.transport.abort()
        asyncio.get_running_loop().call_later(seconds, lambda: asyncio.ensure_future(self.listen()))


class Connection(asyncio.Protocol):
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.webhook_id: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.receiver.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.receiver.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.webhook_id = None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"webhook-id":
            self.webhook_id = value

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        url = self.url.decode()
        if url.startswith("/_"):
            self._control(method, url)
        else:
            self._webhook()
        if not self.parser.should_keep_alive():
            self.transport.close()

    def _webhook(self) -> None:
        state = self.receiver.state
        state.requests += 1
        if state.refuse and state.random.random() < state.refuse:
            state.refused += 1
            self.transport.write(REFUSED)
            return
        now = time.monotonic()
        state.acks += 1
        key = (self.webhook_id or b"").decode()
        if key not in state.first_ack:
            state.first_ack[key] = now
            state.ack_count[key] = 1
        else:
            state.ack_count[key] += 1
        self.transport.write(OK)

    def _control(self, method: bytes, url: str) -> None:
        state = self.receiver.state
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        answer: Any = {"ok": True}
        down = 0.0
        if parts.path == "/_stats":
            answer = state.stats()
        elif parts.path == "/_acks":
            answer = {k: [t, state.ack_count[k]] for k, t in state.first_ack.items()}
        elif parts.path == "/_config" and method == b"POST":
            state.refuse = float(query.get("refuse", state.refuse))
        elif parts.path == "/_reset" and method == b"POST":
            state.reset()
        elif parts.path == "/_down" and method == b"POST":
            down = float(query.get("seconds", "3"))
        else:
            answer = {"error": "unknown control path"}
        body = json.dumps(answer).encode()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        if down:
            asyncio.get_running_loop().call_soon(self.receiver.go_down, down)


async def main(port: int, refuse: float, seed: int, max_seconds: float) -> None:
    receiver = Receiver(State(refuse, seed), port)
    await receiver.listen()
    print(f"PORT {receiver.port}", flush=True)
    # bounded: a forgotten receiver ends by itself
    await asyncio.sleep(max_seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--refuse", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    try:
        run(main(args.port, args.refuse, args.seed, args.max_seconds))
    except KeyboardInterrupt:
        sys.exit(0)
