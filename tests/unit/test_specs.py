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


def _schemas_with_a_shape(node, where="#"):
    """(location, schema) of every schema under `node` that a value can fail by `pattern` or by a string
    `format` (int64 and the like are numbers' formats, judged by type and range instead)."""
    if isinstance(node, dict):
        if "pattern" in node or (node.get("type") == "string" and "format" in node):
            yield where, node
        for key, value in node.items():
            yield from _schemas_with_a_shape(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _schemas_with_a_shape(value, f"{where}/{index}")


@pytest.mark.parametrize("name", ["provider.yaml", "control.yaml"])
def test_every_pattern_and_format_says_in_words_what_it_wants(name):
    """A value failing a pattern or format is told the schema's `title` (and `example`), never the regular
    expression (domain.patterns.readable): so each such schema needs a title that is words, not a regex."""
    found = list(_schemas_with_a_shape(load_spec(name)))
    assert found
    for where, schema in found:
        title = schema.get("title")
        assert title and title.startswith(("a ", "an ")), f"{name} {where}: no title saying what it wants"
        assert not any(sign in title for sign in ("^", "$", "[", "\\")), f"{name} {where}: {title!r}"
