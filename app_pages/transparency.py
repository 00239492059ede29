"""Transparency: the model card, the run manifest, and the "this looks wrong" form."""

from __future__ import annotations

import streamlit as st

from app_pages import common

# The page shell first: a cold first visit shows the title and the progress bar
# while the analysis stack (scipy, geopandas, folium) is still being imported.
common.page_shell("Transparency")
if common.dataset()["kind"] == "national":  # one region of a national run
    from app_pages import national_pages

    national_pages.transparency(common.privacy_mode())
    st.stop()

import json

import altair as alt
import pandas as pd

from app_pages import results
from hotspot_env.app import places, redress
from hotspot_env.errors import HotspotEnvError
from hotspot_env.outputs import labels, modelcard

privacy = common.privacy_mode()
analysis = common.load_analysis(privacy)


@st.cache_resource(show_spinner="Validating the maps out of sample…", max_entries=8)
def _card(key: str, _analysis) -> dict:
    """The model card (with its out-of-sample validation) once per analysis."""
    return modelcard.model_card(_analysis)


card = _card(common.dataset_key(privacy), analysis)


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain-word column and parameter names; ids stay in the manifest."""
    frame = frame.copy()
    if "parameter" in frame:
        frame["parameter"] = frame["parameter"].map(labels.parameter_label)
    if "method" in frame:
        frame["method"] = frame["method"].map(labels.method_label)
    frame.columns = [labels.field_label(c) for c in frame.columns]
    return frame.set_index(frame.columns[0])

common.banner(analysis)
st.caption(f"Model card of {common.dataset_label(analysis)}.")
verdict_row = card["validation"].get("verdict")
if verdict_row is not None and verdict_row.iloc[0]["caution"]:  # the guide's bar, not met
    st.error("**" + common.md_escape(str(verdict_row.iloc[0]["caution"]), 800)
             + "** See **Validation** below.", icon=":material/warning:")

st.header("What this tool is for")
for line in card["intents"]:
    st.markdown(f"- {line}")

st.header("Data sources")
# HTML tables (not data grids): long rules and sha256 texts wrap instead of being cut.
st.table(_readable(card["data_sources"]))
counts = card["counts"]
st.markdown(
    f"Incidents read {counts.get('incidents_read', 0):,}; used {counts.get('incidents_used', 0):,}"
    f"; left out {counts.get('incidents_dropped', 0):,} (invalid coordinates "
    f"{counts.get('incidents_invalid', 0):,}, officer-initiated "
    f"{counts.get('incidents_excluded_source', 0):,}, outside the study area "
    f"{counts.get('incidents_outside_area', 0):,}).")

st.header("Every automatic choice")
st.table(_readable(card["choices"]))
with st.expander("Every parameter used"):
    st.table(_readable(card["parameters"]))

st.header("Validation")
validation = card["validation"]
if "message" in validation:
    st.info("Validation could not run: " + common.md_escape(
        validation["message"]["message"].iloc[0], 300))
elif not validation:
    st.info("Validation needs dated incidents: fit on the earlier period, score on the last.")
else:
    st.markdown("Each method is fitted on the incidents before the last period and scored on "
                "the last period's incidents (out of sample). The naive baselines are the bar "
                "the validated forecast must clear.")
    if "verdict" in validation:
        row = validation["verdict"].iloc[0]
        text = common.md_escape(str(row["verdict"]), 800)
        (st.success if row["outcome"] == "better" else st.warning)(text)
        if row["default"]:
            st.markdown(common.md_escape(str(row["default"]), 600))
    v1, v2 = st.columns(2)
    for col, metric, title in ((v1, "pei", "Predictive efficiency (1 = the best possible)"),
                               (v2, "pai", "Prediction accuracy index (PAI; 1 = chance)")):
        if metric in validation:
            col.altair_chart(alt.Chart(validation[metric]).mark_bar().encode(
                y=alt.Y("method:N", title=None, sort=None),
                x=alt.X("value:Q", title=metric.upper()),
                yOffset="area_pct:N", color=alt.Color("area_pct:N", title="% of area"),
                tooltip=["method", "area_pct", alt.Tooltip("value:Q", format=".3f")]
            ).properties(title=title, height=300), width="stretch")
    v1, v2 = st.columns(2)
    if "calibration" in validation:
        cal = validation["calibration"]
        top = float(cal[["predicted", "observed"]].max().max())
        diagonal = alt.Chart(pd.DataFrame({"v": [0.0, top]})).mark_line(
            strokeDash=[4, 4], color="grey").encode(x="v:Q", y="v:Q")
        v1.altair_chart((diagonal + alt.Chart(cal).mark_line(point=True).encode(
            x=alt.X("predicted:Q", title="predicted incidents (decile of cells)"),
            y=alt.Y("observed:Q", title="observed incidents"), color="method:N",
            tooltip=["method", "decile", "predicted", "observed"])).properties(
            title="Calibration", height=260), width="stretch")
    if "errors" in validation:
        errors = validation["errors"]
        v2.dataframe(
            errors.assign(method=errors["method"].map(labels.method_label)), hide_index=True,
            width="stretch", column_config={
                c: st.column_config.NumberColumn(
                    labels.field_label(c), format="%.3f",
                    help=labels.glossary("Poisson deviance") if c == "poisson_deviance" else
                    labels.glossary("RMSE") if c in ("rmse", "mse") else None)
                for c in errors.columns if c != "method"} | {
                "method": st.column_config.TextColumn(labels.field_label("method"))})

st.header("Known limits")
for line in card["limits"]:
    st.markdown(f"- {line}")

st.header("Warnings: reporting bias and feedback loops")
for line in card["warnings"]:
    st.warning(line)

st.header("Privacy")
st.table(pd.DataFrame([{"setting": k.replace("_", " "), "value": "–" if v is None else str(v)}
                       for k, v in card["privacy"].items()]))

results.show_results(analysis)

st.header("Run manifest")
manifest = common.manifest_text(analysis)
with st.expander("Show the manifest (JSON)"):
    st.json(json.loads(manifest), expanded=1)
common.download(st, "Download manifest.json", manifest, "manifest.json", "application/json",
                "dl_manifest", privacy, analysis)

st.header("This looks wrong")
st.markdown("Anyone can flag a place where the result looks wrong. Flags stay in this browser "
            "session until you download them for review; they hold no personal data.")
flags: list[redress.Flag] = st.session_state.setdefault("flags", [])
selected = st.session_state.get("selected_cell")
with st.form("flag_form", clear_on_submit=True):
    c1, c2 = st.columns([1, 2])
    cell_text = c1.text_input(
        "Cell id (click a place on Explore to fill this in)",
        value="" if selected is None else str(selected), key="flag_cell")
    place = c2.text_input("Or describe the place (street, landmark)", max_chars=200,
                          key="flag_place")
    kind = st.selectbox("What looks wrong", redress.FLAG_KINDS, key="flag_kind")
    reason = st.text_area("Why", max_chars=redress.MAX_REASON_CHARS, key="flag_reason")
    if st.form_submit_button("Send flag", type="primary"):
        try:
            cell_id, centre = None, None
            if cell_text.strip():
                rc = places.cell_from_id(analysis.grid, cell_text.strip()) if \
                    cell_text.strip().isdigit() else None
                if rc is None:
                    raise HotspotEnvError("that cell id is not in the study area: click the "
                                          "place on Explore, or describe it instead")
                cell_id = rc[0] * analysis.grid.n_cols + rc[1]
                lon, lat = places.cell_centre_lonlat(analysis.grid, *rc)
                centre = (lat, lon)
            flags.append(redress.make_flag(flags, kind=kind, reason=reason, cell_id=cell_id,
                                           centre=centre, place=place,
                                           run_id=common.run_id(analysis)))
            common.audit("flag", f"flag-{flags[-1].flag_id}", analysis=analysis)
            st.success(f"Thank you: flag {len(flags)} recorded for review.")
        except HotspotEnvError as exc:
            st.error(common.md_escape(str(exc), 600))

if flags:
    st.dataframe(redress.flags_frame(flags), hide_index=True, width="stretch",
                 key="flags_table")
common.download(st, f"Download flags for review (CSV, {len(flags)})", redress.flags_csv(flags),
                "flags.csv", "text/csv", "dl_flags", "public", analysis, disabled=not flags)

if common.can("audit_log"):
    st.header("Audit log")
    log = common.audit_log()
    entries = log.entries()
    st.caption(f"{len(entries):,} entries in {common.md_escape(str(log.path), 300)}: every "
               "export, upload, privacy-mode change, proposal, flag and sign-in (time, role, "
               "user, action, manifest and file hashes; never incident data).")
    if entries:
        st.dataframe(pd.DataFrame(entries[-500:][::-1]), hide_index=True,
                     width="stretch", key="audit_table")
    a1, a2 = st.columns(2)
    common.download(a1, "Audit log (CSV)", log.export_csv(entries), "audit_log.csv", "text/csv",
                    "dl_audit_csv", needs="audit_log", disabled=not entries)
    common.download(a2, "Audit log (JSON lines)", log.export_jsonl(), "audit_log.jsonl",
                    "application/jsonl", "dl_audit_jsonl", needs="audit_log",
                    disabled=not entries)
