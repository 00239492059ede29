"""The script each browser session runs: page setup and navigation (see ``app.py``).

The app only calls the ``hotspot_env`` package; everything it shows works
offline (Leaflet is served from ``static/vendor``; icons come from the font
bundled with Streamlit).

The pages live in ``app_pages/``, not ``pages/``: with a ``pages/`` folder,
Streamlit serves a deep link such as ``/explore`` from its legacy page list
before ``st.navigation`` has run, without this file's setup.
"""

from __future__ import annotations

import streamlit as st

from app_pages import common
from app_pages.warmup import page_drawn
from hotspot_env.app.server_memory import release_free_memory

# An emoji favicon is drawn locally; a ":material/...:" favicon would be fetched online.
st.set_page_config(page_title="hotspot_env", page_icon="🗺️", layout="wide",
                   initial_sidebar_state="expanded")
common.upload_sweeper()  # uploads go when their session ends
common.access_gate()  # who may see what: a broken sign-in configuration stops here

PAGES = [
    st.Page("app_pages/explore.py", title="Explore", icon=":material/map:", url_path="explore",
            default=True),
    st.Page("app_pages/interventions.py", title="Interventions", icon=":material/construction:",
            url_path="interventions"),
    st.Page("app_pages/codesign.py", title="Co-design", icon=":material/groups:",
            url_path="co-design"),
    st.Page("app_pages/transparency.py", title="Transparency", icon=":material/fact_check:",
            url_path="transparency"),
    st.Page("app_pages/data.py", title="Data", icon=":material/upload_file:", url_path="data"),
]

try:
    st.navigation(PAGES).run()
finally:
    page_drawn()  # the warm-up may now load the other analyses without slowing this page
    release_free_memory()  # what this run freed goes back to the system, not to the next peak
