"""Signing and verification: the seed's snippet and the standardwebhooks package must accept ours."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from paymock.domain import webhooks as wh
from paymock.domain.payments import Payment

SECRET = "your_secret_key"


def verify_webhook_signature(payload: bytes, signature: str, secret: str) -> bool:
    """Verbatim from the seed README."""
    expected = hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).digest()
    expected_b64 = base64.b64encode(expected).decode("ascii")
    return hmac.compare_digest(signature, expected_b64)


def _payment(**overrides) -> Payment:
    fields = dict(
        tx_id="tx_1001",
        order_id=123,
        user_id=1,
        amount=1000,
        callback_url="http://127.0.0.1:1/hook",
        scenario="default",
        created_at=1_700_000_000.0,
    )
    fields.update(overrides)
    return Payment(**fields)


def _signed(signature: str = "valid", now: float | None = None, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = wh.encode(wh.payload(_payment(), wh.COMPLETED_EVENT, 1_700_000_000.5))
    now = time.time() if now is None else now
    msg_id = wh.webhook_id(wh.COMPLETED_EVENT, "tx_1001")
    return body, wh.build_headers(
        secret=secret, event=wh.COMPLETED_EVENT, msg_id=msg_id, body=body, now=now, signature=signature
    )


def test_seed_snippet_verifies_our_signature():
    body, headers = _signed()
    assert verify_webhook_signature(body, headers["X-Payment-Signature"], SECRET)
    assert wh.verify_seed(SECRET, body, headers["X-Payment-Signature"])


def test_standard_webhooks_library_verifies_our_signature():
    body, headers = _signed()
    assert Webhook(wh.standard_secret(SECRET)).verify(body, headers)["tx_id"] == "tx_1001"
    assert wh.verify_standard(SECRET, body, headers, time.time()) is None


def test_whsec_secret_is_decoded_for_standard_webhooks():
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    body, headers = _signed(secret=secret)
    Webhook(secret).verify(body, headers)
    assert verify_webhook_signature(body, headers["X-Payment-Signature"], secret)


def test_invalid_signature_fails_both_schemes():
    body, headers = _signed("invalid")
    assert not verify_webhook_signature(body, headers["X-Payment-Signature"], SECRET)
    with pytest.raises(WebhookVerificationError):
        Webhook(wh.standard_secret(SECRET)).verify(body, headers)


def test_missing_signature_has_no_signature_headers():
    _body, headers = _signed("missing")
    assert "X-Payment-Signature" not in headers and "webhook-signature" not in headers
    assert headers["webhook-id"] == "evt_completed_tx_1001"


def test_stale_signature_is_rejected_only_by_the_timestamped_scheme():
    body, headers = _signed("stale")
    assert verify_webhook_signature(body, headers["X-Payment-Signature"], SECRET)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(wh.standard_secret(SECRET)).verify(body, headers)
    assert "away from now" in (wh.verify_standard(SECRET, body, headers, time.time()) or "")


def test_payload_shapes():
    completed = json.loads(wh.encode(wh.payload(_payment(), wh.COMPLETED_EVENT, 1_700_000_001.0)))
    assert completed == {
        "event": "payment.completed",
        "payment_id": "pay_tx_1001",
        "tx_id": "tx_1001",
        "order_id": 123,
        "user_id": 1,
        "amount": 1000,
        "status": "PAYMENT_COMPLETED",
        "created_at": "2023-11-14T22:13:20.000Z",
        "confirmed_at": "2023-11-14T22:13:21.000Z",
        "failure_reason": None,
    }
    failed_payment = _payment(status="PAYMENT_FAILED", failure_reason="CARD_DECLINED")
    failed = json.loads(wh.encode(wh.payload(failed_payment, wh.FAILED_EVENT, 0)))
    assert (failed["event"], failed["status"], failed["confirmed_at"], failed["failure_reason"]) == (
        "payment.failed",
        "PAYMENT_FAILED",
        None,
        "CARD_DECLINED",
    )


def test_malformed_body_is_not_json_but_still_signed():
    body = wh.malform(wh.encode({"a": 1, "b": "x" * 20}))
    with pytest.raises(ValueError):
        json.loads(body)
    assert wh.verify_seed(SECRET, body, wh.sign_seed(SECRET, body))


def test_authorization_header_only_with_token():
    body = b"{}"
    without = wh.build_headers(secret=SECRET, event=wh.COMPLETED_EVENT, msg_id="evt_completed_x", body=body, now=0)
    with_token = wh.build_headers(
        secret=SECRET, event=wh.COMPLETED_EVENT, msg_id="evt_completed_x", body=body, now=0, auth_token="tok"
    )
    assert "Authorization" not in without
    assert with_token["Authorization"] == "Bearer tok"


def test_verdict_words_each_verify_standard_reason() -> None:
    # `paymock listen` prints verdict(); each reason verify_standard gives maps to its one word
    now = time.time()
    for signature, secret, word in (("valid", "s", "ok"), ("stale", "s", "stale"), ("invalid", "s", "invalid")):
        headers = wh.build_headers(secret=secret, event="e", msg_id="m", body=b"{}", now=now, signature=signature)
        assert wh.verdict(wh.verify_standard("s", b"{}", headers, now)) == word, signature
    missing = wh.build_headers(secret="s", event="e", msg_id="m", body=b"{}", now=now, signature="missing")
    assert wh.verdict(wh.verify_standard("s", b"{}", missing, now)) == "missing"
