"""Payments page: create with every field and a scenario, lists by status, confirm, details."""

from __future__ import annotations

from tests.console.conftest import click, goto, rendered, texts


def create(at, tx_id: str, scenario: str | None = None, amount: int | None = None):
    at.text_input(key="new_tx_id").set_value(tx_id)
    if scenario is not None:
        at.selectbox(key="new_scenario").set_value(scenario)
    if amount is not None:
        at.number_input(key="new_amount").set_value(amount)
    click(at, "Create payment")
    assert not at.exception
    return at


def tab(at, prefix: str):
    matches = [t for t in at.tabs if t.label.startswith(prefix)]
    assert len(matches) == 1, [t.label for t in at.tabs]
    return matches[0]


def listed_ids(at, prefix: str) -> list[str]:
    t = tab(at, prefix)
    return list(t.dataframe[0].value["payment_id"]) if len(t.dataframe) else []


def test_create_completed_now_appears_in_completed_list(console, console_env, receiver):
    at = console("payments")
    at.number_input(key="new_order_id").set_value(777)
    at.number_input(key="new_user_id").set_value(42)
    create(at, "tx_ui_done", amount=2500)
    shown = texts(at, "success")
    assert any("pay_tx_ui_done" in s and "PAYMENT_COMPLETED" in s and "completed now" in s for s in shown), shown
    assert listed_ids(at, "Completed") == ["pay_tx_ui_done"]
    assert tab(at, "Pending").label == "Pending (0)"
    assert {m.label: m.value for m in at.metric}["Completed"] == "1"
    # every contract field went over the wire, and the webhook went to the callback URL
    stored = console_env.get("/mock/v1/payments/pay_tx_ui_done").json()["payment"]
    assert (stored["order_id"], stored["user_id"], stored["amount"]) == (777, 42, 2500)
    assert receiver.wait_for(1, path="/hook/tx_ui_done")[0].verified
    # the details section opened on the new payment, with its scenario and delivery
    assert at.text_input(key="detail_id").value == "pay_tx_ui_done"
    assert "default" in [m.value for m in at.metric if m.label == "Scenario"]
    assert any("Attempt 1" in e.label and "200" in e.label for e in at.expander)


def test_unacknowledged_webhook_answers_pending_with_the_reason(console, receiver):
    receiver.status_for_path["/hook/tx_ui_refused"] = 503
    at = create(console("payments"), "tx_ui_refused")
    warnings = texts(at, "warning")
    assert any("PENDING" in w and "not acknowledged" in w and "503" in w for w in warnings), warnings


def test_declined_payment_shows_failed_with_reason(console):
    at = create(console("payments"), "tx_ui_declined", scenario="declined")
    assert any("PAYMENT_FAILED" in e and "CARD_DECLINED" in e for e in texts(at, "error")), texts(at, "error")


def test_scenario_picker_sends_x_mock_scenario_and_confirm_from_details(console, console_env, receiver):
    at = create(console("payments"), "tx_ui_manual", scenario="manual-confirm")
    assert any("does not complete it automatically" in w for w in texts(at, "warning")), texts(at, "warning")
    assert console_env.get("/mock/v1/payments/pay_tx_ui_manual").json()["payment"]["scenario"] == "manual-confirm"
    assert receiver.received == []

    click(at, "Confirm this payment")
    assert not at.exception
    assert any("Confirmed pay_tx_ui_manual: PAYMENT_COMPLETED" in s for s in texts(at, "success"))
    assert console_env.get("/mock/v1/payments/pay_tx_ui_manual").json()["payment"]["status"] == "PAYMENT_COMPLETED"
    assert receiver.wait_for(1, path="/hook/tx_ui_manual")[0].event == "payment.completed"


def test_a_problem_is_shown_readably(console):
    at = create(console("payments"), "bad id with spaces")
    errors = texts(at, "error")
    assert any(e.startswith("Create bad id with spaces: 400 Bad Request:") for e in errors), errors
    assert "Traceback" not in rendered(at)


def test_pending_payment_is_listed_and_confirmed_from_the_list(console, console_env):
    at = create(console("payments"), "manual_ui_list")
    assert texts(at, "error") == []
    assert listed_ids(at, "Pending") == ["pay_manual_ui_list"]
    at.selectbox(key="confirm_pick").set_value("pay_manual_ui_list")
    click(at, "Confirm by hand")
    assert listed_ids(at, "Completed") == ["pay_manual_ui_list"]
    assert tab(at, "Pending").label == "Pending (0)"


def test_active_scenario_changes_what_the_next_payment_does(console, console_env):
    at = console("scenarios")
    at.selectbox(key="sc_active_pick").set_value("declined")
    click(at, "Set active")
    assert not at.exception
    assert any("Active scenario is now `declined`" in s for s in texts(at, "success"))
    assert console_env.get("/mock/v1/active-scenario").json() == {"name": "declined"}

    goto(at, "payments")
    create(at, "tx_ui_after_active")  # no header, amount 1000: only the active scenario applies
    assert any("pay_tx_ui_after_active" in e and "PAYMENT_FAILED" in e for e in texts(at, "error"))
    assert console_env.get("/mock/v1/payments/pay_tx_ui_after_active").json()["payment"]["scenario"] == "declined"
