"""`paymock serve` starts without the imports it never uses; they still work when something touches them.

The serve-path checks run in child processes: what is imported is process-wide, and pytest's own
process has imported Connexion (and so everything) long before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from paymock import deferred_imports
from tests.conftest import SERVER_ENV

# What a start-up without deferral loads and `paymock serve` must not: (module, a module it pulls in).
WATCHED = ("requests", "urllib3", "charset_normalizer", "httpx._main", "rich", "pygments", "flask", "itsdangerous")

# Module states, read without touching a lazy module (an attribute read would load it): `type()` is
# LazyLoader's private class until the first use, ModuleType after.
STATES = """
import json, sys, types
def state(name):
    module = sys.modules.get(name)
    if module is None:
        return "absent"
    return "loaded" if type(module) is types.ModuleType else "lazy"
print("STATES " + json.dumps({name: state(name) for name in sys.argv[2:]}))
"""

# The real serve path (cli.main -> _serve), with uvicorn.run replaced by one request through the
# built app: the lifespan runs and Connexion builds its middleware stack, as before the first 200.
SERVE = """
import sys, uvicorn
def first_request(app, **kwargs):
    with app.test_client() as client:
        assert client.get("/healthz").status_code == 200
uvicorn.run = first_request
from paymock import cli
assert "connexion" not in sys.modules
argv, sys.argv = sys.argv, ["paymock", "serve", "--port", "1"]
assert cli.main() == 0  # the command line's way: argv from sys.argv
sys.argv = argv
"""

# An in-process caller passing argv (an embedder): no deferral, the process is not only the server.
SERVE_IN_PROCESS = SERVE.replace("assert cli.main() == 0", 'assert cli.main(["serve", "--port", "1"]) == 0')

# A library user: plain imports, the same first request.
LIBRARY = """
from paymock.app import create_app
from paymock.settings import Settings
with create_app(Settings.from_env()).test_client() as client:
    assert client.get("/healthz").status_code == 200
"""


def _env() -> dict[str, str]:
    """The test servers' settings, none of the developer's own PAYMOCK_* (store, scenarios)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PAYMOCK_")} | SERVER_ENV


def _states(code: str, *names: str) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-c", code + STATES, "-", *names], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("STATES "))
    return json.loads(line.removeprefix("STATES "))


def test_serve_start_up_does_not_run_the_deferred_and_skipped_modules():
    library = _states(LIBRARY, *WATCHED)
    serve = _states(SERVE, *WATCHED)
    # requests is Connexion's own dependency: always installed, so this part can always fail
    assert library["requests"] == library["urllib3"] == "loaded"
    assert serve["requests"] == "lazy" and serve["urllib3"] == serve["charset_normalizer"] == "absent"
    # rich, pygments and flask are installed in some environments only (dev, not the server image)
    others = [name for name in WATCHED if name != "requests" and library[name] == "loaded"]
    assert {name: serve[name] for name in others} == dict.fromkeys(others, "absent")


def test_serve_called_in_process_with_arguments_imports_as_a_library_does():
    assert _states(SERVE_IN_PROCESS, *WATCHED) == _states(LIBRARY, *WATCHED)


TOUCH = """
import sys, types, warnings
warnings.simplefilter("ignore")
from paymock import deferred_imports
from paymock.settings import Settings
with deferred_imports.deferred():
    import paymock.app
    paymock.app.create_app(Settings.from_env())
import connexion
import connexion.json_schema
assert type(sys.modules["requests"]) is not types.ModuleType and "urllib3" not in sys.modules
get = connexion.json_schema.requests.get  # what connexion does to fetch a remote $ref
assert callable(get) and get.__module__ == "requests.api"
import requests, requests.adapters
assert requests is connexion.json_schema.requests and type(requests) is types.ModuleType
assert requests.Session().get_adapter("https://example.org") is not None
import httpx
assert callable(httpx.main) and callable(httpx.Client)  # the CLI is httpx's stub, the client is whole
import importlib.util
if importlib.util.find_spec("flask"):
    assert connexion.FlaskApp.__name__ == "_delayed_error"  # Connexion's not-installed stub, as in the image
    import flask  # importable again after start-up
    assert flask.Flask("x").name == "x"
print("OK")
"""


def test_deferred_modules_still_work_when_touched():
    out = subprocess.run([sys.executable, "-c", TOUCH], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("OK")


def test_deferred_block_defers_first_import_and_skips_only_inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "paymock_probe_lazy.py").write_text("import sys\nsys.paymock_probe_ran = True\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(deferred_imports, "DEFERRED", ("paymock_probe_lazy",))
    monkeypatch.setattr(deferred_imports, "SKIPPED", ("paymock_probe_skipped",))
    monkeypatch.setattr(sys, "paymock_probe_ran", False, raising=False)  # undone after the test
    meta_path = list(sys.meta_path)
    try:
        with deferred_imports.deferred():
            import paymock_probe_lazy  # type: ignore[import-not-found]

            with pytest.raises(ImportError):
                import paymock_probe_skipped  # type: ignore[import-not-found]  # noqa: F401
            assert not sys.paymock_probe_ran  # type: ignore[attr-defined]  # imported, not executed
        assert sys.meta_path == meta_path
        assert "paymock_probe_skipped" not in sys.modules  # importable (here: absent) as before
        assert paymock_probe_lazy.VALUE == 42
        assert sys.paymock_probe_ran  # type: ignore[attr-defined]
        assert type(paymock_probe_lazy) is ModuleType
    finally:
        sys.modules.pop("paymock_probe_lazy", None)


def test_deferred_block_leaves_modules_already_imported_alone():
    import requests  # noqa: F401  # imported here anyway (Connexion); made sure of

    names = (*deferred_imports.DEFERRED, *deferred_imports.SKIPPED)
    before = {name: sys.modules[name] for name in names if name in sys.modules}
    assert "requests" in before
    with deferred_imports.deferred():
        assert all(sys.modules[name] is module for name, module in before.items())
    assert all(sys.modules[name] is module for name, module in before.items())
    assert type(before["requests"]) is ModuleType
