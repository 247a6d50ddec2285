"""The fast accept path agrees with Connexion's validator; anything it rejects is judged by Connexion."""

from __future__ import annotations

import copy

import pytest
from connexion.json_schema import Draft4ResponseValidator, resolve_refs
from jsonschema import Draft4Validator

from paymock.api.fast_schema import FastCheck, to_json_schema
from paymock.resources import load_spec

SPEC = resolve_refs(load_spec("provider.yaml"))
LISTING = SPEC["components"]["schemas"]["PaymentListing"]
CREATE = SPEC["components"]["schemas"]["CreatePaymentRequest"]
ITEM = {
    "payment_id": "pay_t1",
    "order_id": 1,
    "tx_id": "t1",
    "user_id": 2,
    "amount": 3,
    "status": "PENDING",
    "created_at": "2024-01-01T12:00:00.000Z",
    "confirmed_at": None,
    "callback_url": "http://127.0.0.1:1/x",
    "scenario": "default",
    "failure_reason": None,
}


def python_ok(schema, value) -> bool:
    return Draft4ResponseValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER).is_valid(value)


def test_nullable_becomes_a_null_alternative():
    assert to_json_schema({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert to_json_schema({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    assert to_json_schema({"allOf": [{"type": "string"}], "nullable": True}) == {
        "anyOf": [{"type": "null"}, {"allOf": [{"type": "string"}]}]
    }
    assert "x-bearerInfoFunc" not in to_json_schema({"x-bearerInfoFunc": "f", "type": "object"})


LISTINGS = {
    "valid": {"pending_count": 1, "completed_count": 0, "failed_count": 0, "total": 1, "payments": {"pay_t1": ITEM}},
    "completed": {
        "pending_count": 0,
        "completed_count": 1,
        "failed_count": 0,
        "total": 1,
        "next_offset": None,
        "payments": {"pay_t1": {**ITEM, "status": "PAYMENT_COMPLETED", "confirmed_at": "2024-01-01T12:00:01Z"}},
    },
}


def _broken(change):
    body = copy.deepcopy(LISTINGS["valid"])
    change(body)
    return body


BROKEN = [
    _broken(lambda b: b["payments"]["pay_t1"].update(amount=0)),
    _broken(lambda b: b["payments"]["pay_t1"].update(status="DONE")),
    _broken(lambda b: b["payments"]["pay_t1"].update(extra=1)),
    _broken(lambda b: b["payments"]["pay_t1"].update(confirmed_at=5)),
    _broken(lambda b: b.pop("total")),
    _broken(lambda b: b.update(next_offset=-1)),
]


@pytest.mark.parametrize("body", list(LISTINGS.values()))
def test_valid_bodies_are_accepted_by_both(body):
    assert FastCheck.is_valid(LISTING, body) and python_ok(LISTING, body)


@pytest.mark.parametrize("body", BROKEN)
def test_invalid_bodies_are_rejected_by_both(body):
    assert not FastCheck.is_valid(LISTING, body)
    assert not python_ok(LISTING, body)


@pytest.mark.parametrize(
    "body",
    [
        {"tx_id": "t", "order_id": 1, "user_id": 1, "amount": 1, "callback_url": "ftp://x/y"},
        {"tx_id": "t", "order_id": 1, "user_id": 1, "amount": 1, "callback_url": "http://x/y", "more": 1},
        {"tx_id": "t t", "order_id": 1, "user_id": 1, "amount": 1, "callback_url": "http://x/y"},
        {"tx_id": "t", "order_id": 2**63, "user_id": 1, "amount": 1, "callback_url": "http://x/y"},
        {"tx_id": "t", "order_id": 1, "user_id": 1, "amount": 1.5, "callback_url": "http://x/y"},
    ],
)
def test_bad_requests_are_never_fast_accepted(body):
    assert not FastCheck.is_valid(CREATE, body)
