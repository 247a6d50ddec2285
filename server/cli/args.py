"""Command-line arguments whose defaults come from environment variables (`.env` files, containers)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable


def env_default(var: str, default: object) -> str:
    """The variable's value, or the default when it is absent *or empty*: `.env.example` promises that an
    empty value means the default (an empty PAYMOCK_HOST must not become "all interfaces")."""
    return os.environ.get(var) or str(default)


def port(var: str | None = None) -> Callable[[str], int]:
    """An argparse type for a TCP port that names the variable too: a bad value may come from either.

    argparse converts string defaults with the type only when the flag is absent, and after --help, so a
    bad variable is a one-line usage error of the command that reads it, never a traceback."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = -1
        if not 1 <= number <= 65535:
            source = f" (the flag or {var})" if var else ""
            raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535{source}, got {value!r}")
        return number

    parse.__name__ = "port"
    return parse


def count(var: str, most: int) -> Callable[[str], int]:
    """An argparse type for a whole number from 1 to `most` that names the variable too (as `port`)."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = 0
        if not 1 <= number <= most:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from 1 to {most} (the flag or {var}), got {value!r}"
            )
        return number

    parse.__name__ = "count"
    return parse


def add_port(parser: argparse.ArgumentParser, var: str, default: int, what: str = "port") -> None:
    """`--port`, defaulting to `var` (or `default`), checked by `port`."""
    parser.add_argument(
        "--port", type=port(var), default=env_default(var, default), help=f"{what} ({var}, default {default})"
    )


def secret_or_exit(command: str, flag: str | None, action: str) -> str | None:
    """The signing secret by the one rule (settings.resolve_secret), warning on stderr when it fell back to
    the development one; None after printing why a given secret is refused (the caller exits 2).
    `action` ends the warning's first clause, e.g. "webhooks are signed"."""
    from ..settings import SettingsError, resolve_secret, unset_secret_warning

    try:
        secret, chosen = resolve_secret(flag)
    except SettingsError as exc:
        print(f"paymock {command}: {exc}", file=sys.stderr)
        return None
    if not chosen:
        print(f"paymock {command}: {unset_secret_warning(action)}", file=sys.stderr, flush=True)
    return secret
