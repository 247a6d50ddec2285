"""The one secret rule of serve, listen and trigger (settings.resolve_secret), and what a receiver says when
a signature does not verify (testing.receiver.ReceivedWebhook)."""

from __future__ import annotations

import time

import pytest

from paymock.domain.webhooks import build_headers
from paymock.settings import DEV_SECRET, Settings, SettingsError, resolve_secret
from paymock.testing.receiver import ReceivedWebhook


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        ("from-flag", {"PAYMENT_WEBHOOK_SECRET": "from-env"}, ("from-flag", True)),
        (None, {"PAYMENT_WEBHOOK_SECRET": "from-env"}, ("from-env", True)),
        ("", {"PAYMENT_WEBHOOK_SECRET": "from-env"}, ("from-env", True)),
        ("", {}, (DEV_SECRET, False)),
        (None, {"PAYMENT_WEBHOOK_SECRET": ""}, (DEV_SECRET, False)),
    ],
)
def test_empty_is_not_given(flag, env, expected):
    assert resolve_secret(flag, env) == expected


def test_serve_uses_the_same_rule():
    settings = Settings.from_env({"PAYMENT_WEBHOOK_SECRET": ""})
    assert (settings.webhook_secret, settings.secret_from_env) == (DEV_SECRET, False)
    with pytest.raises(SettingsError, match="whsec_"):
        resolve_secret("whsec_!!", {})


def _hook(secret: str, signature: str = "valid", signed_with: str = "s3cret") -> ReceivedWebhook:
    body = b'{"tx_id": "tx_1"}'
    headers = build_headers(
        secret=signed_with, event="payment.completed", msg_id="evt_completed_tx_1", body=body,
        now=time.time(), signature=signature,
    )  # fmt: skip
    from paymock.domain.webhooks import verify_seed, verify_standard

    lower = {k.lower(): v for k, v in headers.items()}
    return ReceivedWebhook(
        path="/hook",
        headers=lower,
        body=body,
        received_at=time.time(),
        answered=200,
        seed_signature_ok=verify_seed(secret, body, lower.get("x-payment-signature")),
        standard_signature_error=verify_standard(secret, body, lower, time.time()),
        secret_source="set by the test",
    )


def test_a_verified_webhook_says_so():
    hook = _hook("s3cret")
    assert hook.verified and hook.why_not_verified() is None
    hook.assert_verified()
    assert "verified)" in repr(hook) and "s3cret" not in repr(hook)


def test_another_secret_is_named_as_the_cause():
    hook = _hook("not-the-servers")
    assert hook.why_not_verified() == (
        "signed with another secret than this test's (set by the test): the server's PAYMENT_WEBHOOK_SECRET "
        "differs (or a scenario signs wrongly on purpose)"
    )
    with pytest.raises(AssertionError, match="evt_completed_tx_1 to /hook: signed with another secret"):
        hook.assert_verified()


def test_a_fault_on_purpose_is_not_blamed_on_the_secret():
    missing = _hook("s3cret", signature="missing").why_not_verified() or ""
    assert "X-Payment-Signature is missing" in missing and "different" not in missing
    stale = _hook("s3cret", signature="stale").why_not_verified() or ""
    assert "Standard Webhooks signature: webhook-timestamp is" in stale and "different" not in stale
