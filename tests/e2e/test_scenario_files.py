"""Scenario files end to end: `paymock serve --scenarios DIR` refuses to start on a bad file (naming
the file, the key and what was expected), and a good directory adds scenarios and can override the
shipped default."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from paymock.testing.process import ServerProcess, free_port
from tests.conftest import SERVER_ENV
from tests.e2e.helpers import create_ok, status_of

GOOD = "name: {name}\ndescription: fine\n"

# case id -> (file name, file text, what the error must say besides the file name)
BAD_FILES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "unknown-key": (
        "typo.yaml",
        "name: typo\ndescription: x\nwebhook:\n  retries: 3\n",
        ("webhook", "'retries' was unexpected"),
    ),
    "unknown-top-key": (
        "top.yaml",
        "name: top\ndescription: x\noutcome: fail\n",
        ("(top level)", "'outcome' was unexpected"),
    ),
    "wrong-type": (
        "wrongtype.yaml",
        "name: wrongtype\ndescription: x\nwebhook:\n  duplicates: two\n",
        ("webhook.duplicates", "'two' is not of type 'integer'"),
    ),
    "bad-enum": (
        "badenum.yaml",
        "name: badenum\ndescription: x\npayment:\n  outcome: explode\n",
        ("payment.outcome", "'explode' is not one of", "'complete'"),
    ),
    "out-of-range": (
        "range.yaml",
        "name: range\ndescription: x\nwebhook:\n  fail_attempts: 1000\n",
        ("webhook.fail_attempts", "maximum"),
    ),
    "missing-description": ("nodesc.yaml", "name: nodesc\n", ("description", "required")),
    "name-not-file-name": ("mismatch.yaml", "name: something-else\ndescription: x\n", ("name", "mismatch")),
    "invalid-yaml": ("broken.yaml", "name: broken\ndescription: [unclosed\n", ("not valid YAML",)),
    "not-a-mapping": ("list.yaml", "- name: list\n", ("expected a mapping",)),
    "rule-beyond-schema": (
        "delayed.yaml",
        "name: delayed\ndescription: x\npayment:\n  outcome: delayed\n",
        ("payment.delay_ms", "required"),
    ),
    "duplicate-name": ("dup.yml", "name: dup\ndescription: x\n", ("name", "dup.yaml")),
}


# Real `paymock serve` processes for these (started all at once; each costs an interpreter start);
# the other kinds go through the same CLI entry point in-process.
REAL_PROCESS = ("unknown-key", "invalid-yaml")
VIA_ENV = "invalid-yaml"  # given by PAYMOCK_SCENARIOS instead of --scenarios


def _write_case(directory: Path, case: str) -> Path:
    file_name, text, _ = BAD_FILES[case]
    (directory / "fine.yaml").write_text(GOOD.format(name="fine"), encoding="utf-8")
    if case == "duplicate-name":
        (directory / "dup.yaml").write_text(text, encoding="utf-8")
    bad = directory / file_name
    bad.write_text(text, encoding="utf-8")
    return bad


def _serve(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "paymock.cli", "serve", "--host", "127.0.0.1", "--port", str(free_port()), *args]
    return subprocess.Popen(
        cmd,
        env={**os.environ, **SERVER_ENV, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _write_good(directory: Path) -> None:
    (directory / "default.yaml").write_text(
        "# our own default: every payment is declined\n"
        "name: default\n"
        "description: Team default - decline everything.\n"
        "payment:\n  outcome: fail\n  failure_reason: TEAM_DEFAULT\n",
        encoding="utf-8",
    )
    (directory / "vip.yaml").write_text(
        "name: vip\ndescription: VIP users complete even with the team default.\nmatch:\n  user_id: 4242\n",
        encoding="utf-8",
    )
    (directory / "notes.txt").write_text("not a scenario: ignored\n", encoding="utf-8")


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Start every real process of this module at once (interpreter starts dominate the cost)."""
    bad: dict[str, tuple[Path, subprocess.Popen[str]]] = {}
    for case in REAL_PROCESS:
        directory = tmp_path_factory.mktemp(case)
        path = _write_case(directory, case)
        if case == VIA_ENV:
            bad[case] = (path, _serve([], env={"PAYMOCK_SCENARIOS": str(directory)}))
        else:
            bad[case] = (path, _serve(["--scenarios", str(directory)]))
    good_dir = tmp_path_factory.mktemp("good")
    _write_good(good_dir)
    good = ServerProcess(SERVER_ENV, args=["--scenarios", str(good_dir)])  # not waited for yet
    try:
        yield {"bad": bad, "good": good}
    finally:
        good.stop()
        for _, proc in bad.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture(scope="module")
def process_runs(launched: dict[str, Any]) -> dict[str, tuple[Path, int | None, str]]:
    """How each bad-file server exited, and what it said."""
    results: dict[str, tuple[Path, int | None, str]] = {}
    for case, (bad, proc) in launched["bad"].items():
        try:
            _, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # it started serving: kill it, and the test fails
            proc.kill()
            _, stderr = proc.communicate()
            results[case] = (bad, None, stderr)
            continue
        results[case] = (bad, proc.returncode, stderr)
    return results


def _run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`paymock serve ...` through the real entry point, in this process (it fails before serving)."""
    from paymock import logs
    from paymock.cli import main as cli

    for var in ("PAYMOCK_SCENARIOS", "PAYMOCK_STORE", "PAYMOCK_TIME_SCALE", "LOG_LEVEL", "LOG_FORMAT"):
        # _serve writes flags into os.environ: setenv first so monkeypatch restores (or removes) each after
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    monkeypatch.setattr(logs, "configure", lambda *_: None)  # keep pytest's log capture in place
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("the server started serving"))
    monkeypatch.setattr("signal.signal", lambda *a: None)  # should it get that far, keep pytest's handlers
    code = cli.main(["serve", "--host", "127.0.0.1", "--port", str(free_port()), *args])
    assert gc.isenabled(), "a failed start-up left this process without its garbage collector"
    return code, capsys.readouterr().err


def _check(bad: Path, returncode: int | None, stderr: str, needles: tuple[str, ...]) -> None:
    assert returncode not in (None, 0), f"server started despite {bad.name}:\n{stderr}"
    assert str(bad) in stderr, stderr
    for needle in needles:
        assert needle in stderr, (needle, stderr)
    assert "Traceback" not in stderr, stderr


@pytest.mark.parametrize("case", REAL_PROCESS)
def test_bad_scenario_file_stops_the_server_process(process_runs, case):
    bad, returncode, stderr = process_runs[case]
    _check(bad, returncode, stderr, BAD_FILES[case][2])


@pytest.mark.parametrize("case", sorted(set(BAD_FILES) - set(REAL_PROCESS)))
def test_bad_scenario_file_stops_serve(case, tmp_path, monkeypatch, capsys):
    bad = _write_case(tmp_path, case)
    code, stderr = _run_cli(["--scenarios", str(tmp_path)], monkeypatch, capsys)
    assert code == 2
    _check(bad, code, stderr, BAD_FILES[case][2])


def test_missing_scenarios_path_stops_serve(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nowhere"
    code, stderr = _run_cli(["--scenarios", str(missing)], monkeypatch, capsys)
    assert code == 2
    assert str(missing) in stderr and "no such file or directory" in stderr


@pytest.fixture(scope="module")
def custom_server(launched: dict[str, Any]) -> ServerProcess:
    return launched["good"].wait_ready()


def test_extra_directory_adds_scenarios_and_overrides_the_default(custom_server, receiver):
    with httpx.Client(base_url=custom_server.base_url, timeout=30) as c:
        assert c.post("/mock/v1/reset").status_code == 200
        listed = {s["name"]: s for s in c.get("/mock/v1/scenarios").json()["scenarios"]}
        assert listed["vip"]["source"] == "file:vip.yaml"
        assert listed["declined"]["source"] == "fixture:declined.yaml"
        assert listed["vip"]["match"] == {"user_id": 4242}
        assert "declined" in listed and "webhook-flaky" in listed  # shipped ones still there
        assert c.get("/mock/v1/scenarios/default").json()["scenario"]["payment"]["failure_reason"] == "TEAM_DEFAULT"

        answer = create_ok(c, "tx_team", receiver.url())
        assert answer["status"] == "PAYMENT_FAILED" and answer["failure_reason"] == "TEAM_DEFAULT"
        assert create_ok(c, "tx_vip", receiver.url(), user_id=4242)["status"] == "PAYMENT_COMPLETED"
        assert create_ok(c, "tx_decl", receiver.url(), amount=4002)["failure_reason"] == "CARD_DECLINED"
        hooks = receiver.wait_for(3)
        assert [h.event for h in hooks] == ["payment.failed", "payment.completed", "payment.failed"]
        assert all(h.verified for h in hooks)
        assert status_of(c, "pay_tx_vip") == "PAYMENT_COMPLETED"
        # a reset goes back to *this* server's default, not the shipped one
        c.put("/mock/v1/active-scenario", json={"name": "vip"})
        c.post("/mock/v1/reset")
        assert create_ok(c, "tx_team2", receiver.url())["failure_reason"] == "TEAM_DEFAULT"


def test_scenarios_env_var_and_a_single_file_path(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "env.yaml"
    bad.write_text("name: env\ndescription: x\nwebhook:\n  signature: forged\n", encoding="utf-8")
    from paymock import logs
    from paymock.cli import main as cli

    monkeypatch.setenv("PAYMOCK_SCENARIOS", str(bad))  # a single file, by the env var
    monkeypatch.setattr(logs, "configure", lambda *_: None)
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("the server started serving"))
    monkeypatch.setattr("signal.signal", lambda *a: None)
    assert cli.main(["serve", "--port", str(free_port())]) == 2
    assert gc.isenabled()
    stderr = capsys.readouterr().err
    _check(bad, 2, stderr, ("webhook.signature", "'forged' is not one of"))
