"""hotspot_env app: Explore, Interventions, Co-design, Transparency, Data.

Run with ``streamlit run app.py``. The app only calls the ``hotspot_env``
package; everything it shows works offline (Leaflet is served from
``static/vendor``; icons come from the font bundled with Streamlit).

This file is the web server (a Streamlit ``st.App``); the script each
browser session runs is ``app_navigation.py`` and the pages live in
``app_pages/``. The server adds two things to Streamlit's own serving:

* deep links such as ``/interventions`` get Streamlit's page told that the
  app's base URL is the site root, so the browser does not first probe
  ``/interventions/_stcore/health`` and log 404s (:mod:`app_pages.routes`);
* at start, before it answers, it imports the first page's code (the analysis
  result classes, the map, the charts); then a background thread loads (or,
  the very first time, runs and keeps) the demo analyses, so the first visitor
  waits for neither (:mod:`app_pages.warmup`).
"""

from __future__ import annotations

import streamlit as st

from app_pages.routes import PAGE_PATHS, deep_link_routes
from app_pages.warmup import warm_up

app = st.App("app_navigation.py", routes=deep_link_routes(PAGE_PATHS), lifespan=warm_up)
