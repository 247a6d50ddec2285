"""Issue 16's failing case, run as CI runs it: one `paymock serve`, one test module, serially and under
`pytest -n 4` (pytest-xdist), through the pytest plugin's `--paymock-url`. The module
(xdist_suite/test_sixteen_tests.py) passes both ways, and the server's global state, which the plugin
did not create, is left as it was: the tests ran in their own sessions and ended them. It passes under
xdist in-process too (each worker its own server).
"""

from __future__ import annotations

from pathlib import Path

import httpcore  # noqa: F401  # loaded before pytester runs: see tests/sidecar/test_pytest_plugin.py
import pytest

from paymock.testing.client import PaymockClient
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import SECRET, SERVER_ENV
from tests.sidecar.helpers import start_server

pytest_plugins = ["pytester"]

SUITE = Path(__file__).parent / "xdist_suite" / "test_sixteen_tests.py"
TESTS = 16
# What pytest-xdist puts in a worker's environment. When this module itself runs under `-n`, the inner
# runs would inherit them: the suite (and the plugin's labels) would take the serial run for worker gwN.
XDIST_VARIABLES = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


@pytest.fixture(autouse=True)
def _inner_runs_not_inside_xdist(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner pytest runs start from an environment clean of the outer run's xdist variables."""
    for name in XDIST_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_sixteen_tests_pass_serially_and_under_xdist_on_one_shared_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, receiver: WebhookReceiver
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only the plugins named below: a faster start
    pytester.makepyfile(test_sixteen=SUITE.read_text())
    server = start_server(SERVER_ENV)
    try:
        with PaymockClient(server.base_url) as global_view:
            # someone else's work in the global state: the plugin must not reset it nor flip its scenario
            assert global_view.create_payment("tx_not_the_plugins", receiver.url()).status_code == 200
            global_view.set_scenario("webhook-flaky")
            args = [
                "-p",
                "no:cacheprovider",
                "-p",
                "paymock.testing.pytest_plugin",
                f"--paymock-url={server.base_url}",
                f"--paymock-secret={SECRET}",
            ]
            serial = pytester.runpytest_subprocess(*args)
            serial.assert_outcomes(passed=TESTS)
            parallel = pytester.runpytest_subprocess(*args, "-p", "xdist", "-n", "4")
            parallel.assert_outcomes(passed=TESTS)
            assert "4 workers [16 items]" in parallel.stdout.str()  # it did run on four workers

            assert global_view.active_scenario() == "webhook-flaky"
            assert list(global_view.payments().json()["payments"]) == ["pay_tx_not_the_plugins"]
            assert global_view.list_sessions()["total"] == 0  # every test's session was ended at teardown
    finally:
        server.stop()


def test_the_module_also_passes_under_xdist_in_process(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --paymock-url each worker serves its own paymock in-process, reset before each test as before."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_sixteen=SUITE.read_text())
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "paymock.testing.pytest_plugin", "-p", "xdist", "-n", "2"
    )
    result.assert_outcomes(passed=TESTS)
