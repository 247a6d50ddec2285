"""A hostile webhook receiver: a real socket server on 127.0.0.1 answering in one of the ways a receiver
can hurt the sender that calls it. Used by tests/hostile/test_receiver.py and bench/hostile_receiver.py.

Every mode is bounded: a connection ends when the sender closes it, after `max_s` seconds, or when the
receiver closes; at most `max_connections` are served at once (more are closed unanswered). Modes:

- endless_header: `HTTP/1.1 500 Oops`, then a header line `X-Big: aaaa...` that never ends
- endless_continue: `100 Continue` after `100 Continue`, never a final answer
- retry_after: `503` with `Retry-After: <retry_after>` (1e400, 1e20, ...), keep-alive
- endless_body: `500` with a chunked body that never ends
- half_close: reads the request, then closes its sending side (FIN) and never answers
- redirect_loop: `307` to the very URL that was called, keep-alive
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType

MODES = ("endless_header", "endless_continue", "retry_after", "endless_body", "half_close", "redirect_loop")
_MAX_REQUEST = 1 << 20  # a webhook is a few hundred bytes; a request head past this ends the connection


class HostileReceiver:
    def __init__(
        self,
        mode: str,
        *,
        retry_after: str = "1e400",
        max_s: float = 30.0,
        max_connections: int = 64,
        chunk: int = 64 * 1024,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        self.mode = mode
        self.retry_after = retry_after
        self.max_s = max_s
        self.max_connections = max_connections
        self.chunk = chunk
        self.requests = 0  # webhook requests read
        self.connections = 0
        self.max_open = 0
        self.bytes_sent = 0
        self._open = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._conns: set[socket.socket] = set()
        self._server = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept, name=f"hostile-{mode}", daemon=True)
        self._acceptor.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> HostileReceiver:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(5)
        self._server.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)

    # serving
    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self._open >= self.max_connections:
                    conn.close()
                    continue
                self._open += 1
                self.connections += 1
                self.max_open = max(self.max_open, self._open)
                self._conns.add(conn)
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._threads.add(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + self.max_s
        conn.settimeout(0.2)
        try:
            buffered = b""
            while not self._over(deadline):
                request, buffered = self._read_request(conn, buffered, deadline)
                if request is None:
                    return
                with self._lock:
                    self.requests += 1
                if not self._answer(conn, request, deadline):
                    return
        except OSError:
            pass  # the sender closed or reset the connection: what it is supposed to do
        finally:
            with self._lock:
                self._open -= 1
                self._conns.discard(conn)
                self._threads.discard(threading.current_thread())
            conn.close()

    def _over(self, deadline: float) -> bool:
        return self._stop.is_set() or time.monotonic() > deadline

    def _read_request(self, conn: socket.socket, buffered: bytes, deadline: float) -> tuple[bytes | None, bytes]:
        """One request (head and Content-Length body), and what followed it; None when the sender closed."""
        data = buffered
        while b"\r\n\r\n" not in data:
            if len(data) > _MAX_REQUEST or self._over(deadline):
                return None, b""
            got = self._recv(conn)
            if got == b"":
                return None, b""
            data += got or b""
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            if self._over(deadline):
                return None, b""
            got = self._recv(conn)
            if got == b"":
                return None, b""
            rest += got or b""
        return head, rest[length:]

    @staticmethod
    def _recv(conn: socket.socket) -> bytes | None:
        """Bytes, b"" at the end of the stream, None when nothing came for a while."""
        try:
            return conn.recv(65536)
        except TimeoutError:
            return None

    def _send(self, conn: socket.socket, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = conn.send(view)
            except TimeoutError:
                return  # the sender stopped reading: try again on the next round, if any
            view = view[sent:]
            with self._lock:
                self.bytes_sent += sent

    def _flood(self, conn: socket.socket, data: bytes, deadline: float) -> bool:
        while not self._over(deadline):
            self._send(conn, data)
        return False

    def _answer(self, conn: socket.socket, head: bytes, deadline: float) -> bool:
        """Answer one request; False when the connection is done."""
        mode = self.mode
        if mode == "endless_header":
            self._send(conn, b"HTTP/1.1 500 Oops\r\nX-Big: ")
            return self._flood(conn, b"a" * self.chunk, deadline)
        if mode == "endless_continue":
            line = b"HTTP/1.1 100 Continue\r\n\r\n"
            return self._flood(conn, line * (self.chunk // len(line)), deadline)
        if mode == "endless_body":
            self._send(conn, b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n")
            return self._flood(conn, b"%x\r\n" % self.chunk + b"b" * self.chunk + b"\r\n", deadline)
        if mode == "half_close":
            conn.shutdown(socket.SHUT_WR)
            while not self._over(deadline) and self._recv(conn) != b"":
                pass  # until the sender gives up and closes
            return False
        if mode == "retry_after":
            answer = f"HTTP/1.1 503 x\r\nRetry-After: {self.retry_after}\r\nContent-Length: 0\r\n\r\n"
            self._send(conn, answer.encode("latin-1"))
            return True
        target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")  # redirect_loop: to itself
        location = f"http://127.0.0.1:{self.port}{target}"
        self._send(conn, f"HTTP/1.1 307 Again\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())
        return True
