"""A real loopback webhook receiver that records and verifies what it is sent (`WebhookReceiver`).

Used by paymock's own tests, the pytest plugin and `examples/`. Everything binds 127.0.0.1.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..domain.webhooks import verdict, verify_seed, verify_standard


@dataclass
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    answered: int
    seed_signature_ok: bool
    standard_signature_error: str | None
    arrival: int = field(default=0, repr=False, compare=False)  # order of arrival at the receiver
    # where the receiver's secret comes from, for the messages below (e.g. the pytest plugin's option)
    secret_source: str = field(default="", repr=False, compare=False)

    @property
    def event(self) -> str | None:
        return self.headers.get("x-payment-event")

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    @property
    def verified(self) -> bool:
        """Both signature schemes check out (the seed's and Standard Webhooks')."""
        return self.seed_signature_ok and self.standard_signature_error is None

    def json(self) -> Any:
        return json.loads(self.body)

    def why_not_verified(self) -> str | None:
        """None when `verified`; else why not, in words a failing test can show."""
        if self.verified:
            return None
        seed_sent = "x-payment-signature" in self.headers
        standard = verdict(self.standard_signature_error)
        source = f" ({self.secret_source})" if self.secret_source else ""
        if seed_sent and not self.seed_signature_ok and standard == "invalid":
            # both schemes signed and both wrong: nearly always two secrets, not a fault scenario
            return (
                f"signed with another secret than this test's{source}: the server's PAYMENT_WEBHOOK_SECRET "
                "differs (or a scenario signs wrongly on purpose)"
            )
        reasons = []
        if not self.seed_signature_ok:
            reasons.append("X-Payment-Signature " + ("does not verify" if seed_sent else "is missing"))
        if self.standard_signature_error is not None:
            reasons.append(f"Standard Webhooks signature: {self.standard_signature_error}")
        return "; ".join(reasons) + " (a webhook-* scenario may sign badly on purpose)"

    def assert_verified(self) -> None:
        """`assert hook.verified`, failing with why not (a different secret, a missing header, ...)."""
        problem = self.why_not_verified()
        if problem is not None:
            raise AssertionError(f"webhook {self.webhook_id or '(no webhook-id)'} to {self.path}: {problem}")

    def __repr__(self) -> str:
        # what pytest prints for a failing `assert hook.verified`: the verdict, not the raw headers and body
        problem = self.why_not_verified()
        verdict_ = "verified" if problem is None else f"NOT verified: {problem}"
        # kept short: pytest cuts a repr over 240 characters in the middle
        return f"ReceivedWebhook({self.webhook_id or '-'} to {self.path[:40]}, {verdict_})"


Responder = Callable[["ReceivedWebhook"], int | tuple[int, dict[str, str]]]


@dataclass
class WebhookReceiver:
    """A threaded HTTP server on 127.0.0.1 that records every request and verifies its signatures.

    `respond` decides the status per request (default 200); `status_for_path` overrides by path, and
    `refuse_next(n, status)` makes the next n requests fail. `wait_for(n)` blocks until n were answered.
    Each request has its own thread and `respond` runs outside the receiver's lock, so a slow callback
    holds up no other webhook; a callback with state of its own (a counter) must lock it. `received`
    is in order of arrival; a request is in it once it has been answered.
    """

    secret: str = field(repr=False)  # pytest prints fixture values in failing tests' tracebacks
    respond: Responder | None = None
    tolerance_s: int = 300
    secret_source: str = ""  # said when a signature does not verify, e.g. "the pytest plugin's --paymock-secret"
    received: list[ReceivedWebhook] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._refusals: list[tuple[int, dict[str, str]]] = []
        self._arrivals = 0
        self.status_for_path: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, extra = receiver._record(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/webhook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def refuse_next(self, count: int, status: int = 503, headers: Mapping[str, str] | None = None) -> None:
        with self._lock:
            self._refusals.extend([(status, dict(headers or {}))] * count)

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        lower = {k.lower(): v for k, v in headers.items()}
        hook = ReceivedWebhook(
            path=path,
            headers=lower,
            body=body,
            received_at=time.time(),
            answered=200,
            seed_signature_ok=verify_seed(self.secret, body, lower.get("x-payment-signature")),
            standard_signature_error=verify_standard(self.secret, body, lower, time.time(), self.tolerance_s),
            secret_source=self.secret_source,
        )
        extra: dict[str, str] = {}
        respond = None
        with self._lock:
            self._arrivals += 1
            hook.arrival = self._arrivals
            if self._refusals:
                hook.answered, extra = self._refusals.pop(0)
            elif path in self.status_for_path:
                hook.answered = self.status_for_path[path]
            else:
                respond = self.respond
        if respond is not None:  # outside the lock: a slow callback must not hold up other webhooks or wait_for
            answer = respond(hook)
            hook.answered, extra = answer if isinstance(answer, tuple) else (answer, {})
        with self._lock:
            bisect.insort(self.received, hook, key=lambda h: h.arrival)  # a slow answer keeps its place
            self._lock.notify_all()
        return hook.answered, extra

    def wait_for(self, count: int, timeout: float = 10.0, path: str | None = None) -> list[ReceivedWebhook]:
        """Block until `count` requests (to `path`, if given) arrived; fail loudly otherwise."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [h for h in self.received if path is None or h.path == path]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} webhook(s){' to ' + path if path else ''}, got {len(got)}")
                self._lock.wait(remaining)

    def for_path(self, path: str) -> list[ReceivedWebhook]:
        with self._lock:
            return [h for h in self.received if h.path == path]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self._refusals.clear()
            self.status_for_path.clear()
            self.respond = None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
