"""Files shipped inside the package: the OpenAPI specs and the scenario fixtures."""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# libyaml's loader when PyYAML has it (its wheels do): parsing the specs and fixtures is start-up time.
YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeysLoader(YamlLoader):  # type: ignore[misc,valid-type]
    """A key written twice in one mapping is an error, not a silent overwrite by the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base`: keys written next to it override the merged ones, on purpose
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the constructor below reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, *, unique_keys: bool = False) -> Any:
    """A safe loader: plain data only. `unique_keys` for files people write (scenarios, console scripts)."""
    return yaml.load(text, Loader=_UniqueKeysLoader if unique_keys else YamlLoader)


@cache
def _spec(name: str) -> dict[str, Any]:
    return load_yaml(resources.files("paymock.openapi").joinpath(name).read_text(encoding="utf-8"))


def load_spec(name: str) -> dict[str, Any]:
    """A fresh copy of openapi/<name> as a dict (callers may edit it)."""
    return copy.deepcopy(_spec(name))


def fixtures_dir() -> Path:
    return Path(str(resources.files("paymock.fixtures")))
