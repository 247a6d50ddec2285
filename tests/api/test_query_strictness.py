"""Bad query input Connexion accepted silently: a parameter given twice (it kept the last), integers
written loosely (`int()` takes `1_0`, ` 10`, `+10`, non-ASCII digits), wait-for-delivery parameters
it does not take, and a body sent to redeliver. Each is a 400 problem that names what to fix."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from connexion.exceptions import BadRequestProblem

from paymock.api import query
from paymock.resources import load_spec
from tests.conftest import PROBLEM, assert_problem, payment_body

LISTING = "/api/v2/pending-payments"
WAIT = "/mock/v1/wait-for-delivery"

# A valid value for each string query parameter of both specs (enums, integers and booleans come
# from the schema); the test below fails if a spec gains a query parameter missing here.
VALID_STRINGS = {
    "scenario": "default",
    "tx_id_prefix": "tx",
    "payment_id": "pay_tx_q",
    "tx_id": "tx_q",
}


def _valid(schema: dict[str, Any], name: str) -> str | None:
    if "enum" in schema:
        return str(schema["enum"][0])
    kind = schema.get("type")
    if kind == "integer":
        return str(schema.get("minimum", 0))
    if kind == "boolean":
        return "true"
    return VALID_STRINGS.get(name)  # None: a new parameter, see the coverage test


def _query_parameters() -> list[tuple[str, str, str, str | None]]:
    """(method, path, name, a valid value) for every query parameter of both specs, $refs followed."""
    found = []
    for spec_name, base in (("provider.yaml", "/api/v2"), ("control.yaml", "/mock/v1")):
        spec = load_spec(spec_name)
        schemas, shared = spec["components"]["schemas"], spec["components"].get("parameters", {})
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                    if "$ref" in param:
                        param = shared[param["$ref"].rsplit("/", 1)[1]]
                    if param["in"] != "query":
                        continue
                    schema = param["schema"]
                    if "$ref" in schema:
                        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
                    assert schema.get("type") != "array", "an array parameter may repeat: test it apart"
                    concrete = path.replace("{name}", "qa-query")
                    found.append((method.upper(), base + concrete, param["name"], _valid(schema, param["name"])))
    return found


QUERY_PARAMETERS = _query_parameters()


def _request(client: Any, method: str, path: str, query_string: str) -> Any:
    body = {"name": "qa-query", "description": "d"} if method == "PUT" else None
    return client.request(method, f"{path}?{query_string}", json=body)


# 1. a parameter given twice


def test_every_query_parameter_of_both_specs_is_covered():
    names = {(path, name) for _method, path, name, _value in QUERY_PARAMETERS}
    assert ("/api/v2/pending-payments", "status") in names and ("/mock/v1/wait-for-delivery", "event") in names
    assert len(names) == len(QUERY_PARAMETERS) >= 17
    missing = [name for _method, _path, name, value in QUERY_PARAMETERS if value is None]
    assert not missing, f"add a valid value for {missing} to VALID_STRINGS"


@pytest.mark.parametrize(("method", "path", "name", "value"), QUERY_PARAMETERS, ids=lambda v: str(v))
def test_a_single_valued_query_parameter_given_twice_is_a_400_naming_it(client, method, path, name, value):
    r = _request(client, method, path, f"{name}={value}&{name}={value}")
    assert_problem(r, 400, f"query parameter '{name}' is given 2 times", "give it once")
    assert client.get("/mock/v1/scenarios/qa-query").status_code == 404  # a PUT stored nothing


def test_the_status_filter_given_twice_does_not_silently_keep_the_last(client):
    r = client.get(f"{LISTING}?status=PENDING&status=PAYMENT_FAILED")
    assert_problem(r, 400, "'status' is given 2 times ('PENDING', 'PAYMENT_FAILED')")


def test_dry_run_given_twice_stores_nothing(client):
    scenario = {"name": "qa-dry", "description": "d"}
    r = client.put("/mock/v1/scenarios/qa-dry?dry_run=true&dry_run=false", json=scenario)
    assert_problem(r, 400, "'dry_run' is given 2 times")
    assert client.get("/mock/v1/scenarios/qa-dry").status_code == 404


def test_each_parameter_once_still_works(client):
    query_string = "status=PENDING&scenario=default&tx_id_prefix=tx&offset=0&limit=10"
    assert client.get(f"{LISTING}?{query_string}").status_code == 200
    assert client.get("/mock/v1/deliveries?tx_id=a&state=failed&event=payment.completed&limit=5").status_code == 200


def test_an_exploded_array_parameter_may_repeat_and_others_may_not():
    tags = {"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}}
    ids = {"name": "ids", "in": "query", "schema": {"type": "array", "items": {"type": "integer", "minimum": 0}}}
    packed = {**tags, "name": "packed", "explode": False}
    parameters = [tags, ids, packed]
    query.check(b"tags=a&tags=b&ids=1,2&ids=3&packed=a,b", parameters)  # no error
    with pytest.raises(BadRequestProblem, match="'packed' is given 2 times"):  # Connexion would keep the last
        query.check(b"packed=a&packed=b", parameters)
    with pytest.raises(BadRequestProblem, match="'ids' is '1_0'"):
        query.check(b"ids=1&ids=1_0", parameters)


# 2. integers written loosely


LOOSE = ["1_0", " 10", "10 ", "+10", "\n10", "10\n", "\uff11\uff10", "\u0967\u0966"]  # last two: fullwidth, Devanagari


@pytest.mark.parametrize("value", LOOSE)
def test_a_loosely_written_listing_limit_is_a_400_naming_it_and_the_value(client, value):
    r = client.get(LISTING, params={"limit": value})
    assert_problem(r, 400, "query parameter 'limit'", repr(value), "plain decimal digits", "1 to 1000")


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        (LISTING, {"offset": "-0"}, "offset"),  # offset cannot be negative: no sign at all
        (LISTING, {"offset": "0_0"}, "offset"),
        ("/mock/v1/deliveries", {"limit": "1_0"}, "limit"),
        ("/mock/v1/deliveries", {"offset": "+1"}, "offset"),
        (WAIT, {"tx_id": "tx_q", "timeout_ms": "+0"}, "timeout_ms"),
        (WAIT, {"tx_id": "tx_q", "state": "attempted", "min_attempts": " 1", "timeout_ms": "0"}, "min_attempts"),
    ],
)
def test_loose_integers_are_400s_on_every_integer_parameter(client, path, params, name):
    r = client.get(path, params=params)
    assert_problem(r, 400, f"query parameter '{name}' is {params[name]!r}")


@pytest.mark.parametrize(("name", "value"), [("limit", "1"), ("limit", "010"), ("limit", "1000"), ("offset", "00")])
def test_plain_digits_stay_valid(client, name, value):
    assert client.get(LISTING, params={name: value}).status_code == 200


def test_out_of_range_and_non_integers_are_still_400s(client):
    assert_problem(client.get(LISTING, params={"limit": "1001"}), 400, "'limit'", "maximum")
    assert_problem(client.get(LISTING, params={"limit": "1.0"}), 400, "'limit'")
    assert_problem(client.get(LISTING, params={"limit": ""}), 400, "'limit'")


def test_number_parameters_follow_json_number_syntax():
    amount = {"name": "amount", "in": "query", "schema": {"type": "number"}}
    for good in (b"amount=1", b"amount=-1.5", b"amount=2e3", b"amount=1.25E-2"):
        query.check(good, [amount])
    for bad in ("1_0.5", "+1", "inf", "nan", ".5", "1.", "1e"):
        with pytest.raises(BadRequestProblem) as info:
            query.check(urlencode({"amount": bad}).encode(), [amount])
        assert f"'amount' is {bad!r}: give a number" in info.value.detail


# 3. wait-for-delivery: one payment, and conditions that combine (nothing a schema-valid query can contradict)


@pytest.fixture
def delivered(client, receiver) -> str:
    """A payment whose payment.completed delivery was acknowledged; its tx_id."""
    client.post("/api/v2/payments", json=payment_body("tx_w", receiver.url()))
    receiver.wait_for(1)
    return "tx_w"


@pytest.mark.parametrize("name,value", [("delivery_id", "evt_completed_tx_w"), ("payment_id", "pay_tx_w")])
def test_the_payment_is_named_by_tx_id_only(client, delivered, name, value):
    r = client.get(WAIT, params={"tx_id": delivered, name: value, "timeout_ms": 0})
    assert_problem(r, 400, name)


def test_a_wait_without_tx_id_is_a_400_naming_it(client, delivered):
    assert_problem(client.get(WAIT, params={"state": "settled", "timeout_ms": 0}), 400, "tx_id")


@pytest.mark.parametrize("state", [None, "settled", "acknowledged", "attempted"])
def test_min_attempts_counts_with_any_state(client, delivered, state):
    """Acknowledged at its first attempt: one attempt satisfies every state that fits, three none."""
    base = {"tx_id": delivered, **({"state": state} if state else {})}
    r = client.get(WAIT, params={**base, "min_attempts": 1, "timeout_ms": 2000})
    assert r.status_code == 200, r.text
    problem = assert_problem(client.get(WAIT, params={**base, "min_attempts": 3, "timeout_ms": 0}), 409, "1 attempt(s)")
    assert problem["state"] == "acknowledged"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"event": "payment.completed"},
        {"event": "payment.completed", "state": "acknowledged"},
        {"state": "attempted", "min_attempts": 1},
        {"event": "payment.completed", "state": "attempted", "min_attempts": 1},
        {"state": "acknowledged", "min_attempts": 1},  # one attempt asked for explicitly, with a state
    ],
)
def test_documented_wait_combinations_still_answer(client, delivered, params):
    r = client.get(WAIT, params={"tx_id": delivered, **params, "timeout_ms": 2000})
    assert r.status_code == 200, r.text
    assert r.json()["delivery_id"] == "evt_completed_tx_w"


# 4. a body sent to redeliver


def test_redeliver_with_a_body_is_a_400_and_sends_nothing(client, delivered, receiver):
    r = client.post(f"/mock/v1/deliveries/evt_completed_{delivered}/redeliver", json={"scenario": "declined"})
    assert_problem(r, 400, "redeliver takes no request body", "send none")
    assert len(client.get(f"/mock/v1/deliveries/evt_completed_{delivered}").json()["attempts"]) == 1
    assert len(receiver.received) == 1


@pytest.mark.parametrize("body", [None, b""])
def test_redeliver_without_a_body_still_sends(client, delivered, receiver, body):
    r = client.post(f"/mock/v1/deliveries/evt_completed_{delivered}/redeliver", content=body)
    assert r.status_code == 200, r.text
    assert r.json()["attempts"][-1]["kind"] == "manual"
    receiver.wait_for(2)


def test_unknown_query_parameters_are_named_up_to_the_listing_cap_in_a_stable_order(client):
    # under the 64-parameter cap, Connexion named every unknown one, in a set's (changing) order
    names = [f"x{i:02d}" for i in range(30)]
    r = client.get(LISTING + "?" + "&".join(f"{n}=1" for n in reversed(names)))
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    detail = r.json()["detail"]
    assert ", ".join(repr(n) for n in names[:20]) + ", and 10 more" in detail, detail
    assert "x20" not in detail
    one = client.get(LISTING + "?nope=1")
    assert one.status_code == 400 and "nope" in one.json()["detail"]
