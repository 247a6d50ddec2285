"""JSON Schema `pattern` with the contract's meaning: ECMA-262 regular expressions, as the spec says.

Python's `re` differs in one way that matters for the specs' `^...$` patterns: its `$` also matches
just before a final line break, so `"tx_1\\n"` passes `^[A-Za-z0-9_.:-]{1,64}$` in jsonschema (which
uses `re.search`), while an ECMA-262 engine (jsonschema-rs, clients' validators) rejects it. Every
Python-side schema check here uses `EcmaDraft4Validator` (or `ecma_pattern` in an extended validator)
so a trailing line break is rejected, not stored.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft4Validator, ValidationError, validators

from .quoting import short


@functools.lru_cache(maxsize=256)
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled for Python with each unescaped `$` outside a character class as `\\Z`."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            out.append(char)
            i += 1
            for lead in ("^", "]"):  # `[^]...]` / `[]...]`: a leading `]` is a literal
                if pattern[i : i + 1] == lead:
                    out.append(lead)
                    i += 1
            continue
        elif char == "$":
            char = r"\Z"
        out.append(char)
        i += 1
    return re.compile("".join(out))


def ecma_pattern(validator: Any, pattern: str, instance: Any, _schema: Any) -> Iterator[ValidationError]:
    """The `pattern` keyword, as jsonschema's own but with ECMA-262's `$`."""
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def with_ecma_pattern(validator_class: Any) -> Any:
    return validators.extend(validator_class, {"pattern": ecma_pattern})


EcmaDraft4Validator = with_ecma_pattern(Draft4Validator)


def readable(error: ValidationError) -> str:
    """The error's message, except where it would show a regular expression or a format's name: a value
    failing a schema's `pattern` or `format` is said against the schema's `title` (what the value should
    be) and `example`. Every such schema in openapi/ has a title (tests/unit/test_specs.py)."""
    schema = error.schema
    if error.validator in ("pattern", "format") and isinstance(schema, dict) and schema.get("title"):
        example = schema.get("example")
        return f"{short(error.instance)} is not {schema['title']}" + (f" (e.g. {example})" if example else "")
    return str(error.message)
