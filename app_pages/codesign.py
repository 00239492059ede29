"""Co-design (projected on a wall): big controls, residents' proposals, two scenarios."""

from __future__ import annotations

import streamlit as st

from app_pages import common

# The page shell first: a cold first visit shows the title and the progress bar
# while the analysis stack (scipy, geopandas, folium) is still being imported.
common.big_css()
common.page_shell("Co-design")
if common.dataset()["kind"] == "national":  # one region of a national run, in public mode
    from app_pages import national_pages

    national_pages.codesign()
    st.stop()

import altair as alt
import pandas as pd
from streamlit_folium import st_folium

from hotspot_env.app import emptiness, mapview, places, scenarios
from hotspot_env.errors import HotspotEnvError
from hotspot_env.outputs import labels

analysis = common.load_analysis("public")  # public mode, always: small counts hidden
common.banner(analysis)
st.markdown("**Public mode is always on here:** places with 1 to 4 recorded incidents show "
            "as **<5**, and no single incident is ever shown.")

view = scenarios.EngineView.of(analysis)
types = scenarios.intervention_types(view.engine if view else None)
proposals: list[scenarios.Proposal] = st.session_state.setdefault("proposals", [])


def _add_proposal(lat: float, lon: float, cell_id: int) -> None:
    """Add the submitted proposal (a form callback); a refusal is shown on the page."""
    try:
        proposals.append(scenarios.make_proposal(
            proposals, type=st.session_state["cd_type"], note=st.session_state["cd_note"],
            lat=lat, lon=lon, cell_id=cell_id, allowed_types=types))
    except HotspotEnvError as exc:
        st.session_state["cd_error"] = str(exc)
        return
    common.audit("proposal", proposals[-1].proposal_id, analysis=analysis)

st.subheader("What matters most to us?")
weights_default = view.default_weights() if view else dict(scenarios.DEFAULT_WEIGHTS)
cols = st.columns(len(weights_default) + 1)
weights = {}
for col, (name, default) in zip(cols, weights_default.items(), strict=False):
    weights[name] = col.slider(scenarios.WEIGHT_LABELS.get(name, name), 0.0, 3.0,
                               float(default), 0.5, key=f"cd_w_{name}")
budget = common.money_input(cols[-1], "Budget (USD per year)",
                            float(view.default_budget() if view else 100_000.0), key="cd_budget")

#: Map height (px): with its heading it fits a 1280 x 720 projector screen.
MAP_HEIGHT = 520

portfolio = None
if view is not None:
    try:
        portfolio = view.rank(budget, weights, proposals)
    except HotspotEnvError as exc:
        st.error(common.md_escape(str(exc), 600))
    for note in view.weight_notes(weights).values():
        st.info(common.md_escape(note, 600))
if portfolio is not None:
    for warning in portfolio.warnings:
        st.warning(common.md_escape(warning, 600), icon=":material/warning:")

map_col, side_col = st.columns([1.7, 1], gap="large")
with map_col:
    st.subheader("Click the map to propose something")
    m = mapview.sites_map(
        analysis, portfolio.sites() if portfolio is not None else None,
        tooltip_fields=("rank", "type", "street"),
        proposals=scenarios.proposals_frame(proposals) if proposals else None,
        layer_keys=("density", "hotspots"), privacy="public", height=MAP_HEIGHT,
        large_print=True)
    state = st_folium(m, key=f"cd_map_{common.dataset_key('public')}", height=MAP_HEIGHT,
                      use_container_width=True, returned_objects=["last_clicked"])

clicked = (state or {}).get("last_clicked")
with side_col:
    st.subheader("Add a proposal")
    if not clicked:
        st.info("Click a place on the map first.")
    else:
        cell = places.cell_at(analysis.grid, clicked.get("lat"), clicked.get("lng"))
        if cell is None:
            st.warning("That place is outside the study area.")
        else:
            report = places.describe_cell(analysis, *cell, privacy="public")
            where = common.md_escape(report.street) if report.street else f"cell {report.cell_id}"
            st.markdown(f"Here: **{where}** · recorded incidents: **{report.incidents}**")
            with st.form("proposal_form", clear_on_submit=True):
                st.selectbox("What", types, format_func=labels.type_label, key="cd_type")
                st.text_input("Why here? (a short note)", max_chars=500, key="cd_note")
                # A callback, not st.rerun(): it runs before this page is drawn, so the
                # ranking above already counts the proposal, and a rerun requested from
                # the page body cannot override a page change clicked meanwhile.
                st.form_submit_button("Add proposal", type="primary", on_click=_add_proposal,
                                      args=(clicked["lat"], clicked["lng"], report.cell_id))
            if error := st.session_state.pop("cd_error", None):
                st.error(common.md_escape(error, 600))
    st.subheader(f"Proposals ({len(proposals)})")
    if proposals:
        frame = pd.DataFrame(scenarios.proposals_frame(proposals).drop(columns="geometry"))
        frame["type"] = frame["type"].map(labels.type_label)
        st.table(frame[["proposal_id", "type", "note"]].rename(
            columns={"proposal_id": "Proposal", "type": "What", "note": "Why here"}))
        st.button("Remove the last proposal", key="cd_undo", on_click=proposals.pop)
    else:
        st.caption("None yet.")

st.subheader("Places to talk about")
audit = emptiness.audit_table(analysis, privacy="public")
if audit is not None:
    st.caption(emptiness.interventions_empty_reason(analysis) or "")
    st.caption(emptiness.audit_caption(audit))
    talk = audit
else:
    talk = places.top_places(analysis, 10, privacy="public")
# A plain HTML table (not a data grid): our large type applies and the "why"
# text wraps instead of being cut at the column edge.
talk = talk.copy()
for column in talk.select_dtypes("float").columns:  # an HTML table prints every digit
    talk[column] = talk[column].map(labels.plain_number)
st.table(talk.rename(columns={c: labels.field_label(c) for c in talk.columns}).set_index(
    labels.field_label(talk.columns[0])))

st.subheader("Two scenarios side by side")
if portfolio is None:
    st.info("Scenarios need the interventions stage, which has not run for this analysis yet. "
            "Proposals can still be added and exported below.")
else:
    st.markdown("Set the sliders and the budget, keep them as **A**; change them, keep them as "
                "**B**; then compare.")
    c1, c2 = st.columns(2)
    current = {"budget": budget, "weights": dict(weights)}
    if c1.button("Keep the current settings as scenario A", key="cd_keep_a"):
        st.session_state["scenario_A"] = current
    if c2.button("Keep the current settings as scenario B", key="cd_keep_b"):
        st.session_state["scenario_B"] = current
    saved = {name: st.session_state.get(f"scenario_{name}") for name in ("A", "B")}
    saved = {name: s or current for name, s in saved.items()}
    try:
        results = {f"Scenario {name}": view.rank(s["budget"], s["weights"], proposals)
                   for name, s in saved.items()}
    except HotspotEnvError as exc:
        st.error(common.md_escape(str(exc), 600))
        results = {}
    if results:
        summary, money = scenarios.compare(results)
        cols = st.columns(len(results))
        for col, (_, row) in zip(cols, summary.iterrows(), strict=True):
            col.markdown(f"### {row['scenario']}")
            prevented = row["prevented"]
            col.metric("Prevented incidents per year (joint effect)",
                       "–" if pd.isna(prevented) else f"{prevented:,.1f}",
                       help="Overlapping sites combined, never counted twice: the same number "
                            "as on the Interventions page and the work orders.")
            if pd.notna(row["prevented_low"]) and pd.notna(row["prevented_high"]):
                col.caption(f"80 % interval {row['prevented_low']:,.1f} to "
                            f"{row['prevented_high']:,.1f}")
            col.metric("Cost (USD per year)", f"{row['cost']:,.0f}")
            col.metric("Sites", f"{int(row['sites'])}  ·  proposals funded: "
                       f"{int(row['proposals_funded'])}")
        if not money.empty and "cost" in money.columns:
            money = money.assign(type_label=money["type"].map(labels.type_label))
            st.altair_chart(alt.Chart(money).mark_bar().encode(
                x=alt.X("cost:Q", title="cost (USD per year)"),
                y=alt.Y("type_label:N", title=None),
                color=alt.Color("scenario:N"), yOffset="scenario:N",
                tooltip=list(money.columns)).properties(
                    title="Where the money goes", height=alt.Step(36)
                ).configure_axis(labelFontSize=18, titleFontSize=18, labelLimit=400
                                 ).configure_legend(labelFontSize=18, titleFontSize=18
                                                    ).configure_title(fontSize=22),
                width="stretch")
        common.download(st, "Download both scenarios (CSV)", scenarios.scenario_csv(results),
                        "scenarios.csv", "text/csv", "cd_dl_scen", privacy="public",
                        analysis=analysis)

st.subheader("Take the proposals away")
e1, e2 = st.columns(2)
common.download(e1, "Proposals (CSV)", scenarios.proposals_csv(proposals), "proposals.csv",
                "text/csv", "cd_dl_csv", privacy="public", analysis=analysis,
                disabled=not proposals)
common.download(e2, "Proposals (GeoJSON)", scenarios.proposals_geojson(proposals),
                "proposals.geojson", "application/geo+json", "cd_dl_geojson", privacy="public",
                analysis=analysis, disabled=not proposals)
