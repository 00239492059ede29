"""Shared Streamlit helpers for the app's pages (the only Streamlit-specific glue).

All analysis lives in :mod:`hotspot_env`; this module loads the cached
analysis for the current browser session, shows the "simulated incidents"
banner and escapes user text for Markdown. It also holds the access glue
(:func:`access_gate`, :func:`can`, :func:`require`, :func:`download`,
:func:`audit`): roles and the audit log themselves live in
:mod:`hotspot_env.app.access` and :mod:`hotspot_env.app.audit`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from hotspot_env.app import access as access_rules
from hotspot_env.app.audit import AuditLog, default_path, sha256_bytes
from hotspot_env.errors import HotspotEnvError

if TYPE_CHECKING:
    from hotspot_env.core.analysis import Analysis

APP_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = APP_DIR / "static"

#: One analysis at a time per process: two first visitors must not run the
#: same heavy analysis twice in parallel on a 2-core machine.
_RUN_LOCK = threading.Lock()

PRIVACY_LABELS = {"internal": "Internal (exact counts)", "public": "Public (counts below 5 hidden)"}


@st.cache_resource(show_spinner=False)
def vendor_leaflet() -> str:
    """Copy Leaflet next to the app once per process (served at /app/static/vendor)."""
    from hotspot_env.app.maps import vendor_assets

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
    from hotspot_env.app.session import start_sweeper

    return start_sweeper(_session_is_active)


@st.cache_resource(show_spinner=False, max_entries=2)
def demo_analysis(privacy: str) -> tuple[Any, bool]:
    """The embedded demo in a privacy mode and whether it came from the disk cache.

    Shared by every session (same for all); a new server process loads it from
    the user's cache folder when this code already ran it once.
    """
    from hotspot_env.inputs.demo import cached_demo

    with _RUN_LOCK:
        return cached_demo(privacy=privacy)


@st.cache_resource(show_spinner=False, max_entries=6, ttl=6 * 3600)
def upload_analysis(key: str, privacy: str, _paths: dict[str, str], _options: dict) -> Any:
    """An analysis of uploaded files, cached by the uploads' hash (never by path or name)."""
    from hotspot_env.core.pipeline import run

    with _RUN_LOCK:
        return run(_paths["incidents"], osm=_paths.get("osm"), layers=_paths.get("layers"),
                   privacy=privacy, **_options)


def dataset() -> dict[str, Any]:
    """The session's chosen data: ``{"kind": "demo"}``, an upload or a national run's region."""
    return st.session_state.get("dataset") or {"kind": "demo"}


def run_roots() -> Any:
    """The folders this server opens national runs from (see :mod:`hotspot_env.app.national`)."""
    from hotspot_env.app.national import run_roots as roots

    return roots(local=current_access().mode == "local")


def open_national(folder: str) -> Any:
    """The national run in ``folder``, checked against the allowed roots (raises one line)."""
    from hotspot_env.app.national import open_run

    return open_run(folder, run_roots())


@st.cache_resource(show_spinner=False, max_entries=4, ttl=6 * 3600)
def _region_view(folder: str, region: str, privacy: str, stamp: int) -> Any:
    """One region of a national run, loaded alone (cached per manifest version)."""
    from hotspot_env.app.national import load_region

    return load_region(open_national(folder), region, privacy)


def load_region(privacy: str | None = None) -> tuple[Any, Any]:
    """The session's national run and its chosen region; shows an error and stops on failure."""
    from hotspot_env.app.national import NationalRun

    privacy = access_rules.allowed_privacy(current_access().role, privacy or privacy_mode())
    data = dataset()
    progress = getattr(_SHELL, "progress", None) or st.empty()
    _SHELL.progress = None
    progress.progress(0.3, text=f"Loading region {md_escape(data['region'])}…")
    try:
        if not can("open_runs"):
            raise HotspotEnvError("national runs are for staff: sign in (sidebar)")
        run: NationalRun = open_national(data["folder"])
        stamp = (run.folder / "manifest.json").stat().st_mtime_ns
        view = _region_view(str(run.folder), data["region"], privacy, stamp)
    except HotspotEnvError as exc:
        progress.empty()
        st.error(md_escape(str(exc), 600))
        st.stop()
    progress.empty()
    return run, view


def privacy_mode() -> str:
    """The session's privacy mode for Explore, Interventions and Transparency.

    Whatever the session state says, a role without internal mode gets public.
    """
    return access_rules.allowed_privacy(current_access().role,
                                        st.session_state.get("privacy", "internal"))


#: The progress bar of the page being drawn, per script thread (one per session run).
_SHELL = threading.local()


def page_shell(title: str) -> None:
    """A page's title and a progress bar, drawn before anything heavy is imported or run.

    A cold first visit sees the page and what it waits for at once, not a blank
    screen; :func:`load_analysis` updates the bar and removes it. Leaflet is put
    in place for the page's map (:func:`vendor_leaflet`) only after that.
    """
    st.title(title)
    _SHELL.progress = st.empty()
    _SHELL.progress.progress(0.05, text="Preparing the page…")
    vendor_leaflet()  # after the title: it imports the map code (folium, matplotlib)


def load_analysis(privacy: str | None = None) -> Any:
    """The session's analysis in ``privacy`` mode; shows an error and stops on failure."""
    privacy = access_rules.allowed_privacy(current_access().role, privacy or privacy_mode())
    data = dataset()
    progress = getattr(_SHELL, "progress", None) or st.empty()
    _SHELL.progress = None
    if data["kind"] == "upload":
        progress.progress(0.15, text="Analysing your data: the first time takes a minute or "
                                     "two; the result is kept for this server's session.")
    else:
        progress.progress(0.15, text="Loading the demo analysis (simulated incidents): from "
                                     "this computer's cache when it ran before, else about "
                                     "20 s the first time.")
    try:
        if data["kind"] == "upload":
            analysis = upload_analysis(data["key"], privacy, data["paths"], data["options"])
            st.session_state["analysis_from_disk"] = False
        else:
            analysis, from_disk = demo_analysis(privacy)
            st.session_state["analysis_from_disk"] = from_disk
    except HotspotEnvError as exc:
        progress.empty()
        st.error(md_escape(str(exc), 600))
        st.stop()
    progress.empty()
    return analysis


def cache_note() -> str:
    """Where the analysis shown came from (an automatic choice, announced)."""
    if st.session_state.get("analysis_from_disk"):
        from hotspot_env.app.analysis_cache import cache_folder

        return ("The demo analysis was loaded from this computer's cache "
                f"({md_escape(cache_folder(), 200)}), kept after its first run; it is used only "
                "when the package, its inputs and its settings are unchanged.")
    return "The analysis was run for this server process."


def dataset_label(analysis: Analysis) -> str:
    """A short description of the data shown (user names escaped for Markdown)."""
    data = dataset()
    if data["kind"] == "upload":
        return "your upload: " + md_escape(data.get("names", {}).get("incidents", "incidents"))
    return "the demo: central Helsinki (OpenStreetMap) with simulated incidents"


def banner(analysis: Analysis) -> None:
    """The "simulated incidents" banner of a demo; incidents outside the inputs' coverage."""
    from hotspot_env.app.emptiness import coverage_notice

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
    from hotspot_env.outputs.manifest import (  # geopandas: not at start
        build_manifest,
        manifest_json,
    )

    return manifest_json(build_manifest(analysis))


def run_id(analysis: Analysis) -> str:
    """A short id of the analysis (hash of its manifest)."""
    return hashlib.sha256(manifest_text(analysis).encode()).hexdigest()[:12]


def dataset_key(privacy: str) -> str:
    """Identifies the session's data and mode (for widget and map keys)."""
    data = dataset()
    return f"{data.get('key', 'demo')[:12]}-{privacy}"


def money_input(container: Any, label: str, value: float, key: str, help: str | None = None
                ) -> float:
    """A budget box that shows ``105,000`` (thousands separators) and reads it back.

    ``st.number_input`` cannot group digits, so this is a text box: commas,
    spaces and a leading ``$``/``USD`` are accepted; anything else keeps the
    last good value and says why in one line.
    """
    from hotspot_env.outputs.labels import parse_amount

    good_key = f"{key}__value"
    last = float(st.session_state.get(good_key, value))

    def _regroup() -> None:  # "26250" typed reads back as "26,250" (a callback may set it)
        try:
            st.session_state[key] = f"{parse_amount(st.session_state[key]):,.0f}"
        except ValueError:
            pass

    # The box's text lives in session state only (set once here, regrouped by the
    # callback): a default value as well would make Streamlit warn on every run.
    st.session_state.setdefault(key, f"{last:,.0f}")
    text = container.text_input(label, key=key, help=help, on_change=_regroup)
    try:
        amount = parse_amount(text)
    except ValueError as exc:
        container.error(f"error: {exc}; still using {last:,.0f}.")
        return last
    st.session_state[good_key] = amount
    return amount


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
        [data-testid="stMain"] [data-testid="stSliderThumbValue"] p {
            font-size: 1.2rem !important; }
        /* Streamlit 1.67 draws sliders with react-aria: the handle is the element
           around the hidden range input (no test id of its own). */
        [data-testid="stMain"] [data-testid="stSlider"] div:has(> div > input[type="range"]) {
            width: 1.8rem !important; height: 1.8rem !important; }
        /* Labels of the controls in a row take two lines' height, so a label that
           wraps ("Preventing property crime") does not push its slider down. */
        [data-testid="stMain"] [data-testid="stHorizontalBlock"] [data-testid="stWidgetLabel"] {
            min-height: 3.9rem; display: flex; align-items: flex-end; }
        [data-testid="stMain"] [data-testid="stHorizontalBlock"] [data-testid="stWidgetLabel"] p {
            line-height: 1.4 !important; }
        [data-testid="stMain"] [data-testid="stTable"] td,
        [data-testid="stMain"] [data-testid="stTable"] th {
            font-size: 1.3rem !important; white-space: normal !important;
            overflow-wrap: anywhere; color: #000 !important; }
        [data-testid="stMain"] [data-testid="stTickBarMin"],
        [data-testid="stMain"] [data-testid="stTickBarMax"] { font-size: 1.1rem; }
        </style>
        """,
        unsafe_allow_html=True,
    )


# ------------------------------------------------------------------ access
_logger = logging.getLogger("hotspot_env.app")

#: Session-state keys written only by this module (no widget uses them, so a
#: browser cannot set them).
_ACCESS_KEY = "_hotspot_access"
_SIGNED_IN_KEY = "_hotspot_signed_in"
_FAILURES_KEY = "_hotspot_sign_in_failures"

#: Failed password sign-ins allowed per browser session.
MAX_SIGN_IN_FAILURES = 5


def _auth_secrets() -> dict | None:
    """The ``[auth]`` section of ``.streamlit/secrets.toml``, or None."""
    try:
        auth = st.secrets.get("auth")
    except FileNotFoundError:  # no secrets at all, or (re-checked here) an unparsable file
        return access_rules.read_secrets_auth(APP_DIR)
    except Exception as exc:  # noqa: BLE001 - a broken secrets.toml must not open the server
        raise access_rules.AccessConfigError(
            f".streamlit/secrets.toml cannot be read: {type(exc).__name__}") from exc
    return None if auth is None else auth.to_dict() if hasattr(auth, "to_dict") else dict(auth)


def _signed_in(config: access_rules.AccessConfig) -> tuple[str, str] | None:
    """The verified identity of this session: password sign-in or ``st.user``."""
    if config.sign_in == "password":
        return st.session_state.get(_SIGNED_IN_KEY)
    if getattr(st.user, "is_logged_in", False):
        claims = st.user.to_dict()
        user = str(claims.get("email") or claims.get("sub") or "signed-in user")
        return user, access_rules.role_from_claims(config, claims)
    return None


def access_gate() -> access_rules.Access:
    """Decide this visitor's role; call once at the top of ``app.py``.

    A broken sign-in configuration shows one ``error:`` line and stops: the
    server never opens. The decision is said in the sidebar, with sign-in
    controls when sign-in is configured.
    """
    try:
        config = access_rules.startup_check(APP_DIR, auth=_auth_secrets())
    except access_rules.AccessConfigError as exc:
        _logger.error("error: %s", exc)
        st.error(f"error: {md_escape(str(exc), 600)}")
        st.stop()
    decided = access_rules.decide_access(
        config, st.get_option("server.address"), dict(st.context.headers or {}),
        _signed_in(config) if config else None)
    st.session_state[_ACCESS_KEY] = decided
    _access_sidebar(decided)
    return decided


def current_access() -> access_rules.Access:
    """This run's access decision (public if :func:`access_gate` has not run)."""
    decided = st.session_state.get(_ACCESS_KEY)
    if isinstance(decided, access_rules.Access):
        return decided
    return access_rules.decide_access(None, None)


def can(action: str) -> bool:
    """Whether this visitor may do ``action`` (see :data:`hotspot_env.app.access.PERMISSIONS`)."""
    return current_access().can(action)


def require(action: str, what: str) -> None:
    """Stop the page with a sign-in hint unless this visitor may do ``action``."""
    if not can(action):
        st.info(f"{what} Your role: {current_access().role}.", icon=":material/lock:")
        st.stop()


def audit(action: str, detail: str = "", data: bytes | str | None = None,
          analysis: Analysis | None = None, file_hash: str = "") -> None:
    """Append an entry to the audit log (never incident data; see :mod:`hotspot_env.app.audit`)."""
    decided = current_access()
    config = decided.config
    log = AuditLog(config.audit_log if config and config.audit_log else default_path())
    manifest_hash = sha256_bytes(manifest_text(analysis)) if analysis is not None else ""
    try:
        log.record(action, role=decided.role, user=decided.user, detail=detail,
                   manifest_hash=manifest_hash,
                   file_hash=file_hash or ("" if data is None else sha256_bytes(data)))
    except (OSError, HotspotEnvError):
        _logger.exception("audit log %s could not be written", log.path)
        st.error("The audit log could not be written; tell the administrator.")


def audit_log() -> AuditLog:
    """The audit log this deployment writes to."""
    config = current_access().config
    return AuditLog(config.audit_log if config and config.audit_log else default_path())


def download(container: Any, label: str, data: bytes | str, file_name: str, mime: str,
             key: str, privacy: str | None = None, analysis: Analysis | None = None,
             needs: str | None = None, **kwargs: Any) -> None:
    """A download button that checks the role and records the export in the audit log.

    ``needs`` defaults to ``export_internal`` or ``export_public`` by the
    privacy mode of what is downloaded.
    """
    needs = needs or ("export_internal" if (privacy or privacy_mode()) == "internal"
                      else "export_public")
    if not can(needs):
        container.caption(f"{label}: sign in as staff to download.")
        return
    container.download_button(label, data, file_name=file_name, mime=mime, key=key,
                              on_click=audit, args=("export", file_name, data, analysis),
                              **kwargs)


def _access_sidebar(decided: access_rules.Access) -> None:
    """Say how the role was decided, with sign-in or sign-out controls."""
    with st.sidebar:
        st.caption(f"Access: **{decided.role}** · {md_escape(decided.message, 300)}")
        if decided.mode == "password":
            if decided.user != "anonymous":
                if st.button("Sign out", key="sign_out"):
                    audit("sign_out")
                    for key in (_SIGNED_IN_KEY, "privacy", "dataset"):  # nothing carries over
                        st.session_state.pop(key, None)
                    st.rerun()
            else:
                _password_form(decided)
        elif decided.mode == "oidc":
            if decided.user != "anonymous":
                if st.button("Sign out", key="sign_out"):
                    audit("sign_out")
                    st.logout()
            elif st.button("Sign in with your organisation", key="sign_in_oidc"):
                provider = decided.config.provider if decided.config else None
                st.login(provider) if provider else st.login()


def _password_form(decided: access_rules.Access) -> None:
    """The hashed-password fallback's sign-in form (a few tries per session)."""
    failures = st.session_state.get(_FAILURES_KEY, 0)
    if failures >= MAX_SIGN_IN_FAILURES:
        st.caption("Too many failed sign-ins in this session: close the tab and try later.")
        return
    with st.form("sign_in_form", clear_on_submit=True):
        user_id = st.text_input("User", key="sign_in_user")
        password = st.text_input("Password", type="password", key="sign_in_password")
        if not st.form_submit_button("Sign in"):
            return
    assert decided.config is not None
    user = access_rules.authenticate(decided.config, user_id, password)
    if user is None:
        st.session_state[_FAILURES_KEY] = failures + 1
        audit("sign_in_failed")
        st.error("Wrong user or password.")
        return
    st.session_state[_SIGNED_IN_KEY] = (user.id, user.role)
    st.session_state.pop("privacy", None)  # a new role starts in its own default mode
    st.session_state[_ACCESS_KEY] = access_rules.decide_access(
        decided.config, None, None, (user.id, user.role))
    audit("sign_in", detail=user.role)
    st.rerun()
