"""create_app: both specs on one Connexion AsyncApp, validation on, state built in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from connexion import AsyncApp
from connexion.exceptions import Unauthorized
from connexion.middleware import ConnexionMiddleware, MiddlewarePosition
from connexion.options import SwaggerUIOptions
from starlette.responses import JSONResponse, RedirectResponse

from .delivery.dispatcher import Dispatcher, claim_s
from .delivery.senders import Sender, make_sender
from .domain.clock import Clock, SystemClock
from .domain.errors import DomainError
from .domain.scenarios.loading import load_paths
from .domain.scenarios.registry import ScenarioBook
from .provider import Provider
from .resources import fixtures_dir, load_spec
from .settings import PostgresSettings, Settings, unset_secret_warning
from .store import pg_url
from .store.base import Store

log = logging.getLogger("paymock")

PROVIDER_BASE = "/api/v2"
SESSION_SWEEP_S = 1.0


async def open_store(
    spec: str, clock: Clock, webhook_timeout_s: float = 0.0, postgres: PostgresSettings | None = None
) -> Store:
    """The store PAYMOCK_STORE names. A postgresql:// one connects and migrates here: it raises
    postgres.StoreError (one line, password masked) when it cannot, as `paymock serve` checks first."""
    if spec.startswith("sqlite:"):
        from .store.sqlite import SqliteStore

        return SqliteStore(spec[len("sqlite:") :])
    if pg_url.is_postgres(spec):
        try:
            from .store.postgres import PostgresStore
        except ImportError:
            raise RuntimeError(f"PAYMOCK_STORE={pg_url.masked(spec)}: {pg_url.MISSING_DRIVER}") from None
        # an owner id of its own per process (leases), and the app's clock (lease times). The lease a new
        # delivery gets is the claim of its inline first attempt: it must outlast that attempt as a
        # dispatcher's claim does, or another process's sweeper sends it meanwhile
        return await PostgresStore(spec, clock=clock, lease_s=claim_s(webhook_timeout_s), settings=postgres).open()
    from .store.memory import MemoryStore

    return MemoryStore()


def _spec(name: str, auth: bool) -> dict[str, Any]:
    spec = load_spec(name)
    if not auth:
        # `security: [{bearerAuth: []}, {}]` would also accept wrong tokens; drop it instead.
        spec.pop("security", None)
    return spec


def create_app(
    settings: Settings | None = None,
    *,
    sender: Sender | None = None,
    clock: Clock | None = None,
) -> AsyncApp:
    """The ASGI app. Scenario files are loaded (and rejected) here, before anything serves."""
    settings = settings or Settings.from_env()
    fixtures = load_paths([fixtures_dir(), *settings.scenario_paths])
    clock = clock or SystemClock()
    if not settings.secret_from_env:
        log.warning("%s", unset_secret_warning("webhooks are signed"))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[dict[str, Any]]:
        from .api.audit import AuditSlots

        store = await open_store(settings.store, clock, settings.webhook_timeout_s, settings.postgres)

        def dispatcher(on_ack: Any) -> Dispatcher:
            return Dispatcher(
                store=store,
                sender=sender or make_sender(settings.http_client, settings.callback_hosts, settings.max_in_flight),
                clock=clock,
                secret=settings.webhook_secret,
                auth_token=settings.auth_token,
                time_scale=settings.time_scale,
                timeout_s=settings.webhook_timeout_s,
                max_in_flight=settings.max_in_flight,
                on_acknowledged=on_ack,
            )

        provider = Provider(
            store=store,
            book=ScenarioBook(fixtures),
            clock=clock,
            dispatcher_factory=dispatcher,
            callback_hosts=settings.callback_hosts,
        )
        try:
            await provider.start()
        except BaseException:
            await store.close()
            raise
        sweeper = asyncio.create_task(_expire_sessions(provider), name="paymock-sessions")
        try:
            yield {"provider": provider, "settings": settings, "audits": AuditSlots()}
        finally:
            sweeper.cancel()
            await provider.stop()
            await store.close()

    from .api import content_type, problems, request_limits, validation

    # Connexion's documented default stack, with our request caps right after its exception middleware
    middlewares = request_limits.placed(list(ConnexionMiddleware.default_middlewares))
    app = AsyncApp(__name__, lifespan=lifespan, middlewares=middlewares)
    # before Connexion's validation reads the media type: `APPLICATION/JSON` is JSON too
    app.add_middleware(content_type.NormalisedContentType, position=MiddlewarePosition.BEFORE_VALIDATION)
    auth = settings.auth_token is not None
    options = SwaggerUIOptions(swagger_ui_path="/docs")

    routes = problems.Routes()
    for name in ("provider.yaml", "control.yaml"):
        spec = _spec(name, auth)
        routes.add_spec(spec)
        app.add_api(
            spec,
            validate_responses=settings.validate_responses,
            strict_validation=True,
            validator_map=validation.VALIDATORS,
            swagger_ui_options=options,
        )
    for path in ("/healthz", "/docs", "/", "/openapi.json"):
        routes.add(path, ["GET"])

    # Starlette's own 404/405 (no route, wrong method): problem+json that names what exists.
    app.add_error_handler(404, problems.route_not_found(routes))
    app.add_error_handler(405, problems.method_not_allowed(routes))
    app.add_error_handler(Unauthorized, problems.unauthorized)
    app.add_error_handler(DomainError, problems.domain_error)
    app.add_error_handler(UnicodeDecodeError, problems.undecodable_body)
    if settings.store.startswith("sqlite:"):
        import sqlite3

        app.add_error_handler(sqlite3.DatabaseError, problems.store_error)  # locked (Operational), damaged
    if pg_url.is_postgres(settings.store):
        try:
            import psycopg
        except ImportError:  # the lifespan's open_store says what to install
            pass
        else:
            # the database lost, or too slow (timeouts): 503 + Retry-After; PoolTimeout is one of these
            app.add_error_handler(psycopg.OperationalError, problems.database_error(settings.store))
            app.add_error_handler(psycopg.DataError, problems.unstorable_value)  # a NUL in a text: the caller's
    app.add_error_handler(Exception, problems.unexpected)
    app.add_url_rule("/healthz", "healthz", _healthz, methods=["GET"])
    app.add_url_rule("/docs", "docs", _docs_redirect, methods=["GET"])
    app.add_url_rule("/", "root", _docs_redirect, methods=["GET"])
    # where FastAPI (the seed's framework) serves it: clients and tools that look there find the provider's
    app.add_url_rule("/openapi.json", "openapi", _spec_redirect, methods=["GET"])
    return app


async def _expire_sessions(provider: Provider) -> None:
    """End idle sessions (their payments, deliveries and retries) about when they expire; calls naming
    an expired session are refused anyway, this frees what it held."""
    while True:
        await asyncio.sleep(SESSION_SWEEP_S)
        try:
            await provider.expire()
        except Exception:  # a store error now must not stop later sweeps
            log.exception("ending expired sessions failed; trying again in %.0f s", SESSION_SWEEP_S)


async def _healthz(_request: Any) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _docs_redirect(_request: Any) -> RedirectResponse:
    return RedirectResponse(PROVIDER_BASE + "/docs/")


async def _spec_redirect(_request: Any) -> RedirectResponse:
    return RedirectResponse(PROVIDER_BASE + "/openapi.json")


def __getattr__(name: str) -> Any:
    """`uvicorn paymock.app:app` builds the app from the environment on first access."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
