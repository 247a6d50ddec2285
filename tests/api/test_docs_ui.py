"""The Swagger UI middleware that only its own paths enter answers every request as Connexion's does."""

from __future__ import annotations

from typing import Any

import pytest
from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware

from paymock.api import docs_ui
from tests.conftest import in_process

# UI paths, their trailing-slash redirects, near misses, and API paths (the UI must stay out of those).
PATHS = (
    "/api/v2/docs",
    "/api/v2/docs/",
    "/api/v2/docs/index.html",
    "/api/v2/docs/swagger-ui.css",
    "/api/v2/docs/swagger-ui-config.json",
    "/api/v2/docs/no-such-file.js",
    "/api/v2/openapi.json",
    "/api/v2/openapi.json/",
    "/api/v2/openapi.yaml",
    "/mock/v1/docs/",
    "/mock/v1/openapi.json",
    "/mock/v1/openapi.yaml/",
    "/docs",
    "/docs/",
    "/",
    "/healthz",
    "/openapi.json",
    "/api/v2/doc",
    "/api/v2/pending-payments",
    "/api/v2/pending-payments/",
    "/api/v2/payments/pay_x",
    "/api/v2/nope",
    "/mock/v1/scenarios",
    "/api/v2",  # the bare base paths: the mount's redirect, from the UI's router or the routing middleware
    "/mock/v1",
)


def _answers(client: Any) -> dict[tuple[str, str], tuple[int, str | None, str | None, bytes]]:
    answers = {}
    for path in PATHS:
        for method in ("GET", "HEAD", "POST", "OPTIONS"):
            r = client.request(method, path, follow_redirects=False)
            answers[(method, path)] = (
                r.status_code,
                r.headers.get("location"),
                r.headers.get("content-type"),
                r.content,
            )
    return answers


def test_answers_match_connexions_own_swagger_ui_middleware(monkeypatch: pytest.MonkeyPatch):
    with in_process() as client:
        ours = _answers(client)
    # the reference: the same app on Connexion's unmodified default stack
    built: list[str] = []

    def default_stack() -> list[Any]:
        built.append("default")
        return list(ConnexionMiddleware.default_middlewares)

    monkeypatch.setattr(docs_ui, "middlewares", default_stack)
    with in_process() as client:
        reference = _answers(client)
    # the app was built from it: were middlewares() no longer asked, "reference" would be ours again
    assert built == ["default"]
    assert ours == reference
    assert ours[("GET", "/api/v2/docs/")][0] == 200 and ours[("GET", "/api/v2/openapi.json")][0] == 200
    assert ours[("GET", "/api/v2/pending-payments")][0] == 200


class _Refuses:
    """A stand-in for the UI's router: any request that reaches it is answered 599."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_only_the_ui_paths_enter_its_router():
    assert docs_ui.middlewares().count(docs_ui.DocsUIMiddleware) == 1
    assert SwaggerUIMiddleware not in docs_ui.middlewares()
    with in_process() as client:
        assert client.get("/healthz").status_code == 200  # the stack is built
        (middleware,) = [m for m in client.app.middleware.middleware_stack if isinstance(m, docs_ui.DocsUIMiddleware)]
        assert set(middleware.paths) >= {
            "/api/v2/docs",
            "/api/v2/openapi.json",
            "/api/v2/openapi.yaml",
            "/mock/v1/docs",
            "/mock/v1/openapi.json",
        }
        middleware.router = refuses = _Refuses()
        assert client.get("/api/v2/pending-payments").status_code == 200
        assert client.get("/mock/v1/scenarios").status_code == 200
        assert client.get("/api/v2/openapi.json").status_code == 599
        assert client.get("/mock/v1/docs/").status_code == 599
    assert refuses.paths == ["/api/v2/openapi.json", "/mock/v1/docs/"]
