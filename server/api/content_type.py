"""Media types are case-insensitive (RFC 9110 8.3.1); Connexion 3.3 matches them as sent.

With `Content-Type: APPLICATION/JSON` Connexion found no body schema for the media type, skipped
validation and handed the handler raw bytes (a 500). `NormalisedContentType` lower-cases the media
type of the request's Content-Type header before Connexion's validation reads it, so the body is
validated and parsed as JSON. It is an ordinary ASGI middleware, added to paymock's own app with
`AsyncApp.add_middleware`: other apps in the process keep Connexion's behaviour.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_CONTENT_TYPE = b"content-type"


def normalise(content_type: str) -> str:
    """`APPLICATION/JSON ; charset=utf-8` -> `application/json; charset=utf-8` (parameters as sent)."""
    media_type, semicolon, parameters = content_type.partition(";")
    return media_type.strip().lower() + semicolon + parameters


def normalised_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]] | None:
    """The headers with each Content-Type's media type normalised; None when nothing changes (nearly always)."""
    changed: list[tuple[bytes, bytes]] | None = None
    for i, (name, value) in enumerate(headers):
        if name.lower() != _CONTENT_TYPE:
            continue
        fixed = normalise(value.decode("latin-1")).encode("latin-1")
        if fixed != value:
            changed = changed if changed is not None else list(headers)
            changed[i] = (name, fixed)
    return changed


class NormalisedContentType:
    """Passes each HTTP request on with its Content-Type media type lower-cased and stripped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (headers := normalised_headers(scope["headers"])) is not None:
            scope["headers"] = headers  # in place: the error handlers above read this request too
        await self.app(scope, receive, send)
