"""Request validation: the Connexion validators both APIs run with, answering readable 400 problems.

Connexion's own messages name the value but not the parameter, and stop at a body's first error;
these say which parameter, and list every violation of a body in the problem's `errors`. A value of
the wrong shape is said against the schema's title, not its regular expression (domain.patterns.readable),
and a path id its schema refuses is a 404 (NamedParameterValidator.validate_path_parameter).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, ProblemException, UnsupportedMediaTypeProblem
from connexion.json_schema import Draft4RequestValidator, Draft4ResponseValidator
from connexion.utils import is_null, is_nullable
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, JSONResponseBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from starlette.datastructures import Headers

from ..domain.bounded_arrays import with_bounded_arrays
from ..domain.limits import MAX_BODY_BYTES, MAX_LISTED, listed
from ..domain.patterns import EcmaDraft4Validator, readable, with_ecma_pattern
from ..domain.quoting import redact, short
from . import query
from .fast_schema import FastCheck
from .problems import listing_fields

# Connexion's validators, with `pattern` as ECMA-262 means it (a `$` is the very end): see domain.patterns;
# requests' arrays over their `maxItems` are refused by length alone: see domain.bounded_arrays
RequestValidator = with_bounded_arrays(with_ecma_pattern(Draft4RequestValidator))
ResponseValidator = with_ecma_pattern(Draft4ResponseValidator)
FORMATS = Draft4Validator.FORMAT_CHECKER

# One error's message is cut to this; a fuzzed value can be megabytes of JSON.
MAX_MESSAGE = 300
# The detail repeats the first few errors; `errors` has them all.
DETAIL_ERRORS = 3


def key_path(path: Iterable[Any]) -> str:
    """`payment.outcome`, `api.operations.0`; `(top level)` for the body itself."""
    return ".".join(str(p) for p in path) or "(top level)"


def message_of(error: ValidationError) -> str:
    """The error's message, with a long value in it shortened and URL credentials masked."""
    message = redact(readable(error))
    if len(message) > MAX_MESSAGE:
        message = message.replace(repr(error.instance), short(error.instance), 1)
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return message


def describe(error: ValidationError) -> str:
    """`<key path>: <message>`, with a long value in the message shortened."""
    return f"{key_path(error.absolute_path)}: {message_of(error)}"


def body_errors(errors: Iterable[ValidationError]) -> list[str]:
    """Every violation, sorted by key path (then message), so answers are stable; once each: a value that
    fails both a schema's `format` and its `pattern` is one mistake, said once (see `readable`)."""
    ordered = sorted(errors, key=lambda e: ([str(p) for p in e.absolute_path], e.message))
    return list(dict.fromkeys(describe(e) for e in ordered))


class BodyProblem(BadRequestProblem):
    """A 400 for a body the schema rejects: `detail` summarises, `errors` lists the violations (the
    first MAX_LISTED, with `errors_total` when there are more)."""

    def __init__(self, errors: list[str]) -> None:
        if len(errors) == 1:
            detail = f"request body does not match the contract: {errors[0]}"
        else:
            shown = "; ".join(errors[:DETAIL_ERRORS])
            more = f"; and {len(errors) - DETAIL_ERRORS:,} more" if len(errors) > DETAIL_ERRORS else ""
            detail = f"request body does not match the contract ({len(errors):,} errors, see `errors`): {shown}{more}"
        super().__init__(detail=detail)
        self.ext = listing_fields("errors", errors)


class NamedParameterValidator(ParameterValidator):
    """Connexion's parameter check (its `validate_parameter`), with ECMA-262 patterns; its errors name
    the value but not the parameter, then dump the schema: these say which parameter, in one line.
    Before it, the query string's own strictness (`query`): repeats and loosely written numbers."""

    def __init__(self, parameters: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        super().__init__(parameters, *args, **kwargs)
        self._operation_parameters = parameters  # the operation's own list: `query.Rules` caches on it

    def validate(self, scope: Any) -> None:
        query_string = scope.get("query_string")
        if query_string:  # nearly every request (each create) has none: nothing to do
            query.check(query_string, self._operation_parameters)
        super().validate(scope)

    def validate_query_parameter_list(self, request: Any, security_params: Any = None) -> set[str]:
        """Connexion's check for names the spec does not declare; its problem named every one (up to the
        query cap) in a set's order: these are named in order, the first MAX_LISTED, and counted."""
        extra = super().validate_query_parameter_list(request, security_params)
        if extra:
            names = sorted(extra)
            shown = [short(name) for name in names[:MAX_LISTED]]  # quoted and cut: a name can be 8 KB of anything
            raise BadRequestProblem(detail=f"Extra query parameter(s) {listed(shown, total=len(names))} not in spec")
        return extra

    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: Any = None
    ) -> str | None:
        if is_nullable(param) and is_null(value):
            return None
        if value is None:
            return f"Missing {parameter_type} parameter '{param['name']}'" if param.get("required") else None
        problem = NamedParameterValidator.problem_with(value, param)
        return f"{parameter_type} parameter {param.get('name')!r}: {problem}" if problem else None

    @staticmethod
    def problem_with(value: Any, param: dict[str, Any]) -> str | None:
        """What is wrong with a (present) value of the parameter, in words; None when nothing is."""
        try:
            EcmaDraft4Validator(param.get("schema", param), format_checker=FORMATS).validate(value)
        except ValidationError as exc:
            return message_of(exc)
        return None

    def validate_path_parameter(self, param: dict[str, Any], request: Any) -> str | None:
        """A path names a resource, and an id its schema refuses names none: a 404, as for an id that is
        well-formed but unknown — except for PUT, which creates the resource under that name (a 400)."""
        if request.method == "PUT":
            return super().validate_path_parameter(param, request)
        value = request.path_params.get(param["name"].replace("-", "_"))
        problem = None if value is None else self.problem_with(value, param)
        if problem:
            raise ProblemException(status=404, title="Not Found", detail=f"no such {param['name']}: {problem}")
        return None


class PayloadTooLarge(ProblemException):
    def __init__(self, size: int | None = None) -> None:
        got = f"{size:,} bytes" if size is not None else f"over {MAX_BODY_BYTES:,} bytes (chunked)"
        detail = f"request body is {got}; paymock takes at most {MAX_BODY_BYTES:,} bytes"
        super().__init__(status=413, title="Content Too Large", detail=detail)


async def read_body(receive: Any) -> bytes:
    """The whole body of a request without Content-Length (chunked), refused past MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: the client went away mid-body
            raise BadRequestProblem(detail="the request body ended before its last chunk")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


class RepeatedKey(ValueError):
    """A JSON object with a key twice: which value was meant is unknowable, so neither is taken."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object_pairs_hook: the object as json builds it, unless a key repeats."""
    found = dict(pairs)
    if len(found) == len(pairs):  # nearly always: one comparison
        return found
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise RepeatedKey(f"the key {short(key)} is given twice in one object: give each key once")
        seen.add(key)
    raise AssertionError("unreachable: fewer keys than pairs means a repeat")


# one decoder, made once: json.loads with a hook builds a new one per call (~1.3 us more per body;
# this one costs less than a plain json.loads of a create body: 2.7 against 4.0 us)
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


def with_headers(scope: Any, replace: dict[str, str], drop: tuple[str, ...] = ()) -> Any:
    """A copy of `scope` with headers set (lower-case names) and others dropped; the original is shared."""
    names = {*replace, *drop}
    kept = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in names]
    return {**scope, "headers": kept + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in replace.items()]}


class StrictJSONBodyValidator(JSONRequestBodyValidator):
    """JSON bodies: a body without Content-Type is a 415 (Connexion validates it as JSON but hands the
    handler raw bytes), one over MAX_BODY_BYTES a 413, a chunked one is read like any other (Connexion
    takes a body without Content-Length for none), bodies that cannot be decoded are 400s rather than
    500s, and a body the schema rejects is a 400 naming every violation, not only the first."""

    async def wrap_receive(self, receive: Any, *, scope: Any) -> Any:
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and int(declared) > MAX_BODY_BYTES:
            raise PayloadTooLarge(int(declared))
        if declared is None and "chunked" in headers.get("transfer-encoding", "").lower():
            body = await read_body(receive)
            # the body in one message, then the original channel (all it has left is the disconnect)
            message = {"type": "http.request", "body": body, "more_body": False}
            receive, declared = self._insert_messages(receive, messages=[message]), str(len(body))
            scope = with_headers(scope, {"content-length": declared}, drop=("transfer-encoding",))
        if not int(declared or 0) and self._required and self._schema.get("default") is None:
            raise BadRequestProblem(detail="request body is missing: send the JSON object the contract describes")
        if "content-type" not in headers and int(declared or 0):
            raise UnsupportedMediaTypeProblem(detail="Content-Type header missing: send the body as application/json")
        return await super().wrap_receive(receive, scope=scope)

    async def _parse(self, stream: Any, scope: Any) -> Any:
        # Connexion's own parse (JSONRequestBodyValidator._parse), with repeated keys refused: json.loads
        # keeps the last value of a key given twice, and the handler's own parse would do the same
        try:
            text = b"".join([message async for message in stream]).decode(self._encoding)
            if text.startswith("\ufeff"):  # json.loads' own check, which decode() does not make
                raise BadRequestProblem(detail="request body starts with a byte order mark: send JSON without one")
            return _DECODER.decode(text) if text else None
        except json.JSONDecodeError as exc:  # json's bare message ("Expecting value: line 1 ...")
            raise BadRequestProblem(detail=f"request body is not valid JSON: {exc}") from None
        except RepeatedKey as exc:
            raise BadRequestProblem(detail=f"request body is not usable JSON: {exc}") from None
        except UnicodeDecodeError as exc:
            raise BadRequestProblem(detail=f"request body is not valid UTF-8 JSON: {exc}") from None
        except RecursionError:
            raise BadRequestProblem(detail="request body is not usable JSON: nested too deeply") from None
        except LookupError:  # `charset=bogus`: no such codec
            detail = f"Content-Type charset {short(self._encoding)} is not one Python knows: send UTF-8 JSON"
            raise UnsupportedMediaTypeProblem(detail=detail) from None
        except ValueError as exc:  # an integer literal past Python's 4,300-digit conversion limit
            reason = str(exc).split(";")[0][:MAX_MESSAGE]  # "Exceeds the limit (4300 digits) ...: value has N digits"
            raise BadRequestProblem(detail=f"request body is not usable JSON: {reason}") from None

    @property
    def _validator(self) -> Any:
        return RequestValidator(self._schema, format_checker=FORMATS)

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if not self._nullable and body is None:  # no bytes, or the JSON literal null
            raise BadRequestProblem(detail="request body is empty or null: send the JSON object the contract describes")
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
