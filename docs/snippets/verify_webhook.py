"""Verify a paymock webhook in Python (stdlib only). Copy the two functions into your receiver.

Pass the raw request body (bytes, before any JSON parsing) and the request headers.
"""

import base64
import hashlib
import hmac
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


if __name__ == "__main__":
    # Test harness (tests/sidecar/test_snippets.py): a JSON list of {"secret", "headers", "body_b64"}
    # on stdin; prints a JSON list of {"seed": bool, "standard": bool}.
    import json
    import sys

    results = []
    for case in json.load(sys.stdin):
        raw = base64.b64decode(case["body_b64"])
        lower = {k.lower(): v for k, v in case["headers"].items()}
        seed = verify_seed_signature(raw, lower.get("x-payment-signature", ""), case["secret"])
        results.append({"seed": seed, "standard": verify_standard_webhook(raw, case["headers"], case["secret"])})
    print(json.dumps(results))
