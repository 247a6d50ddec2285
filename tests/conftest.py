"""Shared fixtures: a real loopback webhook receiver, the in-process app and a real server process."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

warnings.filterwarnings("ignore", category=DeprecationWarning)

from paymock.app import create_app  # noqa: E402
from paymock.settings import Settings  # noqa: E402
from paymock.testing.process import ServerProcess  # noqa: E402
from paymock.testing.receiver import WebhookReceiver  # noqa: E402

SECRET = "test-secret-0123456789"
TIME_SCALE = 0.001  # the whole retry schedule in milliseconds
LOOPBACK = frozenset({"127.0.0.1", "localhost"})

BASE_SETTINGS = Settings(
    webhook_secret=SECRET,
    secret_from_env=True,
    time_scale=TIME_SCALE,
    callback_hosts=LOOPBACK,
    webhook_timeout_s=2.0,
    access_log=False,
)

SERVER_ENV = {
    "PAYMENT_WEBHOOK_SECRET": SECRET,
    "PAYMOCK_TIME_SCALE": str(TIME_SCALE),
    "PAYMOCK_CALLBACK_HOSTS": "127.0.0.1,localhost",
    "PAYMOCK_WEBHOOK_TIMEOUT": "2",
    "SERVICE_AUTH_TOKEN": "",
}


class SteppedClock:
    """Wall and monotonic time that move only when the test says (idle expiry without sleeping)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


def settings(**overrides: Any) -> Settings:
    return replace(BASE_SETTINGS, **overrides)


def payment_body(tx_id: str, callback_url: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "version": "v2",
        "tx_id": tx_id,
        "order_id": 123,
        "user_id": 1,
        "amount": 1000,
        "callback_url": callback_url,
    }
    body.update(overrides)
    return body


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(SECRET)
    yield r
    r.close()


@contextlib.contextmanager
def in_process(**overrides: Any) -> Iterator[Any]:
    """The app with validation on, lifespan run, served in-process (webhooks still go out over loopback)."""
    app = create_app(settings(**overrides))
    with app.test_client() as client:
        yield client


@pytest.fixture
def client() -> Iterator[Any]:
    with in_process() as c:
        yield c


@pytest.fixture(scope="session")
def live_server() -> Iterator[ServerProcess]:
    server = ServerProcess(SERVER_ENV).wait_ready()
    yield server
    server.stop()


@pytest.fixture
def live(live_server: ServerProcess) -> Iterator[httpx.Client]:
    """An HTTP client on the shared server process, reset before each test."""
    with httpx.Client(base_url=live_server.base_url, timeout=30) as c:
        assert c.post("/mock/v1/reset").status_code == 200
        yield c


PROBLEM = "application/problem+json"


def assert_problem(r: Any, status: int, *mentions: str) -> dict[str, Any]:
    """`r` (httpx or the test client) is a problem+json answer of `status` whose detail names each of
    `mentions`; its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    problem = r.json()
    assert problem["status"] == status
    for mention in mentions:
        assert mention in problem["detail"], problem["detail"]
    return problem


def retrying_scenario(
    client: Any, name: str, retry_ms: int, *, retries: int = 3, session_id: str | None = None
) -> None:
    """Put run-time scenario `name` (new: 201): a refused webhook is retried `retries` times, `retry_ms`
    apart (in ms at scale 1: the tests' servers run faster, see their time scale)."""
    doc = {"description": f"retries {retry_ms} ms apart", "webhook": {"retry_schedule_ms": [retry_ms] * retries}}
    headers = {} if session_id is None else {"X-Mock-Session": session_id}
    assert client.put(f"/mock/v1/scenarios/{name}", json=doc, headers=headers).status_code == 201


def refused_payment(
    client: Any,
    receiver: WebhookReceiver,
    tx_id: str,
    scenario: str,
    *,
    path: str = "/down",
    session_id: str | None = None,
) -> Any:
    """A payment made under `scenario` whose webhook the receiver refuses (503 on `path`): it stays PENDING
    with a retry scheduled."""
    receiver.status_for_path[path] = 503
    headers = {"X-Mock-Scenario": scenario} | ({} if session_id is None else {"X-Mock-Session": session_id})
    made = client.post("/api/v2/payments", json=payment_body(tx_id, receiver.url(path)), headers=headers)
    assert made.json()["status"] == "PENDING", made.text
    return made


def wait_for_delivery(http: Any, timeout_s: float = 10.0, **params: Any) -> httpx.Response:
    """GET /mock/v1/wait-for-delivery, asked again while the delivery may still get there (one request
    waits at most 2 s), as PaymockClient.wait_for_delivery does; returns the last answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = max(0.0, deadline - time.monotonic())
        r = http.get("/mock/v1/wait-for-delivery", params={**params, "timeout_ms": int(min(left, 2.0) * 1000)})
        pending = r.status_code == 409 and (r.json().get("state") == "pending" or params.get("state") == "attempted")
        if not (r.status_code == 404 or pending) or time.monotonic() >= deadline:
            return r


@pytest.fixture
def anyio_backend() -> str:
    """`@pytest.mark.anyio` tests (async, e.g. the Store's) run on asyncio, the server's loop."""
    return "asyncio"


# PostgreSQL: one throwaway cluster per test session (started only if a test asks for it), a fresh
# database per test. Where no server binaries exist the tests that need it skip, saying why.
@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    from paymock.testing.postgres import PostgresCluster, why_unavailable

    reason = why_unavailable()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests need a PostgreSQL server: {reason}")
    cluster = PostgresCluster().start()
    yield cluster
    cluster.remove()


@pytest.fixture
def postgres_url(postgres_cluster: Any) -> Iterator[str]:
    """postgresql://... of a new empty database on the session's cluster, dropped after the test."""
    url = postgres_cluster.create_database()
    yield url
    postgres_cluster.drop_database(url)
