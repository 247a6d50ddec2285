"""Audit: grade an ops server's webhook endpoint. The server sends good, hostile and malformed webhooks
(POST /mock/v1/audit) and the page shows each check: pass / warn / fail, what happened, why, how to fix."""

from __future__ import annotations

from typing import Any

import streamlit as st

from paymock_console import problems, ui, views

# words, as the command line prints them: emoji need a font a headless (or server) browser may not have
ICONS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def _run() -> None:
    s = st.session_state
    url = s["audit_url"].strip()
    state_url, state_field = s["audit_state_url"].strip(), s["audit_state_field"].strip()
    s.pop("audit_report", None)
    if not url:
        views.flash("warning", "Enter the webhook URL to audit.")
        return
    if bool(state_url) != bool(state_field):
        views.flash("warning", "The state URL and the field to read go together: give both, or neither.")
        return
    timeout = float(s["audit_timeout_s"])
    try:
        s["audit_report"] = ui.client().audit(
            url,
            timeout_s=timeout or None,  # 0: the server's PAYMOCK_WEBHOOK_TIMEOUT
            state_url=state_url or None,
            state_field=state_field or None,
        )
    except problems.FAILED as exc:
        views.flash("error", f"Audit: {ui.error_text(exc)}")


def _show(report: dict[str, Any]) -> None:
    summary = f"{report['passed']} passed, {report['warned']} warned, {report['failed']} failed"
    if report["ok"]:
        st.success(f"{report['url']}: {summary}. Nothing failed.", icon=":material/verified:")
    else:
        st.error(f"{report['url']}: {summary}.", icon=":material/gpp_bad:")
    cols = st.columns(4)
    cols[0].metric("passed", report["passed"])
    cols[1].metric("warned", report["warned"])
    cols[2].metric("failed", report["failed"])
    cols[3].metric("provider timeout", f"{report['timeout_s']:g} s")
    # st.table, not st.dataframe: its cells are page text, readable by people and browser tests alike
    st.table([{"result": ICONS[c["grade"]], "check": c["id"], "what happened": c["detail"]} for c in report["checks"]])
    for check in report["checks"]:
        if check["grade"] == "pass":
            continue
        with st.expander(f"{ICONS[check['grade']]} · {check['id']}: {check['title']}", expanded=True):
            st.markdown(f"**What happened:** {check['detail']}")
            st.markdown(f"**Why it matters:** {check['why']}")
            st.markdown(f"**How to fix it:** {check['fix']}")


st.title("Audit a webhook endpoint")
st.caption(
    "paymock sends your ops server's webhook endpoint a battery of deliveries — valid, duplicated, forged, "
    "tampered, stale, malformed, unknown — signed with the server's PAYMENT_WEBHOOK_SECRET, and grades each "
    "answer. Same as `paymock audit URL` on the command line."
)
views.show_flash()
# the ops server's webhook endpoint is where new payments' callbacks go: start from that (Settings page)
st.session_state.setdefault("audit_url", str(st.session_state.get("callback_url", "")).replace("{tx_id}", "audit"))
health = ui.guarded(ui.client().health, prefix="Server: ")
if health:
    st.caption(f"Runs on the paymock at `{st.session_state['api_url']}` (version {health['version']}).")
with st.form("audit"):
    st.text_input("Webhook URL", key="audit_url", placeholder="http://localhost:8000/webhooks/payment")
    st.number_input(
        "Provider timeout (s)",
        min_value=0.0,
        max_value=30.0,
        value=0.0,
        step=0.5,
        key="audit_timeout_s",
        help="An answer slower than this fails. 0: the server's PAYMOCK_WEBHOOK_TIMEOUT.",
    )
    cols = st.columns([3, 1])
    cols[0].text_input(
        "Order state URL (optional)",
        key="audit_state_url",
        placeholder="http://localhost:8000/api/orders/{order_id}",
        help="Read after each case to judge effects: {order_id} {tx_id} {payment_id} {user_id} {amount}.",
    )
    cols[1].text_input(
        "Field to read", key="audit_state_field", placeholder="paid_count", help="A key, or a JSON pointer."
    )
    st.form_submit_button("Run audit", type="primary", on_click=_run)
report = st.session_state.get("audit_report")
if report:
    _show(report)
