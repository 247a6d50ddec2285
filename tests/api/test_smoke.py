from tests.conftest import payment_body


def test_create_and_webhook(client, receiver):
    r = client.post("/api/v2/payments", json=payment_body("tx_1", receiver.url()))
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "tx_id": "tx_1", "status": "PAYMENT_COMPLETED", "payment_id": "pay_tx_1"}
    hooks = receiver.wait_for(1)
    assert hooks[0].verified
