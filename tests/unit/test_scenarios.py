"""Scenario documents: validation names file and key; selection order; API-call counters."""

from __future__ import annotations

from pathlib import Path

import pytest

from paymock.domain.errors import Conflict, InvalidScenario, UnknownScenario
from paymock.domain.scenarios.loading import load_file, load_paths, parse
from paymock.domain.scenarios.model import DEFAULT_RETRY_SCHEDULE_MS
from paymock.domain.scenarios.registry import ScenarioBook
from paymock.resources import fixtures_dir


def _doc(**keys):
    return {"name": "s1", "description": "test scenario", **keys}


def test_every_shipped_fixture_loads_and_there_are_at_least_a_dozen():
    loaded = load_paths([fixtures_dir()])
    assert len(loaded) >= 12
    assert loaded["default"][0].outcome == "complete"
    assert loaded["default"][0].webhook.retry_schedule_ms == DEFAULT_RETRY_SCHEDULE_MS
    kinds = {s.outcome for s, _ in loaded.values()}
    assert kinds == {"complete", "fail", "pending", "delayed"}


def test_defaults_reproduce_the_seed():
    s = parse(_doc(), "x")
    assert (s.outcome, s.webhook.mode, s.webhook.signature, s.webhook.max_attempts) == (
        "complete",
        "deliver",
        "valid",
        8,
    )
    assert not s.api.active


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        (_doc(webhook={"signature": "wrong"}), "webhook.signature: 'wrong' is not one of"),
        (_doc(webhook={"duplicates": "two"}), "webhook.duplicates: 'two' is not of type 'integer'"),
        (_doc(webhook={"colour": "red"}), "webhook: Additional properties are not allowed ('colour'"),
        (_doc(api={"error_status": 418}), "api.error_status: 418 is not one of"),
        ({"name": "s1"}, "(top level): 'description' is a required property"),
        ({"name": "s1\n", "description": "d"}, "name: 's1\\n' is not a scenario name"),  # ECMA-262 `$`
        (["not", "a", "mapping"], "(top level): expected a mapping"),
    ],
)
def test_invalid_documents_name_the_key(doc, needle):
    with pytest.raises(InvalidScenario) as info:
        parse(doc, "fixtures/s1.yaml")
    assert info.value.source == "fixtures/s1.yaml"
    assert any(needle in e for e in info.value.errors), info.value.errors


def test_file_errors_name_the_file(tmp_path: Path):
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("name: [unclosed\n")
    with pytest.raises(InvalidScenario, match=r"broken\.yaml.*not valid YAML"):
        load_file(bad_yaml)
    wrong_name = tmp_path / "other.yaml"
    wrong_name.write_text("name: s1\ndescription: d\n")
    with pytest.raises(InvalidScenario, match="must match the file name 'other'"):
        load_file(wrong_name)


def test_extra_directory_overrides_and_adds(tmp_path: Path):
    (tmp_path / "default.yaml").write_text("name: default\ndescription: my default\npayment: {outcome: pending}\n")
    (tmp_path / "mine.yaml").write_text("name: mine\ndescription: mine\n")
    loaded = load_paths([fixtures_dir(), tmp_path])
    assert loaded["default"][0].outcome == "pending"
    assert loaded["mine"][1] == "file:mine.yaml"  # yours, told apart from the shipped ones
    assert loaded["declined"][1] == "fixture:declined.yaml"
    assert loaded["default"][1] == "file:default.yaml"


def _book() -> ScenarioBook:
    return ScenarioBook(load_paths([fixtures_dir()]))


def test_selection_order_header_then_match_then_active_then_default():
    book = _book()
    declined_amount = {"amount": 4002, "tx_id": "t", "user_id": 1, "order_id": 1}
    plain = {"amount": 1, "tx_id": "t", "user_id": 1, "order_id": 1}
    assert book.select(None, plain).name == "default"
    book.set_active("webhook-late")
    assert book.select(None, plain).name == "webhook-late"
    assert book.select(None, declined_amount).name == "declined"
    assert book.select("webhook-drop", declined_amount).name == "webhook-drop"
    with pytest.raises(UnknownScenario) as info:
        book.select("nope", plain)
    assert "default" in info.value.known


def test_more_specific_match_rule_wins():
    book = _book()
    book.put(_doc(name="narrow", match={"amount": 4002, "user_id": 7}), "narrow")
    assert book.select(None, {"amount": 4002, "user_id": 7, "tx_id": "t"}).name == "narrow"
    assert book.select(None, {"amount": 4002, "user_id": 8, "tx_id": "t"}).name == "declined"


def test_runtime_put_dry_run_delete_and_reset():
    book = _book()
    scenario, created = book.put(_doc(name="qa-1"), "qa-1", dry_run=True)
    assert created and scenario.name == "qa-1"
    with pytest.raises(UnknownScenario):
        book.get("qa-1")
    book.put(_doc(name="qa-1"), "qa-1")
    assert book.get("qa-1")[1] == "runtime"
    with pytest.raises(Conflict, match="differs from the path"):
        book.put(_doc(name="other"), "qa-1")
    with pytest.raises(Conflict):
        book.delete("default")
    book.set_active("qa-1")
    book.reset()
    assert book.active_name == "default"
    with pytest.raises(UnknownScenario):
        book.get("qa-1")


def test_a_scenario_file_with_keys_without_effect_loads_and_logs_them(tmp_path, caplog):
    file = tmp_path / "odd.yaml"
    file.write_text("name: odd\ndescription: d\npayment:\n  outcome: fail\n  delay_ms: 5\n", encoding="utf-8")
    loaded = load_paths([fixtures_dir(), tmp_path])
    assert loaded["odd"][0].payment_delay_ms == 0
    assert (
        f"scenario file {file}: payment.delay_ms: ignored, only used with outcome 'delayed', not 'fail'" in caplog.text
    )


def test_api_times_counts_only_the_first_calls():
    book = _book()
    scenario = book.get("api-unavailable")[0]
    assert [book.count_api_call(scenario, "create") for _ in range(3)] == [True, True, False]
    assert book.count_api_call(scenario, "listing") is False
    book.reset()
    assert book.count_api_call(scenario, "create") is True


def test_document_with_defaults_filled_round_trips():
    for scenario, _ in load_paths([fixtures_dir()]).values():
        doc = scenario.as_document()
        assert parse(doc, "round trip") == scenario, scenario.name
    assert parse(_doc(), "x").as_document()["webhook"]["retry_schedule_ms"] == list(DEFAULT_RETRY_SCHEDULE_MS)
