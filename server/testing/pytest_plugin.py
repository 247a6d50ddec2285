"""pytest plugin (registered through the `pytest11` entry point): paymock as a fixture.

Fixtures
- `paymock_server` (session): paymock served in-process on a free loopback port, started on first use;
  or the server at `--paymock-url` (e.g. a CI sidecar), which is then only reset, never started; it is
  checked once, on first use (answers, is paymock, takes the token): a usage error says what to fix.
- `paymock_url` (session): its base URL.
- `paymock` (function): a `PaymockClient` on it, after resetting it (payments, deliveries, scenarios).
- `webhook_receiver` (function): a loopback `WebhookReceiver` verifying with the same secret.
- `paymock_audit` (function): `paymock_audit(url, state_url=..., state_field=...)` grades a webhook endpoint
  (`paymock audit`) signing with the session's secret and token; `.assert_passed()` lists the failures.

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
from typing import TYPE_CHECKING

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


def _setting(config: pytest.Config, name: str) -> str:
    value = config.getoption(f"paymock_{name}", default=None)
    return str(value if value is not None else config.getini(f"paymock_{name}")).strip()


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
    # empty is not given, as for the commands (settings.resolve_secret): `--paymock-secret "$VAR"` with VAR
    # unset must not sign and verify with an empty key
    secret = _setting(pytestconfig, "secret") or DEFAULT_SECRET
    token = _setting(pytestconfig, "auth_token") or None
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


@pytest.fixture
def paymock(paymock_server: PaymockServer) -> Iterator[PaymockClient]:
    """A client for the session's paymock, reset first so every test starts from the default scenario."""
    from .client import PaymockClient

    with PaymockClient(paymock_server.base_url, auth_token=paymock_server.auth_token) as client:
        client.reset()
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

    token = _setting(pytestconfig, "auth_token") or None
    return functools.partial(audit, secret=_setting(pytestconfig, "secret"), auth_token=token)
