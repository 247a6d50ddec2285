"""Match-rule ties in the scenario book: run-time scenarios, then your files, then the shipped ones; and a
deleted override gives the file scenario back with its own counters."""

from __future__ import annotations

from pathlib import Path

from paymock.domain.scenarios.loading import load_paths
from paymock.domain.scenarios.registry import ScenarioBook
from paymock.resources import fixtures_dir

DECLINED_AMOUNT = {"amount": 4002, "tx_id": "t", "user_id": 1, "order_id": 1}


def _user_dir(tmp_path: Path) -> Path:
    # the name sorts after `declined`: the old tie-break by name alone picked the shipped one
    (tmp_path / "team-declined.yaml").write_text(
        "name: team-declined\ndescription: our own decline\nmatch: {amount: 4002}\n"
        "payment: {outcome: fail, failure_reason: TEAM_DECLINED}\n"
    )
    return tmp_path


def test_a_user_file_with_the_same_rule_as_a_shipped_one_takes_over(tmp_path: Path) -> None:
    loaded = load_paths([fixtures_dir(), _user_dir(tmp_path)])
    assert ScenarioBook(loaded).select(None, DECLINED_AMOUNT).name == "team-declined"
    # listings tell yours from the shipped ones
    assert loaded["team-declined"][1] == "file:team-declined.yaml"
    assert loaded["declined"][1] == "fixture:declined.yaml"


def test_a_runtime_scenario_with_the_same_rule_beats_files_and_fixtures(tmp_path: Path) -> None:
    book = ScenarioBook(load_paths([fixtures_dir(), _user_dir(tmp_path)]))
    document = {"name": "zz-qa-declined", "description": "qa", "match": {"amount": 4002}}
    book.put(document, "zz-qa-declined")
    assert book.select(None, DECLINED_AMOUNT).name == "zz-qa-declined"
    book.delete("zz-qa-declined")
    assert book.select(None, DECLINED_AMOUNT).name == "team-declined"  # the ranking is rebuilt


def test_two_user_files_with_the_same_rule_tie_by_name(tmp_path: Path) -> None:
    for name in ("b-rule", "a-rule"):  # written in reverse: load order must not decide
        (tmp_path / f"{name}.yaml").write_text(f"name: {name}\ndescription: {name}\nmatch: {{amount: 777}}\n")
    book = ScenarioBook(load_paths([fixtures_dir(), tmp_path]))
    assert book.select(None, {**DECLINED_AMOUNT, "amount": 777}).name == "a-rule"


def test_deleting_an_override_gives_the_file_scenario_its_own_times_again() -> None:
    book = ScenarioBook(load_paths([fixtures_dir()]))
    override = {"name": "api-unavailable", "description": "502 twice", "api": {"error_status": 502, "times": 2}}
    book.put(override, "api-unavailable")
    scenario = book.get("api-unavailable")[0]
    assert [book.count_api_call(scenario, "create") for _ in range(3)] == [True, True, False]
    book.delete("api-unavailable")
    shipped = book.get("api-unavailable")[0]  # 503, times 2: its count starts at 0, not at the override's 3
    assert [book.count_api_call(shipped, "create") for _ in range(3)] == [True, True, False]
