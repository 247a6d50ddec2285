from __future__ import annotations

import pytest

from paymock.domain.errors import Conflict
from paymock.domain.payments import COMPLETED, FAILED, PENDING, Payment, payment_id_for, tx_id_of


def _payment() -> Payment:
    return Payment(
        tx_id="t1", order_id=1, user_id=2, amount=3, callback_url="http://h/x", scenario="default", created_at=10.0
    )


def test_ids():
    assert payment_id_for("tx_1001") == "pay_tx_1001"
    assert tx_id_of("pay_tx_1001") == "tx_1001"
    assert _payment().payment_id == "pay_t1"


def test_complete_once_keeps_first_time():
    p = _payment()
    assert p.status == PENDING
    assert p.complete(20.0) is True
    assert p.complete(30.0) is False
    assert (p.status, p.confirmed_at) == (COMPLETED, 20.0)


def test_failed_payment_cannot_complete():
    p = _payment()
    p.fail("CARD_DECLINED")
    with pytest.raises(Conflict, match="CARD_DECLINED"):
        p.complete(1.0)
    assert p.status == FAILED


def test_same_request_rule_names_the_differing_fields():
    p = _payment()
    p.check_same_request({"tx_id": "t1", "order_id": 1, "user_id": 2, "amount": 3, "callback_url": "http://h/x"})
    with pytest.raises(Conflict, match="amount, callback_url"):
        p.check_same_request({"tx_id": "t1", "order_id": 1, "user_id": 2, "amount": 4, "callback_url": "http://h/y"})
