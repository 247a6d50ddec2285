"""The audit's battery: each case is one webhook request built with the dispatcher's own payload and
signing functions (domain/webhooks.py), what a sound receiver answers to it, why, and how to fix it.

No I/O here: `battery()` returns requests; the runner sends them and report.py grades the answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..domain.payments import Payment
from ..domain.webhooks import (
    COMPLETED_EVENT,
    FAILED_EVENT,
    build_headers,
    encode,
    payload,
    sign_standard,
    webhook_id,
)

STALE_AGE_S = 600  # twice Standard Webhooks' 5-minute tolerance: no clock skew excuses it
UNKNOWN_EVENT = "payment.refunded"  # an event paymock does not send (yet): providers add events


class Expect(Enum):
    """What a sound receiver answers."""

    ACK = "2xx"  # acknowledged: the provider stops retrying
    REFUSE = "4xx"  # refused as not from the provider (or not the payload): never processed
    REFUSE_IF_STANDARD = "4xx if Standard Webhooks is verified"  # stale timestamp, see report.py
    PROBE_STANDARD = "4xx, else a warning"  # is webhook-signature checked at all?
    NOT_5XX = "anything but 5xx"  # an unknown event type


class Effect(Enum):
    """What the order's state may do (when the audit can read it)."""

    CHANGE = "changes"  # the first valid payment.completed: if nothing changes, the probe reads the wrong thing
    ANY = "any"  # it may change the order, or not
    NONE_IF_REFUSED = "none if refused"  # refused deliveries must not take effect
    NONE = "none"  # a duplicate must not take effect twice


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    expect: Expect
    effect: Effect
    why: str
    fix: str
    body: bytes
    headers: dict[str, str]
    fields: dict[str, Any] = field(default_factory=dict)  # the payment's fields, for the state URL template
    accepted: str = "accepted, so anyone who knows the URL can make the receiver process it"  # a 2xx to a REFUSE


@dataclass(frozen=True)
class Signing:
    """Who signs: the secret and bearer token `paymock trigger` and the dispatcher use."""

    secret: str
    auth_token: str | None = None


def _payment(tx_id: str, order_id: int, now: float, *, failed: bool = False) -> Payment:
    payment = Payment(
        tx_id=tx_id,
        order_id=order_id,
        user_id=order_id,
        amount=1000,
        callback_url="",
        scenario="default",
        created_at=now,
    )
    if failed:
        payment.fail("CARD_DECLINED")
    return payment


def _fields(payment: Payment) -> dict[str, Any]:
    return {
        "order_id": payment.order_id,
        "user_id": payment.user_id,
        "tx_id": payment.tx_id,
        "payment_id": payment.payment_id,
        "amount": payment.amount,
    }


def _signed(signing: Signing, payment: Payment, event: str, now: float, **options: Any) -> tuple[bytes, dict[str, str]]:
    """A delivery exactly as the dispatcher builds it (options: build_headers' signature mode)."""
    body = encode(payload(payment, event, now))
    headers = build_headers(
        secret=signing.secret,
        event=event,
        msg_id=webhook_id(event, payment.tx_id),
        body=body,
        now=now,
        auth_token=signing.auth_token,
        **options,
    )
    return body, headers


def _headers_for(signing: Signing, event: str, msg_id: str, body: bytes, now: float) -> dict[str, str]:
    return build_headers(
        secret=signing.secret, event=event, msg_id=msg_id, body=body, now=now, auth_token=signing.auth_token
    )


def battery(signing: Signing, now: float, run_id: str, first_order_id: int) -> list[Case]:
    """Every case of one audit, in the order sent. `run_id` makes this run's webhook-ids new to a receiver
    that dedupes (so an earlier audit's deliveries are not duplicates of these); each case has its own
    order (first_order_id, +1, ...) so its effect is read apart from the others'."""
    cases: list[Case] = []
    orders = iter(range(first_order_id, first_order_id + 100))

    def payment(name: str, *, failed: bool = False) -> Payment:
        return _payment(f"audit_{run_id}_{name}", next(orders), now, failed=failed)

    completed = payment("completed")
    body, headers = _signed(signing, completed, COMPLETED_EVENT, now)
    cases.append(
        Case(
            "valid-completed",
            "valid payment.completed is acknowledged",
            Expect.ACK,
            Effect.CHANGE,
            "Anything but a 2xx within the provider's timeout is a failed delivery: the provider retries, "
            "and in the end gives up on an order that was paid.",
            "Verify the signature, record the payment, answer 2xx; do slow work after answering.",
            body,
            headers,
            _fields(completed),
        )
    )
    failed = payment("failed", failed=True)
    body, headers = _signed(signing, failed, FAILED_EVENT, now)
    cases.append(
        Case(
            "valid-failed",
            "valid payment.failed is acknowledged",
            Expect.ACK,
            Effect.ANY,
            "A failed payment is news too: not acknowledging it makes the provider retry it until it gives up.",
            "Handle payment.failed like payment.completed: verify, record, answer 2xx.",
            body,
            headers,
            _fields(failed),
        )
    )
    # the very delivery of valid-completed again, re-signed now as a provider's retry is
    body = encode(payload(completed, COMPLETED_EVENT, now))
    cases.append(
        Case(
            "duplicate",
            "the same delivery again (same webhook-id) is acknowledged, once in effect",
            Expect.ACK,
            Effect.NONE,
            "Providers deliver at least once: a retry after a lost answer repeats a delivery already "
            "processed. Refusing it makes the provider retry; processing it again pays the order twice.",
            "Keep the webhook-ids you have processed; for one seen before, answer 2xx and do nothing.",
            body,
            _headers_for(signing, COMPLETED_EVENT, webhook_id(COMPLETED_EVENT, completed.tx_id), body, now),
            _fields(completed),
        )
    )
    wrong = payment("wrong_key")
    body, headers = _signed(signing, wrong, COMPLETED_EVENT, now, signature="invalid")
    cases.append(
        Case(
            "wrong-key",
            "signed with the wrong key is refused",
            Expect.REFUSE,
            Effect.NONE_IF_REFUSED,
            "Only the provider knows the secret: a delivery signed with another key is anyone's forgery, "
            "e.g. an order marked paid by its buyer.",
            "Compute HMAC-SHA256 over the raw body with your secret and compare in constant time; answer 401.",
            body,
            headers,
            _fields(wrong),
        )
    )
    unsigned = payment("unsigned")
    body, headers = _signed(signing, unsigned, COMPLETED_EVENT, now, signature="missing")
    cases.append(
        Case(
            "unsigned",
            "no signature headers is refused",
            Expect.REFUSE,
            Effect.NONE_IF_REFUSED,
            "An unsigned delivery can come from anyone who knows the URL.",
            "Treat a missing X-Payment-Signature / webhook-signature as a bad one: answer 401.",
            body,
            headers,
            _fields(unsigned),
        )
    )
    tampered = payment("tampered")
    body, headers = _signed(signing, tampered, COMPLETED_EVENT, now)
    changed = body.replace(b'"amount":1000', b'"amount":1')  # signed for 1000, sent saying 1
    cases.append(
        Case(
            "tampered-body",
            "a body changed after signing (the amount) is refused",
            Expect.REFUSE,
            Effect.NONE_IF_REFUSED,
            "The signature is what ties the body to the provider: a body it does not match can say any amount, "
            "order or status, written by anyone on the way.",
            "Verify the signature over the raw bytes received, before parsing (never over re-encoded JSON); "
            "on a mismatch answer 401.",
            changed,
            headers,
            _fields(tampered),
        )
    )
    foreign = payment("foreign")
    other = payment("other")
    body = encode(payload(foreign, COMPLETED_EVENT, now))
    other_body = encode(payload(other, COMPLETED_EVENT, now))
    msg_id = webhook_id(COMPLETED_EVENT, foreign.tx_id)
    cases.append(
        Case(
            "foreign-signature",
            "a signature of another body is refused",
            Expect.REFUSE,
            Effect.NONE_IF_REFUSED,
            "A valid signature copied from another delivery proves nothing about this body.",
            "Compare the signature against an HMAC of this request's own body, not any known-good value.",
            body,
            _headers_for(signing, COMPLETED_EVENT, msg_id, other_body, now),
            _fields(foreign),
        )
    )
    standard = payment("standard")
    body, headers = _signed(signing, standard, COMPLETED_EVENT, now)
    wrong_key = signing.secret + ".not-the-secret"
    headers["webhook-signature"] = sign_standard(wrong_key, headers["webhook-id"], int(now), body)
    cases.append(
        Case(
            "standard-signature",
            "a wrong webhook-signature (Standard Webhooks) is refused",
            Expect.PROBE_STANDARD,
            Effect.NONE_IF_REFUSED,
            "X-Payment-Signature signs the body only, not when it was sent: a captured delivery verifies "
            "forever. webhook-signature also signs webhook-id and webhook-timestamp, which makes replays "
            "detectable.",
            "Verify webhook-signature over '{webhook-id}.{webhook-timestamp}.{body}' too (docs/snippets/).",
            body,
            headers,
            _fields(standard),
        )
    )
    stale = payment("stale")
    body, headers = _signed(signing, stale, COMPLETED_EVENT, now - STALE_AGE_S)
    cases.append(
        Case(
            "stale-timestamp",
            f"a webhook-timestamp {STALE_AGE_S // 60} minutes old is refused",
            Expect.REFUSE_IF_STANDARD,
            Effect.NONE_IF_REFUSED,
            "A delivery captured once (a log, a proxy) can be sent again later with its valid signature: "
            "a replay. Only a timestamp check bounds how long a captured delivery stays usable.",
            "Refuse (401) a webhook-timestamp more than 5 minutes from now, and verify webhook-signature, "
            "which covers the timestamp; dedupe on webhook-id.",
            body,
            headers,
            _fields(stale),
        )
    )
    not_json = payment("not_json")
    body = b"this is not JSON {"
    cases.append(
        Case(
            "not-json",
            "a validly signed body that is not JSON is refused with a 4xx",
            Expect.REFUSE,
            Effect.NONE_IF_REFUSED,
            "A crash (5xx) or a dropped connection makes the provider retry a delivery that can never succeed; "
            "a 2xx acknowledges something that was never processed.",
            "Parse the body inside a try; on a parse error answer 400.",
            body,
            _headers_for(signing, COMPLETED_EVENT, webhook_id(COMPLETED_EVENT, not_json.tx_id), body, now),
            _fields(not_json),
            "acknowledged a body it cannot have parsed: nothing was processed, and nothing will be resent",
        )
    )
    shapeless = payment("not_payload")
    body = encode({"event": COMPLETED_EVENT, "tx_id": 42, "order_id": "not a number", "amount": None})
    cases.append(
        Case(
            "not-the-payload",
            "validly signed JSON that is not the payload (fields missing, wrong types) is refused with a 4xx",
            Expect.REFUSE,
            Effect.NONE_IF_REFUSED,
            "Code that indexes a missing field or adds to a null crashes (5xx), and the provider retries forever; "
            "or it stores garbage against an order.",
            "Validate the payload (fields present, types right) before using it; answer 400 naming what is wrong.",
            body,
            _headers_for(signing, COMPLETED_EVENT, webhook_id(COMPLETED_EVENT, shapeless.tx_id), body, now),
            _fields(shapeless),
            "acknowledged a payload with missing and mistyped fields: it was ignored or stored as garbage",
        )
    )
    unknown = payment("unknown_event")
    body = encode({**payload(unknown, COMPLETED_EVENT, now), "event": UNKNOWN_EVENT})
    cases.append(
        Case(
            "unknown-event",
            f"an unknown event type ({UNKNOWN_EVENT}), validly signed, is not a 5xx",
            Expect.NOT_5XX,
            Effect.ANY,
            "Providers add event types; a receiver that crashes on one gets it retried until it gives up.",
            "Answer 2xx (ignored) or 4xx for event types you do not handle; never let them raise.",
            body,
            _headers_for(signing, UNKNOWN_EVENT, f"evt_refunded_{unknown.tx_id}", body, now),
            _fields(unknown),
        )
    )
    return cases


ANSWER_TIME = "answer-time"
ANSWER_TIME_TITLE = "every answer within the provider's webhook timeout"
ANSWER_TIME_WHY = (
    "The provider stops waiting at its timeout and counts the delivery as failed, even if the receiver "
    "processed it: it is retried, and duplicates follow."
)
ANSWER_TIME_FIX = "Answer first, work later: record the event and return 2xx, then process it in the background."
