"""Bad input of every kind → a 4xx application/problem+json whose detail says what was wrong,
nothing stored, never a 500. Runs against the in-process app with validation on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from contract_tests import support
from paymock.resources import load_spec

CREATE = "/api/v2/payments"
CONFIRM = "/api/v2/confirm-payment"
LISTING = "/api/v2/pending-payments"
JSON = {"Content-Type": "application/json"}


def good(**overrides: Any) -> dict[str, Any]:
    body = {
        "version": "v2",
        "tx_id": "tx_bad_1",
        "order_id": 123,
        "user_id": 1,
        "amount": 1000,
        "callback_url": "http://127.0.0.1:9/hook",
    }
    body.update(overrides)
    return body


def without(key: str) -> dict[str, Any]:
    body = good()
    del body[key]
    return body


@pytest.fixture
def c() -> Iterator[Any]:
    with support.client(support.OPEN_APP) as client:
        yield client


def assert_problem(response: Any, status: int | tuple[int, ...], *mentions: str) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    problem = response.json()
    assert problem["status"] == response.status_code
    assert problem.get("title")
    detail = problem.get("detail") or ""
    for mention in mentions:
        assert mention.lower() in detail.lower(), (mention, detail)
    return problem


def assert_nothing_stored(c: Any) -> None:
    listing = c.get(LISTING).json()
    assert listing["payments"] == {}, listing
    assert (listing["pending_count"], listing["completed_count"], listing["failed_count"]) == (0, 0, 0)
    assert c.get("/mock/v1/deliveries").json()["total"] == 0


BAD_BODIES = {
    "malformed JSON": (b'{"tx_id": "tx_1",', "expecting"),
    "trailing garbage": (b'{"tx_id": "tx_1"} x', "extra data"),
    "non-UTF-8 bytes": (b'{"tx_id": "\xff\xfe"}', "utf-8"),
    "latin-1 text": ('{"tx_id": "caf\u00e9"}'.encode("latin-1"), "utf-8"),
    "empty body": (b"", "body"),
    "JSON null": (b"null", "body"),
    "JSON array": (json.dumps([good()]).encode(), "not of type 'object'"),
    "JSON string": (b'"hello"', "not of type 'object'"),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "nested"),
    "NaN amount": (json.dumps(good(amount=float("nan"))).encode(), "amount"),
    "Infinity amount": (json.dumps(good(amount=float("inf"))).encode(), "amount"),
}


@pytest.mark.parametrize("raw", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_undecodable_or_unparsable_bodies(c, raw):
    body, mention = raw
    assert_problem(c.post(CREATE, data=body, headers=JSON), 400, mention)
    assert_problem(c.post(CONFIRM, data=body, headers=JSON), 400, mention)
    assert_nothing_stored(c)


BAD_FIELDS = {
    "amount as string": (good(amount="1000"), "amount"),
    "amount as float": (good(amount=10.5), "amount"),
    "amount as bool": (good(amount=True), "amount"),
    "amount zero": (good(amount=0), "amount"),
    "amount negative": (good(amount=-5), "amount"),
    "amount beyond max": (good(amount=10**12 + 1), "amount"),
    "amount beyond int64": (good(amount=2**63), "amount"),
    "order_id beyond int64": (good(order_id=2**63), "order_id"),
    "user_id huge": (good(user_id=10**40), "user_id"),
    "order_id negative": (good(order_id=-1), "order_id"),
    "order_id as string": (good(order_id="123"), "order_id"),
    "user_id null": (good(user_id=None), "user_id"),
    "tx_id as number": (good(tx_id=5), "tx_id"),
    "tx_id empty": (good(tx_id=""), "tx_id"),
    "tx_id too long": (good(tx_id="t" * 65), "tx_id"),
    "tx_id with slash": (good(tx_id="a/b"), "tx_id"),
    "tx_id with space": (good(tx_id="a b"), "tx_id"),
    "callback_url not a URL": (good(callback_url="not a url"), "callback_url"),
    "callback_url ftp": (good(callback_url="ftp://127.0.0.1/x"), "callback_url"),
    "callback_url too long": (good(callback_url="http://127.0.0.1/" + "a" * 2100), "callback_url"),
    "version unknown": (good(version="v3"), "version"),
    "missing tx_id": (without("tx_id"), "tx_id"),
    "missing order_id": (without("order_id"), "order_id"),
    "missing user_id": (without("user_id"), "user_id"),
    "missing amount": (without("amount"), "amount"),
    "missing callback_url": (without("callback_url"), "callback_url"),
    "extra field": (good(currency="KRW"), "currency"),
    "empty object": ({}, "required"),
}


@pytest.mark.parametrize("raw", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_create_rejects_bad_fields(c, raw):
    body, mention = raw
    assert_problem(c.post(CREATE, json=body), 400, mention)
    assert_nothing_stored(c)


@pytest.mark.parametrize(
    ("body", "mention"),
    [
        ({}, "payment_id"),
        ({"payment_id": 5}, "payment_id"),
        ({"payment_id": "tx_1"}, "payment_id"),
        ({"payment_id": "pay_"}, "payment_id"),
        ({"payment_id": "pay_x", "extra": 1}, "extra"),
    ],
)
def test_confirm_rejects_bad_fields(c, body, mention):
    assert_problem(c.post(CONFIRM, json=body), 400, mention)
    assert_nothing_stored(c)


def test_confirm_unknown_payment_is_404(c):
    assert_problem(c.post(CONFIRM, json={"payment_id": "pay_nosuch"}), 404, "pay_nosuch")
    assert_nothing_stored(c)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"]
)
def test_wrong_content_type(c, content_type):
    body = json.dumps(good()).encode()
    assert_problem(c.post(CREATE, data=body, headers={"Content-Type": content_type}), (400, 415), "content")
    assert_nothing_stored(c)


def test_missing_content_type(c):
    response = c.post(CREATE, data=json.dumps(good()).encode())
    assert_problem(response, 415, "content-type")
    assert_nothing_stored(c)


@pytest.mark.parametrize(
    ("params", "mention"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": str(2**70)}, "offset"),
        ({"status": "DONE"}, "status"),
        ({"unknown": "1"}, "unknown"),
    ],
)
def test_listing_rejects_bad_query(c, params, mention):
    assert_problem(c.get(LISTING, params=params), 400, mention)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v2/nope"),
        ("POST", "/api/v3/payments"),
        ("GET", "/mock/v1/payments/pay_x/extra"),
        ("GET", "/api/v2/payments/pay_x"),
    ],
)
def test_unknown_paths_are_404_problems(c, method, path):
    assert_problem(c.request(method, path), 404, path)


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("PUT", "/mock/v1/scenarios/v%19%C3%A6b%0A", "name"),  # found by schemathesis: a 404 PUT does not document
        ("GET", "/mock/v1/scenarios/%0A", "name"),
        ("DELETE", "/mock/v1/scenarios/a%0Ab", "name"),
        ("GET", "/mock/v1/payments/pay_x%0A", "payment_id"),
        ("POST", "/mock/v1/deliveries/evt_completed_tx%0A/redeliver", "delivery_id"),
    ],
)
def test_a_line_break_in_a_path_parameter_is_a_400_naming_it(c, method, path, name):
    """Starlette cannot route such a path (its mounts match `.*`); it is still ours, and the input is bad."""
    scenarios = c.get("/mock/v1/scenarios").json()
    body = {"name": "x", "description": "d"} if method == "PUT" else None
    assert_problem(c.request(method, path, json=body), 400, f"path parameter '{name}'", "line break")
    assert c.get("/mock/v1/scenarios").json() == scenarios  # nothing created or deleted
    assert_nothing_stored(c)


def test_a_line_break_with_a_wrong_method_is_still_a_405_and_head_is_get(c):
    response = c.request("POST", "/mock/v1/scenarios/a%0A")
    assert_problem(response, 405, "POST", "DELETE, GET, HEAD, PUT")
    assert response.headers["allow"] == "DELETE, GET, HEAD, PUT"
    assert c.request("HEAD", "/mock/v1/scenarios/a%0A").status_code == 400  # as GET, like Starlette does


@pytest.mark.parametrize("path", ["/mock/v1/sce%0Anarios/a", "/mock/v1/nope/a%0A", "/api/v2/payments%0A"])
def test_a_line_break_outside_a_path_parameter_is_still_a_404(c, path):
    assert_problem(c.get(path), 404, "no operation")


@pytest.mark.parametrize(
    ("field", "value"),
    [("tx_id", "tx_1\n"), ("callback_url", "http://127.0.0.1:9/hook\n"), ("version", "v2\n")],
)
def test_a_trailing_line_break_in_a_body_field_is_a_400_not_a_stored_payment(c, field, value):
    """The specs' `^...$` patterns are ECMA-262: `$` is the end, not "before a final line break" as in Python."""
    assert_problem(c.post(CREATE, json=good(**{field: value})), 400, field)
    assert_nothing_stored(c)


@pytest.mark.parametrize(
    ("url", "mention"),
    [("http://127.0.0.1:99999/hook", "out of range"), ("http://127.0.0.1:0/hook", "port 0")],
)
def test_a_callback_url_no_webhook_could_reach_is_a_400(c, url, mention):
    assert_problem(c.post(CREATE, json=good(callback_url=url)), 400, "callback_url", mention)
    assert_nothing_stored(c)


def test_a_trailing_line_break_in_a_scenario_name_is_a_400(c):
    assert_problem(c.put("/mock/v1/active-scenario", json={"name": "default\n"}), 400, "name")
    assert c.get("/mock/v1/active-scenario").json() == {"name": "default"}
    scenario = {"name": "qa-x", "description": "d", "payment": {"failure_reason": "X\n"}}
    put = c.put("/mock/v1/scenarios/qa-x", json=scenario)
    assert_problem(put, 400, "failure_reason")
    assert c.get("/mock/v1/scenarios/qa-x").status_code == 404


@pytest.mark.parametrize(
    ("path", "name"),
    [("/mock/v1/deliveries?scenario=default%0A", "scenario"), ("/mock/v1/deliveries?tx_id=tx_1%0A", "tx_id")],
)
def test_a_trailing_line_break_in_a_query_parameter_is_a_400(c, path, name):
    assert_problem(c.get(path), 400, f"query parameter '{name}'")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", CREATE, "POST"),
        ("DELETE", CREATE, "POST"),
        ("PUT", CONFIRM, "POST"),
        ("POST", LISTING, "GET, HEAD"),  # HEAD wherever GET is: Starlette answers it
        ("PATCH", "/mock/v1/scenarios/default", "DELETE, GET, HEAD, PUT"),
        ("POST", "/mock/v1/active-scenario", "GET, HEAD, PUT"),
        ("GET", "/mock/v1/reset", "POST"),
    ],
)
def test_wrong_methods_are_405_problems(c, method, path, allowed):
    response = c.request(method, path)
    assert_problem(response, 405, method, allowed)
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize("name", ["Bad Name", "UPPER", "-leading-dash", "a" * 65, "semi;colon", "ünïcode"])
def test_malformed_scenario_header_is_400(c, name):
    try:
        header = name.encode("utf-8").decode("latin-1")
    except UnicodeError:  # pragma: no cover
        header = name
    response = c.post(CREATE, json=good(), headers={"X-Mock-Scenario": header})
    assert_problem(response, 400, "X-Mock-Scenario", "is not a scenario name")
    assert_problem(c.get(LISTING, headers={"X-Mock-Scenario": header}), 400)
    assert_nothing_stored(c)


def test_unknown_scenario_header_is_404_listing_known_names(c):
    for method, path, body in (("POST", CREATE, good()), ("POST", CONFIRM, {"payment_id": "pay_x"})):
        response = c.request(method, path, json=body, headers={"X-Mock-Scenario": "no-such-scenario"})
        problem = assert_problem(response, 404, "no-such-scenario")
        assert "default" in problem["known_scenarios"] and "declined" in problem["known_scenarios"]
        assert "default" in problem["detail"]
    assert_nothing_stored(c)


def test_control_bad_requests(c):
    assert_problem(c.put("/mock/v1/active-scenario", json={"name": "no-such"}), 404, "no-such")
    assert_problem(c.put("/mock/v1/active-scenario", json={"name": "Bad Name"}), 400, "is not a scenario name")
    assert_problem(c.put("/mock/v1/active-scenario", json={}), 400, "name")
    bad = {"name": "x1", "description": "d", "payment": {"outcome": "explode"}}
    assert_problem(c.put("/mock/v1/scenarios/x1", json=bad), 400, "explode")
    mismatch = {"name": "x2", "description": "d"}
    assert_problem(c.put("/mock/v1/scenarios/x1", json=mismatch), 409, "x2")  # conflicts with its target
    assert_problem(c.get("/mock/v1/scenarios/x1"), 404, "x1")
    assert_problem(c.get("/mock/v1/wait-for-delivery", params={"timeout_ms": "10"}), 400, "tx_id")
    assert_problem(c.get("/mock/v1/wait-for-delivery", params={"tx_id": "t", "timeout_ms": "-1"}), 400, "timeout")
    assert c.get("/mock/v1/active-scenario").json() == {"name": "default"}
    assert_nothing_stored(c)


def problem_validator(spec_name: str) -> OAS30Validator:
    spec = load_spec(spec_name)
    return OAS30Validator({**spec["components"]["schemas"]["Problem"], "components": spec["components"]})


def assert_lists_every_error(response: Any, spec_name: str, expected: list[str]) -> dict[str, Any]:
    """A 400 whose `errors` has exactly the expected `<key path>: ...` entries, in order, and whose
    detail summarises them; the body is a Problem by the spec."""
    problem = assert_problem(response, 400)
    assert not list(problem_validator(spec_name).iter_errors(problem)), problem
    errors = problem["errors"]
    assert len(errors) == len(expected), errors
    for error, start in zip(errors, expected, strict=True):
        assert error.startswith(start), (error, start)
    if len(errors) > 1:
        assert f"{len(errors)} errors" in problem["detail"], problem["detail"]
    assert errors[0] in problem["detail"]
    return problem


def test_scenario_body_lists_every_violation(c):
    body = {"name": "x", "description": "d", "payment": {"outcome": "zz"}, "foo": 1}
    response = c.put("/mock/v1/scenarios/x", params={"dry_run": "true"}, json=body)
    problem = assert_lists_every_error(
        response, "control.yaml", ["(top level): Additional properties are not allowed ('foo'", "payment.outcome: 'zz'"]
    )
    assert "zz" in problem["detail"]
    assert c.get("/mock/v1/scenarios/x").status_code == 404


def test_create_body_lists_every_violation_sorted_by_key(c):
    body = good(amount="1000", tx_id="a b", currency="KRW")
    del body["user_id"]
    assert_lists_every_error(
        c.post(CREATE, json=body),
        "provider.yaml",
        [
            "(top level): 'user_id' is a required property",
            "(top level): Additional properties are not allowed ('currency'",
            "amount: '1000' is not of type 'integer'",
            "tx_id: 'a b' is not a tx_id",
        ],
    )
    assert_nothing_stored(c)


def test_one_violation_is_named_in_detail_and_errors(c):
    problem = assert_lists_every_error(c.post(CONFIRM, json={"payment_id": 5}), "provider.yaml", ["payment_id: 5 is"])
    assert problem["detail"].endswith(problem["errors"][0])


def test_huge_bad_values_are_shortened(c):
    body = good(callback_url=[list(range(2_000))] * 40, order_id="x" * 100_000)  # ~0.6 MB: under the 1 MiB cap
    problem = assert_lists_every_error(c.post(CREATE, json=body), "provider.yaml", ["callback_url: ", "order_id: "])
    assert all(len(error) < 400 for error in problem["errors"]), problem["errors"]
    assert len(problem["detail"]) < 1000
    assert_nothing_stored(c)


def test_a_body_over_one_mib_is_a_413_and_is_not_stored(c):
    body = good(order_id="x" * (1 << 20))
    assert_problem(c.post(CREATE, json=body), 413, "1,048,576 bytes")
    assert_nothing_stored(c)


@pytest.mark.parametrize("description", ["\r", "   ", "\n\t"])
def test_blank_scenario_description_is_a_400(c, description):
    # Found by the stateful phase: a blank description used to be stored trimmed to "" and the
    # answer (which must be non-empty) became a 500, after the scenario was saved.
    body = {"name": "blank", "description": description}
    for params in ({"dry_run": "true"}, {}):
        response = c.put("/mock/v1/scenarios/blank", params=params, json=body)
        assert_lists_every_error(response, "control.yaml", ["description: "])
    assert c.get("/mock/v1/scenarios/blank").status_code == 404
