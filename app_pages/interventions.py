"""Interventions (crews and planners): budget, priorities, the ranked list, its map, downloads."""

from __future__ import annotations

import streamlit as st

from app_pages import common

# The page shell first: a cold first visit shows the title and the progress bar
# while the analysis stack (scipy, geopandas, folium) is still being imported.
common.page_shell("Interventions")
if common.dataset()["kind"] == "national":  # one region of a national run
    from app_pages import national_pages

    common.require("interventions", "The interventions list and work orders are for crews and "
                   "staff: sign in (sidebar) to see them.")
    national_pages.interventions(common.privacy_mode())
    st.stop()

import altair as alt
import pandas as pd
from streamlit_folium import st_folium

from hotspot_env.app import emptiness, mapview, places, scenarios
from hotspot_env.errors import HotspotEnvError
from hotspot_env.outputs import labels, printing

privacy = common.privacy_mode()
analysis = common.load_analysis(privacy)
common.require("interventions", "The interventions list and work orders are for crews and staff: "
               "sign in (sidebar) to see them.")
common.banner(analysis)
st.caption("Environmental interventions ranked by expected prevented incidents per unit cost, "
           "within a budget. Effects come from published studies (data/evidence.csv) and costs "
           "from data/costs.csv; set local costs before real use.")

view = scenarios.EngineView.of(analysis)
if view is None:
    st.info(
        "The interventions stage has not run for this analysis yet, so there is no ranked list. "
        "When it runs, this page shows the budget and priority controls, the ranked list and its "
        "map, impact intervals, and downloads (CSV, GeoPackage, GeoJSON, printable work orders).")
    st.stop()

empty_reason = emptiness.interventions_empty_reason(analysis)
if empty_reason:
    st.info(empty_reason)
    audit = emptiness.audit_table(analysis)
    if audit is not None:
        st.subheader("Audit these places first")
        st.caption(emptiness.audit_caption(audit))
        st.dataframe(audit, hide_index=True, width="stretch", key="iv_audit")

weights_default = view.default_weights()
budget_default = view.default_budget()


def _controls() -> tuple[float, dict[str, float]]:
    """The budget box and one slider per simple priority weight."""
    c1, c2 = st.columns([1, 2])
    with c1:
        budget = common.money_input(
            st, "Budget (USD per year)", float(budget_default), key="iv_budget",
            help="Money available per year, e.g. 105,000: costs are annualised (capital / "
                 "lifetime + maintenance).")
    with c2:
        cols = st.columns(len(weights_default))
        weights = {}
        for col, (name, default) in zip(cols, weights_default.items(), strict=True):
            weights[name] = col.slider(scenarios.WEIGHT_LABELS.get(name, name), 0.0, 3.0,
                                       float(default), 0.25, key=f"iv_w_{name}")
    return budget, weights


def _headline(portfolio: scenarios.Portfolio, weights: dict[str, float]) -> None:
    """Sites, cost and the joint effect, then every caveat the engine gives."""
    prevented = portfolio.total("prevented")
    m1, m2, m3 = st.columns(3)
    m1.metric("Sites within budget", f"{len(portfolio.chosen):,}")
    m2.metric("Cost (USD per year)", f"{portfolio.total_cost:,.0f}")
    m3.metric("Prevented incidents per year (joint effect)",
              "–" if prevented is None else f"{prevented:,.1f}",
              help="Overlapping sites combined, never counted twice: the same number as the "
                   "CLI and the work-order sheet.")
    if portfolio.headline:
        st.markdown(f"**{common.md_escape(portfolio.headline)}**")
    extra = portfolio.sum_over_sites
    st.caption(("" if extra is None else f"Sum over sites, overlapping sites counted twice (not "
                f"the estimate): {extra:,.1f}. ") + "Effects come from studies elsewhere and "
               "may not transfer.")
    gap = portfolio.optimum_gap
    if gap is not None:
        st.caption(f"The exact optimum for this budget is known: the fast re-rank reaches "
                   f"{1 - gap:.1%} of it; the selection shown is the optimum.")
    for warning in portfolio.warnings:
        st.warning(common.md_escape(warning, 600), icon=":material/warning:")
    for note in view.weight_notes(weights).values():
        st.info(common.md_escape(note, 600))
    unknown = view.engine.effect_unknown_types() if hasattr(view.engine,
                                                            "effect_unknown_types") else []
    if unknown:
        st.caption("Effect unknown, offered as community-led options and never ranked by "
                   "prevented incidents: " + ", ".join(scenarios.type_label(t) for t in unknown)
                   + ".")


def _ranked_table(portfolio: scenarios.Portfolio) -> None:
    """The ranked list with people's labels (the CSV keeps the ids)."""
    st.subheader("Ranked list")
    shown = [c for c in ("rank", "selected", "type", "street", "cost", "cost_basis", "prevented",
                         "prevented_low", "prevented_high", "prevented_per_1000", "source",
                         "district", "reason", "evidence", "site_id") if c in portfolio.table]
    table = portfolio.table[shown].copy()
    if "type" in table:  # people read labels; the CSV keeps the ids for machines
        table["type"] = table["type"].map(labels.type_label)
    if "reason" in table:  # the first RRV in plain words, as on Explore
        table["reason"] = table["reason"].map(lambda v: places.plain_why(v)
                                              if isinstance(v, str) else v)
    config = {c: st.column_config.Column(labels.field_label(c)) for c in shown}
    config.update({
        "cost": st.column_config.NumberColumn(labels.field_label("cost"), format="localized"),
        "prevented": st.column_config.NumberColumn(labels.field_label("prevented"),
                                                   format="%.2f"),
        "prevented_low": st.column_config.NumberColumn("Low (80 %)", format="%.2f"),
        "prevented_high": st.column_config.NumberColumn("High (80 %)", format="%.2f"),
        "prevented_per_1000": st.column_config.NumberColumn(
            labels.field_label("prevented_per_1000"), format="%.3f"),
        "reason": st.column_config.TextColumn(labels.field_label("reason"), width="large")})
    st.dataframe(table, hide_index=True, width="stretch", height=320, key="iv_table",
                 column_config={c: v for c, v in config.items() if c in shown})
    st.caption("Sort by any column by clicking its header. The CSV has every column, with "
               "type ids for machines.")


def _impact_chart(chosen: pd.DataFrame) -> None:
    """Each chosen site's prevented incidents with its interval, every site named."""
    if not ({"prevented", "prevented_low", "prevented_high"} <= set(chosen.columns)
            and len(chosen)):
        st.caption("Impact intervals appear when the engine gives low and high estimates.")
        return
    top = chosen.head(25).copy()
    top["site"] = top["rank"].astype(str) + " · " + top.get(
        "type", pd.Series("", index=top.index)).map(labels.type_label)
    # every site named: no label dropped for overlap, one row per site
    base = alt.Chart(top).encode(y=alt.Y("site:N", sort=None, title=None,
                                         axis=alt.Axis(labelLimit=300, labelOverlap=False)))
    chart = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("prevented_low:Q", title="prevented incidents (interval)"),
        x2="prevented_high:Q") + base.mark_point(filled=True, size=60).encode(
        x="prevented:Q", tooltip=["site", "prevented", "prevented_low", "prevented_high",
                                  "cost"])
    st.altair_chart(chart.properties(title="Impact intervals (chosen sites)",
                                     height=alt.Step(22)), width="stretch")


def _money_chart(portfolio: scenarios.Portfolio) -> None:
    """Cost per intervention type of the chosen sites."""
    by_type = portfolio.by_type()
    if "type" in by_type.columns:
        by_type = by_type.assign(type=by_type["type"].map(labels.type_label))
    if not by_type.empty and "cost" in by_type.columns:
        st.altair_chart(alt.Chart(by_type).mark_bar().encode(
            x=alt.X("cost:Q", title="cost (USD per year)"),
            y=alt.Y("type:N", title=None, axis=alt.Axis(labelLimit=260)),
            tooltip=list(by_type.columns)).properties(
                title="Where the money goes", height=alt.Step(30)),
            width="stretch")


def _map_and_charts(portfolio: scenarios.Portfolio) -> None:
    left, right = st.columns([1.3, 1])
    with left:
        fields = [c for c in ("rank", "type", "street", "cost", "prevented") if c in
                  portfolio.table.columns]
        m = mapview.sites_map(analysis, portfolio.sites(), tooltip_fields=fields)
        st_folium(m, key=f"iv_map_{common.dataset_key(privacy)}", height=460,
                  use_container_width=True, returned_objects=[])
    with right:
        _impact_chart(portfolio.chosen)
        _money_chart(portfolio)


def _downloads(portfolio: scenarios.Portfolio, budget: float, weights: dict[str, float]) -> None:
    """CSV, GeoJSON, GeoPackage; the work orders (HTML, then PDF) on request."""
    st.subheader("Downloads")
    files = scenarios.export_files(portfolio,
                                   simulated=bool(analysis.parameters.get("simulated")))
    d1, d2, d3, d4 = st.columns(4)
    common.download(d1, "Ranked list (CSV)", files["csv"], "interventions.csv", "text/csv",
                    "dl_csv", privacy, analysis)
    common.download(d2, "Sites (GeoJSON)", files["geojson"], "interventions.geojson",
                    "application/geo+json", "dl_geojson", privacy, analysis)
    if "gpkg" in files:
        common.download(d3, "Sites (GeoPackage)", files["gpkg"], "interventions.gpkg",
                        "application/geopackage+sqlite3", "dl_gpkg", privacy, analysis)
    else:
        d3.caption("No site with a location: no GeoPackage.")
    _work_orders(d4, portfolio, ("work_orders", round(budget, 2), tuple(sorted(weights.items()))))


def _work_orders(d4: st.delta_generator.DeltaGenerator, portfolio: scenarios.Portfolio,
                 key: tuple) -> None:
    """The printable sheet, made on request and kept for these budget and weights."""
    sheet = st.session_state.get("work_orders")
    if sheet is not None and sheet[0] == key:
        common.download(d4, "Work orders (printable HTML)", sheet[1], "work_orders.html",
                        "text/html", "dl_wo", privacy, analysis)
        paper = d4.radio("Paper", list(printing.PAPER), horizontal=True, key="iv_paper",
                         help="One district per page, its map above its table; landscape.")
        printed = st.session_state.get("work_orders_pdf")
        if printed is not None and printed[0] == (key, paper):
            common.download(d4, f"Work orders (PDF, {paper})", printed[1],
                            f"work_orders_{paper.lower()}.pdf", "application/pdf", "dl_wo_pdf",
                            privacy, analysis)
        elif d4.button(f"Prepare the PDF ({paper})", key="iv_prepare_pdf",
                       help="Lays the sheet out for printing; up to a minute for many sites."):
            with st.spinner("Laying out the work orders for printing…"):
                st.session_state["work_orders_pdf"] = ((key, paper),
                                                       printing.pdf(sheet[1], paper))
            st.rerun(scope="fragment")
    elif d4.button("Prepare printable work orders", key="iv_prepare_wo",
                   help="A printable sheet per district with a map; takes a little while."):
        with st.spinner("Drawing the work-order sheet…"):
            html = scenarios.work_orders_html(
                portfolio, simulated=bool(analysis.parameters.get("simulated")))
        st.session_state["work_orders"] = (key, html)
        st.rerun(scope="fragment")


@st.fragment
def ranked_list() -> None:
    """Controls and results re-run on their own: a slider does not rerun the page."""
    budget, weights = _controls()
    try:
        portfolio = view.rank(budget, weights)
    except HotspotEnvError as exc:
        st.error(common.md_escape(str(exc), 600))
        return
    _headline(portfolio, weights)
    _ranked_table(portfolio)
    _map_and_charts(portfolio)
    _downloads(portfolio, budget, weights)


ranked_list()
