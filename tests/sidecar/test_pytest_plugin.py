"""paymock's pytest plugin, exercised as a user would: test files run by pytester.

The inner runs are subprocesses: an in-process run re-imports modules (httpx, httpcore, ...) and
leaves this process with two copies of their exception classes. They load only this plugin
(`-p paymock.testing.pytest_plugin`, autoload off: the other installed plugins triple the start-up time);
the entry-point registration itself is checked in-process by the last tests.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore  # noqa: F401  # see below
import pytest

from paymock.testing.client import PaymockClient
from paymock.testing.process import free_port
from tests.conftest import SERVER_ENV
from tests.sidecar.helpers import start_server

pytest_plugins = ["pytester"]
# httpx imports httpcore on its first request. `pytester` forgets the modules a test imported when the test
# ends, so a later request would load a second httpcore whose ConnectError httpx no longer converts, and
# a server still starting would fail a later test's `wait_ready` with it. Imported here, before any test.


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    def run_inner(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "paymock.testing.pytest_plugin", *args)

    return run_inner


def test_fixtures_serve_reset_and_verify(pytester: pytest.Pytester, run) -> None:  # type: ignore[no-untyped-def]
    pytester.makepyfile(
        """
        import httpx
        from paymock.testing.client import PaymockClient


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
                assert exc.status_code == 404 and "default" in exc.problem["known_scenarios"]
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


# --paymock-url that is wrong: one usage error that says what to fix, checked once per session

USES_PAYMOCK = """
def test_one(paymock):
    paymock.health()


def test_two(paymock_url):
    assert paymock_url


def test_without_paymock():
    pass
"""


def output_of(result: pytest.RunResult) -> str:
    return result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    "userinfo",
    ["", "qa:pw-never-shown@", "qa:pw/never@shown@"],  # the last: a raw `/` and `@` in the password
    ids=["plain", "with-credentials", "raw-password"],
)
def test_paymock_url_nobody_listens_on_is_a_usage_error(pytester: pytest.Pytester, run, userinfo: str) -> None:  # type: ignore[no-untyped-def]
    # before: every test using it failed with a bare httpx.ConnectError traceback that named no URL
    port = free_port()  # bound and released: nobody listens there
    pytester.makepyfile(USES_PAYMOCK)
    result = run(f"--paymock-url=http://{userinfo}127.0.0.1:{port}")
    output = output_of(result)
    shown = "***@" if userinfo else ""  # a password in the URL is never said back
    assert f"UsageError: paymock is not reachable at http://{shown}127.0.0.1:{port} (" in output
    assert not userinfo or userinfo.split(":")[1].rstrip("@") not in output
    assert "start it or fix --paymock-url / paymock_url" in output
    assert "httpx/_transports" not in output  # no httpx traceback under it
    # each test that uses it errors (paymock_url as well: the code under test would get a dead URL);
    # a test that does not still runs
    result.assert_outcomes(passed=1, errors=2)


@contextlib.contextmanager
def http_server(routes: dict[str, tuple[int, bytes]], hits: list[str]) -> Iterator[str]:
    """A loopback HTTP server that is not paymock: GET answers `routes[path]`, anything else 404;
    `hits` gets every path asked for."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            status, body = routes.get(self.path, (404, b"<html>Not Found</html>"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("routes", "said"),
    [
        ({}, "GET /healthz -> 404 Not Found"),  # some other web server
        ({"/healthz": (200, b"<html>up</html>")}, "GET /healthz -> 200 OK"),  # a health page, not paymock's
        ({"/healthz": (200, b'{"status": "ok"}')}, "GET /mock/v1/health -> 404 Not Found"),  # no control API
        (  # a page where the control API would be
            {"/healthz": (200, b'{"status": "ok"}'), "/mock/v1/health": (200, b"<html>ok</html>")},
            "GET /mock/v1/health -> 200 OK",
        ),
    ],
    ids=["no-healthz", "html-healthz", "no-control-api", "html-control-api"],
)
def test_paymock_url_that_is_not_paymock_is_a_usage_error(  # type: ignore[no-untyped-def]
    pytester: pytest.Pytester, run, routes: dict[str, tuple[int, bytes]], said: str
) -> None:
    # before: the first reset failed with a PaymockError (or a JSON error) about /mock/v1/reset
    pytester.makepyfile(USES_PAYMOCK)
    hits: list[str] = []
    with http_server(routes, hits) as url:
        result = run(f"--paymock-url={url}")
    assert f"UsageError: something answers at {url} but it is not paymock ({said}); fix --paymock-url" in output_of(
        result
    )
    assert hits.count("/healthz") == 1  # asked once per session, not once per test
    result.assert_outcomes(passed=1, errors=2)


def test_paymock_url_with_a_token_it_refuses_is_a_usage_error(pytester: pytest.Pytester, run) -> None:  # type: ignore[no-untyped-def]
    # before: each test failed on its reset with "POST /mock/v1/reset -> 401", which did not say what to set
    server = start_server({**SERVER_ENV, "SERVICE_AUTH_TOKEN": "the-sidecar-token"})
    try:
        pytester.makepyfile(USES_PAYMOCK)
        wrong = run(f"--paymock-url={server.base_url}", "--paymock-auth-token=not-the-token-42")
        missing = run(f"--paymock-url={server.base_url}")
        right = run(f"--paymock-url={server.base_url}", "--paymock-auth-token=the-sidecar-token")
    finally:
        server.stop()
    fix = "(401); give the SERVICE_AUTH_TOKEN it runs with as --paymock-auth-token / paymock_auth_token"
    assert f"UsageError: paymock at {server.base_url} refused the auth token {fix}" in output_of(wrong)
    assert "not-the-token-42" not in output_of(wrong)  # the token is never said back, not even in a traceback
    wrong.assert_outcomes(passed=1, errors=2)
    assert f"UsageError: paymock at {server.base_url} requires an auth token {fix}" in output_of(missing)
    missing.assert_outcomes(passed=1, errors=2)
    right.assert_outcomes(passed=3)


def test_a_failing_test_never_prints_the_secret_or_the_token(pytester: pytest.Pytester, run) -> None:  # type: ignore[no-untyped-def]
    # pytest prints a failing test's fixture values: PaymockServer's repr used to hold both
    pytester.makepyfile(
        """
        def test_fails(paymock_server, paymock):
            assert paymock_server.external is None
        """
    )
    result = run("--paymock-secret=secret-never-printed-77", "--paymock-auth-token=token-never-printed-77", "-l")
    result.assert_outcomes(failed=1)
    output = output_of(result)
    assert "PaymockServer(base_url=" in output  # the fixture value was printed...
    assert "never-printed-77" not in output  # ...without either


def test_registered_as_a_pytest11_entry_point() -> None:
    plugins = {e.name: e.value for e in importlib.metadata.entry_points(group="pytest11")}
    assert plugins.get("paymock.testing.pytest_plugin") == "paymock.testing.pytest_plugin"


def test_loading_it_explicitly_as_well_is_fine(pytester: pytest.Pytester) -> None:
    # autoload on (the entry point) plus `-p` and `pytest_plugins`: as users write it in a conftest
    pytester.makeconftest('pytest_plugins = ["paymock.testing.pytest_plugin"]\n')
    pytester.makepyfile("def test_loaded(pytestconfig):\n    assert pytestconfig.getoption('paymock_url') is None\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "paymock.testing.pytest_plugin")
    result.assert_outcomes(passed=1)


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    # in-process, autoload on: the options are there because the entry point loaded the plugin
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(["*paymock*", "*--paymock-secret*", "*--paymock-url*"])


def test_a_sidecar_with_another_secret_fails_saying_so(pytester: pytest.Pytester, run) -> None:  # type: ignore[no-untyped-def]
    """The plugin pointed at a sidecar without the sidecar's secret: `assert hook.verified` and
    `hook.assert_verified()` both fail saying the secrets differ, not just `assert False`."""
    server = start_server(SERVER_ENV)  # signs with tests.conftest.SECRET; the plugin's default differs
    try:
        pytester.makepyfile(
            """
            def test_plain_assert(paymock, webhook_receiver):
                paymock.create_payment("tx_plain", webhook_receiver.url())
                assert webhook_receiver.wait_for(1)[0].verified


            def test_helper(paymock, webhook_receiver):
                paymock.create_payment("tx_helper", webhook_receiver.url())
                webhook_receiver.wait_for(1)[0].assert_verified()
            """
        )
        result = run(f"--paymock-url={server.base_url}")
        result.assert_outcomes(failed=2)
        output = result.stdout.str()
        said = (
            "NOT verified: signed with another secret than this test's (the plugin's --paymock-secret): "
            "the server's PAYMENT_WEBHOOK_SECRET differs (or a scenario signs wrongly on purpose))"
        )
        assert said in output.split("test_helper")[0], output  # the plain assert's `where False = ...`, uncut
        assert "AssertionError: webhook evt_completed_tx_helper to /webhook: signed with another secret" in output
        assert "paymock-pytest-secret" not in output  # a secret is not printed, even the default
    finally:
        server.stop()


def test_an_empty_secret_option_is_the_default(pytester: pytest.Pytester, run) -> None:  # type: ignore[no-untyped-def]
    """`--paymock-secret "$VAR"` with VAR unset: not an empty signing key (the commands' rule, too)."""
    pytester.makepyfile(
        """
        def test_default(paymock, paymock_server, webhook_receiver):
            assert paymock_server.secret == "paymock-pytest-secret"
            paymock.create_payment("tx_empty", webhook_receiver.url())
            webhook_receiver.wait_for(1)[0].assert_verified()
        """
    )
    run("--paymock-secret=").assert_outcomes(passed=1)


# sessions (issue 16): a shared server is never reset; each test runs in its own session


def test_with_paymock_url_each_test_runs_in_its_own_session(pytester: pytest.Pytester, run, receiver) -> None:  # type: ignore[no-untyped-def]
    server = start_server(SERVER_ENV)
    try:
        with PaymockClient(server.base_url) as global_view:
            assert global_view.create_payment("tx_someone_elses", receiver.url()).status_code == 200
            global_view.set_scenario("webhook-flaky")
            pytester.makepyfile(
                """
                import pytest


                def test_first(paymock, paymock_session, request):
                    assert paymock.session == paymock_session["session_id"]
                    assert paymock_session["label"] == "[main] " + request.node.nodeid
                    assert paymock.active_scenario() == "default"  # not the global one
                    assert paymock.payments().json()["payments"] == {}  # not the global payment
                    paymock.set_scenario("declined")
                    paymock.reset()  # resets this session only


                @pytest.mark.paymock(claims={"order_ids": [5]}, label="checkout", idle_timeout_s=60)
                def test_marked(paymock, paymock_session):
                    assert paymock_session["label"] == "checkout" and paymock_session["idle_timeout_s"] == 60
                    assert paymock_session["claims"]["order_ids"] == [5]
                    live = paymock.list_sessions()["sessions"]
                    assert [s["session_id"] for s in live] == [paymock.session]  # the first test's was ended


                def test_ending_it_early_is_fine(paymock, paymock_session):
                    paymock.end_session(paymock_session["session_id"])  # teardown's end then finds it gone
                """
            )
            run(f"--paymock-url={server.base_url}").assert_outcomes(passed=3)
            assert global_view.active_scenario() == "webhook-flaky"  # the plugin never reset the global state
            assert list(global_view.payments().json()["payments"]) == ["pay_tx_someone_elses"]
            assert global_view.list_sessions()["total"] == 0
    finally:
        server.stop()


def test_a_claim_another_session_holds_fails_the_setup_naming_it(pytester: pytest.Pytester, run) -> None:  # type: ignore[no-untyped-def]
    server = start_server(SERVER_ENV)
    try:
        with PaymockClient(server.base_url) as control:
            owner = control.create_session(label="qa-mina", claims={"user_ids": [7]})
            pytester.makepyfile(
                """
                import pytest


                @pytest.mark.paymock(claims={"user_ids": [7]})
                def test_claims_user_7(paymock):
                    pass


                @pytest.mark.paymock({"user_ids": [8]})
                def test_positional_marker(paymock):
                    pass


                @pytest.mark.paymock(claim={"user_ids": [8]})
                def test_misspelt_keyword(paymock):
                    pass
                """
            )
            result = run(f"--paymock-url={server.base_url}")
            result.assert_outcomes(errors=3)
            output = output_of(result)
            assert "paymock could not open this test's session: POST /mock/v1/sessions -> 409" in output
            assert owner["session_id"] in output
            assert "@pytest.mark.paymock takes only keywords ['claims', 'idle_timeout_s', 'label']; got {" in output
            assert "got claim" in output
            assert [s["session_id"] for s in control.list_sessions()["sessions"]] == [owner["session_id"]]
    finally:
        server.stop()


def test_in_process_resets_and_uses_a_session_only_for_marked_tests(pytester: pytest.Pytester, run) -> None:  # type: ignore[no-untyped-def]
    pytester.makepyfile(
        """
        import httpx
        import pytest


        def order(tx_id, user_id, url):
            return {"tx_id": tx_id, "order_id": 1, "user_id": user_id, "amount": 10, "callback_url": url}


        def test_global(paymock, paymock_session, paymock_url, webhook_receiver):
            assert paymock_session is None and paymock.session is None
            # traffic the test did not send (the code under test calling paymock) is seen: it is all ours
            answer = httpx.post(paymock_url + "/api/v2/payments", json=order("tx_app", 1, webhook_receiver.url()))
            assert answer.status_code == 200
            assert list(paymock.payments().json()["payments"]) == ["pay_tx_app"]


        @pytest.mark.paymock(claims={"user_ids": [3]})
        def test_marked(paymock, paymock_session, paymock_url, webhook_receiver):
            assert paymock.session == paymock_session["session_id"]
            assert paymock.payments().json()["payments"] == {}  # the global reset ran, and this is a session
            answer = httpx.post(paymock_url + "/api/v2/payments", json=order("tx_claimed", 3, webhook_receiver.url()))
            assert answer.status_code == 200
            assert list(paymock.payments().json()["payments"]) == ["pay_tx_claimed"]


        def test_after(paymock):
            assert paymock.payments().json()["payments"] == {}  # reset again
            assert paymock.list_sessions()["total"] == 0  # the marked test's session was ended
        """
    )
    run().assert_outcomes(passed=3)


def test_session_labels_fit_the_servers_limit() -> None:
    from paymock.testing.pytest_plugin import LABEL_MAX, session_label

    assert session_label("tests/test_a.py::test_x", "gw3") == "[gw3] tests/test_a.py::test_x"
    long_id = "tests/" + "deep/" * 40 + "test_b.py::test_the_name[param]"
    label = session_label(long_id, None)
    assert len(label) == LABEL_MAX and label.startswith("[main] …") and label.endswith("test_the_name[param]")
