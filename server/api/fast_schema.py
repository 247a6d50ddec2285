"""A fast accept path for schema validation: jsonschema-rs checks a JSON value in microseconds.

Connexion's Python validators stay the judges: only a value the fast check rejects is validated
again by them, so error answers are unchanged while valid traffic (nearly all of it) and large
listings skip the slow path. OpenAPI 3.0 schemas are turned into JSON Schema first (`nullable`).
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs

# OpenAPI-only keywords with no JSON Schema meaning; dropped before compiling.
_OAS_ONLY = frozenset(
    {"nullable", "example", "discriminator", "xml", "externalDocs", "deprecated", "readOnly", "writeOnly"}
)


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema → JSON Schema Draft 4 (`nullable: true` becomes a null alternative)."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k not in _OAS_ONLY and not k.startswith("x-")}
    if node.get("nullable") is True:
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "type" not in out:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


class FastCheck:
    """Compiled once per schema object (Connexion builds validators per request, schemas live on)."""

    _cache: dict[int, tuple[Any, Any]] = {}

    @classmethod
    def is_valid(cls, schema: dict[str, Any], value: Any) -> bool:
        entry = cls._cache.get(id(schema))
        if entry is None or entry[0] is not schema:
            compiled = jsonschema_rs.Draft4Validator(to_json_schema(schema), validate_formats=True)
            entry = cls._cache[id(schema)] = (schema, compiled)  # the schema kept alive: ids stay unique
        try:
            return entry[1].is_valid(value)
        except (ValueError, RecursionError, OverflowError):
            return False  # let the Python validator decide and explain
