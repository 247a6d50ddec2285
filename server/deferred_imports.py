"""Imports that `paymock serve` leaves out of its start-up: Connexion makes them, serving never uses them.

Measured on the 2-core dev machine, 15 interleaved rounds, medians: `paymock serve` to the first 200 on
/healthz 0.86 s -> 0.69 s (paired saving 0.18 s, IQR 0.16-0.26); `import paymock.app` 0.63 s -> 0.40 s.
Per item, the `-X importtime` self time of the modules it keeps out of a serve start-up (paymock.app,
create_app, uvicorn, Connexion's middleware stack; median of 9 runs). Only ``requests`` is in the server
image (``pip install .``); rich, pygments and flask are in dev and test environments only.

- ``requests`` (urllib3, charset_normalizer, ...), ~78 ms: ``connexion.json_schema`` imports it only to
  fetch remote ``$ref``s, which the shipped specs do not have. *Deferred*: the module object exists and
  is loaded on its first attribute use (``importlib.util.LazyLoader``).
- ``httpx._main`` (rich, pygments), ~51 ms: httpx's command-line client, which ``httpx/__init__``
  imports inside ``try/except ImportError``. httpx itself still loads (Starlette's TestClient, which
  Connexion imports, subclasses its classes). *Skipped*: in the serving process ``httpx.main`` is
  httpx's own "install httpx[cli]" stub; nothing there runs httpx's CLI.
- ``flask`` (werkzeug routing, itsdangerous, blinker), ~25 ms: not a dependency of paymock (connexion's
  ``flask`` extra is not requested), so the server image has no flask and Connexion falls back to its
  ``not_installed_error`` stubs for ``FlaskApp`` and the Flask decorator, which ``AsyncApp`` never
  uses. *Skipped* here too, so a dev environment that has flask starts like the image.

Not here: ``jinja2`` (~25 ms), imported by ``connexion.spec`` only to render spec files, is needed
anyway: the Swagger UI middleware builds ``starlette.templating.Jinja2Templates`` when the stack is
built, before the first request.

Skipped names are ``None`` in ``sys.modules`` only inside the block (``import flask`` raises
ImportError there) and import normally afterwards. Deferral goes through a meta-path finder at the
module's *first* import: a lazy module put into ``sys.modules`` beforehand (the importlib docs'
recipe) is loaded at once by the importer's own ``import requests``, which reads ``__spec__`` of any
module it finds there. Names already imported are left alone, so an in-process caller that has
imported Connexion (tests) sees no change.

Only the command line (`paymock serve`, the image's CMD) uses this: the process is the server and
ends with it. Two consequences are accepted there and would not be in a library: Connexion's
``FlaskApp`` stays its not-installed stub for the process's life, and Python 3.11's LazyLoader is not
thread-safe on first use (fixed in 3.12.3): the one user of ``requests``, Connexion's remote
``$ref`` resolution, runs in ``create_app`` on the main thread, and nothing touches it while serving.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType

DEFERRED = ("requests",)
SKIPPED = ("httpx._main", "flask")


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


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Around the serving process's first import of paymock.app (and so Connexion) and create_app."""
    finder = _LazyOnFirstImport([name for name in DEFERRED if name not in sys.modules])
    skipped = [name for name in SKIPPED if name not in sys.modules]
    sys.meta_path.insert(0, finder)
    for name in skipped:
        sys.modules[name] = None  # type: ignore[assignment]  # the documented way to make an import fail
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # something inside replaced sys.meta_path: keep its error
            sys.meta_path.remove(finder)
        for name in skipped:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
