"""QA scripts: an example runs and passes, a wrong expectation fails its step, scripts save and load."""

from __future__ import annotations

from pathlib import Path

from tests.console.conftest import click, texts

FAILING = """\
name: expects-the-wrong-thing
steps:
  - create: {count: 1, scenario: webhook-drop}
    expect: {status: PAYMENT_COMPLETED}
  - wait: {state: dropped, timeout_ms: 5000}
    expect: {attempts: 0}
"""


def verdicts(at) -> list[str]:
    return list(at.dataframe[0].value["verdict"])


def test_example_script_runs_and_passes(console, receiver):
    at = console("scripts")
    at.selectbox(key="qs_pick").set_value("example: flaky-webhook.yaml")
    click(at, "Load")
    click(at, "Run script")
    assert not at.exception
    assert any(s.startswith("PASS") for s in texts(at, "success")), texts(at, "error")
    assert verdicts(at) == ["PASS", "PASS"]
    assert len(receiver.received) == 2  # 3 simulated failures each send nothing; the 4th is received


def test_second_example_script_passes(console):
    at = console("scripts")
    at.selectbox(key="qs_pick").set_value("example: declined-and-manual-confirm.yaml")
    click(at, "Load")
    click(at, "Run script")
    assert verdicts(at) == ["PASS"] * 6, at.dataframe[0].value.to_dict("records")


def test_wrong_expectation_fails_that_step_only(console):
    at = console("scripts")
    at.text_area(key="qs_yaml").set_value(FAILING)
    click(at, "Run script")
    assert not at.exception
    assert any(e.startswith("FAIL — 1 of 2") for e in texts(at, "error")), texts(at, "error")
    assert verdicts(at) == ["FAIL", "PASS"]
    failures = at.dataframe[0].value["failures"][0]
    assert "expected 'PAYMENT_COMPLETED', got 'PENDING'" in failures


def test_invalid_script_is_explained_and_cannot_run(console):
    at = console("scripts")
    at.text_area(key="qs_yaml").set_value("name: x\nsteps:\n  - create: {count: 0}\n  - explode: {}\n").run()
    errors = texts(at, "error")
    assert any("step 1: create: `count`" in e and "step 2: a step needs exactly one action" in e for e in errors)
    assert next(b for b in at.button if b.label == "Run script").disabled


def test_script_saves_to_a_file_and_loads_back(console, tmp_path: Path):
    at = console("scripts")
    at.text_area(key="qs_yaml").set_value(FAILING)
    at.text_input(key="qs_file").set_value("wrong-thing")
    click(at, "Save to file")
    saved = tmp_path / "qa_scripts" / "wrong-thing.yaml"
    assert saved.read_text() == FAILING
    assert any("Saved" in s for s in texts(at, "success"))

    at.text_area(key="qs_yaml").set_value("name: other\nsteps: [{check: {}}]\n")
    at.selectbox(key="qs_pick").set_value("saved: wrong-thing.yaml")
    click(at, "Load")
    assert at.text_area(key="qs_yaml").value == FAILING


def test_run_against_a_down_server_reports_skipped_steps(console, monkeypatch):
    from paymock.testing.process import free_port

    at = console("settings")
    at.text_input(key="set_api_url").set_value(f"http://127.0.0.1:{free_port()}")
    click(at, "Save settings")
    at.switch_page("app_pages/scripts.py").run()
    at.text_area(key="qs_yaml").set_value(FAILING)
    click(at, "Run script")
    assert not at.exception
    assert verdicts(at) == ["FAIL", "SKIPPED"]
    assert "Cannot reach the paymock server" in at.dataframe[0].value["summary"][0]
