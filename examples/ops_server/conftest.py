"""The ops server under test, signing secret shared with the paymock fixture (paymock's pytest plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .ops_server import OpsServer


@pytest.fixture
def ops_server(paymock_server) -> Iterator[OpsServer]:  # type: ignore[no-untyped-def]
    server = OpsServer(paymock_server.secret, provider_url=paymock_server.base_url)
    try:
        yield server
    finally:
        server.close()
