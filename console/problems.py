"""How the console words a failed call: one readable line, and the problem's named errors under it.

A call fails in one of two ways: the server answered with a problem (`PaymockError`), or nothing
answered (httpx's own errors: refused, timed out). Pages show either as a message, never a traceback.
"""

from __future__ import annotations

import httpx

from paymock import PaymockError

FAILED = (PaymockError, httpx.HTTPError)


def unreachable(exc: Exception) -> bool:
    """No answer at all: the next calls will not get one either."""
    return isinstance(exc, httpx.HTTPError)


def message(exc: Exception, base_url: str) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"No answer from {base_url} within the timeout ({type(exc).__name__})."
    if isinstance(exc, httpx.HTTPError):
        return f"Cannot reach the paymock server at {base_url}: {exc}"
    if not isinstance(exc, PaymockError):
        return str(exc)
    detail = exc.detail
    if exc.status_code == 401:
        hint = "the server requires a bearer token; set it on the Settings page"
        detail = f"{detail} ({hint})" if detail else hint
    # the status and the problem's own words; the request line PaymockError starts with is for test logs
    return f"{exc.status_code} {exc.title}" + (f": {detail}" if detail else "")


def named_errors(exc: Exception) -> list[str]:
    return exc.errors if isinstance(exc, PaymockError) else []
