"""Webhook payloads, signing and verification (the seed's scheme and Standard Webhooks).

Pure functions over bytes: the dispatcher and `paymock listen`/`trigger` share them, and receivers'
tests can import `verify_seed` / `verify_standard`.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Mapping
from typing import Any

from .clock import iso
from .payments import Payment

COMPLETED_EVENT = "payment.completed"
FAILED_EVENT = "payment.failed"
EVENTS = (COMPLETED_EVENT, FAILED_EVENT)

SIGNATURE_MODES = ("valid", "invalid", "missing", "stale")
STALE_SECONDS = 3600  # far beyond Standard Webhooks' 5-minute tolerance
DEFAULT_TOLERANCE_S = 300


def webhook_id(event: str, tx_id: str) -> str:
    """Stable per event: retries, duplicates and redeliveries share it so receivers can dedupe."""
    return f"evt_{event.split('.', 1)[1]}_{tx_id}"


def payload(payment: Payment, event: str, occurred_at: float) -> dict[str, Any]:
    failed = event == FAILED_EVENT
    return {
        "event": event,
        "payment_id": payment.payment_id,
        "tx_id": payment.tx_id,
        "order_id": payment.order_id,
        "user_id": payment.user_id,
        "amount": payment.amount,
        "status": "PAYMENT_FAILED" if failed else "PAYMENT_COMPLETED",
        "created_at": iso(payment.created_at),
        "confirmed_at": None if failed else iso(occurred_at),
        "failure_reason": payment.failure_reason if failed else None,
    }


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def malform(body: bytes) -> bytes:
    """Cut the JSON short so a receiver's parser fails (the signature still matches these bytes)."""
    return body[: max(1, len(body) // 2)] + b"\x00<<truncated"


def standard_key(secret: str) -> bytes:
    """Standard Webhooks key: a `whsec_<base64>` secret is decoded, any other string used as bytes."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[6:] + "==")
    return secret.encode("utf-8")


def standard_secret(secret: str) -> str:
    """The same key spelled as a `whsec_` secret, for Standard Webhooks libraries."""
    if secret.startswith("whsec_"):
        return secret
    return "whsec_" + base64.b64encode(secret.encode("utf-8")).decode("ascii")


def sign_seed(secret: str, body: bytes) -> str:
    """X-Payment-Signature: base64(HMAC-SHA256(secret, raw body)), exactly as the seed verifies it."""
    return base64.b64encode(hmac.digest(secret.encode("utf-8"), body, "sha256")).decode("ascii")


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.digest(standard_key(secret), signed, "sha256")  # one-shot: OpenSSL's HMAC, no Python object
    return "v1," + base64.b64encode(digest).decode("ascii")


def build_headers(
    *,
    secret: str,
    event: str,
    msg_id: str,
    body: bytes,
    now: float,
    signature: str = "valid",
    auth_token: str | None = None,
) -> dict[str, str]:
    """Every header of one attempt, with the signature fault asked for applied."""
    timestamp = int(now) - (STALE_SECONDS if signature == "stale" else 0)
    key = secret + ".not-the-secret" if signature == "invalid" else secret
    headers = {
        "Content-Type": "application/json",
        "X-Payment-Event": event,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
    }
    if signature != "missing":
        headers["X-Payment-Signature"] = sign_seed(key, body)
        headers["webhook-signature"] = sign_standard(key, msg_id, timestamp, body)
    if auth_token:
        headers["Authorization"] = f"Bearer {auth_token}"
    return headers


def verify_seed(secret: str, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(sign_seed(secret, body), signature)


MISSING_HEADERS = "missing webhook-id, webhook-timestamp or webhook-signature"
STALE_SUFFIX = "s away from now"  # ends every stale-timestamp reason: see verdict()


def verdict(reason: str | None) -> str:
    """A verify_standard reason in one word, for one-line output: ok, missing, stale or invalid.

    `stale` comes before the signature is checked (a replay check refuses it either way)."""
    if reason is None:
        return "ok"
    if reason == MISSING_HEADERS:
        return "missing"
    return "stale" if STALE_SUFFIX in reason else "invalid"


def verify_standard(
    secret: str, body: bytes, headers: Mapping[str, str], now: float, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> str | None:
    """None when valid, else why not (missing header, stale timestamp, bad signature)."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sigs = lower.get("webhook-id"), lower.get("webhook-timestamp"), lower.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return MISSING_HEADERS
    try:
        timestamp = int(ts)
    except ValueError:
        return "webhook-timestamp is not an integer"
    if abs(now - timestamp) > tolerance_s:
        return f"webhook-timestamp is {int(now - timestamp)} {STALE_SUFFIX} (tolerance {tolerance_s} s)"
    expected = sign_standard(secret, msg_id, timestamp, body).split(",", 1)[1]
    for candidate in sigs.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return None
    return "no matching v1 signature"
