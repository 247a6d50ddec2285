"""uvicorn's httptools protocol with the request head capped while it arrives, and refusals as problems.

uvicorn offers no limit on a request's head with httptools (its `h11_max_incomplete_event_size` is
for h11 only), and httptools joins a header value's pieces with `bytes +=` as they arrive, so one
150 MB header line cost 9 s of event loop and 210 MB: time quadratic in its size. Here the bytes
of a head are counted before the parser sees them, fed in slices, and a head over
`limits.MAX_HEAD_BYTES` is refused (414 for the URL alone, 431 otherwise) before it grows further.
uvicorn's own refusal of a malformed request, plain text, is answered as problem+json too.

Chosen over the alternatives because it is the plainest that covers all of it: uvicorn takes a
protocol class as its public `http=` option, and this one only adds to the parser callbacks
httptools defines (`on_url`, `on_headers_complete`, `on_message_complete`) and the one method
uvicorn answers a malformed request with. A check in the ASGI app (`request_limits`, which caps
URL, header lines and header count for any server) comes too late for this: uvicorn has read and
parsed the whole head before the app is called. `paymock serve` and the embedded server use it;
`uvicorn paymock.app:app --http paymock.api.http_protocol:LimitedHttpToolsProtocol` does too.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..domain.limits import MAX_HEAD_BYTES, MAX_PIPELINED, MAX_URL_BYTES

log = logging.getLogger("paymock.api")

# Bytes handed to the parser at once: the most a head can grow past the cap before it is refused.
SLICE = 16 * 1024


def problem_response(status: int, title: str, detail: str) -> bytes:
    """A complete HTTP/1.1 problem+json answer that closes the connection."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # until a request's headers are complete: what arrives is head
        self._head_bytes = 0
        self._url_bytes = 0

    def data_received(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(view), SLICE):
            piece = view[start : start + SLICE]
            if self._in_head:
                self._head_bytes += len(piece)
            super().data_received(piece)  # type: ignore[arg-type]  # httptools reads any buffer
            if self.transport.is_closing():  # refused (by uvicorn or below), or the client went away
                return
            if self._in_head and self._head_bytes > MAX_HEAD_BYTES:
                self._refuse_head()
                return
            if len(self.pipeline) > MAX_PIPELINED:
                self._drop_pipelined()
                return

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        super().on_url(url)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes, self._url_bytes = True, 0, 0

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to what httptools cannot parse (`msg` is always its generic sentence)
        detail = "the request is not HTTP/1.1 paymock can read (a malformed request line or header); nothing was done"
        self._send_problem(400, "Bad Request", detail)

    def _refuse_head(self) -> None:
        if self._url_bytes > MAX_URL_BYTES:
            detail = f"the request's URL is over {MAX_URL_BYTES:,} bytes, the most paymock reads; nothing was done"
            self._send_problem(414, "URI Too Long", detail)
        else:
            detail = (
                f"the request line and headers are over {MAX_HEAD_BYTES:,} bytes, the most paymock reads; "
                "nothing was done"
            )
            self._send_problem(431, "Request Header Fields Too Large", detail)

    def _drop_pipelined(self) -> None:
        # uvicorn pauses reading when it queues a pipelined request, but parses all it was already given
        # (up to 256 KiB per read: thousands of tiny requests) and reads on after each answer, so one
        # connection that never reads its answers queued millions. Closed without an answer: answers
        # go out in order, and the one in progress is not this refusal's to cut.
        log.warning("closed a connection with over %d pipelined requests waiting", MAX_PIPELINED)
        self.transport.close()

    def _send_problem(self, status: int, title: str, detail: str) -> None:
        log.warning("refused a request before reading it: %s", detail)
        self.transport.write(problem_response(status, title, detail))
        self.transport.close()
