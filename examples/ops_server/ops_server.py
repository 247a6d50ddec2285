"""A tiny ops server, as a paymock user would write one: it receives payment webhooks and marks orders paid.

It verifies the seed's X-Payment-Signature and the Standard Webhooks headers itself (stdlib only,
no paymock import: this is the code under test), and dedupes on webhook-id, so a duplicate delivery
never pays an order twice. A bad signature is answered 401, which makes the provider retry; a body
that is not the payload, 400. GET /api/orders/{order_id} shows how many times an order was paid (what
`paymock audit --state-url ... --state-field paid_count` reads to judge effects) and the events it processed.

Given the provider's URL, it also takes orders: POST /api/orders {"order_id", "user_id", "amount"} asks the
provider for a payment (its own tx_id, its own webhook URL) and answers the provider's status. It forwards
nothing of the caller's: no paymock header, only the order's data, as a real ops server does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_S = 300  # Standard Webhooks' recommended window against replays


# the fields the ops server uses, and their types: anything else is refused before it is processed
PAYLOAD_FIELDS = {"event": str, "tx_id": str, "order_id": int, "amount": int}


def payload_problem(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "the body is not a JSON object"
    for name, kind in PAYLOAD_FIELDS.items():
        if not isinstance(event.get(name), kind) or isinstance(event.get(name), bool):
            return f"{name} is missing or not a {kind.__name__}"
    return None


def seed_signature_ok(secret: str, body: bytes, signature: str | None) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return bool(signature) and hmac.compare_digest(expected, signature or "")


def standard_signature_ok(secret: str, body: bytes, headers: dict[str, str], now: float) -> bool:
    msg_id, ts, sigs = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature")
    if not (msg_id and ts and sigs and ts.isdigit()) or abs(now - int(ts)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    return any(s.startswith("v1,") and hmac.compare_digest(s[3:], expected) for s in sigs.split(" "))


class OpsServer:
    """POST /webhooks/payment: verify, dedupe, mark the order paid. Runs on 127.0.0.1 in a thread."""

    def __init__(self, secret: str, port: int = 0, *, provider_url: str | None = None) -> None:
        self.secret = secret
        self.provider_url = provider_url.rstrip("/") if provider_url else None
        self.paid_orders: dict[int, int] = {}  # order_id -> times paid (must stay 1)
        self.events: dict[int, list[str]] = {}  # order_id -> events received (processed ones, in order)
        self.seen_ids: set[str] = set()
        self.log: list[tuple[str, int]] = []  # (webhook-id or "?", status answered)
        self._lock = threading.Lock()
        ops = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path == "/api/orders" and ops.provider_url:
                    status, answer = ops.checkout(body)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                status = ops.handle(self.path, headers, body) if self.path == "/webhooks/payment" else 404
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                prefix = "/api/orders/"
                order = self.path[len(prefix) :]
                if not (self.path.startswith(prefix) and order.isdigit()):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with ops._lock:
                    paid = ops.paid_orders.get(int(order), 0)
                    events = list(ops.events.get(int(order), []))
                body = json.dumps({"order_id": int(order), "paid_count": paid, "events": events}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/payment"

    @property
    def orders_url(self) -> str:
        """POST an order here (with provider_url given): the ops server asks the provider for its payment."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/orders"

    @property
    def order_url(self) -> str:
        """GET it (with {order_id} filled in) for {"order_id": ..., "paid_count": ...}."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/orders/{{order_id}}"

    def handle(self, _path: str, headers: dict[str, str], body: bytes) -> int:
        msg_id = headers.get("webhook-id", "?")
        if not (
            seed_signature_ok(self.secret, body, headers.get("x-payment-signature"))
            and standard_signature_ok(self.secret, body, headers, time.time())
        ):
            return self._answer(msg_id, 401)
        try:
            event = json.loads(body)
        except ValueError:
            return self._answer(msg_id, 400)
        if payload_problem(event):
            return self._answer(msg_id, 400)
        with self._lock:
            duplicate = msg_id in self.seen_ids  # a duplicate is acknowledged again but not processed again
            self.seen_ids.add(msg_id)
            if not duplicate:
                self.events.setdefault(event["order_id"], []).append(event["event"])
            if not duplicate and event.get("event") == "payment.completed":
                self.paid_orders[event["order_id"]] = self.paid_orders.get(event["order_id"], 0) + 1
        return self._answer(msg_id, 200)

    def checkout(self, body: bytes) -> tuple[int, bytes]:
        """POST /api/orders: one payment at the provider for the order; (status, JSON) to answer."""
        try:
            order = json.loads(body)
            fields = {name: int(order[name]) for name in ("order_id", "user_id", "amount")}
        except (ValueError, KeyError, TypeError):
            return 400, b'{"error": "order_id, user_id and amount are required integers"}'
        payment = {
            "version": "v2",
            "tx_id": f"ops-{fields['order_id']}-{time.monotonic_ns()}",
            **fields,
            "callback_url": self.webhook_url,
        }
        request = urllib.request.Request(
            f"{self.provider_url}/api/v2/payments",
            data=json.dumps(payment).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status = json.loads(answer.read())["status"]
        except urllib.error.HTTPError as exc:  # the provider refused: say so, as a real checkout would
            return 502, json.dumps({"error": f"provider answered {exc.code}"}).encode()
        return 200, json.dumps({"order_id": fields["order_id"], "payment_status": status}).encode()

    def _answer(self, msg_id: str, status: int) -> int:
        with self._lock:
            self.log.append((msg_id, status))
        return status

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


if __name__ == "__main__":
    # `python -m examples.ops_server.ops_server [PORT [PROVIDER_URL]]`: serve it by hand (e.g. for `paymock
    # audit`), verifying with $PAYMENT_WEBHOOK_SECRET (paymock's development secret when unset, as paymock signs
    # then); with PROVIDER_URL (paymock's base URL) it takes orders too
    import os
    import sys

    ops = OpsServer(
        os.environ.get("PAYMENT_WEBHOOK_SECRET") or "paymock-dev-secret-change-me",
        int(sys.argv[1]) if len(sys.argv) > 1 else 8000,
        provider_url=sys.argv[2] if len(sys.argv) > 2 else None,
    )
    taking = f", takes orders at {ops.orders_url}" if ops.provider_url else ""
    print(f"ops server: webhooks at {ops.webhook_url}, orders at {ops.order_url}{taking}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        ops.close()
