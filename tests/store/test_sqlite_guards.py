"""The sqlite store refuses what it must not use, and outlives another program's lock on its file.

Each case was found against a real server: a second paymock on one file resent every retry and
overwrote the other's attempts; another program's database was switched to WAL and given paymock's
tables; a bad path was a uvicorn traceback; and a write that failed under a lock lost its retry.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from paymock.store.sqlite import SqliteStore, StoreError
from paymock.testing import ServerProcess, WebhookReceiver
from tests.conftest import SECRET, SERVER_ENV, payment_body


def test_a_second_store_on_the_same_file_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    path = tmp_path / "one.db"
    first = SqliteStore(path)
    with pytest.raises(StoreError, match="in use by another paymock process"):
        SqliteStore(path)
    first.close()
    SqliteStore(path).close()  # the lock went with the first store


def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE x (a)")
    with pytest.raises(StoreError, match=r"another program's database \(tables: x\)"):
        SqliteStore(path)
    with sqlite3.connect(path) as db:  # nothing written: no WAL switch, no tables of ours
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert {r[0] for r in db.execute("SELECT name FROM sqlite_master")} == {"x"}


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, but a long enough text to be read as a header " * 4)
    with pytest.raises(StoreError, match="file is not a database"):
        SqliteStore(path)


def test_a_store_made_by_paymock_opens_again_and_a_home_path_is_expanded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    store = SqliteStore("~/stores/p.db")
    assert store.path == str(tmp_path / "stores" / "p.db")  # not a directory named `~`
    store.close()
    SqliteStore(tmp_path / "stores" / "p.db").close()


@pytest.mark.parametrize("kind", ["directory", "in use", "memory"])
def test_serve_names_a_store_it_cannot_use_in_one_line(tmp_path: Path, kind: str) -> None:
    holder = None
    if kind == "directory":
        spec = f"sqlite:{tmp_path}"
    elif kind == "in use":
        holder = SqliteStore(tmp_path / "held.db")
        spec = f"sqlite:{tmp_path / 'held.db'}"
    else:
        spec = "sqlite::memory:"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "paymock.cli", "serve", "--port", "1", "--store", spec],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        if holder is not None:
            holder.close()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    line = [x for x in done.stderr.splitlines() if x.startswith("paymock: PAYMOCK_STORE=")]
    assert len(line) == 1, done.stderr


def test_a_lock_held_by_another_program_is_a_503_and_the_webhook_still_arrives(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    receiver = WebhookReceiver(SECRET)
    server = ServerProcess({**SERVER_ENV, "PAYMOCK_STORE": f"sqlite:{path}"}).wait_ready()
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as c:
            # a retry 1 s after the refused first attempt (10^6 ms at the tests' time scale of 0.001)
            slow = {"name": "retry-in-1s", "description": "d", "webhook": {"retry_schedule_ms": [1_000_000] * 3}}
            assert c.put("/mock/v1/scenarios/retry-in-1s", json=slow).status_code in (200, 201)
            receiver.refuse_next(1)
            body = payment_body("tx_locked", receiver.url())
            created = c.post("/api/v2/payments", json=body, headers={"X-Mock-Scenario": "retry-in-1s"})
            assert created.json()["status"] == "PENDING"

            other = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
            other.execute("BEGIN EXCLUSIVE")  # another program holds the file past the retry's due time
            held_until = time.monotonic() + 3.0
            release = threading.Timer(3.0, other.rollback)
            release.start()
            try:
                busy = c.post("/api/v2/payments", json=payment_body("tx_during_lock", receiver.url()))
                if time.monotonic() < held_until:  # answered while the lock was still held
                    assert busy.status_code == 503, busy.text
                    assert busy.headers["retry-after"] == "1"
                    assert "the store is busy" in busy.json()["detail"]
            finally:
                release.join(10)
                other.close()

            found = c.get(
                "/mock/v1/wait-for-delivery",
                params={"tx_id": "tx_locked", "state": "acknowledged", "timeout_ms": 20_000},
            )
            assert found.status_code == 200, found.text  # the retry was not lost with its failed write
            payment = c.get("/mock/v1/payments/pay_tx_locked").json()["payment"]
            assert payment["status"] == "PAYMENT_COMPLETED"
        # the retry came due under the lock: its result could not be written, and it was tried again
        assert "store failed for evt_completed_tx_locked" in server.output()
    finally:
        server.stop()
        receiver.close()
