"""What a mistake looks like to the person who made it: the value, what was wanted in words (the schema's
`title` and `example`), never a regular expression; an id in a path that cannot exist is a 404."""

from __future__ import annotations

import pytest

from tests.conftest import payment_body

REGEX_SIGNS = ("^", "$", "[A-", "{1,", "\\")


def problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    text = " ".join([body["detail"], *body.get("errors", [])])
    assert not any(sign in text for sign in REGEX_SIGNS), text
    return body


def test_a_tx_id_given_as_payment_id_says_what_payment_ids_look_like(client):
    body = problem(client.post("/api/v2/confirm-payment", json={"payment_id": "tx_1001"}), 400)
    assert body["errors"] == [
        "payment_id: 'tx_1001' is not a payment id: payment ids look like `pay_<tx_id>` (e.g. pay_tx_1001)"
    ]
    body = problem(client.get("/mock/v1/deliveries", params={"payment_id": "tx_1001"}), 400)
    assert "query parameter 'payment_id': 'tx_1001' is not a payment id" in body["detail"]


def test_a_callback_url_that_is_no_url_is_one_message(client):
    """It fails the schema's `format: uri` and its `pattern`: one mistake, said once."""
    body = problem(client.post("/api/v2/payments", json=payment_body("tx_nu", "not a url")), 400)
    (error,) = body["errors"]
    assert error.startswith("callback_url: 'not a url' is not an http or https URL with a host (e.g. https://")
    assert client.get("/api/v2/pending-payments").json()["total"] == 0


def test_a_scenario_header_and_body_keys_say_their_rules(client):
    body = problem(
        client.post(
            "/api/v2/payments", json=payment_body("tx_h", "http://127.0.0.1:9/x"), headers={"X-Mock-Scenario": "Bad"}
        ),
        400,
    )
    assert "header parameter 'X-Mock-Scenario': 'Bad' is not a scenario name: 1 to 64 lower-case" in body["detail"]
    scenario = {"description": " ", "payment": {"outcome": "fail", "failure_reason": "card declined"}}
    body = problem(client.put("/mock/v1/scenarios/mine", json=scenario), 400)
    assert body["errors"] == [
        "description: ' ' is not a description with text in it, not only spaces (e.g. Webhooks fail twice, then "
        "succeed.)",
        "payment.failure_reason: 'card declined' is not a reason code: upper-case letters, digits and `_` "
        "(e.g. INSUFFICIENT_FUNDS)",
    ]


@pytest.mark.parametrize(
    ("method", "path", "says"),
    [
        ("GET", "/mock/v1/deliveries/nope", "no such delivery_id: 'nope' is not a delivery id: delivery ids look like"),
        ("POST", "/mock/v1/deliveries/nope/redeliver", "no such delivery_id: 'nope' is not a delivery id"),
        ("GET", "/mock/v1/payments/tx_1", "no such payment_id: 'tx_1' is not a payment id"),
        ("GET", "/mock/v1/scenarios/Bad", "no such name: 'Bad' is not a scenario name"),
        ("DELETE", "/mock/v1/scenarios/Bad", "no such name: 'Bad' is not a scenario name"),
    ],
)
def test_an_id_in_a_path_that_cannot_exist_is_a_404(client, method, path, says):
    assert says in problem(client.request(method, path), 404)["detail"]


def test_a_put_naming_a_resource_that_cannot_exist_is_a_400(client):
    """PUT creates the scenario by the path's name: a name it cannot have is bad input, not a missing one."""
    body = problem(client.put("/mock/v1/scenarios/Bad", json={"description": "d"}), 400)
    assert "path parameter 'name': 'Bad' is not a scenario name" in body["detail"]
    assert client.get("/mock/v1/scenarios/bad").status_code == 404
