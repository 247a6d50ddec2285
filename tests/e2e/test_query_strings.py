"""Query strings end to end: values past Python's integer limit, repeated and loosely written parameters
that Connexion took silently."""

from __future__ import annotations

import pytest

from tests.conftest import assert_problem


def test_listing_limit_with_5000_digits_is_a_short_400_naming_limit(live):
    r = live.get("/api/v2/pending-payments", params={"limit": "9" * 5000})
    assert_problem(r, 400)
    assert len(r.content) < 1024, len(r.content)  # the value is not echoed whole
    assert "'limit'" in r.text


@pytest.mark.parametrize(
    ("query_string", "mentions"),
    [
        ("status=PENDING&status=PAYMENT_FAILED", ("'status' is given 2 times",)),
        ("limit=1_0", ("'limit' is '1_0'", "plain decimal digits")),
        ("limit=+10", ("'limit' is ' 10'",)),  # a raw `+` is a space in a query string
        ("limit=%2B10", ("'limit' is '+10'",)),
        ("offset=-0", ("'offset' is '-0'",)),
    ],
)
def test_repeated_and_loosely_written_query_parameters_are_400s(live, query_string: str, mentions: tuple[str, ...]):
    problem = assert_problem(live.get(f"/api/v2/pending-payments?{query_string}"), 400)
    for mention in mentions:
        assert mention in problem["detail"], problem["detail"]
