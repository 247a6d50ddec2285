"""Sessions: the live sessions (label, claims, age), opening one of your own to work in, ending one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from paymock_console import problems, sessions, ui, views

COLUMNS = ["session_id", "label", "claims", "age", "expires_in", "payments", "deliveries"]


def _open() -> None:
    """Form callback: open a session with the typed label and claims, and work in it."""
    s = st.session_state
    try:
        claims = _claims_from_form("ses_prefix", "ses_orders", "ses_users")
    except ValueError as exc:
        views.flash("error", f"Open a session: {exc}")
        return
    try:
        made = ui.client_for(None).create_session(
            label=s["ses_label"].strip() or None, claims=claims, idle_timeout_s=int(s["ses_idle_min"]) * 60
        )
    except problems.FAILED as exc:  # e.g. 409: a claim another session holds (the problem names it)
        views.flash("error", f"Open a session: {ui.error_text(exc)}")
        return
    s["session_view"] = made["session_id"]
    s.pop("last_create", None)
    views.flash(
        "success",
        f"Working in session {sessions.describe(made)}: every page's calls now go to it "
        f"(claims: {sessions.claims_text(made['claims'])}).",
    )


def _end(session_id: str) -> None:
    try:
        ended = ui.client_for(None).end_session(session_id)
    except problems.FAILED as exc:
        views.flash("error", f"End {session_id}: {ui.error_text(exc)}")
        return
    if ui.view() == session_id:
        st.session_state["session_view"] = ui.GLOBAL
    st.session_state["ses_end_confirm"] = False
    views.flash(
        "success",
        f"Ended {session_id}: {ended['payments_removed']} payment(s) and {ended['deliveries_removed']} "
        "delivery(ies) removed.",
    )


def _claims_from_form(prefix_key: str, orders_key: str, users_key: str) -> dict[str, Any]:
    """The claims typed in a form; ValueError naming a field whose ids are not whole numbers."""
    s = st.session_state
    return {
        "tx_id_prefix": s[prefix_key].strip() or None,
        "order_ids": sessions.parse_ids(s[orders_key], "order_ids"),
        "user_ids": sessions.parse_ids(s[users_key], "user_ids"),
    }


def _set_claims(session_id: str) -> None:
    try:
        claims = _claims_from_form(*(f"ses_new_{k}_{session_id}" for k in ("prefix", "orders", "users")))
        changed = ui.client_for(None).set_claims(session_id, claims)
    except ValueError as exc:
        views.flash("error", f"Change claims: {exc}")
        return
    except problems.FAILED as exc:  # 409: another session claims one of them (the problem names it)
        views.flash("error", f"Change claims: {ui.error_text(exc)}")
        return
    views.flash("success", f"Session {session_id} now claims: {sessions.claims_text(changed['claims'])}.")


def claims_form(session_id: str) -> None:
    """Change what the session one works in claims (replaces them all), prefilled with the current ones."""
    current = ui.guarded(ui.client_for(None).get_session, session_id, prefix=f"{session_id}: ")
    if current is None:
        return
    claims = current["claims"]
    with st.form("session_claims"):
        st.caption(f"Claims of this session now: {sessions.claims_text(claims)}. Saving replaces them all.")
        # keyed by session: another session's form starts from that session's claims
        shown = {
            "prefix": claims.get("tx_id_prefix") or "",
            "orders": ", ".join(map(str, claims.get("order_ids") or [])),
            "users": ", ".join(map(str, claims.get("user_ids") or [])),
        }
        labels = {"prefix": "tx_id prefix", "orders": "order_ids", "users": "user_ids"}
        for col, (name, value) in zip(st.columns(3), shown.items(), strict=True):
            col.text_input(labels[name], value=value, key=f"ses_new_{name}_{session_id}")
        st.form_submit_button("Change claims", on_click=_set_claims, args=(session_id,))


def _work_in(session_id: str | None) -> None:
    st.session_state["session_view"] = session_id or ui.GLOBAL


def open_form() -> None:
    with st.form("open_session"):
        st.subheader("Open a session of your own")
        st.text_input("Label", key="ses_label", max_chars=100, placeholder="e.g. Mina, checkout regression")
        st.caption(
            "Claims: payments an ops server sends on your behalf (it forwards nothing of ours) come to your "
            "session when they match. Leave them empty if you create payments here."
        )
        cols = st.columns(3)
        cols[0].text_input("tx_id prefix", key="ses_prefix", placeholder="mina-")
        cols[1].text_input("order_ids", key="ses_orders", placeholder="101, 102")
        cols[2].text_input("user_ids", key="ses_users", placeholder="7")
        st.number_input("Idle expiry (minutes)", min_value=1, max_value=1440, value=60, key="ses_idle_min")
        st.form_submit_button("Open session", type="primary", on_click=_open)


def rows(live: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "session_id": s["session_id"],
            "label": s["label"],
            "claims": sessions.claims_text(s["claims"]),
            "age": sessions.age_text(s["created_at"], now),
            "expires_in": sessions.age_text(s["expires_at"], now),
            "payments": s["payments"],
            "deliveries": s["deliveries"],
        }
        for s in live
    ]


@st.fragment(run_every=ui.refresh_every())
def live_table() -> None:
    """The table refreshes on its own; the actions below it rerun the whole page (the picker follows)."""
    live = sessions.live_sessions(say_why=True)
    if live is None:
        return
    st.markdown(f"**{len(live)}** live session(s), oldest first")
    if live:
        st.dataframe(views.frame(rows(live), COLUMNS), hide_index=True, width="stretch")


def actions() -> None:
    live = sessions.live_sessions() or []
    if not live:
        return
    ids = [s["session_id"] for s in live]
    names = {s["session_id"]: sessions.describe(s) for s in live}
    current = ui.session_id()
    left, mid, right = st.columns([3, 1, 1], vertical_alignment="bottom")
    picked = left.selectbox(
        "Pick a session",
        ids,
        index=ids.index(current) if current in ids else 0,
        format_func=names.__getitem__,
        key="ses_pick",
    )
    mid.button("Work in it", key="ses_work", on_click=_work_in, args=(picked,))
    confirmed = right.checkbox("Yes, end it", key="ses_end_confirm", help="Removes its payments and deliveries.")
    st.button("End session", key="ses_end", disabled=not confirmed, on_click=_end, args=(picked,))


st.title("Sessions")
views.show_flash()
current = ui.session_id()
if current:
    st.info(f"You are working in session `{current}`: every page's calls go to it.", icon=":material/person:")
    st.button("Back to the global state", key="ses_global", on_click=_work_in, args=(None,))
    claims_form(current)
else:
    st.caption(
        "Each session is an isolated view of this server: its own payments, deliveries, scenarios, active "
        "scenario and reset. Without one you work in the global state, shared with everyone."
    )
open_form()
st.subheader("Live sessions")
live_table()
actions()
