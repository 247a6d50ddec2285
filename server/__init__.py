"""paymock: a contract-first mock payment provider.

The public surface is `__all__`: the client and what tests use around it, the app and its settings,
the signature checks a receiver needs, and YAML read as paymock reads scenario files (the console
uses these and nothing else). Everything else is internal and may move.

Each name is imported from its module on first use. `import paymock` happens in every pytest run
of an environment where paymock is installed (the plugin is an entry point), in the console and in
`paymock listen`; importing the whole surface up front would make a one-test pytest run that never
uses paymock 1.2 s slower, 0.57 s -> 1.91 s (`create_app` brings in Connexion, the client httpx;
bench/import_cost.py, bench/README.md "Import cost"). tests/unit/test_public_surface.py pins the
list and keeps `import paymock` light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it (relative to this package)
_MODULES = {
    "EmbeddedServer": ".testing.embedded",
    "PaymockClient": ".testing.client",
    "PaymockError": ".testing.client",
    "ReceivedWebhook": ".testing.receiver",
    "ServerProcess": ".testing.process",
    "Settings": ".settings",
    "SettingsError": ".settings",
    "WebhookReceiver": ".testing.receiver",
    "checked": ".testing.client",
    "create_app": ".app",
    "load_yaml": ".resources",
    "standard_secret": ".domain.webhooks",
    "verify_seed": ".domain.webhooks",
    "verify_standard": ".domain.webhooks",
}

__all__ = [
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

if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ below imports each
    from .app import create_app
    from .domain.webhooks import standard_secret, verify_seed, verify_standard
    from .resources import load_yaml
    from .settings import Settings, SettingsError
    from .testing.client import PaymockClient, PaymockError, checked
    from .testing.embedded import EmbeddedServer
    from .testing.process import ServerProcess
    from .testing.receiver import ReceivedWebhook, WebhookReceiver


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
