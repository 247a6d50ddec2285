"""Connexion operations whose handler wrapping is built once, not on every request.

Connexion 3.3's `AsyncOperation.fn` is a property: every request constructs a new
`StarletteDecorator`, whose wrapper then re-runs `decorate()` (new parameter and response
decorators, `inspect.signature` of the handler) and builds a new URI parser from the operation's
parameter definitions. None of that depends on the request; in a py-spy profile of creates at c=32
it was ~7% of the server's CPU. Here the decorated handler is built once, when Connexion builds its
middleware stack (at start-up), and the URI parser on the operation's first request; each request
still gets its own `ConnexionRequest`, parameter extraction and response building, exactly as
Connexion does them.

This relies on Connexion internals (`AsyncApi.make_operation`, `AsyncOperation.fn`), which is why
`pyproject.toml` pins connexion below 3.4; `tests/api/test_operations.py` checks the wiring.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from connexion import AsyncApp
from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.context import receive, scope
from connexion.decorators import StarletteDecorator
from connexion.jsonifier import Jsonifier
from connexion.uri_parsing import AbstractURIParser


class PreparedDecorator(StarletteDecorator):
    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        decorated = self.decorate(function)
        parser: AbstractURIParser | None = None

        @functools.wraps(function)
        async def wrapper(*_args: Any, **_kwargs: Any) -> Any:
            nonlocal parser
            if parser is None:
                # `uri_parser` reads the routed operation from Connexion's request context, so it
                # can only be built inside a request; it is the same for every request after.
                parser = self.uri_parser
            request = self.framework.get_request(uri_parser=parser, scope=scope, receive=receive)
            return await decorated(request)

        return wrapper


class PreparedOperation(AsyncOperation):
    def __init__(self, fn: Callable[..., Any], jsonifier: Jsonifier, operation_id: str, pythonic_params: bool) -> None:
        super().__init__(fn, jsonifier=jsonifier, operation_id=operation_id, pythonic_params=pythonic_params)
        self._prepared = PreparedDecorator(pythonic_params=pythonic_params, jsonifier=jsonifier)(fn)

    @property
    def fn(self) -> Callable[..., Any]:
        return self._prepared


class PreparedApi(AsyncApi):
    def make_operation(self, operation: Any) -> AsyncOperation:
        return PreparedOperation.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


def prepare_operations(app: AsyncApp) -> None:
    """Make `app` build its operations as `PreparedOperation`s. Call before the app starts: Connexion
    adds the APIs to its handler app when the middleware stack is built, at start-up."""
    app._middleware_app.api_cls = PreparedApi  # no public hook for the operation class
