"""Imports that `paymock serve` leaves out of its start-up: Connexion makes them, serving never uses them.

Measured on the 2-core dev machine, 15 interleaved rounds, medians (``bench/ready.py``): `paymock serve`
to the first 200 on /healthz 0.86 s -> 0.69 s with requests, httpx._main and flask left out (dev
environment); then, installed as the image installs it, 0.712 s -> 0.578 s with httpx, Starlette's
TestClient and rfc3986_validator left out too and uvicorn's WebSocket protocol off (``cli._serve``).
Per item below, the `-X importtime` self time of the modules it keeps out. rich, pygments and flask are
in dev and test environments only; the others are in the server image (``pip install .``).

- ``requests`` (urllib3, charset_normalizer, ...), ~78 ms: ``connexion.json_schema`` imports it only to
  fetch remote ``$ref``s, which the shipped specs do not have. *Deferred*: the module object exists and
  is loaded on its first attribute use (``importlib.util.LazyLoader``).
- ``httpx``, with ``starlette.testclient`` and ``anyio.from_thread`` (~50 ms together): Connexion
  imports Starlette's ``TestClient`` (``from ... import``) only for ``app.test_client()``, and
  ``connexion.security`` imports httpx for remote token checks, which paymock's bearer-token check does
  not use. paymock's own senders do not use httpx unless ``PAYMOCK_HTTP_CLIENT=httpx`` asks for it.
  *Forwarded* (``TestClient``, see below) and *deferred* (``httpx``).
- ``httpx._main`` (rich, pygments), ~51 ms: httpx's command-line client, which ``httpx/__init__``
  imports inside ``try/except ImportError``. *Skipped*, for when httpx does load inside the block.
- ``flask`` (werkzeug routing, itsdangerous, blinker), ~25 ms: not a dependency of paymock (connexion's
  ``flask`` extra is not requested), so the server image has no flask and Connexion falls back to its
  ``not_installed_error`` stubs for ``FlaskApp`` and the Flask decorator, which ``AsyncApp`` never
  uses. *Skipped* here too, so a dev environment that has flask starts like the image.
- ``rfc3986_validator``, ~15 ms: one large regular expression compiled at import, for jsonschema's
  ``uri`` format check, which runs only when a body fails the fast check (``api/fast_schema``).
  *Forwarded*: jsonschema registers its checkers exactly as before; the first ``uri`` check loads it.

- ``jinja2`` (markupsafe), ~35 ms: ``connexion.spec`` imports it to render spec files with arguments,
  which paymock does not pass, and the Swagger UI builds ``starlette.templating.Jinja2Templates`` with
  the middleware stack, before the first request, for its page only. *Deferred* (``jinja2``) and
  *forwarded*, with the instance *built on first use* (``Jinja2Templates``): the first request for a
  docs page loads jinja2 and builds the templates.
- werkzeug's dev server, test client and request/response wrappers (with ``http.server``, werkzeug's
  http/datastructures/urls modules; ~25 ms): ``werkzeug/__init__`` imports them all, and Connexion
  needs ``werkzeug.local`` only (its context proxies), plus ``from werkzeug import Request`` for an
  annotation. *Hollow* ``werkzeug`` (see below), with ``Request`` and ``werkzeug.wsgi``'s
  ``ClosingIterator`` (``werkzeug.local``'s, for a WSGI middleware) *forwarded*.
- uvicorn's command line (click, its supervisors; ~15 ms): ``uvicorn/__init__`` imports ``uvicorn.main``,
  and ``cli._serve`` needs ``Config`` and ``Server`` only. *Hollow* ``uvicorn``; ``cli._serve`` imports
  the two submodules and does what ``uvicorn.run`` does with them (exit 3 if the server never started).
- ``http.server`` is also imported by ``paymock.listen``, whose arguments ``paymock serve``'s parser
  builds: it imports it when it listens, not at the top.

Measured together (``bench/ready.py --instructions``, image-like venvs, 15 rounds): 1,280 M -> 1,079 M
instructions to ready (0.84x; callgrind, repeatable within ~0.5%), ready 0.440 s -> 0.375 s (medians).

Hollow packages are package modules whose ``__init__`` has not run, put into ``sys.modules`` at the
block's start and left there for the process's life (their submodules are bound to them): submodules
import as usual; a name in ``HOLLOW`` is read from the submodule defining it, without the ``__init__``;
reading any other name runs the real ``__init__`` into the module first, so ``uvicorn.run`` or
``werkzeug.run_simple`` still work afterwards. ``from . import submodule`` asks the package for the name
first: a name that is a submodule is never taken as a reason to run the ``__init__``.

Forwarded names are stand-in modules only inside the block: each listed function (a class, for
``TestClient``: calling it makes the real instance) imports the real module on its first call and
calls it. For ``from module import name``, which a lazy module cannot serve: reading the attribute
would load it. A class in ``BUILT_ON_FIRST_USE`` goes one step further: calling it returns an object
that imports the module and makes the real instance on its first attribute read.

Skipped names are ``None`` in ``sys.modules`` only inside the block (``import flask`` raises
ImportError there) and import normally afterwards. Deferral goes through a meta-path finder at the
module's *first* import: a lazy module put into ``sys.modules`` beforehand (the importlib docs'
recipe) is loaded at once by the importer's own ``import requests``, which reads ``__spec__`` of any
module it finds there. Names already imported are left alone, so an in-process caller that has
imported Connexion (tests) sees no change.

Only the command line (`paymock serve`, the image's CMD) uses this: the process is the server and
ends with it. Three consequences are accepted there and would not be in a library: Connexion's
``FlaskApp`` stays its not-installed stub for the process's life; the hollow packages stay, and code
that took ``werkzeug.Request`` inside the block keeps its forwarder; and Python 3.11's LazyLoader is not
thread-safe on first use (fixed in 3.12.3): the one user of ``requests``, Connexion's remote
``$ref`` resolution, runs in ``create_app`` on the main thread, and nothing touches it while serving;
httpx is first touched, if ever, on the event loop's thread (the httpx sender, built in the lifespan),
and jinja2 there too (the first docs page).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

DEFERRED = ("requests", "httpx", "jinja2")
SKIPPED = ("httpx._main", "flask")
# module -> the functions start-up takes from it with `from module import f`; each forwards to the real module
FORWARDED: dict[str, tuple[str, ...]] = {
    "rfc3986_validator": ("validate_rfc3986",),
    "starlette.testclient": ("TestClient",),
    "werkzeug.wrappers": ("Request",),  # connexion.lifecycle's `from werkzeug import Request`, an annotation
    "werkzeug.wsgi": ("ClosingIterator",),  # werkzeug.local's, for a WSGI middleware Connexion never makes
    "starlette.templating": ("Jinja2Templates",),
}
# forwarded classes whose instance start-up makes but only a later request uses: built on its first use
BUILT_ON_FIRST_USE = ("Jinja2Templates",)
# package -> {name its __init__ binds, that start-up reads: the submodule defining it}; see "Hollow packages"
HOLLOW: dict[str, dict[str, str]] = {
    "werkzeug": {"Request": "werkzeug.wrappers"},
    "uvicorn": {"Config": "uvicorn.config", "Server": "uvicorn.server"},
}


class _LazyOnFirstImport(importlib.abc.MetaPathFinder):
    """Hands the first import of each listed top-level name a lazily loading module."""

    def __init__(self, names: Sequence[str]) -> None:
        self.pending = set(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.pending:
            return None
        self.pending.discard(fullname)  # first: the find_spec below asks this finder again
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec  # absent or not lazily loadable: import as if this finder were not there
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def _forwarding_module(name: str, functions: Sequence[str]) -> ModuleType:
    """A stand-in for `name` whose functions import the real module on their first call, then call it.

    For `from name import f`, which a lazy module cannot serve: the attribute read itself would load it.
    """
    stand_in = ModuleType(name, f"paymock's start-up stand-in: {', '.join(functions)} load the real {name}")
    stand_in.__spec__ = importlib.machinery.ModuleSpec(name, None)  # find_spec(name) answers, as for any module
    real: list[ModuleType] = []

    def load() -> ModuleType:
        if not real:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            real.append(importlib.import_module(name))
        return real[0]

    for function in functions:

        def forward(*args: Any, _function: str = function, **kwargs: Any) -> Any:
            if _function in BUILT_ON_FIRST_USE:
                return _BuiltOnFirstUse(lambda: getattr(load(), _function)(*args, **kwargs))
            return getattr(load(), _function)(*args, **kwargs)

        forward.__name__ = forward.__qualname__ = function
        setattr(stand_in, function, forward)
    return stand_in


class _BuiltOnFirstUse:
    """An instance made on its first attribute read: the Swagger UI's templates (jinja2: ~35 ms of
    `-X importtime` self time) are built with the middleware stack, before the first request, and used
    by the UI page only."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build: Callable[[], Any] | None = build
        self._real: Any = None

    def __getattr__(self, attribute: str) -> Any:  # only for what the instance itself does not have
        if attribute.startswith("_"):
            # its own two fields, when missing (copy and pickle make instances without __init__), and
            # private or special names, which are the stand-in's business, not the templates'
            raise AttributeError(attribute)
        if self._build is not None:
            self._real, self._build = self._build(), None
        return getattr(self._real, attribute)


def _hollow_package(name: str, names: dict[str, str]) -> ModuleType | None:
    """`name` as a package whose `__init__` has not run: its submodules import as usual; reading one of
    `names` imports the submodule defining it, and reading any other attribute runs `__init__` first."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None or spec.loader is None:
        return None  # absent, or not a package: imported as if it were not listed
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader
    ran: list[bool] = []
    lock = threading.RLock()  # another thread waits for the __init__ instead of reading a half-run one

    def __getattr__(attribute: str) -> Any:
        if attribute in names:
            # not bound on the package: inside the block this may be a forwarding stand-in (FORWARDED)
            return getattr(importlib.import_module(names[attribute]), attribute)
        if attribute.isidentifier() and importlib.util.find_spec(f"{name}.{attribute}") is not None:
            # `from . import submodule` asks the package first: no such attribute, so it imports it.
            # (A name that is a submodule and also bound by __init__, as uvicorn's `main`, is the module.)
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        with lock:
            if not ran:
                ran.append(True)
                try:
                    loader.exec_module(package)  # the real __init__, into this module: it binds the real names
                except BaseException:
                    ran.clear()  # a later read tries again; inside the block a forwarded stand-in can fail it
                    raise
            if attribute in vars(package):
                return vars(package)[attribute]
        raise AttributeError(f"module {name!r} has no attribute {attribute!r}")

    package.__getattr__ = __getattr__  # type: ignore[method-assign]  # PEP 562, read from the module's dict
    return package


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Around the serving process's first import of paymock.app (and so Connexion) and create_app."""
    finder = _LazyOnFirstImport([name for name in DEFERRED if name not in sys.modules])
    skipped = [name for name in SKIPPED if name not in sys.modules]
    hollow = {name: _hollow_package(name, names) for name, names in HOLLOW.items() if name not in sys.modules}
    # first: a forwarded submodule's find_spec below imports its package, which must be the hollow one
    sys.modules.update({name: package for name, package in hollow.items() if package is not None})
    stand_ins = {
        name: _forwarding_module(name, functions)
        for name, functions in FORWARDED.items()
        # an absent module stays absent: its importer's `except ImportError` fallback must still apply
        if name not in sys.modules and importlib.util.find_spec(name) is not None
    }
    sys.meta_path.insert(0, finder)
    for name in skipped:
        sys.modules[name] = None  # type: ignore[assignment]  # the documented way to make an import fail
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # something inside replaced sys.meta_path: keep its error
            sys.meta_path.remove(finder)
        for name in skipped:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]  # a later `import name` gets the real module
