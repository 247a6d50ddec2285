"""Shared pieces of the console pages: settings in session state, the client, readable errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from paymock import PaymockClient

from . import problems

T = TypeVar("T")

DEFAULT_API_URL = "http://localhost:9002"
DEFAULT_TIMEOUT_S = 60.0
# Listing everything at once is the seed's behaviour; the console caps it so a long session stays fast.
LISTING_LIMIT = 1000
DEFAULT_CALLBACK_URL = "http://localhost:8000/api/orders/payment/webhook/v2/{tx_id}"
STATUSES = ("PENDING", "PAYMENT_COMPLETED", "PAYMENT_FAILED")
STATUS_LABELS = {"PENDING": "Pending", "PAYMENT_COMPLETED": "Completed", "PAYMENT_FAILED": "Failed"}
REFRESH_S = 5
MASK = "••••••"


def init_settings() -> None:
    """Seed session settings from the environment once per browser session (PAYMOCK_API_URL etc.)."""
    defaults = {
        "api_url": os.environ.get("PAYMOCK_API_URL") or DEFAULT_API_URL,
        "api_token": os.environ.get("SERVICE_AUTH_TOKEN") or "",
        "timeout_s": float(os.environ.get("PAYMOCK_API_TIMEOUT") or DEFAULT_TIMEOUT_S),
        "callback_url": os.environ.get("PAYMOCK_CALLBACK_URL") or DEFAULT_CALLBACK_URL,
        "live_refresh": True,
        "session_view": st.query_params.get("session") or GLOBAL,  # a shared link: ?session=ses_…
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


# The session picker's value (session state "session_view"): the global state, every session at once
# (listings that can show them), or one session's id, which every page's calls then go to.
GLOBAL = "global"
ALL = "all"


@st.cache_resource(show_spinner=False, max_entries=64)
def _client(api_url: str, token: str, timeout_s: float, session: str | None) -> PaymockClient:
    return PaymockClient(api_url, auth_token=token or None, timeout=timeout_s, session=session)


def view() -> str:
    """What the picker chose: GLOBAL, ALL or a session id."""
    return st.session_state.get("session_view") or GLOBAL


def session_id() -> str | None:
    """The session the pages work in; None for the global state (also what ALL acts on)."""
    chosen = view()
    return None if chosen in (GLOBAL, ALL) else chosen


def client_for(session: str | None) -> PaymockClient:
    """One shared client (connection pool) per settings combination and session."""
    init_settings()
    s = st.session_state
    return _client(s["api_url"], s["api_token"], float(s["timeout_s"]), session)


def client() -> PaymockClient:
    """The client of the picked session (sends X-Mock-Session), or of the global state."""
    return client_for(session_id())


def error_text(exc: Exception) -> str:
    """A failed call (one of problems.FAILED) as one readable line."""
    return problems.message(exc, client().base_url)


def show_error(exc: Exception, prefix: str = "") -> None:
    """A failed call as one readable message plus the named errors; never a traceback."""
    st.error(f"{prefix}{error_text(exc)}", icon=":material/error:")
    for err in problems.named_errors(exc):
        st.markdown(f"- `{err}`")


def guarded(fn: Callable[..., T], *args: Any, prefix: str = "", **kwargs: Any) -> T | None:
    """Call the API; on failure show the problem and return None so the page keeps rendering."""
    try:
        return fn(*args, **kwargs)
    except problems.FAILED as exc:
        show_error(exc, prefix)
        return None


def mask_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers as sent, with any credential replaced: webhooks carry the service token."""
    return {k: (f"Bearer {MASK}" if k.lower() == "authorization" else v) for k, v in headers.items()}


def refresh_every() -> int | None:
    """The fragment interval: every REFRESH_S seconds while the sidebar toggle is on."""
    return REFRESH_S if st.session_state.get("live_refresh", True) else None


def scenario_names() -> list[str]:
    listing = guarded(client().scenarios, prefix="Scenarios: ")
    return [s["name"] for s in listing["scenarios"]] if listing else []
