"""What handlers need from the request: the provider (lifespan state) and the scenario header.

Read from Connexion's request scope: every attribute of `connexion.request` builds a new
`ConnexionRequest`, and handlers need only these two values.
"""

from __future__ import annotations

from typing import Any

from connexion.context import scope

from ..provider import Provider

SCENARIO_HEADER = "X-Mock-Scenario"
_SCENARIO_KEY = SCENARIO_HEADER.lower().encode("latin-1")


def provider() -> Provider:
    return scope["state"]["provider"]


def scenario_header() -> str | None:
    """The header's first value (ASGI header names are lower-case bytes); absent or empty is None."""
    for name, value in scope["headers"]:
        if name == _SCENARIO_KEY:
            return value.decode("latin-1") or None
    return None


JSON = {"Content-Type": "application/json"}


def ok(body: Any, status: int = 200) -> tuple[Any, int, dict[str, str]]:
    """A JSON answer; the explicit content type is needed because errors are problem+json."""
    return body, status, JSON
