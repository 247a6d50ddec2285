"""Faults of the database under a PostgreSQL store (issue 17, item 5): not reachable at start, a newer
schema, and lost while serving (503 problem with Retry-After, back to 200 when it returns, nothing that
was answered 200 lost, deliveries resumed)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from paymock.settings import PostgresSettings
from paymock.testing.process import free_port
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import PROBLEM, in_process, payment_body

pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")


def _serve(store: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paymock.cli", "serve", "--port", str(free_port()), "--store", store],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unreachable_database_at_start_is_one_line_with_the_password_masked() -> None:
    port = free_port()  # nothing listens there
    done = _serve(f"postgresql://paymock:s3cret-pw@127.0.0.1:{port}/paymock")
    assert done.returncode == 2, done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"paymock: cannot connect to PostgreSQL at postgresql://paymock:***@127.0.0.1:{port}/")


def test_a_database_that_refuses_at_start_is_one_line_and_a_non_zero_exit(own_cluster: Any) -> None:
    """Reached but refusing: every connection slot taken ("too many clients"), or no such database. One
    line naming the store (password masked), no traceback, exit 2."""
    import psycopg

    url = own_cluster.create_database()
    with psycopg.connect(own_cluster.url(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET max_connections = 5")  # few to take: the cluster is the test's own
    own_cluster.stop()
    own_cluster.start()
    held: list[psycopg.Connection[Any]] = []
    try:
        with pytest.raises(psycopg.OperationalError, match="too many clients"):
            for _ in range(50):
                held.append(psycopg.connect(own_cluster.url(), autocommit=True))
        refused = _serve(url)
    finally:
        for conn in held:
            conn.close()
    missing = _serve(url.rsplit("/", 1)[0] + "/no_such_db")
    for done, said in ((refused, "too many clients"), (missing, '"no_such_db" does not exist')):
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(
            f"paymock: cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:{own_cluster.port}/"
        )
        assert said in line and "Traceback" not in done.stderr


def test_a_database_of_a_newer_paymock_is_refused_at_start(postgres_url: str) -> None:
    import psycopg

    from paymock.store import pg_migrations

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {pg_migrations.TABLE} (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(f"INSERT INTO {pg_migrations.TABLE} (version, name) VALUES (%s, 'future')", (99,))
    done = _serve(postgres_url.replace("postgresql://", "postgres://"))  # libpq's other scheme, accepted too
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "schema is at version 99" in line and "newer paymock" in line


@pytest.fixture
def own_cluster(postgres_cluster: Any) -> Iterator[Any]:
    """A cluster of the test's own, to stop and start (the session's serves the other tests meanwhile)."""
    from paymock.testing.postgres import PostgresCluster

    cluster = PostgresCluster().start()
    yield cluster
    cluster.remove()


def _until(check: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_a_database_lost_while_serving_is_a_503_with_retry_after_and_back_is_200(
    own_cluster: Any,
) -> None:
    url = own_cluster.create_database()
    receiver = WebhookReceiver("test-secret-0123456789")
    pool = PostgresSettings(pool_timeout_s=0.5)  # each call waits this long for a connection: 503 sooner
    try:
        with in_process(store=url, postgres=pool) as client:
            kept = client.post("/api/v2/payments", json=payment_body("kept-1", receiver.url("/")))
            assert kept.status_code == 200 and kept.json()["status"] == "PAYMENT_COMPLETED"
            own_cluster.stop()
            for call in (
                lambda: client.get("/api/v2/pending-payments"),
                lambda: client.post("/api/v2/payments", json=payment_body("lost-1", receiver.url("/"))),
                lambda: client.get("/mock/v1/deliveries"),
            ):
                down = call()
                assert down.status_code == 503, down.text
                assert down.headers["content-type"].startswith(PROBLEM) and int(down.headers["Retry-After"]) >= 1
                assert "database is unavailable" in down.json()["detail"]
                # the driver's message names the database's address: the server's log keeps it, not clients
                assert own_cluster.host not in down.text and str(own_cluster.port) not in down.text
            own_cluster.start()
            back = _until(lambda: client.get("/api/v2/pending-payments").status_code == 200)
            assert back, "still failing 20 s after the database came back"
            listing = client.get("/api/v2/pending-payments").json()
            assert "pay_kept-1" in listing["payments"] and "pay_lost-1" not in listing["payments"]
            again = client.post("/api/v2/payments", json=payment_body("lost-1", receiver.url("/")))
            assert again.status_code == 200  # the refused create stored nothing: made now, once
    finally:
        receiver.close()


def test_the_503_for_a_lost_database_names_neither_its_host_nor_its_port(caplog: pytest.LogCaptureFixture) -> None:
    """A connection lost mid-call raises the driver's own words, which name the database's address: the
    client is told what happened in general terms, the server's log keeps the words (no password)."""
    import psycopg

    from paymock.api import problems

    port = free_port()  # nothing listens there: a real driver error naming host and port
    url = f"postgresql://paymock:s3cret-pw@127.0.0.1:{port}/paymock"
    with pytest.raises(psycopg.OperationalError) as lost:
        psycopg.connect(url, connect_timeout=5)
    assert "127.0.0.1" in str(lost.value) and str(port) in str(lost.value)  # what the handler must not pass on
    with caplog.at_level(logging.WARNING, logger=problems.log.name):
        answer = problems.database_error(url)(None, lost.value)  # type: ignore[arg-type]  # the request is unused
    body = json.loads(answer.body)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == str(problems.DATABASE_RETRY_AFTER_S)
    assert "127.0.0.1" not in answer.body and str(port) not in answer.body and "s3cret" not in answer.body
    assert "unavailable" in body["detail"] and "Retry-After" in body["detail"]
    assert str(port) in caplog.text and "s3cret" not in caplog.text


def test_deliveries_due_while_the_database_was_down_go_out_when_it_is_back(
    own_cluster: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The retry that fell due while the database was down is planned again in this process (backing off
    to dispatcher.STORE_RETRY_MAX_S), not left to the sweeper: the webhook timeout is long, so the lease a
    sweeper would wait for runs well past the time this test waits."""
    import psycopg

    url = own_cluster.create_database()
    receiver = WebhookReceiver("test-secret-0123456789")
    try:
        with (
            caplog.at_level(logging.WARNING, logger="paymock.delivery"),
            in_process(store=url, webhook_timeout_s=60.0) as client,
        ):
            slow = {"description": "retried after 0.5 s", "webhook": {"retry_schedule_ms": [500_000] * 3}}
            assert client.put("/mock/v1/scenarios/slow-retry", json=slow).status_code in (200, 201)
            receiver.refuse_next(1)
            made = client.post(
                "/api/v2/payments",
                json=payment_body("resumed-1", receiver.url("/")),
                headers={"X-Mock-Scenario": "slow-retry"},
            )
            assert made.status_code == 200 and made.json()["status"] == "PENDING"
            with psycopg.connect(url) as conn:
                (lease_until,) = conn.execute("SELECT lease_until FROM deliveries").fetchone()  # type: ignore[misc]
            assert lease_until - time.time() > 40  # the sweeper cannot take it over within the wait below
            own_cluster.stop()  # the retry falls due meanwhile and cannot read the store
            assert _until(lambda: "store failed for" in caplog.text), "the due retry never met the stopped store"
            own_cluster.start()

            def settled() -> bool:
                r = client.get("/mock/v1/deliveries", params={"tx_id": "resumed-1"})
                return r.status_code == 200 and r.json()["deliveries"][0]["state"] == "acknowledged"

            assert _until(settled), client.get("/mock/v1/deliveries", params={"tx_id": "resumed-1"}).text
            assert client.get("/api/v2/pending-payments").json()["payments"]["pay_resumed-1"]["status"] == (
                "PAYMENT_COMPLETED"
            )
    finally:
        receiver.close()


def test_the_control_api_reaches_the_shared_store(postgres_url: str) -> None:
    with in_process(store=postgres_url) as client:
        health = client.get("/mock/v1/health")
        assert health.status_code == 200, health.text
        assert httpx.codes.is_success(client.post("/mock/v1/reset").status_code)


def test_a_slow_database_is_bounded_by_the_statement_timeout(
    postgres_url: str,
) -> None:
    import psycopg

    receiver = WebhookReceiver("test-secret-0123456789")
    try:
        with in_process(store=postgres_url, postgres=PostgresSettings(statement_timeout_s=0.5)) as client:
            assert client.get("/api/v2/pending-payments").status_code == 200
            # another program holds the payments table: every statement touching it waits
            with psycopg.connect(postgres_url) as holder:
                holder.execute("LOCK TABLE payments IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                slow = client.post("/api/v2/payments", json=payment_body("slow-1", receiver.url("/")))
                waited = time.monotonic() - started
                assert slow.status_code == 503 and slow.headers["Retry-After"], slow.text
                assert "too slow" in slow.json()["detail"]
                assert "127.0.0.1" not in slow.text and str(urlsplit(postgres_url).port) not in slow.text
                assert waited < 5.0  # the 0.5 s timeout, not a hung request (loose: the machine is busy)
                holder.rollback()
            assert client.post("/api/v2/payments", json=payment_body("slow-1", receiver.url("/"))).status_code == 200
    finally:
        receiver.close()


def test_a_text_postgresql_cannot_hold_is_a_400_problem_and_changes_nothing(postgres_url: str) -> None:
    """A NUL character passes the contract (it is no whitespace) but no PostgreSQL text or jsonb holds it:
    refused as the caller's value, not a 500."""
    with in_process(store=postgres_url) as client:
        scenario = {"description": "has a \u0000 in it"}
        for refused in (
            client.get("/api/v2/pending-payments", params={"tx_id_prefix": "a\u0000"}),
            client.post("/mock/v1/sessions", json={"label": "x\u0000y"}),
            client.put("/mock/v1/scenarios/nul", json=scenario),
        ):
            assert refused.status_code == 400, refused.text
            assert refused.headers["content-type"].startswith(PROBLEM)
            assert "PostgreSQL cannot hold" in refused.json()["detail"]
        assert client.get("/mock/v1/sessions").json()["sessions"] == []
        assert client.get("/mock/v1/scenarios/nul").status_code == 404


def test_a_global_reset_the_database_refused_leaves_the_server_as_the_store_has_it(own_cluster: Any) -> None:
    """The reset wipes this process's sessions and global book before the store's tables: when the store
    refuses (503), the process takes back what the store still has, rather than serving a wiped state
    until something else changes."""
    url = own_cluster.create_database()
    with in_process(store=url) as client:
        assert client.put("/mock/v1/active-scenario", json={"name": "declined"}).status_code == 200
        sid = client.post("/mock/v1/sessions", json={"claims": {"tx_id_prefix": "cl-"}}).json()["session_id"]
        time.sleep(0.6)  # two rounds of the refresher (nothing shows it): it has seen the store's version now
        own_cluster.stop()
        assert client.post("/mock/v1/reset").status_code == 503
        own_cluster.start()

        def as_stored() -> bool:
            active = client.get("/mock/v1/active-scenario")
            sessions = client.get("/mock/v1/sessions")
            return (
                active.status_code == 200
                and active.json()["name"] == "declined"
                and [s["session_id"] for s in sessions.json()["sessions"]] == [sid]
            )

        assert _until(as_stored, 10.0), client.get("/mock/v1/active-scenario").text
