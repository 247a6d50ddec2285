"""The retry rule, as a pure function so the schedule is tested without sleeping."""

from __future__ import annotations

import math

from .scenarios.model import MAX_DELAY_MS, WebhookPlan

GONE = 410


def next_delay_ms(
    plan: WebhookPlan, attempt_ordinal: int, status: int | None, retry_after_s: float | None
) -> float | None:
    """Unscaled delay before the next scheduled attempt, or None to give up.

    `attempt_ordinal` is the 1-based number of the scheduled attempt that just failed. 410 Gone stops
    at once; a Retry-After longer than the schedule's delay wins, up to MAX_DELAY_MS (the longest delay
    a schedule may hold): a receiver's answer cannot push the next attempt past any date we can print
    or store. A Retry-After that is not a finite, non-negative number is ignored.
    """
    if status == GONE or attempt_ordinal >= plan.max_attempts:
        return None
    delay = float(plan.retry_schedule_ms[attempt_ordinal - 1])
    if retry_after_s is not None and math.isfinite(retry_after_s) and retry_after_s >= 0:
        delay = max(delay, min(retry_after_s * 1000.0, float(MAX_DELAY_MS)))
    return delay


def give_up_reason(plan: WebhookPlan, status: int | None) -> str:
    if status == GONE:
        return "receiver answered 410 Gone; retries stopped"
    return f"not acknowledged after {plan.max_attempts} scheduled attempt(s); retry schedule exhausted"


# Year 10000: past it a time has no ISO-8601 date (and datetime overflows). Legitimate schedules stay
# far below (24 h at the slowest time scale is under three years).
_LAST_PRINTABLE_S = 253_402_300_799.0


def stored_next_attempt_at(next_at: float | None, last_attempt_at: float) -> float | None:
    """A next-attempt time read back from a store, as the retry rule allows it.

    A store written before Retry-After was clamped may hold one a receiver pushed past any printable
    date (`Retry-After: 1e400` gave inf); such a time becomes the latest the rule allows now, counted
    from the attempt it answered, so listings print and the delivery is retried."""
    if next_at is None or (math.isfinite(next_at) and 0.0 <= next_at <= _LAST_PRINTABLE_S):
        return next_at
    return last_attempt_at + MAX_DELAY_MS / 1000.0
