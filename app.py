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
  waits for neither (:mod:`app_pages.warmup`);
* before the server starts any thread, glibc's malloc arenas are capped, so
  the session threads do not each keep their peak memory
  (:mod:`hotspot_env.app.server_memory`).
"""

from __future__ import annotations

from hotspot_env.app.server_memory import limit_malloc_arenas

limit_malloc_arenas()  # first: the threads below inherit the cap

import streamlit as st  # noqa: E402 - after the cap: nothing before it allocates much

from app_pages.routes import PAGE_PATHS, deep_link_routes  # noqa: E402
from app_pages.warmup import warm_up  # noqa: E402

app = st.App("app_navigation.py", routes=deep_link_routes(PAGE_PATHS), lifespan=warm_up)
