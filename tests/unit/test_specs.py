"""The shipped specs are valid OpenAPI 3.0.3, by openapi-spec-validator and by Connexion's own check
(which `add_api` runs on every start too)."""

from __future__ import annotations

import pytest
from connexion import AsyncApp
from connexion.exceptions import InvalidSpecification
from openapi_spec_validator import validate

from paymock.resources import load_spec


@pytest.mark.parametrize("name", ["provider.yaml", "control.yaml"])
def test_spec_is_valid(name):
    spec = load_spec(name)
    assert spec["openapi"] == "3.0.3"
    validate(spec)
    AsyncApp(__name__).add_api(spec)  # raises InvalidSpecification, with defaults checked too


def test_add_api_checks_the_spec():
    """What the test above relies on: `add_api` runs Connexion's spec check (a spec it rejects raises)."""
    spec = load_spec("provider.yaml")
    del spec["info"]
    with pytest.raises(InvalidSpecification):
        AsyncApp(__name__).add_api(spec)
