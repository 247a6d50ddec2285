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


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=YamlLoader)  # a safe loader: plain data only


@cache
def _spec(name: str) -> dict[str, Any]:
    return load_yaml(resources.files("paymock.openapi").joinpath(name).read_text(encoding="utf-8"))


def load_spec(name: str) -> dict[str, Any]:
    """A fresh copy of openapi/<name> as a dict (callers may edit it)."""
    return copy.deepcopy(_spec(name))


def fixtures_dir() -> Path:
    return Path(str(resources.files("paymock.fixtures")))
