"""`paymock serve` in a child process on a free loopback port (`ServerProcess`), for tests and scripts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`paymock serve` in a child process on a free loopback port; ready when /healthz answers."""

    def __init__(self, env: Mapping[str, str] | None = None, args: list[str] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, **(env or {})}
        # a file, not a pipe: an unread pipe would block a chatty server once its buffer fills
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "paymock.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *(args or []),
            ],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.started = time.monotonic()
        self.ready_after: float | None = None

    def wait_ready(self, timeout: float = 15.0) -> ServerProcess:
        """Poll /healthz; on any failure (or Ctrl-C) the child is stopped, never left running."""
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"paymock exited with {self.process.returncode}:\n{self.output()}")
                try:
                    if httpx.get(self.base_url + "/healthz", timeout=0.5).status_code == 200:
                        self.ready_after = time.monotonic() - self.started
                        return self
                except httpx.HTTPError:
                    time.sleep(0.02)
            raise RuntimeError(f"paymock not ready after {timeout} s:\n{self.output()}")
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        """Everything the process printed so far."""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")
