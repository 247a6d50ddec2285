"""Webhooks: the delivery log with filters, outcomes chart, and one delivery in full (attempts, redeliver)."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from paymock_console import ui, views

ANY = "(any)"
STATES = ["pending", "acknowledged", "failed", "dropped"]
EVENTS = ["payment.completed", "payment.failed"]


def filters() -> dict[str, str | None]:
    cols = st.columns(6)
    payment_id = cols[0].text_input("payment_id", key="wh_payment_id", placeholder="pay_…").strip()
    tx_id = cols[1].text_input("tx_id", key="wh_tx_id").strip()
    state = cols[2].selectbox("state", [ANY, *STATES], key="wh_state")
    event = cols[3].selectbox("event", [ANY, *EVENTS], key="wh_event")
    scenario = cols[4].selectbox("scenario", [ANY, *ui.scenario_names()], key="wh_scenario")
    cols[5].number_input("limit", min_value=1, max_value=1000, value=100, key="wh_limit")
    return {
        "payment_id": payment_id or None,
        "tx_id": tx_id or None,
        "state": None if state == ANY else state,
        "event": None if event == ANY else event,
        "scenario": None if scenario == ANY else scenario,
    }


def outcome_chart(deliveries: list[dict]) -> None:
    if not deliveries:
        return
    counts = pd.Series([d["state"] for d in deliveries]).value_counts().reindex(STATES, fill_value=0)
    st.caption("Deliveries by outcome (listed ones)")
    st.bar_chart(counts.rename("deliveries"), horizontal=True, height=180)


@st.fragment(run_every=ui.refresh_every())
def delivery_log(chosen: dict[str, str | None]) -> None:
    limit = int(st.session_state.get("wh_limit", 100))
    every = ui.view() == ui.ALL  # the control listing shows every session's deliveries at once
    scope = {"session": "all"} if every else {}
    log = ui.guarded(ui.client().deliveries_page, limit=limit, prefix="Deliveries: ", **chosen, **scope)
    if log is None:
        return
    deliveries = log["deliveries"]
    st.markdown(f"**{log['total']}** matching deliveries (newest first, showing {len(deliveries)})")
    outcome_chart(deliveries)
    if deliveries and every:
        rows = [{**d, "session": d.get("session_id") or "global"} for d in deliveries]
        st.dataframe(views.frame(rows, ["session", *views.DELIVERY_COLUMNS]), hide_index=True, width="stretch")
    elif deliveries:
        st.dataframe(views.frame(deliveries, views.DELIVERY_COLUMNS), hide_index=True, width="stretch")
    if every:  # the detail below asks the delivery's own session
        st.session_state["delivery_sessions"] = {d["delivery_id"]: d.get("session_id") for d in deliveries}
    st.caption(f"Updated {time.strftime('%H:%M:%S')}" + (" · live" if ui.refresh_every() else " · live refresh off"))
    ids = [d["delivery_id"] for d in deliveries]
    if ids:
        st.session_state["wh_ids"] = ids


def one_delivery() -> None:
    st.subheader("Delivery")
    ids = st.session_state.get("wh_ids") or []
    # a deep link (?delivery=evt_…) opens that delivery
    st.session_state.setdefault("wh_typed", st.query_params.get("delivery", ""))
    typed = st.text_input("Delivery id (or pick below)", key="wh_typed", placeholder="evt_completed_tx_1001").strip()
    picked = st.selectbox("Recent deliveries", ids, key="wh_pick", index=0 if ids else None)
    delivery_id = typed or picked
    if not delivery_id:
        st.caption("No delivery yet.")
        return
    owner = ui.client()
    if ui.view() == ui.ALL:
        owner = ui.client_for(st.session_state.get("delivery_sessions", {}).get(delivery_id))
    delivery = ui.guarded(owner.delivery, delivery_id, prefix=f"{delivery_id}: ")
    if delivery is not None:
        views.render_delivery(delivery, "webhooks")


st.title("Webhooks")
views.show_flash()
chosen = filters()
delivery_log(chosen)
one_delivery()
