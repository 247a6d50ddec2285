"""The request's URL, query and headers checked against the documented caps before anything parses them.

First after Connexion's exception middleware, so a refusal is the usual problem+json and comes before
routing, auth and Connexion's query parsing (which looks each parameter up with a scan of all of
them: 12,000 parameters took 2.9 s). Every check here is one pass over what the server already
holds. The head's total size is capped earlier still, while it arrives (`http_protocol`); it is
checked here too, for servers that run the app without that protocol.

A request's body is read here too, before anything else sees it, against two caps: it must arrive
within `MAX_BODY_SECONDS` (408, connection closed) and all bodies held at once, across requests, stay
under `MAX_BUFFERED_BODY_BYTES` (503 with Retry-After, connection closed). Without them, 600 clients
each sending a Content-Length of 1 MB and then nothing held 194 MB and stalled `/healthz` 5.8 s, for
as long as they liked. The body then goes to the app in one message; a body over `MAX_BODY_BYTES` is
not read (the validator answers its 413 from Content-Length, or from the part read when chunked).

Redirects (Starlette's trailing-slash one, the mount's `/api/v2` -> `/api/v2/`) leave with a
relative `Location`: Starlette builds an absolute one from the request's `Host` header, which a
client chooses. They come before auth, as routing does; they say only which path of the published
specs was meant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from connexion.exceptions import BadRequestProblem, ProblemException
from connexion.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.limits import (
    BUFFERED_BODY_RETRY_AFTER_S,
    MAX_BODY_BYTES,
    MAX_BODY_SECONDS,
    MAX_BUFFERED_BODY_BYTES,
    MAX_HEAD_BYTES,
    MAX_HEADER_LINE_BYTES,
    MAX_HEADERS,
    MAX_LISTED,
    MAX_QUERY_PARAMETERS,
    MAX_URL_BYTES,
    listed,
)
from ..domain.quoting import short


class HeadersTooLarge(ProblemException):
    def __init__(self, detail: str) -> None:
        super().__init__(status=431, title="Request Header Fields Too Large", detail=detail + "; nothing was done")


def check_head(scope: Scope) -> None:
    """Raise a 414, 431 or 400 problem if the request's head is past a cap."""
    query = scope.get("query_string", b"")
    url_bytes = len(scope.get("raw_path") or scope["path"].encode("utf-8")) + (len(query) + 1 if query else 0)
    if url_bytes > MAX_URL_BYTES:
        detail = f"the request's URL is {url_bytes:,} bytes; paymock takes at most {MAX_URL_BYTES:,}; nothing was done"
        raise ProblemException(status=414, title="URI Too Long", detail=detail)
    headers = scope["headers"]
    if len(headers) > MAX_HEADERS:
        raise HeadersTooLarge(f"the request has {len(headers):,} headers; paymock takes at most {MAX_HEADERS}")
    total = 0
    for name, value in headers:
        size = len(name) + len(value)
        if size > MAX_HEADER_LINE_BYTES:
            raise HeadersTooLarge(
                f"header {short(name.decode('latin-1'))} is {size:,} bytes; paymock takes at most "
                f"{MAX_HEADER_LINE_BYTES:,} per header"
            )
        total += size + 4  # `: ` and the line break, as sent
    if total > MAX_HEAD_BYTES:
        raise HeadersTooLarge(f"the request's headers are {total:,} bytes; paymock takes at most {MAX_HEAD_BYTES:,}")
    if query and query.count(b"&") >= MAX_QUERY_PARAMETERS:  # a cheap bound first: most queries have a few
        parts = [part for part in query.split(b"&") if part]
        if len(parts) > MAX_QUERY_PARAMETERS:
            names = [short(unquote_plus(part.split(b"=", 1)[0].decode("latin-1"))) for part in parts[:MAX_LISTED]]
            raise BadRequestProblem(
                detail=f"the query has {len(parts):,} parameters; paymock takes at most {MAX_QUERY_PARAMETERS} "
                f"(no operation declares more than a few): {listed(names, total=len(parts))}"
            )


def relative(location: bytes) -> bytes:
    """`http://any-host/mock/v1/health?x` -> `/mock/v1/health?x`; `//evil` paths collapse to one slash."""
    parts = urlsplit(location.decode("latin-1"))
    path = "/" + parts.path.lstrip("/")  # `//host/...` would be another host's URL
    return urlunsplit(("", "", path, parts.query, parts.fragment)).encode("latin-1")


def relative_locations(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k, relative(v)) if k.lower() == b"location" else (k, v) for k, v in headers]


def _closing(status: int, title: str, detail: str, **headers: str) -> ProblemException:
    # `Connection: close`: uvicorn closes the connection once this is sent, so the unread rest of the
    # body (and what uvicorn buffered of it) goes with it
    return ProblemException(status=status, title=title, detail=detail, headers={"Connection": "close", **headers})


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body we should read: a Content-Length over 0 and within the
    body cap, or chunked framing."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.isdigit() and 0 < int(value) <= MAX_BODY_BYTES
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return True
    return False


class RequestLimits:
    """One per app: `buffered` counts the body bytes its requests hold at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.buffered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        check_head(scope)

        async def send_relative(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message = {**message, "headers": relative_locations(message.get("headers", []))}
            await send(message)

        if not has_body(scope):
            await self.app(scope, receive, send_relative)
            return
        held = 0  # this request's share of self.buffered, given back when it is answered
        try:
            chunks: list[bytes] = []
            try:
                async with asyncio.timeout(MAX_BODY_SECONDS):
                    more = True
                    while more:
                        message = await receive()
                        if message["type"] != "http.request":  # the client went away: nobody to answer
                            return
                        chunk, more = message.get("body", b""), message.get("more_body", False)
                        if self.buffered + len(chunk) > MAX_BUFFERED_BODY_BYTES:
                            raise _closing(
                                503,
                                "Service Unavailable",
                                f"request bodies being read take {MAX_BUFFERED_BODY_BYTES:,} bytes, the most "
                                "paymock holds at once; retry shortly; nothing was done",
                                **{"Retry-After": str(BUFFERED_BODY_RETRY_AFTER_S)},
                            )
                        self.buffered += len(chunk)
                        held += len(chunk)
                        chunks.append(chunk)
                        if held > MAX_BODY_BYTES:  # chunked and over the cap: the validator says 413
                            break
            except TimeoutError:
                raise _closing(
                    408,
                    "Request Timeout",
                    f"the request body did not arrive within {MAX_BODY_SECONDS:g} s; nothing was done",
                ) from None
            await self.app(scope, _replay(b"".join(chunks), receive), send_relative)
        finally:
            self.buffered -= held


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read, in one message; then the connection's own channel (a disconnect, in the end)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def placed(middlewares: list[Any]) -> list[Any]:
    """`middlewares` (Connexion's stack) with RequestLimits right after the exception middleware."""
    at = middlewares.index(ExceptionMiddleware) + 1
    return [*middlewares[:at], RequestLimits, *middlewares[at:]]
