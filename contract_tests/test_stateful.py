"""The stateful phase: Schemathesis follows OpenAPI links (create → confirm, payment → deliveries →
redelivery) with every check on, state reset at the start of each scenario.

Positive create requests in the combined machine are pointed at a real WebhookReceiver on
127.0.0.1, so webhooks are delivered and acknowledged for real; every body that arrives must
validate against the spec's WebhookEvent schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_schema_validator import OAS30Validator
from schemathesis.specs.openapi.checks import use_after_free

from contract_tests import support
from paymock.resources import load_spec
from paymock.testing.receiver import WebhookReceiver

STATEFUL = settings(
    max_examples=support.STATEFUL_EXAMPLES,
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def webhook_validator() -> OAS30Validator:
    spec = load_spec("provider.yaml")
    return OAS30Validator({**spec["components"]["schemas"]["WebhookEvent"], "components": spec["components"]})


def machine(schema: Any, app: Any, headers: dict[str, str] | None = None, receiver: WebhookReceiver | None = None):
    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            support.reset(app, headers)

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            # A run-time scenario may replace a fixture of the same name; its DELETE answers 204 and the
            # fixture is served again (undocumented "revert to the fixture"), which use_after_free
            # reads as a deleted resource still served. Skipped for fixture names only, until the
            # server's semantics are settled.
            excluded = [use_after_free] if shadows_fixture(case) else None
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=excluded,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

        def before_call(self, case: Any) -> None:
            # map_case hooks do not run for state-machine steps; apply the same fix-up here.
            support.short_wait(None, case)
            positive = case.meta is None or case.meta.generation.mode.is_positive
            body = case.body
            if receiver is not None and positive and isinstance(body, dict) and "callback_url" in body:
                body["callback_url"] = receiver.url(f"/hook/{body.get('tx_id', 'x')}")

    return Machine


def shadows_fixture(case: Any) -> bool:
    name = (case.path_parameters or {}).get("name")
    return case.operation.path.endswith("/scenarios/{name}") and name in support.FIXTURE_NAMES


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(support.SECRET)
    yield r
    r.close()


def test_provider_stateful():
    machine(support.PROVIDER, support.OPEN_APP).run(settings=STATEFUL)


def test_control_stateful():
    machine(support.CONTROL, support.OPEN_APP).run(settings=STATEFUL)


def test_provider_and_control_stateful(receiver):
    schema = schemathesis.openapi.from_dict(support.combined_spec(), config=support.config(inferred_links=False))
    schema.app = support.OPEN_APP
    machine(schema, support.OPEN_APP, receiver=receiver).run(settings=STATEFUL)
    validator = webhook_validator()
    assert receiver.received, "no webhook reached the loopback receiver during the stateful run"
    for hook in receiver.received:
        errors = [e.message for e in validator.iter_errors(json.loads(hook.body))]
        assert not errors, (hook.body, errors)
        assert hook.verified
