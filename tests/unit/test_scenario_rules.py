"""Domain rules added for the control API: warnings for self-defeating scenarios, the PUT name rule,
and a replay naming another scenario than its payment's."""

from __future__ import annotations

import pytest

from paymock.domain.errors import Conflict, InvalidScenario
from paymock.domain.payments import Payment
from paymock.domain.scenarios import ScenarioBook, load_paths, parse, scenario_warnings
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
    with pytest.raises(InvalidScenario) as info:
        book.put({"name": "other", "description": "x", "api": {"times": 1}}, "qa-path")
    assert info.value.errors[0].startswith("name: 'other' differs from the path's 'qa-path'")
    assert info.value.errors[1].startswith("api.times")


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
