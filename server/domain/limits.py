"""The documented caps on what one request may make paymock do: each number is defined here, once.

Beyond a cap a request is refused with a 4xx problem and nothing changes, so every request costs
time roughly linear in its size and a bounded amount of memory (README, "Security notes"). The
HTTP caps are enforced before any parsing whose cost grows faster than its input (uvicorn's header
parser, Connexion's query parsing); the array caps of the control API's bodies are `maxItems` in
openapi/control.yaml, checked before anything looks at an array's items.
"""

from __future__ import annotations

from collections.abc import Sequence

# A request body (either API): larger is a 413. No request of either API comes near it.
MAX_BODY_BYTES = 1 << 20
# A request body must have arrived in full this long after its head: a client that sends a
# Content-Length and then stalls is answered 408 and its connection closed, not waited for.
MAX_BODY_SECONDS = 10.0
# Request body bytes all requests together may hold at once (read, or being read, and not yet answered);
# past it a body is refused with a 503 and Retry-After. 32 bodies at MAX_BODY_BYTES; real ones are ~1 KB.
MAX_BUFFERED_BODY_BYTES = 32 << 20
# Retry-After (seconds) on that 503: bodies held are answered, or cut off, within MAX_BODY_SECONDS.
BUFFERED_BODY_RETRY_AFTER_S = 2
# The request line and every header together; cut off while they arrive (431, or 414 for the URL).
MAX_HEAD_BYTES = 32 * 1024
# One header, name and value.
MAX_HEADER_LINE_BYTES = 8 * 1024
MAX_HEADERS = 100
# The request target: path and query string, as sent (percent-encoded).
MAX_URL_BYTES = 8 * 1024
# Requests one connection may have waiting behind the one being answered (HTTP/1.1 pipelining): past
# it the connection is closed. Clients in use do not pipeline; uvicorn queued every one (~2.4 KB each).
MAX_PIPELINED = 64
# `a=1&b=2` is two; no operation declares more than eight.
MAX_QUERY_PARAMETERS = 64
# Run-time scenarios (PUT /mock/v1/scenarios/{name}) one server keeps; scenario files do not count.
MAX_RUNTIME_SCENARIOS = 1000
# Live sessions (POST /mock/v1/sessions) one server keeps: past it a 429 until one ends or expires.
MAX_SESSIONS = 256
# order_ids and user_ids one session claims (each list; the contract's maxItems).
MAX_SESSION_CLAIM_IDS = 100
# Run-time scenarios one session keeps (the global session keeps MAX_RUNTIME_SCENARIOS).
MAX_SESSION_SCENARIOS = 100
# An error names at most this many items (errors, scenario names, parameters), then says how many.
MAX_LISTED = 20


def first(items: Sequence[str]) -> list[str]:
    """The items an error lists: the first MAX_LISTED."""
    return list(items[:MAX_LISTED])


def listed(items: Sequence[str], separator: str = ", ", total: int | None = None) -> str:
    """`a, b, c` or, past MAX_LISTED, `a, b, ... and 1,234 more`: a message stays short whatever it lists.
    `total`: how many there are, when `items` holds only the first of them."""
    shown = items[:MAX_LISTED]
    more = (len(items) if total is None else total) - len(shown)
    return f"{separator.join(shown)}{separator}and {more:,} more" if more > 0 else separator.join(shown)
