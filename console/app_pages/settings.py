"""Settings / health: API URL, token (never shown), timeout, callback URL; health and version; reset."""

from __future__ import annotations

import streamlit as st

from paymock_console import problems, ui, views


def _save() -> None:
    s = st.session_state
    s["api_url"] = s["set_api_url"].strip().rstrip("/") or ui.DEFAULT_API_URL
    s["timeout_s"] = float(s["set_timeout_s"])
    s["callback_url"] = s["set_callback_url"].strip() or ui.DEFAULT_CALLBACK_URL
    if s["set_clear_token"]:
        s["api_token"] = ""
    elif s["set_token"]:
        s["api_token"] = s["set_token"]
    # the password box is emptied again: the token stays in server-side session state only
    s["set_token"] = ""
    s["set_clear_token"] = False
    views.flash("success", "Settings saved.")


def _reset() -> None:
    try:
        result = ui.client().reset()
    except problems.FAILED as exc:
        views.flash("error", f"Reset: {ui.error_text(exc)}")
        return
    st.session_state["reset_confirm"] = False
    st.session_state.pop("last_create", None)
    views.flash(
        "success",
        f"Reset: {result['payments_removed']} payment(s) and {result['deliveries_removed']} delivery(ies) removed; "
        "run-time scenarios dropped, default scenario active.",
    )


st.title("Settings / health")
views.show_flash()
s = st.session_state
with st.form("settings"):
    st.text_input("API base URL", value=s["api_url"], key="set_api_url", help="The paymock server (default :9002).")
    token_state = "a token is set; leave empty to keep it" if s["api_token"] else "no token set"
    st.text_input(
        "Auth token (SERVICE_AUTH_TOKEN)",
        type="password",
        key="set_token",
        placeholder=token_state,
        help="Sent as `Authorization: Bearer …`; never displayed.",
    )
    st.checkbox("Clear the token", key="set_clear_token")
    st.number_input(
        "Request timeout (s)", min_value=1.0, max_value=600.0, value=float(s["timeout_s"]), key="set_timeout_s"
    )
    st.text_input(
        "Default callback URL for new payments",
        value=s["callback_url"],
        key="set_callback_url",
        help="Where webhooks go; {tx_id} is replaced by the payment's tx_id.",
    )
    st.form_submit_button("Save settings", type="primary", on_click=_save)

st.subheader("Server health")
health = ui.guarded(ui.client().health, prefix="Health: ")
if health is not None:
    cols = st.columns(4)
    cols[0].metric("Status", health["status"])
    cols[1].metric("Version", health["version"])
    cols[2].metric("Uptime", f"{health['uptime_s']:.0f} s")
    cols[3].metric("Active scenario", health["active_scenario"])
    cols = st.columns(4)
    cols[0].metric("Payments", health["payments"])
    cols[1].metric("Deliveries pending", health["deliveries_pending"])
    cols[2].metric("Store", health["store"])
    cols[3].metric("Time scale", health["time_scale"])
    st.caption("Auth required: " + ("yes" if health.get("auth_required") else "no"))

if ui.session_id():
    st.subheader("Reset this session")
    st.caption(
        f"Forgets session `{ui.session_id()}`'s payments and deliveries, drops its run-time scenarios and "
        "activates the default scenario in it; other sessions and the global state are untouched."
    )
    confirmed = st.checkbox("Yes, reset this session", key="reset_confirm")
else:
    st.subheader("Reset all state")
    st.caption(
        "Forgets every payment and delivery, drops run-time scenarios and activates the default scenario; "
        "every session is ended too (on a shared server: everyone's). To reset only your own work, open a "
        "session on the Sessions page and reset it."
    )
    confirmed = st.checkbox("Yes, reset everything on this server", key="reset_confirm")
st.button("Reset", type="primary", disabled=not confirmed, on_click=_reset)
