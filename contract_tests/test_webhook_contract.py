"""Outgoing webhooks against the spec's callback: every body a real loopback receiver gets validates
against components/schemas/WebhookEvent (OAS 3.0 rules), headers as the callback declares them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from contract_tests import support
from paymock.resources import load_spec
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import wait_for_delivery

SPEC = load_spec("provider.yaml")
CALLBACK = SPEC["components"]["callbacks"]["PaymentEvent"]["{$request.body#/callback_url}"]["post"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(support.SECRET)
    yield r
    r.close()


@pytest.fixture
def c() -> Iterator[Any]:
    with support.client(support.OPEN_APP) as client:
        yield client


def validate_webhook(hook: Any) -> dict[str, Any]:
    body = json.loads(hook.body)
    validator = OAS30Validator({**SPEC["components"]["schemas"]["WebhookEvent"], "components": SPEC["components"]})
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, (body, errors)
    for parameter in CALLBACK["parameters"]:
        name = parameter["name"].lower()
        value = hook.headers.get(name)
        if parameter.get("required"):
            assert value is not None, f"missing header {parameter['name']}"
        if value is None:
            continue
        schema = parameter["schema"]
        if "enum" in schema:
            assert value in schema["enum"], (name, value)
        if "pattern" in schema:
            assert re.search(schema["pattern"], value), (name, value)
    assert hook.headers["content-type"].startswith("application/json")
    assert hook.verified, (hook.seed_signature_ok, hook.standard_signature_error)
    return body


def create(c: Any, receiver: WebhookReceiver, tx_id: str, amount: int = 1000, **headers: str) -> Any:
    body = {
        "version": "v2",
        "tx_id": tx_id,
        "order_id": 77,
        "user_id": 5,
        "amount": amount,
        "callback_url": receiver.url(f"/hook/{tx_id}"),
    }
    response = c.post("/api/v2/payments", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_completed_webhook_matches_callback_schema(c, receiver):
    answer = create(c, receiver, "tx_wh_ok")
    assert answer["status"] == "PAYMENT_COMPLETED"
    (hook,) = receiver.wait_for(1, path="/hook/tx_wh_ok")
    body = validate_webhook(hook)
    assert body["event"] == "payment.completed" == hook.event
    assert body["status"] == "PAYMENT_COMPLETED" and body["confirmed_at"]
    assert (body["payment_id"], body["tx_id"], body["amount"]) == ("pay_tx_wh_ok", "tx_wh_ok", 1000)


def test_confirm_resends_a_valid_webhook(c, receiver):
    create(c, receiver, "tx_wh_confirm")
    receiver.wait_for(1, path="/hook/tx_wh_confirm")
    response = c.post("/api/v2/confirm-payment", json={"payment_id": "pay_tx_wh_confirm"})
    assert response.status_code == 200, response.text
    hooks = receiver.wait_for(2, path="/hook/tx_wh_confirm")
    for hook in hooks:
        validate_webhook(hook)
    assert hooks[0].webhook_id == hooks[1].webhook_id


@pytest.mark.parametrize(
    ("how", "amount", "headers"),
    [("header", 1000, {"X-Mock-Scenario": "declined"}), ("match rule", 4003, {})],
)
def test_failed_webhook_matches_callback_schema(c, receiver, how, amount, headers):
    # The contract-test apps load the fixtures without match rules (support.py); this one is ours.
    rule = {"name": "decline-4003", "description": "d", "match": {"amount": 4003}, "payment": {"outcome": "fail"}}
    assert c.put("/mock/v1/scenarios/decline-4003", json=rule).status_code == 201
    tx_id = "tx_wh_fail_" + how.replace(" ", "_")
    answer = create(c, receiver, tx_id, amount=amount, **headers)
    assert answer["status"] == "PAYMENT_FAILED" and answer["failure_reason"]
    (hook,) = receiver.wait_for(1, path=f"/hook/{tx_id}")
    body = validate_webhook(hook)
    assert body["event"] == "payment.failed" == hook.event
    assert body["status"] == "PAYMENT_FAILED"
    assert body["confirmed_at"] is None
    assert body["failure_reason"] == answer["failure_reason"]


def test_retried_webhooks_stay_valid(c, receiver):
    receiver.refuse_next(2, 503)
    answer = create(c, receiver, "tx_wh_retry")
    assert answer["status"] == "PENDING"
    hooks = receiver.wait_for(3, path="/hook/tx_wh_retry")
    bodies = [validate_webhook(h) for h in hooks]
    assert len({h.webhook_id for h in hooks}) == 1
    assert all(b == bodies[0] for b in bodies)
    waited = wait_for_delivery(c, 5.0, tx_id="tx_wh_retry")
    assert waited.status_code == 200 and waited.json()["state"] == "acknowledged"
    listing = c.get("/api/v2/pending-payments").json()
    assert listing["payments"]["pay_tx_wh_retry"]["status"] == "PAYMENT_COMPLETED"
