"""The console's audit page (AppTest) against the live server process, grading real loopback receivers."""

from __future__ import annotations

from tests.conftest import SECRET
from tests.console.conftest import click, console, console_env, texts  # noqa: F401  # fixtures

from .receivers import Receiver


def test_the_page_runs_the_audit_and_shows_each_check_with_why_and_fix(console) -> None:  # noqa: F811
    flawed = Receiver(SECRET, "crash_on_bad_json")  # the live server signs with tests.conftest.SECRET
    try:
        at = console("audit")
        assert not at.exception
        assert texts(at, "error") == []
        at.text_input(key="audit_url").set_value(flawed.url)
        at.text_input(key="audit_state_url").set_value(flawed.state_url)
        at.text_input(key="audit_state_field").set_value("paid")
        click(at, "Run audit")
    finally:
        flawed.close()
    assert not at.exception
    assert any("12 passed, 0 warned, 1 failed" in e for e in texts(at, "error")), texts(at, "error")
    table = at.table[0].value
    assert list(table["check"])[:2] == ["valid-completed", "valid-failed"]
    rows = dict(zip(table["check"], table["result"], strict=True))
    assert rows["not-json"] == "FAIL" and rows["wrong-key"] == "PASS"
    assert "paid 0 -> 1" in table["what happened"].iloc[0]
    assert [e.label for e in at.expander] == [
        "FAIL · not-json: a validly signed body that is not JSON is refused with a 4xx"
    ]
    shown = " ".join(str(m.value) for m in at.markdown)
    assert "**How to fix it:** Parse the body inside a try" in shown
    assert {m.label: m.value for m in at.metric}["failed"] == "1"


def test_a_sound_receiver_is_all_green(console) -> None:  # noqa: F811
    sound = Receiver(SECRET)
    try:
        at = console("audit")
        at.text_input(key="audit_url").set_value(sound.url)
        click(at, "Run audit")
    finally:
        sound.close()
    assert not at.exception
    assert any("13 passed, 0 warned, 0 failed. Nothing failed." in s for s in texts(at, "success"))
    assert len(at.expander) == 0  # nothing to explain


def test_refusals_are_readable_messages_not_tracebacks(console, receiver) -> None:  # noqa: F811
    at = console("audit")
    # it starts from the callback URL new payments use (PAYMOCK_CALLBACK_URL here: the test receiver's)
    assert at.text_input(key="audit_url").value == receiver.url("/hook/audit")
    at.text_input(key="audit_url").set_value("")
    click(at, "Run audit")
    assert any("Enter the webhook URL" in w for w in texts(at, "warning"))
    at.text_input(key="audit_url").set_value("http://example.com/hook")  # not in PAYMOCK_CALLBACK_HOSTS
    click(at, "Run audit")
    assert not at.exception
    errors = texts(at, "error")
    assert any(e.startswith("Audit: 403 Forbidden") and "127.0.0.1, localhost" in e for e in errors), errors
    at.text_input(key="audit_url").set_value("http://127.0.0.1:9/hook")  # nothing listens
    click(at, "Run audit")
    assert any("Audit: 409 Conflict: cannot reach http://127.0.0.1:9/hook" in e for e in texts(at, "error"))
    at.text_input(key="audit_state_url").set_value("http://127.0.0.1:9/{order_id}")
    click(at, "Run audit")
    assert any("go together" in w for w in texts(at, "warning"))
