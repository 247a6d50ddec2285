"""The audit page in a real browser: grade a flawed receiver and read the report off the page (st.table is
page text, unlike st.dataframe's canvas)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.audit.receivers import Receiver
from tests.conftest import SECRET
from tests.console.browser.conftest import Console


def test_a_qa_engineer_audits_an_endpoint_and_reads_why_and_how_to_fix(page: Page, console: Console) -> None:
    flawed = Receiver(SECRET, "crash_on_unknown")  # the live server signs with tests.conftest.SECRET
    try:
        page.goto(console.url + "/audit")
        expect(page.get_by_role("heading", name="Audit a webhook endpoint")).to_be_visible()
        page.get_by_role("textbox", name="Webhook URL").fill(flawed.url)
        page.get_by_role("button", name="Run audit").click()
        expect(page.get_by_text(f"{flawed.url}: 12 passed, 0 warned, 1 failed.")).to_be_visible()
        row = page.get_by_test_id("stTable").locator("tr", has_text="unknown-event")
        expect(row).to_contain_text("FAIL")
        expect(row).to_contain_text("answered 500")
        expect(page.get_by_text("FAIL · unknown-event")).to_be_visible()
        expect(page.get_by_text("Answer 2xx (ignored) or 4xx for event types you do not handle")).to_be_visible()
    finally:
        flawed.close()
    assert flawed.requests == 12  # one audit: 12 webhooks
