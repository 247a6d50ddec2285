"""Scenarios: fixtures and run-time scenarios, the active one, and a YAML editor validated by the server."""

from __future__ import annotations

from typing import Any

import streamlit as st
import yaml

from paymock import load_yaml
from paymock_console import problems, ui, views

TEMPLATE = """\
# A run-time scenario: validated by the server (dry run) before it is saved.
name: qa-flaky-twice
description: The first 2 webhook attempts fail, the 3rd is delivered.
payment:
  outcome: complete        # complete | fail | pending | delayed
webhook:
  fail_attempts: 2
  retry_schedule_ms: [1000, 2000, 4000]
"""


def _parse(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        data = load_yaml(text, unique_keys=True)
    except yaml.YAMLError as exc:
        return None, [f"YAML: {exc}"]
    if not isinstance(data, dict):
        return None, ["the scenario must be a YAML mapping with at least `name` and `description`"]
    if not data.get("name"):
        return None, ["name: required"]
    return data, []


def _check(text: str) -> dict[str, Any]:
    """Parse locally, then ask the server (PUT ?dry_run=true); nothing is stored either way."""
    data, errors = _parse(text)
    if data is None:
        return {"ok": False, "errors": errors}
    try:
        info = ui.client().put_scenario(data, dry_run=True)
    except problems.FAILED as exc:
        text = ui.error_text(exc)
        detail = getattr(exc, "detail", None)  # a problem's own words, without the request line
        return {"ok": False, "errors": problems.named_errors(exc) or [detail or text], "message": text, "data": data}
    return {"ok": True, "data": data, "warnings": info.get("warnings", [])}


def _validate() -> None:
    st.session_state["sc_check"] = _check(st.session_state["sc_yaml"])


def _save() -> None:
    check = _check(st.session_state["sc_yaml"])
    st.session_state["sc_check"] = check
    if not check["ok"]:
        return
    try:
        info = ui.client().put_scenario(check["data"])
    except problems.FAILED as exc:
        st.session_state["sc_check"] = {"ok": False, "errors": problems.named_errors(exc) or [ui.error_text(exc)]}
        return
    st.session_state["sc_check"] = {"ok": True, "saved": info["scenario"]["name"], "warnings": info.get("warnings", [])}


def _load() -> None:
    # callbacks read the pickers' state, not args bound at the previous render
    name = st.session_state["sc_base"]
    try:
        info = ui.client().get_scenario(name)
    except problems.FAILED as exc:
        views.flash("error", f"Load {name}: {ui.error_text(exc)}")
        return
    st.session_state["sc_yaml"] = yaml.safe_dump(info["scenario"], sort_keys=False, allow_unicode=True)
    st.session_state.pop("sc_check", None)


def _set_active() -> None:
    name = st.session_state["sc_active_pick"]
    try:
        ui.client().set_scenario(name)
    except problems.FAILED as exc:
        views.flash("error", f"Set active: {ui.error_text(exc)}")
        return
    views.flash("success", f"Active scenario is now `{name}`: payments without a header or matching rule use it.")


def _delete() -> None:
    name = st.session_state["sc_delete_pick"]
    try:
        ui.client().delete_scenario(name)
    except problems.FAILED as exc:
        views.flash("error", f"Delete {name}: {ui.error_text(exc)}")
        return
    views.flash("success", f"Deleted run-time scenario `{name}`.")


def scenario_table(listing: dict[str, Any]) -> None:
    rows = [
        {
            "active": "●" if s["name"] == listing["active"] else "",
            "name": s["name"],
            "description": s["description"],
            "source": s["source"],
            "match": ", ".join(f"{k}={v}" for k, v in (s.get("match") or {}).items()),
        }
        for s in listing["scenarios"]
    ]
    height = 38 + 35 * min(len(rows), 20)  # every scenario visible without an inner scroll (up to 20)
    columns = ["active", "name", "description", "source", "match"]
    st.dataframe(views.frame(rows, columns), hide_index=True, width="stretch", height=height)


def active_picker(listing: dict[str, Any]) -> None:
    names = [s["name"] for s in listing["scenarios"]]
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    index = names.index(listing["active"]) if listing["active"] in names else 0
    left.selectbox("Active scenario", names, index=index, key="sc_active_pick")
    right.button("Set active", key="sc_set_active", type="primary", on_click=_set_active)
    runtime = [s["name"] for s in listing["scenarios"] if s["source"] == "runtime"]
    if runtime:
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        left.selectbox("Run-time scenario", runtime, key="sc_delete_pick")
        right.button("Delete", key="sc_delete", on_click=_delete)


def editor(names: list[str]) -> None:
    st.subheader("Write a scenario")
    st.session_state.setdefault("sc_yaml", TEMPLATE)
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    if names:
        left.selectbox("Start from an existing scenario", names, key="sc_base")
        right.button("Load into editor", key="sc_load", on_click=_load)
    st.text_area("Scenario YAML", key="sc_yaml", height=300, on_change=_validate)
    cols = st.columns([1, 1, 4])
    cols[0].button("Validate", key="sc_validate", on_click=_validate)
    cols[1].button("Save", key="sc_save", type="primary", on_click=_save)
    check = st.session_state.get("sc_check")
    if not check:
        return
    if check.get("saved"):
        st.success(f"Saved run-time scenario `{check['saved']}`.")
    elif check["ok"]:
        st.success("Valid: the server accepts this scenario (not saved yet).")
    else:
        st.error("Not valid, nothing saved:\n\n" + "\n".join(f"- `{e}`" for e in check["errors"]))
    if check.get("warnings"):  # allowed, but it defeats itself: the server says how
        st.warning("Allowed, but check it:\n\n" + "\n".join(f"- {w}" for w in check["warnings"]))


st.title("Scenarios")
views.show_flash()
listing = ui.guarded(ui.client().scenarios, prefix="Scenarios: ")
if listing is not None:
    st.markdown(
        f"Active scenario: **`{listing['active']}`** (used when no `X-Mock-Scenario` header or match rule picks one)"
    )
    active_picker(listing)
    scenario_table(listing)
editor([s["name"] for s in listing["scenarios"]] if listing else [])
