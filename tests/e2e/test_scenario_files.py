"""Scenario files end to end: `paymock serve --scenarios DIR` refuses to start on a bad file (naming
the file, the key and what was expected), and a good directory adds scenarios and can override the
shipped default."""

from __future__ import annotations

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
    "duplicate-name": ("dup.yml", "name: dup\ndescription: x\n", ("name", "dup.yaml")),
}


# Every case is a real `paymock serve` process, all started at once (each costs an interpreter start); one
# that starts serving instead of refusing is killed after EXIT_TIMEOUT_S and fails its test.
VIA_ENV = "invalid-yaml"  # given by PAYMOCK_SCENARIOS instead of --scenarios
EXIT_TIMEOUT_S = 60  # a refused start takes ~0.3 s; generous for a loaded 2-core runner
# the child reads its scenario paths from our flags and env only, never from the developer's shell
CHILD_ENV = {k: v for k, v in os.environ.items() if k not in ("PAYMOCK_SCENARIOS", "PAYMOCK_STORE")}


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
        env={**CHILD_ENV, **SERVER_ENV, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _exit_of(proc: subprocess.Popen[str]) -> tuple[int | None, str]:
    """How a `paymock serve` that should refuse to start exited, and its stderr; None if it kept running
    (it started serving: killed, and its test fails)."""
    try:
        _, stderr = proc.communicate(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        return None, stderr
    return proc.returncode, stderr


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
    # valid, but its delay_ms does nothing with outcome fail: loaded without it, and the log says so
    (directory / "odd.yaml").write_text(
        "name: odd\ndescription: x\npayment:\n  outcome: fail\n  delay_ms: 5\n", encoding="utf-8"
    )


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Start every real process of this module at once (interpreter starts dominate the cost)."""
    bad: dict[str, tuple[Path, subprocess.Popen[str]]] = {}
    for case in BAD_FILES:
        directory = tmp_path_factory.mktemp(case)
        path = _write_case(directory, case)
        if case == VIA_ENV:
            bad[case] = (path, _serve([], env={"PAYMOCK_SCENARIOS": str(directory)}))
        else:
            bad[case] = (path, _serve(["--scenarios", str(directory)]))
    missing = tmp_path_factory.mktemp("missing") / "nowhere"
    bad["missing-path"] = (missing, _serve(["--scenarios", str(missing)]))
    single = tmp_path_factory.mktemp("single") / "env.yaml"
    single.write_text("name: env\ndescription: x\nwebhook:\n  signature: forged\n", encoding="utf-8")
    bad["env-single-file"] = (single, _serve([], env={"PAYMOCK_SCENARIOS": str(single)}))  # a file, by the env var
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
    return {case: (bad, *_exit_of(proc)) for case, (bad, proc) in launched["bad"].items()}


def _check(bad: Path, returncode: int | None, stderr: str, needles: tuple[str, ...]) -> None:
    assert returncode not in (None, 0), f"server started despite {bad.name}:\n{stderr}"
    assert str(bad) in stderr, stderr
    for needle in needles:
        assert needle in stderr, (needle, stderr)
    assert "Traceback" not in stderr, stderr


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_scenario_file_stops_serve_with_exit_2(process_runs, case):
    bad, returncode, stderr = process_runs[case]
    _check(bad, returncode, stderr, BAD_FILES[case][2])
    assert returncode == 2, stderr


def test_missing_scenarios_path_stops_serve(process_runs):
    missing, returncode, stderr = process_runs["missing-path"]
    assert returncode == 2, stderr
    assert str(missing) in stderr and "no such file or directory" in stderr


@pytest.fixture(scope="module")
def custom_server(launched: dict[str, Any]) -> ServerProcess:
    return launched["good"].wait_ready()


def test_a_key_without_effect_is_dropped_and_logged_not_refused(custom_server):
    with httpx.Client(base_url=custom_server.base_url, timeout=30) as c:
        odd = c.get("/mock/v1/scenarios/odd").json()["scenario"]
    assert odd["payment"] == {"outcome": "fail", "auto_complete": True, "failure_reason": "CARD_DECLINED"}
    assert "odd.yaml: payment.delay_ms: ignored, only used with outcome 'delayed', not 'fail'" in custom_server.output()


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


def test_scenarios_env_var_and_a_single_file_path(process_runs):
    bad, returncode, stderr = process_runs["env-single-file"]
    assert returncode == 2, stderr
    _check(bad, returncode, stderr, ("webhook.signature", "'forged' is not one of"))


# An embedder calls the entry point in its own process: a refused start must give it back its garbage
# collector (`serve` pauses it while it starts). The embedder is a child process, so a start that goes on
# to serve is killed after EXIT_TIMEOUT_S instead of hanging this one.
EMBEDDER = """
import gc, sys
from paymock.cli.main import main
code = main(["serve", "--host", "127.0.0.1", "--port", sys.argv[1], "--scenarios", sys.argv[2]])
print(code, gc.isenabled())
"""


def test_a_refused_start_gives_an_embedder_its_garbage_collector_back(tmp_path):
    bad = _write_case(tmp_path, "unknown-key")
    cmd = [sys.executable, "-c", EMBEDDER, str(free_port()), str(tmp_path)]
    try:  # run() kills the child when the time is up
        done = subprocess.run(
            cmd, env={**CHILD_ENV, **SERVER_ENV}, capture_output=True, text=True, timeout=EXIT_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the embedded start went on serving")
    assert done.stdout.split() == ["2", "True"], done.stderr  # refused, and the collector is back on
    _check(bad, 2, done.stderr, BAD_FILES["unknown-key"][2])
