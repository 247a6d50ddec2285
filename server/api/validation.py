"""Request validation: the Connexion validators both APIs run with, answering readable 400 problems.

Connexion's own messages name the value but not the parameter, and stop at a body's first error;
these say which parameter, and list every violation of a body in the problem's `errors`.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, UnsupportedMediaTypeProblem
from connexion.json_schema import Draft4RequestValidator, Draft4ResponseValidator
from connexion.utils import is_null, is_nullable
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, JSONResponseBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from starlette.datastructures import Headers

from ..domain.patterns import EcmaDraft4Validator, with_ecma_pattern
from .fast_schema import FastCheck

# Connexion's validators, with `pattern` as ECMA-262 means it (a `$` is the very end): see domain.patterns
RequestValidator = with_ecma_pattern(Draft4RequestValidator)
ResponseValidator = with_ecma_pattern(Draft4ResponseValidator)
FORMATS = Draft4Validator.FORMAT_CHECKER

# One error's message is cut to this; a fuzzed value can be megabytes of JSON.
MAX_MESSAGE = 300
# The detail repeats the first few errors; `errors` has them all.
DETAIL_ERRORS = 3

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = _short.maxdict = _short.maxtuple = 4
_short.maxlevel = 2


def short(value: Any) -> str:
    """A repr cut to ~60 characters: fuzzed values can be megabytes."""
    return _short.repr(value)


def key_path(path: Iterable[Any]) -> str:
    """`payment.outcome`, `api.operations.0`; `(top level)` for the body itself."""
    return ".".join(str(p) for p in path) or "(top level)"


def describe(error: ValidationError) -> str:
    """`<key path>: <message>`, with a long value in the message shortened."""
    message = error.message
    if len(message) > MAX_MESSAGE:
        message = message.replace(repr(error.instance), short(error.instance), 1)
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return f"{key_path(error.absolute_path)}: {message}"


def body_errors(errors: Iterable[ValidationError]) -> list[str]:
    """Every violation, sorted by key path (then message), so answers are stable."""
    ordered = sorted(errors, key=lambda e: ([str(p) for p in e.absolute_path], e.message))
    return [describe(e) for e in ordered]


class BodyProblem(BadRequestProblem):
    """A 400 for a body the schema rejects: `detail` summarises, `errors` lists every violation."""

    def __init__(self, errors: list[str]) -> None:
        if len(errors) == 1:
            detail = f"request body does not match the contract: {errors[0]}"
        else:
            shown = "; ".join(errors[:DETAIL_ERRORS])
            more = f"; and {len(errors) - DETAIL_ERRORS} more" if len(errors) > DETAIL_ERRORS else ""
            detail = f"request body does not match the contract ({len(errors)} errors, see `errors`): {shown}{more}"
        super().__init__(detail=detail)
        self.ext = {"errors": errors}


class NamedParameterValidator(ParameterValidator):
    """Connexion's parameter check (its `validate_parameter`), with ECMA-262 patterns; its errors name
    the value but not the parameter, then dump the schema: these say which parameter, in one line."""

    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: Any = None
    ) -> str | None:
        if is_nullable(param) and is_null(value):
            return None
        if value is None:
            return f"Missing {parameter_type} parameter '{param['name']}'" if param.get("required") else None
        try:
            EcmaDraft4Validator(param.get("schema", param), format_checker=FORMATS).validate(value)
        except ValidationError as exc:
            return f"{parameter_type} parameter {param.get('name')!r}: {str(exc).splitlines()[0]}"
        return None


class StrictJSONBodyValidator(JSONRequestBodyValidator):
    """JSON bodies: a body without Content-Type is a 415 (Connexion validates it as JSON but hands the
    handler raw bytes), bodies that cannot be decoded are 400s rather than 500s, and a body the schema
    rejects is a 400 naming every violation, not only the first."""

    async def wrap_receive(self, receive: Any, *, scope: Any) -> Any:
        headers = Headers(scope=scope)
        if "content-type" not in headers and int(headers.get("content-length") or 0):
            raise UnsupportedMediaTypeProblem(detail="Content-Type header missing: send the body as application/json")
        return await super().wrap_receive(receive, scope=scope)

    async def _parse(self, stream: Any, scope: Any) -> Any:
        try:
            return await super()._parse(stream, scope)
        except UnicodeDecodeError as exc:
            raise BadRequestProblem(detail=f"request body is not valid UTF-8 JSON: {exc}") from None
        except RecursionError:
            raise BadRequestProblem(detail="request body is not usable JSON: nested too deeply") from None

    @property
    def _validator(self) -> Any:
        return RequestValidator(self._schema, format_checker=FORMATS)

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if not self._nullable and body is None:
            raise BadRequestProblem(detail="Request body must not be empty")
        if FastCheck.is_valid(self._schema, body):
            return None
        try:
            errors = body_errors(self._validator.iter_errors(body))
        except RecursionError:
            raise BadRequestProblem(detail="request body is not usable JSON: nested too deeply") from None
        if errors:
            raise BodyProblem(errors)
        return None


class FastJSONResponseBodyValidator(JSONResponseBodyValidator):
    """Response validation with the fast accept path (a 100k-payment listing: ~0.2 s instead of ~20 s)."""

    @property
    def validator(self) -> Any:
        return ResponseValidator(self._schema, format_checker=FORMATS)

    def _validate(self, body: Any) -> None:
        if not FastCheck.is_valid(self._schema, body):
            super()._validate(body)


VALIDATORS = {
    "parameter": NamedParameterValidator,
    "body": MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": StrictJSONBodyValidator}),
    "response": MediaTypeDict({**VALIDATOR_MAP["response"], "*/*json": FastJSONResponseBodyValidator}),
}
