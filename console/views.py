"""Rendering shared by the pages: tables of payments/deliveries/attempts and one delivery in full."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from . import problems, ui

PAYMENT_COLUMNS = [
    "payment_id",
    "tx_id",
    "order_id",
    "user_id",
    "amount",
    "status",
    "scenario",
    "created_at",
    "confirmed_at",
    "failure_reason",
    "callback_url",
]
DELIVERY_COLUMNS = [
    "delivery_id",
    "payment_id",
    "event",
    "scenario",
    "state",
    "attempt_count",
    "last_status_code",
    "last_error",
    "faults",
    "next_attempt_at",
    "created_at",
    "callback_url",
]
ATTEMPT_COLUMNS = ["number", "kind", "at", "status_code", "latency_ms", "error", "simulated", "signature", "body"]


def frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """A table with fixed columns; lists become readable text and ids stay text (no int overflow)."""
    data = [
        {c: (", ".join(map(str, r.get(c))) if isinstance(r.get(c), list) else r.get(c)) for c in columns} for r in rows
    ]
    df = pd.DataFrame(data, columns=columns)
    # amounts and ids can exceed int64 in theory; keep them as objects so pyarrow never overflows
    return df.astype(object).where(df.notna(), None)


def flash(kind: str, text: str) -> None:
    """A message shown once at the top of the next run (callbacks cannot draw themselves)."""
    st.session_state.setdefault("flash", []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop("flash", []):
        getattr(st, kind)(text)


def _redeliver(delivery_id: str, session_id: str | None) -> None:
    try:
        d = ui.client_for(session_id).redeliver(delivery_id)
    except problems.FAILED as exc:
        flash("error", f"Redeliver {delivery_id}: {ui.error_text(exc)}")
        return
    last = d["attempts"][-1] if d["attempts"] else {}
    answer = last.get("status_code") or last.get("error") or "no answer"
    flash(
        "success" if d["state"] == "acknowledged" else "warning", f"Redelivered {delivery_id}: {d['state']} ({answer})"
    )


def render_delivery(delivery: dict[str, Any], key: str) -> None:
    """One delivery: its state, deliberate faults, every attempt with headers and body sent, redeliver."""
    st.markdown(
        f"**{delivery['delivery_id']}** · `{delivery['event']}` · scenario `{delivery['scenario']}` · "
        f"state **{delivery['state']}** after {delivery['attempt_count']} attempt(s) → `{delivery['callback_url']}`"
    )
    if delivery["faults"]:
        st.warning(
            "Deliberate faults (from the scenario): " + "; ".join(delivery["faults"]), icon=":material/bug_report:"
        )
    if delivery.get("next_attempt_at"):
        st.caption(f"Next attempt at {delivery['next_attempt_at']}")
    attempts = delivery.get("attempts") or []
    if attempts:
        st.dataframe(frame(attempts, ATTEMPT_COLUMNS), hide_index=True, width="stretch")
    for attempt in attempts:  # the latest attempt opens: what was sent last is usually the question
        broken = attempt["signature"] != "valid" or attempt["body"] != "valid"
        label = (
            f"Attempt {attempt['number']} ({attempt['kind']}) → "
            f"{attempt['status_code'] or attempt['error'] or 'no answer'} in {attempt['latency_ms']:.1f} ms"
            + (" · signature/body broken on purpose" if broken else "")
            + (" · simulated failure, nothing sent" if attempt["simulated"] else "")
        )
        with st.expander(label, expanded=attempt is attempts[-1]):
            st.caption("Headers sent")
            st.json(ui.mask_headers(attempt["request_headers"]), expanded=True)
            st.caption("Body sent")
            try:
                st.json(json.loads(attempt["request_body"]), expanded=True)
            except ValueError:
                st.code(attempt["request_body"] or "(empty)", language=None)
    st.button(
        "Redeliver now",
        key=f"redeliver_{key}_{delivery['delivery_id']}",
        on_click=_redeliver,
        # the delivery's own session (control answers name it): right under "All sessions" too
        args=(delivery["delivery_id"], delivery.get("session_id", ui.session_id())),
        help="Send this webhook again, clean (no faults), whatever its state.",
    )


def render_payment_detail(detail: dict[str, Any], key: str) -> None:
    payment = detail["payment"]
    cols = st.columns(4)
    cols[0].metric("Status", ui.STATUS_LABELS.get(payment["status"], payment["status"]))
    cols[1].metric("Amount", f"{payment['amount']:,}")
    cols[2].metric("Scenario", payment["scenario"])
    cols[3].metric("Deliveries", len(detail["deliveries"]))
    st.dataframe(frame([payment], PAYMENT_COLUMNS), hide_index=True, width="stretch")
    if not detail["deliveries"]:
        st.info("No webhook delivery for this payment (yet).")
    for delivery in detail["deliveries"]:
        with st.container(border=True):
            render_delivery(delivery, key)
