"""What handlers need from the request: the provider (lifespan state), the scenario header, and
whether a body came where the contract takes none.

Read from Connexion's request scope: every attribute of `connexion.request` builds a new
`ConnexionRequest`, and handlers need only these few values.
"""

from __future__ import annotations

from typing import Any

from connexion.context import receive, scope

from ..domain.errors import BadRequest
from ..domain.sessions import Session
from ..provider import Provider
from .content_type import normalise
from .validation import read_body

# the media types Starlette parses as forms, which Connexion's decorator reads for every operation
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

SCENARIO_HEADER = "X-Mock-Scenario"
_SCENARIO_KEY = SCENARIO_HEADER.lower().encode("latin-1")
SESSION_HEADER = "X-Mock-Session"
_SESSION_KEY = SESSION_HEADER.lower().encode("latin-1")


def provider() -> Provider:
    return scope["state"]["provider"]


def _one_header(key: bytes, name: str) -> str | None:
    """A header's value (ASGI header names are lower-case bytes); absent or empty is None.

    Given twice, it is a 400: the contract validates one value, and quietly taking the first would
    act on something the test did not mean (`declined` + a typo passed as `declined`)."""
    values = [value for header, value in scope["headers"] if header == key]
    if len(values) > 1:
        shown = ", ".join(repr(v.decode("latin-1")[:70]) for v in values[:3])
        raise BadRequest(f"{name} was sent {len(values)} times ({shown}); send it once")
    if not values:
        return None
    return values[0].decode("latin-1") or None


def scenario_header() -> str | None:
    return _one_header(_SCENARIO_KEY, SCENARIO_HEADER)


def session_header() -> str | None:
    """X-Mock-Session: the session a call acts in (absent: the global session)."""
    return _one_header(_SESSION_KEY, SESSION_HEADER)


async def session() -> Session:
    """The session the call names, live and renewed (404 problem when unknown or expired), or global."""
    return await provider().session(session_header())


async def no_body(operation: str) -> None:
    """A 400 if the request has a body: for operations whose contract declares none, so Connexion
    neither reads nor checks it, and a client that sends options there would see them ignored."""
    size = 0
    headers = dict(scope["headers"])  # a name given twice: its last value
    if b"content-length" in headers:
        size = int(headers[b"content-length"])  # the server (h11/httptools) has refused a malformed one already
    elif b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        media_type = normalise(headers.get(b"content-type", b"").decode("latin-1")).partition(";")[0]
        if media_type in FORM_TYPES:
            # Connexion's parameter decorator has read a form body already (request.files()): reading
            # again would wait for the client to hang up. A form is a body, empty or not.
            raise BadRequest(f"{operation} takes no request body, and this one is a form ({media_type}): send none")
        size = len(await read_body(receive))  # at most 1 MiB is read (413 past it)
    if size:
        raise BadRequest(f"{operation} takes no request body, and this one has {size:,} bytes: send none")


JSON = {"Content-Type": "application/json"}


def ok(body: Any, status: int = 200) -> tuple[Any, int, dict[str, str]]:
    """A JSON answer; the explicit content type is needed because errors are problem+json."""
    return body, status, JSON


def next_offset(offset: int, returned: int, total: int) -> int | None:
    """Where the next page of a listing starts; None on the last page (or with no paging)."""
    end = offset + returned
    return end if end < total else None
