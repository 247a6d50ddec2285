"""The `paymock` command: serve and console (here), listen, trigger, audit and all (added by their modules)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from ..domain.errors import InvalidScenario
from ..settings import PostgresSettings, Settings, SettingsError
from ..store import pg_url
from .args import add_port, count, env_default

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9002
DEFAULT_CONSOLE_PORT = 8501
DEFAULT_API_URL = "http://localhost:9002"
MAX_WORKERS = 64  # a process each: far past what one database carries (docs/scaling.md)


def _serve(args: argparse.Namespace) -> int:
    from .. import logs
    from . import gc_tuning

    # Flags become the environment the app reads, so `uvicorn paymock.app:app` behaves the same.
    for flag, var in (
        ("scenarios", "PAYMOCK_SCENARIOS"),
        ("store", "PAYMOCK_STORE"),
        ("time_scale", "PAYMOCK_TIME_SCALE"),
        ("log_level", "LOG_LEVEL"),
        ("log_format", "LOG_FORMAT"),
    ):
        value = getattr(args, flag)
        if value is not None:
            os.environ[var] = str(value)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"paymock: {exc}", file=sys.stderr)
        return 2
    if args.workers > 1:
        return _serve_workers(args, settings)
    sockets = None
    if args.fd is not None:
        from .workers import inherited

        try:
            sockets = [inherited(args.fd)]
        except ValueError as exc:
            print(f"paymock: {exc}", file=sys.stderr)
            return 2
    problem = _store_problem(settings)
    if problem:
        print(f"paymock: {problem}", file=sys.stderr)  # one line; a database's password masked
        return 2
    if settings.gc_tuned:
        gc_tuning.pause()
    try:
        logs.configure(settings.log_level, settings.log_format)
        # imported after logging is set up: import-time warnings of dependencies become log lines
        # (JSON with LOG_FORMAT=json) instead of raw stderr text
        from ..app import create_app

        app = create_app(settings)
    except (SettingsError, InvalidScenario) as exc:
        gc_tuning.resume()  # an in-process caller (tests, embedders) keeps a working collector
        print(f"paymock: {exc}", file=sys.stderr)
        return 2
    except BaseException:
        gc_tuning.resume()
        raise
    from uvicorn import Config, Server

    if settings.gc_tuned:
        gc_tuning.tune()
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal it caught; with the
    # default handlers the process would die by that signal (exit 143 / a KeyboardInterrupt traceback).
    # A requested, completed shutdown is a success: exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_after_shutdown)
    from ..api.http_protocol import LimitedHttpToolsProtocol

    server = Server(
        Config(
            app,
            http=LimitedHttpToolsProtocol,  # uvicorn's, with the request head capped as it arrives
            host=args.host,  # unused with an inherited socket (--fd)
            port=args.port,
            log_config=None,
            access_log=settings.access_log,
            timeout_graceful_shutdown=5,
            lifespan="on",
            ws="none",  # no WebSocket routes; "auto" would import the websockets package (~15 ms of start-up)
        )
    )
    # a port taken or a failed lifespan: uvicorn logs why and exits 3 (STARTUP_FAILURE) itself
    server.run(sockets=sockets)
    # as uvicorn.run ends: any other way of never starting (a signal before startup) is that failure too
    return 0 if server.started else 3


def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """`--workers N`: N processes on one port (cli/workers.py), for a store they can share; the others
    are refused before anything is bound or opened."""
    from . import workers

    if args.fd is not None:
        print("paymock: --fd is one process's socket; --workers binds its own (give one of them)", file=sys.stderr)
        return 2
    problem = workers.refusal(settings.store)
    if problem:
        shown = pg_url.shown(settings.store)
        print(f"paymock: --workers {args.workers} with PAYMOCK_STORE={shown}: {problem}", file=sys.stderr)
        return 2
    problem = _store_problem(settings)  # here once, rather than once per process
    if problem:
        print(f"paymock: {problem}", file=sys.stderr)
        return 2
    from .. import logs

    logs.configure(settings.log_level, settings.log_format)
    return workers.serve(args.host, args.port, args.workers)


def _store_problem(settings: Settings) -> str | None:
    """Why the store cannot be opened, found before serving: the app opens it in its lifespan, where a
    failure is a uvicorn traceback. Opened once and closed, so nothing else holds it. One line, naming
    the store (a database URL with its password masked)."""
    spec = settings.store
    if pg_url.is_postgres(spec):
        return _postgres_problem(spec, settings.postgres)
    if not spec.startswith("sqlite:"):
        return None
    import sqlite3

    from ..store.sqlite import SqliteStore, StoreError

    try:
        SqliteStore(spec[len("sqlite:") :]).close_now()
    except StoreError as exc:
        return f"PAYMOCK_STORE={spec}: {exc}"
    except (sqlite3.Error, OSError) as exc:
        return f"PAYMOCK_STORE={spec}: cannot open it as a store ({exc})"
    return None


def _postgres_problem(url: str, postgres: PostgresSettings) -> str | None:
    """Connects, brings the schema up to date (or finds it from a newer paymock), and disconnects."""
    import asyncio

    try:
        import psycopg

        from ..store.postgres import PostgresStore, StoreError
    except ImportError:
        return f"PAYMOCK_STORE={pg_url.masked(url)}: {pg_url.MISSING_DRIVER}"

    async def open_and_close() -> None:
        store = await PostgresStore(url, settings=postgres).open()
        await store.close()

    try:
        asyncio.run(open_and_close())
    except StoreError as exc:
        return str(exc)
    except (psycopg.Error, OSError) as exc:
        # what open() does not word itself: the pool not filled in time (PoolTimeout, e.g. the database's
        # connections taken between the schema check and the pool's first one), a connection lost meanwhile
        reason = pg_url.scrub(" ".join(str(exc).split()), url) or type(exc).__name__
        return f"cannot connect to PostgreSQL at {pg_url.masked(url)}: {reason}"
    return None


def _exit_after_shutdown(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _console(args: argparse.Namespace) -> int:
    """`streamlit run` on the installed console; it reaches the server over HTTP only (PAYMOCK_API_URL)."""
    import importlib.util
    import subprocess

    spec = importlib.util.find_spec("paymock_console")
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec("streamlit") is None:
        print(
            "paymock: the console needs the extra: pip install '.[console]' (in a checkout of paymock)",
            file=sys.stderr,
        )
        return 2
    app = os.path.join(next(iter(spec.submodule_search_locations)), "streamlit_app.py")
    command, env = console_command(args, app)
    if os.name == "posix":
        os.execve(sys.executable, command, env)  # become streamlit, so SIGTERM/SIGINT reach it directly
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 130


def console_command(args: argparse.Namespace, app: str) -> tuple[list[str], dict[str, str]]:
    """The `streamlit run` command line and environment that `paymock console` runs `app` with."""
    # the token travels by environment (SERVICE_AUTH_TOKEN, inherited), never on the command line
    env = {**os.environ, "PAYMOCK_API_URL": args.api_url}
    command = [
        sys.executable, "-m", "streamlit", "run", app,
        "--server.port", str(args.port),
        "--server.address", args.address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",  # no "Deploy" button: the console is a local QA tool
    ]  # fmt: skip
    return command, env


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paymock", description="Contract-first mock payment provider.")
    sub = parser.add_subparsers(dest="command", required=True)
    about = "run the mock provider (default 127.0.0.1:9002)"
    serve = sub.add_parser("serve", help=about, description=about + "; flags override the variables named")
    serve.add_argument(
        "--host",
        default=env_default("PAYMOCK_HOST", DEFAULT_HOST),
        help=f"address to listen on (PAYMOCK_HOST, default {DEFAULT_HOST}; 0.0.0.0 in a container)",
    )
    add_port(serve, "PAYMOCK_PORT", DEFAULT_PORT)
    serve.add_argument("--scenarios", help="extra scenario file or directory (PAYMOCK_SCENARIOS)")
    serve.add_argument(
        "--store",
        help="memory (default), sqlite:PATH (one process, durable) or postgresql://USER:PASSWORD@HOST:PORT/DB "
        "(shared by any number of processes; the postgres extra) (PAYMOCK_STORE)",
    )
    serve.add_argument(
        "--workers",
        type=count("PAYMOCK_WORKERS", MAX_WORKERS),
        default=env_default("PAYMOCK_WORKERS", 1),
        help=f"server processes on the one port (PAYMOCK_WORKERS, default 1, at most {MAX_WORKERS}); more than one "
        "needs a store they share (postgresql://...)",
    )
    serve.add_argument(
        "--fd",
        type=int,
        help="serve on this inherited listening socket instead of binding --host/--port (what --workers gives "
        "each process; also for a process manager that binds the socket)",
    )
    serve.add_argument("--time-scale", type=float, help="scale retry schedules and delays (PAYMOCK_TIME_SCALE)")
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING, ... (LOG_LEVEL)")
    serve.add_argument("--log-format", choices=["text", "json"], help="LOG_FORMAT")
    serve.set_defaults(func=_serve)
    about = "run the QA console (Streamlit, default 127.0.0.1:8501)"
    console = sub.add_parser("console", help=about, description=about + "; it talks to the server over HTTP only")
    add_port(console, "PAYMOCK_CONSOLE_PORT", DEFAULT_CONSOLE_PORT)
    console.add_argument(
        "--address",
        default=env_default("PAYMOCK_CONSOLE_ADDRESS", DEFAULT_HOST),
        help=f"address to listen on (PAYMOCK_CONSOLE_ADDRESS, default {DEFAULT_HOST})",
    )
    console.add_argument(
        "--api-url",
        default=env_default("PAYMOCK_API_URL", DEFAULT_API_URL),
        help=f"the paymock server (PAYMOCK_API_URL, default {DEFAULT_API_URL}); the token: SERVICE_AUTH_TOKEN",
    )
    console.set_defaults(func=_console)
    _add_tool_commands(sub)
    return parser


def _add_tool_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """listen, trigger, audit and all: each module owns its arguments (add_arguments) and its behaviour (run)."""
    from . import audit, listen, supervise, trigger

    for name, module, help_text in (
        ("listen", listen, "receive webhooks: verify, print, forward, answer a chosen status"),
        ("trigger", trigger, "send one signed webhook to a URL without creating a payment"),
        ("audit", audit, "grade a webhook endpoint: send good, hostile and malformed webhooks, judge each answer"),
        ("all", supervise, "server (0.0.0.0:9002) and console (0.0.0.0:8502) together: one container"),
    ):
        parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(parser)
        parser.set_defaults(func=module.run)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
