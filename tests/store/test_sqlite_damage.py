"""A damaged sqlite file, and values an older paymock wrote that this one would refuse (issue 14, rows 2 and 8).

Found on a real server: a file whose pages were overwritten in the middle opened without a word and
then answered a bare 500 on the first listing that reached them; and a delivery whose next attempt a
receiver had pushed to `Retry-After: 1e400` (stored as inf) made every listing showing it a 500, after
every restart, until a reset.
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from paymock.domain.deliveries import PENDING, SCHEDULED, Attempt, Delivery
from paymock.domain.payments import Payment
from paymock.domain.retry import stored_next_attempt_at
from paymock.domain.scenarios.model import MAX_DELAY_MS, WebhookPlan
from paymock.store.sqlite import SqliteStore, StoreError
from paymock.testing.process import ServerProcess
from tests.conftest import SERVER_ENV

PAYMENTS = 3000  # enough pages that "the middle" is well away from the header and the schema


def _fill(path: Path, count: int = PAYMENTS) -> None:
    async def fill() -> None:
        store = SqliteStore(path)
        async with store.atomic():
            for n in range(count):
                tx = f"tx_{n:05d}"
                await store.add_payment(Payment(tx, n, 1, 1000, "http://127.0.0.1:9/h", "default", 1_700_000_000.0 + n))
        await store.close()  # checkpoints: everything is in the main file, no WAL left

    asyncio.run(fill())


def _damage_middle(path: Path) -> None:
    """Overwrite pages in the middle of the file (not its header, not page 1): what a bad disk or a
    copy made while another program wrote leaves behind."""
    with sqlite3.connect(path) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = os.path.getsize(path) // page_size
    assert pages >= 20, pages
    with open(path, "r+b") as f:
        for page in range(pages // 3, pages // 3 + 4):
            f.seek(page * page_size)
            f.write(bytes(range(256)) * (page_size // 256))


def test_a_damaged_file_is_refused_at_open_naming_the_damage(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    _fill(path)
    _damage_middle(path)
    with pytest.raises(StoreError, match=r"damaged\.db is damaged \(.+\); restore it from a copy"):
        SqliteStore(path)
    SqliteStore(path.with_name("fresh.db")).close_now()  # the refusal left no lock behind: other files open


def test_an_intact_file_opens(tmp_path: Path) -> None:
    path = tmp_path / "intact.db"
    _fill(path, 50)
    store = SqliteStore(path)
    assert sum(asyncio.run(store.counts()).values()) == 50
    store.close_now()


def test_serve_refuses_a_damaged_file_with_exit_2_and_one_line(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    _fill(path)
    _damage_middle(path)
    done = subprocess.run(
        [sys.executable, "-m", "paymock.cli", "serve", "--port", "1", "--store", f"sqlite:{path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [x for x in done.stderr.splitlines() if x.startswith("paymock: PAYMOCK_STORE=")]
    assert len(lines) == 1, done.stderr
    assert "is damaged" in lines[0] and "restore it from a copy" in lines[0]


def test_damage_found_while_serving_is_a_503_that_names_it(tmp_path: Path) -> None:
    path = tmp_path / "later.db"
    _fill(path)
    server = ServerProcess({**SERVER_ENV, "PAYMOCK_STORE": f"sqlite:{path}"}).wait_ready()
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as c:
            assert c.get("/api/v2/pending-payments").status_code == 200
            _damage_middle(path)
            # another program's write: the server's page cache no longer stands for the file, so its
            # next read comes from the (damaged) disk, as it would after any cache eviction
            with sqlite3.connect(path, isolation_level=None) as other:
                other.execute("INSERT INTO plans (body) VALUES ('{}')")
            r = c.get("/api/v2/pending-payments")
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            detail = r.json()["detail"]
            assert "sqlite file is damaged" in detail and "malformed" in detail, detail
            assert c.get("/healthz").status_code == 200
    finally:
        server.stop()
    assert "store damaged" in server.output()


@pytest.mark.anyio
async def test_a_next_attempt_stored_past_any_date_reads_back_within_the_rule(tmp_path: Path) -> None:
    """A file written before Retry-After was clamped: next_attempt_at inf (1e400) or 1e20 seconds away."""
    path = tmp_path / "old.db"
    store = SqliteStore(path)
    attempt = Attempt(number=1, kind=SCHEDULED, at=1_700_000_000.0, status_code=503)
    plan = WebhookPlan()
    for tx, broken in (("tx_inf", math.inf), ("tx_far", 1_700_000_000.0 + 1e20)):
        await store.add_payment(Payment(tx, 1, 1, 1000, "http://127.0.0.1:9/h", "default", 1_700_000_000.0))
        d = Delivery(tx, "payment.completed", "default", "http://127.0.0.1:9/h", plan, 1.7e9, 1.7e9, PENDING)
        d.attempts = (attempt,)
        d.next_attempt_at = broken
        await store.add_delivery(d)
    await store.close()

    store = SqliteStore(path)  # a new process: nothing live, everything read from the file
    try:
        for tx in ("tx_inf", "tx_far"):
            (d,) = await store.deliveries_for(tx)
            assert d.next_attempt_at == attempt.at + MAX_DELAY_MS / 1000
            assert d.summary()["next_attempt_at"] == "2023-11-15T22:13:20.000Z"  # printable again
        assert stored_next_attempt_at(math.inf, attempt.at) == attempt.at + MAX_DELAY_MS / 1000
    finally:
        await store.close()
