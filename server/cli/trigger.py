"""`paymock trigger`: send one signed webhook of a given kind to a URL, without creating a payment.

The body and headers are built by the same functions the dispatcher uses (domain/webhooks.py), so a
receiver that accepts a triggered event accepts the real thing. Prints the answer's status on stdout;
exits 0 on a 2xx answer, 1 on any other answer or a connection failure.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from typing import Any

from ..domain.payments import Payment
from ..domain.webhooks import EVENTS, FAILED_EVENT, SIGNATURE_MODES, build_headers, encode, payload, webhook_id
from .args import secret_or_exit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("event", choices=EVENTS, help="the kind of event to send")
    parser.add_argument("url", help="where to POST it (the receiver's callback URL)")
    parser.add_argument(
        "--secret",
        help="signing secret (default $PAYMENT_WEBHOOK_SECRET; both empty: the development secret, and a warning)",
    )
    parser.add_argument(
        "--tx-id",
        default=None,
        help="tx_id (default trig_<unix time>_<6 random hex digits>: a new webhook-id per run)",
    )
    parser.add_argument("--order-id", type=int, default=1)
    parser.add_argument("--user-id", type=int, default=1)
    parser.add_argument("--amount", type=int, default=1000)
    parser.add_argument("--failure-reason", default="CARD_DECLINED", help="for payment.failed")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a body field after the flags (VALUE parsed as JSON if it can be, e.g. amount=5000, x=null)",
    )
    parser.add_argument("--signature", choices=SIGNATURE_MODES, default="valid", help="sign it wrongly on purpose")
    parser.add_argument(
        "--auth-token",
        default=os.environ.get("SERVICE_AUTH_TOKEN") or None,
        help="send Authorization: Bearer TOKEN (default $SERVICE_AUTH_TOKEN)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer")
    parser.add_argument("--print-request", action="store_true", help="print the headers and body sent, on stderr")


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw  # a bare word is a string: --set status=PENDING
    return out


def build_request(args: argparse.Namespace, secret: str, now: float, nonce: str) -> tuple[str, bytes, dict[str, str]]:
    """(url, body, headers) of the event the arguments describe, signed with `secret` (resolved by run());
    `nonce` makes the default tx_id unique, so two runs within a second are two events to a receiver that
    dedupes on webhook-id."""
    tx_id = args.tx_id or f"trig_{int(now)}_{nonce}"
    payment = Payment(
        tx_id=tx_id,
        order_id=args.order_id,
        user_id=args.user_id,
        amount=args.amount,
        callback_url=args.url,
        scenario="default",
        created_at=now,
    )
    if args.event == FAILED_EVENT:
        payment.fail(args.failure_reason)
    body_dict = payload(payment, args.event, now)
    body_dict.update(_parse_set(args.set))
    body = encode(body_dict)
    headers = build_headers(
        secret=secret,
        event=args.event,
        msg_id=webhook_id(args.event, str(body_dict.get("tx_id", tx_id))),
        body=body,
        now=now,
        signature=args.signature,
        auth_token=args.auth_token,
    )
    return args.url, body, headers


def run(args: argparse.Namespace) -> int:
    import httpx

    secret = secret_or_exit("trigger", args.secret, "the webhook is signed")
    if secret is None:
        return 2
    try:
        url, body, headers = build_request(args, secret, time.time(), secrets.token_hex(3))
    except ValueError as exc:
        print(f"paymock trigger: {exc}", file=sys.stderr)
        return 2
    if args.print_request:
        for key, value in headers.items():
            print(f"{key}: {value}", file=sys.stderr)
        print(body.decode("utf-8"), file=sys.stderr)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=args.timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        print(f"paymock trigger: {args.event} to {url} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(response.status_code, flush=True)
    return 0 if response.is_success else 1
