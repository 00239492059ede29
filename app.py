"""hotspot_env app: Explore, Interventions, Co-design, Transparency, Data.

Run with ``streamlit run app.py``. The app only calls the ``hotspot_env``
package; everything it shows works offline (Leaflet is served from
``static/vendor``).
"""

from __future__ import annotations

import streamlit as st

from pages import common

st.set_page_config(page_title="hotspot_env", page_icon=":material/map:", layout="wide",
                   initial_sidebar_state="expanded")
common.vendor_leaflet()

PAGES = [
    st.Page("pages/explore.py", title="Explore", icon=":material/map:", url_path="explore", default=True),
    st.Page("pages/interventions.py", title="Interventions", icon=":material/construction:",
            url_path="interventions"),
    st.Page("pages/codesign.py", title="Co-design", icon=":material/groups:", url_path="co-design"),
    st.Page("pages/transparency.py", title="Transparency", icon=":material/fact_check:", url_path="transparency"),
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:", url_path="data"),
]

page = st.navigation(PAGES)
page.run()
