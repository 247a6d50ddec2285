"""Scenario rules: warnings for self-defeating scenarios, the PUT name rule, a replay naming another
scenario than its payment's, keys that contradict or do nothing, a key written twice in a file, and
faults counting the attempts actually sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from paymock.domain.errors import Conflict, InvalidScenario
from paymock.domain.payments import Payment
from paymock.domain.scenarios.loading import load_file, load_paths, parse
from paymock.domain.scenarios.model import WebhookPlan, scenario_warnings
from paymock.domain.scenarios.registry import ScenarioBook
from paymock.resources import fixtures_dir


def _scenario(**webhook):
    return parse({"name": "s1", "description": "x", "webhook": webhook}, "test")


@pytest.mark.parametrize(
    ("webhook", "expected"),
    [
        ({}, []),
        ({"fail_attempts": 7}, []),
        ({"fail_attempts": 8}, ["webhook.fail_attempts 8 >= the 8 attempts of the retry schedule"]),
        (
            {"fail_attempts": 1, "retry_schedule_ms": []},
            ["webhook.fail_attempts 1 >= the 1 attempt of the retry schedule"],
        ),
        ({"mode": "drop"}, []),
    ],
)
def test_warnings_for_fail_attempts(webhook, expected):
    found = scenario_warnings(_scenario(**webhook))
    assert [w.split(":")[0] for w in found] == expected


def test_no_shipped_fixture_has_a_warning():
    for scenario, _source in load_paths([fixtures_dir()]).values():
        assert scenario_warnings(scenario) == [], scenario.name


def test_put_takes_the_name_from_the_path_and_refuses_a_different_one():
    book = ScenarioBook(load_paths([fixtures_dir()]))
    scenario, created = book.put({"description": "x"}, "qa-path")
    assert (scenario.name, created) == ("qa-path", True)
    with pytest.raises(Conflict) as info:
        book.put({"name": "other", "description": "x"}, "qa-path")
    assert info.value.detail.startswith("request body: name: 'other' differs from the path's 'qa-path'")
    with pytest.raises(InvalidScenario) as invalid:  # refused by the schema too: every error, the name's first
        book.put({"name": "other", "description": "x", "api": {"times": 0}}, "qa-path")
    assert invalid.value.errors[0].startswith("name: 'other' differs from the path's 'qa-path'")
    assert invalid.value.errors[1].startswith("api.times")


def _payment(scenario: str) -> Payment:
    return Payment(
        tx_id="t1", order_id=1, user_id=1, amount=100, callback_url="http://h/x", scenario=scenario, created_at=0.0
    )


def test_a_replay_naming_another_scenario_conflicts():
    payment = _payment("default")
    payment.check_same_scenario(None)
    payment.check_same_scenario("default")
    with pytest.raises(Conflict) as info:
        payment.check_same_scenario("declined")
    assert "'default'" in info.value.detail and "'declined'" in info.value.detail
    assert "new tx_id" in info.value.detail


@pytest.mark.parametrize(
    ("payment", "webhook", "warnings", "outcome"),
    [
        ({"outcome": "pending", "auto_complete": True}, {}, ["payment.auto_complete: true is ignored"], "pending"),
        ({}, {"fault_attempts": 1}, ["webhook.fault_attempts: ignored, only used with"], "complete"),
        # one warning, not a second about delay_ms as if the outcome had become pending
        (
            {"outcome": "delayed", "delay_ms": 5, "auto_complete": False},
            {},
            ["payment.auto_complete: false"],
            "delayed",
        ),
        (
            {"outcome": "delayed"},
            {},
            ["payment.delay_ms: not given (or 0), so outcome 'delayed' completes at once"],
            "delayed",
        ),
        ({"auto_complete": False}, {}, [], "pending"),
        (
            {},
            {"mode": "drop", "duplicates": 2, "reorder": True},
            ["webhook: mode 'drop' sends nothing, so duplicates, reorder ignored"],
            "complete",
        ),
    ],
)
def test_keys_that_contradict_or_do_nothing_are_dropped_with_a_warning(payment, webhook, warnings, outcome) -> None:
    """A schema-valid document is never refused for how its keys combine: what has no effect is dropped
    and named, so the contract (the schema) is the whole truth about what a PUT accepts."""
    book = ScenarioBook(load_paths([fixtures_dir()]))
    document = {"name": "odd", "description": "d", "payment": payment, "webhook": webhook}
    scenario, _ = book.put(document, "odd", dry_run=True)
    assert scenario.outcome == outcome
    assert len(scenario.notes) == len(warnings), scenario.notes
    for got, expected in zip(scenario.notes, warnings, strict=True):
        assert got.startswith(expected), got
    assert scenario_warnings(scenario)[: len(warnings)] == list(scenario.notes)
    if webhook.get("mode") == "drop":
        assert scenario.as_document()["webhook"] == {"mode": "drop"}


def test_scenario_file_with_two_webhook_keys_is_invalid(tmp_path: Path) -> None:
    file = tmp_path / "twice.yaml"
    file.write_text("name: twice\ndescription: d\nwebhook:\n  mode: drop\nwebhook:\n  duplicates: 1\n")
    with pytest.raises(InvalidScenario) as info:
        load_file(file)
    # without the check the second `webhook` silently replaced the first
    assert "twice.yaml" in str(info.value)
    assert "duplicate key 'webhook'" in str(info.value), info.value.errors


@pytest.mark.parametrize(
    ("fail_attempts", "fault_attempts", "expected"),
    [
        # attempt 1 is a simulated failure that reaches nobody: the one faulty attempt is the first one sent
        (1, 1, [False, True, False, False]),
        (0, None, [True, True, True, True]),
        # no simulated attempt carries a fault; every one sent after them does
        (2, None, [False, False, True, True]),
    ],
)
def test_faults_apply_to_attempts_sent(fail_attempts: int, fault_attempts: int | None, expected: list[bool]) -> None:
    plan = WebhookPlan(fail_attempts=fail_attempts, fault_attempts=fault_attempts, signature="invalid")
    assert [plan.faults_apply(n) for n in range(1, 5)] == expected
