"""The `paymock` command: serve (and console, listen, trigger added by their modules)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .domain.errors import InvalidScenario
from .settings import Settings, SettingsError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9002


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from . import logs
    from .app import create_app

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
        logs.configure(settings.log_level, settings.log_format)
        app = create_app(settings)
    except (SettingsError, InvalidScenario) as exc:
        print(f"paymock: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=settings.access_log,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paymock", description="Contract-first mock payment provider.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the mock provider (default 127.0.0.1:9002)")
    serve.add_argument("--host", default=os.environ.get("PAYMOCK_HOST", DEFAULT_HOST))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PAYMOCK_PORT", DEFAULT_PORT)))
    serve.add_argument("--scenarios", help="extra scenario file or directory (PAYMOCK_SCENARIOS)")
    serve.add_argument("--store", help="memory (default) or sqlite:PATH (PAYMOCK_STORE)")
    serve.add_argument("--time-scale", type=float, help="scale retry schedules and delays (PAYMOCK_TIME_SCALE)")
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING, ... (LOG_LEVEL)")
    serve.add_argument("--log-format", choices=["text", "json"], help="LOG_FORMAT")
    serve.set_defaults(func=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
