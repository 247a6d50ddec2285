"""The webhook senders against real loopback servers: the same behaviour tests for both.

Each test starts its own HTTP/1.1 server on 127.0.0.1 (asyncio streams, scripted per test) in the
test's event loop, so it can answer oddly: slowly, never, chunked, huge, or by closing. Tests that
need a property only the built-in sender promises (stale-connection retry, body cap, strict
header checks) run on `http11` alone and say so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from paymock.delivery.http11 import MAX_BODY, Http11Sender
from paymock.delivery.senders import (
    USER_AGENT,
    AllowlistSender,
    HttpxSender,
    Sender,
    SendResult,
    make_sender,
)
from paymock.settings import Settings, SettingsError
from paymock.testing.process import free_port
from paymock.testing.receiver import WebhookReceiver

KINDS = ("http11", "httpx")
# The server runs uvloop (uvicorn[standard]), the tests' default is the stdlib loop: http11, whose
# Protocol talks to the loop directly, runs on both.
SENDER_PARAMS = ("http11", "http11@uvloop", "httpx")
BODY = b'{"event":"payment.completed","tx_id":"tx-1"}'
HEADERS = {"Content-Type": "application/json", "webhook-id": "dlv_1", "X-Payment-Event": "payment.completed"}
TEST_DEADLINE_S = 15.0  # every scenario is bounded, whatever a sender does


def make(kind: str, max_connections: int = 16, ssl_context: ssl.SSLContext | None = None) -> Sender:
    if kind.startswith("http11"):
        return Http11Sender(max_connections, ssl_context)
    return HttpxSender(max_connections, ssl_context)


LOOP_FACTORY: Callable[[], asyncio.AbstractEventLoop] | None = None  # None: the stdlib loop; fixtures set uvloop


def run(scenario: Coroutine[Any, Any, None]) -> None:
    with asyncio.Runner(loop_factory=LOOP_FACTORY) as runner:
        runner.run(asyncio.wait_for(scenario, TEST_DEADLINE_S))


def response(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    conn: int  # which connection (0, 1, ...)
    index: int  # which request on that connection
    writer: asyncio.StreamWriter


# respond(seen) -> bytes to write (keep the connection), or None to close without answering
Responder = Callable[[Seen], Awaitable[bytes | None]]


async def ok(_seen: Seen) -> bytes | None:
    return response(200)


@dataclass
class LoopbackServer:
    respond: Responder = ok
    idle_close_s: float | None = None  # close a connection idle this long (keep-alive timeout)
    ssl_context: ssl.SSLContext | None = None
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    active: int = 0
    max_active: int = 0
    closed: int = 0  # connections this server has closed (idle, refused, or the client hung up)

    async def __aenter__(self) -> LoopbackServer:
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = asyncio.Condition()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    def url(self, path: str = "/webhook") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self.connections
        self.connections += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self._writers.add(writer)
        try:
            for index in range(10_000):  # bounded: far more requests than any test sends on one connection
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.idle_close_s)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
                method, path, _ = request_line.split(" ")
                headers = {}
                for line in header_lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(method, path, headers, body, conn, index, writer)
                self.requests.append(seen)
                answer = await self.respond(seen)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.active -= 1
            self._writers.discard(writer)
            writer.close()
            async with self._closing:
                self.closed += 1
                self._closing.notify_all()

    async def wait_closed_connections(self, count: int) -> None:
        """Until this server has closed `count` connections (bounded by the scenario's deadline)."""
        async with self._closing:
            await self._closing.wait_for(lambda: self.closed >= count)


async def send(sender: Sender, url: str, timeout_s: float = 2.0, **kwargs: Any) -> SendResult:
    return await sender.send(url, kwargs.get("body", BODY), kwargs.get("headers", HEADERS), timeout_s)


async def send_once(kind: str, respond: Any) -> tuple[SendResult, LoopbackServer]:
    """One send through a fresh sender to a fresh server answering with `respond`."""
    async with LoopbackServer(respond) as server:
        sender = make(kind)
        try:
            result = await send(sender, server.url())
        finally:
            await sender.close()
    return result, server


def use_loop(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if name == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        monkeypatch.setattr(sys.modules[__name__], "LOOP_FACTORY", uvloop.new_event_loop)


@pytest.fixture(params=SENDER_PARAMS)
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    use_loop(request.param.partition("@")[2], monkeypatch)
    return request.param


@pytest.fixture(params=["asyncio", "uvloop"])
def http11_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    use_loop(request.param, monkeypatch)
    return request.param


# statuses and what goes out


@pytest.mark.parametrize("status", [200, 202, 204, 400, 410, 500, 503])
def test_status_is_reported(kind: str, status: int) -> None:
    async def scenario() -> None:
        async def respond(_seen: Seen) -> bytes:
            return response(status, body=b"" if status == 204 else b"some answer")

        async with LoopbackServer(respond) as server:
            sender = make(kind)
            try:
                result = await send(sender, server.url("/hooks/pay?x=1"))
            finally:
                await sender.close()
        assert (result.status, result.error, result.retry_after_s) == (status, None, None)
        assert result.latency_ms > 0
        [seen] = server.requests
        assert (seen.method, seen.path, seen.body) == ("POST", "/hooks/pay?x=1", BODY)
        assert seen.headers["host"] == f"127.0.0.1:{server.port}"
        assert seen.headers["content-length"] == str(len(BODY))
        assert seen.headers["user-agent"] == USER_AGENT
        assert seen.headers["webhook-id"] == "dlv_1"
        assert seen.headers["content-type"] == "application/json"

    run(scenario())


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", (7.0, 7.0)), ("0", (0.0, 0.0)), ("soon", None), ("date+30", (27.0, 30.0)), ("date-30", (0.0, 0.0))],
)
def test_retry_after_seconds_and_http_date(kind: str, header: str, expected: tuple[float, float] | None) -> None:
    if header.startswith("date"):
        header = formatdate(time.time() + int(header[4:]), usegmt=True)

    async def scenario() -> None:
        async def respond(_seen: Seen) -> bytes:
            return response(503, {"Retry-After": header})

        result, _server = await send_once(kind, respond)
        assert result.status == 503
        if expected is None:
            assert result.retry_after_s is None
        else:
            assert result.retry_after_s is not None
            assert expected[0] <= result.retry_after_s <= expected[1]

    run(scenario())


# connections


def test_keep_alive_reuses_connections(kind: str) -> None:
    async def scenario() -> None:
        async with LoopbackServer() as server:
            sender = make(kind, max_connections=8)
            try:
                for _ in range(40):  # sequential: one connection does it all
                    assert (await send(sender, server.url())).status == 200
                sequential = server.connections
                results = await asyncio.gather(*(send(sender, server.url()) for _ in range(200)))
            finally:
                await sender.close()
        assert [r.status for r in results] == [200] * 200
        assert sequential == 1
        assert server.connections <= 8  # 200 concurrent sends, never more connections than the limit
        assert len(server.requests) == 240

    run(scenario())


def test_concurrency_is_bounded_by_max_connections(kind: str) -> None:
    async def scenario() -> None:
        async def slow(_seen: Seen) -> bytes:
            await asyncio.sleep(0.05)
            return response(200)

        async with LoopbackServer(slow) as server:
            sender = make(kind, max_connections=3)
            try:
                results = await asyncio.gather(*(send(sender, server.url(), timeout_s=5.0) for _ in range(15)))
            finally:
                await sender.close()
        assert [r.status for r in results] == [200] * 15  # waited for a free connection, none failed
        assert server.max_active <= 3
        assert server.connections <= 3

    run(scenario())


def test_server_closing_idle_connections_is_recovered(kind: str) -> None:
    async def scenario() -> None:
        async with LoopbackServer(idle_close_s=0.05) as server:
            sender = make(kind)
            try:
                first = await send(sender, server.url())
                await server.wait_closed_connections(1)  # the server closed the pooled connection, idle
                # ...a while ago: the sender's side has read the close too (a close racing the reuse is another
                # case: http11 and httpx then send again on a new connection)
                await asyncio.sleep(0.2)
                second = await send(sender, server.url())
            finally:
                await sender.close()
        assert (first.status, second.status) == (200, 200)
        assert second.error is None
        assert server.connections == 2

    run(scenario())


@pytest.mark.usefixtures("http11_loop")
def test_http11_retries_once_when_a_reused_connection_was_closed_unanswered() -> None:
    """The keep-alive race: the server's close crosses our request on a pooled connection.

    http11 only: httpx does not retry a POST here (they report the disconnect), and the
    dispatcher's retry schedule covers them. Nothing of the response arrived, so resending is safe.
    """

    async def scenario() -> None:
        async def first_only(seen: Seen) -> bytes | None:
            return response(200) if seen.index == 0 else None  # later requests: close unanswered

        async with LoopbackServer(first_only) as server:
            sender = make("http11")
            try:
                first = await send(sender, server.url())
                second = await send(sender, server.url())
            finally:
                await sender.close()
        assert (first.status, second.status, second.error) == (200, 200, None)
        assert [(s.conn, s.index) for s in server.requests] == [(0, 0), (0, 1), (1, 0)]

    run(scenario())


def test_fresh_connection_closed_before_a_response_is_an_error_not_retried(kind: str) -> None:
    async def scenario() -> None:
        async def close(_seen: Seen) -> bytes | None:
            return None

        result, server = await send_once(kind, close)
        assert result.status is None
        assert result.error
        if kind.startswith("http11"):
            assert result.error.startswith("connection closed before a response")
        assert len(server.requests) == 1  # a fresh connection: no resend

    run(scenario())


def test_connection_refused(kind: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> None:
        sender = make(kind)
        try:
            result = await send(sender, f"http://127.0.0.1:{port}/webhook")
        finally:
            await sender.close()
        assert result.status is None
        assert result.error is not None
        assert result.error.startswith("cannot connect: ")

    run(scenario())


def test_timeout_on_a_server_that_never_answers(kind: str) -> None:
    async def scenario() -> None:
        async def never(_seen: Seen) -> bytes | None:
            await asyncio.sleep(5)  # bounded; the server is closed long before
            return None

        async with LoopbackServer(never) as server:
            sender = make(kind)
            try:
                started = time.perf_counter()
                result = await send(sender, server.url(), timeout_s=0.3)
                elapsed = time.perf_counter() - started
                # the timed-out connection is not reused: the next send works
                server.respond = ok
                after = await send(sender, server.url())
            finally:
                await sender.close()
        assert (result.status, result.error) == (None, "timed out after 0.3 s")
        assert 0.25 < elapsed < 1.5
        assert after.status == 200

    run(scenario())


# response framing


def test_chunked_response_body_then_reuse(kind: str) -> None:
    async def scenario() -> None:
        async def chunked(seen: Seen) -> bytes | None:
            seen.writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nRetry-After: 3\r\n\r\n")
            for part in (b"hello ", b"chunked ", b"world" * 1000):  # written in pieces, with pauses
                seen.writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await seen.writer.drain()
                await asyncio.sleep(0.01)
            return b"0\r\n\r\n"

        async with LoopbackServer(chunked) as server:
            sender = make(kind)
            try:
                results = [await send(sender, server.url()) for _ in range(3)]
            finally:
                await sender.close()
        assert [(r.status, r.retry_after_s) for r in results] == [(200, 3.0)] * 3
        assert server.connections == 1

    run(scenario())


def test_body_until_close_and_connection_close(kind: str) -> None:
    async def scenario() -> None:
        async def old_style(seen: Seen) -> bytes | None:
            if seen.index == 0 and seen.conn == 0:  # no length: the body ends with the connection
                seen.writer.write(b"HTTP/1.1 201 Created\r\nConnection: close\r\n\r\nall of it")
                return None
            return response(202, {"Connection": "close"})  # framed, but the server says close

        async with LoopbackServer(old_style) as server:
            sender = make(kind)
            try:
                results = [await send(sender, server.url()) for _ in range(3)]
            finally:
                await sender.close()
        assert [(r.status, r.error) for r in results] == [(201, None), (202, None), (202, None)]
        assert server.connections == 3

    run(scenario())


def test_interim_100_continue_is_skipped(kind: str) -> None:
    async def scenario() -> None:
        async def interim(_seen: Seen) -> bytes:
            return b"HTTP/1.1 100 Continue\r\n\r\n" + response(200)

        async with LoopbackServer(interim) as server:
            sender = make(kind)
            try:
                results = [await send(sender, server.url()) for _ in range(2)]
            finally:
                await sender.close()
        assert [r.status for r in results] == [200, 200]

    run(scenario())


def test_garbage_response_is_an_error(kind: str) -> None:
    async def scenario() -> None:
        async def garbage(_seen: Seen) -> bytes:
            return b"SMTP ready\r\n\r\n"

        result, _server = await send_once(kind, garbage)
        assert result.status is None
        assert result.error
        if kind.startswith("http11"):
            assert result.error.startswith("invalid HTTP response")

    run(scenario())


@pytest.mark.usefixtures("http11_loop")
def test_http11_caps_a_huge_response_body() -> None:
    """http11 only: httpx reads whatever the receiver sends (it buffers the whole body)."""
    total = 64 * MAX_BODY

    async def scenario() -> None:
        sent = 0

        async def huge(seen: Seen) -> bytes | None:
            nonlocal sent
            seen.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
            chunk = b"x" * 65536
            while sent < total:  # bounded by total
                seen.writer.write(chunk)
                await seen.writer.drain()  # raises once the client closed
                sent += len(chunk)
            return b""

        async with LoopbackServer(huge) as server:
            sender = make("http11")
            try:
                result = await send(sender, server.url(), timeout_s=5.0)
                await server.wait_closed_connections(1)  # the server saw the capped connection closed
                again = await send(sender, server.url(), timeout_s=5.0)
            finally:
                await sender.close()
        assert (result.status, result.error) == (200, None)
        assert again.status == 200
        assert sent < total // 2  # stopped reading early (kernel buffers hold a few MiB at most)
        assert server.connections == 2  # the capped connection was closed, not reused

    run(scenario())


# request checks


@pytest.mark.usefixtures("http11_loop")
def test_http11_rejects_header_injection_and_bad_urls() -> None:
    async def scenario() -> None:
        async with LoopbackServer() as server:
            sender = make("http11")
            try:
                injected = await send(sender, server.url(), headers={"X-Evil": "a\r\nX-Other: b"})
                scheme = await send(sender, "ftp://127.0.0.1/x")
                no_host = await send(sender, "http:///x")
                spaces = await send(sender, server.url("/a path/ü"))
            finally:
                await sender.close()
        assert injected.status is None and injected.error is not None
        assert injected.error.startswith("invalid request: header 'X-Evil'")
        assert scheme.error == "invalid request: unsupported URL scheme 'ftp'"
        assert no_host.error is not None and no_host.error.startswith("invalid request: no host")
        assert spaces.status == 200
        assert [s.path for s in server.requests] == ["/a%20path/%C3%BC"]  # escaped, never a broken request line

    run(scenario())


def test_many_sends_to_the_threaded_webhook_receiver(kind: str) -> None:
    receiver = WebhookReceiver(secret="s")
    try:

        async def scenario() -> None:
            sender = make(kind, max_connections=4)
            try:
                results = await asyncio.gather(*(send(sender, receiver.url()) for _ in range(60)))
            finally:
                await sender.close()
            assert [r.status for r in results] == [200] * 60

        run(scenario())
        assert len(receiver.wait_for(60, timeout=5)) == 60
    finally:
        receiver.close()


# https: a throwaway self-signed certificate from the openssl command line (no Python dependency)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def test_https_with_a_trusted_certificate_and_keep_alive(kind: str, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))

    async def scenario() -> None:
        async with LoopbackServer(ssl_context=server_context) as server:
            sender = make(kind, ssl_context=client_context)
            try:
                results = [await send(sender, server.url()) for _ in range(5)]
            finally:
                await sender.close()
        assert [(r.status, r.error) for r in results] == [(200, None)] * 5
        assert server.connections == 1

    run(scenario())


def test_https_with_an_untrusted_certificate_cannot_connect(kind: str, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)

    async def scenario() -> None:
        async with LoopbackServer(ssl_context=server_context) as server:
            sender = make(kind)  # the default context: system CAs, which do not know this certificate
            try:
                result = await send(sender, server.url())
            finally:
                await sender.close()
        assert result.status is None
        assert result.error is not None
        assert result.error.startswith("cannot connect: ")
        assert "CERTIFICATE_VERIFY_FAILED" in result.error or "certificate verify failed" in result.error
        assert server.requests == []

    run(scenario())


# choosing the sender


def test_settings_default_and_choices() -> None:
    assert Settings().http_client == "http11"
    assert Settings.from_env({}).http_client == "http11"
    assert Settings.from_env({"PAYMOCK_HTTP_CLIENT": "HTTPX"}).http_client == "httpx"
    with pytest.raises(SettingsError, match="PAYMOCK_HTTP_CLIENT='curl': expected http11 or httpx"):
        Settings.from_env({"PAYMOCK_HTTP_CLIENT": "curl"})
    with pytest.raises(SettingsError, match="expected http11 or httpx"):
        Settings(http_client="curl")  # built directly, as the pytest plugin and embedders do


AIOHTTP_REMOVED = "the aiohttp sender was removed because aiohttp offers no way to bound how many 1xx answers"


@pytest.mark.parametrize("value", ["aiohttp", "AIOHTTP"])
def test_choosing_the_removed_aiohttp_sender_is_a_settings_error_naming_the_choices(value: str) -> None:
    for build in (lambda: Settings.from_env({"PAYMOCK_HTTP_CLIENT": value}), lambda: Settings(http_client="aiohttp")):
        with pytest.raises(SettingsError) as info:
            build()
        message = str(info.value)
        assert message.startswith("PAYMOCK_HTTP_CLIENT='aiohttp': expected http11 (the default) or httpx; "), message
        assert AIOHTTP_REMOVED in message and "100 Continue" in message


def test_serve_with_the_removed_aiohttp_sender_stops_at_start_with_exit_2() -> None:
    # the real command in a fresh interpreter: refused before the app is built or a port is bound
    code = f"import sys\nfrom paymock.cli.main import main\nsys.exit(main(['serve', '--port', '{free_port()}']))\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMOCK_")}
    env["PAYMOCK_HTTP_CLIENT"] = "aiohttp"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.startswith("paymock: PAYMOCK_HTTP_CLIENT='aiohttp': expected http11 (the default) or httpx"), (
        done.stderr
    )
    assert AIOHTTP_REMOVED in done.stderr
    assert "Traceback" not in done.stderr


def test_make_sender_builds_each_kind() -> None:
    async def scenario() -> None:
        made = {kind: make_sender(kind, frozenset()) for kind in KINDS}
        allowlisted = make_sender("http11", frozenset({"127.0.0.1"}))
        try:
            assert isinstance(made["http11"], Http11Sender)
            assert isinstance(made["httpx"], HttpxSender)
            assert isinstance(allowlisted, AllowlistSender)
            refused = await allowlisted.send("http://example.com/x", BODY, HEADERS, 1.0)
            assert refused.status is None and "not in PAYMOCK_CALLBACK_HOSTS" in (refused.error or "")
        finally:
            for sender in [*made.values(), allowlisted]:
                await sender.close()
        with pytest.raises(ValueError, match="unknown HTTP client"):
            make_sender("curl", frozenset())

    run(scenario())
