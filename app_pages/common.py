"""Shared Streamlit helpers for the app's pages (the only Streamlit-specific glue).

All analysis lives in :mod:`hotspot_env`; this module loads the cached
analysis for the current browser session, shows the "simulated incidents"
banner and escapes user text for Markdown.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from hotspot_env.errors import HotspotEnvError
from hotspot_env.manifest import build_manifest, manifest_json

if TYPE_CHECKING:
    from hotspot_env.analysis import Analysis

APP_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = APP_DIR / "static"

#: One analysis at a time per process: two first visitors must not run the
#: same heavy analysis twice in parallel on a 2-core machine.
_RUN_LOCK = threading.Lock()

PRIVACY_LABELS = {"internal": "Internal (exact counts)", "public": "Public (counts below 5 hidden)"}


@st.cache_resource(show_spinner=False)
def vendor_leaflet() -> str:
    """Copy Leaflet next to the app once per process (served at /app/static/vendor)."""
    from hotspot_env.maps import vendor_assets

    return str(vendor_assets(STATIC_DIR))


def session_id() -> str | None:
    """This browser session's id (owner of its upload folder)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def _session_is_active(sid: str) -> bool:
    from streamlit.runtime import Runtime

    return Runtime.exists() and Runtime.instance().is_active_session(sid)


@st.cache_resource(show_spinner=False)
def upload_sweeper() -> Any:
    """Start, once per process, the thread removing ended sessions' upload folders."""
    from hotspot_env.session import start_sweeper

    return start_sweeper(_session_is_active)


@st.cache_resource(show_spinner="Analysing the demo (simulated incidents)…", max_entries=2)
def demo_analysis(privacy: str) -> Any:
    """The embedded demo in a privacy mode; shared by every session (same for all)."""
    from hotspot_env.demo import run_demo

    with _RUN_LOCK:
        return run_demo(privacy=privacy)


@st.cache_resource(show_spinner="Analysing your data…", max_entries=6, ttl=6 * 3600)
def upload_analysis(key: str, privacy: str, _paths: dict[str, str], _options: dict) -> Any:
    """An analysis of uploaded files, cached by the uploads' hash (never by path or name)."""
    from hotspot_env.pipeline import run

    with _RUN_LOCK:
        return run(_paths["incidents"], osm=_paths.get("osm"), layers=_paths.get("layers"),
                   privacy=privacy, **_options)


def dataset() -> dict[str, Any]:
    """The session's chosen data: ``{"kind": "demo"}`` or an upload description."""
    return st.session_state.get("dataset") or {"kind": "demo"}


def privacy_mode() -> str:
    """The session's privacy mode for Explore, Interventions and Transparency."""
    return st.session_state.get("privacy", "internal")


def load_analysis(privacy: str | None = None) -> Any:
    """The session's analysis in ``privacy`` mode; shows an error and stops on failure."""
    privacy = privacy or privacy_mode()
    data = dataset()
    try:
        if data["kind"] == "upload":
            return upload_analysis(data["key"], privacy, data["paths"], data["options"])
        return demo_analysis(privacy)
    except HotspotEnvError as exc:
        st.error(md_escape(str(exc), 600))
        st.stop()


def dataset_label(analysis: Analysis) -> str:
    """A short description of the data shown (user names escaped for Markdown)."""
    data = dataset()
    if data["kind"] == "upload":
        return "your upload: " + md_escape(data.get("names", {}).get("incidents", "incidents"))
    return "the demo: central Helsinki (OpenStreetMap) with simulated incidents"


def banner(analysis: Analysis) -> None:
    """The "simulated incidents" banner of a demo; incidents outside the inputs' coverage."""
    from hotspot_env.emptiness import coverage_notice

    notice = coverage_notice(analysis)
    if notice:
        st.warning(notice, icon=":material/crop_free:")
    if analysis is not None and analysis.parameters.get("simulated"):
        st.warning(
            "**Simulated incidents.** This is the demo: real OpenStreetMap data of central "
            "Helsinki with *simulated* incidents. No record describes a real event.",
            icon=":material/warning:")


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_escape(text: Any, limit: int = 200) -> str:
    """User text made inert for Streamlit Markdown (no links, images, HTML or formatting)."""
    value = "".join(ch if ch.isprintable() else " " for ch in str(text))[:limit]
    return _MD_SPECIAL.sub(r"\\\1", value)


def manifest_text(analysis: Analysis) -> str:
    """The run manifest (JSON) of the analysis shown."""
    return manifest_json(build_manifest(analysis))


def run_id(analysis: Analysis) -> str:
    """A short id of the analysis (hash of its manifest)."""
    return hashlib.sha256(manifest_text(analysis).encode()).hexdigest()[:12]


def dataset_key(privacy: str) -> str:
    """Identifies the session's data and mode (for widget and map keys)."""
    data = dataset()
    return f"{data.get('key', 'demo')[:12]}-{privacy}"


def big_css() -> None:
    """Large type and high contrast for a projected co-design session (our CSS only)."""
    st.markdown(
        """
        <style>
        section.main .block-container, [data-testid="stMainBlockContainer"] {
            max-width: 1500px; }
        [data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] label,
        [data-testid="stMain"] [data-testid="stMarkdownContainer"] p {
            font-size: 1.3rem !important; color: #000 !important; }
        [data-testid="stMain"] h1 { font-size: 3rem !important; color: #000 !important; }
        [data-testid="stMain"] h2, [data-testid="stMain"] h3 {
            font-size: 2rem !important; color: #000 !important; }
        [data-testid="stMain"] [data-testid="stMetricValue"],
        [data-testid="stMain"] [data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p,
        [data-testid="stMain"] [data-testid="stMetricValue"] div {
            font-size: 2.4rem !important; font-weight: 700; line-height: 1.2; }
        [data-testid="stMain"] [data-testid="stMetricLabel"] p { font-size: 1.2rem !important; }
        [data-testid="stMain"] button p { font-size: 1.25rem !important; font-weight: 600; }
        [data-testid="stMain"] button { min-height: 3rem; border: 2px solid #000 !important; }
        [data-testid="stMain"] input, [data-testid="stMain"] textarea,
        [data-testid="stMain"] [data-baseweb="select"] div { font-size: 1.3rem !important; }
        [data-testid="stMain"] [data-testid="stSliderThumbValue"] { font-size: 1.2rem; }
        [data-testid="stMain"] [data-baseweb="slider"] [role="slider"] {
            width: 1.6rem; height: 1.6rem; }
        [data-testid="stMain"] [data-testid="stTickBarMin"],
        [data-testid="stMain"] [data-testid="stTickBarMax"] { font-size: 1.1rem; }
        </style>
        """,
        unsafe_allow_html=True,
    )
