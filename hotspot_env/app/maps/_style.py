"""Constants shared by the map modules: asset URL, Gi* classes, panes, basemap colours."""

from __future__ import annotations

#: URL under which Streamlit serves ``static/vendor`` (``static/`` next to
#: ``app.py``, with ``server.enableStaticServing = true``).
ASSET_BASE = "/app/static/vendor"

#: Gi* confidence bins in ArcGIS style: value -> (label, colour). 0 (not
#: significant) is deliberately absent, so it is not drawn.
GI_BINS: dict[int, tuple[str, str]] = {
    3: ("Hot spot, 99 % confidence", "#d62f27"),
    2: ("Hot spot, 95 % confidence", "#ed7551"),
    1: ("Hot spot, 90 % confidence", "#fab984"),
    -1: ("Cold spot, 90 % confidence", "#a9c4e2"),
    -2: ("Cold spot, 95 % confidence", "#6d94c7"),
    -3: ("Cold spot, 99 % confidence", "#3a64a8"),
}

#: Pane names and z-indexes (Leaflet: tiles 200, overlays 400, markers 600).
BASEMAP_PANE = "hotspotBasemap"
RASTER_PANE = "hotspotRaster"
PANES = ((BASEMAP_PANE, 250, False), (RASTER_PANE, 350, False))

#: Map background and basemap colours (a light, low-contrast "positron" look).
BACKGROUND = "#e6e3dc"
STREET_COLOUR = "#ffffff"
BUILDING_FILL = "#d6d2ca"
BUILDING_LINE = "#c2bdb3"

OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)

#: Decimal places kept in lon/lat coordinates (1e-6 degree is about 0.1 m).
COORD_DECIMALS = 6

#: Largest reprojected raster (pixels) embedded in a page; larger grids are
#: resampled to fit, keeping the page light.
MAX_OVERLAY_PIXELS = 4_000_000

MAJOR_HIGHWAYS = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)
