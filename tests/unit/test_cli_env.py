"""Environment variables behind `paymock`'s flags: empty means the default, a bad value is a usage error
(never a traceback), and every value `.env.example` sets is the code's own default."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from paymock.cli.main import build_parser
from paymock.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
PLACEHOLDERS = {"PAYMENT_WEBHOOK_SECRET"}  # "your_webhook_secret_key_here": to be replaced, not a default
FLAG_VARIABLES = ("PAYMOCK_HOST", "PAYMOCK_PORT", "PAYMOCK_CONSOLE_PORT", "PAYMOCK_CONSOLE_ADDRESS", "PAYMOCK_API_URL")

_script = Path(sysconfig.get_path("scripts")) / "paymock"
PAYMOCK = [str(_script)] if _script.exists() else [sys.executable, "-m", "paymock.cli"]


def run_paymock(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if k not in FLAG_VARIABLES}
    return subprocess.run([*PAYMOCK, *args], env={**child_env, **env}, capture_output=True, text=True, timeout=60)


def env_example() -> dict[str, str]:
    """The `KEY=VALUE` lines of .env.example (comments, including commented-out variables, skipped)."""
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env.example: not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip()
    return values


# --- in a subprocess: what a shell or a container does ------------------------------------------------------


def test_an_empty_port_variable_does_not_break_help() -> None:
    done = run_paymock("--help", PAYMOCK_PORT="")
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [("serve", "PAYMOCK_PORT", "abc"), ("console", "PAYMOCK_CONSOLE_PORT", "x")],
)
def test_a_bad_port_variable_is_a_one_line_usage_error(command: str, variable: str, value: str) -> None:
    done = run_paymock(command, **{variable: value})
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr
    (error,) = errors
    assert error.startswith(f"paymock {command}: error:") and variable in error and repr(value) in error, error
    assert done.stderr.startswith("usage: paymock " + command)


# --- in process: the parser's defaults -------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in {*FLAG_VARIABLES, *env_example()}:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_an_empty_host_variable_means_the_default_not_every_interface(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PAYMOCK_HOST", "")  # `PAYMOCK_HOST=` in a .env file: "" would bind 0.0.0.0
    clean_env.setenv("PAYMOCK_PORT", "")
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 9002)


def test_the_port_variable_sets_the_default_port(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PAYMOCK_PORT", "9100")
    assert build_parser().parse_args(["serve"]).port == 9100
    assert build_parser().parse_args(["serve", "--port", "9101"]).port == 9101  # the flag wins


# --- .env.example documents the code's defaults ------------------------------------------------------------


def test_env_example_values_are_the_settings_defaults() -> None:
    documented = {k: v for k, v in env_example().items() if k not in PLACEHOLDERS}
    assert {"PAYMOCK_HTTP_CLIENT", "PAYMOCK_STORE", "LOG_LEVEL"} <= set(documented)  # the parse found them
    defaults = Settings.from_env({})
    for key, value in documented.items():
        # one at a time, so a failure names the variable whose documented default is not the code's
        assert Settings.from_env({key: value}) == defaults, f".env.example {key}={value!r} is not the default"
    assert Settings.from_env(documented) == defaults


def test_env_example_values_are_the_command_line_defaults(clean_env: pytest.MonkeyPatch) -> None:
    commands = (["serve"], ["console"])
    defaults = [vars(build_parser().parse_args(c)) for c in commands]
    for key, value in env_example().items():
        if key not in PLACEHOLDERS:
            clean_env.setenv(key, value)
    assert [vars(build_parser().parse_args(c)) for c in commands] == defaults
