"""paymock served from a background thread of the current process (the pytest plugin uses it).

uvicorn runs in its own thread with its own event loop; the listening socket is bound here first, so
the port is known before the thread starts and no other process can take it in between.
"""

from __future__ import annotations

import socket
import threading
import time
import warnings
from typing import Any

import uvicorn

from ..settings import Settings


class EmbeddedServer:
    """Start with `start()` (blocks until it serves), stop with `stop()`; also a context manager."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self.base_url = f"http://{self.host}:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.ready_after: float | None = None

    def start(self, timeout: float = 30.0) -> EmbeddedServer:
        # imported late (connexion is slow to import); its import-time deprecation warnings are about
        # connexion's own dependencies, nothing a test suite using paymock can act on
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from ..app import create_app

        started = time.monotonic()
        from ..api.http_protocol import LimitedHttpToolsProtocol

        config = uvicorn.Config(
            create_app(self.settings),
            http=LimitedHttpToolsProtocol,  # uvicorn's, with the request head capped as it arrives
            log_config=None,  # keep the host process's logging as it is
            access_log=self.settings.access_log,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        # uvicorn only installs signal handlers on the main thread, so this thread leaves them alone
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="paymock-embedded", daemon=True
        )
        self._thread.start()
        deadline = started + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("paymock stopped while starting; see the log output above")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"paymock not serving after {timeout} s")
            time.sleep(0.005)
        self.ready_after = time.monotonic() - started
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()
