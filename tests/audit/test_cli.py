"""`paymock audit` as a user runs it: a subprocess, real receivers on 127.0.0.1, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from .receivers import Receiver

SECRET = "cli-audit-secret"


def paymock(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "PAYMOCK_WEBHOOK_TIMEOUT"}
    environ.update({"PAYMENT_WEBHOOK_SECRET": SECRET, "SERVICE_AUTH_TOKEN": "", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "paymock.cli", "audit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


@pytest.fixture
def sound() -> Iterator[Receiver]:
    receiver = Receiver(SECRET)
    yield receiver
    receiver.close()


def test_a_sound_receiver_exits_0_with_a_table(sound: Receiver) -> None:
    done = paymock(sound.url, "--state-url", sound.state_url, "--state-field", "paid")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"paymock audit of {sound.url} (provider timeout 5 s)"
    assert sum(line.startswith("PASS  ") for line in lines) == 13
    assert lines[-1] == "13 passed, 0 warned, 0 failed: OK"
    assert done.stderr == ""


def test_a_flawed_receiver_exits_1_and_says_why_and_how_to_fix() -> None:
    flawed = Receiver(SECRET, "crash_on_bad_json")
    try:
        done = paymock(flawed.url, "--timeout", "2")
    finally:
        flawed.close()
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    failing = lines.index(next(line for line in lines if line.startswith("FAIL  not-json")))
    assert "answered 500" in lines[failing + 1]
    assert any(line.strip().startswith("why: A crash (5xx)") for line in lines[failing + 1 : failing + 6])
    assert any(line.strip().startswith("fix: Parse the body") for line in lines[failing + 1 : failing + 8])
    assert lines[-1] == "12 passed, 0 warned, 1 failed: FAILED"
    assert "(provider timeout 2 s)" in lines[0]


def test_format_json_is_one_object_per_check(sound: Receiver) -> None:
    done = paymock(sound.url, "--format", "json", env={"PAYMOCK_WEBHOOK_TIMEOUT": "3"})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["ok"], report["passed"], report["failed"], report["timeout_s"]) == (True, 13, 0, 3.0)
    assert [c["id"] for c in report["checks"]][:3] == ["valid-completed", "valid-failed", "duplicate"]
    for check in report["checks"]:
        assert set(check) == {"id", "title", "grade", "detail", "why", "fix", "status", "elapsed_ms"}


def test_warnings_alone_exit_0() -> None:
    seed_only = Receiver(SECRET, "seed_only")
    try:
        done = paymock(seed_only.url)
    finally:
        seed_only.close()
    assert done.returncode == 0
    assert "WARN  stale-timestamp" in done.stdout
    assert "a captured delivery can be replayed at any time" in " ".join(done.stdout.split())
    assert done.stdout.splitlines()[-1] == "11 passed, 2 warned, 0 failed: OK"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://127.0.0.1:9/webhook"], "paymock audit: cannot reach http://127.0.0.1:9/webhook: cannot connect"),
        (["ftp://127.0.0.1/x"], "expected an http:// or https:// URL with a host"),
        (["http://127.0.0.1:9/x", "--state-url", "http://127.0.0.1:9/{order_id}"], "go together"),
        (["http://127.0.0.1:9/x", "--timeout", "soon"], "'soon' is not a number of seconds"),
        (["http://127.0.0.1:9/x", "--format", "xml"], "invalid choice: 'xml'"),
        (["http://127.0.0.1:9/\x01"], "Invalid non-printable ASCII character in URL"),
        (["http://127.0.0.1:99999/x"], "Port out of range"),
        (["http://xn--a/x"], "URL 'http://xn--a/x'"),  # idna refuses it: it was an IDNAError traceback
        (
            ["http://127.0.0.1:9/x", "--state-url", "http://127.0.0.1:9/{order_id:>99}", "--state-field", "x"],
            "'{order_id:>99}' is not a field",
        ),
    ],
)
def test_usage_errors_and_an_unreachable_url_exit_2_without_a_traceback(args: list[str], message: str) -> None:
    done = paymock(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("field", ["", "  "])
def test_an_empty_state_field_is_a_usage_error(sound: Receiver, field: str) -> None:
    # an empty key is in no answer: it used to run and leave every effect ungraded
    done = paymock(sound.url, "--state-url", sound.base + "/orders/{order_id}", "--state-field", field)
    assert done.returncode == 2
    assert "--state-field: expected a key" in done.stderr
    assert sound.requests == 0


def test_a_state_url_naming_no_field_is_a_usage_error(sound: Receiver) -> None:
    done = paymock(sound.url, "--state-url", sound.base + "/orders/{order}", "--state-field", "paid")
    assert done.returncode == 2
    assert "'order' is not a field; use {order_id}" in done.stderr
    assert sound.requests == 0  # checked before anything is sent


def test_the_secret_and_token_come_from_the_environment_as_for_paymock_trigger() -> None:
    guarded = Receiver("env-secret", token="env-token")
    try:
        done = paymock(guarded.url, env={"PAYMENT_WEBHOOK_SECRET": "env-secret", "SERVICE_AUTH_TOKEN": "env-token"})
        wrong = paymock(guarded.url, "--secret", "another-secret", env={"SERVICE_AUTH_TOKEN": "env-token"})
    finally:
        guarded.close()
    assert done.returncode == 0, done.stdout
    assert wrong.returncode == 1
    assert "FAIL  valid-completed" in wrong.stdout
    assert "env-token" not in done.stdout + wrong.stdout + done.stderr  # the token is never printed


def test_state_headers_go_with_the_state_reads_only() -> None:
    guarded = Receiver(SECRET, state_token="k3y")
    state = ["--state-url", guarded.state_url, "--state-field", "paid"]
    try:
        done = paymock(guarded.url, *state, "--state-header", "X-Api-Key: k3y")
        without = paymock(guarded.url, *state)
        bad = paymock(guarded.url, *state, "--state-header", "X-Api-Key k3y")
    finally:
        guarded.close()
    assert done.returncode == 0, done.stdout
    assert "paid 0 -> 1" in done.stdout
    assert without.returncode == 0  # effects unread are warnings, not failures
    assert "WARN  valid-completed" in without.stdout and "answered 403" in without.stdout
    assert bad.returncode == 2 and "expected 'NAME: VALUE'" in bad.stderr and "k3y" not in bad.stderr


def test_a_proxy_in_the_environment_is_not_used(sound: Receiver) -> None:
    """The audit talks to the URL given, nothing between: a proxy variable (here one nothing listens at)
    would otherwise take every request."""
    proxy = {"HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}
    done = paymock(sound.url, env=proxy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sound.requests == 12


@pytest.mark.parametrize("token", ["line\nbreak", "two words", "caf\u00e9"])
def test_a_token_no_http_header_can_carry_is_a_usage_error_not_the_receivers_failure(
    sound: Receiver, token: str
) -> None:
    # a line break made every case "connection dropped": 13 failures blamed on the receiver, exit 1
    flag = paymock(sound.url, "--auth-token", token)
    env = paymock(sound.url, env={"SERVICE_AUTH_TOKEN": token})
    for done in (flag, env):
        assert done.returncode == 2, done.stdout
        assert "expected visible ASCII characters only" in done.stderr
        assert token not in done.stderr and "Traceback" not in done.stderr  # a credential is not said back
    assert sound.requests == 0
