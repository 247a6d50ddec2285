"""A QA engineer's path through the console, in a real browser: create a payment from the form and read
the answer, confirm a pending one by hand, find its delivery on the Webhooks page and redeliver it, run
a QA script. Each step is checked on the page and against the server (its API and the receiver).

st.dataframe draws on a canvas: results are read from answer banners and the API, not from tables.
"""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Locator, Page, expect

from paymock.testing.process import ServerProcess
from paymock.testing.receiver import WebhookReceiver
from tests.console.browser.conftest import Console


def open_page(page: Page, link: str, shown: Locator) -> None:
    """Go to another console page and wait until its run has finished. Until then Streamlit keeps the last
    page's elements on screen, marked stale, so a label like "tx_id prefix" could still match "tx_id"."""
    page.get_by_role("link", name=link).click()
    expect(shown).to_be_visible()
    expect(page.locator('[data-testid="stElementContainer"][data-stale="true"]')).to_have_count(0)


def create_from_form(page: Page, tx_id: str, scenario: str | None = None) -> None:
    page.get_by_role("textbox", name="tx_id", exact=True).fill(tx_id)
    if scenario:
        page.get_by_role("combobox", name="Scenario (X-Mock-Scenario)").click()
        page.get_by_role("option", name=scenario, exact=True).click()
    page.get_by_role("button", name="Create payment").click()


def test_qa_engineer_path(
    page: Page, console: Console, console_receiver: WebhookReceiver, live_server: ServerProcess, live: httpx.Client
) -> None:
    api = live  # the server the console is pointed at: what it says, checked at the source
    page.goto(console.url)
    expect(page.get_by_role("heading", name="Payments")).to_be_visible()
    # started by `paymock console`: pointed at the server by --api-url, toolbar without "Deploy"
    expect(page.get_by_test_id("stSidebar").get_by_text(f"API: {live_server.base_url}")).to_be_visible()
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)

    # 1. a payment from the form: the default scenario completes it and the answer says so
    create_from_form(page, "tx_qa_ok")
    expect(page.get_by_text("pay_tx_qa_ok — PAYMENT_COMPLETED — completed now")).to_be_visible()
    [hook] = console_receiver.wait_for(1, path="/hook/tx_qa_ok")
    assert hook.verified and hook.event == "payment.completed"

    # 2. one that waits for a hand confirm: the answer explains why it is pending
    create_from_form(page, "tx_qa_hand", scenario="manual-confirm")
    expect(page.get_by_text("pay_tx_qa_hand — PENDING — pending: scenario manual-confirm")).to_be_visible()
    assert api.get("/mock/v1/payments/pay_tx_qa_hand").json()["payment"]["status"] == "PENDING"
    assert console_receiver.for_path("/hook/tx_qa_hand") == []  # no webhook before the confirm

    # 3. confirm it by hand: the webhook goes out and the payment is completed
    page.get_by_role("button", name="Confirm this payment").click()
    expect(page.get_by_text(re.compile(r"Confirmed pay_tx_qa_hand: PAYMENT_COMPLETED at "))).to_be_visible()
    [confirmed] = console_receiver.wait_for(1, path="/hook/tx_qa_hand")
    assert confirmed.verified and confirmed.json()["status"] == "PAYMENT_COMPLETED"

    # 4. its delivery on the Webhooks page, found by tx_id, then redelivered
    open_page(page, "Webhooks", page.get_by_role("heading", name="Webhooks"))
    tx_filter = page.get_by_role("textbox", name="tx_id", exact=True)
    tx_filter.fill("tx_qa_hand")
    tx_filter.press("Enter")
    expect(page.get_by_text(re.compile(r"^1 matching deliveries"))).to_be_visible()
    expect(
        page.get_by_text("evt_completed_tx_qa_hand · payment.completed · scenario manual-confirm · state acknowledged")
    ).to_be_visible()
    page.get_by_role("button", name="Redeliver now").click()
    expect(page.get_by_text("Redelivered evt_completed_tx_qa_hand: acknowledged (200)")).to_be_visible()
    first, again = console_receiver.wait_for(2, path="/hook/tx_qa_hand")
    assert again.verified and again.webhook_id == first.webhook_id  # the same event, sent again
    attempts = api.get("/mock/v1/deliveries/evt_completed_tx_qa_hand").json()["attempts"]
    assert [a["kind"] for a in attempts] == ["scheduled", "manual"]  # the redelivery is the second

    # 5. a QA script from the examples (not the one shown first), loaded and run from its page
    script_yaml = page.get_by_role("textbox", name="Script YAML")
    open_page(page, "QA scripts", script_yaml)
    expect(script_yaml).to_have_value(re.compile(r"\nname: declined-and-manual-confirm\n"))
    page.get_by_role("combobox", name="Script").click()
    page.get_by_role("option", name="example: flaky-webhook").click()
    page.get_by_role("button", name="Load", exact=True).click()
    expect(script_yaml).to_have_value(re.compile(r"\nname: flaky-webhook\n"))
    page.get_by_role("button", name="Run script").click()
    expect(page.get_by_text(re.compile(r"PASS — all 2 step\(s\) passed"))).to_be_visible()
    caption = page.get_by_text(re.compile(r"^Payments created: ")).inner_text()
    created = caption.removeprefix("Payments created: ").split(", ")
    assert len(created) == 2, caption
    for payment_id in created:  # three refused attempts (simulated), the fourth acknowledged
        detail = api.get(f"/mock/v1/payments/{payment_id}").json()
        assert detail["payment"]["status"] == "PAYMENT_COMPLETED", detail
        assert [d["attempt_count"] for d in detail["deliveries"]] == [4], detail


def test_qa_engineer_opens_a_session_and_sees_only_its_payments(
    page: Page, console: Console, console_receiver: WebhookReceiver, live: httpx.Client
) -> None:
    """On a shared server: someone else's payment is in the global state; the QA engineer opens a session of
    their own, creates a payment in it and sees only that one, then ends the session."""
    api = live
    body = {"tx_id": "tx_someone_else", "order_id": 1, "user_id": 1, "amount": 1000}
    assert api.post("/api/v2/payments", json={**body, "callback_url": console_receiver.url("/hook/x")}).is_success
    page.goto(console.url)
    expect(page.get_by_role("heading", name="Payments")).to_be_visible()

    open_page(page, "Sessions", page.get_by_role("heading", name="Sessions", exact=True))
    page.get_by_role("textbox", name="Label").fill("Mina QA")
    page.get_by_role("button", name="Open session").click()
    expect(page.get_by_text(re.compile(r"^Working in session Mina QA · ses_"))).to_be_visible()
    [session] = api.get("/mock/v1/sessions").json()["sessions"]
    session_id = session["session_id"]
    expect(page.get_by_text(f"You are working in session {session_id}")).to_be_visible()

    open_page(page, "Payments", page.get_by_text(f"In session {session_id}"))
    create_from_form(page, "tx_mina_1")
    expect(page.get_by_text("pay_tx_mina_1 — PAYMENT_COMPLETED — completed now")).to_be_visible()
    total = page.get_by_test_id("stMetric").filter(has_text="Total")
    expect(total).to_contain_text("1")  # only the session's payment; the global one is not listed here
    mine = api.get("/api/v2/pending-payments", headers={"X-Mock-Session": session_id}).json()
    assert list(mine["payments"]) == ["pay_tx_mina_1"]
    assert list(api.get("/api/v2/pending-payments").json()["payments"]) == ["pay_tx_someone_else"]

    open_page(page, "Sessions", page.get_by_text("Yes, end it"))
    page.get_by_text("Yes, end it").click()
    page.get_by_role("button", name="End session").click()
    expect(page.get_by_text(f"Ended {session_id}: 1 payment(s) and 1 delivery(ies) removed.")).to_be_visible()
    assert api.get("/mock/v1/sessions").json()["total"] == 0
