"""Connexion's Swagger UI middleware, entered only by requests for the paths it serves.

Connexion runs every HTTP request through the UI's own Starlette router (a mount per API, then the
UI's ~6 routes, each a regular expression) before handing anything else to the next middleware. In
a py-spy profile of creates at c=32 that was ~4.7% of the server's CPU, for no request that the UI
answers. Here a request whose path contains none of the UI's route paths goes straight to the next
middleware, which is what the UI's router would have done (its default, `default_fn`).

The check is a substring test, so it errs towards the router: a path the router could answer,
redirect (Starlette's trailing-slash redirect) or serve from its static mount contains one of the
route paths with any trailing slash removed, under any `root_path`. One answer of the router's is
not covered: the redirect of an API's bare base path (`/api/v2` -> `/api/v2/`), which comes from
its mount; Connexion's routing middleware, next, has the same mounts and gives the same redirect
(`tests/api/test_docs_ui.py` compares every answer with Connexion's own middleware).
"""

from __future__ import annotations

from typing import Any

from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.types import Receive, Scope, Send


class DocsUIMiddleware(SwaggerUIMiddleware):
    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.paths: tuple[str, ...] = ()

    def add_api(self, *args: Any, **kwargs: Any) -> None:
        super().add_api(*args, **kwargs)
        mount = self.router.routes[-1]  # the API's mount, added last by the call above
        assert isinstance(mount, Mount)
        self.paths = tuple(sorted({*self.paths, *_route_paths(mount)}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if not any(ui_path in path for ui_path in self.paths):
                # a copy, as the UI's `default_fn` passes on: the routers below write into the scope
                await self.app(scope.copy(), receive, send)
                return
        await super().__call__(scope, receive, send)


def _route_paths(mount: Mount) -> set[str]:
    """Every path below `mount`, without a trailing slash (the mount's own path if it has no routes)."""
    routes: list[BaseRoute] = list(getattr(mount.app, "routes", []))
    paths = {mount.path + getattr(route, "path", "") for route in routes} or {mount.path}
    return {path.rstrip("/") or "/" for path in paths}


def middlewares() -> list[Any]:
    """Connexion's default middleware stack, with the UI middleware above in its place."""
    return [DocsUIMiddleware if m is SwaggerUIMiddleware else m for m in ConnexionMiddleware.default_middlewares]
