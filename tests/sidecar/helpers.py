"""Shared by the sidecar tests."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping

import httpx

from paymock.testing.process import ServerProcess

READY_TIMEOUT_S = 60  # generous: a loaded 2-core CI runner can take seconds to start a process


def start_server(env: Mapping[str, str]) -> ServerProcess:
    """A ready `paymock serve` child; stopped again if it never gets ready, whatever the error."""
    server = ServerProcess(env)
    try:
        return server.wait_ready(timeout=READY_TIMEOUT_S)
    except BaseException:
        server.stop()
        raise


def wait_answering(
    url: str, process: subprocess.Popen[bytes], name: str, output: Callable[[], str] = lambda: ""
) -> None:
    """Poll `url` until it answers 200 (bounded); fail at once, with `output()`, if `process` exits."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        assert process.poll() is None, f"{name} exited with {process.returncode}:\n{output()}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered:\n{output()}"
        time.sleep(0.1)
