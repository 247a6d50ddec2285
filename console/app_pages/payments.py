"""Payments: create (sidebar, every contract field + scenario picker), lists by status, confirm, details."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from paymock import PaymockClient, checked
from paymock_console import problems, sessions, ui, views

AUTO = "(automatic: match rules, then the active scenario)"


def _new_tx_id() -> str:
    return f"tx_{int(time.time() * 1000)}"


def _explain_pending(payment_id: str) -> str:
    """Why a payment answered PENDING, from its deliveries (the seed only said 'PENDING')."""
    try:
        detail = payment_client(payment_id).payment(payment_id)
    except problems.FAILED:
        return "pending: the webhook was not acknowledged."
    deliveries = detail["deliveries"]
    scenario = detail["payment"]["scenario"]
    if not deliveries:
        return (
            f"pending: scenario `{scenario}` does not complete it automatically (no auto-complete or a delayed "
            "completion), so no webhook was sent yet. Confirm it by hand below, or wait."
        )
    d = deliveries[0]
    if d["state"] == "dropped":
        return f"pending: scenario `{scenario}` dropped the webhook on purpose (never sent)."
    answer = d["last_status_code"] or d["last_error"] or "no answer"
    return (
        f"pending because the webhook was not acknowledged (last answer: {answer}). Retries go on in the "
        "background; the payment completes when one is acknowledged."
    )


def _create() -> None:
    """Form callback: runs before the rerun, so the result is ready when the page draws."""
    s = st.session_state
    tx_id = s["new_tx_id"].strip()
    scenario = None if s["new_scenario"] == AUTO else s["new_scenario"]
    try:
        answer = checked(
            ui.client().create_payment(
                tx_id,
                s["new_callback_url"].strip().replace("{tx_id}", tx_id),
                version=s["new_version"],
                order_id=int(s["new_order_id"]),
                user_id=int(s["new_user_id"]),
                amount=int(s["new_amount"]),
                scenario=scenario,
            )
        )
    except problems.FAILED as exc:
        s["last_create"] = {"error": ui.error_text(exc), "errors": problems.named_errors(exc), "tx_id": tx_id}
        return
    status = answer["status"]
    if status == "PAYMENT_COMPLETED":
        why = "completed now: the webhook was delivered and acknowledged."
    elif status == "PAYMENT_FAILED":
        why = f"failed: {answer.get('failure_reason') or 'no reason given'} (payment.failed webhook sent)."
    else:
        why = _explain_pending(answer["payment_id"])
    s["last_create"] = {"answer": answer, "why": why, "scenario": scenario or "automatic"}
    s["detail_id"] = answer["payment_id"]
    s["new_tx_id"] = _new_tx_id()


def _confirm(payment_id: str | None = None) -> None:
    payment_id = payment_id or st.session_state.get("confirm_pick")
    if not payment_id:
        return
    try:
        answer = checked(payment_client(payment_id).confirm_payment(payment_id))
    except problems.FAILED as exc:
        views.flash("error", f"Confirm {payment_id}: {ui.error_text(exc)}")
        return
    views.flash("success", f"Confirmed {payment_id}: {answer['status']} at {answer['confirmed_at']}")


def create_form() -> None:
    st.session_state.setdefault("new_tx_id", _new_tx_id())
    names = ui.scenario_names()
    with st.form("create_payment"):
        st.subheader("New payment")
        if ui.session_id():
            st.caption(f"In session `{ui.session_id()}`")
        elif ui.view() == ui.ALL:
            st.caption("Viewing all sessions: a new payment goes to the global state.")
        st.selectbox("version", ["v2"], key="new_version")
        st.text_input("tx_id", key="new_tx_id", help="The payment id will be pay_<tx_id>.")
        st.number_input("order_id", min_value=0, value=123, step=1, key="new_order_id")
        st.number_input("user_id", min_value=0, value=1, step=1, key="new_user_id")
        st.number_input("amount", min_value=1, max_value=1_000_000_000_000, value=1000, step=100, key="new_amount")
        st.text_input(
            "callback_url", value=st.session_state["callback_url"], key="new_callback_url", help="{tx_id} is replaced."
        )
        st.selectbox("Scenario (X-Mock-Scenario)", [AUTO, *names], key="new_scenario")
        st.form_submit_button("Create payment", type="primary", on_click=_create)


def show_last_create() -> None:
    last = st.session_state.get("last_create")
    if not last:
        return
    if "error" in last:
        st.error(f"Create {last['tx_id']}: {last['error']}")
        for err in last["errors"]:
            st.markdown(f"- `{err}`")
        return
    answer = last["answer"]
    text = f"**{answer['payment_id']}** — `{answer['status']}` — {last['why']}"
    {"PAYMENT_COMPLETED": st.success, "PAYMENT_FAILED": st.error}.get(answer["status"], st.warning)(text)


def status_chart(payments: list[dict[str, Any]]) -> None:
    """Payments created per minute, stacked by their current status."""
    if not payments:
        return
    df = pd.DataFrame(payments)
    # minutes as text: one readable bar per minute, not a sliver on a continuous time axis
    df["minute"] = pd.to_datetime(df["created_at"], utc=True).dt.strftime("%H:%M")
    counts = df.pivot_table(index="minute", columns="status", values="payment_id", aggfunc="count", fill_value=0)
    counts = counts.reindex(columns=list(ui.STATUSES), fill_value=0).rename(columns=ui.STATUS_LABELS)
    st.caption("Payments created per minute, by current status")
    st.bar_chart(counts, stack=True, height=220, color=["#f0a500", "#2e9e5b", "#d64545"])


def all_listings() -> dict[str, Any] | None:
    """ "All sessions": the provider's listing is per session (its contract stays clean), so the global
    one and each live session's, merged, each payment tagged with its session (bounded: the server caps
    live sessions, each listing is capped too)."""
    live = sessions.live_sessions(say_why=True)
    if live is None:
        return None
    merged: dict[str, Any] = {"pending_count": 0, "completed_count": 0, "failed_count": 0, "payments": {}}
    owners: dict[str, str | None] = {}
    for session in [{"session_id": None, "label": "global"}, *live]:
        sid = session["session_id"]
        listing = ui.guarded(
            lambda sid=sid: checked(ui.client_for(sid).payments(limit=ui.LISTING_LIMIT)), prefix=f"Payments {sid}: "
        )
        if listing is None:
            continue
        for key in ("pending_count", "completed_count", "failed_count"):
            merged[key] += listing[key]
        for payment_id, payment in listing["payments"].items():
            merged["payments"][payment_id] = {**payment, "session": session["label"] or sid}
            owners[payment_id] = sid
    st.session_state["payment_sessions"] = owners  # the details below ask the payment's own session
    return merged


@st.fragment(run_every=ui.refresh_every())
def live_lists() -> None:
    if ui.view() == ui.ALL:
        listing = all_listings()
        columns = ["session", *views.PAYMENT_COLUMNS]
    else:
        listing = ui.guarded(lambda: checked(ui.client().payments(limit=ui.LISTING_LIMIT)), prefix="Payments: ")
        columns = views.PAYMENT_COLUMNS
    if listing is None:
        return
    payments = list(listing["payments"].values())
    cols = st.columns(4)
    cols[0].metric("Pending", listing["pending_count"])
    cols[1].metric("Completed", listing["completed_count"])
    cols[2].metric("Failed", listing["failed_count"])
    cols[3].metric("Total", len(payments))
    status_chart(payments)
    by_status = {s: [p for p in payments if p["status"] == s] for s in ui.STATUSES}
    tabs = st.tabs([f"{ui.STATUS_LABELS[s]} ({len(by_status[s])})" for s in ui.STATUSES])
    for tab, status in zip(tabs, ui.STATUSES, strict=True):
        with tab:
            rows = list(reversed(by_status[status]))  # newest first
            if not rows:
                st.caption("None.")
                continue
            st.dataframe(views.frame(rows, columns), hide_index=True, width="stretch")
            if status == "PENDING":
                left, right = st.columns([3, 1], vertical_alignment="bottom")
                left.selectbox("Pending payment", [p["payment_id"] for p in rows], key="confirm_pick")
                right.button("Confirm by hand", key="confirm_btn", on_click=_confirm)
    st.caption(f"Updated {time.strftime('%H:%M:%S')}" + (" · live" if ui.refresh_every() else " · live refresh off"))


def payment_client(payment_id: str) -> PaymockClient:
    """The picked session's client; under "All sessions", the client of the session the payment is in."""
    if ui.view() == ui.ALL:
        return ui.client_for(st.session_state.get("payment_sessions", {}).get(payment_id))
    return ui.client()


def details() -> None:
    st.subheader("Payment details")
    st.session_state.setdefault("detail_id", st.query_params.get("payment", ""))  # deep link: ?payment=pay_…
    payment_id = st.text_input("Payment id", key="detail_id", placeholder="pay_tx_1001").strip()
    if not payment_id:
        return
    detail = ui.guarded(payment_client(payment_id).payment, payment_id, prefix=f"{payment_id}: ")
    if detail is None:
        return
    if detail["payment"]["status"] == "PENDING":
        st.button("Confirm this payment", key="detail_confirm", on_click=_confirm, args=(payment_id,))
    views.render_payment_detail(detail, "payment")


st.title("Payments")
with st.sidebar:
    create_form()
views.show_flash()
show_last_create()
live_lists()
details()
