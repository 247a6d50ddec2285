"""The retry rule, as a pure function so the schedule is tested without sleeping."""

from __future__ import annotations

from .scenarios.model import WebhookPlan

GONE = 410


def next_delay_ms(
    plan: WebhookPlan, attempt_ordinal: int, status: int | None, retry_after_s: float | None
) -> float | None:
    """Unscaled delay before the next scheduled attempt, or None to give up.

    `attempt_ordinal` is the 1-based number of the scheduled attempt that just failed. 410 Gone stops
    at once; a Retry-After longer than the schedule's delay wins.
    """
    if status == GONE or attempt_ordinal >= plan.max_attempts:
        return None
    delay = float(plan.retry_schedule_ms[attempt_ordinal - 1])
    if retry_after_s is not None:
        delay = max(delay, retry_after_s * 1000.0)
    return delay


def give_up_reason(plan: WebhookPlan, status: int | None) -> str:
    if status == GONE:
        return "receiver answered 410 Gone; retries stopped"
    return f"not acknowledged after {plan.max_attempts} scheduled attempt(s); retry schedule exhausted"
