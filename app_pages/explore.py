"""Explore (planners): density, hot spots and risk factors on an offline map; click a place."""

from __future__ import annotations

import streamlit as st

from app_pages import common

# The page shell first: a cold first visit shows the title and the progress bar
# while the analysis stack (scipy, geopandas, folium) is still being imported.
common.page_shell("Explore")
if common.dataset()["kind"] == "national":  # one region of a national run
    from app_pages import national_pages

    national_pages.explore(common.privacy_mode())
    st.stop()

import pandas as pd
from streamlit_folium import st_folium

from hotspot_env.app import emptiness, mapview, places
from hotspot_env.outputs import labels
from hotspot_env.temporal import timeslice

privacy = common.privacy_mode()
analysis = common.load_analysis(privacy)
common.banner(analysis)
st.caption(f"Showing {common.dataset_label(analysis)} · privacy mode: "
           f"{common.PRIVACY_LABELS[privacy]} · change data or mode on the **Data** page.")

available = mapview.available_layers(analysis)
ranking_caution = emptiness.ranking_caution(analysis)
if ranking_caution:  # the validated forecast did not clearly beat counting: say so first
    st.warning("**" + common.md_escape(ranking_caution, 800) + "** Details on **Transparency**.",
               icon=":material/warning:")
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

period = None
steps = {s: timeslice.period_labels(analysis, s) for s in ("month", "quarter")} \
    if analysis.has_dates else {}
if steps.get("month") and privacy != "internal":
    st.caption("Hot spots month by month are shown in internal mode only: they come from "
               "exact monthly counts, which public mode does not publish.")
elif steps.get("month"):
    t1, t2 = st.columns([1, 5])
    step = t1.radio("Time step", list(steps), horizontal=True, key="time_step",
                    help="Show the hot spots of one month or quarter instead of the whole "
                         "period (the Gi* hot spots layer).")
    choice = t2.select_slider(
        f"Hot spots in one {step}", options=["whole period", *steps[step]],
        value="whole period", key=f"time_slider_{step}",
        help="Move the slider to see when places heated up or cooled down. "
             + labels.glossary("Gi*"))
    if choice != "whole period":
        period = timeslice.period_layer(analysis, choice, step)
        if "hotspots" not in chosen:
            st.caption("Tick **Gi\\* hot spots** in the sidebar to see this period's hot "
                       "spots on the map.")
        k = int(analysis.parameters.get("k_threshold") or 5)
        shown = (f"{period.incidents:,}" if privacy == "internal" or period.incidents >= k
                 else f"<{k}")
        st.caption(f"{choice}: {shown} recorded incidents in the study area.")

map_col, info_col = st.columns([1.9, 1.1], gap="medium")
map_key = f"explore_map_{common.dataset_key(privacy)}"


def _select(clicked: dict | None) -> None:
    """Remember the cell under a click (None outside the study area)."""
    if clicked:
        cell = places.cell_at(analysis.grid, clicked.get("lat"), clicked.get("lng"))
        st.session_state["selected_cell"] = (None if cell is None else
                                             int(cell[0] * analysis.grid.n_cols + cell[1]))


# The click that caused this run is already in the map's state: select its cell
# before drawing, so the outline and the panel describe the same place.
_select((st.session_state.get(map_key) or {}).get("last_clicked"))
selected = st.session_state.get("selected_cell")
rc = places.cell_from_id(analysis.grid, selected) if selected is not None else None

with map_col:
    m = mapview.explore_map(analysis, chosen, privacy=privacy, online_tiles=online,
                            period=period)
    state = st_folium(m, key=map_key, height=580, use_container_width=True,
                      returned_objects=["last_clicked"],
                      feature_group_to_add=mapview.selected_cell_layer(analysis.grid, rc))
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
_select(clicked)
if st.session_state.get("selected_cell") != selected:  # a click the state did not hold yet
    # The panel follows the click; the outline follows on the next run. No st.rerun()
    # here: a rerun asked for by the page body wins over a page change clicked meanwhile.
    selected = st.session_state.get("selected_cell")
    rc = places.cell_from_id(analysis.grid, selected) if selected is not None else None

with info_col:
    st.subheader("This place")
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
        a.metric("Incidents here", report.incidents,
                 help="Recorded incidents inside this cell (outlined in blue on the map). "
                      "In public mode, 1-4 show as <5.")
        b.metric("Hot-spot status", report.hot_spot.split(" (")[0].capitalize(),
                 help=report.hot_spot.capitalize() + ". " + labels.glossary("Gi*"))
        if report.hot_spot.startswith("hot spot") and report.incidents in ("0", "<5"):
            st.caption("Why a hot spot with few or no incidents of its own? The hot-spot test "
                       "(Gi*) counts this cell **and its neighbours**: the places around it "
                       "have many.")
        if report.why:
            st.markdown("**Why it ranks:** " + common.md_escape(report.why, 600))
        else:
            st.caption("A plain-language reason appears here once the risk terrain stage runs.")
        # An HTML table: values with their units and meanings wrap, nothing is cut.
        st.table(pd.DataFrame({"Measure": [v["label"] for v in report.values],
                               "Value": [v["value"] for v in report.values],
                               "What it means": [v.get("meaning", "") for v in report.values]}
                              ).set_index("Measure"))
        st.caption("Flag this place on the **Transparency** page if it looks wrong.")

st.subheader("What the layers show")
shown = [spec for spec in available if spec.key in chosen]
if not shown:
    st.info("No layer is switched on: tick layers in the sidebar.")
for spec in shown:
    st.markdown(f"**{common.md_escape(spec.title)}.** {spec.note}")

rtm = analysis.rtm
if rtm is not None:
    from hotspot_env.models.rtm import DISPLAY_NAMES as rtm_names

    st.subheader("Which features of a place go with more (or fewer) incidents",
                 help=labels.glossary("risk terrain"))
    numbers = getattr(rtm, "headline_numbers", None) or {}
    st.markdown(common.md_escape(labels.risk_headline(numbers), 400) if numbers else
                common.md_escape(getattr(rtm, "headline", ""), 400))
    table = getattr(rtm, "table", None)
    if isinstance(table, pd.DataFrame) and not table.empty:
        st.markdown("Each row is a feature of the environment. Its **relative risk value "
                    "(RRV)** says how many times as many incidents a place with this feature "
                    "has as an otherwise equal place without it (1 = no difference; below 1, "
                    "the feature is *protective*), with its 95 % interval. These are "
                    "associations, not causes.")
        table = table.copy()
        table.insert(0, "feature", [str(rtm_names.get(f, str(f).replace("_", " "))).capitalize()
                                    for f in table["factor"]])
        table.insert(1, "reads as", [places.factor_reading(str(f), float(r))
                                     for f, r in zip(table["factor"], table["rrv"], strict=True)])
        table = table.drop(columns="factor")
        config = {c: st.column_config.NumberColumn(
            labels.field_label(c), format="%.1e" if c == "p_value" else "%.2f",
            help=labels.glossary("RRV") if c == "rrv" else None)
            for c in table.select_dtypes("number").columns}
        config.update({c: st.column_config.TextColumn(labels.field_label(c))
                       for c in table.columns if c not in config})
        config["reads as"] = st.column_config.TextColumn("What it means", width="large")
        st.dataframe(table, hide_index=True, width="stretch", column_config=config)

rtm_reason = emptiness.rtm_empty_reason(analysis)
if rtm_reason:
    if rtm is None:
        st.subheader("Risk terrain model")
    st.info(rtm_reason)

st.subheader("Over time")
trends = analysis.trends
if trends:
    import altair as alt  # here, below the map: its import (about 0.5 s) does not delay the map

    cube = trends.get("cube", {})
    steps, totals = cube.get("labels") or [], cube.get("incidents_per_step") or []
    if steps and len(steps) == len(totals):
        frame = pd.DataFrame({"step": [str(s) for s in steps], "incidents": totals})
        st.markdown(f"**Recorded incidents per {common.md_escape(cube.get('step', 'step'))}**")
        st.altair_chart(alt.Chart(frame).mark_line(point=True).encode(
            x=alt.X("step:O", title=None, sort=None),
            y=alt.Y("incidents:Q", title="recorded incidents"),
            tooltip=["step", "incidents"]).properties(height=200),
            width="stretch")
    prof = trends.get("profiles")
    if prof is not None:
        from hotspot_env.temporal import profiles as profile_charts

        ids = sorted(pd.unique(prof.hour_dow["district"])) if not prof.hour_dow.empty else []
        pick = st.selectbox("District", ["all"] + [str(i) for i in ids], key="trend_district")
        hour = prof.hour_dow if pick == "all" else prof.hour_dow[
            prof.hour_dow["district"].astype(str) == pick]
        month = prof.monthly if pick == "all" else prof.monthly[
            prof.monthly["district"].astype(str) == pick]
        c1, c2 = st.columns(2)
        c1.altair_chart(profile_charts.hour_dow_heatmap(hour).properties(height=240),
                        width="stretch")
        c2.altair_chart(profile_charts.monthly_chart(month), width="stretch")
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
    for choice in analysis.choices:
        st.markdown("- " + common.md_escape(labels.choice_sentence(choice), 400))
    st.markdown("- " + common.cache_note())
    params = {k: v for k, v in analysis.parameters.items() if k != "grid"}
    st.table(pd.DataFrame([{"Setting": labels.parameter_label(k), "Value": str(v)}
                           for k, v in params.items()]).set_index("Setting"))
    counts = analysis.counts
    st.markdown(f"Incidents read: {counts.get('incidents_read', 0):,} · used: "
                f"{counts.get('incidents_used', 0):,} · left out: "
                f"{counts.get('incidents_dropped', 0):,} (see the manifest on **Transparency**).")
