"""paymock's pytest plugin, exercised as a user would: test files run by pytester.

The inner runs are subprocesses: an in-process run re-imports modules (httpx, httpcore, ...) and
leaves this process with two copies of their exception classes. They load only this plugin
(`-p paymock.pytest_plugin`, autoload off: the other installed plugins triple the start-up time);
the entry-point registration itself is checked in-process by the last tests.
"""

from __future__ import annotations

import importlib.metadata

import pytest

from tests.conftest import SERVER_ENV
from tests.sidecar.helpers import start_server

pytest_plugins = ["pytester"]


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    def run_inner(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "paymock.pytest_plugin", *args)

    return run_inner


def test_fixtures_serve_reset_and_verify(pytester: pytest.Pytester, run) -> None:  # type: ignore[no-untyped-def]
    pytester.makepyfile(
        """
        import httpx
        from paymock.client import PaymockClient


        def test_payment_and_webhook(paymock, paymock_url, webhook_receiver):
            assert paymock_url.startswith("http://127.0.0.1:")
            answer = paymock.create_payment("tx_1", webhook_receiver.url(), amount=5000)
            assert answer.json()["status"] == "PAYMENT_COMPLETED"
            hook = webhook_receiver.wait_for(1)[0]
            assert hook.verified and hook.json()["amount"] == 5000
            assert [d["delivery_id"] for d in paymock.deliveries()] == ["evt_completed_tx_1"]
            paymock.set_scenario("webhook-flaky")


        def test_state_was_reset(paymock):
            assert paymock.deliveries() == []
            assert paymock.active_scenario() == "default"


        def test_wait_for_delivery_sees_retries(paymock, webhook_receiver):
            webhook_receiver.refuse_next(2)
            assert paymock.create_payment("tx_2", webhook_receiver.url()).json()["status"] == "PENDING"
            delivery = paymock.wait_for_delivery(tx_id="tx_2", state="acknowledged")
            assert [a["status_code"] for a in delivery["attempts"]] == [503, 503, 200]


        def test_scenario_context_and_errors(paymock):
            with paymock.scenario("declined"):
                assert paymock.active_scenario() == "declined"
            assert paymock.active_scenario() == "default"
            try:
                paymock.set_scenario("no-such-scenario")
            except Exception as exc:
                assert exc.status_code == 422 and "default" in exc.problem["known_scenarios"]
            else:
                raise AssertionError("expected PaymockError")


        def test_one_server_per_session(paymock_server):
            assert not paymock_server.external and paymock_server.ready_after < 30
        """
    )
    result = run()
    result.assert_outcomes(passed=5)


def test_options_and_ini_configure_the_server(pytester: pytest.Pytester, run) -> None:  # type: ignore[no-untyped-def]
    scenario_dir = pytester.mkdir("scenarios")
    (scenario_dir / "team-special.yaml").write_text("name: team-special\ndescription: Mounted by the suite.\n")
    pytester.makeini("[pytest]\npaymock_secret = from-ini\npaymock_time_scale = 0.25\n")
    pytester.makepyfile(
        """
        def test_configured(paymock, paymock_server, webhook_receiver):
            assert paymock_server.secret == "from-command-line"
            assert paymock.health()["time_scale"] == 0.25
            assert "team-special" in [s["name"] for s in paymock.scenarios()["scenarios"]]
            paymock.create_payment("tx_cfg", webhook_receiver.url())
            assert webhook_receiver.wait_for(1)[0].verified  # the receiver checks with the same secret
        """
    )
    result = run("--paymock-secret=from-command-line", f"--paymock-scenarios={scenario_dir}")
    result.assert_outcomes(passed=1)


def test_a_secret_that_cannot_sign_is_a_usage_error(pytester: pytest.Pytester, run) -> None:  # type: ignore[no-untyped-def]
    # before: the in-process server started, and every create was a 500 after storing the payment
    pytester.makepyfile("def test_uses_it(paymock):\n    paymock.health()\n")
    result = run("--paymock-secret", "whsec_not base64!")
    assert result.ret != 0
    result.stdout.no_fnmatch_line("*1 passed*")
    output = result.stdout.str() + result.stderr.str()
    assert "paymock plugin options" in output and "whsec_" in output
    assert "not base64!" not in output  # the secret itself is not said back


def test_paymock_url_uses_a_running_sidecar(pytester: pytest.Pytester, run) -> None:  # type: ignore[no-untyped-def]
    server = start_server(SERVER_ENV)
    try:
        pytester.makepyfile(
            f"""
            def test_external(paymock, paymock_server):
                assert paymock_server.external and paymock_server.base_url == "{server.base_url}"
                assert paymock.health()["status"] == "ok"
            """
        )
        result = run(f"--paymock-url={server.base_url}")
        result.assert_outcomes(passed=1)
    finally:
        server.stop()


def test_registered_as_a_pytest11_entry_point() -> None:
    plugins = {e.name: e.value for e in importlib.metadata.entry_points(group="pytest11")}
    assert plugins.get("paymock.pytest_plugin") == "paymock.pytest_plugin"


def test_loading_it_explicitly_as_well_is_fine(pytester: pytest.Pytester) -> None:
    # autoload on (the entry point) plus `-p` and `pytest_plugins`: as users write it in a conftest
    pytester.makeconftest('pytest_plugins = ["paymock.pytest_plugin"]\n')
    pytester.makepyfile("def test_loaded(pytestconfig):\n    assert pytestconfig.getoption('paymock_url') is None\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "paymock.pytest_plugin")
    result.assert_outcomes(passed=1)


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    # in-process, autoload on: the options are there because the entry point loaded the plugin
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(["*paymock*", "*--paymock-secret*", "*--paymock-url*"])
