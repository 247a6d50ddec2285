"""How webhook requests leave the process. One shared client, created in the app's lifespan.

Two senders, chosen by PAYMOCK_HTTP_CLIENT: `http11` (http11.py: asyncio + httptools, its own
keep-alive pool), the default, and `httpx`, the alternative. Webhook sending is a measurable share of
the server's CPU per payment, so the default is the one measured cheapest (bench/senders.py; figures
in bench/README.md, "Outbound client"). An `aiohttp` sender was removed: aiohttp loops over 1xx
answers inside its response parser with no public bound, so an endless `100 Continue` held an
attempt past its deadline (issue 14; bench/README.md, "Hostile receivers").

Every sender reads a bounded amount of a receiver's answer (limits.py) and gives an attempt one
deadline, whatever the receiver sends (tests/hostile/ attacks each one): a body is read up to MAX_BODY
and its connection dropped past it. Headers: http11 applies all of limits.py itself; httpx (h11 under
httpcore) refuses a head over 100 KiB on its own. httpx does not let its caller count 1xx responses:
it reads them until the attempt's deadline (asyncio.timeout below, which does end it), a CPU-bound
wait under an endless `100 Continue` stream (bench/README.md, "Hostile receivers"); hence http11 is
the sender for receivers nobody vouches for.
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol

from ..domain.payments import callback_host
from ..settings import HTTP_CLIENTS
from .limits import MAX_BODY

USER_AGENT = "paymock-webhooks/1"


@dataclass(slots=True)
class SendResult:
    status: int | None
    error: str | None
    latency_ms: float
    retry_after_s: float | None = None
    # Http11Sender.request only (the audit): what it asked to keep of the body, and why nothing came
    body: bytes = b""
    connect_failed: bool = False  # nothing listens there, or the request could not be made
    timed_out: bool = False


class Sender(Protocol):
    async def send(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> SendResult: ...

    async def close(self) -> None: ...


# Retry-After as a receiver may send it: delta-seconds (RFC 9110: digits; a fraction tolerated) or an
# HTTP date. Anything else (1e400, -5, inf, nan, 0x10) is refused: the schedule's delay applies.
_DELTA_SECONDS = re.compile(r"[0-9]{1,32}(?:\.[0-9]{1,9})?")
_MAX_DATE_CHARS = 64  # an HTTP date is 29 characters; a longer value is not one


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as finite, non-negative seconds: delta-seconds or an HTTP date; None if neither.

    Not clamped here: how long a receiver may postpone the next attempt is the retry rule's to say
    (domain/retry.py); this only refuses what is not a number of seconds at all."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)  # at most 32 digits: finite
    if len(value) > _MAX_DATE_CHARS:
        return None
    try:
        seconds = parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


class HttpxSender:
    def __init__(self, max_connections: int = 256, ssl_context: ssl.SSLContext | None = None) -> None:
        import httpx

        self._httpx = httpx
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            verify=ssl_context if ssl_context is not None else True,
        )

    async def send(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> SendResult:
        httpx = self._httpx
        started = time.perf_counter()
        try:
            # httpx's timeout is per read: a receiver trickling bytes (or 100 Continues) would never
            # reach it. The deadline bounds the whole attempt; the stream reads the body in pieces.
            async with (
                asyncio.timeout(timeout_s),
                self._client.stream("POST", url, content=body, headers=headers, timeout=timeout_s) as response,
            ):
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > MAX_BODY:
                        break  # leaving the stream unread closes its connection
                retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
                return SendResult(response.status_code, None, _elapsed_ms(started), retry_after)
        except (httpx.TimeoutException, TimeoutError):
            return SendResult(None, f"timed out after {timeout_s:g} s", _elapsed_ms(started))
        except httpx.ConnectError as exc:
            return SendResult(None, f"cannot connect: {exc}", _elapsed_ms(started))
        except (httpx.HTTPError, ValueError, OSError) as exc:
            return SendResult(None, f"{type(exc).__name__}: {exc}", _elapsed_ms(started))

    async def close(self) -> None:
        await self._client.aclose()


class AllowlistSender:
    """Only sends to the listed hosts (PAYMOCK_CALLBACK_HOSTS); keeps fuzzed URLs on loopback."""

    def __init__(self, inner: Sender, hosts: frozenset[str]) -> None:
        self._inner = inner
        self._hosts = hosts

    async def send(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> SendResult:
        host = callback_host(url)  # the rule create applies first (domain.payments.check_callback_host)
        if host not in self._hosts:
            return SendResult(None, f"host {host!r} is not in PAYMOCK_CALLBACK_HOSTS; not sent", 0.0)
        return await self._inner.send(url, body, headers, timeout_s)

    async def close(self) -> None:
        await self._inner.close()


def make_sender(kind: str, hosts: frozenset[str], max_connections: int = 256) -> Sender:
    sender: Sender
    if kind == "http11":
        from .http11 import Http11Sender  # imported here: each client costs only when chosen

        sender = Http11Sender(max_connections)
    elif kind == "httpx":
        sender = HttpxSender(max_connections)
    else:
        raise ValueError(f"unknown HTTP client {kind!r}: expected one of {', '.join(HTTP_CLIENTS)}")
    return AllowlistSender(sender, hosts) if hosts else sender
