"""paymock QA console: `paymock console` or `streamlit run console/streamlit_app.py`.

Talks to a paymock server only over HTTP (PAYMOCK_API_URL, default http://localhost:9002) through
the package's `PaymockClient`; it imports only paymock's public surface (`paymock.__all__`), never
the server's internals.
"""

from __future__ import annotations

import streamlit as st

from paymock_console import sessions, ui

st.set_page_config(page_title="paymock console", page_icon=":material/payments:", layout="wide")
ui.init_settings()

pages = {
    "Provider": [
        st.Page("app_pages/payments.py", title="Payments", icon=":material/payments:", default=True),
        st.Page("app_pages/webhooks.py", title="Webhooks", icon=":material/webhook:"),
    ],
    "Scenarios": [
        st.Page("app_pages/scenarios.py", title="Scenarios", icon=":material/science:"),
        st.Page("app_pages/scripts.py", title="QA scripts", icon=":material/checklist:"),
    ],
    "Ops server": [st.Page("app_pages/audit.py", title="Webhook audit", icon=":material/fact_check:")],
    "Admin": [
        st.Page("app_pages/sessions.py", title="Sessions", icon=":material/group:"),
        st.Page("app_pages/settings.py", title="Settings / health", icon=":material/settings:"),
    ],
}
page = st.navigation(pages)

with st.sidebar:
    st.caption(f"API: `{st.session_state['api_url']}`" + (" · token set" if st.session_state["api_token"] else ""))
    sessions.picker()
    st.toggle(f"Live refresh every {ui.REFRESH_S} s", key="live_refresh")

page.run()
