"""pytest plugin (registered through the `pytest11` entry point): paymock as a fixture.

Fixtures
- `paymock_server` (session): paymock served in-process on a free loopback port, started on first use;
  or the server at `--paymock-url` (e.g. a CI sidecar shared by `pytest -n 4` workers), which is never
  started nor reset by us; it is checked once, on first use (answers, is paymock, takes the token): a
  usage error says what to fix.
- `paymock_url` (session): its base URL.
- `paymock_session` (function): the paymock session the test runs in (the Session object), or None when
  it runs in the global state of an in-process server (see below).
- `paymock` (function): a `PaymockClient` on it, bound to that session when there is one.
- `webhook_receiver` (function): a loopback `WebhookReceiver` verifying with the same secret.
- `paymock_audit` (function): `paymock_audit(url, state_url=..., state_field=...)` grades a webhook endpoint
  (`paymock audit`) signing with the session's secret and token; `.assert_passed()` lists the failures.

Isolation. A server at `--paymock-url` is shared (xdist workers, other CI jobs, QA people): each test runs
in its own paymock session (labelled with its node id and xdist worker), created before the test and
ended at teardown, which removes its payments and deliveries; the global state is never touched. The
in-process server belongs to this pytest process (one per xdist worker), so the plugin resets it before
each test as it always did and the test sees everything in it, including traffic it did not send itself;
only a test that asks for claims runs in a session there too, so it behaves as it will against a shared
server. Traffic that does not come through the `paymock` client (an ops server under test calling the
provider) reaches the test's session through claims:

    @pytest.mark.paymock(claims={"user_ids": [7]}, label="checkout test")
    def test_checkout(paymock, ops_server): ...

A marker, not a call in the test body: the claims are known before the test starts, so the session is
created with them in one call (no window where the test's first request lands in the global state), a
claim another live session holds fails the setup as an error naming that session, and the console's
session list shows them from the start. A test that learns its values later calls
`paymock.set_claims(paymock_session["session_id"], {...})`.

Each setting is a command-line option or an ini key (the option wins):
  --paymock-secret / paymock_secret, --paymock-time-scale / paymock_time_scale,
  --paymock-scenarios / paymock_scenarios, --paymock-url / paymock_url,
  --paymock-auth-token / paymock_auth_token, paymock_callback_hosts.
Nothing heavy is imported until a fixture is used, so the plugin costs nothing to suites that ignore it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from ..audit import Report
    from .client import PaymockClient
    from .receiver import WebhookReceiver

DEFAULT_SECRET = "paymock-pytest-secret"
DEFAULT_TIME_SCALE = "0.001"  # a whole retry schedule in milliseconds
DEFAULT_CALLBACK_HOSTS = "127.0.0.1,localhost"

_SETTINGS = (
    # (name, help, default)
    ("secret", "webhook signing secret (both schemes)", DEFAULT_SECRET),
    ("time_scale", "factor applied to retry schedules and delays", DEFAULT_TIME_SCALE),
    ("scenarios", f"extra scenario files or directories, separated by {os.pathsep!r}", ""),
    ("url", "use the paymock already running at this URL instead of starting one", ""),
    ("auth_token", "SERVICE_AUTH_TOKEN of the server (in-process: turns auth on)", ""),
    ("callback_hosts", "hosts webhooks may go to, comma-separated (in-process server)", DEFAULT_CALLBACK_HOSTS),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("paymock", "paymock mock payment provider")
    for name, help_text, default in _SETTINGS:
        parser.addini(f"paymock_{name}", help_text, default=default)
        if name != "callback_hosts":
            group.addoption(f"--paymock-{name.replace('_', '-')}", dest=f"paymock_{name}", default=None, help=help_text)


MARKER = "paymock"
MARKER_KEYS = frozenset({"claims", "label", "idle_timeout_s"})
LABEL_MAX = 100  # the server's limit on a session label


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(claims=None, label=None, idle_timeout_s=None): run the test in a paymock session that claims "
        "these request values (tx_id_prefix, order_ids, user_ids), so traffic through an ops server reaches it",
    )


def _setting(config: pytest.Config, name: str) -> str:
    value = config.getoption(f"paymock_{name}", default=None)
    return str(value if value is not None else config.getini(f"paymock_{name}")).strip()


def _credentials(config: pytest.Config) -> tuple[str, str | None]:
    """(secret, auth token) for the server and the audit alike. Empty is not given, as for the commands
    (settings.resolve_secret): `--paymock-secret "$VAR"` with VAR unset must not sign and verify with an
    empty key."""
    return _setting(config, "secret") or DEFAULT_SECRET, _setting(config, "auth_token") or None


@dataclass(frozen=True)
class PaymockServer:
    """Where the session's paymock answers and how it signs."""

    base_url: str
    secret: str = field(repr=False)  # pytest prints fixture values in failing tests' tracebacks
    auth_token: str | None = field(repr=False)
    external: bool
    ready_after: float | None = None


def _check_external(url: str, token: str | None) -> None:
    """Ask the server at --paymock-url once, when the session first needs it: a wrong URL or token is
    then one usage error that says what to fix, not an httpx traceback or a 401 in every test."""
    __tracebackhide__ = True  # pytest would print this frame's arguments, the token among them
    import httpx

    from ..domain.quoting import redact, redact_url
    from .client import PaymockClient, PaymockError

    shown = redact_url(url)  # messages quote the URL: never a password in it
    fix_url = "fix --paymock-url / paymock_url"
    fix_token = "give the SERVICE_AUTH_TOKEN it runs with as --paymock-auth-token / paymock_auth_token"

    def not_paymock(path: str, status: int) -> pytest.UsageError:
        said = f"GET {path} -> {status} {httpx.codes.get_reason_phrase(status)}".rstrip()
        return pytest.UsageError(f"something answers at {shown} but it is not paymock ({said}); {fix_url}")

    try:
        with PaymockClient(url, auth_token=token, timeout=10.0) as client:
            answer = client.http.get("/healthz")  # no auth on it: tells "not paymock" from "wrong token"
            if answer.status_code != 200 or _json_field(answer, "status") != "ok":
                raise not_paymock("/healthz", answer.status_code)
            try:
                client.health()
            except ValueError:  # a 2xx whose body is not JSON: some other server's page
                raise not_paymock("/mock/v1/health", 200) from None
            except PaymockError as exc:
                if exc.status_code == 401:  # the message never says the token back
                    problem = "refused the auth token" if token else "requires an auth token"
                    raise pytest.UsageError(f"paymock at {shown} {problem} (401); {fix_token}") from None
                if exc.status_code in (404, 405):
                    raise not_paymock("/mock/v1/health", exc.status_code) from None
                raise pytest.UsageError(f"paymock at {shown} fails its control API ({exc})") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = redact(str(exc).replace(url, shown)) or type(exc).__name__
        raise pytest.UsageError(f"paymock is not reachable at {shown} ({reason}); start it or {fix_url}") from None


def _json_field(response: httpx.Response, name: str) -> object:
    """`name` from a JSON object body; None for any other body (an HTML page, a list)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get(name) if isinstance(body, dict) else None


@pytest.fixture(scope="session")
def paymock_server(pytestconfig: pytest.Config) -> Iterator[PaymockServer]:
    secret, token = _credentials(pytestconfig)
    url = _setting(pytestconfig, "url")
    if url:
        _check_external(url.rstrip("/"), token)
        yield PaymockServer(url.rstrip("/"), secret, token, external=True)
        return

    from ..settings import Settings, SettingsError, host_set
    from .embedded import EmbeddedServer

    try:
        time_scale = float(_setting(pytestconfig, "time_scale"))
    except ValueError:
        raise pytest.UsageError("paymock_time_scale must be a number") from None
    scenarios = tuple(Path(p) for p in _setting(pytestconfig, "scenarios").split(os.pathsep) if p)
    hosts = host_set(_setting(pytestconfig, "callback_hosts"))
    try:
        settings = Settings(
            webhook_secret=secret,
            secret_from_env=True,  # chosen on purpose: no "development secret" warning
            auth_token=token,
            time_scale=time_scale,
            scenario_paths=scenarios,
            callback_hosts=hosts,
            webhook_timeout_s=5.0,
            access_log=False,
        )
    except SettingsError as exc:  # the message names the variable; the plugin's option sets the same value
        raise pytest.UsageError(f"paymock plugin options: {exc}") from None
    server = EmbeddedServer(settings).start()
    try:
        yield PaymockServer(server.base_url, secret, token, external=False, ready_after=server.ready_after)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def paymock_url(paymock_server: PaymockServer) -> str:
    return paymock_server.base_url


def session_label(nodeid: str, worker: str | None) -> str:
    """Who owns the session, as the console lists it: the xdist worker and the test's node id (its tail
    when too long: the test's name is the part that tells)."""
    prefix = f"[{worker or 'main'}] "
    room = LABEL_MAX - len(prefix)
    return prefix + (nodeid if len(nodeid) <= room else "…" + nodeid[-(room - 1) :])


def _session_request(request: pytest.FixtureRequest) -> dict[str, Any] | None:
    """The test's `paymock` marker as create_session's arguments; None without one."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return None
    unknown = set(marker.kwargs) - MARKER_KEYS
    if marker.args or unknown:
        given = ", ".join([*map(repr, marker.args), *sorted(unknown)])
        pytest.fail(f"@pytest.mark.{MARKER} takes only keywords {sorted(MARKER_KEYS)}; got {given}", pytrace=False)
    return dict(marker.kwargs)


@pytest.fixture(scope="session")
def _paymock_control(paymock_server: PaymockServer) -> Iterator[PaymockClient]:
    """One client on the global view, for what the plugin itself does (reset, sessions)."""
    from .client import PaymockClient

    with PaymockClient(paymock_server.base_url, auth_token=paymock_server.auth_token) as client:
        yield client


@pytest.fixture
def paymock_session(
    request: pytest.FixtureRequest, paymock_server: PaymockServer, _paymock_control: PaymockClient
) -> Iterator[dict[str, Any] | None]:
    """The test's own paymock session, ended at teardown (its payments and deliveries go with it);
    None for a test without a `paymock` marker on the in-process server: it runs in the reset global state."""
    from .client import PaymockError

    asked = _session_request(request)
    if not paymock_server.external:
        _paymock_control.reset()  # our own server: nobody else's state to keep
        if asked is None:
            yield None
            return
    asked = asked or {}
    worker = getattr(request.config, "workerinput", {}).get("workerid")  # pytest-xdist's worker id ("gw0")
    label = asked.pop("label", None) or session_label(request.node.nodeid, worker)
    try:
        session = _paymock_control.create_session(label=label, **asked)
    except PaymockError as exc:  # e.g. 409: another live session claims a value; the detail names it
        pytest.fail(f"paymock could not open this test's session: {exc}", pytrace=False)
    try:
        yield session
    finally:
        try:
            _paymock_control.end_session(session["session_id"])
        except PaymockError as exc:
            if exc.status_code != 404:  # 404: the test ended it itself, or it expired
                raise


@pytest.fixture
def paymock(
    paymock_server: PaymockServer, _paymock_control: PaymockClient, paymock_session: dict[str, Any] | None
) -> Iterator[PaymockClient]:
    """A client of the test's own (what it does to the client stays with the test), in its own session, or on
    the in-process server's global state, reset first; either way the test starts from the default scenario."""
    from .client import PaymockClient

    if paymock_session is None:
        client = PaymockClient(paymock_server.base_url, auth_token=paymock_server.auth_token)
    else:
        client = _paymock_control.in_session(paymock_session["session_id"])
    with client:
        yield client


@pytest.fixture
def webhook_receiver(paymock_server: PaymockServer) -> Iterator[WebhookReceiver]:
    """A loopback receiver that records every webhook and checks both signatures with the session's secret."""
    from .receiver import WebhookReceiver

    # a sidecar (--paymock-url) signs with its own PAYMENT_WEBHOOK_SECRET: say where this one comes from
    receiver = WebhookReceiver(paymock_server.secret, secret_source="the plugin's --paymock-secret")
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def paymock_audit(pytestconfig: pytest.Config) -> Callable[..., Report]:
    """`paymock.audit.audit` with the session's secret and token: the receiver under test verifies with them.
    Needs no paymock server: the audit sends from the test process."""
    import functools

    from ..audit import audit

    secret, token = _credentials(pytestconfig)
    return functools.partial(audit, secret=secret, auth_token=token)
