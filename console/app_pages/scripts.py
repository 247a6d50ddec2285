"""QA scripts: load/write a YAML script, run it against the server, see pass/fail per step; save it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from paymock_console import scripts, ui, views


def _sources() -> dict[str, str]:
    found = {f"example: {k}": v for k, v in scripts.example_scripts().items()}
    found.update({f"saved: {k}": v for k, v in scripts.saved_scripts().items()})
    return found


def _put(text: str) -> None:
    st.session_state["qs_yaml"] = text
    st.session_state.pop("qs_run", None)


def _load() -> None:
    # read the picker's state, not args bound at the previous render
    text = _sources().get(st.session_state.get("qs_pick") or "")
    if text is not None:
        _put(text)


def _upload() -> None:
    upload = st.session_state.get("qs_upload")
    if upload is not None:
        _put(upload.getvalue().decode("utf-8", "replace"))


def _save() -> None:
    try:
        path = scripts.save_script(st.session_state["qs_file"], st.session_state["qs_yaml"])
    except scripts.ScriptError as exc:
        views.flash("error", "Not saved: " + "; ".join(exc.errors))
        return
    except OSError as exc:
        views.flash("error", f"Not saved: {exc.strerror or exc}")
        return
    views.flash("success", f"Saved {path}")


def results(run: dict[str, Any]) -> None:
    rows = run["rows"]
    failed = [r for r in rows if r["verdict"] != "PASS"]
    if failed:
        st.error(f"FAIL — {len(failed)} of {len(rows)} step(s) did not pass (run {run['run_id']}).")
    else:
        st.success(f"PASS — all {len(rows)} step(s) passed (run {run['run_id']}).")
    st.dataframe(views.frame(rows, ["step", "verdict", "title", "summary", "failures"]), hide_index=True)
    if run["payments"]:
        st.caption("Payments created: " + ", ".join(run["payments"]))


st.title("QA scripts")
st.caption(
    "A script is a list of steps: `create` N payments under a scenario, `wait` for their delivery, `confirm`, "
    "`check`, `set_active`, each with an `expect`. Steps after a `create` act on the payments it created."
)
views.show_flash()
active = ui.guarded(ui.client().active_scenario, prefix="Server: ")
if active is not None:
    where = st.session_state["api_url"]
    st.caption(f"Server {where} · active scenario `{active}` (used by a `create` without `scenario`)")
sources = _sources()
st.session_state.setdefault("qs_yaml", next(iter(sources.values()), ""))
left, right = st.columns([3, 1], vertical_alignment="bottom")
left.selectbox("Script", list(sources), key="qs_pick")
right.button("Load", key="qs_load", on_click=_load, disabled=not sources)
st.file_uploader("…or load a YAML file", type=["yaml", "yml"], key="qs_upload", on_change=_upload)
st.text_area("Script YAML", key="qs_yaml", height=320)

script = None
try:
    script = scripts.parse_script(st.session_state["qs_yaml"])
except scripts.ScriptError as exc:
    st.error("Not a valid script:\n\n" + "\n".join(f"- {e}" for e in exc.errors))

if st.button("Run script", key="qs_run_btn", type="primary", disabled=script is None) and script is not None:
    with st.status(f"Running {script.name}…", expanded=True) as status:

        def report(result: scripts.StepResult) -> None:
            st.write(f"{result.verdict} · step {result.index}: {result.title} — {result.summary}")

        run = scripts.run_script(ui.client(), script, st.session_state["callback_url"], on_step=report)
        status.update(
            label=f"{script.name}: {'PASS' if run.passed else 'FAIL'}", state="complete" if run.passed else "error"
        )
    st.session_state["qs_run"] = {
        "run_id": run.run_id,
        "payments": run.payment_ids,
        "rows": [
            {"step": r.index, "verdict": r.verdict, "title": r.title, "summary": r.summary, "failures": r.failures}
            for r in run.results
        ],
    }
if st.session_state.get("qs_run"):
    results(st.session_state["qs_run"])

st.subheader("Save")
left, mid, right = st.columns([2, 1, 1], vertical_alignment="bottom")
default_name = script.name if script else "my-script"
left.text_input("File name", value=default_name, key="qs_file", help=f"Saved under {scripts.scripts_dir()}/")
mid.button("Save to file", key="qs_save", on_click=_save)
right.download_button(
    "Download", st.session_state["qs_yaml"], file_name=f"{default_name}.yaml", mime="application/yaml", key="qs_dl"
)
