"""The console's session helpers that need no server: claims as text and back, ages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from paymock_console import sessions

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def test_claims_read_as_text() -> None:
    assert sessions.claims_text(None) == "none"
    assert sessions.claims_text({"tx_id_prefix": None, "order_ids": [], "user_ids": []}) == "none"
    claims = {"tx_id_prefix": "t1-", "order_ids": [1, 2], "user_ids": [7]}
    assert sessions.claims_text(claims) == "tx_id t1-* · orders 1, 2 · users 7"


def test_ids_are_parsed_or_named_wrong() -> None:
    assert sessions.parse_ids(" 7, 8 9,, ", "user_ids") == [7, 8, 9]
    assert sessions.parse_ids("", "user_ids") == []
    with pytest.raises(ValueError, match=r"order_ids: '-1' is not a whole number"):
        sessions.parse_ids("3, -1", "order_ids")


@pytest.mark.parametrize(
    ("iso", "said"),
    [
        ("2026-12-06T11:59:18.000Z", "42 s"),
        ("2026-12-06T11:55:00Z", "5 min"),
        ("2026-12-06T09:55:00+00:00", "2 h 5 min"),
        ("2026-12-06T12:14:00Z", "14 min"),  # ahead: an expiry
    ],
)
def test_ages(iso: str, said: str) -> None:
    assert sessions.age_text(iso, NOW) == said
