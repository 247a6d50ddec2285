"""The shipped specs are valid OpenAPI 3.0.3, by openapi-spec-validator and by Connexion's own check
(which create_app skips at start-up for these files)."""

from __future__ import annotations

import pytest
from connexion.spec import OpenAPISpecification
from openapi_spec_validator import validate

from paymock.resources import load_spec


@pytest.mark.parametrize("name", ["provider.yaml", "control.yaml"])
def test_spec_is_valid(name):
    spec = load_spec(name)
    assert spec["openapi"] == "3.0.3"
    validate(spec)
    OpenAPISpecification._validate_spec(spec)  # raises InvalidSpecification, with defaults checked too
