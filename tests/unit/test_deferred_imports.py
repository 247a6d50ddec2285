"""`paymock serve` starts without the imports it never uses; they still work when something touches them.

The serve-path checks run in child processes: what is imported is process-wide, and pytest's own
process has imported Connexion (and so everything) long before.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from paymock import deferred_imports
from tests.conftest import SERVER_ENV

# What a start-up without deferral loads and `paymock serve` must not: (module, a module it pulls in).
WATCHED = (
    "requests",
    "urllib3",
    "charset_normalizer",
    "httpx",
    "httpx._client",
    "httpx._main",
    "rich",
    "pygments",
    "flask",
    "itsdangerous",
    "rfc3986_validator",
    "starlette.testclient",
    "anyio.from_thread",
)
# What `paymock serve` leaves out through the hollow werkzeug and uvicorn packages (their __init__s import
# werkzeug's dev server and test client, and uvicorn's command line) and the lazily built UI templates.
# A library user imports none of these either (it never imports uvicorn); an in-process `serve` imports
# them all, through the real packages.
HOLLOWED = (
    "werkzeug.serving",
    "werkzeug.test",
    "werkzeug.wrappers",
    "werkzeug.http",
    "http.server",
    "uvicorn.main",
    "click",
    "starlette.templating",
    "markupsafe",
)

# A module's state, read without touching a lazy module (an attribute read would load it): `type()` is
# LazyLoader's private class until the first use, ModuleType after. Both child scripts below use it.
STATE = """
import json, sys, types
def state(name):
    module = sys.modules.get(name)
    if module is None:
        return "absent"
    return "loaded" if type(module) is types.ModuleType else "lazy"
"""

# The real serve path: cli.main -> _serve -> uvicorn, on a free loopback port. A thread waits for the
# first 200 on /healthz, as a caller would, then prints the watched modules' states (STATE), runs
# REQUESTS, and stops the server with SIGTERM. It talks over a raw socket: an HTTP client library
# would change what is imported.
SERVE = (
    STATE
    + """
import os, signal, socket, threading, time
WATCHED = sys.argv[1:]
REQUESTS = []  # (method, path, JSON body or None); their answers are printed as ANSWER lines

def http(port, method, path, body=None):
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n"
    head += f"Content-Type: application/json\\r\\nContent-Length: {len(data)}\\r\\n\\r\\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(head.encode() + data)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\\r\\n\\r\\n", 1)[1].decode()

def probe(port):
    deadline = time.monotonic() + 30
    while True:
        try:
            if http(port, "GET", "/healthz")[0] == 200:
                break
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            print("no 200 on /healthz in 30 s", file=sys.stderr, flush=True)
            os._exit(1)
        time.sleep(0.02)
    print("STATES " + json.dumps({name: state(name) for name in WATCHED}), flush=True)
    for method, path, body in REQUESTS:
        status, text = http(port, method, path, body)
        print("ANSWER", status, text, flush=True)
    print("AFTER " + json.dumps({name: state(name) for name in WATCHED}), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
threading.Thread(target=probe, args=(port,), daemon=True).start()
from paymock.cli import main as cli
assert "connexion" not in sys.modules
sys.argv = ["paymock", "serve", "--host", "127.0.0.1", "--port", str(port)]
assert cli.main() == 0  # the command line's way: argv from sys.argv
"""
)

# An in-process caller passing argv (an embedder): no deferral, the process is not only the server.
SERVE_IN_PROCESS = SERVE.replace(
    "assert cli.main() == 0", 'assert cli.main(["serve", "--host", "127.0.0.1", "--port", str(port)]) == 0'
)

# A library user: plain imports, a first request through Starlette's TestClient.
LIBRARY = (
    STATE
    + """
from paymock.app import create_app
from paymock.settings import Settings
with create_app(Settings.from_env()).test_client() as client:
    assert client.get("/healthz").status_code == 200
print("STATES " + json.dumps({name: state(name) for name in sys.argv[1:]}))
"""
)


REAL_HOLLOW = deferred_imports.HOLLOW


@pytest.fixture(autouse=True)
def no_hollow_packages_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process `deferred()` calls here must not leave a hollow uvicorn or werkzeug behind for the rest
    of the session (they stay for the process's life, by design, when not imported yet): none unless a
    test asks. The serve-path checks run the real list in child processes."""
    monkeypatch.setattr(deferred_imports, "HOLLOW", {})


def _env() -> dict[str, str]:
    """The test servers' settings, none of the developer's own PAYMOCK_* (store, scenarios)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PAYMOCK_")} | SERVER_ENV


def _run(code: str, *names: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def _states(code: str, *names: str) -> dict[str, str]:
    line = next(line for line in _run(code, *names) if line.startswith("STATES "))
    return json.loads(line.removeprefix("STATES "))


def test_serve_start_up_does_not_run_the_deferred_and_skipped_modules():
    library = _states(LIBRARY, *WATCHED)
    serve = _states(SERVE, *WATCHED)
    # requests is Connexion's own dependency: always installed, so this part can always fail
    assert library["requests"] == library["urllib3"] == "loaded"
    assert serve["requests"] == "lazy" and serve["urllib3"] == serve["charset_normalizer"] == "absent"
    # Connexion's security module imports httpx for remote token checks: the module object only
    assert serve["httpx"] == "lazy" and serve["httpx._client"] == "absent"
    # a dependency of paymock: jsonschema's `uri` check forwards to it on its first call (see below)
    assert library["rfc3986_validator"] == "loaded" and serve["rfc3986_validator"] == "absent"
    # rich, pygments and flask are installed in some environments only (dev, not the server image)
    others = [name for name in WATCHED if name not in ("requests", "httpx") and library[name] == "loaded"]
    assert {name: serve[name] for name in others} == dict.fromkeys(others, "absent")


def test_serve_start_up_leaves_out_what_the_hollow_packages_and_lazy_templates_would_load():
    states = _states(SERVE, *HOLLOWED, "jinja2", "werkzeug.local")
    assert states.pop("jinja2") == "lazy"  # connexion.spec's `import jinja2`: the module object only
    assert states.pop("werkzeug.local") == "loaded"  # Connexion's context proxies: a real submodule
    assert states == dict.fromkeys(HOLLOWED, "absent")
    # the same start-up called in-process with arguments is not deferred: the real packages, all of it
    assert _states(SERVE_IN_PROCESS, *HOLLOWED) == dict.fromkeys(HOLLOWED, "loaded")


def test_serve_called_in_process_with_arguments_imports_as_a_library_does():
    assert _states(SERVE_IN_PROCESS, *WATCHED) == _states(LIBRARY, *WATCHED)


# The serve path again; after start-up, one body that only the Python judge explains (its `uri` check).
BAD_URI = {
    "version": "v2",
    "tx_id": "tx_1",
    "order_id": 1,
    "user_id": 1,
    "amount": 1000,
    "callback_url": "http://127.0.0.1:9/a b",
}
SERVE_BAD_URI = SERVE.replace(
    "REQUESTS = []",
    f"REQUESTS = [('POST', '/api/v2/payments', {BAD_URI!r}), ('GET', '/api/v2/pending-payments', None)]",
)


# The serve path again; after start-up, the Swagger UI page: its templates are built on this first use.
SERVE_DOCS_UI = SERVE.replace("REQUESTS = []", "REQUESTS = [('GET', '/api/v2/docs/', None)]")


def test_docs_ui_templates_are_built_on_the_first_page_asked_for():
    lines = _run(SERVE_DOCS_UI, "jinja2", "starlette.templating")
    states = {
        line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1])
        for line in lines
        if line.startswith(("STATES", "AFTER"))
    }
    answers = [line.split(" ", 2)[1:] for line in lines if line.startswith("ANSWER ")]
    assert states["STATES"] == {"jinja2": "lazy", "starlette.templating": "absent"}
    assert answers[0][0] == "200" and any("<title>Swagger UI</title>" in line for line in lines)  # the page
    assert states["AFTER"] == {"jinja2": "loaded", "starlette.templating": "loaded"}


def test_forwarded_uri_check_loads_its_module_on_first_use_and_still_judges():
    lines = _run(SERVE_BAD_URI, "rfc3986_validator")
    states = {
        line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1])
        for line in lines
        if line.startswith(("STATES", "AFTER"))
    }
    answers = [line.split(" ", 2)[1:] for line in lines if line.startswith("ANSWER ")]
    assert states["STATES"] == {"rfc3986_validator": "absent"}
    assert (
        answers[0][0] == "400" and "callback_url: 'http://127.0.0.1:9/a b' is not an http or https URL" in answers[0][1]
    )
    assert answers[1][0] == "200" and json.loads(answers[1][1])["total"] == 0  # nothing stored
    assert states["AFTER"] == {"rfc3986_validator": "loaded"}


TOUCH = """
import sys, types, warnings
warnings.simplefilter("ignore")
from paymock import deferred_imports
from paymock.settings import Settings
with deferred_imports.deferred():
    import paymock.app
    app = paymock.app.create_app(Settings.from_env())
import connexion
assert "starlette.testclient" not in sys.modules  # its stand-in is gone with the block
with app.test_client() as client:  # Connexion's TestClient, forwarded: the real module loads now
    assert client.get("/healthz").status_code == 200
import starlette.testclient
assert isinstance(client, starlette.testclient.TestClient) and type(starlette.testclient) is types.ModuleType
import connexion.json_schema
assert type(sys.modules["requests"]) is not types.ModuleType and "urllib3" not in sys.modules
get = connexion.json_schema.requests.get  # what connexion does to fetch a remote $ref
assert callable(get) and get.__module__ == "requests.api"
import requests, requests.adapters
assert requests is connexion.json_schema.requests and type(requests) is types.ModuleType
assert requests.Session().get_adapter("https://example.org") is not None
import httpx, connexion.security
assert httpx is connexion.security.httpx and type(httpx) is types.ModuleType  # loaded by the TestClient
assert callable(httpx.main) and callable(httpx.Client)
with app.test_client() as client:  # the Swagger UI page: its templates (jinja2) are built now
    page = client.get("/api/v2/docs/")
    assert page.status_code == 200 and "<title>Swagger UI</title>" in page.text
import werkzeug, werkzeug.wrappers  # hollow: reading a name its __init__ binds runs the __init__
assert callable(werkzeug.run_simple) and werkzeug.Request is werkzeug.wrappers.Request
import uvicorn, uvicorn.config
assert uvicorn.Config is uvicorn.config.Config and callable(uvicorn.run) and "click" in sys.modules
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


def test_forwarded_module_is_a_stand_in_inside_and_the_real_one_on_first_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "paymock_probe_fw.py").write_text(
        "import sys\nsys.paymock_probe_ran = True\ndef f(x, *, k=1):\n    return x * k\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(deferred_imports, "FORWARDED", {"paymock_probe_fw": ("f",)})
    monkeypatch.setattr(sys, "paymock_probe_ran", False, raising=False)
    try:
        with deferred_imports.deferred():
            from paymock_probe_fw import f  # type: ignore[import-not-found]

            assert not sys.paymock_probe_ran  # type: ignore[attr-defined]
            assert importlib.util.find_spec("paymock_probe_fw").name == "paymock_probe_fw"  # a module like others
        assert "paymock_probe_fw" not in sys.modules  # the stand-in is gone; the real one not loaded yet
        assert f(3, k=2) == 6 and f.__name__ == "f"
        assert sys.paymock_probe_ran  # type: ignore[attr-defined]
        real = sys.modules["paymock_probe_fw"]
        assert type(real) is ModuleType and real.f(2) == 2 and f(4) == 4
    finally:
        sys.modules.pop("paymock_probe_fw", None)


def test_forwarded_module_that_is_not_installed_stays_an_import_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(deferred_imports, "FORWARDED", {"paymock_probe_absent": ("f",)})
    # the importer's `except ImportError` fallback still applies
    with deferred_imports.deferred(), pytest.raises(ImportError):
        from paymock_probe_absent import f  # type: ignore[import-not-found]  # noqa: F401
    assert "paymock_probe_absent" not in sys.modules


def test_deferred_block_leaves_modules_already_imported_alone(monkeypatch: pytest.MonkeyPatch):
    import requests  # noqa: F401  # imported here anyway (Connexion); made sure of
    import rfc3986_validator  # noqa: F401  # (jsonschema's)
    import uvicorn  # noqa: F401
    import werkzeug  # noqa: F401

    monkeypatch.setattr(deferred_imports, "HOLLOW", REAL_HOLLOW)  # safe: both are imported already
    names = (*deferred_imports.DEFERRED, *deferred_imports.SKIPPED, *deferred_imports.FORWARDED, *REAL_HOLLOW)
    before = {name: sys.modules[name] for name in names if name in sys.modules}
    assert {"requests", "rfc3986_validator", "uvicorn", "werkzeug"} <= set(before)
    with deferred_imports.deferred():
        assert all(sys.modules[name] is module for name, module in before.items())
    assert all(sys.modules[name] is module for name, module in before.items())
    assert type(before["requests"]) is ModuleType


def _probe_package(root: Path) -> None:
    """paymock_probe_pkg: an __init__ that binds a light and a heavy name; `light` imports a sibling."""
    package = root / "paymock_probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import sys\nsys.paymock_probe_ran = True\nfrom .light import Light\nfrom .heavy import Heavy\n"
    )
    (package / "light.py").write_text("from . import sibling\nclass Light:\n    kind = sibling.KIND\n")
    (package / "sibling.py").write_text("KIND = 'light'\n")
    (package / "heavy.py").write_text("import sys\nsys.paymock_probe_heavy = True\nclass Heavy:\n    pass\n")


def test_hollow_package_imports_submodules_and_named_attributes_without_its_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _probe_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(deferred_imports, "HOLLOW", {"paymock_probe_pkg": {"Light": "paymock_probe_pkg.light"}})
    monkeypatch.setattr(sys, "paymock_probe_ran", False, raising=False)
    monkeypatch.setattr(sys, "paymock_probe_heavy", False, raising=False)
    try:
        with deferred_imports.deferred():
            from paymock_probe_pkg import Light  # type: ignore[import-not-found]  # the named attribute

            assert Light.kind == "light"  # `from . import sibling` inside it imported the submodule
        import paymock_probe_pkg  # type: ignore[import-not-found]

        assert not sys.paymock_probe_ran and not sys.paymock_probe_heavy  # type: ignore[attr-defined]
        assert "paymock_probe_pkg.heavy" not in sys.modules
        assert paymock_probe_pkg.Light is Light
        heavy = paymock_probe_pkg.Heavy  # any other name: the real __init__ runs, once
        assert sys.paymock_probe_ran and sys.paymock_probe_heavy  # type: ignore[attr-defined]
        assert heavy is sys.modules["paymock_probe_pkg.heavy"].Heavy and paymock_probe_pkg.Light is Light
        with pytest.raises(AttributeError, match="no attribute 'missing'"):
            _ = paymock_probe_pkg.missing
        assert getattr(paymock_probe_pkg, "light.Light", "default") == "default"  # not a name: no lookup
    finally:
        for name in [name for name in sys.modules if name.startswith("paymock_probe_pkg")]:
            del sys.modules[name]


def test_hollow_package_whose_init_fails_runs_it_again_on_the_next_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    package = tmp_path / "paymock_probe_flaky"
    package.mkdir()
    # fails while sys.paymock_probe_fail is set (as a forwarded stand-in inside the block could make it)
    (package / "__init__.py").write_text(
        "import sys\nif sys.paymock_probe_fail:\n    raise ImportError('not yet')\nVALUE = 7\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(deferred_imports, "HOLLOW", {"paymock_probe_flaky": {}})
    monkeypatch.setattr(sys, "paymock_probe_fail", True, raising=False)
    try:
        with deferred_imports.deferred():
            import paymock_probe_flaky  # type: ignore[import-not-found]

            with pytest.raises(ImportError, match="not yet"):
                _ = paymock_probe_flaky.VALUE
        sys.paymock_probe_fail = False  # type: ignore[attr-defined]
        assert paymock_probe_flaky.VALUE == 7  # not "no attribute" for good
    finally:
        sys.modules.pop("paymock_probe_flaky", None)


def test_hollow_package_that_is_not_installed_stays_an_import_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(deferred_imports, "HOLLOW", {"paymock_probe_absent": {"f": "paymock_probe_absent.x"}})
    with deferred_imports.deferred(), pytest.raises(ImportError):
        import paymock_probe_absent  # type: ignore[import-not-found]  # noqa: F401
    assert "paymock_probe_absent" not in sys.modules


def test_class_built_on_first_use_makes_its_instance_when_first_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "paymock_probe_made.py").write_text(
        "import sys\nsys.paymock_probe_ran = True\nclass Made:\n"
        "    def __init__(self, value, *, scale=1):\n        self.value = value * scale\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(deferred_imports, "FORWARDED", {"paymock_probe_made": ("Made",)})
    monkeypatch.setattr(deferred_imports, "BUILT_ON_FIRST_USE", ("Made",))
    monkeypatch.setattr(sys, "paymock_probe_ran", False, raising=False)
    try:
        with deferred_imports.deferred():
            from paymock_probe_made import Made  # type: ignore[import-not-found]

            made = Made(3, scale=2)
        assert not sys.paymock_probe_ran  # type: ignore[attr-defined]  # neither imported nor built yet
        assert made.value == 6
        assert sys.paymock_probe_ran  # type: ignore[attr-defined]
        assert made.value == 6  # built once
        assert copy.copy(made).value == 6 and pickle.loads(pickle.dumps(made)).value == 6  # no endless lookup
        assert copy.deepcopy(Made(2)).value == 2
    finally:
        sys.modules.pop("paymock_probe_made", None)
