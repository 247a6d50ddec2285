"""A lean HTTP/1.1 webhook sender: asyncio Protocol + httptools' response parser + a keep-alive pool.

Why its own: a webhook is one small POST whose answer we only need the status (and Retry-After)
of. aiohttp's general-purpose request machinery (the sender before this one, since removed) was ~15%
of the server's CPU per payment in the py-spy profile, and `import aiohttp` ~0.25 s of start-up. This
sender does only what a webhook needs: one pre-built request head per URL, a Protocol that feeds bytes
straight to httptools (already installed with uvicorn[standard]), and the response body read and
discarded. bench/senders.py measures it against httpx; bench/README.md ("Outbound client") has the figures.

Behaviour matches the httpx sender (tests/delivery/test_senders.py runs the same tests on both):
- one pool of at most `max_connections` connections (idle + busy, all hosts); a send waits for a
  free one rather than opening more; an idle connection to another host is closed to make room;
- keep-alive reuse; a pooled connection the server closed while idle is retried once on a fresh
  connection, only when nothing of the response had arrived;
- at most MAX_BODY bytes of a response body are read; past that the connection is closed;
- the answer's head is capped (limits.py: bytes, line, header count, 1xx responses); past a cap the
  attempt fails at once and the connection is closed, so a hostile receiver costs a bounded number of
  bytes, never the whole timeout's worth of input;
- the whole send (waiting for a connection, connecting, TLS, request, response) is bounded by
  `timeout_s`;
- a connection breaks its one reference cycle (it and its parser) when it closes: a failed attempt's
  buffers are freed by reference counting when it ends, not left for the garbage collector.
"""

from __future__ import annotations

import asyncio
import ssl  # asyncio imports it already: no start-up cost
import time
from collections import deque
from urllib.parse import quote, urlsplit

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from .limits import MAX_BODY, MAX_HEAD_BYTES, MAX_HEADER_LINE, MAX_HEADERS, MAX_INTERIM
from .senders import USER_AGENT, SendResult, parse_retry_after

__all__ = ["MAX_BODY", "Http11Sender"]
_TARGET_CACHE_SIZE = 1024  # parsed callback URLs; webhooks go to a handful of URLs
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters quote() must leave alone in a request target: it is already a URL, we only escape
# what cannot go on the request line (controls, space, non-ASCII).
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"

_Key = tuple[str, str, int]  # (scheme, host, port): one pool per origin


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


class _SendError(Exception):
    """A failure with the message SendResult.error carries."""


class _ConnectError(_SendError):
    pass


class _ClosedEarly(_SendError):
    """The connection ended before any byte of the response: safe to retry on a fresh connection."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time (no pipelining)."""

    __slots__ = (
        "body_bytes",
        "closed",
        "done",
        "framed",
        "head_left",
        "headers",
        "idle",
        "in_head",
        "interim",
        "keep",
        "kept",
        "key",
        "parser",
        "pool",
        "received",
        "retry_after",
        "reusable",
        "reused",
        "status",
        "transport",
        "waiter",
    )

    def __init__(self, pool: Http11Sender, key: _Key) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        # the parser holds this connection (its callbacks): a cycle, broken in connection_lost
        self.parser: HttpResponseParser | None = HttpResponseParser(self)
        self.waiter: asyncio.Future[None] | None = None
        self.idle = False  # in the pool's idle list (then the pool owns its slot)
        self.closed = False
        self.reused = False  # taken from the idle list for the current request
        self._begin()

    def _begin(self) -> None:
        self.received = False  # any byte of the current response
        self.done = False
        self.status = 0
        self.retry_after: bytes | None = None
        self.framed = False  # Content-Length or chunked: the body does not end at EOF
        self.body_bytes = 0
        self.reusable = False
        self.in_head = True  # reading a status line and headers (of a 1xx or of the final response)
        self.head_left = MAX_HEAD_BYTES  # for every head of this answer, 1xx included
        self.headers = 0  # in the current head
        self.interim = 0  # 1xx responses so far
        self.keep = 0  # body bytes to keep (the audit); a webhook's body is read and dropped
        self.kept: list[bytes] | None = None

    def exchange(self, data: bytes, keep: int = 0) -> asyncio.Future[None]:
        self._begin()
        if keep:
            self.keep, self.kept = keep, []
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(data)
        return waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _finish(self, error: _SendError | None = None) -> None:
        self.done = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():  # a timed-out send cancelled it already
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for (idle, or after the response): drop the connection
            self.reusable = False
            self.close()
            return
        self.received = True
        parser = self.parser
        assert parser is not None  # None only once the connection is lost: no more data then
        try:
            # A head is fed at most its remaining budget at a time: llhttp buffers an unfinished header
            # line in full, so an endless one must stop at the budget, not at the end of the timeout.
            while self.in_head and not self.done:
                piece, data = data[: self.head_left + 1], data[self.head_left + 1 :]
                self.head_left -= len(piece)  # once the head ends mid-piece, the rest is body: no matter
                parser.feed_data(piece)
                if self.in_head and self.head_left < 0:
                    self._refuse(f"response headers over {MAX_HEAD_BYTES} bytes")
                if not data:
                    return
            if self.done:  # refused, or bytes after a complete answer: nothing more is read from this connection
                self.reusable = False
                self.close()
                return
            parser.feed_data(data)  # a body, or bytes after the answer (on_message_begin drops them)
        except HttpParserUpgrade:
            self._finish(_SendError("invalid HTTP response: unexpected protocol upgrade"))
            self.close()
        except HttpParserError as exc:
            self._finish(_SendError(f"invalid HTTP response: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost settles the waiter

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.parser = None  # the cycle: what it buffered goes now, with the last reference to us
        if self.idle:
            self.pool._lost_idle(self)
        if self.waiter is None:
            return
        if self.status >= 200 and not self.framed:
            self._finish()  # a body delimited by the end of the connection: complete
        elif not self.received:
            detail = f": {exc}" if exc else ""
            self._finish(_ClosedEarly(f"connection closed before a response{detail}"))
        else:
            self._finish(_SendError("connection closed mid-response"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self.done:  # a second response nobody asked for: do not trust this connection again
            self.reusable = False
            self.close()

    def _refuse(self, why: str) -> None:
        """An answer past one of the caps: the attempt fails now, and nothing more is read."""
        if not self.done:
            self._finish(_SendError(f"invalid HTTP response: {why}"))
        self.reusable = False
        self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.done:
            return
        self.headers += 1
        if self.headers > MAX_HEADERS:
            self._refuse(f"more than {MAX_HEADERS} response headers")
            return
        size = len(name)  # compare lengths first: most headers are none of these
        if size + len(value) > MAX_HEADER_LINE:
            self._refuse(f"a response header over {MAX_HEADER_LINE} bytes")
            return
        if size == 11 and name.lower() == b"retry-after":
            self.retry_after = value
        elif (size == 14 and name.lower() == b"content-length") or (
            size == 17 and name.lower() == b"transfer-encoding"
        ):
            self.framed = True

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self.in_head = False
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        if self.done:
            return
        if self.kept is not None:
            self.kept.append(body[: self.keep - self.body_bytes])
        self.body_bytes += len(body)
        if self.body_bytes > (self.keep or MAX_BODY):  # the status is known; stop reading what we would drop
            self._finish()
            self.close()

    def on_message_complete(self) -> None:
        if self.done:
            return
        if self.status < 200:  # 1xx interim response: the real one follows on the same connection
            self.status, self.retry_after, self.framed = 0, None, False
            self.in_head, self.headers = True, 0
            self.interim += 1
            if self.interim > MAX_INTERIM:
                self._refuse(f"more than {MAX_INTERIM} interim (1xx) responses")
            return
        assert self.parser is not None
        self.reusable = self.parser.should_keep_alive()
        self._finish()


class Http11Sender:
    def __init__(self, max_connections: int = 256, ssl_context: ssl.SSLContext | None = None) -> None:
        self._max = max(1, max_connections)
        self._open = 0  # connections open or being opened, idle or busy; never above _max
        self._idle: dict[_Key, list[_Connection]] = {}  # LIFO: the most recently used is the least likely stale
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._targets: dict[str, tuple[_Key, str]] = {}  # url -> (origin, request-line + Host + User-Agent)
        self._ssl = ssl_context  # None: ssl.create_default_context() on the first https URL
        self._closed = False

    async def send(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> SendResult:
        return await self.request("POST", url, body, headers, timeout_s)

    async def request(
        self, method: str, url: str, body: bytes, headers: dict[str, str], timeout_s: float, keep: int = 0
    ) -> SendResult:
        """`send` with another method, and the first `keep` bytes of the answer's body in `.body` (the
        audit reads statuses and an order's state with it: same caps, same deadline). `keep` also ends
        the read: past it the connection is closed."""
        started = time.perf_counter()
        try:
            key, prefix = self._targets.get(url) or self._parse(url)
            if method != "POST":
                prefix = method + prefix[4:]  # the cached head starts `POST `
            data = self._request(prefix, headers, body)
        except ValueError as exc:
            return SendResult(None, f"invalid request: {exc}", _elapsed_ms(started), connect_failed=True)
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(timeout_s):
                conn = await self._checkout(key)
                try:
                    await conn.exchange(data, keep)
                except _ClosedEarly:
                    if not conn.reused:
                        raise
                    # The server closed this idle connection as we reused it (its FIN crossed our
                    # request): nothing was answered, so once more on a fresh connection, same slot.
                    conn.close()
                    conn = None
                    try:
                        conn = await self._connect(key)
                    except BaseException:
                        self._release_slot()
                        raise
                    await conn.exchange(data, keep)
            retry_after = conn.retry_after
            return SendResult(
                conn.status,
                None,
                _elapsed_ms(started),
                parse_retry_after(retry_after.decode("latin-1"), time.time()) if retry_after else None,
                b"".join(conn.kept) if conn.kept else b"",
            )
        except TimeoutError:
            return SendResult(None, f"timed out after {timeout_s:g} s", _elapsed_ms(started), timed_out=True)
        except _ConnectError as exc:
            return SendResult(None, str(exc), _elapsed_ms(started), connect_failed=True)
        except _SendError as exc:
            return SendResult(None, str(exc), _elapsed_ms(started))
        finally:
            if conn is not None:
                self._checkin(conn)

    async def close(self) -> None:
        self._closed = True
        for idle in list(self._idle.values()):
            for conn in list(idle):
                conn.close()  # connection_lost releases the slot

    # request
    def _parse(self, url: str) -> tuple[_Key, str]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"unsupported URL scheme {parts.scheme!r}")
        host = parts.hostname
        if not host:
            raise ValueError(f"no host in {url!r}")
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        port = parts.port or _DEFAULT_PORTS[scheme]  # .port raises ValueError when out of range
        target = quote(parts.path or "/", safe=_TARGET_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_TARGET_SAFE)
        host_header = f"[{host}]" if ":" in host else host  # IPv6 literal
        if port != _DEFAULT_PORTS[scheme]:
            host_header += f":{port}"
        entry = ((scheme, host, port), f"POST {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n")
        if len(self._targets) >= _TARGET_CACHE_SIZE:
            self._targets.clear()  # bounded; callback URLs are few, so this is rare
        self._targets[url] = entry
        return entry

    @staticmethod
    def _request(prefix: str, headers: dict[str, str], body: bytes) -> bytes:
        lines = [prefix]
        for name, value in headers.items():
            lowered = name.lower()
            if lowered in ("host", "content-length", "user-agent", "transfer-encoding", "connection"):
                continue  # ours: framing and identity are not the caller's to set
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ValueError(f"header {name!r} contains a line break or colon")
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        return "".join(lines).encode("latin-1") + body  # one write, one segment for small webhooks

    # pool
    async def _checkout(self, key: _Key) -> _Connection:
        first_wait = True
        while True:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                conn.idle = False
                if conn.closed or conn.transport is None or conn.transport.is_closing():
                    conn.close()
                    self._open -= 1  # no wake-up: this task takes the slot back below if it can
                    continue
                conn.reused = True
                return conn
            if self._open < self._max:
                self._open += 1
                try:
                    return await self._connect(key)
                except BaseException:
                    self._release_slot()
                    raise
            if self._evict_idle():
                continue
            waiter = asyncio.get_running_loop().create_future()
            # A task woken but beaten to the slot goes back to the front, not behind newcomers.
            if first_wait:
                self._waiters.append(waiter)
            else:
                self._waiters.appendleft(waiter)
            first_wait = False
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # we were handed a slot but are leaving (timeout): pass it on
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise

    async def _connect(self, key: _Key) -> _Connection:
        """Open a connection in a slot the caller already holds."""
        scheme, host, port = key
        context: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        try:
            _, conn = await asyncio.get_running_loop().create_connection(
                lambda: _Connection(self, key), host, port, ssl=context, server_hostname=host if context else None
            )
        # refused, unreachable, DNS, TLS handshake and certificate errors; ValueError: a host name the
        # resolver cannot encode (UnicodeError: an empty label, one over 63 characters)
        except (OSError, ValueError) as exc:
            raise _ConnectError(f"cannot connect: {exc}") from None
        return conn

    def _checkin(self, conn: _Connection) -> None:
        conn.reused = False
        if conn.reusable and conn.done and not conn.closed and not self._closed:
            conn.idle = True
            self._idle.setdefault(conn.key, []).append(conn)
            self._wake()
            return
        conn.close()
        self._release_slot()

    def _lost_idle(self, conn: _Connection) -> None:
        """An idle connection closed (by the server, or by close()): give its slot back."""
        conn.idle = False
        idle = self._idle.get(conn.key)
        if idle is not None and conn in idle:
            idle.remove(conn)
            self._release_slot()

    def _evict_idle(self) -> bool:
        """At the limit: close an idle connection (necessarily to another origin) to free a slot."""
        for idle in self._idle.values():
            if idle:
                conn = idle.pop(0)  # the oldest
                conn.idle = False
                conn.close()
                self._open -= 1
                return True
        return False

    def _release_slot(self) -> None:
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
