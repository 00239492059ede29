"""Transparency: the model card, the run manifest, and the "this looks wrong" form."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from app_pages import common, results
from hotspot_env import modelcard, places, redress
from hotspot_env.errors import HotspotEnvError

privacy = common.privacy_mode()
analysis = common.load_analysis(privacy)


@st.cache_resource(show_spinner="Validating the maps out of sample…", max_entries=8)
def _card(key: str, _analysis) -> dict:
    """The model card (with its out-of-sample validation) once per analysis."""
    return modelcard.model_card(_analysis)


card = _card(common.dataset_key(privacy), analysis)

st.title("Transparency")
common.banner(analysis)
st.caption(f"Model card of {common.dataset_label(analysis)}.")

st.header("What this tool is for")
for line in card["intents"]:
    st.markdown(f"- {line}")

st.header("Data sources")
st.dataframe(card["data_sources"], hide_index=True, use_container_width=True)
counts = card["counts"]
st.markdown(
    f"Incidents read {counts.get('incidents_read', 0):,}; used {counts.get('incidents_used', 0):,}"
    f"; left out {counts.get('incidents_dropped', 0):,} (invalid coordinates "
    f"{counts.get('incidents_invalid', 0):,}, officer-initiated "
    f"{counts.get('incidents_excluded_source', 0):,}, outside the study area "
    f"{counts.get('incidents_outside_area', 0):,}).")

st.header("Every automatic choice")
st.dataframe(card["choices"], hide_index=True, use_container_width=True)
with st.expander("Every parameter used"):
    st.dataframe(card["parameters"], hide_index=True, use_container_width=True)

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
        text = common.md_escape(str(row["verdict"]), 600)
        (st.success if row["winner"] in ("forecast", "tie") else st.warning)(text)
        if row["default"]:
            st.markdown(common.md_escape(str(row["default"]), 600))
    v1, v2 = st.columns(2)
    for col, metric, title in ((v1, "pei", "Predictive efficiency (1 = the best possible)"),
                               (v2, "pai", "Predictive accuracy index (1 = chance)")):
        if metric in validation:
            col.altair_chart(alt.Chart(validation[metric]).mark_bar().encode(
                y=alt.Y("method:N", title=None, sort=None),
                x=alt.X("value:Q", title=metric.upper()),
                yOffset="area_pct:N", color=alt.Color("area_pct:N", title="% of area"),
                tooltip=["method", "area_pct", alt.Tooltip("value:Q", format=".3f")]
            ).properties(title=title, height=300), use_container_width=True)
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
            title="Calibration", height=260), use_container_width=True)
    if "errors" in validation:
        v2.dataframe(validation["errors"], hide_index=True, use_container_width=True)

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
st.download_button("Download manifest.json", manifest, file_name="manifest.json",
                   mime="application/json", key="dl_manifest")

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
            st.success(f"Thank you: flag {len(flags)} recorded for review.")
        except HotspotEnvError as exc:
            st.error(common.md_escape(str(exc), 600))

if flags:
    st.dataframe(redress.flags_frame(flags), hide_index=True, use_container_width=True,
                 key="flags_table")
st.download_button(f"Download flags for review (CSV, {len(flags)})", redress.flags_csv(flags),
                   file_name="flags.csv", mime="text/csv", key="dl_flags",
                   disabled=not flags)
