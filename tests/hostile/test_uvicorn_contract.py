"""What server/api/http_protocol.py relies on in uvicorn's non-public HttpToolsProtocol, checked by name.

The subclass is the one place paymock leans on a dependency's internals (uvicorn has no public way to cap
a request head with httptools, or to answer its own refusals as problem+json). pyproject.toml pins uvicorn
to the range it was tested with; if an upgrade renames or drops any of these, this fails and says what,
rather than the server silently serving without its head caps.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from typing import Any

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from paymock.api.http_protocol import LimitedHttpToolsProtocol

OVERRIDDEN = ("data_received", "on_url", "on_headers_complete", "on_message_complete", "send_400_response")
READ = ("pipeline", "transport")  # attributes the subclass reads: the pipelined-request queue, the connection
CONSTRUCTOR = ("config", "server_state", "app_state", "_loop")


def _broken(what: str) -> str:
    return (
        f"uvicorn {uvicorn.__version__}: HttpToolsProtocol {what}. paymock.api.http_protocol subclasses it to cap "
        "request heads; adapt LimitedHttpToolsProtocol to this uvicorn, then move the pin in pyproject.toml"
    )


def test_uvicorns_httptools_protocol_still_has_the_methods_our_subclass_overrides() -> None:
    missing = [name for name in OVERRIDDEN if not callable(getattr(HttpToolsProtocol, name, None))]
    assert not missing, _broken(f"has no {', '.join(missing)}")
    params = list(inspect.signature(HttpToolsProtocol.__init__).parameters)[1:]
    assert params[: len(CONSTRUCTOR)] == list(CONSTRUCTOR), _broken(f"is now built with {params}")


def test_a_connected_protocol_has_the_attributes_our_subclass_reads() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:  # never called: no request is sent
        raise AssertionError("no request was sent")

    async def connect() -> tuple[LimitedHttpToolsProtocol, asyncio.BaseTransport]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        theirs.close()
        protocol = LimitedHttpToolsProtocol(Config(app=app), ServerState(), {}, loop)
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, ours)
        try:
            for name in READ:
                assert hasattr(protocol, name), _broken(f"instances have no {name!r} once connected")
            assert protocol.transport is transport, _broken("keeps its transport elsewhere than .transport")
            assert len(protocol.pipeline) == 0, _broken("has a .pipeline that is not a queue")
        finally:
            transport.close()
        return protocol, transport

    asyncio.run(connect())
