"""JSON Schema arrays checked in time linear in their size, whatever a client sends.

jsonschema (Python) checks every keyword of a schema independently: an array over its `maxItems`
still has each item validated (one error each: 200,000 items, 5 s and a 14 MB answer) and
`uniqueItems` compared pairwise, which is quadratic for objects or mixed values (a 37 KB body held
the event loop 8 s). Here an array over its `maxItems` is reported once, by its length, and neither
its items nor their uniqueness are looked at; `limits` and the specs' `maxItems` keep every array
a client sends short, so what is looked at stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from jsonschema import ValidationError, validators

Keyword = Callable[[Any, Any, Any, dict[str, Any]], Iterator[ValidationError]]


def _too_long(validator: Any, instance: Any, schema: dict[str, Any]) -> bool:
    limit = schema.get("maxItems")
    return limit is not None and validator.is_type(instance, "array") and len(instance) > limit


def max_items(validator: Any, limit: int, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    """`maxItems`, said by length: jsonschema's own message holds the repr of the whole array."""
    if _too_long(validator, instance, schema):
        yield ValidationError(f"an array of {len(instance):,} items; at most {limit} allowed")


def unless_too_long(keyword: Keyword) -> Keyword:
    """`keyword` (items, uniqueItems, ...) skipped for an array `maxItems` already refuses."""

    def check(validator: Any, value: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
        if not _too_long(validator, instance, schema):
            yield from keyword(validator, value, instance, schema)

    return check


def with_bounded_arrays(validator_class: Any) -> Any:
    own = validator_class.VALIDATORS
    checks = {name: unless_too_long(own[name]) for name in ("items", "additionalItems", "uniqueItems") if name in own}
    return validators.extend(validator_class, {**checks, "maxItems": max_items})
