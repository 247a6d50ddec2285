"""Grade each recorded answer (pass / warn / fail, with what happened, why it matters, how to fix it),
and render the report as a table for people or JSON for CI. Pure functions: no I/O."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, dataclass
from typing import Any

from .checks import ANSWER_TIME, ANSWER_TIME_FIX, ANSWER_TIME_TITLE, ANSWER_TIME_WHY, Effect, Expect
from .runner import Answer, Outcome, StateReading

PASS, WARN, FAIL = "pass", "warn", "fail"
STANDARD_PROBE = "standard-signature"


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    grade: str  # pass | warn | fail
    detail: str  # what happened
    why: str
    fix: str
    status: int | None = None
    elapsed_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AuditFailed(AssertionError):
    """`Report.assert_passed()`: the message lists every failed check with what happened and the fix."""


@dataclass(frozen=True)
class Report:
    url: str
    timeout_s: float
    checks: list[CheckResult]

    def count(self, grade: str) -> int:
        return sum(1 for c in self.checks if c.grade == grade)

    @property
    def ok(self) -> bool:
        """Nothing failed (warnings allowed)."""
        return self.count(FAIL) == 0

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.grade == FAIL]

    def check(self, check_id: str) -> CheckResult:
        return next(c for c in self.checks if c.id == check_id)

    def summary(self) -> str:
        return f"{self.count(PASS)} passed, {self.count(WARN)} warned, {self.count(FAIL)} failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "timeout_s": self.timeout_s,
            "ok": self.ok,
            "passed": self.count(PASS),
            "warned": self.count(WARN),
            "failed": self.count(FAIL),
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def table(self, width: int = 100) -> str:
        return render_table(self, width)

    def assert_passed(self, *, allow_warnings: bool = True) -> None:
        bad = [c for c in self.checks if c.grade == FAIL or (c.grade == WARN and not allow_warnings)]
        if bad:
            lines = [f"{len(bad)} audit check(s) of {self.url} did not pass ({self.summary()}):"]
            lines += [f"- {c.grade.upper()} {c.id}: {c.detail}\n  fix: {c.fix}" for c in bad]
            raise AuditFailed("\n".join(lines))


def describe(answer: Answer) -> str:
    if answer.status is None:
        return answer.error or "no answer"
    return f"answered {answer.status} in {_duration(answer.elapsed_s)}"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _family(status: int | None) -> str:
    return "none" if status is None else f"{status // 100}xx"


def _grade_status(outcome: Outcome, timeout_s: float, standard_verified: bool) -> tuple[str, str]:
    answer, expect = outcome.answer, outcome.case.expect
    said = describe(answer)
    family = _family(answer.status)
    if not answer.sent:
        return FAIL, said  # nothing to grade: the check did not run
    if expect is Expect.ACK:
        if family != "2xx":
            return FAIL, f"{said}: not an acknowledgement, so the provider retries it"
        if answer.elapsed_s > timeout_s:
            return FAIL, f"{said}, over the provider's {timeout_s:g} s timeout: counted as failed and retried"
        return PASS, said
    if expect is Expect.NOT_5XX:
        if family in ("5xx", "none"):
            return FAIL, f"{said}: the provider retries an event type the receiver can never take"
        return PASS, said
    if family == "4xx":
        return PASS, said
    if family == "2xx":
        if expect is Expect.PROBE_STANDARD:
            return WARN, f"{said}: only X-Payment-Signature is checked, which a replayed delivery still passes"
        if expect is Expect.REFUSE_IF_STANDARD:
            if standard_verified:
                return FAIL, f"{said}: webhook-signature is verified but its timestamp is not checked; replays pass"
            return WARN, (
                f"{said}: the receiver checks no timestamp, so a captured delivery can be replayed at any time "
                "(deduping on webhook-id limits the harm to deliveries not seen before)"
            )
        return FAIL, f"{said}: {outcome.case.accepted}"
    if answer.timed_out:
        return FAIL, f"{said}: the provider gives up at its timeout and retries; answer 4xx at once"
    if family == "none":
        return FAIL, f"{said}: a dropped connection is retried by the provider; answer 4xx"
    return FAIL, f"{said}: expected a refusal (4xx)"


def _effect(outcome: Outcome, grade: str, detail: str) -> tuple[str, str]:
    before, after = outcome.before, outcome.after
    if before is None or after is None:
        return grade, detail
    failed_read = before.error or after.error
    if failed_read:
        return (WARN if grade == PASS else grade), f"{detail}; effect not read: {failed_read}"
    name = after.field
    change = f"{_shown(before)} -> {_shown(after)}"
    changed = before.value != after.value
    effect = outcome.case.effect
    refused = _family(outcome.answer.status) == "4xx"
    if effect is Effect.NONE and changed:
        return FAIL, f"{detail}; took effect twice: {name} changed again ({change})"
    if effect is Effect.NONE_IF_REFUSED and changed and (refused or grade == FAIL):
        said = "refused, but took effect anyway" if refused else "and took effect"
        return FAIL, f"{detail}; {said}: {name} changed ({change})"
    if effect is Effect.CHANGE and not changed:
        return (WARN if grade == PASS else grade), (
            f"{detail}; {name} did not change ({change}): check --state-url and --state-field, "
            "or effects cannot be judged"
        )
    return grade, f"{detail}; {name} {change}" if changed else f"{detail}; {name} unchanged"


_JSON_TYPES = {str: "a string", dict: "an object", list: "an array"}


def _shown(reading: StateReading) -> str:
    if reading.value is None:
        return "absent"
    if not reading.shown:
        return f"{_JSON_TYPES.get(type(reading.value), 'a value')}, not shown"
    return json.dumps(reading.value)[:40]


def grade(url: str, outcomes: list[Outcome], timeout_s: float) -> Report:
    probe = next((o for o in outcomes if o.case.id == STANDARD_PROBE), None)
    standard_verified = probe is not None and _family(probe.answer.status) == "4xx"
    checks = []
    for outcome in outcomes:
        grade_, detail = _grade_status(outcome, timeout_s, standard_verified)
        grade_, detail = _effect(outcome, grade_, detail)
        answer = outcome.answer
        elapsed = None if answer.status is None else round(answer.elapsed_s * 1000, 1)
        case = outcome.case
        checks.append(CheckResult(case.id, case.title, grade_, detail, case.why, case.fix, answer.status, elapsed))
    checks.append(_answer_time(outcomes, timeout_s))
    return Report(url, timeout_s, checks)


def _answer_time(outcomes: list[Outcome], timeout_s: float) -> CheckResult:
    late = [
        o for o in outcomes if o.answer.timed_out or (o.answer.status is not None and o.answer.elapsed_s > timeout_s)
    ]
    answered = [o for o in outcomes if o.answer.status is not None]
    if late:
        listed = ", ".join(
            f"{o.case.id} {'gave no answer' if o.answer.status is None else 'answered'} after "
            f"{_duration(o.answer.elapsed_s)}"
            for o in late
        )
        grade_, detail = FAIL, f"over the {timeout_s:g} s timeout: {listed}"
    elif answered:
        slowest = max(answered, key=lambda o: o.answer.elapsed_s)
        grade_ = PASS
        detail = f"slowest answer {_duration(slowest.answer.elapsed_s)} ({slowest.case.id}); timeout {timeout_s:g} s"
    else:
        grade_, detail = FAIL, "no answer at all"
    slowest_s = max((o.answer.elapsed_s for o in outcomes), default=0.0)
    return CheckResult(
        ANSWER_TIME,
        ANSWER_TIME_TITLE,
        grade_,
        detail,
        ANSWER_TIME_WHY,
        ANSWER_TIME_FIX,
        None,
        round(slowest_s * 1000, 1),
    )


def render_table(report: Report, width: int = 100) -> str:
    """One line per check (result, id, what happened); why and fix under each check that did not pass."""
    id_width = max(len(c.id) for c in report.checks)
    indent = " " * (6 + id_width + 2)
    lines = [f"paymock audit of {report.url} (provider timeout {report.timeout_s:g} s)", ""]
    for check in report.checks:
        lines.append(f"{check.grade.upper():<4}  {check.id:<{id_width}}  {check.title}")
        lines += [indent + part for part in textwrap.wrap(check.detail, max(40, width - len(indent)))]
        if check.grade != PASS:
            for label, text in (("why", check.why), ("fix", check.fix)):
                wrapped = textwrap.wrap(f"{label}: {text}", max(40, width - len(indent)))
                lines += [indent + part for part in wrapped]
    lines += ["", report.summary() + (": OK" if report.ok else ": FAILED")]
    return "\n".join(lines)
