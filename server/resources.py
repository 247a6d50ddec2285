"""Files shipped inside the package: the OpenAPI specs and the scenario fixtures."""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


@cache
def _spec(name: str) -> dict[str, Any]:
    text = resources.files("paymock.openapi").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_spec(name: str) -> dict[str, Any]:
    """A fresh copy of openapi/<name> as a dict (callers may edit it)."""
    return copy.deepcopy(_spec(name))


def fixtures_dir() -> Path:
    return Path(str(resources.files("paymock.fixtures")))
