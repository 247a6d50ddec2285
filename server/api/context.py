"""What handlers need from the request: the provider (lifespan state) and the scenario header.

Read from Connexion's request scope: every attribute of `connexion.request` builds a new
`ConnexionRequest`, and handlers need only these two values.
"""

from __future__ import annotations

from typing import Any

from connexion.context import scope

from ..domain.errors import BadRequest
from ..provider import Provider

SCENARIO_HEADER = "X-Mock-Scenario"
_SCENARIO_KEY = SCENARIO_HEADER.lower().encode("latin-1")


def provider() -> Provider:
    return scope["state"]["provider"]


def scenario_header() -> str | None:
    """The header's value (ASGI header names are lower-case bytes); absent or empty is None.

    Given twice, it is a 400: the contract validates one value, and quietly taking the first would
    run a scenario the test did not mean (`declined` + a typo passed as `declined`)."""
    values = [value for name, value in scope["headers"] if name == _SCENARIO_KEY]
    if len(values) > 1:
        shown = ", ".join(repr(v.decode("latin-1")[:70]) for v in values[:3])
        raise BadRequest(f"{SCENARIO_HEADER} was sent {len(values)} times ({shown}); send it once")
    if not values:
        return None
    return values[0].decode("latin-1") or None


JSON = {"Content-Type": "application/json"}


def ok(body: Any, status: int = 200) -> tuple[Any, int, dict[str, str]]:
    """A JSON answer; the explicit content type is needed because errors are problem+json."""
    return body, status, JSON


def next_offset(offset: int, returned: int, total: int) -> int | None:
    """Where the next page of a listing starts; None on the last page (or with no paging)."""
    end = offset + returned
    return end if end < total else None
