"""Webhook receivers written for the audit's tests: real HTTP servers on 127.0.0.1, each with chosen flaws.

Without flaws a Receiver passes every check: it verifies both signatures (and the timestamp), refuses a
body that is not the payload, dedupes on webhook-id, ignores unknown events. Each flaw is a mistake seen
in real receivers. GET /orders/{order_id} answers {"paid": n}: what the audit's state probe reads.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from paymock.domain.webhooks import verify_seed, verify_standard

FLAWS = {
    "refuse_completed": "answers 500 to payment.completed",
    "refuse_failed": "answers 422 to payment.failed",
    "refuse_duplicate": "answers 409 to a webhook-id seen before",
    "double_pay": "processes a duplicate again",
    "no_verify": "checks no signature at all",
    "unsigned_ok": "checks signatures only when they are there",
    "seed_only": "checks X-Payment-Signature only",
    "standard_only": "checks the Standard Webhooks headers only (a sound choice)",
    "no_tolerance": "checks webhook-signature but not how old webhook-timestamp is",
    "crash_on_bad_json": "answers 500 to a body that is not JSON",
    "drop_on_bad_json": "closes the connection on a body that is not JSON",
    "no_payload_check": "uses the payload's fields unchecked (a crash, 500, on wrong types)",
    "crash_on_unknown": "answers 500 to an event type it does not know",
    "slow_first": "takes SLOW_S to answer the first payment.completed",
    "effect_first": "records the payment before verifying the signature",
    "hold": "holds every webhook until release is set (at most HOLD_S): an audit that is still running",
}
HOLD_S = 20.0
SLOW_S = 0.5


class Receiver:
    def __init__(self, secret: str, *flaws: str, token: str | None = None, state_token: str | None = None) -> None:
        unknown = set(flaws) - FLAWS.keys()
        assert not unknown, unknown
        self.secret = secret
        self.token = token  # when set, every webhook must carry Authorization: Bearer <token> (else 401)
        self.state_token = state_token  # when set, GET /orders/... needs X-Api-Key: <state_token> (else 403)
        self.flaws = set(flaws)
        self.paid: dict[int, int] = {}
        self.seen: set[str] = set()
        self.requests = 0
        self._slowed = False
        self.release = threading.Event()
        self.held = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.handle({k.lower(): v for k, v in self.headers.items()}, body)
                if status is None:  # drop: no answer at all
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                if receiver.state_token is not None and self.headers.get("X-Api-Key") != receiver.state_token:
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                order = self.path.rpartition("/")[2]
                with receiver._lock:
                    paid = receiver.paid.get(int(order), 0) if order.isdigit() else None
                if paid is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = json.dumps({"order_id": int(order), "paid": paid}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base + "/webhook"

    @property
    def state_url(self) -> str:
        return self.base + "/orders/{order_id}"

    def _pay(self, order_id: Any) -> None:
        with self._lock:
            self.paid[order_id] = self.paid.get(order_id, 0) + 1

    def _verified(self, headers: dict[str, str], body: bytes) -> bool:
        flaws = self.flaws
        if "no_verify" in flaws:
            return True
        signed = "x-payment-signature" in headers or "webhook-signature" in headers
        if "unsigned_ok" in flaws and not signed:
            return True
        seed_ok = verify_seed(self.secret, body, headers.get("x-payment-signature"))
        tolerance = 10**9 if "no_tolerance" in flaws else 300
        standard_ok = verify_standard(self.secret, body, headers, time.time(), tolerance) is None
        if "seed_only" in flaws:
            return seed_ok
        if "standard_only" in flaws or "no_tolerance" in flaws:
            return standard_ok
        return seed_ok and standard_ok

    def handle(self, headers: dict[str, str], body: bytes) -> int | None:
        flaws = self.flaws
        with self._lock:
            self.requests += 1
        if "hold" in flaws:
            with self._lock:
                self.held += 1
            self.release.wait(HOLD_S)
        if "effect_first" in flaws:
            try:
                early = json.loads(body)
                if early.get("event") == "payment.completed":
                    self._pay(early["order_id"])
            except (ValueError, KeyError, AttributeError):
                pass
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return 401
        if not self._verified(headers, body):
            return 401
        try:
            event = json.loads(body)
        except ValueError:
            if "crash_on_bad_json" in flaws:
                return 500
            return None if "drop_on_bad_json" in flaws else 400
        kind = event.get("event") if isinstance(event, dict) else None
        if "no_payload_check" in flaws:
            try:
                order_id = int(event["order_id"])
                event["amount"] + 0
            except (KeyError, TypeError, ValueError):
                return 500  # what an unguarded handler answers: a crash
        elif not (
            isinstance(event, dict)
            and isinstance(event.get("order_id"), int)
            and isinstance(event.get("tx_id"), str)
            and isinstance(event.get("amount"), int)
        ):
            return 400
        order_id = event["order_id"]
        if kind not in ("payment.completed", "payment.failed"):
            return 500 if "crash_on_unknown" in flaws else 200
        if kind == "payment.completed" and "refuse_completed" in flaws:
            return 500
        if kind == "payment.failed" and "refuse_failed" in flaws:
            return 422
        msg_id = headers.get("webhook-id", "")
        with self._lock:
            duplicate = msg_id in self.seen
            self.seen.add(msg_id)
        if duplicate and "refuse_duplicate" in flaws:
            return 409
        if kind == "payment.completed":
            if "slow_first" in flaws and not self._slowed:
                self._slowed = True
                time.sleep(SLOW_S)
            if (not duplicate or "double_pay" in flaws) and "effect_first" not in flaws:
                self._pay(order_id)
        return 200

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
