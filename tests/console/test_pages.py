"""Every page renders; a down server and a missing token give readable messages, never a traceback."""

from __future__ import annotations

import json

import pytest

from paymock.testing.process import ServerProcess, free_port
from tests.conftest import SERVER_ENV
from tests.console.conftest import PAGES, click, goto, open_console, rendered, texts

TITLES = {
    "payments": "Payments",
    "webhooks": "Webhooks",
    "scenarios": "Scenarios",
    "scripts": "QA scripts",
    "audit": "Audit a webhook endpoint",
    "sessions": "Sessions",
    "settings": "Settings / health",
}


def test_every_page_renders_without_exception_or_error(console):
    at = console("payments")
    for page in PAGES:
        goto(at, page)
        assert not at.exception, page
        assert texts(at, "title") == [TITLES[page]]
        assert texts(at, "error") == [], page
    health = {m.label: m.value for m in at.metric}
    assert health["Status"] == "ok"
    assert health["Active scenario"] == "default"


def test_live_refresh_toggle_is_on_by_default_and_can_be_turned_off(console):
    at = console("payments")
    toggle = at.sidebar.toggle[0]
    assert toggle.value is True
    assert any("· live" in c for c in texts(at, "caption"))
    toggle.set_value(False).run()
    assert not at.exception
    assert any("live refresh off" in c for c in texts(at, "caption"))


@pytest.fixture
def down_env(monkeypatch):
    monkeypatch.setenv("PAYMOCK_API_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.delenv("SERVICE_AUTH_TOKEN", raising=False)


def test_server_down_shows_a_readable_error_on_every_page(down_env):
    at = open_console()
    for page in PAGES:
        goto(at, page)
        assert not at.exception, page
        errors = texts(at, "error")
        assert errors, page
        assert all("Cannot reach the paymock server at http://127.0.0.1:" in e for e in errors), errors
        assert "Traceback" not in rendered(at)


@pytest.fixture(scope="module")
def auth_server():
    server = ServerProcess({**SERVER_ENV, "SERVICE_AUTH_TOKEN": "tok-s3cret-console"}).wait_ready()
    yield server
    server.stop()


def test_token_is_required_used_and_never_shown(auth_server, monkeypatch):
    monkeypatch.setenv("PAYMOCK_API_URL", auth_server.base_url)
    monkeypatch.delenv("SERVICE_AUTH_TOKEN", raising=False)
    at = open_console("settings")
    assert not at.exception
    assert any("401" in e and "bearer token" in e for e in texts(at, "error")), texts(at, "error")

    at.text_input(key="set_token").set_value("tok-s3cret-console")
    click(at, "Save settings")
    assert not at.exception
    assert texts(at, "error") == []
    assert {m.label: m.value for m in at.metric}["Status"] == "ok"
    assert "Auth required: yes" in texts(at, "caption")
    for page in PAGES:
        goto(at, page)
        assert not at.exception
        assert "tok-s3cret-console" not in rendered(at), page


def test_token_from_environment_is_masked_in_webhook_headers(auth_server, receiver, monkeypatch):
    monkeypatch.setenv("PAYMOCK_API_URL", auth_server.base_url)
    monkeypatch.setenv("SERVICE_AUTH_TOKEN", "tok-s3cret-console")
    monkeypatch.setenv("PAYMOCK_CALLBACK_URL", receiver.url("/hook/{tx_id}"))
    at = open_console()
    at.text_input(key="new_tx_id").set_value("tx_auth_1")
    click(at, "Create payment")
    assert not at.exception
    assert any("PAYMENT_COMPLETED" in s for s in texts(at, "success"))
    # the webhook carries the token; the console shows the header masked
    assert receiver.wait_for(1)[0].headers["authorization"] == "Bearer tok-s3cret-console"
    shown = [json.loads(j.value) for j in at.json if "webhook-id" in j.value]
    assert shown and all(h["Authorization"] == "Bearer ••••••" for h in shown)
    assert "tok-s3cret-console" not in rendered(at)


def test_reset_needs_confirmation_then_forgets_everything(console, console_env, receiver):
    body = {"version": "v2", "tx_id": "tx_reset", "order_id": 1, "user_id": 1, "amount": 1000}
    assert console_env.post("/api/v2/payments", json={**body, "callback_url": receiver.url()}).status_code == 200
    at = console("settings")
    assert next(b for b in at.button if b.label == "Reset").disabled
    at.checkbox(key="reset_confirm").check().run()
    click(at, "Reset")
    assert not at.exception
    assert any("Reset: 1 payment(s)" in s for s in texts(at, "success")), texts(at, "success")
    assert console_env.get("/mock/v1/health").json()["payments"] == 0
    assert at.checkbox(key="reset_confirm").value is False
