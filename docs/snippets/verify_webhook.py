"""Verify a paymock webhook in Python (stdlib only). Copy the functions into your receiver.

Pass the raw request body (bytes, before any JSON parsing) and the request headers. `handle_webhook` is a
whole receiver's decision (verify, parse, check the payload, dedupe) that passes `paymock audit`.
"""

import base64
import hashlib
import hmac
import json
import time


def verify_seed_signature(body: bytes, signature: str, secret: str) -> bool:
    """X-Payment-Signature: base64(HMAC-SHA256(secret, raw body)), the seed's scheme."""
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")
    return hmac.compare_digest(signature or "", expected)


def verify_standard_webhook(body: bytes, headers: dict, secret: str, tolerance_s: int = 300) -> bool:
    """Standard Webhooks: webhook-signature = "v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")).

    The key is the secret's UTF-8 bytes, or the base64-decoded part of a "whsec_..." secret. A timestamp
    more than tolerance_s away from now is rejected (replays); dedupe on webhook-id as well.
    """
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, timestamp, signatures = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not (msg_id and timestamp and signatures) or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    key = base64.b64decode(secret[len("whsec_") :]) if secret.startswith("whsec_") else secret.encode("utf-8")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
    # the header may carry several space-separated signatures (key rotation): any valid v1 one passes
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (s.partition(",") for s in signatures.split(" "))
    )


def handle_webhook(body: bytes, headers: dict, secret: str, seen: set) -> int:
    """The status to answer one webhook. `seen` holds the webhook-ids processed (keep it in your database)."""
    h = {k.lower(): v for k, v in headers.items()}
    if not (
        verify_seed_signature(body, h.get("x-payment-signature", ""), secret)
        and verify_standard_webhook(body, h, secret)
    ):
        return 401  # forged, tampered, unsigned or stale: not processed
    try:
        event = json.loads(body)
    except ValueError:  # not JSON (or not UTF-8): a 400, never a crash the provider would retry
        return 400
    fields = {"event": str, "tx_id": str, "order_id": int, "amount": int}
    if not isinstance(event, dict) or not all(isinstance(event.get(k), t) for k, t in fields.items()):
        return 400  # signed, but not the payload
    if h["webhook-id"] in seen:
        return 200  # a retry or duplicate: acknowledged, not processed twice
    seen.add(h["webhook-id"])
    if event["event"] == "payment.completed":
        pass  # mark event["order_id"] paid here
    elif event["event"] == "payment.failed":
        pass  # record event["failure_reason"] here
    return 200  # other event types: acknowledged and ignored (providers add events)


def _serve() -> None:
    """`python verify_webhook.py serve`: handle_webhook at http://127.0.0.1:<port>/webhook (the port is printed),
    verifying with $PAYMENT_WEBHOOK_SECRET (tests/audit/test_snippets_audit.py audits it)."""
    import os
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    secret, seen = os.environ["PAYMENT_WEBHOOK_SECRET"], set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(handle_webhook(body, dict(self.headers), secret, seen))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["serve"]:
        _serve()
        sys.exit()
    # Test harness (tests/sidecar/test_snippets.py): a JSON list of {"secret", "headers", "body_b64"}
    # on stdin; prints a JSON list of {"seed": bool, "standard": bool}.
    results = []
    for case in json.load(sys.stdin):
        raw = base64.b64decode(case["body_b64"])
        lower = {k.lower(): v for k, v in case["headers"].items()}
        seed = verify_seed_signature(raw, lower.get("x-payment-signature", ""), case["secret"])
        results.append({"seed": seed, "standard": verify_standard_webhook(raw, case["headers"], case["secret"])})
    print(json.dumps(results))
