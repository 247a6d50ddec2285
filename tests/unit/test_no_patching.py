"""Importing paymock and running its app changes nothing for other apps in the same process.

The pytest plugin and the client load paymock inside users' test processes, next to their own
Connexion or Starlette apps. So paymock may not replace anything in its dependencies: no module
attribute or class attribute rebound, no import hook, no stand-in module. Checked in a fresh
interpreter: a plain Connexion app is built and used, everything its dependencies define is
recorded, then every paymock module is imported and paymock's app is built and used, and the record
is compared; a second plain app then behaves as the first did.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    r'''
    import importlib
    import json
    import pkgutil
    import sys
    import warnings

    warnings.filterwarnings("ignore")

    from connexion import AsyncApp
    from connexion.resolver import Resolver

    WATCHED = ("connexion", "starlette", "uvicorn", "jsonschema", "werkzeug", "yaml", "httpx", "anyio", "jinja2")
    BODY = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    SPEC = {
        "openapi": "3.0.3",
        "info": {"title": "plain", "version": "1"},
        "paths": {
            "/echo": {
                "post": {
                    "operationId": "echo",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": BODY}},
                    },
                    "responses": {"200": {"description": "the body"}},
                }
            }
        },
    }


    async def echo(body):
        return body, 200, {"Content-Type": "application/json"}


    def plain_answers():
        """A stock Connexion app, built and used: what its requests get."""
        app = AsyncApp("plain")
        app.add_api(SPEC, resolver=Resolver(function_resolver=lambda _id: echo), strict_validation=True)
        answers = []
        with app.test_client() as client:
            for content_type, data in (
                ("application/json", b'{"n": 1}'),
                ("application/json", b'{"n": "x"}'),
                ("text/plain", b'{"n": 1}'),
            ):
                r = client.post("/echo", content=data, headers={"content-type": content_type})
                answers.append([r.status_code, r.headers["content-type"], r.text if r.status_code == 200 else ""])
        return answers


    def record():
        """Every module-level and class-level binding in the watched packages, by identity."""
        seen = {}
        for name, module in list(sys.modules.items()):
            if module is None or name.split(".")[0] not in WATCHED:
                continue
            for attribute, value in list(vars(module).items()):
                seen[f"{name}:{attribute}"] = value
                if isinstance(value, type) and value.__module__ == name:
                    for key, member in list(vars(value).items()):
                        seen[f"{name}:{attribute}.{key}"] = member
        return seen


    first = plain_answers()
    before = record()
    hooks = (list(sys.meta_path), list(sys.path_hooks))

    import paymock

    skipped = []
    for info in pkgutil.walk_packages(paymock.__path__, "paymock."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # running it is running the command
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:  # an optional dependency this environment lacks
            if (exc.name or "").startswith("paymock"):
                raise
            skipped.append(info.name)

    from paymock.app import create_app
    from paymock.settings import Settings

    ours = []
    with create_app(Settings(webhook_secret="s" * 24, secret_from_env=True)).test_client() as client:
        ours.append(client.get("/healthz").status_code)
        r = client.post("/api/v2/payments", content=b"{}", headers={"content-type": "APPLICATION/JSON"})
        ours.append(r.status_code)  # paymock's app: validated as JSON (a 400 naming what is missing)
        ours.append(client.get("/api/v2/openapi.json").status_code)

    after = record()
    changed = sorted(key for key, value in before.items() if key in after and after[key] is not value)
    gone = sorted(key for key in before if key not in after)
    # a submodule imported later binds its name on its package; anything else new is an addition
    added = sorted(
        key
        for key, value in after.items()
        if key not in before and key.split(":")[0] in {k.split(":")[0] for k in before}
        and type(value).__name__ != "module"
    )
    print(json.dumps({
        "first": first,
        "second": plain_answers(),
        "ours": ours,
        "changed": changed,
        "gone": gone,
        "added": added,
        "hooks_same": hooks == (list(sys.meta_path), list(sys.path_hooks)),
        "skipped": skipped,
        "imported": sorted(name for name in sys.modules if name.startswith("paymock")),
    }))
    '''
)


def test_paymock_leaves_its_dependencies_as_they_were():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    # the plain app works, and paymock's app ran (so its middleware and validators were built)
    assert report["first"][0][0] == 200 and report["first"][1][0] == 400 and report["first"][2][0] == 415
    assert report["ours"] == [200, 400, 200]
    assert {"paymock.app", "paymock.api.validation", "paymock.api.content_type"} <= set(report["imported"])
    assert len(report["imported"]) > 30, report["imported"]  # every module, not just the app's
    # nothing in connexion, starlette, uvicorn, jsonschema, ... was rebound, removed or added to
    assert report["changed"] == [], report["changed"]
    assert report["gone"] == [], report["gone"]
    assert report["added"] == [], report["added"]
    assert report["hooks_same"]
    # and a plain app built afterwards answers exactly as one built before paymock was imported
    assert report["second"] == report["first"]
