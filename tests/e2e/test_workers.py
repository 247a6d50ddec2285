"""`paymock serve --workers N`: N real processes on one port, or a clear refusal for a store they cannot share.

The process model (one socket, N children, signals, a child's death) is the same for every store, so it is
tested here with the parent started on the memory store through `workers.serve` itself (`--workers`
refuses memory at the command line, before that function is reached): those tests need no database.
What several processes on one *shared* store do together is tested on PostgreSQL in test_workers_postgres.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from paymock.testing.process import free_port
from tests.conftest import SERVER_ENV
from tests.e2e.helpers import children_of, healthz, only_one_accepting, wait_gone

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes from /proc")


def run_serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paymock.cli", "serve", "--port", str(free_port()), *args],
        env={**os.environ, **SERVER_ENV, "PAYMOCK_STORE": "memory", "PAYMOCK_WORKERS": "", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_workers_with_the_memory_store_are_refused_saying_why() -> None:
    for done in (run_serve("--workers", "2"), run_serve(PAYMOCK_WORKERS="3")):
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert "PAYMOCK_STORE=memory" in line
        assert "unknown to the others" in line and "postgresql://" in line


def test_workers_with_a_sqlite_store_are_refused_before_the_file_is_touched(tmp_path: Path) -> None:
    db = tmp_path / "paymock.db"
    done = run_serve("--workers", "2", "--store", f"sqlite:{db}")
    assert done.returncode == 2, done.stderr
    assert "exclusive lock" in done.stderr and "postgresql://" in done.stderr
    assert not db.exists()


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_a_bad_worker_count_is_a_usage_error_naming_the_variable(value: str) -> None:
    done = run_serve(PAYMOCK_WORKERS=value)
    assert done.returncode == 2
    assert "PAYMOCK_WORKERS" in done.stderr and repr(value) in done.stderr and "Traceback" not in done.stderr


def test_fd_must_be_a_listening_socket() -> None:
    with socket.socket() as unbound:
        done = subprocess.run(
            [sys.executable, "-m", "paymock.cli", "serve", "--fd", str(unbound.fileno())],
            pass_fds=(unbound.fileno(),),
            env={**os.environ, **SERVER_ENV},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert "not a listening" in done.stderr


# --- the process model ---------------------------------------------------------------------------------------


class Workers:
    """The `--workers` parent (cli/workers.serve) on a free loopback port, children on the memory store."""

    def __init__(self, count: int, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        code = f"import sys; from paymock.cli.workers import serve; sys.exit(serve('127.0.0.1', {self.port}, {count}))"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            env={**os.environ, **SERVER_ENV, "PAYMOCK_STORE": "memory", "PAYMOCK_ACCESS_LOG": "false", **(env or {})},
        )

    def wait_children(self, count: int, timeout: float = 30.0) -> list[int]:
        """The children, once `count` of them exist and /healthz answers on the port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the parent exited with {self.process.returncode}"
            children = children_of(self.process.pid)
            if len(children) == count:
                try:
                    if healthz(self.base_url) == 200:
                        return children
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        pytest.fail(f"{count} workers not serving after {timeout} s")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            for child in children_of(self.process.pid):
                os.kill(child, signal.SIGKILL)
            self.process.kill()
            raise


def test_each_of_n_processes_serves_the_one_port_and_sigterm_stops_all_with_success() -> None:
    workers = Workers(2)
    try:
        children = workers.wait_children(2)
        # each process accepts on the one socket: with the other frozen, it alone answers every connection
        for serving in children:
            with only_one_accepting(serving, children):
                assert [healthz(workers.base_url) for _ in range(5)] == [200] * 5
    finally:
        status = workers.stop()
    assert status == 0
    wait_gone(children)
    with socket.socket() as again:  # the port is free once the last process has exited
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", workers.port))


def test_a_dead_worker_stops_the_others_and_the_parent_fails() -> None:
    """Nothing is restarted behind the operator's back: the supervisor above restarts the whole server."""
    workers = Workers(2)
    try:
        victim, other = workers.wait_children(2)
        os.kill(victim, signal.SIGKILL)
        status = workers.process.wait(30)
    finally:
        workers.stop()
    assert status == 128 + signal.SIGKILL
    wait_gone([other])


def test_a_worker_that_cannot_start_fails_the_parent_with_its_status(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\noutcome: [not, a, mapping\n")
    workers = Workers(2, {"PAYMOCK_SCENARIOS": str(broken)})
    try:
        status = workers.process.wait(60)
        assert children_of(workers.process.pid) == []
    finally:
        workers.stop()
    assert status == 2  # what `paymock serve` exits with on a bad scenario file
