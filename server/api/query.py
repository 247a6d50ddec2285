"""Strict query strings: what Connexion lets through silently, refused with a 400 naming the parameter.

Connexion keeps the last value of a parameter given twice (`?status=A&status=B` is B) and turns
integer parameters into numbers with Python's `int()`, which also takes `1_0`, ` 10`, `+10` and
non-ASCII digits. Here a parameter the spec declares as one value must come once, and an integer
must be ASCII decimal digits (leading zeros allowed, as they always were; a `-` only where the
schema allows negatives), a number the same with an optional fraction and exponent. Only arrays
exploded over repeats (`?a=1&a=2`, the OpenAPI default for arrays in the query) may repeat.
`validation.NamedParameterValidator` runs this before Connexion's own checks, and only when there
is a query string: a create (it has none) costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connexion.exceptions import BadRequestProblem
from connexion.utils import is_null, is_nullable
from starlette.datastructures import QueryParams

from ..domain.quoting import short

# ASCII digits only (`[0-9]`, not `\d`, which takes any Unicode digit); matched with fullmatch.
UNSIGNED = re.compile(r"[0-9]+")
SIGNED = re.compile(r"-?[0-9]+")
NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
UNSIGNED_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# How an array parameter's items are joined in one value (OpenAPI `style`), as Connexion splits them.
DELIMITERS = {"form": ",", "spaceDelimited": " ", "pipeDelimited": "|"}


@dataclass(frozen=True)
class Rule:
    """How one declared query parameter may be written."""

    name: str
    repeatable: bool
    nullable: bool
    grammar: re.Pattern[str] | None = None  # None: any text (Connexion's schema check judges it)
    expected: str = ""  # what to give instead, for the message
    delimiter: str | None = None  # array items: split each value on this before the grammar check


def _bounds(schema: dict[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f", {low} to {high}"
    if low is not None:
        return f", at least {low}"
    return f", at most {high}" if high is not None else ""


def _grammar(schema: dict[str, Any]) -> tuple[re.Pattern[str] | None, str]:
    """The pattern a value of this schema must match, and how to say it; (None, "") for any text."""
    kind = schema.get("type")
    if kind not in ("integer", "number"):
        return None, ""
    minimum = schema.get("minimum")
    signed = minimum is None or minimum < 0  # `-` only where a negative value could be valid
    if kind == "integer":
        sign = " with an optional leading '-'" if signed else ""
        return (SIGNED if signed else UNSIGNED), f"an integer in plain decimal digits{sign}{_bounds(schema)}"
    sign = "an optional leading '-', " if signed else ""
    shape = f"a number in plain decimal notation ({sign}digits, optionally '.digits' and 'e' exponent){_bounds(schema)}"
    return (NUMBER if signed else UNSIGNED_NUMBER), shape


def rule_of(param: dict[str, Any]) -> Rule:
    schema = param.get("schema", param)
    if schema.get("type") != "array":
        return Rule(param["name"], False, is_nullable(param), *_grammar(schema))
    style = param.get("style", "form")
    explode = param.get("explode", style == "form")  # OpenAPI's default, as Connexion reads it
    grammar, expected = _grammar(schema.get("items", {}))
    return Rule(param["name"], explode, is_nullable(param), grammar, expected, DELIMITERS.get(style, ","))


class Rules:
    """Each operation's query rules, built on its first request with a query string, then kept."""

    _cache: dict[int, tuple[Sequence[dict[str, Any]], dict[str, Rule]]] = {}

    @classmethod
    def of(cls, parameters: Sequence[dict[str, Any]]) -> dict[str, Rule]:
        entry = cls._cache.get(id(parameters))
        if entry is None or entry[0] is not parameters:
            rules = {p["name"]: rule_of(p) for p in parameters if p.get("in") == "query"}
            entry = cls._cache[id(parameters)] = (parameters, rules)  # kept alive: ids stay unique
        return entry[1]


def problem(rule: Rule, values: list[str]) -> str | None:
    """Why these values (every occurrence of the parameter) are refused; None if they are fine."""
    if len(values) > 1 and not rule.repeatable:
        given = ", ".join(short(v) for v in values[:3]) + (", ..." if len(values) > 3 else "")
        return f"query parameter {rule.name!r} is given {len(values)} times ({given}); give it once"
    if rule.grammar is None:
        return None
    for value in values:
        if rule.nullable and is_null(value):
            continue
        items = value.split(rule.delimiter) if rule.delimiter else [value]
        for item in items:
            if not rule.grammar.fullmatch(item):
                return f"query parameter {rule.name!r} is {short(item)}: give {rule.expected}"
    return None


def check(query_string: bytes, parameters: Sequence[dict[str, Any]]) -> None:
    """Raise a 400 for the first parameter written in a way Connexion would silently reinterpret.
    Names the spec does not declare are left to Connexion's strict validation, which lists them."""
    rules = Rules.of(parameters)
    if not rules:
        return
    query = QueryParams(query_string)  # parsed as Connexion's request parses it
    for name in query:
        rule = rules.get(name)
        if rule is not None and (error := problem(rule, query.getlist(name))):
            raise BadRequestProblem(detail=error)
