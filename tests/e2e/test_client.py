"""PaymockClient against a real server process: ids escaped, the active scenario restored, waits and the
server's 400s for contradictions."""

from __future__ import annotations

import time

import pytest

from paymock.testing.client import PaymockClient, PaymockError, checked
from tests.e2e.helpers import create_ok


def test_client_escapes_ids_and_restores_the_active_scenario(live, live_server):
    with PaymockClient(live_server.base_url) as client:
        with pytest.raises(PaymockError) as info:
            client.delivery("../health")  # one id, not the health route
        assert info.value.status_code in (400, 404)
        with pytest.raises(ValueError, match="name"):
            client.put_scenario({"description": "no name"})
        assert client.put_scenario({"name": "mine", "description": "d"}, dry_run=True)["source"] == "runtime"
        assert "mine" not in {s["name"] for s in client.scenarios()["scenarios"]}  # dry run stored nothing
        client.put_scenario({"name": "mine", "description": "d"})
        client.set_scenario("mine")
        # the block resets (as a test's setup may): restoring `mine`, now gone, must not mask the failure
        with pytest.raises(AssertionError, match="the test's own"), client.scenario("declined"):
            client.reset()
            raise AssertionError("the test's own failure")
        assert client.active_scenario() == "default"
        client.put_scenario({"name": "mine", "description": "d"})
        client.delete_scenario("mine")
        assert "mine" not in {s["name"] for s in client.scenarios()["scenarios"]}


def test_client_waits_ask_again_until_their_timeout_and_name_the_payment_once(live, live_server, receiver):
    create_ok(live, "tx_client_wait", receiver.url())
    with PaymockClient(live_server.base_url) as client:
        # the client always sends min_attempts (1 by default): with any state that asks for nothing more
        assert client.wait_for_delivery(tx_id="tx_client_wait", state="acknowledged")["state"] == "acknowledged"
        found = client.wait_for_delivery(payment_id="pay_tx_client_wait", event="payment.completed", state="attempted")
        assert found["delivery_id"] == "evt_completed_tx_client_wait"
        # settled in another state: answered once, not asked again until the timeout
        start = time.monotonic()
        with pytest.raises(PaymockError) as info:
            client.wait_for_delivery(tx_id="tx_client_wait", state="failed", min_attempts=1, timeout=30)
        assert info.value.status_code == 409 and info.value.problem["state"] == "acknowledged"
        assert time.monotonic() - start < 10
        # no delivery ever comes: asked again (2 s per request) until the client's own timeout
        start = time.monotonic()
        with pytest.raises(PaymockError) as info:
            client.wait_for_delivery(tx_id="tx_never_created", timeout=3)
        assert info.value.status_code == 404 and "no delivery yet" in str(info.value)
        assert 3 <= time.monotonic() - start < 15
        with pytest.raises(TypeError):
            client.wait_for_delivery(tx_id="tx_client_wait", payment_id="pay_tx_client_wait")


def test_what_the_console_uses_checked_answers_scenario_documents_and_a_quiet_repr(live, live_server, receiver):
    with PaymockClient(live_server.base_url, auth_token="tok-never-shown-1") as client:
        assert "tok-never-shown-1" not in repr(client) and live_server.base_url in repr(client)
        answer = checked(client.create_payment("tx_console_1", receiver.url(), amount=5000, scenario="manual-confirm"))
        assert answer["status"] == "PENDING"
        confirmed = checked(client.confirm_payment(answer["payment_id"], scenario="default"))
        assert confirmed["status"] == "PAYMENT_COMPLETED"
        with pytest.raises(PaymockError) as info:  # a provider-API problem, through checked
            checked(client.create_payment("bad id", "not a url"))
        assert info.value.status_code == 400 and info.value.title and info.value.detail
        assert info.value.errors and all(isinstance(e, str) for e in info.value.errors)
        assert client.get_scenario("declined")["scenario"]["payment"]["outcome"] == "fail"
        # filters left as None are not sent (an empty `status=` would be a 400)
        assert checked(client.payments(status=None, limit=5))["payments"]
        assert client.deliveries_page(tx_id="tx_console_1", state=None)["total"] >= 1
