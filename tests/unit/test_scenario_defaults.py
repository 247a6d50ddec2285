"""Each scenario default lives in the model (domain/scenarios/model.py); the contract states the same
defaults for readers of control.yaml. This keeps the two from drifting apart."""

from __future__ import annotations

from paymock.domain.scenarios.loading import parse
from paymock.resources import load_spec

SECTIONS = {"payment": "ScenarioPayment", "webhook": "ScenarioWebhook", "api": "ScenarioApi"}


def test_the_contract_states_the_models_defaults() -> None:
    schemas = load_spec("control.yaml")["components"]["schemas"]
    filled = parse({"name": "s", "description": "d"}, "test").as_document()
    failing = parse({"name": "s", "description": "d", "payment": {"outcome": "fail"}}, "test").as_document()
    stated = 0
    for section, schema in SECTIONS.items():
        for key, prop in schemas[schema]["properties"].items():
            if "default" not in prop:
                continue
            stated += 1
            got = (failing if key == "failure_reason" else filled)[section][key]
            assert got == prop["default"], (
                f"{section}.{key}: the model fills {got!r}, control.yaml says {prop['default']!r}"
            )
    assert stated >= 5  # the contract does state defaults: this test checks something
