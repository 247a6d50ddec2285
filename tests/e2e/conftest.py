"""Fixtures the end-to-end modules share (the plain `live_server` is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paymock.testing.process import ServerProcess
from tests.conftest import SERVER_ENV
from tests.e2e.helpers import AUTH_TOKEN


@pytest.fixture(scope="module")
def auth_server() -> Iterator[ServerProcess]:
    """A real server process that requires AUTH_TOKEN on both APIs (and sends it with its webhooks)."""
    server = ServerProcess({**SERVER_ENV, "SERVICE_AUTH_TOKEN": AUTH_TOKEN}).wait_ready()
    yield server
    server.stop()
