"""Handlers are wrapped once per operation (server/api/operations.py), yet every request is its own."""

from __future__ import annotations

import pytest

from paymock.api import operations
from paymock.resources import load_spec
from tests.conftest import in_process, payment_body

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
# every operation of both specs must be built through PreparedOperation
SPEC_OPERATIONS = sum(
    1
    for name in ("provider.yaml", "control.yaml")
    for item in load_spec(name)["paths"].values()
    for method in item
    if method in METHODS
)


@pytest.fixture
def decorations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each time a handler is wrapped (Connexion's own `decorate`, only observed)."""
    seen: list[str] = []
    wrap = operations.PreparedDecorator.decorate

    def observed(self: operations.PreparedDecorator, function):  # type: ignore[no-untyped-def]
        seen.append(function.__name__)
        return wrap(self, function)

    monkeypatch.setattr(operations.PreparedDecorator, "decorate", observed)
    return seen


def test_handlers_are_wrapped_at_start_up_not_per_request(decorations, receiver):
    with in_process() as client:
        at_start = list(decorations)
        for i in range(5):
            assert client.post("/api/v2/payments", json=payment_body(f"tx_op_{i}", receiver.url())).status_code == 200
            assert client.get("/api/v2/pending-payments", params={"limit": 1}).status_code == 200
            assert client.get("/mock/v1/health").status_code == 200
    assert len(at_start) == SPEC_OPERATIONS
    assert {"create", "listing"} <= set(at_start)
    assert decorations == at_start  # nothing wrapped again while serving


def test_each_request_gets_its_own_parameters_and_body(client, receiver):
    """The cached wrapper must not keep anything of an earlier request: query, body and header differ."""
    for i in range(3):
        body = payment_body(f"tx_own_{i}", receiver.url(), amount=100 + i)
        assert client.post("/api/v2/payments", json=body).json()["tx_id"] == f"tx_own_{i}"
    assert len(client.get("/api/v2/pending-payments", params={"limit": 1}).json()["payments"]) == 1
    assert len(client.get("/api/v2/pending-payments", params={"limit": 2}).json()["payments"]) == 2
    page = client.get("/api/v2/pending-payments", params={"tx_id_prefix": "tx_own_2"}).json()
    assert [p["amount"] for p in page["payments"].values()] == [102]
    declined = client.post(
        "/api/v2/payments",
        json=payment_body("tx_own_declined", receiver.url()),
        headers={"X-Mock-Scenario": "declined"},
    ).json()
    assert declined["status"] == "PAYMENT_FAILED"
    plain = client.post("/api/v2/payments", json=payment_body("tx_own_plain", receiver.url())).json()
    assert plain["status"] == "PAYMENT_COMPLETED"  # the header of the request before is not kept


def test_a_domain_error_after_good_requests_is_still_answered(client, receiver):
    """Errors raised inside the cached wrapper (by the handler) still become problem+json answers."""
    assert client.post("/api/v2/payments", json=payment_body("tx_ok", receiver.url())).status_code == 200
    r = client.post("/api/v2/confirm-payment", json={"payment_id": "pay_nope"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "pay_nope" in r.json()["detail"]
