"""`paymock audit URL`: grade an ops server's webhook endpoint. Exit 0 when nothing failed (warnings
allowed), 1 when a check failed, 2 when the audit could not run (a bad option, an unreachable URL)."""

from __future__ import annotations

import argparse
import os
import sys

from ..audit import DEFAULT_TIMEOUT_S, AuditError, audit
from ..audit.runner import MAX_TOTAL_S
from ..settings import WEBHOOK_TIMEOUT_RANGE
from .args import env_default, secret_or_exit


def _seconds(low: float, high: float, var: str | None = None):  # type: ignore[no-untyped-def]
    """An argparse type for seconds in [low, high]; names `var` too, as args.port does: a string default
    read from it is converted by this type, so a bad variable is a usage error like a bad flag."""
    source = f" (the flag or {var})" if var else ""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds{source}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{raw!r}: expected {low:g} to {high:g} seconds{source}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the ops server's webhook endpoint (every request goes there, nowhere else)")
    parser.add_argument(
        "--secret",
        help="signing secret the endpoint verifies with (default $PAYMENT_WEBHOOK_SECRET; both empty: the "
        "development secret, and a warning)",
    )
    parser.add_argument(
        "--auth-token",
        default=os.environ.get("SERVICE_AUTH_TOKEN") or None,
        help="send Authorization: Bearer TOKEN with every webhook (default $SERVICE_AUTH_TOKEN)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds(*WEBHOOK_TIMEOUT_RANGE, var="PAYMOCK_WEBHOOK_TIMEOUT"),
        default=env_default("PAYMOCK_WEBHOOK_TIMEOUT", DEFAULT_TIMEOUT_S),
        help=f"the provider's webhook timeout to beat (default $PAYMOCK_WEBHOOK_TIMEOUT, else {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--state-url",
        help="read the order's state after each case: a URL template over the payment's fields, e.g. "
        "'http://127.0.0.1:8000/api/orders/{order_id}' ({order_id} {tx_id} {payment_id} {user_id} {amount})",
    )
    parser.add_argument(
        "--state-field",
        help="what to read from the state URL's JSON answer: a top-level key (paid_count) or a JSON pointer "
        "(/order/paid_count); the audit flags a duplicate that changed it twice and a refused webhook that changed it",
    )
    parser.add_argument(
        "--state-header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header for the state URL's requests (repeatable), e.g. 'Authorization: Bearer ...'",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table", help="table (default) or json")
    parser.add_argument(
        "--max-time",
        type=_seconds(1, 3600),
        default=MAX_TOTAL_S,
        help=f"stop sending after this many seconds in all (default {MAX_TOTAL_S:g}); unsent cases fail",
    )


def run(args: argparse.Namespace) -> int:
    if (args.state_url is None) != (args.state_field is None):
        print("paymock audit: --state-url and --state-field go together: give both, or neither", file=sys.stderr)
        return 2
    if args.state_field is not None and not args.state_field.strip():
        # an empty key is never in an answer: every case would be "not graded", silently
        print(
            "paymock audit: --state-field: expected a key (paid_count) or a JSON pointer (/order/paid_count)",
            file=sys.stderr,
        )
        return 2
    secret = secret_or_exit("audit", args.secret, "webhooks are signed")
    if secret is None:
        return 2
    headers: dict[str, str] = {}
    for item in args.state_header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip() or any(c in name for c in " \t\r\n") or "\n" in value or "\r" in value:
            # the value is not said back: it is usually a credential
            print("paymock audit: --state-header: expected 'NAME: VALUE' (a name, a colon, the value)", file=sys.stderr)
            return 2
        headers[name.strip()] = value.strip()
    try:
        report = audit(
            args.url,
            secret=secret,
            auth_token=args.auth_token,
            timeout_s=args.timeout,
            state_url=args.state_url,
            state_field=args.state_field,
            state_headers=headers,
            max_total_s=args.max_time,
        )
    except AuditError as exc:
        print(f"paymock audit: {exc}", file=sys.stderr)
        return 2
    print(report.to_json() if args.format == "json" else report.table(), flush=True)
    return 0 if report.ok else 1
