"""`paymock console` parses its flags and points streamlit at the installed console."""

from __future__ import annotations

from paymock.cli import main as cli


def test_console_defaults():
    args = cli.build_parser().parse_args(["console"])
    assert (args.port, args.api_url, args.address) == (8501, "http://localhost:9002", "127.0.0.1")


def test_console_runs_streamlit_on_the_installed_app(monkeypatch):
    # the command as built; tests/console/browser/ runs the real `paymock console` with it
    monkeypatch.setenv("SERVICE_AUTH_TOKEN", "tok")
    args = cli.build_parser().parse_args(["console", "--port", "8599", "--api-url", "http://127.0.0.1:9102"])
    command, env = cli.console_command(args, "/installed/paymock_console/streamlit_app.py")
    assert command[1:] == [
        "-m", "streamlit", "run", "/installed/paymock_console/streamlit_app.py",
        "--server.port", "8599",
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",  # no Deploy button
    ]  # fmt: skip
    assert env["PAYMOCK_API_URL"] == "http://127.0.0.1:9102"
    assert env["SERVICE_AUTH_TOKEN"] == "tok" and "tok" not in command  # the token goes by environment only
