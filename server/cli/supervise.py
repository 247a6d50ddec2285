"""`paymock all`: the server and the console in one container, as the seed's single image ran them.

`docker run -p 9002:9002 -p 8502:8502 IMAGE paymock all`. Two child processes (`paymock serve` and
`paymock console`); SIGTERM/SIGINT are passed to both; when either ends, the other is stopped too, so
the container never runs half of itself. The exit status is the server's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time

from .args import add_port, env_default, port

STOP_TIMEOUT_S = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default=env_default("PAYMOCK_HOST", "0.0.0.0"),
        help="address for both (PAYMOCK_HOST, default 0.0.0.0)",
    )
    add_port(parser, "PAYMOCK_PORT", 9002, what="server port")
    parser.add_argument("--console-port", type=port(), default=8502, help="console port (the seed's 8502)")


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    # each child leads its own process group: `paymock console` runs streamlit as a grandchild
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        _signal(process, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            process.wait()


def run(args: argparse.Namespace) -> int:
    me = [sys.executable, "-m", "paymock.cli"]
    server = subprocess.Popen([*me, "serve", "--host", args.host, "--port", str(args.port)], start_new_session=True)
    console = subprocess.Popen(
        [*me, "console", "--address", args.host, "--port", str(args.console_port)],
        # the console talks to the server beside it, over loopback
        env={**os.environ, "PAYMOCK_API_URL": f"http://127.0.0.1:{args.port}"},
        start_new_session=True,
    )
    children = (server, console)
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                _signal(child, signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    while all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in children:  # one ended (or a signal came): end the other as well
        _stop(child)
    if stopping:  # asked to stop: success unless the server itself reported a failure
        return server.returncode if server.returncode > 0 else 0
    # a child ended on its own: the container failed, whichever half it was
    return server.returncode or console.returncode or 1
