"""`paymock trigger`'s request: a new webhook-id per run, an explicit tx_id kept."""

from __future__ import annotations

import json

from paymock.cli.main import build_parser
from paymock.cli.trigger import build_request


def _trigger_args(*extra: str) -> object:
    return build_parser().parse_args(["trigger", "payment.completed", "http://127.0.0.1:1/hook", *extra])


def _sent(args: object, now: float, nonce: str) -> tuple[str, str]:
    _url, body, headers = build_request(args, "test-secret", now, nonce)  # type: ignore[arg-type]
    return {k.lower(): v for k, v in headers.items()}["webhook-id"], json.loads(body)["tx_id"]


def test_two_triggers_in_the_same_second_are_two_events() -> None:
    now = 1_700_000_000.75
    first_id, first_tx = _sent(_trigger_args(), now, "a1b2c3")
    second_id, second_tx = _sent(_trigger_args(), now, "d4e5f6")
    assert (first_tx, second_tx) == ("trig_1700000000_a1b2c3", "trig_1700000000_d4e5f6")
    assert first_id != second_id  # a receiver deduplicating on webhook-id sees both


def test_an_explicit_tx_id_is_kept_whatever_the_nonce() -> None:
    args = _trigger_args("--tx-id", "tx_given")
    assert _sent(args, 1_700_000_000.0, "a1b2c3") == _sent(args, 1_700_000_000.0, "d4e5f6")
    assert _sent(args, 1_700_000_000.0, "a1b2c3") == ("evt_completed_tx_given", "tx_given")
