"""Fixtures for the contract tests; the apps and schemas live in support.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from contract_tests import support

# Connexion logs every 4xx at WARNING; under fuzzing that is thousands of lines.
logging.getLogger("connexion").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    """Every test starts from an empty mock: no payments, no deliveries, default scenario."""
    support.reset(support.OPEN_APP)
    support.reset(support.AUTH_APP, support.AUTH)
    yield
