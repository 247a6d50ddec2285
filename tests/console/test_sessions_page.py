"""Sessions in the console (issue 16), against a live server: a QA engineer opens a session of their own,
works inside it (every page's calls go to it), sees the live sessions with label, claims and age, picks
global / one session / all, and ends it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from paymock.testing.client import PaymockClient
from tests.conftest import payment_body
from tests.console.conftest import ENTRY, RUN_TIMEOUT_S, click, goto, texts


@pytest.fixture
def server(console_env: httpx.Client) -> Iterator[PaymockClient]:
    """A client on the live server's global state; every session still live at the end is ended."""
    with PaymockClient(str(console_env.base_url)) as control:
        yield control
        for session in control.list_sessions()["sessions"]:
            control.end_session(session["session_id"])


def open_session(at, label: str, users: str = "", orders: str = "", prefix: str = ""):  # type: ignore[no-untyped-def]
    at.text_input(key="ses_label").set_value(label)
    at.text_input(key="ses_users").set_value(users)
    at.text_input(key="ses_orders").set_value(orders)
    at.text_input(key="ses_prefix").set_value(prefix)
    return click(at, "Open session")


def payment_ids(at) -> set[str]:  # type: ignore[no-untyped-def]
    """Every payment id in the Payments page's tables."""
    return {pid for frame in at.dataframe for pid in frame.value.get("payment_id", [])}


def test_open_a_session_work_in_it_and_end_it(console, server: PaymockClient, receiver) -> None:  # type: ignore[no-untyped-def]
    assert server.create_payment("tx_global_one", receiver.url("/hook/g")).status_code == 200
    at = console("sessions")
    assert at.sidebar.selectbox(key="session_view").value == "global"

    open_session(at, "Mina QA", users="7, 8", prefix="mina-")
    assert not at.exception
    (live,) = server.list_sessions()["sessions"]
    assert live["label"] == "Mina QA"
    assert live["claims"]["user_ids"] == [7, 8] and live["claims"]["tx_id_prefix"] == "mina-"
    assert at.sidebar.selectbox(key="session_view").value == live["session_id"]  # working in it now
    assert any("Working in session Mina QA" in s for s in texts(at, "success"))
    table = at.dataframe[0].value
    assert list(table["label"]) == ["Mina QA"]
    assert list(table["claims"]) == ["tx_id mina-* · users 7, 8"]
    assert table["age"][0].endswith(" s")

    # the Payments page now works in the session: it creates there and lists only the session's payments
    goto(at, "payments")
    assert payment_ids(at) == set()  # the global payment is not this session's
    at.text_input(key="new_tx_id").set_value("mina-1")
    click(at, "Create payment")
    assert not at.exception
    assert payment_ids(at) == {"pay_mina-1"}
    with server.in_session(live["session_id"]) as mine:
        assert list(mine.payments().json()["payments"]) == ["pay_mina-1"]
    assert list(server.payments().json()["payments"]) == ["pay_tx_global_one"]

    # its active scenario is its own
    goto(at, "scenarios")
    at.selectbox(key="sc_active_pick").set_value("declined")
    click(at, "Set active")
    assert server.active_scenario() == "default"
    with server.in_session(live["session_id"]) as mine:
        assert mine.active_scenario() == "declined"

    # all sessions: the payments of both, each with its session
    at.sidebar.selectbox(key="session_view").set_value("all").run()
    goto(at, "payments")
    assert not at.exception
    assert payment_ids(at) == {"pay_tx_global_one", "pay_mina-1"}
    sessions_shown = {s for frame in at.dataframe for s in frame.value.get("session", [])}
    assert sessions_shown == {"global", "Mina QA"}

    # end it from the Sessions page: back to global, its payments gone
    at.sidebar.selectbox(key="session_view").set_value(live["session_id"]).run()
    goto(at, "sessions")
    at.checkbox(key="ses_end_confirm").check().run()
    click(at, "End session")
    assert not at.exception
    assert any(f"Ended {live['session_id']}: 1 payment(s)" in s for s in texts(at, "success")), texts(at, "success")
    assert at.sidebar.selectbox(key="session_view").value == "global"
    assert server.list_sessions()["total"] == 0
    assert list(server.payments().json()["payments"]) == ["pay_tx_global_one"]


def test_bad_or_overlapping_claims_are_readable_errors_and_open_nothing(console, server: PaymockClient) -> None:  # type: ignore[no-untyped-def]
    owner = server.create_session(label="someone else", claims={"user_ids": [7]})
    at = console("sessions")
    open_session(at, "typo", users="7, x8")
    assert any("user_ids: 'x8' is not a whole number" in e for e in texts(at, "error")), texts(at, "error")
    open_session(at, "overlap", users="7")
    assert not at.exception
    errors = texts(at, "error")
    assert any("409" in e and owner["session_id"] in e for e in errors), errors
    assert [s["session_id"] for s in server.list_sessions()["sessions"]] == [owner["session_id"]]
    assert at.sidebar.selectbox(key="session_view").value == "global"


def test_a_session_that_ends_elsewhere_falls_back_to_global(console, server: PaymockClient) -> None:  # type: ignore[no-untyped-def]
    made = server.create_session(label="short-lived")
    at = console("webhooks")
    at.sidebar.selectbox(key="session_view").set_value(made["session_id"]).run()
    assert not at.exception and texts(at, "error") == []
    server.end_session(made["session_id"])  # another QA engineer ended it (or it expired)
    at.run()
    assert not at.exception
    assert any("ended or expired: back to the global state" in w for w in texts(at, "warning"))
    assert at.sidebar.selectbox(key="session_view").value == "global"


def test_the_delivery_log_of_all_sessions_names_each_deliverys_session(  # type: ignore[no-untyped-def]
    console, console_env: httpx.Client, server: PaymockClient, receiver
) -> None:
    made = server.create_session(label="team-b")
    assert console_env.post("/api/v2/payments", json=payment_body("tx_g", receiver.url("/hook/g"))).status_code == 200
    with server.in_session(made["session_id"]) as theirs:
        assert theirs.create_payment("tx_b", receiver.url("/hook/b")).status_code == 200
    at = console("webhooks")
    assert list(at.dataframe[0].value["delivery_id"]) == ["evt_completed_tx_g"]  # global: only its own
    at.sidebar.selectbox(key="session_view").set_value("all").run()
    assert not at.exception
    log = at.dataframe[0].value
    assert dict(zip(log["delivery_id"], log["session"], strict=True)) == {
        "evt_completed_tx_g": "global",
        "evt_completed_tx_b": made["session_id"],
    }
    # a delivery of another session opens from here: the detail asks its own session
    at.text_input(key="wh_typed").set_value("evt_completed_tx_b").run()
    assert not at.exception and texts(at, "error") == []
    assert any("evt_completed_tx_b" in m for m in texts(at, "markdown"))


def test_reset_in_a_session_resets_only_that_session(console, server: PaymockClient, receiver) -> None:  # type: ignore[no-untyped-def]
    assert server.create_payment("tx_global_keep", receiver.url("/hook/g")).status_code == 200
    made = server.create_session(label="mine")
    with server.in_session(made["session_id"]) as mine:
        assert mine.create_payment("tx_mine_gone", receiver.url("/hook/m")).status_code == 200
    at = console("settings")
    at.sidebar.selectbox(key="session_view").set_value(made["session_id"]).run()
    assert "Reset this session" in texts(at, "subheader")
    at.checkbox(key="reset_confirm").check().run()
    click(at, "Reset")
    assert not at.exception
    assert any("Reset: 1 payment(s)" in s for s in texts(at, "success")), texts(at, "success")
    assert list(server.payments().json()["payments"]) == ["pay_tx_global_keep"]
    assert server.get_session(made["session_id"])["payments"] == 0  # reset, still live


def test_change_the_claims_of_the_session_one_works_in(console, server: PaymockClient) -> None:  # type: ignore[no-untyped-def]
    other = server.create_session(label="other", claims={"order_ids": [99]})
    made = server.create_session(label="mine", claims={"user_ids": [7]})
    at = console("sessions")
    at.sidebar.selectbox(key="session_view").set_value(made["session_id"]).run()
    sid = made["session_id"]
    assert at.text_input(key=f"ses_new_users_{sid}").value == "7"  # prefilled with what it claims now
    at.text_input(key=f"ses_new_orders_{sid}").set_value("41, 42")
    click(at, "Change claims")
    assert not at.exception
    assert any("now claims: orders 41, 42 · users 7" in s for s in texts(at, "success")), texts(at, "success")
    assert server.get_session(sid)["claims"]["order_ids"] == [41, 42]

    at.text_input(key=f"ses_new_orders_{sid}").set_value("99")  # the other session's
    click(at, "Change claims")
    errors = texts(at, "error")
    assert any("409" in e and other["session_id"] in e for e in errors), errors
    assert server.get_session(sid)["claims"]["order_ids"] == [41, 42]  # unchanged


def test_the_address_names_the_session_and_a_link_opens_it(console, server: PaymockClient) -> None:  # type: ignore[no-untyped-def]
    made = server.create_session(label="shared link")
    at = console("payments")
    at.sidebar.selectbox(key="session_view").set_value(made["session_id"]).run()
    assert at.query_params["session"] == made["session_id"]
    at.sidebar.selectbox(key="session_view").set_value("global").run()
    assert "session" not in at.query_params

    linked = AppTest.from_file(str(ENTRY), default_timeout=RUN_TIMEOUT_S)
    linked.query_params["session"] = made["session_id"]
    linked.run()
    assert not linked.exception
    assert linked.sidebar.selectbox(key="session_view").value == made["session_id"]


def test_all_sessions_opens_and_confirms_a_payment_in_its_own_session(console, server: PaymockClient, receiver) -> None:  # type: ignore[no-untyped-def]
    made = server.create_session(label="team-c")
    with server.in_session(made["session_id"]) as theirs:
        answer = theirs.create_payment("tx_c_hand", receiver.url("/hook/c"), scenario="manual-confirm")
        assert answer.json()["status"] == "PENDING"
    at = console("payments")
    at.text_input(key="detail_id").set_value("pay_tx_c_hand").run()
    assert any("404" in e for e in texts(at, "error"))  # from the global state it is another session's
    at.sidebar.selectbox(key="session_view").set_value("all").run()
    assert not at.exception and texts(at, "error") == []  # asked in its own session
    click(at, "Confirm this payment")
    assert any("Confirmed pay_tx_c_hand: PAYMENT_COMPLETED" in s for s in texts(at, "success")), texts(at, "success")
    with server.in_session(made["session_id"]) as theirs:
        assert theirs.payment("pay_tx_c_hand")["payment"]["status"] == "PAYMENT_COMPLETED"
