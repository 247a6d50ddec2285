"""Every error leaves as application/problem+json (RFC 7807) with a detail that says what was wrong."""

from __future__ import annotations

import json
import logging
from typing import Any

from connexion.lifecycle import ConnexionRequest, ConnexionResponse

from ..domain.errors import (
    BadRequest,
    Conflict,
    DomainError,
    InjectedFailure,
    InvalidScenario,
    NotFound,
    ScenarioNotFound,
    UnknownScenario,
    WaitTimeout,
)

log = logging.getLogger("paymock.api")

PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    415: "Unsupported Media Type",
    422: "Unknown Scenario",
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


def domain_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, DomainError)
    if isinstance(exc, InjectedFailure):
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
        return problem(exc.status, exc.detail, headers=headers, title="Injected " + TITLES.get(exc.status, "Error"))
    if isinstance(exc, UnknownScenario):
        return problem(422, exc.detail, known_scenarios=exc.known)
    if isinstance(exc, ScenarioNotFound):
        return problem(404, exc.detail, known_scenarios=exc.known)
    if isinstance(exc, InvalidScenario):
        return problem(400, exc.detail, errors=exc.errors)
    status = {NotFound: 404, Conflict: 409, BadRequest: 400, WaitTimeout: 408}.get(type(exc), 400)
    return problem(status, exc.detail)


def undecodable_body(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return problem(400, f"request body is not valid UTF-8 JSON: {exc}")


def unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.exception("unexpected error", exc_info=exc)
    return problem(500, "unexpected server error; see the server log")
