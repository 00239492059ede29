"""The pages' views of one region of a national run (Streamlit glue only).

Loading, privacy and every table or map come from :mod:`hotspot_env.app.national`
and :mod:`hotspot_env.app.region_view`; this module only lays them out.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages import common
from hotspot_env.app import national, places
from hotspot_env.app import region_view as rv
from hotspot_env.errors import HotspotEnvError
from hotspot_env.outputs import labels


def _not_saved(what: str) -> None:
    st.info(f"{what}: {national.NOT_SAVED}. Run the region as a single city "
            "(`hotspot-env analyze`) to see it.")


def header(run: Any, view: Any, privacy: str) -> None:
    """Which run and region is shown, its mode, and the simulated-data banner."""
    if run.simulated:
        st.warning("**Simulated incidents.** This national run is a synthetic country: no "
                   "record describes a real event.", icon=":material/warning:")
    mode = "public mode (protected counts)" if run.privacy_mode == "public" else \
        "internal mode (exact counts)"
    st.caption(f"Showing region **{common.md_escape(view.region)}** of the national run in "
               f"{common.md_escape(run.folder, 200)} · written in {mode} · "
               f"{view.record.get('n_cells', 0):,} cells · change the region on the **Data** "
               "page.")


def explore(privacy: str) -> None:
    """Explore for one region: its saved layers on a map, a clicked place, its choices."""
    from streamlit_folium import st_folium

    run, view = common.load_region(privacy)
    header(run, view, privacy)
    available = rv.available_layers(view)
    with st.sidebar:
        st.subheader("Map layers")
        chosen = [layer.key for layer in available
                  if st.checkbox(layer.title, value=layer.default, key=f"nl_layer_{layer.key}",
                                 help=layer.note)]
    key = f"nl_map_{view.region}_{privacy}"
    map_col, info_col = st.columns([1.9, 1.1], gap="medium")
    with map_col:
        state = st_folium(rv.region_map(view, chosen), key=key, height=580,
                          use_container_width=True, returned_objects=["last_clicked"])
        st.caption("No basemap: a national run saves no OpenStreetMap layers. Click a place "
                   "to see its saved values.")
    clicked = (state or {}).get("last_clicked")
    with info_col:
        st.subheader("This place")
        cell = places.cell_at(view.grid, clicked.get("lat"), clicked.get("lng")) \
            if clicked else None
        if cell is None:
            st.info("Click a place of the region on the map to see its saved values.")
        else:
            head, table = rv.place_table(view, *cell)
            st.markdown(f"**Cell {head['cell_id']}** · incidents here: "
                        f"**{common.md_escape(head['incidents'])}** · "
                        f"{common.md_escape(head['hot_spot'])}")
            if head["why"]:
                st.markdown("**Why it ranks:** " + common.md_escape(head["why"], 600))
            st.table(table.set_index("Measure"))
    st.subheader("What the layers show")
    for layer in available:
        if layer.key in chosen:
            st.markdown(f"**{common.md_escape(layer.title)}.** {layer.note}")
    _not_saved("Trends over time, hour and month profiles")
    choices(run, view)


def choices(run: Any, view: Any) -> None:
    """The region's automatic choices and what is per region."""
    with st.expander("How this region was analysed: every automatic choice", expanded=False):
        if run.statistics_note():
            st.markdown("**Per region or national:** "
                        + common.md_escape(run.statistics_note(), 600))
        for sentence in view.choices:
            st.markdown("- " + common.md_escape(sentence, 400))
        st.markdown("- " + common.md_escape(common.run_roots().choice().message(), 400))


def interventions(privacy: str) -> None:
    """Interventions for one region: the saved ranking, its sites and work orders."""
    from streamlit_folium import st_folium

    run, view = common.load_region(privacy)
    header(run, view, privacy)
    table = rv.interventions_table(view)
    if table is None:
        _not_saved("The interventions of this region (the stage did not run)")
        return
    message = rv.ranking_message(view)
    if message:
        st.info(common.md_escape(message, 400))
    _not_saved("Re-ranking with another budget or other priorities (the interventions state)")
    st.subheader("Ranked list")
    config = {c: st.column_config.Column(labels.field_label(c)) for c in table.columns}
    if "reason" in table:
        config["reason"] = st.column_config.TextColumn(labels.field_label("reason"),
                                                       width="large")
    st.dataframe(table, hide_index=True, width="stretch", height=320, key="nl_iv_table",
                 column_config=config)
    st.subheader("Where")
    st_folium(rv.region_map(view, ["density"], sites=rv.sites(view, 25), height=480),
              key=f"nl_iv_map_{view.region}_{privacy}", height=480, use_container_width=True,
              returned_objects=[])
    st.caption("The sites selected within the run's budget; with none selected, the 25 "
               "best-ranked.")
    st.subheader("Work orders of this region")
    files = rv.work_order_files(run.folder, view)
    if not files:
        _not_saved("Work-order files")
        return
    # an internal run's files hold exact counts: staff only, as any internal export
    needs = "work_orders" if run.privacy_mode == "public" else "export_internal"
    cols = st.columns(len(files))
    for col, (label, path, mime) in zip(cols, files, strict=True):
        name = f"{path.stem}_{view.region}{path.suffix}"  # starts with a letter (audit log)
        common.download(col, label, path.read_bytes(), name, mime, f"nl_dl_{path.name}",
                        privacy=run.privacy_mode, needs=needs)


def codesign() -> None:
    """Co-design for one region: always public, so only a public run shows."""
    from streamlit_folium import st_folium

    run, view = common.load_region("public")
    header(run, view, "public")
    st.subheader("Where incidents concentrate, and the sites ranked best")
    st_folium(rv.region_map(view, ["density", "hotspots"], sites=rv.sites(view, 10),
                            height=520, large_print=True),
              key=f"nl_cd_map_{view.region}", height=520, use_container_width=True,
              returned_objects=[])
    st.subheader("Places to talk about")
    talk = rv.top_places(view, 10)
    for column in talk.select_dtypes("float").columns:
        talk[column] = talk[column].map(labels.plain_number)
    st.table(talk.rename(columns={c: labels.field_label(c) for c in talk.columns}).set_index(
        labels.field_label(talk.columns[0])))
    _not_saved("Residents' proposals and two scenarios side by side (they re-rank the "
               "interventions)")


def transparency(privacy: str) -> None:
    """Transparency for one region: its manifest record (model card: not saved)."""
    run, view = common.load_region(privacy)
    header(run, view, privacy)
    st.header("Every automatic choice")
    for sentence in view.choices:
        st.markdown("- " + common.md_escape(sentence, 400))
    if run.statistics_note():
        st.markdown("**Per region or national:** " + common.md_escape(run.statistics_note(), 600))
    _not_saved("The model card and its out-of-sample validation")
    st.header("The region's manifest record")
    st.json(view.record, expanded=False)


def data_source() -> None:
    """The Data page's "national or regional run" source: a folder, its regions, one pick."""
    if not common.can("open_runs"):
        st.info("Opening a national run on the server is for staff: sign in (sidebar).",
                icon=":material/lock:")
        return
    roots = common.run_roots()
    st.markdown("Give the folder a national or regional run was written to (`hotspot-env "
                "bench --scale national --out DIR`, or `run_national`). Only its manifest is "
                "read now; the region you pick is loaded alone. Allowed folders: "
                f"{common.md_escape(roots.describe(), 300)} ({common.md_escape(roots.rule, 300)}).")
    current = common.dataset()
    with st.form("national_form"):
        text = st.text_input("Run folder on the server", key="nl_folder",
                             value=current.get("folder", "") if current["kind"] == "national"
                             else "")
        opened = st.form_submit_button("Open the run", type="primary")
    if opened:
        try:
            run = common.open_national(text)
            st.session_state["national_folder"] = str(run.folder)
        except HotspotEnvError as exc:
            st.session_state.pop("national_folder", None)
            st.error(common.md_escape(str(exc), 600))
            return
    folder = st.session_state.get("national_folder")
    if not folder:
        return
    try:
        run = common.open_national(folder)
    except HotspotEnvError as exc:
        st.error(common.md_escape(str(exc), 600))
        return
    _region_picker(run, current)


def _region_picker(run: Any, current: dict) -> None:
    st.subheader(f"Regions ({len(run.regions)})")
    table = run.region_table()
    st.dataframe(table.rename(columns=str.capitalize), hide_index=True, width="stretch",
                 key="nl_regions")
    if run.privacy_mode == "public":
        st.caption("Written in public mode: incidents rounded to the nearest 10.")
    if run.statistics_note():
        st.caption("Per region or national: " + common.md_escape(run.statistics_note(), 600))
    shown = current.get("region") if current["kind"] == "national" else None
    index = run.regions.index(shown) if shown in run.regions else 0
    region = st.selectbox("Region to show", run.regions, index=index, key="nl_region")
    if st.button("Show this region", type="primary", key="nl_show"):
        try:
            national.check_privacy(run, common.privacy_mode())
        except HotspotEnvError as exc:
            st.error(common.md_escape(str(exc), 600))
            return
        st.session_state["dataset"] = {"kind": "national", "folder": str(run.folder),
                                       "region": region, "key": f"nl-{region}"}
        # the detail names the region (a plain name); the file hash is the manifest's
        common.audit("open_run", f"region_{region}"[:80],
                     data=(run.folder / "manifest.json").read_bytes())
        st.rerun()
    if current["kind"] == "national" and current.get("folder") == str(run.folder):
        st.success(f"Showing region {common.md_escape(current['region'])}: open **Explore**, "
                   "**Interventions** or **Co-design**.")

