"""Shared setup for the contract tests: the in-process apps, Schemathesis config and hooks.

Both apps run with request and response validation on, a loopback-only callback allowlist (fuzzed
`callback_url`s that are not 127.0.0.1/localhost are recorded as failed attempts, never contacted),
the retry schedule scaled down to milliseconds, and the shipped scenarios without their match rules
(fuzzed data never picks a fault scenario by accident).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import yaml

warnings.filterwarnings("ignore", category=DeprecationWarning)

import schemathesis  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.python import asgi  # noqa: E402

from paymock.app import create_app  # noqa: E402
from paymock.resources import fixtures_dir  # noqa: E402
from tests.conftest import LOOPBACK, SECRET, settings  # noqa: E402

TOKEN = "contract-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# Sized so the whole contract_tests run takes ~50 s on 2 cores (budget ~100 s); raise with
# PAYMOCK_CONTRACT_EXAMPLES / PAYMOCK_CONTRACT_STATEFUL_EXAMPLES for a deeper run.
MAX_EXAMPLES = int(os.environ.get("PAYMOCK_CONTRACT_EXAMPLES", "40"))
STATEFUL_EXAMPLES = int(os.environ.get("PAYMOCK_CONTRACT_STATEFUL_EXAMPLES", "25"))
# Long-polls are fuzzed with short timeouts, so a wait for a delivery that never comes costs little.
MAX_WAIT_MS = 50


def config(
    headers: dict[str, str] | None = None, *, inferred_links: bool = True, examples: int | None = None
) -> SchemathesisConfig:
    """All checks on. `inferred_links=False` leaves the stateful phase to the spec's explicit links."""
    data: dict[str, Any] = {
        "checks": {"enabled": True},  # every check, each with Schemathesis' own accepted statuses
        # run size: sized for the time budget above
        "generation": {"max-examples": examples or MAX_EXAMPLES},
        # a stateful scenario's length: keeps each in-process run short (Schemathesis' default is longer)
        "phases": {"stateful": {"max-steps": 6, **({} if inferred_links else {"inference": {"algorithms": []}})}},
    }
    if headers:
        data["headers"] = headers
        # The authenticated runs repeat the open ones with a token (ignored_auth probes every
        # operation without and with a wrong one); the exhaustive coverage phase runs once, open.
        data["phases"]["coverage"] = {"enabled": False}
    return SchemathesisConfig.from_dict(data)


def without_match_rules(directory: Path) -> tuple[Path, ...]:
    """Copies of the shipped fixtures that have a match rule, without it, written to `directory`.

    Loaded after the shipped ones they override them by name: a fuzzed amount of 5030 or a tx_id
    starting `manual_` is then an ordinary payment, not an injected 503 or a pending one. The
    scenarios stay selectable by name (X-Mock-Scenario, active scenario); the tests in tests/ cover
    the match rules themselves.
    """
    for path in sorted(fixtures_dir().glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and document.pop("match", None) is not None:
            document["description"] = f"{document['description'].strip()} (contract tests: no match rule)"
            (directory / path.name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return (directory,)


FIXTURE_NAMES = frozenset(path.stem for path in fixtures_dir().glob("*.yaml"))


def _apps() -> tuple[Any, Any]:
    # Scenario files are read by create_app; the directory is not needed afterwards.
    with tempfile.TemporaryDirectory(prefix="paymock-contract-scenarios-") as tmp:
        common = {
            "callback_hosts": LOOPBACK,
            "time_scale": 0.001,
            "webhook_timeout_s": 1.0,
            "scenario_paths": without_match_rules(Path(tmp)),
        }
        return create_app(settings(**common)), create_app(settings(**common, auth_token=TOKEN))


OPEN_APP, AUTH_APP = _apps()

PROVIDER = schemathesis.openapi.from_asgi("/api/v2/openapi.json", OPEN_APP, config=config())
CONTROL = schemathesis.openapi.from_asgi("/mock/v1/openapi.json", OPEN_APP, config=config())
AUTH_EXAMPLES = max(5, MAX_EXAMPLES // 2)
PROVIDER_AUTH = schemathesis.openapi.from_asgi(
    "/api/v2/openapi.json", AUTH_APP, config=config(AUTH, examples=AUTH_EXAMPLES), headers=AUTH
)
CONTROL_AUTH = schemathesis.openapi.from_asgi(
    "/mock/v1/openapi.json", AUTH_APP, config=config(AUTH, examples=AUTH_EXAMPLES), headers=AUTH
)


def short_wait(_context: Any, case: Any) -> Any:
    """Fuzzed long-polls wait at most MAX_WAIT_MS (a schema-valid value stays schema-valid)."""
    # endswith: the combined spec of the stateful phase has the path under its base (/mock/v1/...).
    if not case.operation.path.endswith("/wait-for-delivery") or not isinstance(case.query, dict):
        return case
    value = case.query.get("timeout_ms")
    if value is None:
        case.query["timeout_ms"] = MAX_WAIT_MS
    elif isinstance(value, int | str) and not isinstance(value, bool) and str(value).isdigit() and int(value) <= 2_000:
        case.query["timeout_ms"] = min(int(value), MAX_WAIT_MS)
    return case


for _schema in (CONTROL, CONTROL_AUTH):
    _schema.hook("map_case")(short_wait)


def client(app: Any) -> asgi.ASGIClient:
    """A requests-style client on the app, sharing the lifespan (and so the state) Schemathesis uses."""
    return asgi.get_client(app)


def reset(app: Any, headers: dict[str, str] | None = None) -> None:
    with client(app) as c:
        response = c.post("/mock/v1/reset", headers=headers or {})
        assert response.status_code == 200, response.text


__all__ = ["AUTH", "AUTH_APP", "CONTROL", "CONTROL_AUTH", "OPEN_APP", "PROVIDER", "PROVIDER_AUTH", "SECRET", "TOKEN"]


def _prefix_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                kind, name = value[len("#/components/") :].split("/", 1)
                out[key] = f"#/components/{kind}/{prefix}{name}"
            else:
                out[key] = _prefix_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_prefix_refs(item, prefix) for item in node]
    return node


# The control operations one payment goes through; the rest of the control API has its own machine.
LIFECYCLE_PATHS = ("/payments/", "/deliveries", "/wait-for-delivery")


def combined_spec(auth: bool = False) -> dict[str, Any]:
    """Both contracts as one document (paths under their base, components namespaced), with links
    from the provider's create/confirm into the control API's payment detail, deliveries, redelivery
    and long-poll, so the stateful phase follows one payment through both APIs.

    A test artifact only: the shipped specs stay separate.
    """
    from paymock.resources import load_spec

    merged: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "paymock provider + control (contract tests)", "version": "0"},
        "servers": [{"url": "/"}],
        "paths": {},
        "components": {},
    }
    for name, prefix in (("provider.yaml", "p_"), ("control.yaml", "c_")):
        spec = _prefix_refs(load_spec(name), prefix)
        base = spec["servers"][0]["url"].rstrip("/")
        for path, item in spec["paths"].items():
            if name == "control.yaml" and not path.startswith(LIFECYCLE_PATHS):
                continue
            if auth:
                for operation in item.values():
                    if isinstance(operation, dict) and "responses" in operation:
                        operation.setdefault("security", spec.get("security"))
            merged["paths"][base + path] = item
        for kind, entries in spec.get("components", {}).items():
            merged["components"].setdefault(kind, {}).update({prefix + k: v for k, v in entries.items()})
    detail = "paymock.api.deliveries.payment_detail"
    create_links = merged["paths"]["/api/v2/payments"]["post"]["responses"]["200"]["links"]
    create_links.update(
        {
            "PaymentDetail": {"operationId": detail, "parameters": {"payment_id": "$response.body#/payment_id"}},
            "WaitForDelivery": {
                "operationId": "paymock.api.deliveries.wait",
                "parameters": {"tx_id": "$response.body#/tx_id"},
            },
            "Deliveries": {
                "operationId": "paymock.api.deliveries.list_all",
                "parameters": {"payment_id": "$response.body#/payment_id"},
            },
        }
    )
    merged["paths"]["/api/v2/confirm-payment"]["post"]["responses"]["200"]["links"] = {
        "PaymentDetail": {"operationId": detail, "parameters": {"payment_id": "$response.body#/payment_id"}}
    }
    merged["paths"]["/mock/v1/payments/{payment_id}"]["get"]["responses"]["200"]["links"] = {
        "Delivery": {
            "operationId": "paymock.api.deliveries.get_one",
            "parameters": {"delivery_id": "$response.body#/deliveries/0/delivery_id"},
        },
        "Redeliver": {
            "operationId": "paymock.api.deliveries.redeliver",
            "parameters": {"delivery_id": "$response.body#/deliveries/0/delivery_id"},
        },
    }
    return merged
