"""The audit grades real receivers on 127.0.0.1: for every check, a receiver that fails it and one that passes.

Each flawed receiver (tests/audit/receivers.py) has one mistake seen in the wild; the report must fail (or
warn about) exactly the checks that mistake breaks, and pass the rest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paymock.audit import Report, audit

from .receivers import SLOW_S, Receiver

SECRET = "audit-receiver-secret"
ALL_CHECKS = {
    "valid-completed", "valid-failed", "duplicate", "wrong-key", "unsigned", "tampered-body", "foreign-signature",
    "standard-signature", "stale-timestamp", "not-json", "not-the-payload", "unknown-event", "answer-time",
}  # fmt: skip
SIGNATURES = {"wrong-key", "unsigned", "tampered-body", "foreign-signature"}


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def _audit(receivers: list[Receiver], *flaws: str, state: bool = True, **options: object) -> Report:
    receiver = Receiver(SECRET, *flaws)
    receivers.append(receiver)
    if state:
        options.update(state_url=receiver.state_url, state_field="paid")
    return audit(receiver.url, secret=SECRET, **options)


def _not_passed(report: Report) -> dict[str, str]:
    return {c.id: c.grade for c in report.checks if c.grade != "pass"}


@pytest.mark.parametrize("flaws", [(), ("standard_only",)], ids=["both-signatures", "standard-webhooks-only"])
def test_a_sound_receiver_passes_every_check(receivers: list[Receiver], flaws: tuple[str, ...]) -> None:
    report = _audit(receivers, *flaws)
    assert {c.id for c in report.checks} == ALL_CHECKS
    assert _not_passed(report) == {}, report.table()
    assert report.ok
    report.assert_passed(allow_warnings=False)
    assert "paid 0 -> 1" in report.check("valid-completed").detail  # the effect was read, and is right
    assert receivers[0].paid.get(next(iter(receivers[0].paid))) == 1  # paid once, despite the duplicate


# flaws -> the checks that must not pass, with their grade, and a phrase of the failing detail
FLAWED = [
    (("refuse_completed",), {"valid-completed": "fail", "duplicate": "fail"}, "answered 500"),
    (("refuse_failed",), {"valid-failed": "fail"}, "answered 422"),
    (("refuse_duplicate",), {"duplicate": "fail"}, "answered 409"),
    (("double_pay",), {"duplicate": "fail"}, "took effect twice"),
    (
        ("no_verify",),
        {**dict.fromkeys(SIGNATURES, "fail"), "standard-signature": "warn", "stale-timestamp": "warn"},
        "accepted",
    ),
    (("unsigned_ok",), {"unsigned": "fail"}, "answered 200"),
    (("seed_only",), {"standard-signature": "warn", "stale-timestamp": "warn"}, "replayed"),
    (("no_tolerance",), {"stale-timestamp": "fail"}, "timestamp is not checked"),
    (("crash_on_bad_json",), {"not-json": "fail"}, "answered 500"),
    (("drop_on_bad_json",), {"not-json": "fail"}, "connection dropped"),
    (("no_payload_check",), {"not-the-payload": "fail"}, "answered 500"),
    (("crash_on_unknown",), {"unknown-event": "fail"}, "answered 500"),
    (
        ("effect_first",),
        dict.fromkeys([*SIGNATURES, "duplicate", "standard-signature", "stale-timestamp"], "fail"),
        "refused, but took effect anyway",
    ),
]


@pytest.mark.parametrize(("flaws", "expected", "phrase"), FLAWED, ids=[f[0][0] for f in FLAWED])
def test_a_flawed_receiver_fails_the_checks_its_flaw_breaks(
    receivers: list[Receiver], flaws: tuple[str, ...], expected: dict[str, str], phrase: str
) -> None:
    report = _audit(receivers, *flaws)
    assert _not_passed(report) == expected, report.table()
    assert any(phrase in report.check(check).detail for check in expected), report.table()
    assert report.ok is ("fail" not in expected.values())
    if not report.ok:
        with pytest.raises(AssertionError) as failed:
            report.assert_passed()
        for check, grade in expected.items():
            assert (f"FAIL {check}:" in str(failed.value)) is (grade == "fail")


def test_an_answer_over_the_timeout_fails_with_its_time(receivers: list[Receiver]) -> None:
    report = _audit(receivers, "slow_first", state=False, timeout_s=SLOW_S / 2)
    answer_time = report.check("answer-time")
    assert answer_time.grade == "fail"
    assert answer_time.detail.startswith(f"over the {SLOW_S / 2:g} s timeout: valid-completed answered after ")
    late = report.check("valid-completed")
    assert late.grade == "fail" and late.status == 200
    assert late.elapsed_ms is not None and late.elapsed_ms >= SLOW_S * 1000 * 0.9  # loose: measured, not slept
    assert "over the provider's 0.25 s timeout" in late.detail


def test_without_a_state_probe_effects_are_not_judged(receivers: list[Receiver]) -> None:
    report = _audit(receivers, "double_pay", state=False)
    assert _not_passed(report) == {}  # a status-only audit cannot see the second payment
    assert receivers[0].paid and max(receivers[0].paid.values()) == 2


def test_a_state_field_that_never_changes_is_a_warning_not_a_pass(receivers: list[Receiver]) -> None:
    receiver = Receiver(SECRET)
    receivers.append(receiver)
    report = audit(receiver.url, secret=SECRET, state_url=receiver.state_url, state_field="order_id")
    assert report.check("valid-completed").grade == "warn"
    assert "check --state-url and --state-field" in report.check("valid-completed").detail


def test_the_bearer_token_is_sent_with_every_webhook(receivers: list[Receiver]) -> None:
    guarded = Receiver(SECRET, token="svc-token")
    receivers.append(guarded)
    assert audit(guarded.url, secret=SECRET, auth_token="svc-token").ok
    without = audit(guarded.url, secret=SECRET)
    assert without.check("valid-completed").grade == "fail"
    assert "answered 401" in without.check("valid-completed").detail
