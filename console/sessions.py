"""Sessions in the console: the sidebar picker (global, all, one session), claims as text and back, ages.

A QA engineer on a shared paymock opens a session of their own (Sessions page) and the picker then
points every page at it: the client sends X-Mock-Session, so their payments, deliveries, scenarios and
reset stay theirs. "All" shows what can be shown across sessions (payments, the delivery log) and acts on
the global state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from . import problems, ui

CLAIM_LISTS = {"order_ids": "orders", "user_ids": "users"}


def live_sessions(*, say_why: bool = False) -> list[dict[str, Any]] | None:
    """Every live session, oldest first; None when the server did not answer (`say_why`: shown on the page)."""
    try:
        sessions: list[dict[str, Any]] = []
        while True:  # paged like deliveries; the server caps live sessions, so this ends
            page = ui.client_for(None).list_sessions(offset=len(sessions))
            sessions += page["sessions"]
            if not page["sessions"] or len(sessions) >= page["total"]:
                return sessions
    except problems.FAILED as exc:
        if say_why:
            ui.show_error(exc, prefix="Sessions: ")
        return None


def claims_text(claims: dict[str, Any] | None) -> str:
    """`tx_id t1- · orders 1, 2 · users 7`, or `none`."""
    claims = claims or {}
    parts = [f"tx_id {claims['tx_id_prefix']}*"] if claims.get("tx_id_prefix") else []
    parts += [f"{name} {', '.join(map(str, claims[key]))}" for key, name in CLAIM_LISTS.items() if claims.get(key)]
    return " · ".join(parts) or "none"


def parse_ids(text: str, what: str) -> list[int]:
    """`7, 8 9` -> [7, 8, 9]; ValueError naming the field and the value that is not a whole number."""
    values = [v for v in text.replace(",", " ").split() if v]
    bad = [v for v in values if not v.isdigit()]
    if bad:
        raise ValueError(f"{what}: {bad[0]!r} is not a whole number (separate ids with commas)")
    return [int(v) for v in values]


def age_text(iso: str, now: datetime | None = None) -> str:
    """How long ago (or, for a time ahead, in how long): `42 s`, `5 min`, `2 h 5 min`."""
    now = now or datetime.now(UTC)
    seconds = int(abs((now - datetime.fromisoformat(iso)).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def describe(session: dict[str, Any]) -> str:
    return f"{session['label'] or '(no label)'} · {session['session_id']}"


def picker() -> None:
    """The sidebar's session picker; a session that ended or expired falls back to the global state."""
    sessions = live_sessions()
    known = {s["session_id"]: s for s in sessions or []}
    chosen = ui.view()
    if chosen not in (ui.GLOBAL, ui.ALL) and chosen not in known:
        if sessions is None:  # no answer: keep the choice, the page shows the error
            known[chosen] = {"session_id": chosen, "label": None}
        else:
            st.session_state["session_view"] = ui.GLOBAL
            st.warning(f"Session {chosen} ended or expired: back to the global state.", icon=":material/info:")
    names = {ui.GLOBAL: "Global (no session)", ui.ALL: "All sessions"} | {k: describe(v) for k, v in known.items()}
    st.selectbox(
        "Session",
        list(names),
        key="session_view",
        format_func=names.__getitem__,
        help="Every page's calls go to the picked session (X-Mock-Session). Open your own on the Sessions page.",
    )
    if ui.view() == ui.ALL:
        st.caption("Payments and webhooks of every session are listed; actions act on the global state.")
    # the address names the session worked in, so a link to this page opens it there for a colleague too
    if ui.session_id():
        st.query_params["session"] = ui.session_id()
    elif "session" in st.query_params:
        del st.query_params["session"]
