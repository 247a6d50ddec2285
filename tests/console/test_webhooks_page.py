"""Webhooks page: the delivery log with attempts, faults, headers and body; filters; redeliver."""

from __future__ import annotations

import json

from tests.conftest import payment_body, wait_for_delivery
from tests.console.conftest import click, texts


def test_delivery_log_shows_attempts_faults_and_redelivers(console, console_env, receiver):
    body = payment_body("tx_wh_flaky", receiver.url("/hook/tx_wh_flaky"))
    flaky = {"X-Mock-Scenario": "webhook-flaky"}
    assert console_env.post("/api/v2/payments", json=body, headers=flaky).status_code == 200
    assert wait_for_delivery(console_env, tx_id="tx_wh_flaky", state="acknowledged").status_code == 200
    body = payment_body("tx_wh_sig", receiver.url("/hook/tx_wh_sig"))
    console_env.post("/api/v2/payments", json=body, headers={"X-Mock-Scenario": "webhook-bad-signature"})

    at = console("webhooks")
    assert not at.exception
    log = at.dataframe[0].value
    assert set(log["delivery_id"]) == {"evt_completed_tx_wh_flaky", "evt_completed_tx_wh_sig"}

    at.selectbox(key="wh_scenario").set_value("webhook-flaky").run()
    assert list(at.dataframe[0].value["delivery_id"]) == ["evt_completed_tx_wh_flaky"]
    assert any("network failure on first 3" in w for w in texts(at, "warning"))
    labels = [e.label for e in at.expander]
    assert sum("simulated failure, nothing sent" in label for label in labels) == 3
    assert any(label.startswith("Attempt 4") and "200" in label for label in labels)
    attempts = at.dataframe[1].value
    assert list(attempts["number"]) == [1, 2, 3, 4]

    click(at, "Redeliver now")
    assert not at.exception
    assert any("Redelivered evt_completed_tx_wh_flaky: acknowledged (200)" in s for s in texts(at, "success"))
    assert len(receiver.for_path("/hook/tx_wh_flaky")) == 2

    at.text_input(key="wh_typed").set_value("evt_completed_tx_wh_sig").run()
    labels = [e.label for e in at.expander]
    assert any("signature/body broken on purpose" in label for label in labels), labels
    headers = json.loads(at.json[0].value)
    assert headers["X-Payment-Event"] == "payment.completed"


def test_unknown_delivery_id_is_a_readable_404(console):
    at = console("webhooks")
    at.text_input(key="wh_typed").set_value("evt_completed_nope").run()
    assert not at.exception
    assert any("404" in e and "evt_completed_nope" in e for e in texts(at, "error")), texts(at, "error")
