"""Authenticated mode (SERVICE_AUTH_TOKEN set): Schemathesis with the token and every check on,
including `ignored_auth` (each operation is re-sent without a token and with a wrong one and must
answer 401), plus explicit 401 problem checks for every operation of both specs."""

from __future__ import annotations

import pytest

from contract_tests import support
from paymock.resources import load_spec

PROVIDER = support.PROVIDER_AUTH
CONTROL = support.CONTROL_AUTH


@PROVIDER.parametrize()
def test_provider_api_with_token(case):
    case.call_and_validate(headers=support.AUTH)


@CONTROL.parametrize()
def test_control_api_with_token(case):
    case.call_and_validate(headers=support.AUTH)


def _operations() -> list[tuple[str, str]]:
    found = []
    for name in ("provider.yaml", "control.yaml"):
        spec = load_spec(name)
        base = spec["servers"][0]["url"]
        for path, item in spec["paths"].items():
            for method in item:
                if method in ("get", "put", "post", "delete"):
                    concrete = (
                        path.replace("{name}", "default")
                        .replace("{payment_id}", "pay_x")
                        .replace("{delivery_id}", "evt_completed_x")
                    )
                    found.append((method.upper(), base + concrete))
    return found


@pytest.mark.parametrize(("method", "path"), _operations())
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {support.TOKEN}", "Bearer ", f"Bearer {support.TOKEN}x"]
)
def test_every_operation_refuses_missing_or_wrong_token(method, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    with support.client(support.AUTH_APP) as c:
        response = c.request(method, path, headers=headers, json={})
    assert response.status_code == 401, (method, path, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 401 and problem.get("detail")


def test_nothing_stored_without_token(receiver_url="http://127.0.0.1:9/hook"):
    body = {"tx_id": "tx_noauth", "order_id": 1, "user_id": 1, "amount": 1000, "callback_url": receiver_url}
    with support.client(support.AUTH_APP) as c:
        assert c.post("/api/v2/payments", json=body).status_code == 401
        assert c.post("/api/v2/payments", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
        listing = c.get("/api/v2/pending-payments", headers=support.AUTH).json()
    assert listing["payments"] == {} and listing["total"] == 0


def test_healthz_stays_open():
    with support.client(support.AUTH_APP) as c:
        assert c.get("/healthz").status_code == 200
