from __future__ import annotations

import itertools
import math

import pytest

from paymock.delivery.senders import parse_retry_after
from paymock.domain.retry import give_up_reason, next_delay_ms, stored_next_attempt_at
from paymock.domain.scenarios.model import DEFAULT_RETRY_SCHEDULE_MS, MAX_DELAY_MS, WebhookPlan
from paymock.resources import load_spec


def test_default_schedule_is_exponential_and_bounded():
    plan = WebhookPlan()
    delays = [next_delay_ms(plan, n, 500, None) for n in range(1, plan.max_attempts + 1)]
    assert delays[:-1] == [float(d) for d in DEFAULT_RETRY_SCHEDULE_MS]
    assert delays[-1] is None
    assert all(b >= a for a, b in itertools.pairwise(delays[:-1]))
    assert "8 scheduled attempt(s)" in give_up_reason(plan, 500)


def test_gone_stops_at_once():
    assert next_delay_ms(WebhookPlan(), 1, 410, None) is None
    assert "410" in give_up_reason(WebhookPlan(), 410)


def test_retry_after_wins_only_when_longer():
    plan = WebhookPlan(retry_schedule_ms=(1000, 1000))
    assert next_delay_ms(plan, 1, 429, 30) == 30_000
    assert next_delay_ms(plan, 1, 429, 0.5) == 1000
    assert next_delay_ms(plan, 3, 429, 30) is None


def test_retry_after_is_clamped_to_the_longest_delay_a_schedule_may_hold():
    plan = WebhookPlan(retry_schedule_ms=(1000, 1000))
    assert next_delay_ms(plan, 1, 503, 1e20) == MAX_DELAY_MS
    assert next_delay_ms(plan, 1, 503, 86_400) == MAX_DELAY_MS
    assert next_delay_ms(plan, 1, 503, 86_399) == 86_399_000


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, -5.0])
def test_non_finite_or_negative_retry_after_falls_back_to_the_schedule(value):
    assert next_delay_ms(WebhookPlan(retry_schedule_ms=(1000, 1000)), 1, 503, value) == 1000


def test_max_delay_is_the_specs_millis_maximum():
    assert load_spec("control.yaml")["components"]["schemas"]["Millis"]["maximum"] == MAX_DELAY_MS


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("9" * 32, float("9" * 32)),
        ("1e400", None),
        ("1e20", None),
        ("inf", None),
        ("nan", None),
        ("-5", None),
        ("0x10", None),
        ("9" * 33, None),
        ("Sun, 06 Nov 1994 08:49:37 GMT" + " " * 100 + "x", None),
    ],
)
def test_retry_after_parsing_refuses_what_is_not_seconds(header, expected):
    assert parse_retry_after(header, 1_700_000_000.0) == expected


def test_stored_next_attempt_beyond_any_date_is_brought_back_into_range():
    assert stored_next_attempt_at(None, 10.0) is None
    assert stored_next_attempt_at(1_700_000_100.0, 1_700_000_000.0) == 1_700_000_100.0
    for broken in (math.inf, math.nan, 1e20, -1.0):
        assert stored_next_attempt_at(broken, 1_700_000_000.0) == 1_700_000_000.0 + MAX_DELAY_MS / 1000
