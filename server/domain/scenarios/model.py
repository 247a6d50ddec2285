"""The scenario model: what a scenario decides (outcome, webhook plan, API plan) and its defaults.

Each default is stated once, here: the loader builds these from the keys a document gives and leaves
every other field to its default; `as_document` shows them all filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_NAME = "default"  # the scenario every server has; the active one until another is chosen
DEFAULT_OUTCOME = "complete"
# Modelled on Svix / Standard Webhooks: attempts at 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_RETRY_SCHEDULE_MS: tuple[int, ...] = (
    5_000,
    300_000,
    1_800_000,
    7_200_000,
    18_000_000,
    36_000_000,
    36_000_000,
)
DEFAULT_REORDER_HOLD_MS = 5_000
# The longest delay a scenario may give (control.yaml's Millis maximum: 24 h); also the longest a
# receiver's Retry-After may postpone an attempt (domain/retry.py).
MAX_DELAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class WebhookPlan:
    """What a scenario does to webhooks; shared by every delivery made under it."""

    mode: str = "deliver"
    fail_attempts: int = 0
    delay_ms: int = 0
    duplicates: int = 0
    reorder: bool = False
    reorder_hold_ms: int = DEFAULT_REORDER_HOLD_MS
    signature: str = "valid"
    body: str = "valid"
    fault_attempts: int | None = None
    retry_schedule_ms: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE_MS

    @property
    def max_attempts(self) -> int:
        return len(self.retry_schedule_ms) + 1

    def faults_apply(self, attempt_number: int) -> bool:
        """Whether scheduled attempt `attempt_number` (1-based) carries the signature/body faults. They count
        attempts actually sent: one that `fail_attempts` simulates reaches nobody, so its faults would too."""
        sent_number = attempt_number - self.fail_attempts
        return sent_number >= 1 and (self.fault_attempts is None or sent_number <= self.fault_attempts)

    def fault_labels(self) -> tuple[str, ...]:
        """What this plan does on purpose, for the delivery log."""
        labels = []
        if self.mode == "drop":
            labels.append("dropped")
        if self.fail_attempts:
            labels.append(f"network failure on first {self.fail_attempts} attempt(s)")
        if self.delay_ms:
            labels.append(f"delayed {self.delay_ms} ms")
        if self.duplicates:
            labels.append(f"{self.duplicates} duplicate(s)")
        if self.reorder:
            labels.append("reordered")
        scope = "every attempt" if self.fault_attempts is None else f"first {self.fault_attempts} attempt(s) sent"
        if self.signature != "valid":
            labels.append(f"signature {self.signature} ({scope})")
        if self.body != "valid":
            labels.append(f"body {self.body} ({scope})")
        if self.retry_schedule_ms != DEFAULT_RETRY_SCHEDULE_MS:
            labels.append(f"retry schedule {list(self.retry_schedule_ms)} ms")
        return tuple(labels)


@dataclass(frozen=True, slots=True)
class ApiPlan:
    error_status: int | None = None
    retry_after_s: int | None = None
    latency_ms: int = 0
    times: int | None = None
    operations: tuple[str, ...] = ("create", "confirm")

    @property
    def active(self) -> bool:
        return self.error_status is not None or self.latency_ms > 0

    def applies_to(self, operation: str) -> bool:
        """Whether a call of `operation` gets this plan's faults (its `times` aside)."""
        return self.active and operation in self.operations


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    outcome: str = DEFAULT_OUTCOME  # complete | fail | pending | delayed
    failure_reason: str = "CARD_DECLINED"
    payment_delay_ms: int = 0
    match: Mapping[str, Any] | None = None
    webhook: WebhookPlan = field(default_factory=WebhookPlan)
    api: ApiPlan = field(default_factory=ApiPlan)
    # keys the document gave that had no effect with the others (dropped on load): warnings to show
    notes: tuple[str, ...] = field(default=(), compare=False)

    def as_document(self) -> dict[str, Any]:
        """The scenario as loaded, every default filled in (the control API's view of it)."""
        w, a = self.webhook, self.api
        doc: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.match:
            doc["match"] = dict(self.match)
        doc["payment"] = {"outcome": self.outcome, "auto_complete": self.outcome != "pending"}
        if self.outcome == "fail":
            doc["payment"]["failure_reason"] = self.failure_reason
        if self.outcome == "delayed":
            doc["payment"]["delay_ms"] = self.payment_delay_ms
        doc["webhook"] = {"mode": w.mode}
        if w.mode != "drop":
            doc["webhook"].update(
                fail_attempts=w.fail_attempts,
                delay_ms=w.delay_ms,
                duplicates=w.duplicates,
                reorder=w.reorder,
                signature=w.signature,
                body=w.body,
                retry_schedule_ms=list(w.retry_schedule_ms),
            )
            if w.reorder:
                doc["webhook"]["reorder_hold_ms"] = w.reorder_hold_ms
            if w.fault_attempts is not None:
                doc["webhook"]["fault_attempts"] = w.fault_attempts
        api: dict[str, Any] = {"latency_ms": a.latency_ms, "operations": list(a.operations)}
        if a.error_status is not None:
            api["error_status"] = a.error_status
            if a.retry_after_s is not None:
                api["retry_after_s"] = a.retry_after_s
        if a.times is not None:
            api["times"] = a.times
        doc["api"] = api
        return doc

    def matches(self, request: Mapping[str, Any]) -> bool:
        if not self.match:
            return False
        for key, expected in self.match.items():
            if key == "tx_id_prefix":
                if not str(request.get("tx_id", "")).startswith(expected):
                    return False
            elif request.get(key) != expected:
                return False
        return True


def scenario_warnings(scenario: Scenario) -> list[str]:
    """Settings that are valid but defeat themselves. Not refused: a test may want exactly that
    (a webhook that is never delivered), but whoever wrote it by mistake should hear of it."""
    found = list(scenario.notes)
    plan = scenario.webhook
    if plan.mode != "drop" and plan.fail_attempts >= plan.max_attempts:
        attempts = f"{plan.max_attempts} attempt{'s' if plan.max_attempts != 1 else ''}"
        found.append(
            f"webhook.fail_attempts {plan.fail_attempts} >= the {attempts} of the retry schedule: "
            "no scheduled attempt is sent, so every delivery ends failed"
        )
    return found
