"""Explore (planners): density, hot spots and risk factors on an offline map; click a place."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app_pages import common
from hotspot_env import emptiness, mapview, places

privacy = common.privacy_mode()
analysis = common.load_analysis(privacy)

st.title("Explore")
common.banner(analysis)
st.caption(f"Showing {common.dataset_label(analysis)} · privacy mode: "
           f"{common.PRIVACY_LABELS[privacy]} · change data or mode on the **Data** page.")

available = mapview.available_layers(analysis)
missing = mapview.missing_layers(analysis)

with st.sidebar:
    st.subheader("Map layers")
    chosen = [spec.key for spec in available
              if st.checkbox(spec.title, value=mapview.shown_by_default(spec, analysis),
                             key=f"layer_{spec.key}",
                             help=spec.note)]
    if missing:
        st.caption("Not available for this analysis (no data, or nothing significant): "
                   + ", ".join(spec.title for spec in missing) + ".")
    online = st.checkbox("OpenStreetMap tiles (online)", value=False, key="online_tiles",
                         help="Off by default: the map works offline. Tick only with internet; "
                              "tiles are then loaded from tile.openstreetmap.org.")

map_col, info_col = st.columns([1.9, 1.1], gap="medium")

with map_col:
    m = mapview.explore_map(analysis, chosen, privacy=privacy, online_tiles=online)
    state = st_folium(m, key=f"explore_map_{common.dataset_key(privacy)}", height=580,
                      use_container_width=True, returned_objects=["last_clicked"])
    if analysis.map_layers.get("streets") is not None:
        st.caption("Basemap: streets and buildings from OpenStreetMap (© OpenStreetMap "
                   "contributors, ODbL). Click a place to see why it ranks.")
    elif analysis.layer("streets") is not None:
        st.caption("Basemap: the streets and buildings layers you gave. Click a place to see "
                   "why it ranks.")
    else:
        st.caption("No OpenStreetMap layers for this data: no basemap. Click a place to see "
                   "why it ranks.")

clicked = (state or {}).get("last_clicked")
if clicked:
    cell = places.cell_at(analysis.grid, clicked.get("lat"), clicked.get("lng"))
    st.session_state["selected_cell"] = (None if cell is None else
                                         int(cell[0] * analysis.grid.n_cols + cell[1]))

with info_col:
    st.subheader("This place")
    selected = st.session_state.get("selected_cell")
    rc = places.cell_from_id(analysis.grid, selected) if selected is not None else None
    if clicked and rc is None:
        st.info("That point is outside the study area: click inside it.")
    elif rc is None:
        st.info("Click a place on the map to see its counts, its risk factors and why it ranks.")
    else:
        report = places.describe_cell(analysis, *rc, privacy=privacy)
        st.markdown(f"**Cell {report.cell_id}** · centre {report.centre_lat:.5f}, "
                    f"{report.centre_lon:.5f}")
        if report.street:
            st.markdown(f"Near **{common.md_escape(report.street)}**")
        a, b = st.columns(2)
        a.metric("Incidents", report.incidents,
                 help="Recorded incidents in this cell. In public mode, 1-4 show as <5.")
        b.metric("Gi*", report.hot_spot.split(" (")[0], help=report.hot_spot)
        if report.why:
            st.markdown("**Why it ranks:** " + common.md_escape(report.why, 600))
        else:
            st.caption("A plain-language reason appears here once the risk terrain stage runs.")
        st.table(pd.DataFrame({"value": [v["value"] for v in report.values]},
                              index=[v["label"] for v in report.values]))
        st.caption("Flag this place on the **Transparency** page if it looks wrong.")

st.subheader("What the layers show")
shown = [spec for spec in available if spec.key in chosen]
if not shown:
    st.info("No layer is switched on: tick layers in the sidebar.")
for spec in shown:
    st.markdown(f"**{common.md_escape(spec.title)}.** {spec.note}")

rtm = analysis.rtm
if rtm is not None:
    st.subheader("Risk terrain model")
    st.markdown(common.md_escape(getattr(rtm, "headline", ""), 400))
    table = getattr(rtm, "table", None)
    if isinstance(table, pd.DataFrame) and not table.empty:
        config = {c: st.column_config.NumberColumn(c, format="%.2e" if "p" == c[:1] else "%.2f")
                  for c in table.select_dtypes("number").columns}
        st.dataframe(table, hide_index=True, use_container_width=True, column_config=config)
        st.caption("rrv: relative risk value, how many times more incidents a place with this "
                   "feature has than an otherwise equal place (with its 95 % interval).")

rtm_reason = emptiness.rtm_empty_reason(analysis)
if rtm_reason:
    if rtm is None:
        st.subheader("Risk terrain model")
    st.info(rtm_reason)

st.subheader("Over time")
trends = analysis.trends
if trends:
    cube = trends.get("cube", {})
    labels, totals = cube.get("labels") or [], cube.get("incidents_per_step") or []
    if labels and len(labels) == len(totals):
        frame = pd.DataFrame({"step": [str(s) for s in labels], "incidents": totals})
        st.markdown(f"**Recorded incidents per {common.md_escape(cube.get('step', 'step'))}**")
        st.altair_chart(alt.Chart(frame).mark_line(point=True).encode(
            x=alt.X("step:O", title=None, sort=None),
            y=alt.Y("incidents:Q", title="recorded incidents"),
            tooltip=["step", "incidents"]).properties(height=200),
            use_container_width=True)
    prof = trends.get("profiles")
    if prof is not None:
        from hotspot_env import profiles as profile_charts

        ids = sorted(pd.unique(prof.hour_dow["district"])) if not prof.hour_dow.empty else []
        pick = st.selectbox("District", ["all"] + [str(i) for i in ids], key="trend_district")
        hour = prof.hour_dow if pick == "all" else prof.hour_dow[
            prof.hour_dow["district"].astype(str) == pick]
        month = prof.monthly if pick == "all" else prof.monthly[
            prof.monthly["district"].astype(str) == pick]
        c1, c2 = st.columns(2)
        c1.altair_chart(profile_charts.hour_dow_heatmap(hour).properties(height=240),
                        use_container_width=True)
        c2.altair_chart(profile_charts.monthly_chart(month), use_container_width=True)
    classes = trends.get("classes") or {}
    if classes:
        st.dataframe(pd.DataFrame([{"trend": k, "cells": v} for k, v in classes.items()]),
                     hide_index=True)
    for message in trends.get("messages") or []:
        st.caption(common.md_escape(message, 300))
else:
    st.info(emptiness.trends_empty_reason(analysis) or "Trends over time (emerging hot spots, "
            "hour and month profiles) appear here once the time stage runs.")

with st.expander("How this map was made: every automatic choice and parameter", expanded=False):
    for line in analysis.choice_messages():
        st.markdown("- " + common.md_escape(line, 400))
    params = {k: v for k, v in analysis.parameters.items() if k != "grid"}
    st.dataframe(pd.DataFrame([{"parameter": k, "value": str(v)} for k, v in params.items()]),
                 hide_index=True, use_container_width=True)
    counts = analysis.counts
    st.markdown(f"Incidents read: {counts.get('incidents_read', 0):,} · used: "
                f"{counts.get('incidents_used', 0):,} · left out: "
                f"{counts.get('incidents_dropped', 0):,} (see the manifest on **Transparency**).")
