"""The real server process the request attacks aim at (test_requests.py, test_slow_bodies.py; test_receiver.py
starts its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paymock.testing.process import ServerProcess
from tests.conftest import SERVER_ENV
from tests.hostile.request_helpers import TOKEN


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    process = ServerProcess({**SERVER_ENV, "SERVICE_AUTH_TOKEN": TOKEN, "PAYMOCK_ACCESS_LOG": "false"}).wait_ready()
    yield process
    process.stop()
