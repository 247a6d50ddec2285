"""Configuration from environment variables (the seed's names kept), with embedded defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .domain.webhooks import standard_key
from .store import pg_url

DEV_SECRET = "paymock-dev-secret-change-me"
TIME_SCALE_RANGE = (1e-6, 1000.0)
WEBHOOK_TIMEOUT_RANGE = (0.01, 300.0)
MAX_IN_FLIGHT_RANGE = (1, 10_000)
PG_POOL_TIMEOUT_RANGE = (0.1, 600.0)
PG_STATEMENT_TIMEOUT_RANGE = (0.1, 3600.0)
PG_POOL_MAX_RANGE = (1, 1000)
HTTP_CLIENTS = ("http11", "httpx")  # PAYMOCK_HTTP_CLIENT values (delivery/senders.py); the first is the default


class SettingsError(ValueError):
    """A variable has a value paymock cannot use; the message names it."""


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={raw!r}: expected a number from {low:g} to {high:g}")
    return value


def _check_ranges(*checks: tuple[str, float, tuple[float, float]]) -> None:
    """Settings built directly (the pytest plugin, embedders) keep the ranges from_env reads them in."""
    for name, value, (low, high) in checks:
        if not low <= value <= high:
            raise SettingsError(f"{name}={value!r}: expected a number from {low:g} to {high:g}")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r}: expected true or false")


def host_set(raw: str) -> frozenset[str]:
    """`127.0.0.1, localhost` -> {"127.0.0.1", "localhost"}: a comma-separated host allowlist."""
    return frozenset(h.strip().lower() for h in raw.split(",") if h.strip())


def check_token(token: str | None, name: str = "SERVICE_AUTH_TOKEN") -> None:
    """A bearer token an HTTP header carries as is (the server's, and the one `paymock audit` sends)."""
    if token is not None and not all("!" <= c <= "~" for c in token):
        # not said back: it is a credential. A header carries it as Latin-1 at best; clients send UTF-8.
        raise SettingsError(
            f"{name}: expected visible ASCII characters only (no spaces, no accented letters), "
            "which every HTTP client sends the same way"
        )


def _check_secret(secret: str) -> None:
    """A `whsec_` secret must decode (Standard Webhooks keys are base64); found at start, not per webhook."""
    if not secret.startswith("whsec_"):
        return
    try:
        key = standard_key(secret)
    except ValueError:  # binascii.Error; the secret itself is not said back
        key = b""
    if not key:
        raise SettingsError(
            "PAYMENT_WEBHOOK_SECRET starts with whsec_, so the rest must be the base64 of the signing key, "
            "and it is not; use a plain secret without the prefix, or the whsec_ secret your receiver has"
        )


def _check_http_client(client: str) -> None:
    if client == "aiohttp":  # the value a deployment from before its removal may still set
        raise SettingsError(
            "PAYMOCK_HTTP_CLIENT='aiohttp': expected http11 (the default) or httpx; the aiohttp sender was "
            "removed because aiohttp offers no way to bound how many 1xx answers it reads, so a receiver "
            "sending endless `100 Continue`s held an attempt past its timeout"
        )
    if client not in HTTP_CLIENTS:
        raise SettingsError(f"PAYMOCK_HTTP_CLIENT={client!r}: expected {' or '.join(HTTP_CLIENTS)}")


def resolve_secret(flag: str | None = None, env: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The one rule of `serve`, `listen` and `trigger`: (secret, chosen).

    A non-empty `--secret`, else a non-empty PAYMENT_WEBHOOK_SECRET, else the development secret
    (chosen=False: the caller warns with `unset_secret_warning`). Empty counts as not given: the docs'
    `--secret "$PAYMENT_WEBHOOK_SECRET"` with the variable unset must not sign or verify with an empty
    key, which makes every valid webhook look forged. A `whsec_` secret that does not decode is refused."""
    env = os.environ if env is None else env
    secret = flag or env.get("PAYMENT_WEBHOOK_SECRET") or ""
    _check_secret(secret)
    return (secret, True) if secret else (DEV_SECRET, False)


def unset_secret_warning(action: str) -> str:
    """What to say when `resolve_secret` fell back: `action` is e.g. "webhooks are signed"."""
    return (
        f"PAYMENT_WEBHOOK_SECRET is not set (or empty): {action} with the development secret {DEV_SECRET!r}. "
        "Set PAYMENT_WEBHOOK_SECRET to one secret shared by the server and its receivers."
    )


@dataclass(frozen=True)
class PostgresSettings:
    """How a `postgresql://` store uses its database (ignored by the other stores)."""

    # Waiting for a pooled connection: a healthy pool hands one out in microseconds; seconds of waiting
    # mean the database is gone or every connection is stuck, and the call should fail (503) rather
    # than pile up. Also how long a first connection may take (start-up, the pool refilling).
    pool_timeout_s: float = 3.0
    # The longest statement paymock runs is a listing's count over one session (milliseconds at 100k
    # payments) or a reset; 5 s means the database is overloaded or a lock is stuck.
    statement_timeout_s: float = 5.0
    # Per process: PostgreSQL allows 100 connections by default, for every process together.
    pool_max: int = 10

    def __post_init__(self) -> None:
        _check_ranges(
            ("PAYMOCK_PG_POOL_TIMEOUT", self.pool_timeout_s, PG_POOL_TIMEOUT_RANGE),
            ("PAYMOCK_PG_STATEMENT_TIMEOUT", self.statement_timeout_s, PG_STATEMENT_TIMEOUT_RANGE),
            ("PAYMOCK_PG_POOL_MAX", self.pool_max, PG_POOL_MAX_RANGE),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PostgresSettings:
        return cls(
            pool_timeout_s=_float(env, "PAYMOCK_PG_POOL_TIMEOUT", cls.pool_timeout_s, *PG_POOL_TIMEOUT_RANGE),
            statement_timeout_s=_float(
                env, "PAYMOCK_PG_STATEMENT_TIMEOUT", cls.statement_timeout_s, *PG_STATEMENT_TIMEOUT_RANGE
            ),
            pool_max=int(_float(env, "PAYMOCK_PG_POOL_MAX", cls.pool_max, *PG_POOL_MAX_RANGE)),
        )


@dataclass(frozen=True)
class Settings:
    webhook_secret: str = DEV_SECRET
    secret_from_env: bool = False
    auth_token: str | None = None
    log_level: str = "INFO"
    log_format: str = "text"  # text | json
    access_log: bool = True
    scenario_paths: tuple[Path, ...] = ()
    store: str = "memory"  # memory | sqlite:PATH | postgresql://USER:PASSWORD@HOST:PORT/DB
    postgres: PostgresSettings = field(default_factory=PostgresSettings)
    time_scale: float = 1.0
    webhook_timeout_s: float = 5.0
    callback_hosts: frozenset[str] = field(default_factory=frozenset)
    max_in_flight: int = 256
    http_client: str = "http11"  # one of HTTP_CLIENTS (bench/README.md, "Outbound client")
    validate_responses: bool = True
    gc_tuned: bool = True  # `paymock serve` only: see gc_tuning.py

    def __post_init__(self) -> None:
        # here, not in from_env: the pytest plugin and embedders build Settings directly, and a secret
        # that cannot sign, or a time scale of 0, would otherwise fail every create after storing the payment
        _check_secret(self.webhook_secret)
        check_token(self.auth_token)
        _check_http_client(self.http_client)
        _check_ranges(
            ("PAYMOCK_TIME_SCALE", self.time_scale, TIME_SCALE_RANGE),
            ("PAYMOCK_WEBHOOK_TIMEOUT", self.webhook_timeout_s, WEBHOOK_TIMEOUT_RANGE),
            ("PAYMOCK_MAX_IN_FLIGHT", self.max_in_flight, MAX_IN_FLIGHT_RANGE),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        secret, chosen = resolve_secret(None, env)
        log_format = (env.get("LOG_FORMAT") or "text").lower()
        if log_format not in ("text", "json"):
            raise SettingsError(f"LOG_FORMAT={log_format!r}: expected text or json")
        level = (env.get("LOG_LEVEL") or "INFO").upper()
        if level not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
            raise SettingsError(f"LOG_LEVEL={level!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        store = env.get("PAYMOCK_STORE") or "memory"
        if store != "memory" and not (store.startswith("sqlite:") and len(store) > 7) and not pg_url.is_postgres(store):
            raise SettingsError(
                f"PAYMOCK_STORE={pg_url.shown(store)!r}: expected memory, sqlite:PATH or postgresql://USER@HOST:PORT/DB"
            )
        if store == "sqlite::memory:":  # would call itself durable and keep nothing: say what it is
            raise SettingsError(f"PAYMOCK_STORE={store!r}: an in-memory database keeps nothing; use memory")
        client = (env.get("PAYMOCK_HTTP_CLIENT") or HTTP_CLIENTS[0]).lower()  # checked in __post_init__
        paths = tuple(Path(p) for p in (env.get("PAYMOCK_SCENARIOS") or "").split(os.pathsep) if p)
        hosts = host_set(env.get("PAYMOCK_CALLBACK_HOSTS") or "")
        gc_mode = (env.get("PAYMOCK_GC") or "tuned").lower()
        if gc_mode not in ("tuned", "default"):
            raise SettingsError(f"PAYMOCK_GC={gc_mode!r}: expected tuned or default")
        token = env.get("SERVICE_AUTH_TOKEN") or None
        return cls(
            webhook_secret=secret,
            secret_from_env=chosen,
            auth_token=token,
            log_level=level,
            log_format=log_format,
            access_log=_bool(env, "PAYMOCK_ACCESS_LOG", True),
            scenario_paths=paths,
            store=store,
            postgres=PostgresSettings.from_env(env),
            time_scale=_float(env, "PAYMOCK_TIME_SCALE", 1.0, *TIME_SCALE_RANGE),
            webhook_timeout_s=_float(env, "PAYMOCK_WEBHOOK_TIMEOUT", 5.0, *WEBHOOK_TIMEOUT_RANGE),
            callback_hosts=hosts,
            max_in_flight=int(_float(env, "PAYMOCK_MAX_IN_FLIGHT", 256, *MAX_IN_FLIGHT_RANGE)),
            http_client=client,
            validate_responses=_bool(env, "PAYMOCK_VALIDATE_RESPONSES", True),
            gc_tuned=gc_mode == "tuned",
        )
