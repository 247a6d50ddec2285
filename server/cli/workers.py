"""`paymock serve --workers N`: N server processes on one port, for a store that processes can share.

The parent binds the listening socket once and starts N `paymock serve --fd FD` children that inherit
it; each runs its own uvicorn Server on that socket (`Server.run(sockets=[...])`, the public way a
process manager hands uvicorn a socket), and the kernel hands each new connection to one of them.
Each child is a process of its own (its own pid, so its own lease owner in the store), with the
settings the parent resolved, passed through the environment as `paymock serve` always does.

Not uvicorn's `--workers`: it needs the app as an import string (our `create_app(settings)` and the
pre-flight checks of `paymock serve` would run in each child without the parent seeing a failure) and
its supervisor restarts a dead worker on its own.

When a child ends while nobody asked it to (it could not start: database unreachable; or it died: a
bug, the OOM killer), the parent stops the others and exits non-zero with that child's status. It
never restarts anything itself: a server with fewer processes than asked for would look healthy and
serve a load test at part of its capacity, and a crash hidden by a restart is never looked at. The
container runtime or supervisor restarts the whole server (`restart: unless-stopped` in compose,
a Deployment in Kubernetes); with a shared store nothing answered is lost, and another process
delivers the dead one's due webhooks once their leases expire.

SIGTERM/SIGINT to the parent: each child gets SIGTERM (never a second SIGINT: Ctrl-C in a terminal
already reached the whole process group, and uvicorn takes a second SIGINT as "force exit"), finishes
what it is doing within its graceful-shutdown timeout, and the parent exits 0 if all of them did.
If the parent itself is SIGKILLed, its children keep serving on the socket until they are stopped;
in a container they go with it (the container ends with its first process).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import subprocess
import sys
import time

from ..store import pg_url  # no psycopg: the URL's scheme only

STOP_TIMEOUT_S = 15.0  # a child's graceful shutdown (5 s) plus its lifespan's, with room
POLL_S = 0.1
BACKLOG = 2048  # uvicorn's default
STARTUP_FAILURE = 3  # what uvicorn (and so `paymock serve`) exits with when it cannot listen

log = logging.getLogger("paymock.workers")


def refusal(store: str) -> str | None:
    """Why several processes cannot serve `store` (a PAYMOCK_STORE value); None when they can.
    Decided by the store's scheme: the parent opens nothing, each child opens the store itself."""
    if pg_url.is_postgres(store):
        return None
    if store == "memory":
        return (
            "the memory store lives inside one process: with several, each would have its own payments, and a "
            "payment created through one would be unknown to the others (its confirm a 404, its webhooks retried "
            "by one only). Use a postgresql://... store for several processes, or serve one"
        )
    if store.startswith("sqlite:"):
        return (
            "a sqlite store belongs to one process: the first holds the file's exclusive lock and the others "
            "would be refused at start. Use a postgresql://... store for several processes, or serve one"
        )
    return "only a postgresql://... store can be shared by several processes"


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound once for all children; connections queue in its backlog until one of
    them accepts, so none is refused while the children start."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)  # SO_REUSEADDR, as uvicorn
    sock.set_inheritable(True)
    return sock


def inherited(fd: int) -> socket.socket:
    """The listening socket a parent (this module's, or a process manager) passed as `fd`; ValueError
    saying why when it is not one."""
    try:
        sock = socket.socket(fileno=fd)  # family and type read from the descriptor itself
    except OSError as exc:
        raise ValueError(f"--fd {fd}: not an open socket ({exc.strerror or exc})") from None
    accepting = getattr(socket, "SO_ACCEPTCONN", None)
    if sock.type != socket.SOCK_STREAM or (accepting and not sock.getsockopt(socket.SOL_SOCKET, accepting)):
        sock.detach()  # not ours to close
        raise ValueError(f"--fd {fd}: not a listening TCP or Unix stream socket")
    return sock


def _child_command(fd: int) -> list[str]:
    # the flags that are settings already went into the environment the children inherit
    return [sys.executable, "-m", "paymock.cli", "serve", "--fd", str(fd), "--workers", "1"]


def _terminate(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signal.SIGTERM)


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            _terminate(child)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker %d did not stop within %.0f s: killed", child.pid, STOP_TIMEOUT_S)
            child.kill()
            child.wait()


def serve(host: str, port: int, count: int) -> int:
    """Run `count` server processes on host:port until a signal (exit 0) or until one ends (its status)."""
    try:
        sock = listen(host, port)
    except OSError as exc:
        print(f"paymock: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return STARTUP_FAILURE
    stopping = False

    def forward(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                _terminate(child)

    children: list[subprocess.Popen[bytes]] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    try:
        fd = sock.fileno()
        for _ in range(count):
            if stopping:
                break
            children.append(subprocess.Popen(_child_command(fd), pass_fds=(fd,)))
    finally:
        sock.close()  # the children hold it now; the port is free again once the last one exits
    bound = f"[{host}]" if ":" in host else host
    log.info(
        "serving http://%s:%d with %d worker processes (pids %s)",
        bound, port, len(children), ", ".join(str(c.pid) for c in children),
    )  # fmt: skip
    ended: subprocess.Popen[bytes] | None = None
    while not stopping and ended is None:
        ended = next((c for c in children if c.poll() is not None), None)
        if ended is None:
            time.sleep(POLL_S)
    if ended is not None and not stopping:
        log.error(
            "worker %d exited with status %s: stopping the others (nothing is restarted here; "
            "restart the whole server)",
            ended.pid, ended.returncode,
        )  # fmt: skip
    _stop_all(children)
    if ended is not None and not stopping:
        return _failure_status(ended.returncode)
    # asked to stop: a success unless a child reported a failure of its own
    return max((c.returncode for c in children if c.returncode > 0), default=0)


def _failure_status(returncode: int) -> int:
    """A child's end as the parent's non-zero status: its own status, or 128+N for a death by signal N
    (as a shell reports it); 1 when it exited 0 without being asked to stop."""
    if returncode < 0:
        return 128 - returncode
    return returncode or 1
