"""What handlers need from the request: the provider (lifespan state) and the scenario header."""

from __future__ import annotations

from typing import Any

from connexion import request

from ..provider import Provider

SCENARIO_HEADER = "X-Mock-Scenario"


def provider() -> Provider:
    return request.state.provider


def scenario_header() -> str | None:
    return request.headers.get(SCENARIO_HEADER) or None


JSON = {"Content-Type": "application/json"}


def ok(body: Any, status: int = 200) -> tuple[Any, int, dict[str, str]]:
    """A JSON answer; the explicit content type is needed because errors are problem+json."""
    return body, status, JSON
