"""`paymock console` parses its flags and points streamlit at the installed console."""

from __future__ import annotations

import os
import subprocess

import pytest

from paymock.cli import main as cli


def test_console_defaults():
    args = cli.build_parser().parse_args(["console"])
    assert (args.port, args.api_url, args.address) == (8501, "http://localhost:9002", "127.0.0.1")


class Launched(Exception):
    pass


def test_console_runs_streamlit_on_the_installed_app(monkeypatch):
    seen = {}

    def fake_launch(*args):
        command, env = args[-2], args[-1]
        seen.update(command=command, env=env)
        raise Launched

    monkeypatch.setattr(os, "execve", fake_launch)
    monkeypatch.setattr(subprocess, "call", lambda command, env: fake_launch(command, env))
    monkeypatch.setenv("SERVICE_AUTH_TOKEN", "tok")
    with pytest.raises(Launched):
        cli.main(["console", "--port", "8599", "--api-url", "http://127.0.0.1:9102"])
    command = seen["command"]
    assert command[1:4] == ["-m", "streamlit", "run"]
    assert command[4].endswith("streamlit_app.py")
    assert "--server.headless" in command and "--browser.gatherUsageStats" in command
    assert command[command.index("--client.toolbarMode") + 1] == "viewer"  # no Deploy button
    assert command[command.index("--server.port") + 1] == "8599"
    assert seen["env"]["PAYMOCK_API_URL"] == "http://127.0.0.1:9102"
    assert "tok" not in command  # the token goes by environment only
