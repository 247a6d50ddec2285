"""The package's public surface (`paymock.__all__`), pinned as httpx pins its exported members."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import paymock

PUBLIC = [
    "EmbeddedServer",
    "PaymockClient",
    "PaymockError",
    "ReceivedWebhook",
    "ServerProcess",
    "Settings",
    "SettingsError",
    "WebhookReceiver",
    "__version__",
    "checked",
    "create_app",
    "load_yaml",
    "standard_secret",
    "verify_seed",
    "verify_standard",
]


def test_all_is_the_pinned_surface() -> None:
    # adding or removing a public name is a decision: change PUBLIC here with it
    assert paymock.__all__ == PUBLIC


@pytest.mark.parametrize("name", [n for n in PUBLIC if n != "__version__"])
def test_each_name_is_the_object_its_module_defines(name: str) -> None:
    value = getattr(paymock, name)
    assert value is getattr(importlib.import_module(value.__module__), name)
    assert value.__module__.startswith("paymock.")
    assert name in dir(paymock)


def test_star_import_gives_every_name() -> None:
    namespace: dict[str, object] = {}
    exec("from paymock import *", namespace)
    assert set(PUBLIC) <= set(namespace)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'PaymockClients'"):
        paymock.PaymockClients  # noqa: B018
    with pytest.raises(ImportError):
        exec("from paymock import running_server", {})


def test_importing_the_package_stays_light() -> None:
    # the pytest plugin imports `paymock` in every test run; the client, the app and the server come on use
    code = (
        "import sys, paymock, paymock.testing.pytest_plugin\n"
        "print(sorted(m for m in ('httpx', 'connexion', 'uvicorn', 'starlette') if m in sys.modules))\n"
        "paymock.PaymockClient\n"
        "print('httpx' in sys.modules, 'connexion' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.splitlines() == ["[]", "True False"], out.stderr
