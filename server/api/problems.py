"""Every error leaves as application/problem+json (RFC 7807) with a detail that says what was wrong.

Request validation (which raises Connexion's 400 problems) lives in `validation`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connexion.exceptions import ProblemException, Unauthorized
from connexion.lifecycle import ConnexionRequest, ConnexionResponse

from ..domain.errors import (
    BadRequest,
    Busy,
    Conflict,
    DomainError,
    Forbidden,
    InjectedFailure,
    InvalidScenario,
    NeverReached,
    NotFound,
    ScenarioNotFound,
    TooMany,
    UnknownScenario,
    WaitTimeout,
)
from ..domain.limits import MAX_LISTED, first
from ..domain.quoting import short
from ..domain.sessions import SessionNotFound
from ..store import pg_url

log = logging.getLogger("paymock.api")

PROBLEM = "application/problem+json"
# a problem type a client can tell apart from any other 404 (a payment of another session is a plain 404)
SESSION_NOT_FOUND = "https://paymock.dev/problems/session-not-found"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def problem(status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> ConnexionResponse:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail, **extra}
    return ConnexionResponse(
        status_code=status, content_type=PROBLEM, mimetype=PROBLEM, body=json.dumps(body), headers=headers or {}
    )


def listing_fields(name: str, items: list[str]) -> dict[str, Any]:
    """A problem's list field: the first MAX_LISTED items, and `<name>_total` when it holds fewer than all."""
    fields: dict[str, Any] = {name: first(items)}
    if len(items) > MAX_LISTED:
        fields[f"{name}_total"] = len(items)
    return fields


def domain_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, DomainError)
    if isinstance(exc, InjectedFailure):
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
        return problem(exc.status, exc.detail, headers=headers, title="Injected " + TITLES.get(exc.status, "Error"))
    if isinstance(exc, UnknownScenario | ScenarioNotFound):
        # 404 (the scenario named does not exist), not 422: the request is well-formed, and whether a
        # name exists is state a schema cannot list (scenarios are created at run time)
        return problem(404, exc.detail, **listing_fields("known_scenarios", exc.known))
    if isinstance(exc, InvalidScenario):
        return problem(400, exc.detail, **listing_fields("errors", exc.errors))
    if isinstance(exc, SessionNotFound):
        return problem(404, exc.detail, type=SESSION_NOT_FOUND)
    if isinstance(exc, NeverReached | WaitTimeout):
        return problem(409, exc.detail, state=exc.state)
    if isinstance(exc, Busy):
        return problem(429, exc.detail, headers={"Retry-After": str(exc.retry_after_s)})
    statuses = {NotFound: 404, Forbidden: 403, Conflict: 409, BadRequest: 400, TooMany: 429}
    status = statuses.get(type(exc), 400)
    return problem(status, exc.detail)


def undecodable_body(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return problem(400, f"request body is not valid UTF-8 JSON: {exc}")


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class Routes:
    """Which methods each path of the specs (and the few routes outside them) accepts.

    Starlette answers a 405 with the methods of the first route that matched the path only, and
    Connexion registers one route per operation, so its `Allow` header is incomplete; this table
    gives the whole list, and lets 404 and 405 problems say what exists.
    """

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], str, list[str]]] = []

    def add(self, path: str, methods: Iterable[str]) -> None:
        pattern = re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "/?")  # whole path: fullmatch
        allowed = {m.upper() for m in methods}
        if "GET" in allowed:
            allowed.add("HEAD")  # Starlette answers HEAD wherever GET is routed
        self._routes.append((pattern, path, sorted(allowed)))

    def add_spec(self, spec: Mapping[str, Any]) -> None:
        base = spec.get("servers", [{}])[0].get("url", "").rstrip("/")
        for path, item in spec.get("paths", {}).items():
            self.add(base + path, [m for m in item if m in HTTP_METHODS])
        self.add(base + "/openapi.json", ["GET"])

    def allowed(self, path: str) -> tuple[str, list[str]] | None:
        for pattern, template, methods in self._routes:
            if pattern.fullmatch(path):  # not `$`, which also matches before a trailing line break
                return template, methods
        return None


def line_broken_parameter(template: str, path: str) -> tuple[str, str] | None:
    """(parameter, value) of the first path parameter of `template` whose value in `path` holds a line break."""
    for part, value in zip(template.split("/"), path.split("/"), strict=False):
        if part.startswith("{") and part.endswith("}") and "\n" in value:
            return part[1:-1], value
    return None


def route_not_found(routes: Routes) -> Callable[[ConnexionRequest, Exception], ConnexionResponse]:
    def handler(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        if isinstance(exc, ProblemException):  # a 404 of ours (an id that cannot exist): it says why itself
            return problem(404, str(exc.detail))
        # the decoded path: `request.url` drops line breaks, as urllib.parse.urlsplit does
        path = request.scope["path"]
        # Starlette's mounts match `.*`, which stops at a line break: a path parameter holding one
        # (e.g. %0A) lands here although the path is one of ours. It is bad input, not a missing route.
        found = routes.allowed(path) if "\n" in path else None
        broken = line_broken_parameter(found[0], path) if found else None
        if found and broken:
            template, methods = found
            if request.method not in methods and not (request.method == "HEAD" and "GET" in methods):
                allow = ", ".join(methods)
                return problem(
                    405, f"{request.method} is not allowed on {template}; allowed: {allow}", headers={"Allow": allow}
                )
            name, value = broken
            return problem(
                400,
                f"path parameter '{name}' of {template} is not valid: {short(value)} holds a line break",
            )
        return problem(
            404,
            f"no operation at {request.method} {path[:200] if path.isprintable() else short(path)}: "
            "the provider API lives under /api/v2, "
            "the control API under /mock/v1 (see /docs)",
        )

    return handler


def method_not_allowed(routes: Routes) -> Callable[[ConnexionRequest, Exception], ConnexionResponse]:
    def handler(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        found = routes.allowed(request.url.path)
        if found is None:  # a route outside the table: keep what Starlette said
            allow = (getattr(exc, "headers", None) or {}).get("Allow", "")
            template = request.url.path
        else:
            template, methods = found
            allow = ", ".join(methods)
        return problem(
            405,
            f"{request.method} is not allowed on {template}; allowed: {allow or 'none'}",
            headers={"Allow": allow},
        )

    return handler


def unauthorized(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Connexion's 401, with the `WWW-Authenticate` challenge RFC 9110 requires on every 401; its
    `error` (RFC 6750 3.1) from what the request sent, not from the wording of Connexion's message."""
    assert isinstance(exc, Unauthorized)
    challenge = 'Bearer realm="paymock"'
    sent = request.headers.get("authorization")
    if sent is not None:
        scheme, _, token = sent.strip().partition(" ")
        bearer = scheme.lower() == "bearer" and token.strip()
        challenge += ', error="invalid_token"' if bearer else ', error="invalid_request"'
    return problem(401, str(exc.detail), headers={"WWW-Authenticate": challenge})


# sqlite's result codes for a file damaged inside (a page overwritten, a truncated copy): checked at
# start (store/sqlite.py), but a file damaged while serving is only found when a query reaches it
_DAMAGED = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def store_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """sqlite3.DatabaseError: a file another program holds locked is a 503 to retry (the request's
    transaction was rolled back); a damaged file is a 503 that names the damage (retrying will not
    help, but the server is not at fault: its data is); anything else is unexpected. By code, not wording."""
    reason = str(exc)
    code = getattr(exc, "sqlite_errorname", None) or ""
    if code in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        log.warning("store busy: %s", reason)
        detail = f"the store is busy ({reason}: another program holds the sqlite file); retry the request"
        return problem(503, detail, headers={"Retry-After": "1"})
    if code.startswith(_DAMAGED):  # extended codes too: SQLITE_CORRUPT_INDEX, ...
        log.error("store damaged: %s (%s)", reason, code)
        detail = f"the store's sqlite file is damaged ({reason}); restore it from a copy or start on a new file"
        return problem(503, detail)
    return unexpected(request, exc)


# A database lost or too slow: the client may retry after this long (the pool reconnects in the background)
DATABASE_RETRY_AFTER_S = 2


# SQLSTATE query_canceled: the statement ran past PAYMOCK_PG_STATEMENT_TIMEOUT (by code, not wording)
_QUERY_CANCELED = "57014"


def database_error(store_url: str) -> Callable[[ConnexionRequest, Exception], ConnexionResponse]:
    """The handler for psycopg.OperationalError (and the pool's PoolTimeout, a subclass): the database
    cannot be reached, went away mid-call, or a statement ran past its timeout. The call's transaction,
    if any, did not commit: a 503 to retry. The client gets a fixed detail: the driver's message names the
    database's host and port, which are no business of an API client; the server log keeps it (scrubbed
    of the URL's password, should a driver ever quote it)."""

    def handler(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        reason = pg_url.scrub(" ".join(str(exc).split())[:300], store_url) or type(exc).__name__
        log.warning("store database unavailable: %s", reason)
        if getattr(exc, "sqlstate", None) == _QUERY_CANCELED:
            what = "the store's database was too slow: the statement ran past its timeout"
        else:
            what = "the store's database is unavailable: unreachable, or too slow to hand out a connection"
        detail = f"{what}; retry the request after Retry-After seconds"
        return problem(503, detail, headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})

    return handler


def unstorable_value(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """psycopg.DataError: a value of the request no PostgreSQL column holds, though the contract lets it
    through (a NUL character in a text or a JSON document). The statement failed, its transaction rolled
    back: nothing was stored. The driver's words without its context lines, which quote stored data."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).split("\n", 1)[0]
    said = "; ".join(part for part in (primary, getattr(diag, "message_detail", None)) if part)
    log.info("a request value PostgreSQL cannot store: %s", said)
    return problem(400, f"a value of the request is one PostgreSQL cannot hold ({said[:300]}); nothing was changed")


def unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.exception("unexpected error", exc_info=exc)
    return problem(500, "unexpected server error; see the server log")
