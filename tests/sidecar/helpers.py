"""Shared by the sidecar tests."""

from __future__ import annotations

from collections.abc import Mapping

from paymock.testing import ServerProcess

READY_TIMEOUT_S = 60  # generous: a loaded 2-core CI runner can take seconds to start a process


def start_server(env: Mapping[str, str]) -> ServerProcess:
    """A ready `paymock serve` child; stopped again if it never gets ready, whatever the error."""
    server = ServerProcess(env)
    try:
        return server.wait_ready(timeout=READY_TIMEOUT_S)
    except BaseException:
        server.stop()
        raise
