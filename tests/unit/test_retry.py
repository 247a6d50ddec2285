from __future__ import annotations

import itertools

from paymock.domain.retry import give_up_reason, next_delay_ms
from paymock.domain.scenarios.model import DEFAULT_RETRY_SCHEDULE_MS, WebhookPlan


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
