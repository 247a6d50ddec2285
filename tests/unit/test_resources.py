"""Loading YAML: a key written twice is an error in files people write; machine-written YAML keeps
PyYAML's behaviour."""

from __future__ import annotations

import pytest
import yaml

from paymock.resources import load_yaml


def test_unique_keys_refuses_a_duplicate_top_level_key() -> None:
    with pytest.raises(yaml.YAMLError, match="colour"):
        load_yaml("colour: red\nsize: 1\ncolour: blue\n", unique_keys=True)


def test_unique_keys_refuses_a_duplicate_nested_key() -> None:
    with pytest.raises(yaml.YAMLError, match="inner_key"):
        load_yaml("outer:\n  inner_key: 1\n  other: 2\n  inner_key: 3\n", unique_keys=True)


def test_unique_keys_still_allows_merge_keys_and_overriding_a_merged_key() -> None:
    text = "base: &base\n  x: 1\n  y: 2\nderived:\n  <<: *base\n  y: 3\n"
    assert load_yaml(text, unique_keys=True) == {"base": {"x": 1, "y": 2}, "derived": {"x": 1, "y": 3}}


def test_without_unique_keys_the_last_duplicate_wins_as_before() -> None:
    # the spec and other machine-written YAML keep PyYAML's behaviour
    assert load_yaml("a: 1\na: 2\nb: {c: 1, c: 2}\n") == {"a": 2, "b": {"c": 2}}
