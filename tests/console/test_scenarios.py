"""Scenarios page: the YAML editor validates with the server (dry run) and saves only valid scenarios."""

from __future__ import annotations

from tests.console.conftest import click, texts

GOOD = """\
name: qa-console-good
description: First attempt fails, the second is delivered.
webhook:
  fail_attempts: 1
  retry_schedule_ms: [1000, 2000]
"""
BAD_SCHEMA = """\
name: qa-console-bad
description: An outcome the contract does not know.
payment:
  outcome: explode
"""
BAD_YAML = "name: qa-console-broken\ndescription: [unclosed\n"


def test_scenarios_are_listed_with_descriptions_and_the_active_one(console):
    at = console("scenarios")
    table = at.dataframe[0].value
    assert {"default", "webhook-flaky", "declined"} <= set(table["name"])
    row = table[table["name"] == "default"].iloc[0]
    assert row["active"] == "●"
    assert "seed" in row["description"]


def test_bad_yaml_shows_its_error_inline_and_saves_nothing(console, console_env):
    at = console("scenarios")
    at.text_area(key="sc_yaml").set_value(BAD_YAML)
    click(at, "Save")
    assert not at.exception
    errors = texts(at, "error")
    assert any("Not valid, nothing saved" in e and "YAML" in e and "line" in e for e in errors), errors
    assert console_env.get("/mock/v1/scenarios/qa-console-broken").status_code == 404


def test_invalid_scenario_shows_the_servers_errors_and_saves_nothing(console, console_env):
    at = console("scenarios")
    at.text_area(key="sc_yaml").set_value(BAD_SCHEMA)
    click(at, "Validate")
    errors = texts(at, "error")
    assert any("Not valid, nothing saved" in e and "explode" in e for e in errors), errors
    click(at, "Save")
    assert any("explode" in e for e in texts(at, "error"))
    assert console_env.get("/mock/v1/scenarios/qa-console-bad").status_code == 404
    names = [s["name"] for s in console_env.get("/mock/v1/scenarios").json()["scenarios"]]
    assert "qa-console-bad" not in names


def test_valid_scenario_validates_then_saves_and_can_be_deleted(console, console_env):
    at = console("scenarios")
    at.text_area(key="sc_yaml").set_value(GOOD)
    click(at, "Validate")
    assert any("Valid" in s and "not saved yet" in s for s in texts(at, "success"))
    assert console_env.get("/mock/v1/scenarios/qa-console-good").status_code == 404  # dry run stored nothing
    click(at, "Save")
    assert any("Saved run-time scenario `qa-console-good`" in s for s in texts(at, "success"))
    info = console_env.get("/mock/v1/scenarios/qa-console-good").json()
    assert info["source"] == "runtime"
    assert "qa-console-good" in list(at.dataframe[0].value["name"])

    at.selectbox(key="sc_delete_pick").set_value("qa-console-good")
    click(at, "Delete")
    assert console_env.get("/mock/v1/scenarios/qa-console-good").status_code == 404


NEVER_DELIVERED = """\
name: qa-console-never
description: Every attempt fails, on purpose or not.
webhook:
  fail_attempts: 3
  retry_schedule_ms: [1000, 2000]
"""


def test_a_scenario_that_defeats_itself_is_saved_with_the_servers_warning(console, console_env):
    at = console("scenarios")
    at.text_area(key="sc_yaml").set_value(NEVER_DELIVERED)
    click(at, "Validate")
    assert any("not saved yet" in s for s in texts(at, "success"))
    warned = texts(at, "warning")
    assert any("fail_attempts 3 >= the 3 attempts" in w and "ends failed" in w for w in warned), warned
    click(at, "Save")
    assert any("Saved run-time scenario `qa-console-never`" in s for s in texts(at, "success"))
    assert any("fail_attempts 3" in w for w in texts(at, "warning"))
    assert console_env.get("/mock/v1/scenarios/qa-console-never").status_code == 200
    assert not texts(at, "error")


def test_valid_scenario_shows_no_warning(console):
    at = console("scenarios")
    at.text_area(key="sc_yaml").set_value(GOOD)
    click(at, "Validate")
    assert not texts(at, "warning")


def test_load_an_existing_scenario_into_the_editor(console):
    at = console("scenarios")
    at.selectbox(key="sc_base").set_value("webhook-flaky")
    click(at, "Load into editor")
    assert "fail_attempts: 3" in at.text_area(key="sc_yaml").value
